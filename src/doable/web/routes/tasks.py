"""The task list page and a task's own routes: add (plain and quick), preview, toggle, edit,
delete and undo."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from doable.auth.models import User
from doable.db import SessionDep
from doable.errors import DoableError, InvalidInput, NotFound
from doable.projects import service as projects_service
from doable.projects.access import Role
from doable.projects.catalog import quick_add_catalog
from doable.projects.models import INBOX_NAME
from doable.state import AppState, StateDep
from doable.tasks import quickadd
from doable.tasks import service as tasks_service
from doable.tasks.models import Task
from doable.tasks.schemas import QUICK_TEXT_MAX, TaskCreate, TaskPatch
from doable.web.dependencies import CsrfToken, WebUser, safe_next
from doable.web.routes.forms import (
    TaskId,
    field_errors,
    form_task_fields,
    owned_task,
    quick_body,
    read_form,
    see_other,
    today_for,
)
from doable.web.routes.lists import Filters, ListFilters, page_context
from doable.web.routes.reminders import BEFORE_CHOICES, reminder_views
from doable.web.views import (
    base_context,
    is_htmx,
    quick_preview,
    respond,
    sign_snapshot,
    task_view,
    verify_snapshot,
)
from doable.zones import zone_of

router = APIRouter()
# Sent with every change to a task: a project page or a day view reloads its lists on it
# (subtask progress, order and sections depend on more than the one row that changed).
CHANGED = {"HX-Trigger": "doable-changed"}
Back = Annotated[str, Form(max_length=2000)]


async def item_response(
    request: Request, state: Any, session: Any, user: User, task: Task, *, status: int = 200
) -> Response:
    ctx = base_context(request, state, user) | {
        "task": task_view(task, user, today_for(state, user)),
        "counts": await tasks_service.count_tasks(session, user, now=state.clock()),
    }
    return respond(
        request,
        state,
        "tasks.html",
        ctx,
        blocks=["item", "counts_oob"],
        status=status,
        headers=CHANGED,
    )


@router.get("/tasks")
async def tasks_page(
    request: Request,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    filters: Filters,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    ctx = await page_context(request, state, session, user, filters, cursor)
    if is_htmx(request):
        target = request.headers.get("hx-target", "")
        if cursor:
            return respond(request, state, "tasks.html", ctx, blocks=["more"])
        if target == "list-region":
            blocks = ["list_region", "counts_oob", "projects_oob"]
            return respond(request, state, "tasks.html", ctx, blocks=blocks)
        return respond(request, state, "tasks.html", ctx, blocks=["app_region"])
    return respond(request, state, "tasks.html", ctx)


@router.post("/tasks")
async def create_task(
    request: Request, user: WebUser, session: SessionDep, state: StateDep, csrf: CsrfToken
) -> Response:
    form = await read_form(request)
    body = form_task_fields(form, user, state.clock())
    ctx = base_context(request, state, user) | {"values": form, "errors": {}}
    data = None
    try:
        data = TaskCreate.model_validate(body)
    except ValidationError as exc:
        ctx["errors"] = field_errors(exc)
    return await _add_answer(request, state, session, user, form, ctx, data)


@router.post("/tasks/quick")
async def quick_add(
    request: Request, user: WebUser, session: SessionDep, state: StateDep, csrf: CsrfToken
) -> Response:
    """The quick-add box: the same as POST /tasks, with the text read for dates, tags and the
    rest. Without JavaScript it is a plain form post answered with a redirect."""
    form = await read_form(request)
    catalog = await quick_add_catalog(session, user)
    body, text_error = quick_body(form, user, state.clock(), catalog)
    ctx = base_context(request, state, user) | {"values": form, "errors": {}}
    data = None
    if text_error:
        ctx["errors"] = {"title": text_error}
    else:
        try:
            data = TaskCreate.model_validate(body)
        except ValidationError as exc:
            ctx["errors"] = field_errors(exc)
    return await _add_answer(request, state, session, user, form, ctx, data)


async def _add_answer(
    request: Request,
    state: AppState,
    session: AsyncSession,
    user: User,
    form: dict[str, str],
    ctx: dict[str, Any],
    data: TaskCreate | None,
) -> Response:
    """What an add form (plain or quick) answers: the refused form with its errors (a page, or
    the box for htmx), or the new task's row with the counts and an empty box."""
    if data is None:
        if not is_htmx(request):
            page = await page_context(request, state, session, user, ListFilters())
            page.update(values=form, errors=ctx["errors"])
            return respond(request, state, "tasks.html", page, status=422)
        return respond(
            request,
            state,
            "tasks.html",
            ctx,
            blocks=["quick_add"],
            status=422,
            headers={"HX-Retarget": "#quick-add", "HX-Reswap": "outerHTML"},
        )
    task = await tasks_service.create_task(session, user, data)
    if not is_htmx(request):
        return see_other(safe_next(form.get("back")))
    ctx["task"] = task_view(task, user, today_for(state, user))
    ctx["counts"] = await tasks_service.count_tasks(session, user, now=state.clock())
    return respond(
        request,
        state,
        "tasks.html",
        ctx,
        blocks=["item", "counts_oob", "empty_oob", "quick_add_oob"],
        headers=CHANGED,
    )


@router.post("/tasks/preview")
async def quick_preview_fragment(
    request: Request, user: WebUser, session: SessionDep, state: StateDep, csrf: CsrfToken
) -> Response:
    """The live preview under the quick-add box (htmx, as the user types): the text with its
    recognised tokens marked, and the fields the task would get, with the project it lands in
    (the one the text names, else the page's, else the Inbox). Creates nothing."""
    form = await read_form(request)
    text = form.get("title", "")[:QUICK_TEXT_MAX]
    preview = None
    if text.strip():
        zone = zone_of(user.timezone)
        catalog = await quick_add_catalog(session, user)
        parsed = quickadd.parse(text, zone=zone, now=state.clock(), catalog=catalog)
        preview = quick_preview(text, parsed, zone, await _landing(session, user, form))
    ctx = base_context(request, state, user) | {"preview": preview}
    return respond(request, state, "tasks.html", ctx, blocks=["quick_preview"])


async def _landing(session: AsyncSession, user: User, form: dict[str, str]) -> str:
    """The name of the project an add box's task lands in when its text names none: the
    page's project (its hidden `project_id`), else the Inbox."""
    try:
        project_id = uuid.UUID(form.get("project_id", ""))
        return (await projects_service.get_project(session, user, project_id)).name
    except (ValueError, NotFound):
        return INBOX_NAME


@router.get("/tasks/{task_id}")
async def task_item(
    request: Request,
    task_id: TaskId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    task = await owned_task(session, user, task_id, request)
    if not is_htmx(request):
        return see_other("/tasks")
    return await item_response(request, state, session, user, task)


@router.post("/tasks/{task_id}/toggle")
async def toggle_task(
    request: Request,
    task_id: TaskId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    back: Back = "/tasks",
) -> Response:
    task = await owned_task(session, user, task_id, request)
    task = await tasks_service.set_completed(session, task, not task.completed)
    if not is_htmx(request):
        return see_other(safe_next(back))
    return await item_response(request, state, session, user, task)


@router.get("/tasks/{task_id}/edit")
async def edit_form(
    request: Request,
    task_id: TaskId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    # The form is for changing the task: a viewer of its project gets 403, not a form whose
    # saving would be refused.
    task = await tasks_service.get_task(session, user, task_id, need=Role.EDITOR)
    ctx = base_context(request, state, user) | {
        "task": task_view(task, user, today_for(state, user)),
        "errors": {},
        "values": None,
    }
    if is_htmx(request):
        return respond(request, state, "tasks.html", ctx, blocks=["edit_item"])
    ctx["reminders"] = await reminder_views(session, user, task)
    ctx["before_choices"] = BEFORE_CHOICES
    return respond(request, state, "edit.html", ctx)


@router.post("/tasks/{task_id}")
async def save_edit(
    request: Request,
    task_id: TaskId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    task = await owned_task(session, user, task_id, request)
    form = await read_form(request)
    errors: dict[str, str] = {}
    try:
        patch = TaskPatch.model_validate(form_task_fields(form, user, state.clock()))
        task = await tasks_service.update_task(session, user, task, patch)
    except ValidationError as exc:
        errors = field_errors(exc)
    except InvalidInput as exc:
        # E.g. a rule that parses but never happens from the due. The service refuses it
        # before flushing, so detaching the half-changed task keeps it out of the commit.
        session.expunge(task)
        loc = [str(p) for p in exc.errors[0]["loc"]]
        errors = {loc[1] if len(loc) > 1 else "form": exc.detail}
    if errors:
        ctx = base_context(request, state, user) | {
            "task": task_view(task, user, today_for(state, user)),
            "errors": errors,
            "values": form,
        }
        if is_htmx(request):
            return respond(request, state, "tasks.html", ctx, blocks=["edit_item"], status=422)
        return respond(request, state, "edit.html", ctx, status=422)
    if not is_htmx(request):
        return see_other("/tasks")
    return await item_response(request, state, session, user, task)


@router.post("/tasks/{task_id}/delete")
async def delete_task(
    request: Request,
    task_id: TaskId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    back: Back = "/tasks",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    task = await owned_task(session, user, task_id, request)
    if confirm != "yes" and (await tasks_service.read_task(session, user, task.id)).subtasks_total:
        # A parent takes its subtasks with it: only after the confirmation page.
        url = f"/tasks/{task.id}/delete?back={quote(safe_next(back), safe='')}"
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": url})
        return see_other(url)
    snapshot = tasks_service.snapshot_of(task)
    title = task.title
    await tasks_service.delete_task(session, task)
    if not is_htmx(request):
        return see_other(safe_next(back))
    ctx = base_context(request, state, user) | {
        "undo_token": sign_snapshot(state.runtime.secret_key, snapshot, str(user.id)),
        "deleted_title": title,
        "counts": await tasks_service.count_tasks(session, user, now=state.clock()),
    }
    blocks = ["deleted", "toast_oob", "counts_oob"]
    return respond(request, state, "tasks.html", ctx, blocks=blocks, headers=CHANGED)


@router.get("/tasks/{task_id}/delete")
async def confirm_delete_task(
    request: Request,
    task_id: TaskId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    back: Annotated[str, Query(max_length=2000)] = "/tasks",
) -> Response:
    """Deleting a task with subtasks asks first: they all go with it, without an undo."""
    task = await tasks_service.read_task(session, user, task_id)
    ctx = base_context(request, state, user) | {
        "what": f"the task “{task.title}”",
        "detail": f"Its subtasks go too ({task.subtasks_total} directly under it, and theirs).",
        "action": f"/tasks/{task.id}/delete",
        "cancel": safe_next(back),
        "back": safe_next(back),
        "inbox": False,
    }
    return respond(request, state, "confirm.html", ctx)


@router.post("/undo")
async def restore_task(
    request: Request,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    undo: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    snapshot = verify_snapshot(state.runtime.secret_key, undo, str(user.id))
    if snapshot is None:
        raise DoableError("This undo has expired")
    task = await tasks_service.restore_task(session, user, snapshot)
    if not is_htmx(request):
        return see_other("/tasks")
    return await item_response(request, state, session, user, task)
