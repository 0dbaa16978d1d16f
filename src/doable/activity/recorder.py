"""Writes the activity log in the transaction of each change, whichever path made it.

A flush listener notes what the ORM changed on tasks, sections and projects (with the fields,
from the attributes' history), and a before-commit listener inserts one `activity` row per
(project, task, kind) the transaction touched, for the actor the session acts for
(`db.set_actor`). A session without an actor (the scheduler, the CLI) writes none. Deletions
and restores go through the trash, which records them itself (`service.record`); a rollback
takes every row with it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, insert, inspect, select
from sqlalchemy.orm import Session

from doable.activity.models import Activity
from doable.db import actor_of, new_id, utcnow
from doable.projects.models import Project, Section
from doable.tasks.models import Task, TaskCompletion

_NOTED = "doable_activity"

# Task attributes an edit names, as the API names them.
EDITED_FIELDS = {
    "title": "title",
    "description": "description",
    "priority": "priority",
    "due_date": "due",
    "due_at": "due",
    "rrule": "recurrence",
    "recurrence_mode": "recurrence",
    "tags": "tags",
}
MOVE_FIELDS = ("project_id", "section_id", "parent_id", "position")


@dataclass
class Entry:
    project_id: uuid.UUID
    task_id: uuid.UUID | None
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


def _changed(obj: Any, name: str) -> tuple[bool, Any, Any]:
    """Whether the attribute changed in this flush, with its old and new value."""
    history = inspect(obj).attrs[name].history
    if not history.added and not history.deleted:
        return False, None, None
    old = history.deleted[0] if history.deleted else None
    new = history.added[0] if history.added else None
    return True, old, new


def _task_entries(task: Task, occurrence: bool) -> list[Entry]:
    assert task.project_id is not None
    entries: list[Entry] = []
    project_id = task.project_id
    done, old_done, new_done = _changed(task, "completed")
    if occurrence:
        entries.append(Entry(project_id, task.id, "completed", {"occurrence": True}))
    elif done and new_done and not old_done:
        entries.append(Entry(project_id, task.id, "completed"))
    elif done and old_done and not new_done:
        entries.append(Entry(project_id, task.id, "reopened"))
    fields: list[str] = []
    for attr, name in EDITED_FIELDS.items():
        if occurrence and name == "due":
            continue  # a repeating task's next due comes with its completion
        if name not in fields and _changed(task, attr)[0]:
            fields.append(name)
    if fields:
        entries.append(Entry(project_id, task.id, "edited", {"fields": fields}))
    moved, old_project, new_project = _changed(task, "project_id")
    if moved and old_project is not None and old_project != new_project:
        detail = {"from_project_id": str(old_project), "to_project_id": str(new_project)}
        entries.append(Entry(old_project, task.id, "moved", detail))
        entries.append(Entry(project_id, task.id, "moved", dict(detail)))
    elif any(_changed(task, name)[0] for name in MOVE_FIELDS[1:]):
        entries.append(Entry(project_id, task.id, "moved", {}))
    assigned, _, assignee = _changed(task, "assignee_id")
    if assigned:
        to = str(assignee) if assignee else None
        entries.append(Entry(project_id, task.id, "assigned", {"assignee_id": to}))
    return entries


@event.listens_for(Session, "after_flush")
def _note_changes(session: Session, _context: Any) -> None:
    if actor_of(session) is None:
        return
    noted: list[Entry] = session.info.setdefault(_NOTED, [])
    occurrences = {obj.task_id for obj in session.new if isinstance(obj, TaskCompletion)}
    for obj in session.new:
        if isinstance(obj, Task) and obj.project_id is not None:
            noted.append(Entry(obj.project_id, obj.id, "created", {"title": obj.title}))
        elif isinstance(obj, Section):
            noted.append(Entry(obj.project_id, None, "section_created", {"name": obj.name}))
        elif isinstance(obj, Project) and obj.inbox_owner_id is None:
            noted.append(Entry(obj.id, None, "project_created", {"name": obj.name}))
    for obj in session.dirty:
        if not session.is_modified(obj):
            continue
        if isinstance(obj, Task) and obj.project_id is not None:
            noted.extend(_task_entries(obj, obj.id in occurrences))
        elif isinstance(obj, Section) and _changed(obj, "name")[0]:
            noted.append(Entry(obj.project_id, None, "section_renamed", {"name": obj.name}))
        elif isinstance(obj, Project):
            fields = [n for n in ("name", "color", "archived", "favorite") if _changed(obj, n)[0]]
            if fields:
                noted.append(Entry(obj.id, None, "project_edited", {"fields": fields}))


def _merged(entries: list[Entry]) -> list[Entry]:
    """One entry per (project, task, kind): an edit flushed twice is one edit of both fields.
    A task created in this transaction is just created."""
    created = {e.task_id for e in entries if e.kind == "created"}
    merged: dict[tuple[uuid.UUID, uuid.UUID | None, str], Entry] = {}
    for entry in entries:
        if entry.task_id in created and entry.kind != "created":
            continue
        key = (entry.project_id, entry.task_id, entry.kind)
        if key not in merged:
            merged[key] = Entry(entry.project_id, entry.task_id, entry.kind, dict(entry.detail))
            continue
        kept = merged[key]
        if "fields" in entry.detail:
            names = kept.detail.get("fields", [])
            kept.detail["fields"] = names + [n for n in entry.detail["fields"] if n not in names]
        else:
            kept.detail.update(entry.detail)
    return list(merged.values())


def rows_for(session: Session, entries: list[Entry], actor: uuid.UUID) -> list[dict[str, Any]]:
    """The rows to insert; moves between projects carry both projects' names."""
    moves = [e for e in entries if "from_project_id" in e.detail]
    if moves:
        ids = {uuid.UUID(e.detail[k]) for e in moves for k in ("from_project_id", "to_project_id")}
        found = session.execute(select(Project.id, Project.name).where(Project.id.in_(ids)))
        names = {row[0]: row[1] for row in found}
        for entry in moves:
            for key in ("from_project", "to_project"):
                entry.detail[key] = names.get(uuid.UUID(entry.detail[f"{key}_id"]), "")
    now = utcnow()
    return [
        {
            "id": new_id(),
            "project_id": entry.project_id,
            "task_id": entry.task_id,
            "actor_id": actor,
            "kind": entry.kind,
            "detail": json.dumps(entry.detail, ensure_ascii=False, separators=(",", ":")),
            "created_at": now,
        }
        for entry in entries
    ]


_INSERT = insert(Activity)


@event.listens_for(Session, "before_commit")
def _write(session: Session) -> None:
    if session.in_nested_transaction():
        return
    actor = actor_of(session)
    if actor is None:
        return
    if session.new or session.dirty or session.deleted:
        session.flush()
    entries = _merged(session.info.pop(_NOTED, []))
    if not entries:
        return
    # Through Core: the ORM's bulk insert path costs about 70 µs more and adds nothing for
    # plain rows (issue 19: a task create's CPU).
    session.connection().execute(_INSERT, rows_for(session, entries, actor))


def forget_project(session: Session, project_id: uuid.UUID) -> None:
    """Drop what was noted for a project this transaction deletes (its log goes with it)."""
    noted: list[Entry] = session.info.get(_NOTED, [])
    noted[:] = [e for e in noted if e.project_id != project_id]


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction: Any) -> None:
    if not previous_transaction.nested:
        session.info.pop(_NOTED, None)
