"""Reminder and notification logic. Every query is scoped to its owner; nothing here commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Row, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from doable import events
from doable.auth.models import User
from doable.db import count_locked, utcnow
from doable.errors import InvalidInput, NotFound
from doable.reminders.models import Notification, Reminder
from doable.reminders.schemas import MAX_REMINDERS_PER_TASK, ReminderCreate
from doable.tasks import cursor as cursors
from doable.tasks.models import Task

# An all-day task is "due" at this local time, for reminders relative to it.
from doable.zones import Zone, zone_of

ALL_DAY_AT = time(9, 0)
# Further ahead than this, an absolute reminder is refused (a typo, most likely).
MAX_AHEAD = timedelta(days=5 * 366)


class ReminderNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No reminder with this id")


class NotificationNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No notification with this id")


def due_instant(due_at: datetime | None, due_date: date | None, zone: Zone) -> datetime | None:
    """The instant relative reminders count back from: the due time, or ALL_DAY_AT local
    on an all-day due date."""
    if due_at is not None:
        return due_at
    if due_date is not None:
        return datetime.combine(due_date, ALL_DAY_AT, tzinfo=zone).astimezone(UTC)
    return None


def fire_time(due: datetime | None, offset_seconds: int, zone: Zone) -> datetime | None:
    """`offset_seconds` before `due`. Whole days count on the local calendar, so "P1D" before
    09:00 is 09:00 the day before even across a daylight-saving change; the rest is exact."""
    if due is None:
        return None
    days, rest = divmod(offset_seconds, 86400)
    local = due.astimezone(zone)
    # Aware arithmetic on one tzinfo is wall-clock arithmetic; astimezone re-resolves the offset.
    wall = (local.replace(tzinfo=None) - timedelta(days=days)).replace(tzinfo=zone)
    return wall.astimezone(UTC) - timedelta(seconds=rest)


async def _timezone(session: AsyncSession, owner_id: uuid.UUID) -> Zone:
    name = await session.scalar(select(User.timezone).where(User.id == owner_id))
    return zone_of(name)


async def list_reminders(session: AsyncSession, user: User, task: Task) -> list[Reminder]:
    """The user's own reminders on the task: reminders are personal, also on shared tasks."""
    stmt = (
        select(Reminder)
        .where(Reminder.owner_id == user.id, Reminder.task_id == task.id)
        .order_by(Reminder.created_at, Reminder.id)
    )
    return list((await session.execute(stmt)).scalars())


def _describe_ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "moments ago"
    if minutes < 120:
        return f"{minutes} minutes ago"
    return f"{minutes // 60} hours ago"


async def create_reminder(
    session: AsyncSession, user: User, task: Task, data: ReminderCreate, *, now: datetime
) -> Reminder:
    """Add a reminder to `task` (locked by the caller, so the count below cannot race; it is
    a locking read, which sees what requests ahead of this one committed)."""
    count = await count_locked(
        session,
        select(Reminder.id).where(Reminder.owner_id == user.id, Reminder.task_id == task.id),
    )
    if count >= MAX_REMINDERS_PER_TASK:
        raise InvalidInput(
            f"A task can have at most {MAX_REMINDERS_PER_TASK} reminders; delete one first",
            loc=["body"],
        )
    zone = zone_of(user.timezone)
    reminder = Reminder(owner_id=user.id, task_id=task.id, created_at=now)
    if data.at is not None:
        at = data.at if data.at.tzinfo is not None else data.at.replace(tzinfo=zone)
        at = at.astimezone(UTC)
        if at <= now:
            raise InvalidInput(
                f"This time is in the past ({_describe_ago(now - at)}); choose a future time",
                loc=["body", "at"],
            )
        if at - now > MAX_AHEAD:
            raise InvalidInput("A reminder can be at most 5 years ahead", loc=["body", "at"])
        reminder.kind, reminder.remind_at, reminder.fire_at = "absolute", at, at
    else:
        assert data.before is not None
        reminder.kind, reminder.offset_seconds = "relative", data.before
        due = due_instant(task.due_at, task.due_date, zone)
        reminder.fire_at = fire_time(due, data.before, zone)
        if reminder.fire_at is not None and reminder.fire_at <= now:
            raise InvalidInput(
                "This reminder would fire in the past "
                f"({_describe_ago(now - reminder.fire_at)}); the task is due too soon for it",
                loc=["body", "before"],
            )
    session.add(reminder)
    await session.flush()
    events.reminders_changed(session)
    return reminder


async def get_reminder(
    session: AsyncSession,
    user: User,
    task: Task,
    reminder_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Reminder:
    stmt = select(Reminder).where(
        Reminder.owner_id == user.id,
        Reminder.task_id == task.id,
        Reminder.id == reminder_id,
    )
    if for_update:
        stmt = stmt.with_for_update()
    reminder = (await session.execute(stmt)).scalar_one_or_none()
    if reminder is None:
        raise ReminderNotFound()
    return reminder


async def delete_reminder(session: AsyncSession, reminder: Reminder) -> None:
    await session.delete(reminder)
    await session.flush()
    events.reminders_changed(session)


async def reschedule_for_task(
    session: AsyncSession, task: Task, *, now: datetime | None = None
) -> int:
    """Recompute the fire times of `task`'s relative reminders from its current due.

    Call it whenever the due changes (an edit, or a recurring task advancing). Every
    member's reminders on the task move, each in its own owner's zone. A reminder
    whose fire time moves into the future is re-armed (it fires again, for the new due);
    one that moves into the past is passed over (marked fired, no notification), as is
    one whose time did not change keeps its state. Returns how many reminders changed.
    """
    now = now or utcnow()
    reminders = (
        (
            await session.execute(
                select(Reminder)
                .where(Reminder.task_id == task.id, Reminder.kind == "relative")
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    if not reminders:
        return 0
    zones: dict[uuid.UUID, Zone] = {}
    changed = 0
    for reminder in reminders:
        assert reminder.offset_seconds is not None
        if reminder.owner_id not in zones:
            zones[reminder.owner_id] = await _timezone(session, reminder.owner_id)
        zone = zones[reminder.owner_id]
        due = due_instant(task.due_at, task.due_date, zone)
        new = fire_time(due, reminder.offset_seconds, zone)
        if new == reminder.fire_at:
            continue
        changed += 1
        reminder.fire_at = new
        reminder.fired_at = None if new is None or new > now else now
    if changed:
        await session.flush()
        events.reminders_changed(session)
    return changed


# Notifications


async def list_notifications(
    session: AsyncSession,
    owner_id: uuid.UUID,
    *,
    unread: bool | None,
    limit: int,
    cursor: str | None,
    cursor_key: bytes,
) -> tuple[list[Notification], str | None]:
    """Newest first, by keyset on (created_at, id)."""
    conditions: list[ColumnElement[bool]] = [Notification.owner_id == owner_id]
    if unread is True:
        conditions.append(Notification.read_at.is_(None))
    elif unread is False:
        conditions.append(Notification.read_at.is_not(None))
    return await cursors.newest_first_page(
        session,
        Notification,
        time_column=Notification.created_at,
        id_column=Notification.id,
        conditions=conditions,
        sort="notifications",
        limit=limit,
        cursor=cursor,
        cursor_key=cursor_key,
    )


async def unread_count(session: AsyncSession, owner_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.owner_id == owner_id, Notification.read_at.is_(None))
    )
    return int(count or 0)


async def mark_read(
    session: AsyncSession, owner_id: uuid.UUID, notification_id: uuid.UUID, *, now: datetime
) -> Notification:
    """Mark one read; marking it again keeps the first read_at."""
    stmt = select(Notification).where(
        Notification.owner_id == owner_id, Notification.id == notification_id
    )
    notification = (await session.execute(stmt)).scalar_one_or_none()
    if notification is None:
        raise NotificationNotFound()
    if notification.read_at is None:
        notification.read_at = now
        await session.flush()
    return notification


async def mark_all_read(session: AsyncSession, owner_id: uuid.UUID, *, now: datetime) -> int:
    result = await session.execute(
        update(Notification)
        .where(Notification.owner_id == owner_id, Notification.read_at.is_(None))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


SNOOZE_PRESETS = ("10m", "1h", "tomorrow")


def snooze_until(preset: str, now: datetime, zone: Zone) -> datetime:
    """When a snoozed reminder fires again: 10 minutes or an hour from now, or tomorrow at
    ALL_DAY_AT local time."""
    if preset == "10m":
        return now + timedelta(minutes=10)
    if preset == "1h":
        return now + timedelta(hours=1)
    if preset == "tomorrow":
        day = now.astimezone(zone).date() + timedelta(days=1)
        return datetime.combine(day, ALL_DAY_AT, tzinfo=zone).astimezone(UTC)
    raise InvalidInput(f"Snooze for one of {', '.join(SNOOZE_PRESETS)}", loc=["body", "preset"])


async def snooze(
    session: AsyncSession,
    owner_id: uuid.UUID,
    notification_id: uuid.UUID,
    preset: str,
    *,
    now: datetime,
) -> tuple[Notification, Reminder]:
    """Fire the reminder behind a notification again later, and mark the notification read.
    Another account's notification, or one whose reminder was deleted, is 404."""
    stmt = select(Notification).where(
        Notification.owner_id == owner_id, Notification.id == notification_id
    )
    notification = (await session.execute(stmt)).scalar_one_or_none()
    if notification is None:
        raise NotificationNotFound()
    reminder = None
    if notification.reminder_id is not None:
        reminder = (
            await session.execute(
                select(Reminder)
                .where(Reminder.owner_id == owner_id, Reminder.id == notification.reminder_id)
                .with_for_update()
            )
        ).scalar_one_or_none()
    if reminder is None:
        raise ReminderNotFound()
    reminder.fire_at = snooze_until(preset, now, await _timezone(session, owner_id))
    reminder.fired_at = None
    if notification.read_at is None:
        notification.read_at = now
    await session.flush()
    events.reminders_changed(session)
    return notification, reminder


async def next_reminders(
    session: AsyncSession, owner_id: uuid.UUID, task_ids: list[uuid.UUID]
) -> dict[uuid.UUID, datetime]:
    """The next fire time of `owner_id`'s reminders on each of `task_ids` (one query, for a
    page of rows); tasks without a pending reminder are left out."""
    if not task_ids:
        return {}
    rows = await session.execute(_NEXT_REMINDERS, {"owner_id": owner_id, "task_ids": task_ids})
    return {task_id: at for task_id, at in rows.all() if at is not None}


# Built once (every page of task rows asks): building it cost more than running it.
_NEXT_REMINDERS = (
    select(Reminder.task_id, func.min(Reminder.fire_at))
    .where(
        Reminder.owner_id == bindparam("owner_id"),
        Reminder.task_id.in_(bindparam("task_ids", expanding=True)),
        Reminder.fired_at.is_(None),
        Reminder.fire_at.is_not(None),
    )
    .group_by(Reminder.task_id)
)


async def notifications_of_since(
    session: AsyncSession, owner_ids: Sequence[uuid.UUID], since: datetime
) -> Sequence[Row[uuid.UUID, uuid.UUID]]:
    """(id, owner_id) of the owners' notifications created at or after `since` (the event
    streams' watch: one index range per owner)."""
    stmt = select(Notification.id, Notification.owner_id).where(
        Notification.owner_id.in_(owner_ids), Notification.created_at >= since
    )
    return (await session.execute(stmt)).all()


async def notifications_since(
    session: AsyncSession, owner_id: uuid.UUID, since: datetime, *, limit: int = 100
) -> list[Notification]:
    """The owner's notifications created at or after `since`, oldest first (event streams)."""
    stmt = (
        select(Notification)
        .where(Notification.owner_id == owner_id, Notification.created_at >= since)
        .order_by(Notification.created_at, Notification.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())
