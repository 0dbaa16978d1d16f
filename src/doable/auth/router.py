"""/api/v1/auth and /api/v1/me: thin routes over auth.service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from pydantic import ValidationError

from doable.auth import service
from doable.auth.dependencies import ClientIP, CurrentUser
from doable.auth.models import User
from doable.auth.schemas import (
    DeleteAccountIn,
    LoginIn,
    MePatch,
    PasswordChangeIn,
    RefreshIn,
    SignupIn,
    TokenPair,
    UserOut,
)
from doable.db import SessionDep
from doable.errors import InvalidInput
from doable.state import StateDep

auth_router = APIRouter(prefix="/auth", tags=["auth"])
me_router = APIRouter(prefix="/me", tags=["account"])

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {401: {"description": "Not authenticated"}}

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
                        "username": {"type": "string", "description": "Your email"},
                        "password": {"type": "string"},
                    },
                }
            },
        },
    }
}


@auth_router.post("/signup", status_code=status.HTTP_201_CREATED, response_model=TokenPair)
async def signup(data: SignupIn, session: SessionDep, state: StateDep, ip: ClientIP) -> TokenPair:
    state.rate_limiter.check_ip(ip)
    return await service.signup(session, state, data)


async def _read_login(request: Request) -> LoginIn:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if (
            content_type == "application/x-www-form-urlencoded"
            or content_type == "multipart/form-data"
        ):
            form = await request.form()
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
    state.rate_limiter.check_ip(ip)
    data = await _read_login(request)
    state.rate_limiter.check_account(service.normalize_email(data.email))
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


@me_router.get("", response_model=UserOut, responses=UNAUTHORIZED)
async def read_me(user: CurrentUser) -> User:
    return user


@me_router.patch("", response_model=UserOut, responses=UNAUTHORIZED)
async def update_me(data: MePatch, user: CurrentUser, session: SessionDep) -> User:
    return await service.update_profile(session, user, data)


@me_router.delete("", status_code=status.HTTP_204_NO_CONTENT, responses=UNAUTHORIZED)
async def delete_me(
    data: DeleteAccountIn, user: CurrentUser, session: SessionDep, state: StateDep
) -> Response:
    """Delete the account and all its data. Needs the password."""
    await service.delete_account(session, state, user, data.password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@me_router.post("/password", status_code=status.HTTP_204_NO_CONTENT, responses=UNAUTHORIZED)
async def change_password(
    data: PasswordChangeIn, user: CurrentUser, session: SessionDep, state: StateDep
) -> Response:
    """Change the password; every refresh token and every earlier access token stops working."""
    await service.change_password(session, state, user, data.current_password, data.new_password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
