"""GET /api/v1/projects/{id}/activity and /api/v1/tasks/{id}/activity: thin routes."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from doable.activity import service
from doable.activity.schemas import ActivityOut, ActivityPage
from doable.auth.dependencies import CurrentUser, require_scope
from doable.db import SessionDep
from doable.routing import API_PREFIX
from doable.state import StateDep

router = APIRouter(
    prefix=API_PREFIX, tags=["activity"], dependencies=[Depends(require_scope("tasks:read"))]
)

COMMON: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated"},
    403: {"description": "An API token without tasks:read"},
    404: {"description": "Not found (also a project or task the caller cannot see)"},
}
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=1000)]


def _page(found: tuple[list[service.ActivityView], str | None]) -> ActivityPage:
    views, next_cursor = found
    return ActivityPage(items=[ActivityOut.of(v) for v in views], next_cursor=next_cursor)


@router.get("/projects/{project_id}/activity", response_model=ActivityPage, responses=COMMON)
async def project_activity(
    project_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    state: StateDep,
    limit: Limit = service.PAGE,
    cursor: Cursor = None,
) -> ActivityPage:
    """What members did in the project, newest first (any member may read it)."""
    return _page(
        await service.project_activity(
            session,
            user,
            project_id,
            limit=limit,
            cursor=cursor,
            cursor_key=state.runtime.secret_key,
        )
    )


@router.get("/tasks/{task_id}/activity", response_model=ActivityPage, responses=COMMON)
async def task_activity(
    task_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    state: StateDep,
    limit: Limit = service.PAGE,
    cursor: Cursor = None,
) -> ActivityPage:
    """What members did to the task, newest first."""
    return _page(
        await service.task_activity(
            session,
            user,
            task_id,
            limit=limit,
            cursor=cursor,
            cursor_key=state.runtime.secret_key,
        )
    )
