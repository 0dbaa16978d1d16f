"""Export an account as JSON or CSV text in chunks, and apply a validated import in bulk.

Never commits. Each section of a record is written and read by its own small function
(`account_section`, `tag_record`, `task_record`, `load_task_extras`, and on import
`recurrence_values`, `completion_rows`, `reminder_rows`): features that add data to a task
fill in those functions, and the format's shape stays the same.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Row, Table, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from doable import events
from doable.auth.models import User
from doable.db import utcnow
from doable.reminders import service as reminder_service
from doable.reminders.durations import format_duration
from doable.reminders.models import Reminder
from doable.tasks import recurrence
from doable.tasks.models import NO_DUE, Tag, Task, TaskCompletion, task_tags
from doable.tasks.schemas import PRIORITY_LEVELS, PRIORITY_NAMES
from doable.tasks.service import ensure_room, tag_key, to_instant, zone_of
from doable.transfer import csvtext
from doable.transfer.parse import MAX_REPORTED, ImportInvalid, ImportPlan
from doable.transfer.schemas import (
    FORMAT_NAME,
    FORMAT_VERSION,
    ImportCounts,
    ImportNote,
    TaskRecord,
)

ExportFormat = Literal["json", "csv"]
CHUNK = 1_000  # rows per query on export, per INSERT batch on import
IN_CHUNK = 500  # values per IN (…) list
# Core INSERTs (executemany): no ORM objects for 100 000 rows.
TASKS = cast(Table, Task.__table__)
TAGS = cast(Table, Tag.__table__)
COMPLETIONS = cast(Table, TaskCompletion.__table__)
REMINDERS = cast(Table, Reminder.__table__)


@dataclass(frozen=True)
class Owner:
    """What an export needs of the account, read before the response starts streaming."""

    id: uuid.UUID
    email: str
    name: str
    timezone: str

    @classmethod
    def of(cls, user: User) -> Owner:
        return cls(user.id, user.email, user.name, user.timezone)


def timestamp(value: datetime) -> str:
    """UTC, RFC 3339, `Z`: microseconds kept when there are any."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _optional(value: datetime | None) -> str | None:
    return timestamp(value) if value is not None else None


# Export: one function per section


def account_section(owner: Owner) -> dict[str, Any]:
    return {"email": owner.email, "name": owner.name, "timezone": owner.timezone}


def tag_record(tag: Tag) -> dict[str, Any]:
    return {"name": tag.name, "color": tag.color}


@dataclass
class TaskExtras:
    """A task's rows in other tables; the defaults are what a task without them writes. (Its
    recurrence is on the task row itself: see `task_record`.)"""

    completions: list[dict[str, Any]] = field(default_factory=list)
    reminders: list[dict[str, Any]] = field(default_factory=list)


def _occurrence(on: date | None, at: datetime | None) -> str | None:
    if at is not None:
        return timestamp(at)
    return on.isoformat() if on is not None else None


def _reminder(
    remind_at: datetime | None,
    offset_seconds: int | None,
    fired_at: datetime | None,
    created_at: datetime,
) -> dict[str, Any]:
    """As the reminders API takes it: `at` (absolute) or `before` (relative), never both.
    `fire_at` is left out: an import recomputes it from the task's due."""
    when: dict[str, Any] = (
        {"before": format_duration(offset_seconds)}
        if offset_seconds is not None
        else {"at": _optional(remind_at)}
    )
    return {**when, "fired_at": _optional(fired_at), "created_at": timestamp(created_at)}


async def load_task_extras(
    session: AsyncSession, owner_id: uuid.UUID, task_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, TaskExtras]:
    """Completions and reminders of one chunk of tasks: one query per section and IN_CHUNK
    ids, each oldest first (completions by the index on (task_id, completed_at, id))."""
    extras: dict[uuid.UUID, TaskExtras] = {}
    for start in range(0, len(task_ids), IN_CHUNK):
        part = task_ids[start : start + IN_CHUNK]
        reminder_stmt = (
            select(
                Reminder.task_id,
                Reminder.remind_at,
                Reminder.offset_seconds,
                Reminder.fired_at,
                Reminder.created_at,
            )
            .where(Reminder.owner_id == owner_id, Reminder.task_id.in_(part))
            .order_by(Reminder.task_id, Reminder.created_at, Reminder.id)
        )
        for task_id, at, offset, fired_at, created_at in await session.execute(reminder_stmt):
            extras.setdefault(task_id, TaskExtras()).reminders.append(
                _reminder(at, offset, fired_at, created_at)
            )
        stmt = (
            select(
                TaskCompletion.task_id,
                TaskCompletion.occurrence_date,
                TaskCompletion.occurrence_at,
                TaskCompletion.completed_at,
            )
            .where(TaskCompletion.owner_id == owner_id, TaskCompletion.task_id.in_(part))
            .order_by(TaskCompletion.task_id, TaskCompletion.completed_at, TaskCompletion.id)
        )
        for task_id, on, at, completed_at in await session.execute(stmt):
            extras.setdefault(task_id, TaskExtras()).completions.append(
                {"occurrence": _occurrence(on, at), "completed_at": timestamp(completed_at)}
            )
    return extras


_TASK_COLUMNS = (
    Task.id,
    Task.title,
    Task.description,
    Task.priority,
    Task.due_date,
    Task.due_at,
    Task.completed,
    Task.completed_at,
    Task.created_at,
    Task.updated_at,
    Task.rrule,
    Task.recurrence_mode,
)


def _due(row: Row[Any]) -> str | None:
    if row.due_at is not None:
        return timestamp(row.due_at)
    return row.due_date.isoformat() if row.due_date is not None else None


def _mode(row: Row[Any]) -> str:
    return "from_completion" if row.recurrence_mode == "from_completion" else "from_due"


def _recurrence(row: Row[Any]) -> dict[str, Any] | None:
    """`{"rule", "mode"}` as the tasks API takes it (its `text` is derived, so left out)."""
    if row.rrule is None:
        return None
    return {"rule": row.rrule, "mode": _mode(row)}


def recurrence_cell(row: Row[Any]) -> str:
    """The CSV's `recurrence`: the rule, with `;mode=from_completion` when it counts from the
    completion; empty for a one-off task."""
    if row.rrule is None:
        return ""
    mode = _mode(row)
    return row.rrule if mode == "from_due" else f"{row.rrule};mode={mode}"


def task_record(row: Row[Any], tags: list[str], extras: TaskExtras) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "title": row.title,
        "description": row.description,
        "priority": PRIORITY_NAMES.get(row.priority, "none"),
        "due": _due(row),
        "completed": row.completed,
        "completed_at": _optional(row.completed_at),
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "tags": tags,
        "recurrence": _recurrence(row),
        "completions": extras.completions,
        "reminders": extras.reminders,
    }


async def count_tasks(session: AsyncSession, owner_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(Task).where(Task.owner_id == owner_id)
    return int((await session.execute(stmt)).scalar_one())


async def _task_chunks(
    session: AsyncSession, owner_id: uuid.UUID, tags: Sequence[Tag]
) -> AsyncIterator[list[tuple[Row[Any], list[str], TaskExtras]]]:
    """The owner's tasks oldest first, CHUNK at a time by keyset on (created_at, id), each with
    its tag names. Plain rows, so the session keeps no objects. The links are read by task id
    alone (primary-key probes): the ids come from the owner's tasks, and every tag of the owner
    is in `tags`."""
    tag_names = {tag.id: (tag.name_key, tag.name) for tag in tags}
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        stmt = select(*_TASK_COLUMNS).where(Task.owner_id == owner_id)
        if after is not None:
            # The plain bound is implied by the OR, but only it lets SQLite seek the index.
            stmt = stmt.where(
                Task.created_at >= after[0],
                or_(
                    Task.created_at > after[0],
                    and_(Task.created_at == after[0], Task.id > after[1]),
                ),
            )
        rows = list(
            (await session.execute(stmt.order_by(Task.created_at, Task.id).limit(CHUNK))).all()
        )
        if not rows:
            return
        ids = [row.id for row in rows]
        links: dict[uuid.UUID, list[tuple[str, str]]] = {}
        for start in range(0, len(ids), IN_CHUNK):
            part = ids[start : start + IN_CHUNK]
            link_stmt = select(task_tags.c.task_id, task_tags.c.tag_id).where(
                task_tags.c.task_id.in_(part)
            )
            for task_id, tag_id in await session.execute(link_stmt):
                links.setdefault(task_id, []).append(tag_names[tag_id])
        extras = await load_task_extras(session, owner_id, ids)
        yield [
            (
                cast(Row[Any], row),
                [name for _, name in sorted(links.get(row.id, []))],
                extras.get(row.id, TaskExtras()),
            )
            for row in rows
        ]
        if len(rows) < CHUNK:
            return
        after = (rows[-1].created_at, rows[-1].id)


async def _tags(session: AsyncSession, owner_id: uuid.UUID) -> list[Tag]:
    stmt = select(Tag).where(Tag.owner_id == owner_id).order_by(Tag.name_key)
    tags = list((await session.execute(stmt)).scalars())
    for tag in tags:
        session.expunge(tag)
    return tags


async def export_json(
    session: AsyncSession,
    owner: Owner,
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> AsyncIterator[str]:
    """The export document as text pieces: the head, then one line per task."""
    tags = await _tags(session, owner.id)
    head = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "exported_at": timestamp(now),
        "account": account_section(owner),
        "tags": [tag_record(t) for t in tags],
    }
    text = json.dumps(head, ensure_ascii=False, indent=1)
    yield text[: text.rindex("}")].rstrip() + ',\n "tasks": ['
    separator = "\n  "
    async for chunk in _task_chunks(session, owner.id, tags):
        pieces = [json.dumps(task_record(*item), ensure_ascii=False) for item in chunk]
        yield separator + ",\n  ".join(pieces)
        separator = ",\n  "
        if progress is not None:
            progress(len(chunk))
    yield "\n ]\n}\n"


async def export_csv(
    session: AsyncSession, owner: Owner, *, progress: Callable[[int], None] | None = None
) -> AsyncIterator[str]:
    """One row per task (docs/export-format.md lists the columns), RFC 4180 with CRLF."""
    yield ",".join(csvtext.COLUMNS) + "\r\n"
    async for chunk in _task_chunks(session, owner.id, await _tags(session, owner.id)):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        for row, tags, _extras in chunk:
            writer.writerow(
                [
                    str(row.id),
                    csvtext.text_cell(row.title),
                    csvtext.text_cell(row.description),
                    PRIORITY_NAMES.get(row.priority, "none"),
                    _due(row) or "",
                    "true" if row.completed else "false",
                    _optional(row.completed_at) or "",
                    timestamp(row.created_at),
                    timestamp(row.updated_at),
                    csvtext.tags_cell(tags),
                    recurrence_cell(row),
                ]
            )
        yield out.getvalue()
        if progress is not None:
            progress(len(chunk))


def export_chunks(
    session: AsyncSession,
    owner: Owner,
    fmt: ExportFormat,
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> AsyncIterator[str]:
    if fmt == "csv":
        return export_csv(session, owner, progress=progress)
    return export_json(session, owner, now=now, progress=progress)


def filename(owner_timezone: str, fmt: ExportFormat, now: datetime) -> str:
    """`doable-export-YYYY-MM-DD.json|csv`, dated in the account's time zone."""
    return f"doable-export-{now.astimezone(ZoneInfo(owner_timezone)).date().isoformat()}.{fmt}"


# Import: one function per section of a task


def recurrence_values(record: TaskRecord) -> dict[str, Any]:
    """Columns of the task row that hold its recurrence (the rule is canonical already: the
    record validated it with the tasks API's RecurrenceIn)."""
    if record.recurrence is None:
        return {"rrule": None, "recurrence_mode": None}
    return {"rrule": record.recurrence.rule, "recurrence_mode": record.recurrence.mode}


def completion_rows(
    task_id: uuid.UUID, owner_id: uuid.UUID, record: TaskRecord
) -> list[dict[str, Any]]:
    """Rows of `task_completions` for this task. A task without recurrence may carry them too:
    the API keeps a task's history when its rule is removed, so an export can hold such a task."""
    rows = []
    for entry in record.completions:
        occurrence = entry.occurrence
        at = occurrence.astimezone(UTC) if isinstance(occurrence, datetime) else None
        rows.append(
            {
                "id": uuid.uuid4(),
                "task_id": task_id,
                "owner_id": owner_id,
                "occurrence_date": occurrence if at is None else None,
                "occurrence_at": at,
                "completed_at": entry.completed_at,
            }
        )
    return rows


def reminder_rows(
    task_id: uuid.UUID,
    owner_id: uuid.UUID,
    record: TaskRecord,
    due: dict[str, Any],
    zone: ZoneInfo,
    now: datetime,
) -> list[dict[str, Any]]:
    """Rows of `reminders` for this task. Fire times are computed as the reminders service
    computes them (`due_instant`, `fire_time`: relative ones from the task's due, in the zone
    the account will have). A reminder whose time is still ahead waits to fire; one whose time
    has passed keeps its `fired_at`, or, if it never fired, is passed over (marked fired now,
    no notification), so importing an old backup never fires a burst of stale reminders."""
    rows = []
    for index, entry in enumerate(record.reminders):
        if entry.before is not None:
            kind, at, offset = "relative", None, entry.before
            fire_at = reminder_service.fire_time(
                reminder_service.due_instant(due["due_at"], due["due_date"], zone), offset, zone
            )
        else:
            assert entry.at is not None  # exactly one of the two (ReminderCreate)
            kind, at, offset = "absolute", _aware(entry.at, zone), None
            fire_at = at
        waiting = fire_at is None or fire_at > now
        fired_at = None if waiting else entry.fired_at or now
        rows.append(
            {
                "id": uuid.uuid4(),
                "owner_id": owner_id,
                "task_id": task_id,
                "kind": kind,
                "remind_at": at,
                "offset_seconds": offset,
                "fire_at": fire_at,
                "fired_at": fired_at,
                # Without one, a microsecond apart: the file's order is the list's order.
                "created_at": entry.created_at or now + timedelta(microseconds=index),
            }
        )
    return rows


def _aware(value: datetime, zone: ZoneInfo) -> datetime:
    """An `at` as the reminders API reads it: without an offset, in the account's zone."""
    return (value if value.tzinfo is not None else value.replace(tzinfo=zone)).astimezone(UTC)


def settle_recurrences(
    plan: ImportPlan, zone: ZoneInfo, now: datetime
) -> dict[int, date | datetime | None]:
    """Every recurring task's due, checked against its rule as the tasks API does on a write
    (tasks/service.py `_settle_recurrence`): a rule with no occurrence from the due is refused,
    and a recurring task without a due gets its first occurrence from today, all-day. An
    absolute reminder more than 5 years ahead is refused, as by the reminders API. Returns the
    dues that were filled in, by task index; raises every problem at once."""
    filled: dict[int, date | datetime | None] = {}
    notes: list[ImportNote] = []
    for index, record in enumerate(plan.tasks):
        if record.recurrence is None:
            continue
        try:
            rule = recurrence.parse(record.recurrence.rule)
            due = record.due
            if due is None:
                filled[index] = recurrence.first_due(rule, now.astimezone(zone).date(), zone)
            else:
                if isinstance(due, datetime) and due.tzinfo is None:
                    due = recurrence.to_instant(due, zone)
                recurrence.check(rule, due, zone)
        except recurrence.RuleError as exc:
            notes.append(plan.note(index, ["recurrence", "rule"], str(exc)))
    for index, record in enumerate(plan.tasks):
        for number, entry in enumerate(record.reminders):
            # The API's typo guard; a time in the past is history here, not refused.
            if entry.at is not None and _aware(entry.at, zone) - now > reminder_service.MAX_AHEAD:
                msg = "A reminder can be at most 5 years ahead"
                notes.append(plan.note(index, ["reminders", number, "at"], msg))
    if notes:
        raise ImportInvalid(notes[:MAX_REPORTED], total=len(notes))
    return filled


@dataclass
class ImportOutcome:
    counts: ImportCounts
    warnings: list[ImportNote]
    settings_applied: bool


def _due_columns(due: date | datetime | None, user: User) -> dict[str, Any]:
    if due is None:
        return {"due_date": None, "due_at": None, "due_sort": NO_DUE}
    instant = to_instant(due, user)
    if isinstance(due, datetime):
        return {"due_date": None, "due_at": instant, "due_sort": instant}
    return {"due_date": due, "due_at": None, "due_sort": instant}


def _task_row(
    record: TaskRecord,
    task_id: uuid.UUID,
    user: User,
    now: datetime,
    index: int,
    due: date | datetime | None,
) -> dict[str, Any]:
    # Without a creation time, a microsecond apart each: lists sorted by creation keep the
    # file's order.
    created = record.created_at or now + timedelta(microseconds=index)
    completed_at = (record.completed_at or record.updated_at or now) if record.completed else None
    return {
        "id": task_id,
        "owner_id": user.id,
        "title": record.title,
        "description": record.description,
        "priority": PRIORITY_LEVELS[record.priority],
        "completed": record.completed,
        "completed_at": completed_at,
        "version": 1,
        "created_at": created,
        "updated_at": record.updated_at or created,
        **_due_columns(due, user),
        **recurrence_values(record),
    }


async def _resolve_tags(
    session: AsyncSession, user: User, plan: ImportPlan
) -> tuple[dict[str, uuid.UUID], int]:
    """Every tag the file names, found by key or created (in one bulk INSERT): the first
    spelling wins, the `tags` section's over the tasks'. An existing tag keeps its colour
    unless it has none."""
    wanted: dict[str, tuple[str, str | None]] = {}
    for tag in plan.tags:
        wanted.setdefault(tag_key(tag.name), (tag.name, tag.color.lower() if tag.color else None))
    for record in plan.tasks:
        for name in record.tags:
            wanted.setdefault(tag_key(name), (name, None))
    keys = list(wanted)
    existing: dict[str, tuple[uuid.UUID, str | None]] = {}
    for start in range(0, len(keys), IN_CHUNK):
        stmt = select(Tag.name_key, Tag.id, Tag.color).where(
            Tag.owner_id == user.id, Tag.name_key.in_(keys[start : start + IN_CHUNK])
        )
        for key, tag_id, color in await session.execute(stmt):
            existing[key] = (tag_id, color)
    ids = {key: tag_id for key, (tag_id, _) in existing.items()}
    now = utcnow()
    new_rows = []
    for key in sorted(wanted):
        name, color = wanted[key]
        if key in existing:
            if color is not None and existing[key][1] is None:
                await session.execute(
                    update(Tag)
                    .where(Tag.id == existing[key][0], Tag.owner_id == user.id)
                    .values(color=color)
                )
            continue
        ids[key] = uuid.uuid4()
        new_rows.append(
            {
                "id": ids[key],
                "owner_id": user.id,
                "name": name,
                "name_key": key,
                "color": color,
                "created_at": now,
            }
        )
    for start in range(0, len(new_rows), CHUNK):
        await session.execute(insert(TAGS), new_rows[start : start + CHUNK])
    return ids, len(new_rows)


async def apply_import(
    session: AsyncSession,
    user: User,
    plan: ImportPlan,
    *,
    apply_settings: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportOutcome:
    """Add everything in a validated plan to `user`'s data, in bulk: tags resolved once, then
    tasks and their tag links CHUNK rows per INSERT. The caller's transaction makes it all or
    nothing."""
    settings_applied = False
    applying = apply_settings and plan.account is not None
    # Checked before anything is written, in the zone the tasks will live in.
    zone = zone_of(plan.account.timezone if plan.account and applying else user.timezone)
    filled_dues = settle_recurrences(plan, zone, utcnow())
    inserted_reminders = 0
    if apply_settings and plan.account is not None:
        # First: all-day due dates are placed in the account's (new) time zone.
        user.name = plan.account.name
        user.timezone = plan.account.timezone
        await session.flush()
        settings_applied = True
    await ensure_room(session, user.id, len(plan.tasks))  # MAX_TASKS_PER_ACCOUNT
    tag_ids, new_tags = await _resolve_tags(session, user, plan)
    now = utcnow()
    for start in range(0, len(plan.tasks), CHUNK):
        records = plan.tasks[start : start + CHUNK]
        task_rows: list[dict[str, Any]] = []
        link_rows: list[dict[str, Any]] = []
        completions: list[dict[str, Any]] = []
        reminders: list[dict[str, Any]] = []
        for index, record in enumerate(records, start):
            task_id = uuid.uuid4()
            row = _task_row(record, task_id, user, now, index, filled_dues.get(index, record.due))
            task_rows.append(row)
            keys = dict.fromkeys(tag_key(name) for name in record.tags)
            link_rows.extend({"task_id": task_id, "tag_id": tag_ids[k]} for k in keys)
            completions.extend(completion_rows(task_id, user.id, record))
            reminders.extend(reminder_rows(task_id, user.id, record, row, zone, now))
        await session.execute(insert(TASKS), task_rows)
        if link_rows:
            await session.execute(insert(task_tags), link_rows)
        for part in range(0, len(completions), CHUNK):
            await session.execute(insert(COMPLETIONS), completions[part : part + CHUNK])
        for part in range(0, len(reminders), CHUNK):
            await session.execute(insert(REMINDERS), reminders[part : part + CHUNK])
        inserted_reminders += len(reminders)
        if progress is not None:
            progress(len(records))
    if inserted_reminders:
        events.reminders_changed(session)  # the scheduler picks them up once this commits
    return ImportOutcome(
        ImportCounts(tasks=len(plan.tasks), tags=new_tags), plan.warnings, settings_applied
    )
