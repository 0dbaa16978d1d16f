"""Dependencies that say what a route needs: a principal, a scope, a session, the client IP.

A request is made by a principal: a login's access token (every scope) or a personal API
token (the scopes it was given). Routes declare what they allow:

- `require_scope("tasks:read")` or `require_scope_by_method(read, write)` as a router or
  route dependency: an access token passes, an API token needs the scope (else 403).
- `SessionUser`: access tokens only. An API token gets 403, whatever its scopes.
- `CurrentUser`: the user behind either kind. An API token only gets through when a scope
  requirement already ran for this request, so a route that forgets to declare one fails
  closed (403) instead of letting every token in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from doable.auth import service
from doable.auth.models import User
from doable.auth.security import Scope, is_api_token
from doable.auth.service import Principal
from doable.db import SAFE_METHODS, Database, SessionDep, utcnow
from doable.errors import DoableError, Forbidden, Unauthorized
from doable.state import AppState, StateDep

bearer = HTTPBearer(
    auto_error=False,
    description="Access token from /api/v1/auth/login, or a personal API token (dbl_pat_…)",
)
MAX_CREDENTIAL_LENGTH = 4096
_SCOPE_CHECKED = "doable_scope_checked"


class InsufficientScope(Forbidden):
    slug = "insufficient-scope"

    def __init__(self, scope: str) -> None:
        DoableError.__init__(
            self,
            f"This API token lacks the {scope} scope",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
        )


class SessionRequired(Forbidden):
    slug = "session-required"

    def __init__(self) -> None:
        DoableError.__init__(
            self,
            "API tokens cannot be used here; sign in with your password and use the "
            "access token instead",
        )


async def _touch_api_token(database: Database, principal: Principal) -> None:
    """Record that a token was used, in its own short transaction. A read request's
    transaction stays read-only (on SQLite a read that turns into a write can fail under
    load)."""
    assert principal.token_id is not None
    now = utcnow()
    async with database.write_sessions() as side:
        await service.touch_api_token(side, principal.token_id, now)
        await side.commit()


async def authenticate(
    session: AsyncSession,
    state: AppState,
    database: Database,
    credentials: HTTPAuthorizationCredentials | None,
    *,
    read_only: bool,
) -> Principal:
    """Who sends this Bearer credential: an access token or an API token, else `Unauthorized`.

    The one place credentials are checked, for the REST API and the MCP server alike. With
    `read_only`, an API token's use is recorded in a side transaction so `session` only reads.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("A Bearer access token or API token is required")
    raw = credentials.credentials
    if len(raw) > MAX_CREDENTIAL_LENGTH:
        raise Unauthorized("The access token is invalid")
    if not is_api_token(raw):
        return await service.principal_for_access(session, state.signer.verify(raw))
    now = utcnow()
    principal, token = await service.principal_for_api_token(session, raw, now=now)
    if service.needs_touch(token, now):
        if read_only:
            await _touch_api_token(database, principal)
        else:
            await service.touch_api_token(session, token.id, now)
    return principal


async def current_principal(
    request: Request,
    session: SessionDep,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    return await authenticate(
        session,
        state,
        request.app.state.database,
        credentials,
        read_only=request.method in SAFE_METHODS,
    )


def check_scope(principal: Principal, scope: Scope) -> None:
    """An API token needs `scope` (else `InsufficientScope`); an access token has every scope."""
    if principal.kind == "api_token" and scope not in principal.scopes:
        raise InsufficientScope(scope)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def _allow(request: Request, principal: Principal, scope: Scope) -> Principal:
    check_scope(principal, scope)
    setattr(request.state, _SCOPE_CHECKED, True)
    return principal


def require_scope(scope: Scope) -> Callable[[Request, Principal], Awaitable[Principal]]:
    """A dependency: API tokens need `scope`; access tokens carry every scope."""

    async def scoped(request: Request, principal: CurrentPrincipal) -> Principal:
        return _allow(request, principal, scope)

    return scoped


def require_scope_by_method(
    read: Scope, write: Scope
) -> Callable[[Request, Principal], Awaitable[Principal]]:
    """A router dependency: `read` for GET and HEAD, `write` for every other method."""

    async def scoped(request: Request, principal: CurrentPrincipal) -> Principal:
        return _allow(request, principal, read if request.method in SAFE_METHODS else write)

    return scoped


async def current_user(request: Request, principal: CurrentPrincipal) -> User:
    if principal.kind == "api_token" and not getattr(request.state, _SCOPE_CHECKED, False):
        raise SessionRequired()  # fail closed: the route declared no scope
    return principal.user


async def session_user(principal: CurrentPrincipal) -> User:
    """Access tokens only: creating tokens, changing the password or the account, deleting it."""
    if principal.kind != "access_token":
        raise SessionRequired()
    return principal.user


CurrentUser = Annotated[User, Depends(current_user)]
SessionUser = Annotated[User, Depends(session_user)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ClientIP = Annotated[str, Depends(client_ip)]
