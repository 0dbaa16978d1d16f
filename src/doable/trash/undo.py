"""Undo of a move or an edit: what a task was before, and putting it back unless someone has
changed it since. Never commits.

The web app signs `before(task)` with the version the change produced into its Undo toast; on
undo, `revert` refuses (409) when the task's version differs, naming who changed it, rather
than overwriting their change."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from doable.activity.models import Activity
from doable.auth.models import User
from doable.errors import Conflict, InvalidInput
from doable.projects.access import Role
from doable.tasks import service as tasks_service
from doable.tasks import tree
from doable.tasks.models import Task
from doable.tasks.schemas import PRIORITY_NAMES, TaskPatch


class ChangedSince(Conflict):
    slug = "changed-since"

    def __init__(self, who: str) -> None:
        super().__init__(
            f"{who} changed this task after you did, so your undo was not applied "
            "(it would have overwritten their change)"
        )


async def before(session: AsyncSession, task: Task) -> dict[str, Any]:
    """The task's fields and place now, as a TaskPatch body (JSON-safe), before a change."""
    due = tasks_service.due_of(task)
    sibling = await session.scalar(
        select(Task.id)
        .where(
            Task.owner_id == task.owner_id,
            tree.siblings(tree.Target(task.project_id, task.section_id, task.parent_id)),  # type: ignore[arg-type]
            Task.position < task.position,
        )
        .order_by(Task.position.desc(), Task.id.desc())
        .limit(1)
    )
    return {
        "title": task.title,
        "description": task.description,
        "priority": PRIORITY_NAMES[task.priority],
        "due": due.isoformat() if due is not None else None,
        "tags": task.tag_names,
        "recurrence": (
            {"rule": task.rrule, "mode": task.recurrence_mode or "from_due"} if task.rrule else None
        ),
        "project_id": str(task.project_id),
        "section_id": str(task.section_id) if task.section_id else None,
        "parent_id": str(task.parent_id) if task.parent_id else None,
        "after": str(sibling) if sibling else None,
    }


async def _who_changed(session: AsyncSession, user: User, task: Task) -> str:
    found = await session.execute(
        select(User.name, Activity.actor_id)
        .join(User, User.id == Activity.actor_id, isouter=True)
        .where(Activity.task_id == task.id, Activity.project_id == task.project_id)
        .order_by(Activity.created_at.desc(), Activity.id.desc())
        .limit(1)
    )
    row = found.first()
    if row is None or row[1] == user.id:
        return "Someone else" if row is None else "You (elsewhere)"
    return row[0] or "Another member"


async def revert(
    session: AsyncSession, user: User, task_id: uuid.UUID, version: int, state: dict[str, Any]
) -> Task:
    """Put the task back as `state` says, if it is still at `version` (else 409)."""
    task = await tasks_service.get_task(session, user, task_id, for_update=True, need=Role.EDITOR)
    if task.version != version:
        raise ChangedSince(await _who_changed(session, user, task))
    body = dict(state)
    after = body.pop("after", None)
    if after is not None and after != str(task.id):
        body["after"] = after
    else:
        body["at"] = "first"
    try:
        patch = TaskPatch.model_validate(body)
    except ValueError:
        raise InvalidInput("This undo cannot be applied") from None
    try:
        return await tasks_service.update_task(session, user, task, patch)
    except InvalidInput:
        # Its old neighbour has moved away meanwhile: back to the old list, at its end.
        if "after" not in body:
            raise
        body.pop("after")
        body["at"] = "last"
        task = await tasks_service.get_task(session, user, task_id, need=Role.EDITOR)
        return await tasks_service.update_task(session, user, task, TaskPatch.model_validate(body))
