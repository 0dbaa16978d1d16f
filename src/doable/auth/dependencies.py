"""Dependencies that say what a route needs: the current user, the client IP."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from doable.auth import service
from doable.auth.models import User
from doable.db import SessionDep
from doable.errors import Unauthorized
from doable.state import StateDep

bearer = HTTPBearer(auto_error=False, description="Access token from /api/v1/auth/login")


async def current_user(
    session: SessionDep,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("A Bearer access token is required")
    claims = state.signer.verify(credentials.credentials)
    return await service.user_for_access(session, claims)


CurrentUser = Annotated[User, Depends(current_user)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ClientIP = Annotated[str, Depends(client_ip)]
