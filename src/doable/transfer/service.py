"""Export an account as JSON or CSV text in chunks (the import is transfer/importer.py).

Never commits. Each section of a record is written by its own small function
(`account_section`, `tag_record`, `task_record`, `load_task_extras`; on import
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
from datetime import UTC, date, datetime
from typing import Any, Literal, cast

from sqlalchemy import Row, Table, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from doable.auth.models import User
from doable.comments.models import Comment
from doable.projects.models import Project, ProjectMember, Section
from doable.reminders.durations import format_duration
from doable.reminders.models import Reminder
from doable.tasks.models import VISIBLE, Tag, Task, TaskCompletion, task_tags
from doable.tasks.schemas import PRIORITY_NAMES
from doable.transfer import csvtext
from doable.transfer.schemas import (
    FORMAT_NAME,
    FORMAT_VERSION,
)
from doable.zones import zone_of

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


async def project_records(session: AsyncSession, owner_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every project of the owner in its order (the Inbox first), archived ones included,
    each with its sections in their order: two queries."""
    projects = (
        await session.execute(
            select(
                Project.id,
                Project.name,
                Project.inbox_owner_id,
                Project.color,
                Project.favorite,
                Project.archived,
            )
            .where(Project.owner_id == owner_id)
            .order_by(Project.inbox_owner_id.is_(None), Project.position, Project.id)
        )
    ).all()
    sections: dict[uuid.UUID, list[dict[str, Any]]] = {}
    section_rows = await session.execute(
        select(Section.project_id, Section.id, Section.name)
        .where(Section.owner_id == owner_id)
        .order_by(Section.project_id, Section.position, Section.id)
    )
    for project_id, section_id, name in section_rows:
        sections.setdefault(project_id, []).append({"id": str(section_id), "name": name})
    return [
        {
            "id": str(row.id),
            "name": row.name,
            "inbox": row.inbox_owner_id is not None,
            "color": row.color,
            "favorite": row.favorite,
            "archived": row.archived,
            "sections": sections.get(row.id, []),
        }
        for row in projects
    ]


@dataclass
class TaskExtras:
    """A task's rows in other tables; the defaults are what a task without them writes. (Its
    recurrence is on the task row itself: see `task_record`.)"""

    completions: list[dict[str, Any]] = field(default_factory=list)
    reminders: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)


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
        comment_stmt = (
            select(Comment.task_id, Comment.body, Comment.created_at, Comment.edited_at, User.name)
            .outerjoin(User, User.id == Comment.author_id)
            .where(Comment.task_id.in_(part))
            .order_by(Comment.task_id, Comment.created_at, Comment.id)
        )
        for task_id, body, created_at, edited_at, name in await session.execute(comment_stmt):
            extras.setdefault(task_id, TaskExtras()).comments.append(
                {
                    "body": body,
                    "author": (name or "").strip() or None,
                    "created_at": timestamp(created_at),
                    "edited_at": _optional(edited_at),
                }
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
    Task.project_id,
    Task.section_id,
    Task.parent_id,
    Task.position,
)


def _ref(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


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


async def shared_project_records(session: AsyncSession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The projects shared with the account: name, owner's display name and role, by name.
    Only that: their tasks belong to their owners' exports."""
    rows = await session.execute(
        select(Project.name, User.name.label("owner"), ProjectMember.role)
        .join(ProjectMember, ProjectMember.project_id == Project.id)
        .join(User, User.id == Project.owner_id)
        .where(ProjectMember.user_id == user_id)
        .order_by(Project.name, Project.id)
    )
    return [{"name": r.name, "owner": r.owner, "role": r.role} for r in rows]


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
        "comments": extras.comments,
        "project": _ref(row.project_id),
        "section": _ref(row.section_id),
        "parent": _ref(row.parent_id),
        "position": row.position or None,
    }


async def count_tasks(session: AsyncSession, owner_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(Task).where(Task.owner_id == owner_id, VISIBLE)
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
        stmt = select(*_TASK_COLUMNS).where(Task.owner_id == owner_id, VISIBLE)
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
        "projects": await project_records(session, owner.id),
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
    shared = json.dumps(await shared_project_records(session, owner.id), ensure_ascii=False)
    yield f'\n ],\n "shared_projects": {shared}\n}}\n'


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
    return f"doable-export-{now.astimezone(zone_of(owner_timezone)).date().isoformat()}.{fmt}"
