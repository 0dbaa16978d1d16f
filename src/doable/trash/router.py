"""/api/v1/trash: list, restore and empty. Thin routes over trash.service."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from doable.auth.dependencies import CurrentUser, require_scope_by_method
from doable.db import SessionDep
from doable.routing import API_PREFIX
from doable.state import StateDep
from doable.trash import service
from doable.trash.schemas import RestoredOut, TrashItemOut, TrashPage

router = APIRouter(
    prefix=f"{API_PREFIX}/trash",
    tags=["trash"],
    dependencies=[Depends(require_scope_by_method("tasks:read", "tasks:write"))],
)

COMMON: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated"},
    403: {"description": "An API token without the scope this route needs"},
    404: {"description": "Not in the trash, or not the caller's to restore"},
}


@router.get("", response_model=TrashPage, responses=COMMON)
async def list_trash(
    user: CurrentUser,
    session: SessionDep,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=200)] = service.PAGE,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> TrashPage:
    """What the caller may restore: deletions in projects where they are an editor or above,
    and everything deleted from their own projects; most recent first."""
    items, next_cursor = await service.list_trash(
        session, user, limit=limit, cursor=cursor, cursor_key=state.runtime.secret_key
    )
    return TrashPage(items=[TrashItemOut.of(i) for i in items], next_cursor=next_cursor)


@router.post(
    "/{item_id}/restore",
    response_model=RestoredOut,
    responses=COMMON | {409: {"description": "Back already, its project is gone, or quota"}},
)
async def restore(item_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> RestoredOut:
    """Bring it back with everything it held, where it was if that place is still there."""
    return RestoredOut.of(await service.restore(session, user, item_id))


@router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT, responses=COMMON)
async def empty_one(item_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Response:
    """Remove one item from the trash for good."""
    await service.empty_one(session, user, item_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, responses=COMMON)
async def empty_all(user: CurrentUser, session: SessionDep) -> Response:
    """Empty the trash of the caller's own projects."""
    await service.empty_all(session, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
