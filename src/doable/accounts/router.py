"""/api/v1/admin (accounts, invitations, reset links) and /api/v1/auth/password-reset:
thin routes over accounts.service."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from doable.accounts import service
from doable.accounts.schemas import (
    AdminUserOut,
    AdminUserPage,
    LinkOut,
    PasswordResetIn,
    PasswordResetRequest,
    SignupInvitationCreate,
    SignupInvitationOut,
)
from doable.auth.dependencies import ClientIP, SessionUser
from doable.auth.models import User
from doable.db import SessionDep
from doable.routing import API_PREFIX
from doable.state import StateDep

# Not idempotent-capable, like /auth: disabling and enabling repeat harmlessly, and a link is a
# credential, which is never stored for replay.
admin_router = APIRouter(prefix=f"{API_PREFIX}/admin", tags=["admin"])
reset_router = APIRouter(prefix=f"{API_PREFIX}/auth/password-reset", tags=["auth"])

ADMIN_ONLY: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated"},
    403: {"description": "Not an admin, or an API token (sign in and use an access token)"},
}
USER_404: dict[int | str, dict[str, Any]] = {404: {"description": "No account with this id"}}
LINK_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The link is forged, altered or truncated"},
    410: {"description": "The link expired or was already used"},
}


async def admin_user(user: SessionUser) -> User:
    """An admin signed in with a password (access token); API tokens never administer."""
    if not user.is_admin:
        raise service.AdminRequired()
    return user


AdminUser = Annotated[User, Depends(admin_user)]
UserId = Annotated[uuid.UUID, Path(description="Account id")]


def base_url(request: Request) -> str:
    """Links an admin makes point at the address the admin reached this server by."""
    return str(request.base_url)


@admin_router.get("/users", response_model=AdminUserPage, responses=ADMIN_ONLY)
async def list_users(
    admin: AdminUser,
    session: SessionDep,
    after: Annotated[str | None, Query(max_length=254, description="`next_cursor`")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AdminUserPage:
    """Every account, by email, with whether it is an admin and whether it is disabled."""
    users = await service.list_users(session, after=after, limit=limit)
    items = [AdminUserOut.model_validate(u) for u in users]
    return AdminUserPage(items=items, next_cursor=items[-1].email if len(items) == limit else None)


@admin_router.post(
    "/users/{user_id}/disable",
    response_model=AdminUserOut,
    responses={**ADMIN_ONLY, **USER_404, 409: {"description": "The last enabled admin"}},
)
async def disable_user(
    user_id: UserId, admin: AdminUser, session: SessionDep, state: StateDep
) -> User:
    """Disable an account: it cannot sign in (the same 401 as a wrong password), and its
    sessions, tokens and calendar feeds stop working now."""
    user = await service.get_user(session, user_id, for_update=True)
    return await service.disable_user(session, state, user)


@admin_router.post(
    "/users/{user_id}/enable", response_model=AdminUserOut, responses={**ADMIN_ONLY, **USER_404}
)
async def enable_user(user_id: UserId, admin: AdminUser, session: SessionDep) -> User:
    """Let a disabled account sign in again with its password."""
    user = await service.get_user(session, user_id, for_update=True)
    return await service.enable_user(session, user)


@admin_router.post(
    "/users/{user_id}/reset-link",
    status_code=status.HTTP_201_CREATED,
    response_model=LinkOut,
    responses={**ADMIN_ONLY, **USER_404},
)
async def make_reset_link(
    user_id: UserId, admin: AdminUser, session: SessionDep, state: StateDep, request: Request
) -> LinkOut:
    """A one-time link that sets the account's password, to hand to its owner. It expires
    after RESET_LINK_MINUTES and dies once any password change happens."""
    user = await service.get_user(session, user_id)
    url, expires = service.make_reset_link(state, user, base_url(request))
    return LinkOut(url=url, expires_at=expires)


@admin_router.post(
    "/invitations",
    status_code=status.HTTP_201_CREATED,
    response_model=SignupInvitationOut,
    responses={**ADMIN_ONLY, 409: {"description": "An account with this email exists"}},
)
async def invite(
    data: SignupInvitationCreate,
    admin: AdminUser,
    session: SessionDep,
    state: StateDep,
    request: Request,
) -> SignupInvitationOut:
    """A sign-up link bound to one email (it admits while SIGNUP=invite), valid for
    INVITE_LINK_DAYS and until an account with that email exists."""
    email, url, expires = await service.invite(session, state, data.email, base_url(request))
    return SignupInvitationOut(email=email, url=url, expires_at=expires)


@reset_router.post("", status_code=status.HTTP_202_ACCEPTED, response_class=Response)
async def request_reset(
    data: PasswordResetRequest, request: Request, state: StateDep, ip: ClientIP
) -> Response:
    """Ask for a reset link by email. Always 202, whether an account has the email or not.
    Where SMTP is set, an enabled account with this email gets a one-time link (valid
    RESET_LINK_MINUTES; at most 3 emails per address and hour), sent off the request's path.
    Without SMTP nothing is sent: ask an admin for a link."""
    await state.rate_limiter.check_ip(ip)
    await service.request_password_reset(state, request.app.state.database, data.email)
    return Response(status_code=status.HTTP_202_ACCEPTED)


@reset_router.post("/confirm", status_code=status.HTTP_204_NO_CONTENT, responses=LINK_ERRORS)
async def confirm_reset(
    data: PasswordResetIn, session: SessionDep, state: StateDep, ip: ClientIP
) -> Response:
    """Set a new password with a reset link's token. It counts as a password change: every
    session, refresh, access and API token, and every calendar feed of the account stops
    working. The link works once."""
    await state.rate_limiter.check_ip(ip)
    await service.reset_password(session, state, data.token, data.new_password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
