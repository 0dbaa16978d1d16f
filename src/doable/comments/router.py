"""/api/v1/tasks/{id}/comments and /api/v1/projects/{id}/mute: thin routes.

Commenting is a write that needs no more than a viewer's role, so these routes load the task
with `need=Role.VIEWER` (never the tasks router's editor-write dependency)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import StringConstraints

from doable.auth.dependencies import CurrentUser, require_scope_by_method
from doable.comments import notify, service
from doable.comments.schemas import (
    AuthorOut,
    CommentIn,
    CommentOut,
    CommentPage,
    MuteIn,
    MuteOut,
)
from doable.db import SessionDep
from doable.idempotency.route import IdempotentRoute
from doable.projects import service as projects_service
from doable.routing import API_PREFIX
from doable.state import StateDep
from doable.types import NoNulStr

_SCOPES = [Depends(require_scope_by_method("tasks:read", "tasks:write"))]
comments_router = APIRouter(
    prefix=f"{API_PREFIX}/tasks",
    tags=["comments"],
    dependencies=_SCOPES,
    route_class=IdempotentRoute,
)
mute_router = APIRouter(prefix=f"{API_PREFIX}/projects", tags=["comments"], dependencies=_SCOPES)

COMMON: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated"},
    403: {"description": "An API token without the scope, or not your comment"},
    404: {"description": "Not found (also a task you cannot see)"},
}
TaskId = Annotated[uuid.UUID, Path(description="Task id")]
CommentId = Annotated[uuid.UUID, Path(description="Comment id")]
CursorParam = Annotated[NoNulStr, StringConstraints(max_length=1000)]


def comment_out(item: service.Authored) -> CommentOut:
    c = item.comment
    return CommentOut(
        id=c.id,
        task_id=c.task_id,
        author=AuthorOut(id=c.author_id, name=item.author_name),
        body=c.body,
        created_at=c.created_at,
        edited_at=c.edited_at,
    )


@comments_router.get("/{task_id}/comments", response_model=CommentPage, responses=COMMON)
async def list_comments(
    task_id: TaskId,
    user: CurrentUser,
    session: SessionDep,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=200)] = service.PAGE,
    cursor: Annotated[
        CursorParam | None, Query(description="next_cursor of the previous page")
    ] = None,
) -> CommentPage:
    """The task's comments, oldest first."""
    task = await service.visible_task(session, user, task_id)
    rows, next_cursor = await service.list_comments(
        session, task, limit=limit, cursor=cursor, cursor_key=state.runtime.secret_key
    )
    return CommentPage(items=[comment_out(r) for r in rows], next_cursor=next_cursor)


@comments_router.post(
    "/{task_id}/comments",
    status_code=status.HTTP_201_CREATED,
    response_model=CommentOut,
    responses=COMMON,
)
async def add_comment(
    data: CommentIn, task_id: TaskId, user: CurrentUser, session: SessionDep
) -> CommentOut:
    """Comment on a task you can see (viewers too). Its assignee and creator are told, and
    so is each person it mentions (docs/sharing.md)."""
    task = await service.visible_task(session, user, task_id)
    comment = await service.add_comment(session, user, task, data.body)
    return comment_out(service.Authored(comment, notify.display_name(user)))


@comments_router.patch(
    "/{task_id}/comments/{comment_id}", response_model=CommentOut, responses=COMMON
)
async def edit_comment(
    data: CommentIn,
    task_id: TaskId,
    comment_id: CommentId,
    user: CurrentUser,
    session: SessionDep,
) -> CommentOut:
    """Change your own comment's text (403 for anyone else's)."""
    comment, task = await service.get_comment(session, user, task_id, comment_id)
    comment = await service.edit_comment(session, user, comment, task, data.body)
    return comment_out(service.Authored(comment, notify.display_name(user)))


@comments_router.delete(
    "/{task_id}/comments/{comment_id}", status_code=status.HTTP_204_NO_CONTENT, responses=COMMON
)
async def delete_comment(
    task_id: TaskId, comment_id: CommentId, user: CurrentUser, session: SessionDep
) -> Response:
    """Delete your own comment; the project's admins and owner may delete anyone's."""
    comment, task = await service.get_comment(session, user, task_id, comment_id)
    await service.delete_comment(session, user, comment, task)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


ProjectId = Annotated[uuid.UUID, Path(description="Project id")]


@mute_router.get("/{project_id}/mute", response_model=MuteOut, responses=COMMON)
async def get_mute(project_id: ProjectId, user: CurrentUser, session: SessionDep) -> MuteOut:
    """Whether you hear nothing from this project (assignments, comments, mentions)."""
    project = await projects_service.get_project(session, user, project_id)
    return MuteOut(project_id=project.id, muted=await notify.muted(session, user.id, project.id))


@mute_router.put("/{project_id}/mute", response_model=MuteOut, responses=COMMON)
async def set_mute(
    data: MuteIn, project_id: ProjectId, user: CurrentUser, session: SessionDep
) -> MuteOut:
    """Mute or unmute a project you can see, for yourself (any role)."""
    project = await projects_service.get_project(session, user, project_id)
    muted = await notify.set_muted(session, user.id, project.id, data.muted)
    return MuteOut(project_id=project.id, muted=muted)
