"""Dependencies that say what a route needs: a principal, a scope, a session, the client IP.

A request is made by a principal: a login's access token (every scope), a personal API
token (the scopes it was given), or a token from the external issuer when one is configured
(every task scope, but no account management). Routes declare what they allow:

- `require_scope("tasks:read")` or `require_scope_by_method(read, write)` as a router or
  route dependency: an access token passes, an API token needs the scope (else 403).
- `SessionUser`: access tokens only. An API token or an external token gets 403.
- `ProfileUser`: access tokens and external tokens (name and time zone).
- `CurrentUser`: the user behind either kind. An API token only gets through when a scope
  requirement already ran for this request, so a route that forgets to declare one fails
  closed (403) instead of letting every token in.
"""

# No `from __future__ import annotations`: FastAPI reads the signatures of this module's
# dependencies once for every route that uses them, and evaluates string annotations anew each
# time (thousands of evals at startup).
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from doable.accounts import service as accounts_service
from doable.auth import hs256, service
from doable.auth.external import ExternalClaims, ExternalVerifier
from doable.auth.models import User
from doable.auth.security import Scope, is_api_token
from doable.auth.service import Principal
from doable.db import (
    SAFE_METHODS,
    Database,
    SessionDep,
    end_read_transaction,
    set_actor,
    utcnow,
)
from doable.errors import DoableError, Forbidden, ServiceUnavailable, Unauthorized
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

    def __init__(self, kind: str = "api_token") -> None:
        DoableError.__init__(
            self,
            "Tokens from the external sign-in provider cannot be used here; manage the "
            "account there"
            if kind == "external"
            else "API tokens cannot be used here; sign in with your password and use the "
            "access token instead",
        )


async def _touch_api_token(database: Database, principal: Principal) -> None:
    """Record that a token was used, beside the request (one request of a burst does it)."""
    token_id = principal.token_id
    assert token_id is not None
    await database.side_write(
        ("api-token", token_id), lambda side: service.touch_api_token(side, token_id, utcnow())
    )


def _issued_by_us(raw: str, issuer: str) -> bool:
    """Whether a JWT claims our own issuer (its signature is checked afterwards, by whichever
    verifier this picks). Unreadable tokens count as ours and get our 401."""
    try:
        claims = hs256.unverified_claims(raw)
    except hs256.InvalidToken:
        return True
    return bool(claims.get("iss") == issuer)


PROVISION_ATTEMPTS = 3


async def _provision(database: Database, claims: ExternalClaims) -> uuid.UUID:
    """Create (or find) the external user in a short transaction of its own, committed at once,
    so the user exists even when this request fails later. Two first requests at once: the
    loser's insert hits the unique (issuer, subject) and its retry finds the winner's user."""
    for attempt in range(PROVISION_ATTEMPTS):
        async with database.write_sessions() as side:
            try:
                user_id = await service.provision_external(
                    side, claims, use_claimed_email=attempt == 0
                )
                await side.commit()
                return user_id
            except IntegrityError:
                await side.rollback()
    raise ServiceUnavailable(
        "Could not set up the account; try again shortly", headers={"Retry-After": "1"}
    )


async def _external_principal(
    database: Database, session: AsyncSession, state: AppState, verifier: ExternalVerifier, raw: str
) -> Principal:
    claims = await verifier.verify(raw)
    user = await service.user_for_external(session, claims)
    if user is None:
        # A subject not seen before would get an account: only while sign-up is open.
        accounts_service.provisioning_allowed(state.runtime.settings)
        # Nothing is pending yet. Ending the transaction releases SQLite's write lock for the
        # provisioning transaction, and the next read sees what it committed (a new snapshot).
        await end_read_transaction(session)
        user = await session.get(User, await _provision(database, claims))
        if user is None:  # pragma: no cover - deleted in the instant between
            raise Unauthorized("The account was just deleted")
    if user.disabled_at is not None:
        raise Unauthorized("The account is disabled")
    return service.principal_for_external(user, claims)


async def authenticate(
    session: AsyncSession,
    state: AppState,
    database: Database,
    credentials: HTTPAuthorizationCredentials | None,
    *,
    read_only: bool,
    remembered: bool = False,
) -> Principal:
    """Who sends this Bearer credential: an access token, an API token or the external
    issuer's token, else `Unauthorized`.

    The one place credentials are checked, for the REST API and the MCP server alike. With
    `read_only`, an API token's use is recorded in a side transaction so `session` only reads.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("A Bearer access token or API token is required")
    raw = credentials.credentials
    if len(raw) > MAX_CREDENTIAL_LENGTH:
        raise Unauthorized("The access token is invalid")
    if not is_api_token(raw):
        if state.external is not None and not _issued_by_us(raw, state.signer.issuer):
            return await _external_principal(database, session, state, state.external, raw)
        return await service.principal_for_access(
            session, state.signer.verify(raw), state.callers if remembered else None
        )
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
    principal = await authenticate(
        session,
        state,
        request.app.state.database,
        credentials,
        read_only=request.method in SAFE_METHODS,
        remembered=request.method in SAFE_METHODS,
    )
    set_actor(session, principal.user.id)  # the activity log's "who"
    return principal


def check_scope(principal: Principal, scope: Scope) -> None:
    """An API token needs `scope` (else `InsufficientScope`); an access token has every scope."""
    if principal.kind == "api_token" and scope not in principal.scopes:
        raise InsufficientScope(scope)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


# On the dependencies `require_scope` and `require_scope_by_method` make: (read, write) scopes,
# which doable.routing reads to run the same check without FastAPI's dependency solving.
SCOPES_ATTRIBUTE = "doable_scopes"


def allow(request: Request, principal: Principal, scope: Scope) -> Principal:
    """Let `principal` through for `scope` (else `InsufficientScope`), and note that a scope
    was checked for this request (what `current_user` asks of an API token)."""
    check_scope(principal, scope)
    setattr(request.state, _SCOPE_CHECKED, True)
    return principal


def require_scope(scope: Scope) -> Callable[[Request, Principal], Awaitable[Principal]]:
    """A dependency: API tokens need `scope`; access tokens carry every scope."""

    async def scoped(request: Request, principal: CurrentPrincipal) -> Principal:
        return allow(request, principal, scope)

    setattr(scoped, SCOPES_ATTRIBUTE, (scope, scope))
    return scoped


def require_scope_by_method(
    read: Scope, write: Scope
) -> Callable[[Request, Principal], Awaitable[Principal]]:
    """A router dependency: `read` for GET and HEAD, `write` for every other method."""

    async def scoped(request: Request, principal: CurrentPrincipal) -> Principal:
        return allow(request, principal, read if request.method in SAFE_METHODS else write)

    setattr(scoped, SCOPES_ATTRIBUTE, (read, write))
    return scoped


async def current_user(request: Request, principal: CurrentPrincipal) -> User:
    if principal.kind == "api_token" and not getattr(request.state, _SCOPE_CHECKED, False):
        raise SessionRequired()  # fail closed: the route declared no scope
    return principal.user


async def session_user(principal: CurrentPrincipal) -> User:
    """Access tokens only: creating tokens, changing the password or the account, deleting it."""
    if principal.kind != "access_token":
        raise SessionRequired(principal.kind)
    return principal.user


async def profile_user(principal: CurrentPrincipal) -> User:
    """Access tokens and external tokens: the name and time zone, which are not credentials."""
    if principal.kind == "api_token":
        raise SessionRequired(principal.kind)
    return principal.user


CurrentUser = Annotated[User, Depends(current_user)]
SessionUser = Annotated[User, Depends(session_user)]
ProfileUser = Annotated[User, Depends(profile_user)]


async def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ClientIP = Annotated[str, Depends(client_ip)]
