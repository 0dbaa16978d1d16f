"""Applying a validated import: staged in chunks, each in a short transaction of its own,
hidden until one statement publishes the whole batch.

Staged tasks carry the batch's id in `tasks.import_batch_id`, which every list, count, feed and
export leaves out (`tasks.models.VISIBLE`). So on SQLite no write lock is held for longer than
one chunk, other users' writes interleave, and a file that turns out to be bad halfway, or an
import that fails, leaves nothing anyone has seen: its staged rows are deleted, chunk by chunk.
The import's own transaction then clears the batch id and adds the reminders, all at once.

The projects and sections an import creates (a Todoist file's project, a version 2 file's
projects) are written by that same publishing transaction, so they appear with their tasks,
never empty and never before: staged tasks name them by ids chosen in advance (tasks carry no
foreign keys to them, see migration 0010), and a failed import leaves no project behind.
Positions come from the file's order (transfer/plan.py): one key per row, computed as the row
is built, never an UPDATE per row.

Never commits the caller's session; staging and clean-up commit their own. Each section of a
record is read by its own small function (`recurrence_values`, `completion_rows`,
`reminder_rows`), as on export.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, TypeVar, cast

import anyio
from sqlalchemy import Table, delete, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from doable import events, positions
from doable.auth.models import User
from doable.comments.models import Comment
from doable.db import Database, lock_row, utcnow
from doable.errors import loggable_error
from doable.projects import service as projects_service
from doable.projects.models import Project, Section
from doable.reminders import service as reminder_service
from doable.reminders.models import Reminder
from doable.tasks import recurrence
from doable.tasks.models import NO_DUE, Tag, Task, TaskCompletion, task_tags
from doable.tasks.schemas import PRIORITY_LEVELS
from doable.tasks.service import ensure_room, instant_in
from doable.tasks.tags import tag_key
from doable.transfer.parse import CHUNK, Entry, ImportStream, capped
from doable.transfer.plan import Place, ProjectPlan
from doable.transfer.schemas import (
    AccountSection,
    ImportCounts,
    ImportedProject,
    ImportNote,
    TagRecord,
    TaskRecord,
)
from doable.zones import Zone

log = logging.getLogger("doable.transfer")

IN_CHUNK = 500  # values per IN (…) list
# A batch this old was left by a process that died mid-import: the owner's next import
# deletes it. (An import of the largest file takes minutes, not hours.)
STALE_AFTER = timedelta(hours=1)
TASKS = cast(Table, Task.__table__)
TAGS = cast(Table, Tag.__table__)
COMPLETIONS = cast(Table, TaskCompletion.__table__)
REMINDERS = cast(Table, Reminder.__table__)
COMMENTS = cast(Table, Comment.__table__)
PROJECTS = cast(Table, Project.__table__)
SECTIONS = cast(Table, Section.__table__)
T = TypeVar("T")
Offload = Callable[[Callable[[], T]], Awaitable[T]]


def new_batch_id(now: datetime) -> uuid.UUID:
    """A random id that starts with its time in milliseconds (the UUIDv7 layout), so a batch
    left behind can be told by its age."""
    millis = int(now.timestamp() * 1000) & ((1 << 48) - 1)
    value = (millis << 80) | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return uuid.UUID(int=value)


def batch_started(batch_id: uuid.UUID) -> datetime:
    return datetime.fromtimestamp((batch_id.int >> 80) / 1000, UTC)


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


def comment_rows(
    task_id: uuid.UUID, author_id: uuid.UUID, record: TaskRecord, now: datetime
) -> list[dict[str, Any]]:
    """Rows of `comments` for this task, in the file's order, all the importer's own (the
    file's `author` is a name on another server). A comment without a time gets the import's,
    a microsecond apart, so the thread keeps its order."""
    rows = []
    for index, entry in enumerate(record.comments):
        created = entry.created_at or now + timedelta(microseconds=index)
        rows.append(
            {
                "id": uuid.uuid4(),
                "task_id": task_id,
                "author_id": author_id,
                "body": entry.body,
                "created_at": created,
                "edited_at": entry.edited_at,
            }
        )
    return rows


def reminder_rows(
    task_id: uuid.UUID,
    owner_id: uuid.UUID,
    record: TaskRecord,
    due: dict[str, Any],
    zone: Zone,
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


def _aware(value: datetime, zone: Zone) -> datetime:
    """An `at` as the reminders API reads it: without an offset, in the account's zone."""
    return (value if value.tzinfo is not None else value.replace(tzinfo=zone)).astimezone(UTC)


def _due_columns(due: date | datetime | None, zone: Zone) -> dict[str, Any]:
    if due is None:
        return {"due_date": None, "due_at": None, "due_sort": NO_DUE}
    instant = instant_in(due, zone)
    if isinstance(due, datetime):
        return {"due_date": None, "due_at": instant, "due_sort": instant}
    return {"due_date": due, "due_at": None, "due_sort": instant}


def _settle(
    stream: ImportStream, entry: Entry, zone: Zone, now: datetime
) -> date | datetime | None:
    """The task's due, checked against its rule as the tasks API does on a write
    (tasks/service.py `_settle_recurrence`): a rule with no occurrence from the due is an
    error, and a recurring task without a due gets its first occurrence from today, all-day.
    An absolute reminder more than 5 years ahead is an error, as in the reminders API."""
    record = entry.record
    due = record.due
    if record.recurrence is not None:
        try:
            rule = recurrence.parse(record.recurrence.rule)
            if due is None:
                due = recurrence.first_due(rule, now.astimezone(zone).date(), zone)
            else:
                checked = due
                if isinstance(checked, datetime) and checked.tzinfo is None:
                    checked = recurrence.to_instant(checked, zone)
                recurrence.check(rule, checked, zone)
        except recurrence.RuleError as exc:
            stream.errors.add(stream.note(entry, ["recurrence", "rule"], str(exc)))
    for number, reminder in enumerate(record.reminders):
        # The API's typo guard; a time in the past is history here, not refused.
        if reminder.at is not None and _aware(reminder.at, zone) - now > reminder_service.MAX_AHEAD:
            msg = "A reminder can be at most 5 years ahead"
            stream.errors.add(stream.note(entry, ["reminders", number, "at"], msg))
    return due


def _task_row(
    record: TaskRecord,
    place: Place,
    batch: Batch,
    project_id: uuid.UUID,
    now: datetime,
    index: int,
    due: dict[str, Any],
) -> dict[str, Any]:
    # Without a creation time, a microsecond apart each: lists sorted by creation keep the
    # file's order.
    created = record.created_at or now + timedelta(microseconds=index)
    completed_at = (record.completed_at or record.updated_at or now) if record.completed else None
    key = place.key
    if project_id == batch.inbox_id and place.top_level:
        key = batch.inbox_prefix + key  # after what the Inbox held
    return {
        "id": place.task_id,
        "owner_id": batch.owner_id,
        "title": record.title,
        "description": record.description,
        "priority": PRIORITY_LEVELS[record.priority],
        "completed": record.completed,
        "completed_at": completed_at,
        "version": 1,
        "created_at": created,
        "updated_at": record.updated_at or created,
        "import_batch_id": batch.id,
        "project_id": project_id,
        "section_id": place.section_id,
        "parent_id": place.parent_id,
        "position": key,
        **due,
        **recurrence_values(record),
    }


@dataclass
class Prepared:
    """One chunk's rows, built in a worker thread; tags by key until staging resolves them."""

    tasks: list[dict[str, Any]] = field(default_factory=list)
    links: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    tag_names: dict[str, str] = field(default_factory=dict)
    completions: list[dict[str, Any]] = field(default_factory=list)
    reminders: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Batch:
    """An import being staged: its id, the tags it resolved and created, and the reminders
    that are added only when it is published (so none fires for a hidden task)."""

    id: uuid.UUID
    owner_id: uuid.UUID
    tag_ids: dict[str, uuid.UUID] = field(default_factory=dict)
    created_tags: list[uuid.UUID] = field(default_factory=list)
    reminders: list[dict[str, Any]] = field(default_factory=list)
    # The staged tasks' ids: publishing updates them by primary key. An UPDATE that found them
    # by owner and batch walked the owner's index, and on MariaDB (REPEATABLE READ) locked every
    # row and gap it passed, deadlocking with another import of the same owner inserting there.
    task_ids: list[uuid.UUID] = field(default_factory=list)
    # The owner's Inbox, and the prefix that puts the tasks going to its top level after the
    # ones already there ("" when it had none): `locate`.
    inbox_id: uuid.UUID | None = None
    inbox_prefix: str = ""

    def project_id(self, plans: list[ProjectPlan], index: int) -> uuid.UUID:
        planned = plans[index].id
        if planned is not None:
            return planned
        assert self.inbox_id is not None, "locate() first"
        return self.inbox_id

    @property
    def tasks(self) -> int:
        return len(self.task_ids)


def prepare(
    stream: ImportStream, chunk: list[Entry], batch: Batch, zone: Zone, now: datetime
) -> Prepared:
    """The rows of one chunk (CPU work: run it off the event loop). Once the file has a
    problem, nothing more is built: it will not be imported, only its problems listed."""
    dues = [_settle(stream, entry, zone, now) for entry in chunk]
    prepared = Prepared()
    if stream.errors.total:
        return prepared
    for entry, due in zip(chunk, dues, strict=True):
        record = entry.record
        task_id = entry.place.task_id
        columns = _due_columns(due, zone)
        project_id = batch.project_id(stream.projects, entry.place.project)
        prepared.tasks.append(
            _task_row(record, entry.place, batch, project_id, now, entry.index, columns)
        )
        for name in record.tags:
            key = tag_key(name)
            prepared.tag_names.setdefault(key, name)
            prepared.links.append((task_id, key))
        prepared.completions.extend(completion_rows(task_id, batch.owner_id, record))
        prepared.comments.extend(comment_rows(task_id, batch.owner_id, record, now))
        prepared.reminders.extend(
            reminder_rows(task_id, batch.owner_id, record, columns, zone, now)
        )
    prepared.links = list(dict.fromkeys(prepared.links))
    return prepared


def _next(stream: ImportStream, batch: Batch, zone: Zone, now: datetime) -> Prepared | None:
    chunk = next(stream.chunks, None)
    return None if chunk is None else prepare(stream, chunk, batch, zone, now)


async def _resolve_tags(
    session: AsyncSession, batch: Batch, wanted: dict[str, tuple[str, str | None]], now: datetime
) -> None:
    """Find or create the tags in `wanted` (key → name, colour) that the batch has not met
    yet. The first spelling wins; an existing tag keeps its colour unless it has none."""
    keys = [key for key in wanted if key not in batch.tag_ids]
    existing: dict[str, tuple[uuid.UUID, str | None]] = {}
    for start in range(0, len(keys), IN_CHUNK):
        stmt = select(Tag.name_key, Tag.id, Tag.color).where(
            Tag.owner_id == batch.owner_id, Tag.name_key.in_(keys[start : start + IN_CHUNK])
        )
        for key, tag_id, color in await session.execute(stmt):
            existing[key] = (tag_id, color)
    new_rows = []
    for key in sorted(keys):
        name, color = wanted[key]
        if key in existing:
            tag_id, old_color = existing[key]
            batch.tag_ids[key] = tag_id
            if color is not None and old_color is None:
                await session.execute(
                    update(Tag)
                    .where(Tag.id == tag_id, Tag.owner_id == batch.owner_id)
                    .values(color=color)
                )
            continue
        batch.tag_ids[key] = uuid.uuid4()
        batch.created_tags.append(batch.tag_ids[key])
        new_rows.append(
            {
                "id": batch.tag_ids[key],
                "owner_id": batch.owner_id,
                "name": name,
                "name_key": key,
                "color": color,
                "created_at": now,
            }
        )
    for start in range(0, len(new_rows), CHUNK):
        await session.execute(insert(TAGS), new_rows[start : start + CHUNK])


async def locate(database: Database, batch: Batch) -> None:
    """Find the owner's Inbox, and the prefix after the last key at its top level: the
    imported tasks there keep the file's order after what the Inbox holds (prefix + key sorts
    after the last key and keeps the order of the keys; "" when the Inbox top level is empty)."""
    async with database.unit_of_work(write=True) as session:
        inbox = await projects_service.inbox_id(session, batch.owner_id)
        await projects_service.lock(session, inbox)
        last = await session.scalar(
            select(func.max(Task.position)).where(
                Task.owner_id == batch.owner_id,
                Task.project_id == inbox,
                Task.section_id.is_(None),
                Task.parent_id.is_(None),
            )
        )
    batch.inbox_id = inbox
    batch.inbox_prefix = positions.between(last, None) if last else ""


def _unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name (2)`, `name (3)`… when a project of that name (ignoring case) exists,
    cut to fit 120 characters."""
    candidate, number = name, 1
    while candidate.casefold() in taken:
        number += 1
        suffix = f" ({number})"
        candidate = name[: 120 - len(suffix)].rstrip() + suffix
    taken.add(candidate.casefold())
    return candidate


async def _create_projects(
    session: AsyncSession, batch: Batch, plans: list[ProjectPlan], now: datetime
) -> tuple[list[ImportedProject], int]:
    """Insert the projects and sections the import fills, in the publishing transaction: new
    projects after the owner's others, in the file's order; a new project's sections spread
    over fresh keys, the Inbox's after its own. Returns the projects made, and the number of
    sections."""
    assert batch.inbox_id is not None
    await lock_row(session, Project.id, batch.inbox_id)  # serialises the list of projects
    names = await session.scalars(select(Project.name).where(Project.owner_id == batch.owner_id))
    taken = {name.casefold() for name in names}
    last = await session.scalar(
        select(func.max(Project.position)).where(
            Project.owner_id == batch.owner_id, Project.inbox_owner_id.is_(None)
        )
    )
    made: list[ImportedProject] = []
    project_rows: list[dict[str, Any]] = []
    section_rows: list[dict[str, Any]] = []
    for plan in plans:
        if plan.id is None:
            if not plan.sections:
                continue
            project_id = batch.inbox_id
            after = await session.scalar(
                select(func.max(Section.position)).where(Section.project_id == project_id)
            )
            keys = []
            for _ in plan.sections:
                after = positions.between(after, None)
                keys.append(after)
        else:
            project_id = plan.id
            last = positions.between(last, None)
            name = _unique_name(plan.name, taken)
            project_rows.append(
                {
                    "id": project_id,
                    "owner_id": batch.owner_id,
                    "name": name,
                    "color": plan.color,
                    "favorite": plan.favorite,
                    "archived": plan.archived,
                    "inbox_owner_id": None,
                    "position": last,
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            made.append(ImportedProject(id=str(project_id), name=name))
            keys = list(positions.spread(len(plan.sections)))
        for section, key in zip(plan.sections, keys, strict=True):
            section_rows.append(
                {
                    "id": section.id,
                    "project_id": project_id,
                    "owner_id": batch.owner_id,
                    "name": section.name,
                    "position": key,
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    for start in range(0, len(project_rows), CHUNK):
        await session.execute(insert(PROJECTS), project_rows[start : start + CHUNK])
    for start in range(0, len(section_rows), CHUNK):
        await session.execute(insert(SECTIONS), section_rows[start : start + CHUNK])
    if any(plan.archived for plan in plans):
        events.reminders_changed(session)  # an archived project's reminders do not fire
    return made, len(section_rows)


async def _stage(
    database: Database, batch: Batch, prepared: Prepared, tags: list[TagRecord], now: datetime
) -> None:
    """One chunk, in one short transaction of its own."""
    async with database.unit_of_work(write=True) as session:
        wanted: dict[str, tuple[str, str | None]] = {}
        for tag in tags:
            wanted.setdefault(
                tag_key(tag.name), (tag.name, tag.color.lower() if tag.color else None)
            )
        for key, name in prepared.tag_names.items():
            wanted.setdefault(key, (name, None))
        await _resolve_tags(session, batch, wanted, now)
        if prepared.tasks:
            await session.execute(insert(TASKS), prepared.tasks)
        links = [{"task_id": t, "tag_id": batch.tag_ids[k]} for t, k in prepared.links]
        if links:
            await session.execute(insert(task_tags), links)
        for part in range(0, len(prepared.completions), CHUNK):
            await session.execute(insert(COMPLETIONS), prepared.completions[part : part + CHUNK])
        for part in range(0, len(prepared.comments), CHUNK):
            await session.execute(insert(COMMENTS), prepared.comments[part : part + CHUNK])
    batch.reminders.extend(prepared.reminders)
    batch.task_ids.extend(row["id"] for row in prepared.tasks)


async def stage(
    database: Database,
    owner_id: uuid.UUID,
    stream: ImportStream,
    *,
    zone: Zone,
    now: datetime,
    offload: Offload[Prepared | None],
    progress: Callable[[int], None] | None = None,
) -> Batch:
    """Read the whole stream and stage its tasks hidden, chunk by chunk; the CPU work of each
    chunk runs through `offload` (a worker thread). Raises ImportInvalid with every problem of
    the file, and whatever else went wrong, after deleting what was staged."""
    batch = Batch(new_batch_id(now), owner_id)
    await discard_stale(database, owner_id, now)
    await locate(database, batch)
    try:
        tags = stream.tags
        if tags and not stream.errors.total:
            await _stage(database, batch, Prepared(), tags, now)
        while (prepared := await offload(partial(_next, stream, batch, zone, now))) is not None:
            if stream.errors.total:
                continue  # read on, only to list every problem
            await _stage(database, batch, prepared, [], now)
            if progress is not None:
                progress(len(prepared.tasks))
        stream.check()
    except BaseException:
        await discard(database, batch)
        raise
    return batch


@dataclass
class ImportOutcome:
    counts: ImportCounts
    warnings: list[ImportNote]
    settings_applied: bool
    projects: list[ImportedProject] = field(default_factory=list)


async def publish(
    session: AsyncSession,
    batch: Batch,
    stream: ImportStream,
    account: AccountSection | None = None,
) -> ImportOutcome:
    """Make a staged batch visible, at once, in the caller's transaction: the projects and
    sections it fills, the batch's tasks by primary key, then their reminders; and, given
    `account`, the account's name and zone."""
    if account is not None:
        user = await session.get(User, batch.owner_id)
        if user is not None:
            user.name = account.name
            user.timezone = account.timezone
            await session.flush()
    await ensure_room(session, batch.owner_id, batch.tasks)  # MAX_TASKS_PER_ACCOUNT
    made, sections = await _create_projects(session, batch, stream.projects, utcnow())
    for part in range(0, len(batch.task_ids), CHUNK):
        await session.execute(
            update(TASKS)
            .where(
                TASKS.c.id.in_(batch.task_ids[part : part + CHUNK]),
                TASKS.c.owner_id == batch.owner_id,
                TASKS.c.import_batch_id == batch.id,
            )
            .values(import_batch_id=None)
        )
    for part in range(0, len(batch.reminders), CHUNK):
        await session.execute(insert(REMINDERS), batch.reminders[part : part + CHUNK])
    if batch.reminders:
        events.reminders_changed(session)  # the scheduler picks them up once this commits
    counts = ImportCounts(
        tasks=batch.tasks, tags=len(batch.created_tags), projects=len(made), sections=sections
    )
    return ImportOutcome(counts, capped(stream.warnings), account is not None, made)


async def discard(database: Database, batch: Batch) -> None:
    """Delete a batch's staged rows, a chunk per transaction, and the tags it created that
    nothing else uses. Shielded from cancellation; a failure is logged, and the owner's next
    import removes what is left (`discard_stale`)."""
    with anyio.CancelScope(shield=True):
        try:
            await _discard(database, batch)
        except Exception as exc:
            log.warning("deleting a failed import's staged tasks failed\n%s", loggable_error(exc))


async def _discard(database: Database, batch: Batch) -> None:
    while True:
        async with database.unit_of_work(write=True) as session:
            ids = list(
                (
                    await session.execute(
                        select(Task.id)
                        .where(Task.owner_id == batch.owner_id, Task.import_batch_id == batch.id)
                        .limit(CHUNK)
                    )
                ).scalars()
            )
            for start in range(0, len(ids), IN_CHUNK):
                part = ids[start : start + IN_CHUNK]
                await session.execute(
                    delete(TaskCompletion).where(TaskCompletion.task_id.in_(part))
                )
                await session.execute(delete(task_tags).where(task_tags.c.task_id.in_(part)))
                await session.execute(delete(Comment).where(Comment.task_id.in_(part)))
                await session.execute(delete(Task).where(Task.id.in_(part)))
        if len(ids) < CHUNK:
            break
    for start in range(0, len(batch.created_tags), IN_CHUNK):
        part = batch.created_tags[start : start + IN_CHUNK]
        async with database.unit_of_work(write=True) as session:
            used = exists().where(task_tags.c.tag_id == Tag.id)
            await session.execute(
                delete(Tag).where(Tag.owner_id == batch.owner_id, Tag.id.in_(part), ~used)
            )


async def discard_stale(database: Database, owner_id: uuid.UUID, now: datetime) -> None:
    """Delete the batches a dead process left staged for this owner (older than STALE_AFTER)."""
    async with database.unit_of_work(write=False) as session:
        stmt = (
            select(Task.import_batch_id)
            .where(Task.owner_id == owner_id, Task.import_batch_id.is_not(None))
            .distinct()
        )
        batches = [b for b in (await session.execute(stmt)).scalars() if b is not None]
    for batch_id in batches:
        if batch_started(batch_id) < now - STALE_AFTER:
            await discard(database, Batch(batch_id, owner_id))
