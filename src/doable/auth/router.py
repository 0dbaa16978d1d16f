"""/api/v1/auth, /api/v1/me and /api/v1/tokens: thin routes over auth.service."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from pydantic import ValidationError

from doable.accounts import service as accounts_service
from doable.auth import service
from doable.auth.dependencies import (
    ClientIP,
    CurrentUser,
    ProfileUser,
    SessionUser,
    require_scope,
)
from doable.auth.models import ApiToken, User
from doable.auth.schemas import (
    DeleteAccountIn,
    LoginIn,
    MePatch,
    PasswordChangeIn,
    RefreshIn,
    SignupIn,
    TokenCreate,
    TokenCreated,
    TokenOut,
    TokenPair,
    UserOut,
)
from doable.db import SessionDep
from doable.errors import InvalidInput
from doable.idempotency.route import IdempotentRoute, store_instead
from doable.routing import API_PREFIX
from doable.state import StateDep

# The /auth routes are not idempotent-capable: they act for nobody yet, and what they
# return is credentials, which are never stored for replay.
auth_router = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"])
me_router = APIRouter(prefix=f"{API_PREFIX}/me", tags=["account"], route_class=IdempotentRoute)
tokens_router = APIRouter(
    prefix=f"{API_PREFIX}/tokens", tags=["tokens"], route_class=IdempotentRoute
)

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {401: {"description": "Not authenticated"}}
SESSION_ONLY: dict[int | str, dict[str, Any]] = {
    **UNAUTHORIZED,
    403: {"description": "Refused to API tokens: sign in and use an access token"},
}

# The form's fields are validated as LoginIn's (username is the email), so share its schema.
_LOGIN_FIELDS = LoginIn.model_json_schema()["properties"]
_LOGIN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/LoginIn"}},
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "username": {**_LOGIN_FIELDS["email"], "description": "Your email"},
                        "password": _LOGIN_FIELDS["password"],
                    },
                }
            },
        },
    }
}


@auth_router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenPair,
    responses={
        400: {"description": "The invitation link is forged or altered"},
        403: {"description": "Sign-up is closed, or needs an invitation for this email"},
        410: {"description": "The invitation expired or was already used"},
    },
)
async def signup(data: SignupIn, session: SessionDep, state: StateDep, ip: ClientIP) -> TokenPair:
    """Create an account, as SIGNUP allows: with `invite`, `invitation` must be the token of
    an invitation link for this email; with `closed`, 403."""
    await state.rate_limiter.check_ip(ip)
    return await accounts_service.signup(session, state, data, data.invitation)


async def _read_login(request: Request) -> LoginIn:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if (
            content_type == "application/x-www-form-urlencoded"
            or content_type == "multipart/form-data"
        ):
            try:
                form = await request.form()
            except HTTPException as exc:  # a malformed form is a bad body, like malformed JSON
                raise InvalidInput(f"body: {exc.detail}", loc=["body"]) from None
            return LoginIn(
                email=str(form.get("username") or form.get("email") or ""),
                password=str(form.get("password") or ""),
            )
        if content_type == "application/json":
            return LoginIn.model_validate_json(await request.body())
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [p for p in first.get("loc", ()) if isinstance(p, (str, int))]
        raise InvalidInput(
            f"{'.'.join(map(str, loc)) or 'body'}: {first['msg']}", loc=["body", *loc]
        ) from None
    raise InvalidInput(
        "Send JSON {email, password} or a form with username and password", loc=["body"]
    )


@auth_router.post(
    "/login", response_model=TokenPair, openapi_extra=_LOGIN_BODY, responses=UNAUTHORIZED
)
async def login(request: Request, session: SessionDep, state: StateDep, ip: ClientIP) -> TokenPair:
    """Sign in with JSON `{email, password}` or the OAuth2 password form (username, password)."""
    await state.rate_limiter.check_ip(ip)
    data = await _read_login(request)
    user = await service.authenticate(session, state, data.email, data.password)
    return await service.issue_pair(session, state, user)


@auth_router.post("/refresh", response_model=TokenPair, responses=UNAUTHORIZED)
async def refresh(data: RefreshIn, session: SessionDep, state: StateDep) -> TokenPair:
    """Rotate a refresh token. Reusing an already-rotated one revokes the whole family."""
    return await service.rotate_refresh(session, state, data.refresh_token)


@auth_router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(data: RefreshIn, session: SessionDep) -> Response:
    await service.revoke_refresh(session, data.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@me_router.get(
    "",
    response_model=UserOut,
    responses=UNAUTHORIZED,
    dependencies=[Depends(require_scope("account:read"))],
)
async def read_me(user: CurrentUser) -> User:
    """The current account. API tokens need the `account:read` scope."""
    return user


@me_router.patch("", response_model=UserOut, responses=SESSION_ONLY)
async def update_me(data: MePatch, user: ProfileUser, session: SessionDep, state: StateDep) -> User:
    """Change the name or time zone. Not with an API token (an external issuer's token may)."""
    return await service.update_profile(session, user, data, now=state.clock())


@me_router.delete("", status_code=status.HTTP_204_NO_CONTENT, responses=SESSION_ONLY)
async def delete_me(
    data: DeleteAccountIn, user: SessionUser, session: SessionDep, state: StateDep
) -> Response:
    """Delete the account and all its data. Needs the password; not with an API token."""
    await service.delete_account(session, state, user, data.password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@me_router.post("/password", status_code=status.HTTP_204_NO_CONTENT, responses=SESSION_ONLY)
async def change_password(
    data: PasswordChangeIn, user: SessionUser, session: SessionDep, state: StateDep
) -> Response:
    """Change the password; every refresh token, every earlier access token and every API
    token stops working. Not with an API token."""
    await service.change_password(session, state, user, data.current_password, data.new_password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _token_out(token: ApiToken) -> TokenOut:
    return TokenOut(
        id=token.id,
        name=token.name,
        scopes=token.scopes.split(),
        hint=token.hint,
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
    )


@tokens_router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=TokenCreated, responses=SESSION_ONLY
)
async def create_token(
    data: TokenCreate, user: SessionUser, session: SessionDep, request: Request
) -> TokenCreated:
    """Create a personal API token. The token is in this response only; it is stored hashed.
    Not with an API token: a token can never make another."""
    token, raw = await service.create_api_token(session, user, data)
    out = _token_out(token)
    # An idempotent replay gets the same answer without the secret, which is never stored.
    store_instead(request, TokenCreated(**out.model_dump(), token=None))
    return TokenCreated(**out.model_dump(), token=raw)


@tokens_router.get("", response_model=list[TokenOut], responses=SESSION_ONLY)
async def list_tokens(user: SessionUser, session: SessionDep) -> list[TokenOut]:
    """Your API tokens that are not revoked (expired ones included), newest first."""
    return [_token_out(t) for t in await service.list_api_tokens(session, user.id)]


@tokens_router.delete(
    "/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**SESSION_ONLY, 404: {"description": "Not found (also for another user's token)"}},
)
async def revoke_token(
    token_id: Annotated[uuid.UUID, Path(description="Token id")],
    user: SessionUser,
    session: SessionDep,
) -> Response:
    """Revoke a token: from now on it gets 401."""
    await service.revoke_api_token(session, user.id, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
