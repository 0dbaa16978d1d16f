"""Dependencies that load a task or tag by id, scoped to the current user."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path, Request

from doable.auth.dependencies import CurrentUser
from doable.db import SAFE_METHODS, SessionDep
from doable.projects.access import Role
from doable.tasks import service, tags
from doable.tasks.models import Tag, Task


async def owned_task(
    task_id: Annotated[uuid.UUID, Path(description="Task id")],
    user: CurrentUser,
    session: SessionDep,
    request: Request,
) -> Task:
    # Reading needs any role in the task's project; writing needs an editor (else 403).
    writing = request.method not in SAFE_METHODS
    return await service.get_task(
        session, user, task_id, for_update=writing, need=Role.EDITOR if writing else Role.VIEWER
    )


async def visible_task(
    task_id: Annotated[uuid.UUID, Path(description="Task id")],
    user: CurrentUser,
    session: SessionDep,
    request: Request,
) -> Task:
    """A task the user may see, for what any member may do to it: their own reminders on it
    (reminders are personal). A write still locks the row."""
    writing = request.method not in SAFE_METHODS
    return await service.get_task(session, user, task_id, for_update=writing)


async def owned_tag(
    tag_id: Annotated[uuid.UUID, Path(description="Tag id")],
    user: CurrentUser,
    session: SessionDep,
) -> Tag:
    return await tags.get_tag(session, user.id, tag_id)


OwnedTask = Annotated[Task, Depends(owned_task)]
VisibleTask = Annotated[Task, Depends(visible_task)]
OwnedTag = Annotated[Tag, Depends(owned_tag)]
