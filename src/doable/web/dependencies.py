"""What a web route needs: the signed-in user from the session cookie, and CSRF checks."""

# No `from __future__ import annotations`: FastAPI reads the signatures of this module's
# dependencies once for every route that uses them, and evaluates string annotations anew each
# time (thousands of evals at startup).
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request

from doable.auth import service as auth_service
from doable.auth.models import User
from doable.db import SAFE_METHODS, SessionDep, set_actor
from doable.errors import DoableError, Forbidden, Unauthorized
from doable.state import StateDep
from doable.web.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    csrf_token_for,
    csrf_token_valid,
    new_csrf_nonce,
)


class LoginRequired(Unauthorized):
    """No live browser session: pages redirect to the login page and come back after."""

    def __init__(self) -> None:
        DoableError.__init__(self, "Please sign in to continue")
        self.headers = {}


class CsrfFailed(Forbidden):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)


def safe_next(target: str | None) -> str:
    """Only same-site relative paths may be redirect targets after login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/tasks"


def login_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.headers.get("hx-request") == "true":
        # For a fragment request, come back to the page the user was on, not the fragment.
        current = request.headers.get("hx-current-url", "")
        base = f"{request.url.scheme}://{request.url.netloc}"
        here = current[len(base) :] if current.startswith(base) else "/tasks"
    return "/login?next=" + quote(safe_next(here), safe="")


async def ensure_csrf(request: Request, state: StateDep) -> str:
    """The page's CSRF token; a new cookie nonce is set on first visit (see render)."""
    nonce = request.cookies.get(CSRF_COOKIE)
    if not nonce or len(nonce) > 100:
        nonce = new_csrf_nonce()
        request.state.new_csrf_nonce = nonce
    token = csrf_token_for(state.runtime.secret_key, nonce)
    request.state.csrf_token = token
    return token


async def csrf_protect(request: Request, state: StateDep) -> None:
    """Every state-changing web request: same-origin (unless embedded) and a valid token."""
    if request.method in SAFE_METHODS:
        return
    if not state.runtime.settings.embedded:
        site = request.headers.get("sec-fetch-site")
        origin = request.headers.get("origin")
        own = f"{request.url.scheme}://{request.url.netloc}"
        if site is not None and site not in {"same-origin", "none"}:
            raise CsrfFailed("Cross-site request refused")
        if site is None and origin is not None and origin != own:
            raise CsrfFailed("Cross-origin request refused")
    token = request.headers.get("x-csrf-token")
    if token is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            # Parsed once and kept: an import's file part may be as big as the body may be
            # (the middleware caps the body, IMPORT_MAX_BYTES on the import form).
            form = await request.form(max_part_size=state.runtime.settings.import_max_bytes)
            value = form.get("csrf_token")
            token = value if isinstance(value, str) else None
    if not csrf_token_valid(state.runtime.secret_key, request.cookies.get(CSRF_COOKIE), token):
        raise CsrfFailed("The form expired or came from elsewhere; reload the page and try again")


async def current_web_user(request: Request, session: SessionDep, state: StateDep) -> User:
    raw = request.cookies.get(SESSION_COOKIE)
    found = await auth_service.user_for_web_session(session, raw) if raw else None
    if found is None:
        raise LoginRequired()
    user, web_session = found
    request.state.web_session_id = web_session.id
    set_actor(session, user.id)  # the activity log's "who"
    if request.method not in SAFE_METHODS:
        # Sliding expiry, written only by requests that write anyway.
        await auth_service.touch_web_session(session, state, web_session)
    return user


async def optional_web_user(request: Request, session: SessionDep) -> User | None:
    raw = request.cookies.get(SESSION_COOKIE)
    found = await auth_service.user_for_web_session(session, raw) if raw else None
    return found[0] if found else None


WebUser = Annotated[User, Depends(current_web_user)]
MaybeWebUser = Annotated[User | None, Depends(optional_web_user)]
CsrfToken = Annotated[str, Depends(ensure_csrf)]


def area_router(**settings: Any) -> APIRouter:
    """The router of one area of the web app: out of the OpenAPI document, and every
    state-changing request checked for CSRF. Its routes go straight into the app's list
    (`doable.routing.add_routes`), so these settings are given here, not when it is added."""
    return APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)], **settings)
