"""Assigning a task to one person of its project (docs/sharing.md).

The people a task can be assigned to are its project's owner and members: in a project
nobody else shares, that is the owner alone, who may assign tasks to themselves (so
"assigned to me" works the same everywhere). Anyone else is refused with 422. Assigning
needs the role any other change of the task needs (an editor). The new assignee is told,
unless they assigned it themselves or muted the project (comments/notify.py).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from doable.auth.models import User
from doable.comments import notify
from doable.errors import InvalidInput
from doable.projects import access
from doable.tasks.models import Task


class NotAMember(InvalidInput):
    def __init__(self) -> None:
        super().__init__(
            "A task can be assigned only to its project's owner or one of its members",
            loc=["body", "assignee_id"],
        )


async def check(
    session: AsyncSession, project_id: uuid.UUID, assignee_id: uuid.UUID | None
) -> uuid.UUID | None:
    """`assignee_id` if it may be assigned tasks of the project (None: unassigned), else 422."""
    if assignee_id is None:
        return None
    with session.no_autoflush:
        people = await access.member_ids(session, project_id)
    if assignee_id not in people:
        raise NotAMember()
    return assignee_id


async def set_assignee(session: AsyncSession, task: Task, assignee_id: uuid.UUID | None) -> None:
    """Assign (or, with None, unassign) the task; call after it has been moved (the same
    assignee is checked again: the task may be in another project now)."""
    assert task.project_id is not None
    task.assignee_id = await check(session, task.project_id, assignee_id)


async def keep_valid(session: AsyncSession, task: Task) -> None:
    """A task moved to another project keeps its assignee only if they are one of its people."""
    if task.assignee_id is None or task.project_id is None:
        return
    with session.no_autoflush:
        people = await access.member_ids(session, task.project_id)
    if task.assignee_id not in people:
        task.assignee_id = None


async def announce(
    session: AsyncSession, user: User, task: Task, previous: uuid.UUID | None
) -> None:
    """Tell the new assignee, once the task is written (after its flush)."""
    if task.assignee_id is None or task.assignee_id == previous:
        return
    await notify.send(
        session,
        task,
        [
            notify.Notice(
                task.assignee_id,
                notify.ASSIGNED,
                f"{notify.display_name(user)} assigned this task to you",
            )
        ],
        actor_id=user.id,
    )
