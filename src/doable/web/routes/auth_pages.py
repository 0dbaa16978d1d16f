"""Entry and authentication pages: home, log in, sign up and log out."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from doable.accounts import service as accounts_service
from doable.auth import service as auth_service
from doable.auth.schemas import SignupIn
from doable.db import SessionDep
from doable.errors import DoableError, RateLimited
from doable.projects import invitations
from doable.state import StateDep
from doable.web.dependencies import CsrfToken, MaybeWebUser, WebUser, area_router, safe_next
from doable.web.routes.accounts import signup_context
from doable.web.routes.forms import client_ip, field_errors, see_other, start_session, zone_set
from doable.web.security import SESSION_COOKIE
from doable.web.views import base_context, delete_cookie, respond

router = area_router()


@router.get("/")
async def home(user: MaybeWebUser) -> Response:
    return see_other("/tasks" if user else "/login")


@router.get("/login")
async def login_page(
    request: Request,
    state: StateDep,
    user: MaybeWebUser,
    csrf: CsrfToken,
    next: str | None = None,
) -> Response:
    if user is not None:
        return see_other(safe_next(next))
    ctx = base_context(request, state, None) | {
        "next": safe_next(next),
        "errors": {},
        "values": {},
        "signup_mode": state.runtime.settings.signup,
        "email_available": bool(state.runtime.settings.smtp_host),
    }
    return respond(request, state, "login.html", ctx)


@router.post("/login")
async def login_submit(
    request: Request,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    email: Annotated[str, Form(max_length=1000)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/tasks",
) -> Response:
    ctx = base_context(request, state, None) | {
        "next": safe_next(next),
        "values": {"email": email},
        "signup_mode": state.runtime.settings.signup,
        "email_available": bool(state.runtime.settings.smtp_host),
    }
    try:
        await state.rate_limiter.check_ip(client_ip(request))
        user = await auth_service.authenticate(session, state, email, password)
    except RateLimited as exc:
        ctx["errors"] = {"form": exc.detail}
        return respond(request, state, "login.html", ctx, status=429, headers=exc.headers)
    except DoableError:
        ctx["errors"] = {"form": "Email or password is incorrect"}
        return respond(request, state, "login.html", ctx, status=401)
    return await start_session(request, state, session, user, safe_next(next))


@router.get("/signup")
async def signup_page(
    request: Request,
    state: StateDep,
    user: MaybeWebUser,
    csrf: CsrfToken,
    session: SessionDep,
    project_invitation: Annotated[str, Query(alias="invitation", max_length=200)] = "",
) -> Response:
    if user is not None:
        return see_other(
            f"/invitations/{quote(project_invitation, safe='')}" if project_invitation else "/tasks"
        )
    ctx = signup_context(request, state)
    if project_invitation:  # signing up through a project's invitation link: its address
        try:
            found, _ = await invitations.preview(
                session, state.runtime.secret_key, project_invitation
            )
            ctx["values"] = {"email": found.email}
            ctx["project_invitation"] = project_invitation
        except DoableError:
            pass
    return respond(request, state, "signup.html", ctx)


@router.post("/signup")
async def signup_submit(
    request: Request,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    email: Annotated[str, Form(max_length=1000)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    name: Annotated[str, Form(max_length=1000)] = "",
    timezone: Annotated[str, Form(max_length=100)] = "UTC",
    invitation: Annotated[str, Form(max_length=2000)] = "",
    project_invitation: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    values = {"email": email, "name": name, "timezone": timezone}
    ctx = signup_context(request, state, invitation=invitation) | {
        "values": values,
        "project_invitation": project_invitation,
    }
    if timezone not in zone_set():  # a browser's odd guess must not block signing up
        timezone = "UTC"
    try:
        data = SignupIn(email=email, password=password, name=name, timezone=timezone)
    except ValidationError as exc:
        ctx["errors"] = field_errors(exc)
        return respond(request, state, "signup.html", ctx, status=422)
    try:
        await state.rate_limiter.check_ip(client_ip(request))
        # A project's invitation link made for this address also admits (SIGNUP=invite).
        joining = bool(project_invitation) and await invitations.admits_signup(
            session, state.runtime.secret_key, project_invitation, data.email, state.clock()
        )
        admission = await accounts_service.admit(
            session,
            state,
            data.email,
            None if joining else (invitation or None),
            admission=accounts_service.Admission(
                auth_service.normalize_email(data.email), "project_invitation"
            )
            if joining
            else None,
        )
        ctx["invited_email"] = admission.email if admission else ""
        user = await auth_service.create_user(
            session,
            state,
            email=data.email,
            password=data.password,
            name=data.name,
            timezone=data.timezone,
        )
    except DoableError as exc:
        field = "email" if exc.status == 409 else "form"
        ctx["errors"] = {field: exc.detail}
        return respond(request, state, "signup.html", ctx, status=exc.status, headers=exc.headers)
    if project_invitation:
        # Joined at once when the link is good and made for this address; otherwise the
        # account stands and the link's page says why the invitation could not be used.
        try:
            async with session.begin_nested():
                project = await invitations.accept_link(
                    session, state.runtime.secret_key, project_invitation, user, state.clock()
                )
            return await start_session(request, state, session, user, f"/projects/{project.id}")
        except DoableError:
            return await start_session(
                request, state, session, user, f"/invitations/{quote(project_invitation, safe='')}"
            )
    return await start_session(request, state, session, user, "/tasks")


@router.post("/logout")
async def logout(request: Request, session: SessionDep, state: StateDep) -> Response:
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        await auth_service.revoke_web_session_token(session, raw)
    response = see_other("/login")
    delete_cookie(request, state, response, SESSION_COOKIE)
    return response


@router.post("/logout-everywhere")
async def logout_everywhere(
    request: Request, user: WebUser, session: SessionDep, state: StateDep
) -> Response:
    await auth_service.sign_out_everywhere(session, user)
    response = see_other("/login?signed_out=everywhere")
    delete_cookie(request, state, response, SESSION_COOKIE)
    return response
