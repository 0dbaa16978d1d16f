"""Sharing in the web app: a project's Share page (members, roles, invitations, leave, hand
over), the invitations waiting for you, and an invitation link's own page. The rules are
projects.members' and projects.invitations'; a refusal re-renders the page with its reason."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Form, Path, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError

from doable.auth.models import User
from doable.auth.schemas import Email
from doable.db import SessionDep
from doable.errors import DoableError
from doable.projects import access, invitations, members
from doable.projects import service as projects_service
from doable.projects.access import Role
from doable.projects.models import Project
from doable.state import AppState, StateDep
from doable.web.dependencies import CsrfToken, MaybeWebUser, WebUser, area_router
from doable.web.routes.forms import see_other
from doable.web.views import base_context, respond

router = area_router()

ProjectId = Annotated[uuid.UUID, Path()]
MemberId = Annotated[uuid.UUID, Path()]
InvitationId = Annotated[uuid.UUID, Path()]
Token = Annotated[str, Path(max_length=200)]
_EMAIL: TypeAdapter[str] = TypeAdapter(Email)


def share_url(project_id: uuid.UUID) -> str:
    return f"/projects/{project_id}/share"


async def _share_page(
    request: Request,
    state: AppState,
    session: Any,
    user: User,
    project: Project,
    *,
    error: str = "",
    status: int = 200,
    new_link: str = "",
    values: dict[str, str] | None = None,
) -> Response:
    role = await access.role_in(session, user, project_id=project.id, owner_id=project.owner_id)
    if role is None:  # pragma: no cover - the caller loaded the project in the user's scope
        raise projects_service.ProjectNotFound()
    admin = role.allows(Role.ADMIN)
    pending = await invitations.for_project(session, project, state.clock()) if admin else []
    key = state.runtime.secret_key
    ctx = base_context(request, state, user) | {
        "project": project,
        "role": role,
        "admin": admin,
        "seats": await members.roster(session, project),
        "member_roles": [r.value for r in access.MEMBER_ROLES],
        "pending": [
            (inv, str(request.url_for("invitation_page", token=invitations.token_for(key, inv))))
            for inv in pending
        ],
        "new_link": new_link,
        "mailed": bool(state.runtime.settings.smtp_host),
        "error": error,
        "values": values or {},
    }
    return respond(request, state, "share.html", ctx, status=status)


async def _project(
    session: Any, user: User, project_id: uuid.UUID, need: Role = Role.VIEWER
) -> Project:
    return await projects_service.get_project(
        session, user, project_id, for_update=need is not Role.VIEWER, need=need
    )


@router.get("/projects/{project_id}/share")
async def share_page(
    request: Request,
    project_id: ProjectId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    project = await _project(session, user, project_id)
    return await _share_page(request, state, session, user, project)


@router.post("/projects/{project_id}/share/invite")
async def invite(
    request: Request,
    project_id: ProjectId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    email: Annotated[str, Form(max_length=1000)] = "",
    role: Annotated[str, Form(max_length=20)] = "editor",
) -> Response:
    project = await _project(session, user, project_id, Role.ADMIN)
    values = {"email": email, "role": role}
    try:
        address = _EMAIL.validate_python(email)
        invitation = await invitations.create(
            session,
            project,
            user,
            address,
            members.member_role(role),
            now=state.clock(),
            ttl=timedelta(hours=state.runtime.settings.invitation_ttl_hours),
        )
    except ValidationError:
        error = "Enter a valid email address (254 characters at most)"
        return await _share_page(
            request, state, session, user, project, error=error, status=422, values=values
        )
    except DoableError as exc:
        return await _share_page(
            request,
            state,
            session,
            user,
            project,
            error=exc.detail,
            status=exc.status,
            values=values,
        )
    token = invitations.token_for(state.runtime.secret_key, invitation)
    link = str(request.url_for("invitation_page", token=token))
    path = request.app.url_path_for("invitation_page", token=token)
    invitations.mail_link(
        session, state.runtime.settings, invitation, project=project, inviter=user, path=path
    )
    return await _share_page(request, state, session, user, project, new_link=link)


async def _act(
    request: Request,
    state: AppState,
    session: Any,
    user: User,
    project: Project,
    action: Any,
) -> Response:
    """Run a change; on refusal, the Share page with the reason and its status."""
    try:
        await action
    except DoableError as exc:
        return await _share_page(
            request, state, session, user, project, error=exc.detail, status=exc.status
        )
    return see_other(share_url(project.id))


@router.post("/projects/{project_id}/share/members/{member_id}/role")
async def change_role(
    request: Request,
    project_id: ProjectId,
    member_id: MemberId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    role: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    project = await _project(session, user, project_id, Role.ADMIN)

    async def change() -> None:
        await members.change_role(session, project, member_id, members.member_role(role))

    return await _act(request, state, session, user, project, change())


@router.post("/projects/{project_id}/share/members/{member_id}/remove")
async def remove_member(
    request: Request,
    project_id: ProjectId,
    member_id: MemberId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    project = await _project(session, user, project_id, Role.ADMIN)
    return await _act(
        request, state, session, user, project, members.remove(session, project, member_id)
    )


@router.post("/projects/{project_id}/share/owner")
async def hand_over(
    request: Request,
    project_id: ProjectId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    user_id: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    project = await _project(session, user, project_id, Role.OWNER)

    async def give() -> None:
        try:
            heir = uuid.UUID(user_id)
        except ValueError:
            raise members.NotAMember() from None
        await members.hand_over(session, project, heir)

    return await _act(request, state, session, user, project, give())


@router.post("/projects/{project_id}/share/invitations/{invitation_id}/revoke")
async def revoke_invitation(
    request: Request,
    project_id: ProjectId,
    invitation_id: InvitationId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    project = await _project(session, user, project_id, Role.ADMIN)
    revoking = invitations.revoke(session, project, invitation_id, state.clock())
    return await _act(request, state, session, user, project, revoking)


@router.post("/projects/{project_id}/share/leave")
async def leave(
    request: Request,
    project_id: ProjectId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    project = await projects_service.get_project(session, user, project_id, for_update=True)
    answer = await _act(
        request, state, session, user, project, members.leave(session, project, user.id)
    )
    return answer if answer.status_code != 303 else see_other("/tasks")


# Invitations for the signed-in user, and a link's page.


@router.get("/invitations")
async def my_invitations(
    request: Request, user: WebUser, session: SessionDep, state: StateDep, csrf: CsrfToken
) -> Response:
    ctx = base_context(request, state, user) | {
        "waiting": await invitations.for_user(session, user, state.clock()),
        "error": "",
    }
    return respond(request, state, "invitations.html", ctx)


async def _answer(
    request: Request, state: AppState, session: Any, user: User, action: Any
) -> Response:
    try:
        project = await action
    except DoableError as exc:
        ctx = base_context(request, state, user) | {
            "waiting": await invitations.for_user(session, user, state.clock()),
            "error": exc.detail,
        }
        return respond(request, state, "invitations.html", ctx, status=exc.status)
    return see_other(f"/projects/{project.id}" if project is not None else "/invitations")


@router.post("/invitations/mine/{invitation_id}/accept")
async def accept_mine(
    request: Request,
    invitation_id: InvitationId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    accepting = invitations.accept(session, user, invitation_id, state.clock())
    return await _answer(request, state, session, user, accepting)


@router.post("/invitations/mine/{invitation_id}/decline")
async def decline_mine(
    request: Request,
    invitation_id: InvitationId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    declining = invitations.decline(session, user, invitation_id, state.clock())
    return await _answer(request, state, session, user, declining)


@router.get("/invitations/{token}")
async def invitation_page(
    request: Request,
    token: Token,
    user: MaybeWebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    """A link's page: the project's name, and accept (signed in with the invited address) or
    sign in / sign up. A forged link is 404, a used or expired one 410."""
    invitation, project_name = await invitations.preview(session, state.runtime.secret_key, token)
    invitations.check_open(invitation, state.clock())
    ctx = base_context(request, state, user) | {
        "token": token,
        "project_name": project_name,
        "role": invitation.role,
        "email": invitation.email,
        "matches": user is not None and invitations.normalize_email(user.email) == invitation.email,
        "error": "",
    }
    return respond(request, state, "invitation.html", ctx)


@router.post("/invitations/{token}/accept")
async def accept_link(
    request: Request,
    token: Token,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    accepting = invitations.accept_link(
        session, state.runtime.secret_key, token, user, state.clock()
    )
    return await _answer(request, state, session, user, accepting)
