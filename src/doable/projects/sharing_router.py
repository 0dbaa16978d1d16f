"""/api/v1/projects/{id}/members, /projects/{id}/invitations and /invitations: sharing a
project, as thin routes over projects.members and projects.invitations."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response, status

from doable.auth.dependencies import CurrentUser, require_scope_by_method
from doable.db import SessionDep
from doable.idempotency.route import IdempotentRoute
from doable.projects import access, invitations, members
from doable.projects import service as projects_service
from doable.projects.access import Role
from doable.projects.dependencies import AdminProject, OwnedProject, OwnerProject, ProjectId
from doable.projects.models import Project, ProjectInvitation
from doable.projects.schemas import (
    AcceptLinkIn,
    HandOverIn,
    InvitationCreate,
    InvitationOut,
    MemberOut,
    MyInvitationOut,
    ProjectOut,
    RoleIn,
)
from doable.routing import API_PREFIX
from doable.state import AppState, StateDep

# Sharing is part of a project: the same scopes as /projects (tasks:read for GET,
# tasks:write for the rest).
_SCOPES = [Depends(require_scope_by_method("tasks:read", "tasks:write"))]
members_router = APIRouter(
    prefix=f"{API_PREFIX}/projects",
    tags=["sharing"],
    dependencies=_SCOPES,
    route_class=IdempotentRoute,
)
invitations_router = APIRouter(
    prefix=f"{API_PREFIX}/invitations",
    tags=["sharing"],
    dependencies=_SCOPES,
    route_class=IdempotentRoute,
)

COMMON: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated"},
    403: {"description": "Your role in the project is too low, or a token lacks the scope"},
    404: {"description": "Not found (also a project you are not a member of)"},
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "The owner cannot be changed, removed or leave; the Inbox is personal"}
}
LINK: dict[int | str, dict[str, Any]] = {
    403: {"description": "The invitation was made for another email address"},
    404: {"description": "A malformed, forged or unknown invitation"},
    409: {"description": "You are already a member of the project"},
    410: {"description": "The invitation was already used, declined or revoked, or expired"},
}
MemberId = Annotated[uuid.UUID, Path(description="A member's user id")]
InvitationId = Annotated[uuid.UUID, Path(description="Invitation id")]
ReceivedId = Annotated[uuid.UUID, Path(description="The id of an invitation made for your email")]


def _member_out(seat: members.Seat, *, emails: bool) -> MemberOut:
    return MemberOut(
        user_id=seat.user_id,
        name=seat.name,
        email=seat.email if emails else None,
        role=seat.role.value,
        since=seat.since,
    )


def _invitation_out(state: AppState, request: Request, inv: ProjectInvitation) -> InvitationOut:
    token = invitations.token_for(state.runtime.secret_key, inv)
    return InvitationOut(
        id=inv.id,
        project_id=inv.project_id,
        email=inv.email,
        role=inv.role,
        expires_at=inv.expires_at,
        token=token,
        url=str(request.url_for("invitation_page", token=token)),
    )


async def _seat(session: SessionDep, project: Project, user_id: uuid.UUID) -> MemberOut:
    seat = next(s for s in await members.roster(session, project) if s.user_id == user_id)
    return _member_out(seat, emails=True)


@members_router.get("/{project_id:uuid}/members", response_model=list[MemberOut], responses=COMMON)
async def list_members(
    project: OwnedProject, user: CurrentUser, session: SessionDep
) -> list[MemberOut]:
    """The owner, then the members. Every member sees display names; only admins and the
    owner see emails."""
    role = await access.role_in(session, user, project_id=project.id, owner_id=project.owner_id)
    emails = role is not None and role.allows(Role.ADMIN)
    return [_member_out(s, emails=emails) for s in await members.roster(session, project)]


@members_router.patch(
    "/{project_id:uuid}/members/{member_id:uuid}",
    response_model=MemberOut,
    responses={**COMMON, **CONFLICT},
)
async def change_role(
    data: RoleIn, member_id: MemberId, project: AdminProject, session: SessionDep
) -> MemberOut:
    """Give a member another role (admins and the owner; never the owner's own)."""
    await members.change_role(session, project, member_id, members.member_role(data.role))
    return await _seat(session, project, member_id)


@members_router.delete(
    "/{project_id:uuid}/members/me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**COMMON, **CONFLICT},
)
async def leave_project(project_id: ProjectId, user: CurrentUser, session: SessionDep) -> Response:
    """Leave a project shared with you (any member). The owner hands it over first (409)."""
    project = await projects_service.get_project(session, user, project_id, for_update=True)
    await members.leave(session, project, user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@members_router.delete(
    "/{project_id:uuid}/members/{member_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**COMMON, **CONFLICT},
)
async def remove_member(
    member_id: MemberId, project: AdminProject, session: SessionDep
) -> Response:
    """Take a member out (admins and the owner; not the owner). Their next request no
    longer sees the project."""
    await members.remove(session, project, member_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@members_router.post(
    "/{project_id:uuid}/owner",
    response_model=ProjectOut,
    responses={
        **COMMON,
        409: {"description": "Past the new owner's task quota"},
        422: {"description": "Not a member"},
    },
)
async def hand_over(data: HandOverIn, project: OwnerProject, session: SessionDep) -> ProjectOut:
    """Hand the project to a member (the owner only). Its tasks and sections become theirs
    (their task quota must hold them: 409 otherwise); you stay on as an admin."""
    await members.hand_over(session, project, data.user_id)
    return ProjectOut.of(project, await projects_service.open_count(session, project))


@members_router.post(
    "/{project_id:uuid}/invitations",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitationOut,
    responses={**COMMON, 409: {"description": "Yourself, a member already, or the Inbox"}},
)
async def invite(
    data: InvitationCreate,
    project: AdminProject,
    user: CurrentUser,
    session: SessionDep,
    state: StateDep,
    request: Request,
) -> InvitationOut:
    """Invite an email (admins and the owner). The answer is the same whether the email has
    an account or not. Where SMTP is set, the link is also mailed to the address (after the
    invitation is stored, never delaying this answer); either way it is yours to pass on."""
    settings = state.runtime.settings
    invitation = await invitations.create(
        session,
        project,
        user,
        data.email,
        members.member_role(data.role),
        now=state.clock(),
        ttl=timedelta(hours=settings.invitation_ttl_hours),
    )
    out = _invitation_out(state, request, invitation)
    path = request.app.url_path_for("invitation_page", token=out.token)
    invitations.mail_link(session, settings, invitation, project=project, inviter=user, path=path)
    return out


@members_router.get(
    "/{project_id:uuid}/invitations", response_model=list[InvitationOut], responses=COMMON
)
async def list_invitations(
    project: OwnedProject, user: CurrentUser, session: SessionDep, state: StateDep, request: Request
) -> list[InvitationOut]:
    """The project's pending invitations with their links (admins and the owner)."""
    await access.require(
        session, user, Role.ADMIN, project_id=project.id, owner_id=project.owner_id
    )
    pending = await invitations.for_project(session, project, state.clock())
    return [_invitation_out(state, request, inv) for inv in pending]


@members_router.delete(
    "/{project_id:uuid}/invitations/{invitation_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**COMMON, 410: {"description": "Already answered or revoked"}},
)
async def revoke_invitation(
    invitation_id: InvitationId, project: AdminProject, session: SessionDep, state: StateDep
) -> Response:
    await invitations.revoke(session, project, invitation_id, state.clock())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@invitations_router.get("", response_model=list[MyInvitationOut], responses=COMMON)
async def my_invitations(
    user: CurrentUser, session: SessionDep, state: StateDep
) -> list[MyInvitationOut]:
    """Invitations waiting for your email address."""
    return [
        MyInvitationOut(
            id=inv.id,
            project_id=inv.project_id,
            project_name=name,
            invited_by=by,
            role=inv.role,
            expires_at=inv.expires_at,
        )
        for inv, name, by in await invitations.for_user(session, user, state.clock())
    ]


async def _joined(session: SessionDep, project: Project) -> ProjectOut:
    return ProjectOut.of(project, await projects_service.open_count(session, project))


@invitations_router.post("/accept", response_model=ProjectOut, responses={**COMMON, **LINK})
async def accept_link(
    data: AcceptLinkIn, user: CurrentUser, session: SessionDep, state: StateDep
) -> ProjectOut:
    """Accept an invitation link, signed in with the address it was made for."""
    project = await invitations.accept_link(
        session, state.runtime.secret_key, data.token, user, state.clock()
    )
    return await _joined(session, project)


@invitations_router.post(
    "/{received_id:uuid}/accept", response_model=ProjectOut, responses={**COMMON, **LINK}
)
async def accept_invitation(
    received_id: ReceivedId, user: CurrentUser, session: SessionDep, state: StateDep
) -> ProjectOut:
    """Accept an invitation made for your email, from `GET /invitations`."""
    project = await invitations.accept(session, user, received_id, state.clock())
    return await _joined(session, project)


@invitations_router.post(
    "/{received_id:uuid}/decline",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**COMMON, **LINK},
)
async def decline_invitation(
    received_id: ReceivedId, user: CurrentUser, session: SessionDep, state: StateDep
) -> Response:
    """Decline an invitation made for your email: its link stops working."""
    await invitations.decline(session, user, received_id, state.clock())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
