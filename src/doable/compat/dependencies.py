"""What a compat route needs: the path's user, who must be the caller, and their task.

`{user_id}` is the caller's own id: our UUID, or, for a user signed in through the external
issuer (Better Auth), the issuer's id for them (the token's user-id claim). Its converter
(`compat_user_id`) admits 1-255 characters of a URL-safe set, and never `v1`, `v2`…, so the
`/api/v1/…` routes are never shadowed; anything else is an unknown route (404). Without an
external issuer only UUIDs are known ids (404 for the rest, as before).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from starlette.convertors import Convertor, register_url_convertor

from doable.auth.dependencies import CurrentPrincipal, CurrentUser
from doable.auth.models import User
from doable.db import SAFE_METHODS, SessionDep
from doable.errors import DoableError, Forbidden, NotFound
from doable.projects.access import Role
from doable.state import StateDep
from doable.tasks import service as tasks_service
from doable.tasks.models import Task

USER_ID_PATTERN = r"(?!v[0-9]+/)[A-Za-z0-9][A-Za-z0-9._~:@|+-]{0,254}"


class CompatUserIdConvertor(Convertor[str]):
    regex = USER_ID_PATTERN

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


register_url_convertor("compat_user_id", CompatUserIdConvertor())


class NotYourUser(Forbidden):
    def __init__(self) -> None:
        DoableError.__init__(self, "The credential belongs to another user than {user_id}")


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def known_user_id(request: Request, state: StateDep) -> None:
    """Without an external issuer only UUIDs name users: any other `{user_id}` is an unknown
    route (404), before authentication, as when the path only matched UUIDs."""
    if state.external is None and _as_uuid(request.path_params["user_id"]) is None:
        raise NotFound("Not found")


@dataclass(frozen=True)
class PathOwner:
    """The caller, and the id they named themselves by in the path (echoed as `user_id`)."""

    user: User
    user_id: str


async def path_user(
    user_id: Annotated[
        str, Path(description="Your user id: ours, or the external issuer's", max_length=255)
    ],
    user: CurrentUser,
    principal: CurrentPrincipal,
) -> PathOwner:
    """The caller, when the path names them; any other user id is refused (403)."""
    if principal.external_subject is not None and user_id == principal.external_subject:
        return PathOwner(user, user_id)
    if _as_uuid(user_id) == user.id:
        return PathOwner(user, str(user.id))
    raise NotYourUser()


PathUser = Annotated[PathOwner, Depends(path_user)]


async def path_task(
    task_id: Annotated[uuid.UUID, Path(description="Task id")],
    owner: PathUser,
    session: SessionDep,
    request: Request,
) -> Task:
    """One of the caller's tasks; another user's task is simply not found (404)."""
    writing = request.method not in SAFE_METHODS
    return await tasks_service.get_task(
        session,
        owner.user,
        task_id,
        for_update=writing,
        need=Role.EDITOR if writing else Role.VIEWER,
    )


PathTask = Annotated[Task, Depends(path_task)]
