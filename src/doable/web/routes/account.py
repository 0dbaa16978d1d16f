"""The account page: profile, password, browser sessions, account deletion and calendar feeds."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Form, Path, Request
from fastapi.responses import Response
from pydantic import ValidationError

from doable.auth import service as auth_service
from doable.auth.models import User
from doable.auth.schemas import MePatch, PasswordChangeIn
from doable.db import SessionDep
from doable.errors import DoableError, NotFound
from doable.feeds import service as feeds_service
from doable.feeds.router import feed_url
from doable.feeds.schemas import FeedCreate
from doable.notify import agenda as agenda_rules
from doable.notify import service as push_service
from doable.state import StateDep
from doable.web.dependencies import CsrfToken, WebUser, area_router
from doable.web.routes.forms import field_errors, read_form, see_other, start_session, zone_names
from doable.web.security import SESSION_COOKIE
from doable.web.views import base_context, delete_cookie, respond
from doable.zones import zone_of

router = area_router()


async def _account_context(
    request: Request, state: Any, session: Any, user: User, **extra: Any
) -> dict[str, Any]:
    sessions = await auth_service.list_web_sessions(session, user.id)
    feeds = await feeds_service.list_feeds(session, user.id)
    return (
        base_context(request, state, user)
        | {
            "sessions": sessions,
            "feeds": feeds,
            "new_feed": None,
            "current_session": getattr(request.state, "web_session_id", None),
            "zones": zone_names(),
            "errors": {},
            "notice": request.query_params.get("saved", ""),
            "channels": await push_service.channels(session, user.id),
            "email_available": bool(state.runtime.settings.smtp_host),
        }
        | extra
    )


@router.get("/account")
async def account_page(
    request: Request, user: WebUser, session: SessionDep, state: StateDep, csrf: CsrfToken
) -> Response:
    return respond(
        request, state, "account.html", await _account_context(request, state, session, user)
    )


@router.post("/account")
async def account_save(
    request: Request,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    name: Annotated[str, Form(max_length=1000)] = "",
    timezone: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    try:
        patch = MePatch(name=name, timezone=timezone or None)
    except ValidationError as exc:
        ctx = await _account_context(request, state, session, user, errors=field_errors(exc))
        return respond(request, state, "account.html", ctx, status=422)
    await auth_service.update_profile(session, user, patch, now=state.clock())
    return see_other("/account?saved=profile")


@router.post("/account/password")
async def account_password(
    request: Request,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    current_password: Annotated[str, Form(max_length=1000)] = "",
    new_password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        data = PasswordChangeIn(current_password=current_password, new_password=new_password)
        await auth_service.change_password(
            session, state, user, data.current_password, data.new_password
        )
    except ValidationError as exc:
        errors = {f"pw_{k}": v for k, v in field_errors(exc).items()}
        ctx = await _account_context(request, state, session, user, errors=errors)
        return respond(request, state, "account.html", ctx, status=422)
    except DoableError as exc:
        ctx = await _account_context(
            request, state, session, user, errors={"pw_current_password": exc.detail}
        )
        return respond(request, state, "account.html", ctx, status=exc.status, headers=exc.headers)
    # Every session was revoked with the old password; this browser gets a fresh one.
    return await start_session(request, state, session, user, "/account?saved=password")


@router.post("/account/sessions/{session_id}/revoke")
async def revoke_session(
    request: Request,
    session_id: Annotated[uuid.UUID, Path()],
    user: WebUser,
    session: SessionDep,
    state: StateDep,
) -> Response:
    if not await auth_service.revoke_web_session(session, user.id, session_id):
        raise NotFound("No session with this id")
    return see_other("/account?saved=sessions")


@router.post("/account/delete")
async def account_delete(
    request: Request,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    password: Annotated[str, Form(max_length=1000)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    if confirm != "yes":
        ctx = await _account_context(
            request,
            state,
            session,
            user,
            errors={"delete": "Tick the box to confirm that everything will be deleted"},
        )
        return respond(request, state, "account.html", ctx, status=422)
    try:
        await auth_service.delete_account(session, state, user, password)
    except DoableError as exc:
        ctx = await _account_context(request, state, session, user, errors={"delete": exc.detail})
        return respond(request, state, "account.html", ctx, status=exc.status, headers=exc.headers)
    response = see_other("/signup?deleted=1")
    delete_cookie(request, state, response, SESSION_COOKIE)
    return response


# Calendar feeds: the URL is shown once, in the answer to the form post itself (never in a
# redirect, whose Location would put the secret in the history and in Referer headers).


def _new_feed(request: Request, name: str, secret: str) -> dict[str, str]:
    url = feed_url(request, secret)
    return {"name": name, "url": url, "webcal": "webcal://" + url.split("://", 1)[1]}


@router.post("/account/feeds")
async def create_feed(
    request: Request,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    name: Annotated[str, Form(max_length=1000)] = "",
    kind: Annotated[str, Form(max_length=20)] = "vtodo",
    tag: Annotated[str, Form(max_length=1000)] = "",
    status: Annotated[str, Form(max_length=20)] = "open",
) -> Response:
    try:
        data = FeedCreate.model_validate(
            {"name": name, "kind": kind, "tag": tag.strip() or None, "status": status}
        )
        feed, secret = await feeds_service.create_feed(session, user, data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for field, message in field_errors(exc).items():
            if field in {"name", "tag"}:
                errors[f"feed_{field}"] = message
            else:  # only a tampered form sends another kind or status
                errors.setdefault("feeds", f"{field}: {message}")
        ctx = await _account_context(request, state, session, user, errors=errors)
        return respond(request, state, "account.html", ctx, status=422)
    except DoableError as exc:
        ctx = await _account_context(request, state, session, user, errors={"feeds": exc.detail})
        return respond(request, state, "account.html", ctx, status=exc.status)
    ctx = await _account_context(
        request, state, session, user, new_feed=_new_feed(request, feed.name, secret)
    )
    return respond(request, state, "account.html", ctx, status=201)


@router.post("/account/feeds/{feed_id}/rotate")
async def rotate_feed(
    request: Request,
    feed_id: Annotated[uuid.UUID, Path()],
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    feed, secret = await feeds_service.rotate_feed(session, user.id, feed_id)
    ctx = await _account_context(
        request, state, session, user, new_feed=_new_feed(request, feed.name, secret)
    )
    return respond(request, state, "account.html", ctx)


@router.post("/account/feeds/{feed_id}/revoke")
async def revoke_feed(
    request: Request,
    feed_id: Annotated[uuid.UUID, Path()],
    user: WebUser,
    session: SessionDep,
) -> Response:
    await feeds_service.revoke_feed(session, user.id, feed_id)
    return see_other("/account?saved=feed")


@router.post("/account/notifications")
async def account_notifications(
    request: Request,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    """Which channels carry reminders besides the inbox (unchecked boxes are not sent), and
    the daily agenda email and its time. A time that is not HH:MM is shown on its field."""
    form = await read_form(request)
    agenda_time = form.get("agenda_time", "") or agenda_rules.DEFAULT_TIME
    wanted = push_service.Channels(
        web_push=form.get("web_push") == "on",
        email=form.get("email") == "on",
        in_app=form.get("in_app") == "on",
        agenda=form.get("agenda") == "on",
        agenda_time=agenda_time,
    )
    try:
        agenda_rules.parse_time(agenda_time)
    except ValueError as exc:
        ctx = await _account_context(
            request, state, session, user, errors={"agenda_time": str(exc)}, channels=wanted
        )
        return respond(request, state, "account.html", ctx, status=422)
    await push_service.set_channels(
        session, user.id, wanted, zone=zone_of(user.timezone), now=state.clock()
    )
    return see_other("/account?saved=notifications#notifications-h")
