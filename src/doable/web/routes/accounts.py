"""Invitation and password-reset pages, and the admin page (accounts, invitations, links)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Form, Path, Request
from fastapi.responses import Response
from pydantic import ValidationError

from doable.accounts import service as accounts_service
from doable.accounts.schemas import PasswordResetRequest, SignupInvitationCreate
from doable.auth.models import User
from doable.auth.schemas import PasswordChangeIn
from doable.db import SessionDep
from doable.errors import DoableError
from doable.state import AppState, StateDep
from doable.web.dependencies import CsrfToken, MaybeWebUser, WebUser, area_router
from doable.web.routes.forms import client_ip, field_errors, see_other
from doable.web.views import base_context, respond

router = area_router()
Token = Annotated[str, Path(max_length=2000)]
PAGE_SIZE = 100


def signup_context(
    request: Request, state: AppState, *, invitation: str = "", email: str = ""
) -> dict[str, Any]:
    """What signup.html needs to say whether, and how, one may sign up here."""
    return base_context(request, state, None) | {
        "signup_mode": state.runtime.settings.signup,
        "invitation": invitation,
        "invited_email": email,
        "errors": {},
        "values": {"email": email} if email else {},
    }


@router.get("/invite/{token}")
async def signup_invitation_page(
    request: Request,
    token: Token,
    session: SessionDep,
    state: StateDep,
    user: MaybeWebUser,
    csrf: CsrfToken,
) -> Response:
    """The sign-up form for an invited email (an invalid link is a 400 or 410 page)."""
    if user is not None:
        return see_other("/tasks")
    if state.runtime.settings.signup == "closed":
        return respond(request, state, "signup.html", signup_context(request, state))
    admission = await accounts_service.read_invitation(session, state, token)
    ctx = signup_context(request, state, invitation=token, email=admission.email)
    return respond(request, state, "signup.html", ctx)


# Password reset by link


def _reset_context(request: Request, state: AppState, token: str, user: User) -> dict[str, Any]:
    return base_context(request, state, None) | {"token": token, "email": user.email, "errors": {}}


@router.get("/reset-password/{token}")
async def reset_page(
    request: Request, token: Token, session: SessionDep, state: StateDep, csrf: CsrfToken
) -> Response:
    user = await accounts_service.user_for_reset(session, state, token)
    return respond(request, state, "reset.html", _reset_context(request, state, token, user))


@router.post("/reset-password/{token}")
async def reset_submit(
    request: Request,
    token: Token,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    new_password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    await state.rate_limiter.check_ip(client_ip(request))
    user = await accounts_service.user_for_reset(session, state, token)
    try:
        PasswordChangeIn(current_password="unused", new_password=new_password)  # noqa: S106
    except ValidationError as exc:
        ctx = _reset_context(request, state, token, user)
        ctx["errors"] = {"new_password": field_errors(exc).get("new_password", "Not accepted")}
        return respond(request, state, "reset.html", ctx, status=422)
    await accounts_service.reset_password(session, state, token, new_password)
    return see_other("/login?reset=1")


# Forgot password: a reset link by email, where SMTP is set


def _forgot_context(request: Request, state: AppState, **extra: Any) -> dict[str, Any]:
    return (
        base_context(request, state, None)
        | {
            "email_available": bool(state.runtime.settings.smtp_host),
            "sent": False,
            "errors": {},
            "values": {},
        }
        | extra
    )


@router.get("/forgot-password")
async def forgot_page(request: Request, state: StateDep, csrf: CsrfToken) -> Response:
    return respond(request, state, "forgot.html", _forgot_context(request, state))


@router.post("/forgot-password")
async def forgot_submit(
    request: Request,
    state: StateDep,
    csrf: CsrfToken,
    email: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """The same page whether an account has the email or not (accounts.service)."""
    await state.rate_limiter.check_ip(client_ip(request))
    try:
        data = PasswordResetRequest(email=email)
    except ValidationError as exc:
        ctx = _forgot_context(
            request, state, errors=field_errors(exc), values={"email": email[:254]}
        )
        return respond(request, state, "forgot.html", ctx, status=422)
    await accounts_service.request_password_reset(state, request.app.state.database, data.email)
    return respond(request, state, "forgot.html", _forgot_context(request, state, sent=True))


# The admin page


async def _admin_context(
    request: Request, state: AppState, session: Any, user: User, **extra: Any
) -> dict[str, Any]:
    after = request.query_params.get("after") or None
    if after is not None and len(after) > 254:
        after = None
    users = await accounts_service.list_users(session, after=after, limit=PAGE_SIZE)
    return (
        base_context(request, state, user)
        | {
            "users": users,
            "next_after": users[-1].email if len(users) == PAGE_SIZE else None,
            "signup_mode": state.runtime.settings.signup,
            "errors": {},
            "new_link": None,
            "notice": request.query_params.get("saved", ""),
        }
        | extra
    )


def _require_admin(user: User) -> None:
    if not user.is_admin:
        raise accounts_service.AdminRequired()


def _base_url(request: Request) -> str:
    return str(request.base_url)


@router.get("/admin")
async def admin_page(
    request: Request, user: WebUser, session: SessionDep, state: StateDep, csrf: CsrfToken
) -> Response:
    _require_admin(user)
    return respond(
        request, state, "admin.html", await _admin_context(request, state, session, user)
    )


@router.post("/admin/invitations")
async def admin_invite(
    request: Request,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    email: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    _require_admin(user)
    try:
        data = SignupInvitationCreate(email=email)
        invited, url, expires = await accounts_service.invite(
            session, state, data.email, _base_url(request)
        )
    except ValidationError as exc:
        errors = {"invite_email": field_errors(exc).get("email", "Not an email address")}
        ctx = await _admin_context(request, state, session, user, errors=errors)
        return respond(request, state, "admin.html", ctx, status=422)
    except DoableError as exc:
        ctx = await _admin_context(
            request, state, session, user, errors={"invite_email": exc.detail}
        )
        return respond(request, state, "admin.html", ctx, status=exc.status)
    link = {"what": f"Invitation for {invited}", "url": url, "expires_at": expires}
    ctx = await _admin_context(request, state, session, user, new_link=link)
    return respond(request, state, "admin.html", ctx, status=201)


@router.post("/admin/users/{user_id}/reset-link")
async def admin_reset_link(
    request: Request,
    user_id: Annotated[uuid.UUID, Path()],
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    _require_admin(user)
    target = await accounts_service.get_user(session, user_id)
    url, expires = accounts_service.make_reset_link(state, target, _base_url(request))
    link = {"what": f"Password-reset link for {target.email}", "url": url, "expires_at": expires}
    ctx = await _admin_context(request, state, session, user, new_link=link)
    return respond(request, state, "admin.html", ctx)


@router.post("/admin/users/{user_id}/disable")
async def admin_disable(
    request: Request,
    user_id: Annotated[uuid.UUID, Path()],
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    _require_admin(user)
    target = await accounts_service.get_user(session, user_id, for_update=True)
    try:
        await accounts_service.disable_user(session, state, target)
    except DoableError as exc:
        ctx = await _admin_context(request, state, session, user, errors={"users": exc.detail})
        return respond(request, state, "admin.html", ctx, status=exc.status)
    if target.id == user.id:  # signed themselves out with everything else
        return see_other("/login")
    return see_other("/admin?saved=disabled")


@router.post("/admin/users/{user_id}/enable")
async def admin_enable(
    request: Request,
    user_id: Annotated[uuid.UUID, Path()],
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    _require_admin(user)
    target = await accounts_service.get_user(session, user_id, for_update=True)
    await accounts_service.enable_user(session, target)
    return see_other("/admin?saved=enabled")
