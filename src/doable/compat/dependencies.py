"""What a compat route needs: the path's user, who must be the caller, and their task."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path, Request

from doable.auth.dependencies import CurrentUser
from doable.auth.models import User
from doable.db import SAFE_METHODS, SessionDep
from doable.errors import DoableError, Forbidden
from doable.tasks import service as tasks_service
from doable.tasks.models import Task


class NotYourUser(Forbidden):
    def __init__(self) -> None:
        DoableError.__init__(self, "The credential belongs to another user than {user_id}")


async def path_user(
    user_id: Annotated[uuid.UUID, Path(description="Your user id")], user: CurrentUser
) -> User:
    """The caller, when the path names them; any other user id is refused (403)."""
    if user.id != user_id:
        raise NotYourUser()
    return user


PathUser = Annotated[User, Depends(path_user)]


async def path_task(
    task_id: Annotated[uuid.UUID, Path(description="Task id")],
    user: PathUser,
    session: SessionDep,
    request: Request,
) -> Task:
    """One of the caller's tasks; another user's task is simply not found (404)."""
    writing = request.method not in SAFE_METHODS
    return await tasks_service.get_task(session, user.id, task_id, for_update=writing)


PathTask = Annotated[Task, Depends(path_task)]
