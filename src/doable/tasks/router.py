"""/api/v1/tasks and /api/v1/tags: thin routes over tasks.service."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from pydantic import AfterValidator, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from doable import fastjson
from doable.auth.dependencies import CurrentUser, require_scope, require_scope_by_method
from doable.auth.models import User
from doable.db import SessionDep, utcnow
from doable.errors import InvalidInput
from doable.idempotency.route import IdempotentRoute
from doable.planned import plannable
from doable.projects.catalog import quick_add_catalog
from doable.routing import API_PREFIX, path_for
from doable.state import StateDep
from doable.tasks import listing as task_listing
from doable.tasks import quickadd, quickservice, service, tags, tree
from doable.tasks.dependencies import OwnedTag, OwnedTask
from doable.tasks.models import Task
from doable.tasks.schemas import (
    CompletionOut,
    CompletionPage,
    DueIn,
    Priority,
    QuickAddIn,
    QuickParseOut,
    TagOut,
    TagPatch,
    TaskCreate,
    TaskOut,
    TaskPage,
    TaskPatch,
    TaskReplace,
    task_fields,
)
from doable.trash import service as trash_service
from doable.types import NoNulStr
from doable.zones import zone_of

# API tokens need tasks:read for GET and tasks:write for every other method (tags too);
# POSTs honour Idempotency-Key.
_TASK_SCOPES = [Depends(require_scope_by_method("tasks:read", "tasks:write"))]
tasks_router = APIRouter(
    prefix=f"{API_PREFIX}/tasks",
    tags=["tasks"],
    dependencies=_TASK_SCOPES,
    route_class=IdempotentRoute,
)
tags_router = APIRouter(
    prefix=f"{API_PREFIX}/tags",
    tags=["tags"],
    dependencies=_TASK_SCOPES,
    route_class=IdempotentRoute,
)
# POST /tasks/parse writes nothing, so tasks:read is enough, and there is nothing for an
# Idempotency-Key to replay. Included before tasks_router.
parse_router = APIRouter(
    prefix=f"{API_PREFIX}/tasks",
    tags=["tasks"],
    dependencies=[Depends(require_scope("tasks:read"))],
)

COMMON: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated"},
    403: {"description": "An API token without the scope this route needs"},
    404: {"description": "Not found (also for another user's object)"},
}
IfMatch = Annotated[
    str | None,
    Header(description="ETag from a previous read; a stale one gets 412", max_length=1000),
]
SearchText = Annotated[NoNulStr, StringConstraints(max_length=200), AfterValidator(str.strip)]
TagFilter = Annotated[NoNulStr, StringConstraints(min_length=1, max_length=50)]
CursorParam = Annotated[NoNulStr, StringConstraints(max_length=1000)]


@plannable
async def _well_formed_query(request: Request) -> None:
    """Refuse a query string that is not UTF-8 once decoded (Starlette would put U+FFFD in its
    place) and a repeated parameter that takes one value (FastAPI would keep the last)."""
    try:
        parse_qsl(request.scope["query_string"].decode("latin-1"), errors="strict")
    except UnicodeDecodeError:
        raise InvalidInput("The query string must be UTF-8", loc=["query"]) from None
    names = [name for name, _ in request.query_params.multi_items()]
    for name in dict.fromkeys(names):
        if names.count(name) > 1 and name not in REPEATABLE:
            raise InvalidInput(f"{name} may be given only once", loc=["query", name])


REPEATABLE = {"priority", "tag"}


def _with_etag(response: Response, task_out: TaskOut, version: int) -> TaskOut:
    response.headers["ETag"] = f'"{version}"'
    return task_out


async def _changed(session: SessionDep, response: Response, task: Task) -> TaskOut:
    """A changed task as the response shows it: with its ETag and its subtasks' progress."""
    progress = await tree.progress_of(session, task.id)
    return _with_etag(response, TaskOut.from_task(task, progress=progress), task.version)


@tasks_router.get(
    "", response_model=TaskPage, responses=COMMON, dependencies=[Depends(_well_formed_query)]
)
async def list_tasks(
    user: CurrentUser,
    session: SessionDep,
    state: StateDep,
    status_: Annotated[service.StatusFilter, Query(alias="status")] = "all",
    q: Annotated[SearchText | None, Query(description="Substring of title or description")] = None,
    # Bounded: each value adds a condition, and SQLite refuses an expression past depth 1000.
    priority: Annotated[list[Priority] | None, Query(max_length=5)] = None,
    tag: Annotated[
        list[TagFilter] | None, Query(description="Repeatable; all must match", max_length=30)
    ] = None,
    due_before: Annotated[DueIn, Query()] = None,
    due_after: Annotated[DueIn, Query()] = None,
    has_due: Annotated[
        bool | None, Query(description="true: only dated tasks; false: only undated")
    ] = None,
    when: Annotated[
        service.WhenFilter | None,
        Query(
            description="In your time zone: `today` (due today, or open and overdue),"
            " `overdue` (open, due before today), `upcoming` (due in the `days` days after"
            " today)"
        ),
    ] = None,
    days: Annotated[
        int | None,
        Query(
            ge=1,
            le=service.MAX_UPCOMING_DAYS,
            description="With `when=upcoming`: how many days after today (default 7)",
        ),
    ] = None,
    project_id: Annotated[
        uuid.UUID | None,
        Query(description="Only this project's tasks (archived projects' tasks show only so)"),
    ] = None,
    section_id: Annotated[
        uuid.UUID | Literal["none"] | None,
        Query(description="Only this section's tasks; `none`: tasks outside any section"),
    ] = None,
    parent_id: Annotated[
        uuid.UUID | Literal["none"] | None,
        Query(description="Only this task's direct subtasks; `none`: top-level tasks only"),
    ] = None,
    subtree: Annotated[
        uuid.UUID | None, Query(description="Every subtask below this task, at any depth")
    ] = None,
    assignee: Annotated[
        Literal["me", "none"] | uuid.UUID | None,
        Query(
            description="`me`: tasks assigned to you; `none`: unassigned tasks; a user id:"
            " tasks assigned to that person"
        ),
    ] = None,
    sort: Annotated[
        service.SortField | None,
        Query(
            description="Default: `position` (the manual order) with `project_id`, else `created`"
        ),
    ] = None,
    order: Annotated[
        service.Order | None,
        Query(description="Default: desc for created/updated/priority, asc for due/title/position"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        CursorParam | None, Query(description="next_cursor of the previous page")
    ] = None,
) -> Response:
    if days is not None and when != "upcoming":
        raise InvalidInput("days applies only to when=upcoming", loc=["query", "days"])
    # Inside a project (one of its sections, one task's subtasks) the manual order comes first.
    in_a_list = any(isinstance(x, uuid.UUID) for x in (project_id, section_id, parent_id))
    query = task_listing.TaskQuery(
        status=status_,
        q=q or None,
        priority=list(priority or []),
        tag=list(tag or []),
        due_before=due_before,
        due_after=due_after,
        has_due=has_due,
        when=when,
        days=days or service.UPCOMING_DAYS,
        now=state.clock(),
        sort=sort or ("position" if in_a_list else "created"),
        order=order,
        limit=limit,
        cursor=cursor,
        project_id=project_id,
        section_id=section_id,
        parent_id=parent_id,
        subtree=subtree,
        assignee=user.id if assignee == "me" else assignee,
    )
    tasks, next_cursor = await task_listing.list_tasks(
        session, user, query, cursor_key=state.runtime.secret_key
    )
    # Written as TaskPage would write it, without validating 50 models (doable.fastjson).
    return Response(TaskPage.json_of(tasks, next_cursor), media_type="application/json")


@tasks_router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=TaskOut, responses=COMMON
)
async def create_task(
    data: TaskCreate, user: CurrentUser, session: SessionDep, request: Request, response: Response
) -> TaskOut:
    task = await service.create_task(session, user, data)
    response.headers["Location"] = path_for(request, "get_task", task_id=str(task.id))
    return _with_etag(response, TaskOut.from_task(task), task.version)


# The one-segment task routes match only a UUID (`{task_id:uuid}`), so that another method on
# /tasks/parse or /tasks/quick answers 405 instead of reaching them as a malformed id (422).


async def _quick_parse(text: str, user: User, session: AsyncSession) -> quickadd.QuickParse:
    catalog = await quick_add_catalog(session, user)
    return quickadd.parse(text, zone=zone_of(user.timezone), now=utcnow(), catalog=catalog)


@parse_router.post("/parse", response_model=QuickParseOut, responses=COMMON)
async def parse_quick_add(
    data: QuickAddIn, user: CurrentUser, session: SessionDep
) -> QuickParseOut:
    """Read quick-add text into task fields, in your time zone, without creating anything:
    with the project (#Name, else the Inbox) and section (/Name) the task would go to."""
    return quickadd.parse_out(await _quick_parse(data.text, user, session))


@tasks_router.post(
    "/quick", status_code=status.HTTP_201_CREATED, response_model=TaskOut, responses=COMMON
)
async def quick_add_task(
    data: QuickAddIn, user: CurrentUser, session: SessionDep, request: Request, response: Response
) -> TaskOut:
    """Create a task from quick-add text (what POST /tasks/parse shows), with the reminder a
    `remind …` phrase asks for, in one transaction. 422 when the text has no title left once
    its dates, tags and other tokens are taken out, or its reminder's time is past."""
    parsed = await _quick_parse(data.text, user, session)
    task = await quickservice.create(
        session,
        user,
        quickadd.task_create(parsed),
        quickadd.reminder_create(parsed),
        now=utcnow(),
    )
    response.headers["Location"] = path_for(request, "get_task", task_id=str(task.id))
    return _with_etag(response, TaskOut.from_task(task), task.version)


@tasks_router.get("/{task_id:uuid}", response_model=TaskOut, responses=COMMON)
async def get_task(
    task_id: Annotated[uuid.UUID, Path(description="Task id")],
    user: CurrentUser,
    session: SessionDep,
) -> Response:
    task = await service.read_task(session, user, task_id)
    # Written as TaskOut would write it, without validating the model (doable.fastjson).
    return fastjson.response(task_fields(task), headers={"ETag": f'"{task.version}"'})


@tasks_router.patch(
    "/{task_id:uuid}",
    response_model=TaskOut,
    responses={**COMMON, 412: {"description": "Stale If-Match"}},
)
async def update_task(
    data: TaskPatch,
    task: OwnedTask,
    user: CurrentUser,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> TaskOut:
    service.check_if_match(task, if_match)
    task = await service.update_task(session, user, task, data)
    return await _changed(session, response, task)


@tasks_router.put(
    "/{task_id:uuid}",
    response_model=TaskOut,
    responses={**COMMON, 412: {"description": "Stale If-Match"}},
)
async def replace_task(
    data: TaskReplace,
    task: OwnedTask,
    user: CurrentUser,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> TaskOut:
    service.check_if_match(task, if_match)
    task = await service.replace_task(session, user, task, data)
    return await _changed(session, response, task)


@tasks_router.delete("/{task_id:uuid}", status_code=status.HTTP_204_NO_CONTENT, responses=COMMON)
async def delete_task(task: OwnedTask, session: SessionDep, if_match: IfMatch = None) -> Response:
    service.check_if_match(task, if_match)
    await trash_service.trash_task(session, task)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@tasks_router.post("/{task_id}/complete", response_model=TaskOut, responses=COMMON)
async def complete_task(task: OwnedTask, session: SessionDep, response: Response) -> TaskOut:
    task = await service.set_completed(session, task, True)
    return await _changed(session, response, task)


@tasks_router.post("/{task_id}/reopen", response_model=TaskOut, responses=COMMON)
async def reopen_task(task: OwnedTask, session: SessionDep, response: Response) -> TaskOut:
    task = await service.set_completed(session, task, False)
    return await _changed(session, response, task)


@tasks_router.post(
    "/{task_id}/skip",
    response_model=TaskOut,
    responses={**COMMON, 409: {"description": "The task does not repeat, or its series ended"}},
)
async def skip_task(
    task: OwnedTask, user: CurrentUser, session: SessionDep, response: Response
) -> TaskOut:
    """Move a recurring task to its next occurrence without recording a completion."""
    task = await service.skip(session, user, task)
    return await _changed(session, response, task)


@tasks_router.get(
    "/{task_id}/completions",
    response_model=CompletionPage,
    responses=COMMON,
    dependencies=[Depends(_well_formed_query)],
)
async def list_completions(
    task: OwnedTask,
    session: SessionDep,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        CursorParam | None, Query(description="next_cursor of the previous page")
    ] = None,
) -> CompletionPage:
    """The task's completed occurrences, newest first."""
    rows, next_cursor = await service.list_completions(
        session, task, limit=limit, cursor=cursor, cursor_key=state.runtime.secret_key
    )
    return CompletionPage(items=[CompletionOut.from_row(r) for r in rows], next_cursor=next_cursor)


@tags_router.get("", response_model=list[TagOut], responses=COMMON)
async def list_tags(user: CurrentUser, session: SessionDep) -> list[TagOut]:
    return await tags.list_tags(session, user.id)


@tags_router.patch("/{tag_id}", response_model=TagOut, responses=COMMON)
async def update_tag(data: TagPatch, tag: OwnedTag, session: SessionDep) -> TagOut:
    return await tags.update_tag(session, tag, data)


@tags_router.delete("/{tag_id}", status_code=status.HTTP_204_NO_CONTENT, responses=COMMON)
async def delete_tag(tag: OwnedTag, session: SessionDep) -> Response:
    await tags.delete_tag(session, tag)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
