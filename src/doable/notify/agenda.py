"""The daily agenda email: a user's overdue and today's open tasks, once per local day, at a
local time they choose.

Each row of `notification_channels` with the agenda on carries the UTC instant it is next due
(`agenda_next_at`). Any number of processes may run the sender: like the reminder scheduler,
each claims due rows in one short transaction (`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL
and MariaDB; SQLite's `BEGIN IMMEDIATE` serialises it), records the local day as sent and
moves `agenda_next_at` to the next day, commits, and only then reads the tasks and sends. A
row is claimed by one process only, and a day once recorded is never claimed again, so an
agenda is never sent twice; a crash between the commit and the send loses that day's email.

The time is wall-clock time in the user's zone, read by the one rule for local times
(docs/scheduling.md): a time in a daylight-saving gap (02:30 on the day clocks go from 02:00
to 03:00) is sent the gap's length later (03:30), and a time that occurs twice, at its first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from doable.db import Database, utcnow
from doable.notify.models import NotificationChannels
from doable.reminders import wording
from doable.tasks.recurrence import to_instant
from doable.zones import Zone, zone_of

if TYPE_CHECKING:
    from doable.notify.delivery import PushConfig

log = logging.getLogger("doable.agenda")

BATCH_SIZE = 100
MAX_SLEEP_SECONDS = 30.0
MAX_TASKS_LISTED = 50  # the rest is "and N more", with a link to Today
TIME_PATTERN = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
DEFAULT_TIME = "07:00"


def parse_time(text: str) -> time:
    """A 24-hour "HH:MM" (00:00 to 23:59); ValueError for anything else ("25:00", "7", "ab")."""
    found = TIME_PATTERN.fullmatch(text)
    if found is None:
        raise ValueError("Give the time as HH:MM, from 00:00 to 23:59")
    return time(int(found.group(1)), int(found.group(2)))


def local_instant(day: date, at: time, zone: Zone) -> datetime:
    """When `at` on `day` happens in `zone` (UTC), by the gap and overlap rule above."""
    return to_instant(datetime.combine(day, at), zone)


def next_send(zone: Zone, at: time, last_day: date | None, now: datetime) -> datetime:
    """The next instant to send: today's time if it is still ahead and today has not had its
    agenda, else the first later day's."""
    day = now.astimezone(zone).date()
    if last_day is not None and day <= last_day:
        day = last_day + timedelta(days=1)
    while True:
        instant = local_instant(day, at, zone)
        if instant > now:
            return instant
        day += timedelta(days=1)


def schedule(row: NotificationChannels, zone: Zone, now: datetime) -> None:
    """Set `agenda_next_at` after the agenda was turned on or off, or its time changed."""
    row.agenda_next_at = (
        next_send(zone, parse_time(row.agenda_time), row.agenda_last_day, now)
        if row.agenda
        else None
    )


@dataclass(frozen=True)
class Claimed:
    user_id: uuid.UUID
    day: date  # the user's local day this agenda is for


async def claim_due(
    database: Database, now: datetime, *, limit: int = BATCH_SIZE
) -> tuple[list[Claimed], int]:
    """Claim the agendas due at `now` in one transaction: each due row's day is recorded as
    sent and its next instant set, before anything is sent. Also how many rows it took."""
    from doable.auth.models import User

    async with database.write_sessions() as session:
        if database.config.backend == "mysql":
            # As the scheduler: no gap locks between two processes' claims.
            await session.connection(execution_options={"isolation_level": "READ COMMITTED"})
        rows = list(
            (
                await session.execute(
                    select(NotificationChannels)
                    .where(
                        NotificationChannels.agenda.is_(True),
                        NotificationChannels.agenda_next_at <= now,
                    )
                    .order_by(NotificationChannels.agenda_next_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).scalars()
        )
        if not rows:
            return [], 0
        users = {
            r.id: r
            for r in (
                await session.execute(
                    select(User.id, User.timezone, User.disabled_at).where(
                        User.id.in_([row.user_id for row in rows])
                    )
                )
            ).all()
        }
        claimed: list[Claimed] = []
        for row in rows:
            user = users[row.user_id]
            zone = zone_of(user.timezone)
            try:
                at = parse_time(row.agenda_time)
            except ValueError:  # edited by hand: the default rather than a stuck row
                at = parse_time(DEFAULT_TIME)
            day = now.astimezone(zone).date()
            if row.agenda_last_day is not None and day <= row.agenda_last_day:
                day = row.agenda_last_day + timedelta(days=1)
            due = local_instant(day, at, zone)
            if due > now:
                # Not due yet in the user's zone as it is now (the zone changed since this
                # was scheduled): wait for it.
                row.agenda_next_at = due
                continue
            row.agenda_last_day = day
            row.agenda_next_at = next_send(zone, at, day, now)
            if user.disabled_at is None:
                claimed.append(Claimed(row.user_id, day))
        await session.commit()
    return claimed, len(rows)


async def next_due_at(database: Database) -> datetime | None:
    async with database.read_sessions() as session:
        return await session.scalar(
            select(func.min(NotificationChannels.agenda_next_at)).where(
                NotificationChannels.agenda.is_(True)
            )
        )


async def send_agendas(
    database: Database, config: PushConfig, claimed: list[Claimed], *, now: datetime
) -> int:
    """Build and send each claimed agenda (nothing due: no email); how many were sent."""
    from doable.auth.models import User
    from doable.notify import email
    from doable.tasks import agenda as tasks_agenda

    settings = config.settings
    base = settings.public_url.rstrip("/")
    sent = 0
    for item in claimed:
        try:
            async with database.read_sessions() as session:
                user = await session.get(User, item.user_id)
                if user is None:
                    continue
                view = await tasks_agenda.today_view(
                    session, user, now=now, cursor_key=config.secret_key
                )
                address, zone = user.email, zone_of(user.timezone)
        except Exception as exc:  # one account's failure does not cost the others theirs
            log.error("agenda: could not read an agenda (%s)", type(exc).__name__)
            continue
        if view.count == 0:
            continue
        lines: list[str] = []
        listed = 0
        overdue = 0
        for group in view.groups:
            if group.day is None:
                overdue = len(group.tasks)
            lines.append("Overdue" if group.day is None else "Today")
            for task in group.tasks:
                if listed < MAX_TASKS_LISTED:
                    lines.append(
                        f"- {task.title} ({wording.due(task.due_at, task.due_date, zone)})"
                    )
                listed += 1
            lines.append("")
        if listed > MAX_TASKS_LISTED:
            lines.append(f"and {listed - MAX_TASKS_LISTED} more.")
        if view.truncated:
            lines.append("There are more; see them all in Doable.")
        day = f"{item.day:%a} {item.day.day} {item.day:%b}"
        summary = f"{view.count - overdue} due today" + (f", {overdue} overdue" if overdue else "")
        token = email.unsubscribe_token(config.secret_key, item.user_id, "agenda", now=now)
        message = email.Message(
            to=address,
            subject=f"Your agenda for {day}: {summary}",
            text=(
                "\n".join(lines)
                + f"\nToday in Doable: {base}/today\n\n"
                + f"Stop the daily agenda: {base}/unsubscribe?token={token}\n"
            ),
            unsubscribe_url=f"{base}/unsubscribe?token={token}",
        )
        if await email.send(settings, message, retry_base_seconds=config.email_retry_base_seconds):
            sent += 1
    return sent


async def send_due(database: Database, config: PushConfig, *, now: datetime | None = None) -> int:
    """Claim and send every agenda due at `now` (default: the clock), a batch at a time."""
    at = now or utcnow()
    sent = 0
    while True:
        claimed, taken = await claim_due(database, at)
        sent += await send_agendas(database, config, claimed, now=at)
        if taken < BATCH_SIZE:  # the rest, if any, is another process's (locked) or later
            return sent


class AgendaSender:
    """The loop: send what is due, sleep until the next agenda (at most MAX_SLEEP_SECONDS:
    other processes may have scheduled earlier ones), repeat."""

    def __init__(self, database: Database, config: PushConfig) -> None:
        self.database = database
        self.config = config
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="doable-agenda")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            wait = MAX_SLEEP_SECONDS
            try:
                await send_due(self.database, self.config)
                upcoming = await next_due_at(self.database)
                if upcoming is not None:
                    wait = min(wait, max(1.0, (upcoming - utcnow()).total_seconds()))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away, or a deadlock: try again later
                log.warning("agenda: sending failed (%s); retrying", type(exc).__name__)
            await asyncio.sleep(wait)
