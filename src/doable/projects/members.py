"""Project membership: who a project is shared with, in which role. Never commits.

The rules of what each role may do live in `access.py`; this module changes the rows. Every
change recounts `User.shared_projects` for the users it touches, in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from doable import events
from doable.errors import Conflict, InvalidInput, NotFound
from doable.projects import access
from doable.projects.access import MEMBER_ROLES, Role
from doable.projects.models import Project, ProjectMember
from doable.tasks.models import Task


class MemberNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such member of this project")


class InboxIsPersonal(Conflict):
    def __init__(self) -> None:
        super().__init__("The Inbox cannot be shared")


class AlreadyMember(Conflict):
    def __init__(self) -> None:
        super().__init__("That user is already a member of this project")


def member_role(value: str) -> Role:
    """A role a membership can hold (not the owner), else 422."""
    try:
        role = Role(value)
    except ValueError:
        role = None
    if role is None or role not in MEMBER_ROLES:
        raise InvalidInput(
            f"Role must be one of: {', '.join(r.value for r in MEMBER_ROLES)}",
            loc=["body", "role"],
        )
    return role


async def add_member(
    session: AsyncSession, project: Project, user_id: uuid.UUID, role: Role
) -> ProjectMember:
    """Share `project` with a user (409 for the Inbox, the owner, or an existing member)."""
    if project.is_inbox:
        raise InboxIsPersonal()
    if user_id == project.owner_id:
        raise AlreadyMember()
    if role not in MEMBER_ROLES:
        raise InvalidInput("The owner's role cannot be given", loc=["body", "role"])
    existing = await session.get(ProjectMember, (project.id, user_id))
    if existing is not None:
        raise AlreadyMember()
    member = ProjectMember(project_id=project.id, user_id=user_id, role=role.value)
    session.add(member)
    await session.flush()
    await access.recount(session, [user_id])
    # Their open event streams start carrying the project's task events.
    events.membership_changed(session, user_id, project.id, "added")
    return member


async def list_members(session: AsyncSession, project: Project) -> Sequence[ProjectMember]:
    return (
        await session.scalars(
            select(ProjectMember)
            .where(ProjectMember.project_id == project.id)
            .order_by(ProjectMember.created_at, ProjectMember.user_id)
        )
    ).all()


async def set_role(
    session: AsyncSession, project: Project, user_id: uuid.UUID, role: Role
) -> ProjectMember:
    member = await session.get(ProjectMember, (project.id, user_id), with_for_update=True)
    if member is None:
        raise MemberNotFound()
    if role not in MEMBER_ROLES:
        raise InvalidInput("The owner's role cannot be given", loc=["body", "role"])
    member.role = role.value
    await session.flush()
    return member


async def remove_member(session: AsyncSession, project: Project, user_id: uuid.UUID) -> None:
    """Take a member out (their next request no longer sees the project)."""
    result = await session.execute(
        delete(ProjectMember).where(
            ProjectMember.project_id == project.id, ProjectMember.user_id == user_id
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise MemberNotFound()
    # Their assignments in the project go with them.
    await session.execute(
        update(Task)
        .where(
            Task.owner_id == project.owner_id,
            Task.project_id == project.id,
            Task.assignee_id == user_id,
        )
        .values(assignee_id=None)
        .execution_options(synchronize_session=False)
    )
    await access.recount(session, [user_id])
    # Their open event streams stop carrying the project at once (here and elsewhere).
    events.membership_changed(session, user_id, project.id, "removed")
