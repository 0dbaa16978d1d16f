"""Project membership: who a project is shared with, in which role. Never commits.

The rules of what each role may do live in `access.py`; this module changes the rows. Every
change recounts `User.shared_projects` for the users it touches, in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from doable import events
from doable.activity import service as activity
from doable.auth.models import User
from doable.comments.models import ProjectMute
from doable.errors import Conflict, InvalidInput, NotFound
from doable.projects import access
from doable.projects import service as projects_service
from doable.projects.access import MEMBER_ROLES, Role
from doable.projects.models import Project, ProjectMember, Section
from doable.reminders.models import Reminder
from doable.tasks import service as tasks_service
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


class OwnerIsFixed(Conflict):
    def __init__(self, what: str) -> None:
        super().__init__(f"The owner cannot {what}; the owner hands the project to a member first")


class NotAMember(InvalidInput):
    def __init__(self) -> None:
        super().__init__(
            "A project can only be handed to one of its members", loc=["body", "user_id"]
        )


async def _log(
    session: AsyncSession,
    project: Project,
    kind: str,
    user_id: uuid.UUID,
    **detail: str,
) -> None:
    """Note a membership change for the project's activity log (written at commit, in the
    change's transaction, with the actor of the session). The member is named as members see
    each other: by display name, never by email."""
    name = await session.scalar(select(User.name).where(User.id == user_id))
    shown = (name or "").strip() or "A member"
    activity.record(
        session, project.id, None, kind, {"user_id": str(user_id), "name": shown, **detail}
    )


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
    await _log(session, project, "member_added", user_id, role=role.value)
    return member


async def list_members(session: AsyncSession, project: Project) -> Sequence[ProjectMember]:
    return (
        await session.scalars(
            select(ProjectMember)
            .where(ProjectMember.project_id == project.id)
            .order_by(ProjectMember.created_at, ProjectMember.user_id)
        )
    ).all()


@dataclass(frozen=True)
class Seat:
    """One person in a project's roster."""

    user_id: uuid.UUID
    name: str
    email: str
    role: Role
    since: datetime | None


async def roster(session: AsyncSession, project: Project) -> list[Seat]:
    """The owner, then the members, longest-standing first (two indexed reads)."""
    owner = (
        await session.execute(select(User.name, User.email).where(User.id == project.owner_id))
    ).one()
    rows = await session.execute(
        select(User.id, User.name, User.email, ProjectMember.role, ProjectMember.created_at)
        .join(User, User.id == ProjectMember.user_id)
        .where(ProjectMember.project_id == project.id)
        .order_by(ProjectMember.created_at, ProjectMember.user_id)
    )
    return [Seat(project.owner_id, owner.name, owner.email, Role.OWNER, None)] + [
        Seat(user_id, name, email, Role(role), since) for user_id, name, email, role, since in rows
    ]


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
    # Their own reminders on the project's tasks go (reminders are personal), and so do
    # their assignments in it.
    await session.execute(
        delete(Reminder).where(
            Reminder.owner_id == user_id,
            Reminder.task_id.in_(
                select(Task.id).where(
                    Task.owner_id == project.owner_id, Task.project_id == project.id
                )
            ),
        )
    )
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
    # So does their mute of it: were they added back, they would hear from it again.
    await session.execute(
        delete(ProjectMute).where(
            ProjectMute.project_id == project.id, ProjectMute.user_id == user_id
        )
    )
    await access.recount(session, [user_id])
    # Their open event streams stop carrying the project at once (here and elsewhere).
    events.membership_changed(session, user_id, project.id, "removed")


async def change_role(
    session: AsyncSession, project: Project, user_id: uuid.UUID, role: Role
) -> ProjectMember:
    """An admin's or the owner's change of a member's role; the owner's own is not a row
    (409), and no one is made owner this way (422: `member_role`)."""
    if user_id == project.owner_id:
        raise OwnerIsFixed("be given another role")
    before = await session.scalar(
        select(ProjectMember.role).where(
            ProjectMember.project_id == project.id, ProjectMember.user_id == user_id
        )
    )
    member = await set_role(session, project, user_id, role)
    if before is not None and before != role.value:
        await _log(session, project, "role_changed", user_id, role=role.value, from_role=before)
    return member


async def remove(session: AsyncSession, project: Project, user_id: uuid.UUID) -> None:
    """An admin or the owner takes a member out; the owner cannot be (409)."""
    if user_id == project.owner_id:
        raise OwnerIsFixed("be removed")
    await remove_member(session, project, user_id)
    await _log(session, project, "member_removed", user_id)


async def leave(session: AsyncSession, project: Project, user_id: uuid.UUID) -> None:
    """A member leaves. The owner, the project's last and only owner, cannot (409)."""
    if user_id == project.owner_id:
        raise OwnerIsFixed("leave the project")
    await remove_member(session, project, user_id)
    await _log(session, project, "member_left", user_id)


async def hand_over(session: AsyncSession, project: Project, new_owner: uuid.UUID) -> Project:
    """Make a member the project's owner (`project` locked by the caller). Every task and
    section of the project takes the new owner's id, as the tenant of their quota and tags
    (tasks.service.hand_over_project: 409 past their quota, before anything changes); the
    old owner stays on as an admin; the project goes last in the new owner's list."""
    old_owner = project.owner_id
    member = await session.get(ProjectMember, (project.id, new_owner), with_for_update=True)
    if member is None or new_owner == old_owner:
        raise NotAMember()
    await tasks_service.hand_over_project(session, project.id, old_owner, new_owner)
    await session.execute(
        update(Section)
        .where(Section.project_id == project.id)
        .values(owner_id=new_owner)
        .execution_options(synchronize_session=False)
    )
    await session.delete(member)
    session.add(ProjectMember(project_id=project.id, user_id=old_owner, role=Role.ADMIN.value))
    project.owner_id = new_owner
    await session.flush()
    await projects_service.move_project(session, project, projects_service.Placement(at="last"))
    await access.recount(session, [old_owner, new_owner])
    await _log(session, project, "owner_changed", new_owner, from_user_id=str(old_owner))
    return project


# Most trusted first: the highest role, then the longest-standing member.
_HEIRS = case(
    (ProjectMember.role == Role.ADMIN.value, 0),
    (ProjectMember.role == Role.EDITOR.value, 1),
    else_=2,
)


async def hand_over_before_deletion(session: AsyncSession, owner_id: uuid.UUID) -> None:
    """Before an account is deleted: each project it owns that has other members goes to its
    longest-standing admin (else editor, else viewer). A member whose task quota cannot take
    the project's tasks is passed over; a project no member can take is deleted with the
    account, and its members are recounted. Projects without members go with the account."""
    shared = (
        await session.scalars(
            select(Project)
            .where(
                Project.owner_id == owner_id,
                Project.id.in_(select(ProjectMember.project_id)),
            )
            .order_by(Project.position, Project.id)
            .with_for_update()
        )
    ).all()
    for project in shared:
        heirs = (
            await session.scalars(
                select(ProjectMember.user_id)
                .where(ProjectMember.project_id == project.id)
                .order_by(_HEIRS, ProjectMember.created_at, ProjectMember.user_id)
            )
        ).all()
        for heir in heirs:
            try:
                await hand_over(session, project, heir)
            except tasks_service.TaskQuotaExceeded:
                continue
            break
        else:
            await projects_service.delete_project(session, project)
    # The old owner's own admin rows in the projects just handed over go with the account.
    await session.execute(delete(ProjectMember).where(ProjectMember.user_id == owner_id))
