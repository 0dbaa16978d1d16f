"""/api/{user_id}/tasks: the original spec's routes, thin, over tasks.service.

The path's `{user_id}` must be the caller's own id (else 403): our UUID, or the external
issuer's id for them; so it is always the caller. The list holds the tasks of the projects the
caller owns plus those assigned to them (`access.owned_or_assigned`); get, update, complete
and delete by id follow the caller's role in the task's project (a viewer's write is 403,
another user's task 404). It never matches `v1`, so `/api/v1/…` never reaches these routes; see
compat.dependencies for what it matches.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status

from doable.auth.dependencies import require_scope_by_method
from doable.compat.dependencies import PathTask, PathUser, known_user_id
from doable.compat.schemas import (
    CompatComplete,
    CompatSort,
    CompatStatus,
    CompatTaskCreate,
    CompatTaskOut,
    CompatTaskUpdate,
)
from doable.db import Database, SessionDep, utcnow
from doable.idempotency.route import IdempotentRoute
from doable.projects import access
from doable.routing import path_for
from doable.state import StateDep
from doable.tasks import listing as task_listing
from doable.tasks import service as tasks_service
from doable.tasks.models import Task
from doable.tasks.schemas import TaskCreate, TaskPatch
from doable.trash import service as trash_service

router = APIRouter(
    prefix="/api/{user_id:compat_user_id}/tasks",
    tags=["compat"],
    dependencies=[
        Depends(known_user_id),
        Depends(require_scope_by_method("tasks:read", "tasks:write")),
    ],
    route_class=IdempotentRoute,
)

RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated"},
    403: {
        "description": "The credential is another user's, an API token lacks the scope, or"
        " the caller is a viewer of the task's shared project and tried to change it"
    },
    404: {"description": "Not found (also for another user's task)"},
}
SORTS: dict[str, tasks_service.SortField] = {
    "created": "created",
    "title": "title",
    "due_date": "due",
}
# The longest list one request returns (README: Compat API). A longer list is cut, and the
# response says so: X-Total-Count, and a Link to the next page.
MAX_PAGE = 1000
MAX_OFFSET = 2**31 - 1


@router.get("", response_model=list[CompatTaskOut], responses=RESPONSES)
async def list_tasks(
    owner: PathUser,
    request: Request,
    response: Response,
    state: StateDep,
    status_: Annotated[CompatStatus, Query(alias="status")] = "all",
    sort: CompatSort = "created",
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE, description=f"At most this many tasks (≤ {MAX_PAGE})")
    ] = MAX_PAGE,
    offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Skip this many tasks first")
    ] = 0,
) -> list[CompatTaskOut]:
    """Your tasks as a plain array: those of the projects you own, plus those assigned to you
    in projects shared with you (other tasks of shared projects are not listed here, but you
    can get, update and delete them by id as your role allows). Newest first for `created`, A
    to Z for `title`, soonest first for `due_date` (tasks without one last). `X-Total-Count`
    gives how many there are in all; when more follow this page, `Link: <…>; rel="next"`
    points at them."""
    database: Database = request.app.state.database
    visible = access.owned_or_assigned(owner.user)
    query = task_listing.TaskQuery(
        status=status_, sort=SORTS[sort], limit=limit, offset=offset, visible=visible
    )
    # One snapshot, so the count agrees with the page.
    async with database.snapshot() as snapshot:
        tasks, more = await task_listing.list_tasks(
            snapshot, owner.user, query, cursor_key=state.runtime.secret_key
        )
        if more is None and (tasks or offset == 0):
            total = offset + len(tasks)
        else:
            counts = await task_listing.count_tasks(
                snapshot, owner.user, now=utcnow(), visible=visible
            )
            total = {"all": counts.all, "pending": counts.pending, "completed": counts.completed}[
                status_
            ]
    response.headers["X-Total-Count"] = str(total)
    if more is not None:
        following = request.url.remove_query_params(["limit", "offset"]).include_query_params(
            limit=limit, offset=offset + len(tasks)
        )
        response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return [CompatTaskOut.from_task(t, owner.user_id) for t in tasks]


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=CompatTaskOut, responses=RESPONSES
)
async def create_task(
    data: CompatTaskCreate,
    owner: PathUser,
    session: SessionDep,
    request: Request,
    response: Response,
) -> CompatTaskOut:
    task = await tasks_service.create_task(
        session,
        owner.user,
        TaskCreate(title=data.title, description=data.description, completed=data.completed),
    )
    response.headers["Location"] = str(
        path_for(request, "compat_get_task", user_id=owner.user_id, task_id=task.id)
    )
    return CompatTaskOut.from_task(task, owner.user_id)


@router.get("/{task_id}", response_model=CompatTaskOut, responses=RESPONSES, name="compat_get_task")
async def get_task(task: PathTask, owner: PathUser) -> CompatTaskOut:
    return CompatTaskOut.from_task(task, owner.user_id)


@router.put("/{task_id}", response_model=CompatTaskOut, responses=RESPONSES)
async def update_task(
    data: CompatTaskUpdate, task: PathTask, owner: PathUser, session: SessionDep
) -> CompatTaskOut:
    """Change the fields given; `title: null` is refused (422)."""
    patch = TaskPatch(**data.model_dump(exclude_unset=True))
    task = await tasks_service.update_task(session, owner.user, task, patch)
    return CompatTaskOut.from_task(task, owner.user_id)


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT, responses=RESPONSES)
async def delete_task(task: PathTask, session: SessionDep) -> Response:
    await trash_service.trash_task(session, task)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.patch("/{task_id}/complete", response_model=CompatTaskOut, responses=RESPONSES)
async def toggle_complete(
    task: PathTask,
    owner: PathUser,
    session: SessionDep,
    data: Annotated[CompatComplete | None, Body()] = None,
) -> CompatTaskOut:
    """With `{"completed": true|false}`, set that state (so a repeated call changes nothing);
    without a body, toggle, as the spec says."""
    completed = (not task.completed) if data is None else data.completed
    done: Task = await tasks_service.set_completed(session, task, completed)
    return CompatTaskOut.from_task(done, owner.user_id)
