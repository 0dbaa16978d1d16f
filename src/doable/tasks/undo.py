"""Undoing a completion: what completing changed, and putting it back. Never commits.

Completing a one-off task closes it (and its open subtasks, at the same instant); completing a
repeating one records a `TaskCompletion` and moves the task to its next occurrence. `before`
notes what the task was, `undo_completion` restores it: the previous due and rule, the
completion dropped, the subtasks that closed with it reopened. It refuses (409) when the task
changed since, whoever changed it, rather than overwrite that change.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from doable.errors import Conflict
from doable.reminders import service as reminders_service
from doable.tasks import tree
from doable.tasks.models import Task, TaskCompletion


class UndoRefused(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "This task has changed since it was completed, so it was not undone; "
            "reopen it or change it by hand"
        )


@dataclass(frozen=True)
class Completed:
    """A task just before it was completed, and its version just after."""

    task_id: str
    version: int
    rrule: str | None
    due_date: str | None
    due_at: str | None
    due_sort: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": "complete", **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Completed:
        return cls(
            task_id=str(data["task_id"]),
            version=int(data["version"]),
            rrule=data.get("rrule"),
            due_date=data.get("due_date"),
            due_at=data.get("due_at"),
            due_sort=str(data["due_sort"]),
        )


def before(task: Task) -> dict[str, Any]:
    """What the task is now; pass it to `completed` once the task is completed."""
    return {
        "rrule": task.rrule,
        "due_date": task.due_date.isoformat() if task.due_date else None,
        "due_at": task.due_at.isoformat() if task.due_at else None,
        "due_sort": task.due_sort.isoformat(),
    }


def completed(task: Task, was: dict[str, Any]) -> Completed:
    return Completed(task_id=str(task.id), version=task.version, **was)


async def undo_completion(session: AsyncSession, task: Task, done: Completed) -> Task:
    """Put back what completing `task` changed (the caller loaded it for writing)."""
    if str(task.id) != done.task_id or task.version != done.version:
        raise UndoRefused()
    closed_at = task.completed_at
    if done.rrule is not None:
        # A repeating task moved on (or its series ended): back to the occurrence that was
        # completed, without the completion it recorded.
        last = await session.scalar(
            select(TaskCompletion.id)
            .where(TaskCompletion.owner_id == task.owner_id, TaskCompletion.task_id == task.id)
            .order_by(TaskCompletion.completed_at.desc(), TaskCompletion.id.desc())
            .limit(1)
        )
        if last is not None:
            await session.execute(delete(TaskCompletion).where(TaskCompletion.id == last))
        task.rrule = done.rrule
        task.due_date = date.fromisoformat(done.due_date) if done.due_date else None
        task.due_at = datetime.fromisoformat(done.due_at) if done.due_at else None
        task.due_sort = datetime.fromisoformat(done.due_sort)
    task.completed, task.completed_at = False, None
    if closed_at is not None:
        # The open subtasks that completing closed, at that same instant.
        await _reopen_closed_with(session, task.owner_id, task.id, closed_at)
    await session.flush()
    if done.rrule is not None:
        await reminders_service.reschedule_for_task(session, task)
    return task


async def _reopen_closed_with(
    session: AsyncSession, owner_id: uuid.UUID, root_id: uuid.UUID, at: datetime
) -> None:
    ids = await tree.descendants(session, owner_id, root_id)
    for start in range(0, len(ids), 500):
        await session.execute(
            update(Task)
            .where(
                Task.owner_id == owner_id,
                Task.id.in_(ids[start : start + 500]),
                Task.completed.is_(True),
                Task.completed_at == at,
            )
            .values(completed=False, completed_at=None, version=Task.version + 1)
            .execution_options(synchronize_session=False)
        )
