"""Who may see and change what: the one place membership becomes SQL.

A project belongs to its owner (`Project.owner_id`), who may share it with other users
(`ProjectMember` rows) as a viewer, an editor or an admin:

- **viewer** reads the project and its tasks, and comments;
- **editor** also creates, edits, completes, moves and deletes tasks, and manages sections;
- **admin** also manages members (not the owner), the project's settings and archiving;
- **owner** also deletes the project and hands it to another member.

Every task of a project carries the project owner's id (`Task.owner_id`, the tenant: quota,
tags and the owner-first indexes follow it), and sections do too. So "what may this user see"
is: rows they own, plus rows of the projects shared with them. `task_scope`, `section_scope`
and `project_scope` return exactly that as a condition inside the query; nothing is loaded
first and checked afterwards. For a user no project is shared with (`User.shared_projects`
is 0, which the request has already loaded with the user), the condition is the owner's id
alone, so their queries keep the plans and speed they had before sharing existed.

Reading is scoped by the query: another user's row is simply not found (404). Writing needs a
role: a viewer may know a task exists, so a viewer's write is refused with 403 (`require`),
after one indexed lookup of the member's role (none for the owner).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    Uuid,
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from doable.auth.models import User
from doable.errors import DoableError, Forbidden
from doable.projects.models import Project, ProjectMember, Section, TaskView
from doable.tasks.models import VISIBLE, Task


class Viewer(Protocol):
    """Whoever a query is scoped to: a `User`, or `Someone` when only the id is at hand."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def shared_projects(self) -> int: ...


@dataclass(frozen=True)
class Someone:
    """A user known by id only (a calendar feed's, a stream's). Without their counter at
    hand, the scope includes shared projects, which is right for everyone."""

    id: uuid.UUID
    shared_projects: int = 1


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 1, Role.EDITOR: 2, Role.ADMIN: 3, Role.OWNER: 4}
# The roles a membership row can hold (the owner is the project's owner_id).
MEMBER_ROLES = (Role.VIEWER, Role.EDITOR, Role.ADMIN)

_NEEDED_FOR = {
    Role.EDITOR: "change its tasks and sections",
    Role.ADMIN: "manage its members and settings",
    Role.OWNER: "delete it or hand it over",
}


class RoleTooLow(Forbidden):
    slug = "role-too-low"

    def __init__(self, role: Role, needed: Role) -> None:
        DoableError.__init__(
            self,
            f"You are a {role.value} of this project; only "
            f"{'the owner' if needed is Role.OWNER else f'an {needed.value} or above'} can "
            f"{_NEEDED_FOR.get(needed, 'do that')}",
        )


def _at_least(needed: Role) -> list[str]:
    return [role.value for role in MEMBER_ROLES if role.allows(needed)]


def shared_with(user_id: uuid.UUID, needed: Role = Role.VIEWER) -> Select[uuid.UUID]:
    """Ids of the projects shared with the user in a role of at least `needed` (one index
    range on ix_project_members_user)."""
    stmt = select(ProjectMember.project_id).where(ProjectMember.user_id == user_id)
    if needed is not Role.VIEWER:
        stmt = stmt.where(ProjectMember.role.in_(_at_least(needed)))
    return stmt


def _shares(user: Viewer, needed: Role) -> bool:
    """Whether rows shared with the user can matter at all for `needed`."""
    return bool(user.shared_projects) and needed is not Role.OWNER


def project_scope(user: Viewer, needed: Role = Role.VIEWER) -> ColumnElement[bool]:
    """Projects the user may see (owns, or is a member of in at least `needed`)."""
    own = Project.owner_id == user.id
    if not _shares(user, needed):
        return own
    return or_(own, Project.id.in_(shared_with(user.id, needed)))


def task_scope(user: Viewer, needed: Role = Role.VIEWER) -> ColumnElement[bool]:
    """Tasks the user may see: their own projects' and those of projects shared with them."""
    own = Task.owner_id == user.id
    if not _shares(user, needed):
        return own
    return or_(own, Task.project_id.in_(shared_with(user.id, needed)))


def owned_or_assigned(user: Viewer) -> ColumnElement[bool]:
    """The compat list's tasks: those of the user's own projects, plus those assigned to them
    in projects shared with them (a narrower view than `task_scope`, for the original spec's
    one-user API)."""
    own = Task.owner_id == user.id
    if not user.shared_projects:
        return own
    return or_(
        own,
        and_(Task.assignee_id == user.id, Task.project_id.in_(shared_with(user.id))),
    )


# The sorts `task_views` has an index for (by the names of `TaskQuery.sort`).
VIEW_KEYS = {
    "created": TaskView.created_at,
    "updated": TaskView.updated_at,
    "due": TaskView.due_sort,
    "priority": TaskView.priority,
}


@dataclass(frozen=True)
class ViewColumns:
    """The `task_views` columns a walk orders and bounds by."""

    key: Any
    task_id: Any
    due_sort: Any


VIEWER: BindParameter[uuid.UUID] = bindparam("viewer", type_=Uuid)
# Whoever `VIEWER` is bound to: scopes a statement built once, to run for any user with
# {"viewer": user.id}. One for users nothing is shared with (tasks/listing.py's plain pages),
# one for members of shared projects. For the scope builders only: their `id` is the bind
# parameter, so compared in Python (an owner check) it would equal no one.
UNSHARED_VIEWER: Viewer = Someone(id=cast(uuid.UUID, VIEWER), shared_projects=0)
SHARING_VIEWER: Viewer = Someone(id=cast(uuid.UUID, VIEWER), shared_projects=1)


def viewer_parameter(shares: bool) -> Viewer:
    """The viewer of a statement built once, for users with shares or without (their scopes
    differ in shape): UNSHARED_VIEWER or SHARING_VIEWER."""
    return SHARING_VIEWER if shares else UNSHARED_VIEWER


def _shared_walk(key: Any) -> Select[Any]:
    return (
        select(TaskView.task_id.label("id"), key.label("k"))
        .join(Task, Task.id == TaskView.task_id)
        .where(
            TaskView.user_id == VIEWER,
            Task.owner_id != VIEWER,
            # Still a member, read per row by primary key (as an IN list it would tempt the
            # planner to walk every shared project's tasks instead of this index).
            select(ProjectMember.user_id)
            .where(ProjectMember.project_id == Task.project_id, ProjectMember.user_id == VIEWER)
            .exists(),
            VISIBLE,
        )
    )


# Built once per sort: building a statement costs more than running it.
_SHARED_WALKS = {sort: _shared_walk(key) for sort, key in VIEW_KEYS.items()}


def shared_tasks(sort: str) -> tuple[Select[Any], ViewColumns]:
    """The tasks of projects shared with the user (the `viewer` parameter) as (id, sort key)
    rows by `task_views`' index for `sort`, with the columns to order and bound that walk by.

    `task_views` is only the index: the membership condition still applies to `tasks` (a
    row the triggers of migration 0022 got wrong would show nothing), as must every condition
    the caller adds."""
    return _SHARED_WALKS[sort], ViewColumns(VIEW_KEYS[sort], TaskView.task_id, TaskView.due_sort)


def section_scope(user: Viewer, needed: Role = Role.VIEWER) -> ColumnElement[bool]:
    own = Section.owner_id == user.id
    if not _shares(user, needed):
        return own
    return or_(own, Section.project_id.in_(shared_with(user.id, needed)))


async def role_in(
    session: AsyncSession, user: Viewer, *, project_id: uuid.UUID, owner_id: uuid.UUID
) -> Role | None:
    """The user's role in a project (None: no access). No query for the owner."""
    if owner_id == user.id:
        return Role.OWNER
    if not user.shared_projects:
        return None
    found = await session.scalar(
        select(ProjectMember.role).where(
            ProjectMember.project_id == project_id, ProjectMember.user_id == user.id
        )
    )
    return None if found is None else Role(found)


async def shared_roles(session: AsyncSession, user: Viewer) -> dict[uuid.UUID, Role]:
    """The user's role in each project shared with them (one index range; no query for a
    user no project is shared with). Their own projects are not in it: they own those."""
    if not user.shared_projects:
        return {}
    rows = await session.execute(
        select(ProjectMember.project_id, ProjectMember.role).where(ProjectMember.user_id == user.id)
    )
    return {project_id: Role(role) for project_id, role in rows.all()}


async def require(
    session: AsyncSession,
    user: Viewer,
    needed: Role,
    *,
    project_id: uuid.UUID,
    owner_id: uuid.UUID,
) -> Role:
    """The user's role in the project, if it allows `needed`; else 403 (`RoleTooLow`).

    Call it only for a row the user's scoped query has found: a member who lost access in the
    meantime (no role any more) gets 403 too, never a write."""
    role = await role_in(session, user, project_id=project_id, owner_id=owner_id)
    if role is None:
        raise (
            RoleTooLow(Role.VIEWER, needed)
            if needed is not Role.VIEWER
            else Forbidden("You are no longer a member of this project")
        )
    if not role.allows(needed):
        raise RoleTooLow(role, needed)
    return role


async def recount(session: AsyncSession, user_ids: Iterable[uuid.UUID]) -> None:
    """Set `User.shared_projects` from `project_members` for these users. Call it in the same
    transaction as every change to membership (add, remove, leave, a project's deletion)."""
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return
    count = (
        select(func.count())
        .select_from(ProjectMember)
        .where(ProjectMember.user_id == User.id)
        .scalar_subquery()
    )
    await session.execute(
        update(User)
        .where(User.id.in_(ids))
        .values(shared_projects=count)
        .execution_options(synchronize_session=False)
    )
    for user in session.identity_map.values():
        if isinstance(user, User) and user.id in ids:
            await session.refresh(user, ["shared_projects"])


async def member_ids(session: AsyncSession, project_id: uuid.UUID) -> list[uuid.UUID]:
    """Everyone who may see the project: its owner first, then its members."""
    owner = await session.scalar(select(Project.owner_id).where(Project.id == project_id))
    if owner is None:
        return []
    members = (
        await session.scalars(
            select(ProjectMember.user_id).where(ProjectMember.project_id == project_id)
        )
    ).all()
    return [owner, *members]
