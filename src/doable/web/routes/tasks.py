"""The task list page and a task's own routes: add (plain and quick), preview, toggle, edit,
delete and undo."""

from __future__ import annotations

import contextlib
import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from doable.activity import service as activity_service
from doable.auth import preferences
from doable.auth.models import User
from doable.db import SessionDep
from doable.errors import DoableError, InvalidInput, NotFound
from doable.projects import access, invitations
from doable.projects import service as projects_service
from doable.projects.access import Role
from doable.projects.catalog import quick_add_catalog
from doable.projects.models import INBOX_NAME
from doable.reminders.schemas import ReminderCreate
from doable.state import AppState, StateDep
from doable.tasks import listing as task_listing
from doable.tasks import quickadd, quickservice
from doable.tasks import service as tasks_service
from doable.tasks import undo as completion_undo
from doable.tasks.models import Task
from doable.tasks.schemas import QUICK_TEXT_MAX, TaskCreate, TaskPatch
from doable.trash import service as trash_service
from doable.trash import undo as undo_service
from doable.trash.service import TrashItemNotFound
from doable.web.dependencies import CsrfToken, WebUser, area_router, safe_next
from doable.web.routes.comments import collab_context
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
from doable.web.routes.reminders import reminder_views, reminders_context
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

router = area_router()
# Sent with every change to a task: a project page or a day view reloads its lists on it
# (subtask progress, order and sections depend on more than the one row that changed).
CHANGED = {"HX-Trigger": "doable-changed"}
Back = Annotated[str, Form(max_length=2000)]


async def item_response(
    request: Request,
    state: Any,
    session: Any,
    user: User,
    task: Task,
    *,
    status: int = 200,
    toast: dict[str, str] | None = None,
) -> Response:
    ctx = base_context(request, state, user) | {
        "task": task_view(task, user, today_for(state, user)),
        "counts": await task_listing.count_tasks(session, user, now=state.clock()),
    }
    blocks = ["item", "counts_oob"]
    if toast:
        ctx |= toast
        blocks.append("toast_oob")
    return respond(request, state, "tasks.html", ctx, blocks=blocks, status=status, headers=CHANGED)


def undo_toast(
    state: AppState, user: User, action: dict[str, Any], message: str, *, target: str, swap: str
) -> dict[str, str]:
    """The context of an Undo toast: `action` signed for this user (see `undo`)."""
    return {
        "undo_token": sign_snapshot(state.runtime.secret_key, action, str(user.id)),
        "toast_message": message,
        "undo_target": target,
        "undo_swap": swap,
    }


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
    # A sort the request names is remembered for the next visit; none means the remembered one.
    if filters.sort_given:
        await preferences.remember(request.app.state.database, user, task_sort=filters.sort)
    else:
        filters.sort = preferences.of(user).task_sort
    ctx = await page_context(request, state, session, user, filters, cursor)
    ctx["invitations"] = await invitations.for_user(session, user, state.clock())
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
    body, text_error, reminder = quick_body(form, user, state.clock(), catalog)
    ctx = base_context(request, state, user) | {"values": form, "errors": {}}
    data = None
    if text_error:
        ctx["errors"] = {"title": text_error}
    else:
        try:
            data = TaskCreate.model_validate(body)
        except ValidationError as exc:
            ctx["errors"] = field_errors(exc)
    return await _add_answer(request, state, session, user, form, ctx, data, reminder)


async def _add_answer(
    request: Request,
    state: AppState,
    session: AsyncSession,
    user: User,
    form: dict[str, str],
    ctx: dict[str, Any],
    data: TaskCreate | None,
    reminder: ReminderCreate | None = None,
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
    task = await quickservice.create(session, user, data, reminder, now=state.clock())
    if not is_htmx(request):
        return see_other(safe_next(form.get("back")))
    ctx["task"] = task_view(task, user, today_for(state, user))
    ctx["counts"] = await task_listing.count_tasks(session, user, now=state.clock())
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
    completing = not task.completed
    was = completion_undo.before(task)
    task = await tasks_service.set_completed(session, task, completing)
    if not is_htmx(request):
        return see_other(safe_next(back))
    if not completing:
        return await item_response(request, state, session, user, task)
    # Feedback with an Undo: what happened ("… Next: Mon 7 Dec" for a repeating task).
    done = completion_undo.completed(task, was)
    message = f"Completed “{task.title}”."
    if done.rrule is not None and not task.completed:
        message += f" Next: {task_view(task, user, today_for(state, user)).due_label}."
    toast = undo_toast(
        state,
        user,
        {"a": "complete", "task": str(task.id), **done.to_json()},
        message,
        target=f"#task-{task.id}",
        swap="outerHTML",
    )
    return await item_response(request, state, session, user, task, toast=toast)


@router.post("/tasks/{task_id}/skip")
async def skip_occurrence(
    request: Request,
    task_id: TaskId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    back: Back = "/tasks",
) -> Response:
    """Move a repeating task to its next occurrence without completing this one."""
    task = await owned_task(session, user, task_id, request)
    task = await tasks_service.skip(session, user, task)
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
    comments: Annotated[
        str | None, Query(max_length=1000, description="The comment thread's next page")
    ] = None,
) -> Response:
    # The inline form is for changing the task: a viewer of its project gets 403 there, not a
    # form whose saving would be refused. The task's own page shows a viewer the task, their
    # reminders and the comments, without the form.
    if is_htmx(request):
        task = await tasks_service.get_task(session, user, task_id, need=Role.EDITOR)
    else:
        task = await tasks_service.get_task(session, user, task_id)
    ctx = base_context(request, state, user) | {
        "task": task_view(task, user, today_for(state, user)),
        "errors": {},
        "values": None,
    }
    ctx |= reminders_context(await reminder_views(session, user, task))
    if is_htmx(request):
        return respond(request, state, "tasks.html", ctx, blocks=["edit_item"])
    role = await access.role_in(
        session, user, project_id=task.project_id or task.id, owner_id=task.owner_id
    )
    ctx["read_only"] = role is None or not role.allows(Role.EDITOR)
    ctx["activity"], _ = await activity_service.task_activity(
        session, user, task.id, limit=20, cursor_key=state.runtime.secret_key
    )
    ctx |= await collab_context(session, state, user, task, comments)
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
    earlier = await undo_service.before(session, task)
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
            ctx |= reminders_context(await reminder_views(session, user, task))
            return respond(request, state, "tasks.html", ctx, blocks=["edit_item"], status=422)
        return respond(request, state, "edit.html", ctx, status=422)
    if not is_htmx(request):
        return see_other("/tasks")
    action = {"a": "edit", "task": str(task.id), "v": task.version, "s": earlier}
    toast = undo_toast(
        state, user, action, f"Saved “{task.title}”.", target=f"#task-{task.id}", swap="outerHTML"
    )
    return await item_response(request, state, session, user, task, toast=toast)


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
    title = task.title
    trashed = await trash_service.trash_task(session, task)
    if not is_htmx(request):
        return see_other(safe_next(back))
    action = {"a": "delete", "trash": str(trashed.id), "task": str(task_id)}
    ctx = base_context(request, state, user) | {
        "counts": await task_listing.count_tasks(session, user, now=state.clock()),
    }
    ctx |= undo_toast(
        state, user, action, f"Deleted “{title}”.", target="#task-list", swap="afterbegin"
    )
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
async def undo(
    request: Request,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    undo: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """Undo a delete (restore from the trash), an edit or a move (put the task back, unless
    someone changed it since: 409). The token is signed for this user and lives 60 s."""
    action = verify_snapshot(state.runtime.secret_key, undo, str(user.id))
    try:
        kind = action["a"] if action else None
        task_id = uuid.UUID(action["task"]) if action else None
    except (KeyError, TypeError, ValueError):
        kind = task_id = None
    if action is None or task_id is None or kind not in {"complete", "delete", "edit", "move"}:
        raise DoableError("This undo has expired")
    if kind == "complete":
        done = completion_undo.Completed.from_json(action)
        task = await owned_task(session, user, task_id, request)
        task = await completion_undo.undo_completion(session, task, done)
    elif kind == "delete":
        # Restored already (a second click): show it, if it is there.
        with contextlib.suppress(TrashItemNotFound, ValueError):
            await trash_service.restore(session, user, uuid.UUID(str(action.get("trash"))))
        task = await owned_task(session, user, task_id, request)
    else:
        try:
            version, earlier = int(action["v"]), dict(action["s"])
        except (KeyError, TypeError, ValueError):
            raise DoableError("This undo has expired") from None
        task = await undo_service.revert(session, user, task_id, version, earlier)
    if not is_htmx(request):
        return see_other("/tasks")
    if kind == "move":
        ctx = base_context(request, state, user) | {"announcement": f"Moved “{task.title}” back."}
        return respond(
            request, state, "project.html", ctx, blocks=["announce_oob"], headers=CHANGED
        )
    return await item_response(request, state, session, user, task)
