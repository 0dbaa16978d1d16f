"""The in-process scheduler: sleeps until the next reminder is due, then fires it, once.

Each process running `doable serve` runs one. They may share a database: a reminder is claimed
inside a transaction (`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL and MariaDB/MySQL; on
SQLite the writer's `BEGIN IMMEDIATE` serialises the whole transaction), marked fired, and its
notification inserted, all in that one transaction. A crash before the commit loses nothing (the
reminder is still unfired) and a commit fires it exactly once; the unique (reminder_id, fire_at)
on notifications is the last guard should anything else try.

Batches go in fire-time order, but fairly between accounts: once an account has had
a batch's worth of reminders fired, the next batch skips it and serves everyone else
(looked for at least every `FAIR_LOOK_SECONDS`), so 50,000 reminders of one account due at one
instant do not hold back another account's reminder until they are all done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from doable import events
from doable.auth.models import User
from doable.db import Database, utcnow
from doable.errors import is_db_unavailable, loggable_error
from doable.projects.models import Project
from doable.reminders import wording
from doable.reminders.models import Notification, Reminder
from doable.tasks.models import Task
from doable.zones import Zone, zone_of

log = logging.getLogger("doable.scheduler")

BATCH_SIZE = 250
# Even with nothing due, look again this often: other processes may have added reminders.
MAX_SLEEP_SECONDS = 30.0
# A reminder found due while another process holds it: look again after this.
CONTENDED_SLEEP_SECONDS = 0.05
MAX_BACKOFF_SECONDS = 60.0
# While some account is over its cap, look for the other accounts' due reminders this often.
FAIR_LOOK_SECONDS = 0.25
# The accounts a fair batch skips, at most (a longer NOT IN list costs more than it saves).
MAX_SKIPPED_OWNERS = 500


@dataclass(frozen=True)
class Fired:
    """What one call of fire_due did."""

    notified: int = 0
    skipped: int = 0  # completed, deleted or archived tasks: marked fired, nobody told
    by_owner: Counter[uuid.UUID] = field(default_factory=Counter, compare=False)
    # The notifications made, for the channels beyond the inbox (doable.notify.delivery).
    notification_ids: tuple[uuid.UUID, ...] = field(default=(), compare=False)

    @property
    def total(self) -> int:
        return self.notified + self.skipped


def _body(due_at: datetime | None, due_date: date | None, zone: Zone) -> str:
    when = wording.due(due_at, due_date, zone)
    return f"Due {when}" if when else "Reminder"


async def _claim_batch(
    session: AsyncSession,
    now: datetime,
    *,
    late_after: timedelta,
    limit: int,
    skip_owners: frozenset[uuid.UUID] = frozenset(),
) -> Fired:
    due = (
        select(Reminder.id, Reminder.owner_id, Reminder.task_id, Reminder.fire_at)
        .where(Reminder.fired_at.is_(None), Reminder.fire_at <= now)
        .order_by(Reminder.fire_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if skip_owners:
        due = due.where(Reminder.owner_id.not_in(skip_owners))
    claimed = (await session.execute(due)).all()
    if not claimed:
        return Fired()
    ids = [row.id for row in claimed]
    task_ids = list({row.task_id for row in claimed})
    tasks = {
        row.id: row
        for row in (
            await session.execute(
                select(
                    Task.id,
                    Task.title,
                    Task.completed,
                    Task.due_at,
                    Task.due_date,
                    User.timezone,
                    Project.archived,
                )
                .join(User, User.id == Task.owner_id)
                .outerjoin(Project, Project.id == Task.project_id)
                .where(Task.id.in_(task_ids))
            )
        ).all()
    }
    result = await session.execute(
        update(Reminder)
        .where(Reminder.id.in_(ids), Reminder.fired_at.is_(None))
        .values(fired_at=now)
        .execution_options(synchronize_session=False)
    )
    rowcount = int(getattr(result, "rowcount", -1))
    if rowcount != len(ids):  # pragma: no cover - the rows are locked (or SQLite is serial)
        raise RuntimeError(f"claimed {len(ids)} reminders but updated {rowcount}")
    rows: list[dict[str, Any]] = []
    skipped = 0
    for r in claimed:
        task = tasks.get(r.task_id)
        # An archived project's reminders do not fire: one that falls due meanwhile is spent
        # without a word, as a completed task's is; unarchiving brings back those still ahead.
        if task is None or task.completed or task.archived:
            skipped += 1
            continue
        rows.append(
            {
                "id": uuid.uuid4(),
                "owner_id": r.owner_id,
                "task_id": r.task_id,
                "reminder_id": r.id,
                "kind": "reminder",
                "title": task.title,
                "body": _body(task.due_at, task.due_date, zone_of(task.timezone)),
                "due_at": task.due_at,
                "due_date": task.due_date,
                "fire_at": r.fire_at,
                "late": now - r.fire_at > late_after,
                "created_at": now,
                "read_at": None,
            }
        )
    if rows:
        await session.execute(insert(Notification), rows)
    for owner_id in {row["owner_id"] for row in rows}:
        events.publish_after_commit(session, events.Event("notification", owner_id))
    return Fired(
        notified=len(rows),
        skipped=skipped,
        by_owner=Counter(r.owner_id for r in claimed),
        notification_ids=tuple(row["id"] for row in rows),
    )


async def _read_committed(session: AsyncSession, database: Database) -> None:
    """On MariaDB/MySQL, claim under READ COMMITTED: REPEATABLE READ's gap locks on the
    (fired_at, fire_at) index make two processes' batches deadlock when each moves its rows."""
    if database.config.backend == "mysql":
        await session.connection(execution_options={"isolation_level": "READ COMMITTED"})


# Deadlock and lock-timeout errors: the database rolled the batch back; simply try again.
_RETRY_MYSQL_CODES = {1205, 1213}
_RETRY_SQLSTATES = {"40001", "40P01"}


def is_transient(exc: BaseException) -> bool:
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _RETRY_MYSQL_CODES:
        return True
    return getattr(orig, "sqlstate", None) in _RETRY_SQLSTATES or (
        getattr(orig, "pgcode", None) in _RETRY_SQLSTATES
    )


async def fire_due(
    database: Database,
    *,
    now: datetime | None = None,
    late_after: timedelta = timedelta(seconds=60),
    batch_size: int = BATCH_SIZE,
    owner_cap: int | None = None,
) -> Fired:
    """Fire every reminder due at `now` (default: the clock), a batch per transaction.

    Fair between accounts: an account that has had `owner_cap` (default: one batch)
    reminders fired goes on
    firing in fire-time order, but at least every FAIR_LOOK_SECONDS a batch skips such
    accounts and serves the others' due reminders first."""
    cap = owner_cap or batch_size
    notified = skipped = 0
    made: list[uuid.UUID] = []
    fired_of: Counter[uuid.UUID] = Counter()
    capped: set[uuid.UUID] = set()
    look_at = 0.0  # monotonic time of the next batch that skips capped accounts
    while True:
        at = now or utcnow()
        fair = bool(capped) and time.monotonic() >= look_at
        skip = frozenset(list(capped)[:MAX_SKIPPED_OWNERS]) if fair else frozenset()
        fired = await _fire_batch(database, at, late_after, batch_size, skip)
        notified += fired.notified
        skipped += fired.skipped
        made.extend(fired.notification_ids)
        for owner_id, count in fired.by_owner.items():
            fired_of[owner_id] += count
            if fired_of[owner_id] >= cap:
                capped.add(owner_id)
        if fair:
            if fired.total < batch_size:  # the others are served: back to fire-time order
                look_at = time.monotonic() + FAIR_LOOK_SECONDS
            continue
        if fired.total < batch_size:
            return Fired(notified, skipped, notification_ids=tuple(made))


async def _fire_batch(
    database: Database,
    at: datetime,
    late_after: timedelta,
    batch_size: int,
    skip_owners: frozenset[uuid.UUID],
) -> Fired:
    async with database.write_sessions() as session:
        await _read_committed(session, database)
        try:
            fired = await _claim_batch(
                session, at, late_after=late_after, limit=batch_size, skip_owners=skip_owners
            )
            await session.commit()
        except IntegrityError:
            # Only the unique (reminder_id, fire_at) can fail here: some reminder already
            # has its notification for this fire time. Never fire it twice: mark that
            # batch fired one by one, skipping the ones already notified.
            await session.rollback()
            return await _fire_one_by_one(database, at, late_after, batch_size)
    return fired


async def _fire_one_by_one(
    database: Database, now: datetime, late_after: timedelta, batch_size: int
) -> Fired:
    notified = skipped = 0
    made: list[uuid.UUID] = []
    for _ in range(batch_size):
        async with database.write_sessions() as session:
            await _read_committed(session, database)
            try:
                fired = await _claim_batch(session, now, late_after=late_after, limit=1)
                await session.commit()
            except IntegrityError:
                await session.rollback()
                async with database.write_sessions() as retry:
                    stuck = await retry.scalar(
                        select(Reminder.id)
                        .where(Reminder.fired_at.is_(None), Reminder.fire_at <= now)
                        .order_by(Reminder.fire_at)
                        .limit(1)
                        .with_for_update(skip_locked=True)
                    )
                    if stuck is not None:
                        await retry.execute(
                            update(Reminder).where(Reminder.id == stuck).values(fired_at=now)
                        )
                    await retry.commit()
                log.warning("reminder %s already had its notification; not fired again", stuck)
                skipped += 1
                continue
        if fired.total == 0:
            break
        notified += fired.notified
        skipped += fired.skipped
        made.extend(fired.notification_ids)
    return Fired(notified, skipped, notification_ids=tuple(made))


async def next_fire_at(database: Database) -> datetime | None:
    async with database.read_sessions() as session:
        return await session.scalar(
            select(func.min(Reminder.fire_at)).where(Reminder.fired_at.is_(None))
        )


class Scheduler:
    """The loop: fire what is due, sleep until the next fire time (or a wake-up), repeat."""

    def __init__(
        self,
        database: Database,
        *,
        late_after: timedelta = timedelta(seconds=60),
        max_sleep: float = MAX_SLEEP_SECONDS,
        on_fired: Callable[[tuple[uuid.UUID, ...]], None] | None = None,
    ) -> None:
        self.database = database
        self.on_fired = on_fired
        self.late_after = late_after
        self.max_sleep = max_sleep
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.fired_total = 0

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        loop = asyncio.get_running_loop()

        def wake_threadsafe() -> None:
            loop.call_soon_threadsafe(self._wake.set)

        self._waker = wake_threadsafe
        events.bus.add_waker(self._waker)
        self._task = asyncio.create_task(self._run(), name="doable-scheduler")

    async def stop(self) -> None:
        self._stopping = True
        events.bus.remove_waker(self._waker)
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, seconds))

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            self._wake.clear()  # before looking: a change from now on wakes the next sleep
            try:
                fired = await fire_due(self.database, late_after=self.late_after)
                upcoming = await next_fire_at(self.database)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_transient(exc):
                    log.info("scheduler: %s; trying again", type(exc.__cause__ or exc).__name__)
                    await self._sleep(random.uniform(0.01, 0.1))  # noqa: S311 (jitter)
                    continue
                failures += 1
                delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** min(failures, 10))
                delay *= random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not a secret)
                if is_db_unavailable(exc):
                    log.warning("scheduler: database unavailable; retrying in %.1f s", delay)
                else:
                    log.error(
                        "scheduler: firing failed; retrying in %.1f s\n%s",
                        delay,
                        loggable_error(exc),
                    )
                await self._sleep(delay)
                continue
            failures = 0
            if fired.notification_ids and self.on_fired is not None:
                self.on_fired(fired.notification_ids)
            if fired.total:
                self.fired_total += fired.total
                log.info(
                    "scheduler: fired %d reminders (%d for finished tasks, not notified)",
                    fired.total,
                    fired.skipped,
                )
            now = utcnow()
            if upcoming is None:
                wait = self.max_sleep
            else:
                wait = min(self.max_sleep, (upcoming - now).total_seconds())
                if wait <= 0:
                    # Due but not ours to fire yet (another process holds it): look again soon.
                    wait = CONTENDED_SLEEP_SECONDS
            await self._sleep(wait)
