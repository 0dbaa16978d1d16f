"""Entry and authentication pages: home, log in, sign up and log out."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from doable.auth import service as auth_service
from doable.auth.schemas import SignupIn
from doable.db import SessionDep
from doable.errors import DoableError, RateLimited
from doable.projects import invitations
from doable.state import StateDep
from doable.web.dependencies import CsrfToken, MaybeWebUser, WebUser, safe_next
from doable.web.routes.forms import client_ip, field_errors, see_other, start_session, zone_set
from doable.web.security import SESSION_COOKIE
from doable.web.views import base_context, delete_cookie, respond

router = APIRouter()


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
    ctx = base_context(request, state, None) | {"next": safe_next(next), "errors": {}, "values": {}}
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
    ctx = base_context(request, state, None) | {"next": safe_next(next), "values": {"email": email}}
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
    invitation: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    if user is not None:
        return see_other(f"/invitations/{invitation}" if invitation else "/tasks")
    values = {"invitation": invitation}
    if invitation:  # signing up through an invitation link: its address, filled in
        try:
            found, _ = await invitations.preview(session, state.runtime.secret_key, invitation)
            values["email"] = found.email
        except DoableError:
            values["invitation"] = ""
    ctx = base_context(request, state, None) | {"errors": {}, "values": values}
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
    invitation: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    values = {"email": email, "name": name, "timezone": timezone, "invitation": invitation}
    ctx = base_context(request, state, None) | {"values": values}
    if timezone not in zone_set():  # a browser's odd guess must not block signing up
        timezone = "UTC"
    try:
        data = SignupIn(email=email, password=password, name=name, timezone=timezone)
    except ValidationError as exc:
        ctx["errors"] = field_errors(exc)
        return respond(request, state, "signup.html", ctx, status=422)
    try:
        await state.rate_limiter.check_ip(client_ip(request))
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
    if invitation:
        # Joined at once when the link is good and made for this address; otherwise the
        # account stands and the link's page says why the invitation could not be used.
        try:
            async with session.begin_nested():
                project = await invitations.accept_link(
                    session, state.runtime.secret_key, invitation, user, state.clock()
                )
            return await start_session(request, state, session, user, f"/projects/{project.id}")
        except DoableError:
            return await start_session(
                request, state, session, user, f"/invitations/{quote(invitation, safe='')}"
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
