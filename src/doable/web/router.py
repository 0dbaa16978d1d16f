"""Web pages and htmx fragments. Thin: every decision is made by the same services as the API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable
from datetime import datetime, time
from functools import cache
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from doable.auth import service as auth_service
from doable.auth.models import User
from doable.auth.schemas import MePatch, PasswordChangeIn, SignupIn
from doable.db import SessionDep
from doable.errors import DoableError, InvalidInput, NotFound, RateLimited
from doable.events import Credential
from doable.feeds import service as feeds_service
from doable.feeds.router import feed_url
from doable.feeds.schemas import FeedCreate
from doable.reminders import service as reminders_service
from doable.reminders import stream as reminders_stream
from doable.reminders.durations import format_duration
from doable.reminders.schemas import ReminderCreate
from doable.state import AppState, StateDep
from doable.tasks import quickadd
from doable.tasks import service as tasks_service
from doable.tasks.models import Task
from doable.tasks.schemas import QUICK_TEXT_MAX, Priority, TaskCreate, TaskPatch
from doable.web.dependencies import (
    CsrfToken,
    MaybeWebUser,
    WebUser,
    csrf_protect,
    safe_next,
)
from doable.web.security import SESSION_COOKIE
from doable.web.views import (
    base_context,
    delete_cookie,
    is_htmx,
    quick_preview,
    respond,
    set_cookie,
    sign_snapshot,
    task_view,
    verify_snapshot,
)
from doable.zones import time_zone_names, zone_of

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

DueFilter = Literal["overdue", "today", "week", "none"]
PAGE_SIZE = 50
FORM_FIELDS = {"title", "description", "priority", "due", "tags", "completed"}


def _errors(exc: ValidationError) -> dict[str, str]:
    """Pydantic errors as field -> first message, for showing next to each field."""
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if isinstance(p, str)]
        field = loc[0] if loc else "form"
        out.setdefault(field, str(err["msg"]).removeprefix("Value error, "))
    return out


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _start_session(
    request: Request, state: Any, session: Any, user: User, target: str
) -> Response:
    raw = await auth_service.create_web_session(
        session,
        state,
        user,
        user_agent=request.headers.get("user-agent", ""),
        ip=_client_ip(request),
    )
    response = _see_other(target)
    set_cookie(
        request,
        state,
        response,
        SESSION_COOKIE,
        raw,
        max_age=state.runtime.settings.session_days * 86400,
    )
    return response


# Entry and authentication pages


@router.get("/")
async def home(user: MaybeWebUser) -> Response:
    return _see_other("/tasks" if user else "/login")


@router.get("/login")
async def login_page(
    request: Request,
    state: StateDep,
    user: MaybeWebUser,
    csrf: CsrfToken,
    next: str | None = None,
) -> Response:
    if user is not None:
        return _see_other(safe_next(next))
    ctx = base_context(request, state, None) | {"next": safe_next(next), "errors": {}, "values": {}}
    return respond(request, state, "login.html", ctx)


@router.post("/login")
async def login_submit(
    request: Request,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    email: Annotated[str, Form(max_length=1000)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/tasks",
) -> Response:
    ctx = base_context(request, state, None) | {"next": safe_next(next), "values": {"email": email}}
    try:
        state.rate_limiter.check_ip(_client_ip(request))
        user = await auth_service.authenticate(session, state, email, password)
    except RateLimited as exc:
        ctx["errors"] = {"form": exc.detail}
        return respond(request, state, "login.html", ctx, status=429, headers=exc.headers)
    except DoableError:
        ctx["errors"] = {"form": "Email or password is incorrect"}
        return respond(request, state, "login.html", ctx, status=401)
    return await _start_session(request, state, session, user, safe_next(next))


@router.get("/signup")
async def signup_page(
    request: Request, state: StateDep, user: MaybeWebUser, csrf: CsrfToken
) -> Response:
    if user is not None:
        return _see_other("/tasks")
    ctx = base_context(request, state, None) | {"errors": {}, "values": {}}
    return respond(request, state, "signup.html", ctx)


@router.post("/signup")
async def signup_submit(
    request: Request,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    email: Annotated[str, Form(max_length=1000)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    name: Annotated[str, Form(max_length=1000)] = "",
    timezone: Annotated[str, Form(max_length=100)] = "UTC",
) -> Response:
    values = {"email": email, "name": name, "timezone": timezone}
    ctx = base_context(request, state, None) | {"values": values}
    if timezone not in _zone_set():  # a browser's odd guess must not block signing up
        timezone = "UTC"
    try:
        data = SignupIn(email=email, password=password, name=name, timezone=timezone)
    except ValidationError as exc:
        ctx["errors"] = _errors(exc)
        return respond(request, state, "signup.html", ctx, status=422)
    try:
        state.rate_limiter.check_ip(_client_ip(request))
        user = await auth_service.create_user(
            session,
            state,
            email=data.email,
            password=data.password,
            name=data.name,
            timezone=data.timezone,
        )
    except DoableError as exc:
        field = "email" if exc.status == 409 else "form"
        ctx["errors"] = {field: exc.detail}
        return respond(request, state, "signup.html", ctx, status=exc.status, headers=exc.headers)
    return await _start_session(request, state, session, user, "/tasks")


@router.post("/logout")
async def logout(request: Request, session: SessionDep, state: StateDep) -> Response:
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        await auth_service.revoke_web_session_token(session, raw)
    response = _see_other("/login")
    delete_cookie(request, state, response, SESSION_COOKIE)
    return response


@router.post("/logout-everywhere")
async def logout_everywhere(
    request: Request, user: WebUser, session: SessionDep, state: StateDep
) -> Response:
    await auth_service.sign_out_everywhere(session, user)
    response = _see_other("/login?signed_out=everywhere")
    delete_cookie(request, state, response, SESSION_COOKIE)
    return response


# The task list


class ListFilters(BaseModel):
    status: tasks_service.StatusFilter = "all"
    priority: list[Priority] = []
    tag: list[str] = []
    due: DueFilter | None = None
    q: str = ""
    sort: tasks_service.SortField = "created"

    def query_string(self, **changes: Any) -> str:
        data = self.model_dump() | changes
        pairs: list[tuple[str, str]] = []
        for key, value in data.items():
            if isinstance(value, list):
                pairs.extend((key, str(v)) for v in value)
            elif value not in (None, "", "all") and not (key == "sort" and value == "created"):
                pairs.append((key, str(value)))
        return urlencode(pairs)

    @property
    def active(self) -> bool:
        return bool(self.status != "all" or self.priority or self.tag or self.due or self.q)


async def list_filters(
    status: Annotated[tasks_service.StatusFilter, Query()] = "all",
    priority: Annotated[list[Priority] | None, Query()] = None,
    tag: Annotated[list[str] | None, Query(max_length=50)] = None,
    due: Annotated[DueFilter | None, Query()] = None,
    q: Annotated[str, Query(max_length=200)] = "",
    sort: Annotated[tasks_service.SortField, Query()] = "created",
) -> ListFilters:
    return ListFilters(
        status=status,
        priority=priority or [],
        tag=[t for t in (tag or []) if t.strip()],
        due=due,
        q=q.replace("\x00", "").strip(),
        sort=sort,
    )


Filters = Annotated[ListFilters, Depends(list_filters)]


# The sidebar's due filters are the API's `when` filters ("week" is `upcoming`, 7 days).
DUE_FILTERS: dict[str, tasks_service.WhenFilter] = {
    "overdue": "overdue",
    "today": "today",
    "week": "upcoming",
}


def _task_query(filters: ListFilters, cursor: str | None, now: datetime) -> tasks_service.TaskQuery:
    query = tasks_service.TaskQuery(
        status=filters.status,
        q=filters.q or None,
        priority=list(filters.priority),
        tag=list(filters.tag),
        sort=filters.sort,
        limit=PAGE_SIZE,
        cursor=cursor,
        now=now,
    )
    if filters.due == "none":
        query.has_due = False
    elif filters.due is not None:
        query.when = DUE_FILTERS[filters.due]
    return query


async def _page_context(
    request: Request,
    state: Any,
    session: Any,
    user: User,
    filters: ListFilters,
    cursor: str | None = None,
) -> dict[str, Any]:
    now = state.clock()
    tasks, next_cursor = await tasks_service.list_tasks(
        session, user, _task_query(filters, cursor, now), cursor_key=state.runtime.secret_key
    )
    counts = await tasks_service.count_tasks(session, user, now=now)
    tags = await tasks_service.list_tags(session, user.id)
    today = tasks_service.today_of(user, now)
    return base_context(request, state, user) | {
        "tasks": [task_view(t, user, today) for t in tasks],
        "next_cursor": next_cursor,
        "counts": counts,
        "tags": tags,
        "filters": filters,
        "errors": {},
        "values": {},
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
    ctx = await _page_context(request, state, session, user, filters, cursor)
    if is_htmx(request):
        target = request.headers.get("hx-target", "")
        if cursor:
            return respond(request, state, "tasks.html", ctx, blocks=["more"])
        if target == "list-region":
            return respond(request, state, "tasks.html", ctx, blocks=["list_region", "counts_oob"])
        return respond(request, state, "tasks.html", ctx, blocks=["app_region"])
    return respond(request, state, "tasks.html", ctx)


def _form_task_fields(form: dict[str, str], user: User, now: datetime) -> dict[str, Any]:
    """Form fields as a task body: due from a date and an optional time, tags comma-separated."""
    body: dict[str, Any] = {}
    for key in ("title", "description", "priority"):
        if key in form:
            body[key] = form[key]
    if "due_date" in form or "due_time" in form:
        body["due"] = _form_due(form.get("due_date", ""), form.get("due_time", ""), user, now)
    if "tags" in form:
        body["tags"] = [t.strip() for t in form["tags"].split(",") if t.strip()]
    if "repeat" in form:
        rule = form["repeat"].strip()
        mode = form.get("repeat_mode", "from_due")
        body["recurrence"] = {"rule": rule, "mode": mode} if rule else None
    return body


def _form_due(day: str, clock: str, user: User, now: datetime) -> str | None:
    """The due of a date field and a time field. A time without a date is today if that moment
    is still ahead in the user's zone, else tomorrow (as Todoist does); never dropped."""
    day, clock = day.strip(), clock.strip()
    if clock and not day:
        try:
            at = time.fromisoformat(clock)
        except ValueError:
            return clock  # not a time: validation answers for the due field
        day = tasks_service.due_day_for_time(at, user, now).isoformat()
    if not day:
        return None
    return f"{day}T{clock}" if clock else day


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


def _counts_oob(ctx: dict[str, Any]) -> list[str]:
    return ["counts_oob"] if "counts" in ctx else []


@router.post("/tasks")
async def create_task(
    request: Request, user: WebUser, session: SessionDep, state: StateDep, csrf: CsrfToken
) -> Response:
    form = await _form(request)
    body = _form_task_fields(form, user, state.clock())
    ctx = base_context(request, state, user) | {"values": form, "errors": {}}
    data = None
    try:
        data = TaskCreate.model_validate(body)
    except ValidationError as exc:
        ctx["errors"] = _errors(exc)
    return await _add_answer(request, state, session, user, form, ctx, data)


def _quick_body(
    form: dict[str, str], user: User, now: datetime
) -> tuple[dict[str, Any], str | None]:
    """The task body for the quick-add box: its text read by the quick-add parser, then the
    "Priority, due date, tags" fields on top (a priority or due date given there wins; tags
    add up; a time alone goes on the text's date if it has one). Also the error to show on
    the text field, if any."""
    text = form.get("title", "")
    if len(text) > QUICK_TEXT_MAX:
        return {}, f"String should have at most {QUICK_TEXT_MAX} characters"
    zone = zone_of(user.timezone)
    parsed = quickadd.parse(text, zone=zone, now=now)
    body = quickadd.create_body(parsed)
    explicit = _form_task_fields({k: v for k, v in form.items() if k != "title"}, user, now)
    if explicit.get("priority", "none") != "none":
        body["priority"] = explicit["priority"]
    clock = form.get("due_time", "").strip()
    if clock and not form.get("due_date", "").strip() and parsed.due is not None:
        due = parsed.due
        day = due.astimezone(zone).date() if isinstance(due, datetime) else due
        body["due"] = f"{day.isoformat()}T{clock}"
    elif explicit.get("due"):
        body["due"] = explicit["due"]
    body["tags"] = [*body["tags"], *explicit.get("tags", [])]
    if explicit.get("description"):
        body["description"] = explicit["description"]
    if not text.strip():
        return body, "String should have at least 1 character"
    if not parsed.title:
        return body, quickadd.NO_TITLE
    return body, None


@router.post("/tasks/quick")
async def quick_add(
    request: Request, user: WebUser, session: SessionDep, state: StateDep, csrf: CsrfToken
) -> Response:
    """The quick-add box: the same as POST /tasks, with the text read for dates, tags and the
    rest. Without JavaScript it is a plain form post answered with a redirect."""
    form = await _form(request)
    body, text_error = _quick_body(form, user, state.clock())
    ctx = base_context(request, state, user) | {"values": form, "errors": {}}
    data = None
    if text_error:
        ctx["errors"] = {"title": text_error}
    else:
        try:
            data = TaskCreate.model_validate(body)
        except ValidationError as exc:
            ctx["errors"] = _errors(exc)
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
            page = await _page_context(request, state, session, user, ListFilters())
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
        return _see_other("/tasks")
    ctx["task"] = task_view(task, user, _today(state, user))
    ctx["counts"] = await tasks_service.count_tasks(session, user, now=state.clock())
    return respond(
        request,
        state,
        "tasks.html",
        ctx,
        blocks=["item", "counts_oob", "empty_oob", "quick_add_oob"],
    )


@router.post("/tasks/preview")
async def quick_preview_fragment(
    request: Request, user: WebUser, state: StateDep, csrf: CsrfToken
) -> Response:
    """The live preview under the quick-add box (htmx, as the user types): the text with its
    recognised tokens marked, and the fields the task would get. Creates nothing."""
    form = await _form(request)
    text = form.get("title", "")[:QUICK_TEXT_MAX]
    preview = None
    if text.strip():
        zone = zone_of(user.timezone)
        preview = quick_preview(text, quickadd.parse(text, zone=zone, now=state.clock()), zone)
    ctx = base_context(request, state, user) | {"preview": preview}
    return respond(request, state, "tasks.html", ctx, blocks=["quick_preview"])


TaskId = Annotated[uuid.UUID, Path()]


def _today(state: Any, user: User) -> tasks_service.Today:
    return tasks_service.today_of(user, state.clock())


async def _owned(session: Any, user: User, task_id: uuid.UUID, request: Request) -> Task:
    return await tasks_service.get_task(
        session, user.id, task_id, for_update=request.method == "POST"
    )


async def _item_response(
    request: Request, state: Any, session: Any, user: User, task: Task, *, status: int = 200
) -> Response:
    ctx = base_context(request, state, user) | {
        "task": task_view(task, user, _today(state, user)),
        "counts": await tasks_service.count_tasks(session, user, now=state.clock()),
    }
    return respond(request, state, "tasks.html", ctx, blocks=["item", "counts_oob"], status=status)


@router.get("/tasks/{task_id}")
async def task_item(
    request: Request,
    task_id: TaskId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    task = await _owned(session, user, task_id, request)
    if not is_htmx(request):
        return _see_other("/tasks")
    return await _item_response(request, state, session, user, task)


@router.post("/tasks/{task_id}/toggle")
async def toggle_task(
    request: Request,
    task_id: TaskId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    task = await _owned(session, user, task_id, request)
    task = await tasks_service.set_completed(session, task, not task.completed)
    if not is_htmx(request):
        return _see_other("/tasks")
    return await _item_response(request, state, session, user, task)


@router.get("/tasks/{task_id}/edit")
async def edit_form(
    request: Request,
    task_id: TaskId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    task = await _owned(session, user, task_id, request)
    ctx = base_context(request, state, user) | {
        "task": task_view(task, user, _today(state, user)),
        "errors": {},
        "values": None,
    }
    if is_htmx(request):
        return respond(request, state, "tasks.html", ctx, blocks=["edit_item"])
    ctx["reminders"] = await _reminder_views(session, user, task)
    ctx["before_choices"] = BEFORE_CHOICES
    return respond(request, state, "edit.html", ctx)


# Reminders (on the edit page) and the live event stream

BEFORE_CHOICES = [
    ("PT0S", "At the due time"),
    ("PT5M", "5 minutes before"),
    ("PT15M", "15 minutes before"),
    ("PT30M", "30 minutes before"),
    ("PT1H", "1 hour before"),
    ("PT2H", "2 hours before"),
    ("P1D", "1 day before"),
    ("P2D", "2 days before"),
    ("P1W", "1 week before"),
]


async def _reminder_views(session: Any, user: User, task: Task) -> list[dict[str, str]]:
    zone = zone_of(user.timezone)
    labels = dict(BEFORE_CHOICES)
    out = []
    for r in await reminders_service.list_reminders(session, task):
        if r.kind == "absolute" and r.remind_at is not None:
            what = "At " + r.remind_at.astimezone(zone).strftime("%a %d %b %Y, %H:%M")
        else:
            before = format_duration(r.offset_seconds or 0)
            what = labels.get(before, f"{before} before") + " due"
        if r.fired_at is not None:
            state_label = "done"
        elif r.fire_at is None:
            state_label = "waits for a due date"
        else:
            state_label = r.fire_at.astimezone(zone).strftime("%a %d %b, %H:%M")
        out.append({"id": str(r.id), "what": what, "state": state_label})
    return out


@router.post("/tasks/{task_id}/reminders")
async def add_reminder(
    request: Request,
    task_id: TaskId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    task = await _owned(session, user, task_id, request)
    form = await _form(request)
    body = {"at": form["at"]} if form.get("at") else {"before": form.get("before", "")}
    error = None
    try:
        data = ReminderCreate.model_validate(body)
        await reminders_service.create_reminder(session, user, task, data, now=state.clock())
    except ValidationError as exc:
        error = next(iter(_errors(exc).values()), "Invalid reminder")
    except InvalidInput as exc:
        error = exc.detail
    if error is None:
        return _see_other(f"/tasks/{task.id}/edit")
    ctx = base_context(request, state, user) | {
        "task": task_view(task, user, _today(state, user)),
        "errors": {},
        "values": None,
        "reminders": await _reminder_views(session, user, task),
        "reminder_error": error,
        "before_choices": BEFORE_CHOICES,
    }
    return respond(request, state, "edit.html", ctx, status=422)


@router.post("/tasks/{task_id}/reminders/{reminder_id}/delete")
async def delete_reminder(
    request: Request,
    task_id: TaskId,
    reminder_id: Annotated[uuid.UUID, Path()],
    user: WebUser,
    session: SessionDep,
    csrf: CsrfToken,
) -> Response:
    task = await _owned(session, user, task_id, request)
    reminder = await reminders_service.get_reminder(session, task, reminder_id, for_update=True)
    await reminders_service.delete_reminder(session, reminder)
    return _see_other(f"/tasks/{task.id}/edit")


async def _web_subscription(request: Request, user: WebUser) -> Any:
    credential = Credential("web_session", request.state.web_session_id)
    return await reminders_stream.open_subscription(request.app.state.database, user.id, credential)


@router.get("/events", response_class=EventSourceResponse)
async def web_events(
    request: Request, sub: Annotated[Any, Depends(_web_subscription)]
) -> AsyncIterable[ServerSentEvent]:
    """The same stream as /api/v1/events, signed in by the session cookie (EventSource cannot
    send an Authorization header)."""
    async for item in reminders_stream.event_stream(request.app.state.database, sub):
        yield item


@router.post("/tasks/{task_id}")
async def save_edit(
    request: Request,
    task_id: TaskId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    task = await _owned(session, user, task_id, request)
    form = await _form(request)
    errors: dict[str, str] = {}
    try:
        patch = TaskPatch.model_validate(_form_task_fields(form, user, state.clock()))
        task = await tasks_service.update_task(session, user, task, patch)
    except ValidationError as exc:
        errors = _errors(exc)
    except InvalidInput as exc:
        # E.g. a rule that parses but never happens from the due. The service refuses it
        # before flushing, so detaching the half-changed task keeps it out of the commit.
        session.expunge(task)
        loc = [str(p) for p in exc.errors[0]["loc"]]
        errors = {loc[1] if len(loc) > 1 else "form": exc.detail}
    if errors:
        ctx = base_context(request, state, user) | {
            "task": task_view(task, user, _today(state, user)),
            "errors": errors,
            "values": form,
        }
        if is_htmx(request):
            return respond(request, state, "tasks.html", ctx, blocks=["edit_item"], status=422)
        return respond(request, state, "edit.html", ctx, status=422)
    if not is_htmx(request):
        return _see_other("/tasks")
    return await _item_response(request, state, session, user, task)


@router.post("/tasks/{task_id}/delete")
async def delete_task(
    request: Request,
    task_id: TaskId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    task = await _owned(session, user, task_id, request)
    snapshot = tasks_service.snapshot_of(task)
    title = task.title
    await tasks_service.delete_task(session, task)
    if not is_htmx(request):
        return _see_other("/tasks")
    ctx = base_context(request, state, user) | {
        "undo_token": sign_snapshot(state.runtime.secret_key, snapshot, str(user.id)),
        "deleted_title": title,
        "counts": await tasks_service.count_tasks(session, user, now=state.clock()),
    }
    return respond(request, state, "tasks.html", ctx, blocks=["deleted", "toast_oob", "counts_oob"])


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
        return _see_other("/tasks")
    return await _item_response(request, state, session, user, task)


# Account


@cache
def _zones() -> list[str]:
    return sorted(time_zone_names())


@cache
def _zone_set() -> frozenset[str]:
    return frozenset(_zones()) | {"UTC"}


async def _account_context(
    request: Request, state: Any, session: Any, user: User, **extra: Any
) -> dict[str, Any]:
    sessions = await auth_service.list_web_sessions(session, user.id)
    feeds = await feeds_service.list_feeds(session, user.id)
    return (
        base_context(request, state, user)
        | {
            "sessions": sessions,
            "feeds": feeds,
            "new_feed": None,
            "current_session": getattr(request.state, "web_session_id", None),
            "zones": _zones(),
            "errors": {},
            "notice": request.query_params.get("saved", ""),
        }
        | extra
    )


@router.get("/account")
async def account_page(
    request: Request, user: WebUser, session: SessionDep, state: StateDep, csrf: CsrfToken
) -> Response:
    return respond(
        request, state, "account.html", await _account_context(request, state, session, user)
    )


@router.post("/account")
async def account_save(
    request: Request,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    name: Annotated[str, Form(max_length=1000)] = "",
    timezone: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    try:
        patch = MePatch(name=name, timezone=timezone or None)
    except ValidationError as exc:
        ctx = await _account_context(request, state, session, user, errors=_errors(exc))
        return respond(request, state, "account.html", ctx, status=422)
    await auth_service.update_profile(session, user, patch)
    return _see_other("/account?saved=profile")


@router.post("/account/password")
async def account_password(
    request: Request,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    current_password: Annotated[str, Form(max_length=1000)] = "",
    new_password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        data = PasswordChangeIn(current_password=current_password, new_password=new_password)
        await auth_service.change_password(
            session, state, user, data.current_password, data.new_password
        )
    except ValidationError as exc:
        errors = {f"pw_{k}": v for k, v in _errors(exc).items()}
        ctx = await _account_context(request, state, session, user, errors=errors)
        return respond(request, state, "account.html", ctx, status=422)
    except DoableError as exc:
        ctx = await _account_context(
            request, state, session, user, errors={"pw_current_password": exc.detail}
        )
        return respond(request, state, "account.html", ctx, status=exc.status, headers=exc.headers)
    # Every session was revoked with the old password; this browser gets a fresh one.
    return await _start_session(request, state, session, user, "/account?saved=password")


@router.post("/account/sessions/{session_id}/revoke")
async def revoke_session(
    request: Request,
    session_id: Annotated[uuid.UUID, Path()],
    user: WebUser,
    session: SessionDep,
    state: StateDep,
) -> Response:
    if not await auth_service.revoke_web_session(session, user.id, session_id):
        raise NotFound("No session with this id")
    return _see_other("/account?saved=sessions")


@router.post("/account/delete")
async def account_delete(
    request: Request,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    password: Annotated[str, Form(max_length=1000)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    if confirm != "yes":
        ctx = await _account_context(
            request,
            state,
            session,
            user,
            errors={"delete": "Tick the box to confirm that everything will be deleted"},
        )
        return respond(request, state, "account.html", ctx, status=422)
    try:
        await auth_service.delete_account(session, state, user, password)
    except DoableError as exc:
        ctx = await _account_context(request, state, session, user, errors={"delete": exc.detail})
        return respond(request, state, "account.html", ctx, status=exc.status, headers=exc.headers)
    response = _see_other("/signup?deleted=1")
    delete_cookie(request, state, response, SESSION_COOKIE)
    return response


# Calendar feeds: the URL is shown once, in the answer to the form post itself (never in a
# redirect, whose Location would put the secret in the history and in Referer headers).


def _new_feed(request: Request, name: str, secret: str) -> dict[str, str]:
    url = feed_url(request, secret)
    return {"name": name, "url": url, "webcal": "webcal://" + url.split("://", 1)[1]}


@router.post("/account/feeds")
async def create_feed(
    request: Request,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    name: Annotated[str, Form(max_length=1000)] = "",
    kind: Annotated[str, Form(max_length=20)] = "vtodo",
    tag: Annotated[str, Form(max_length=1000)] = "",
    status: Annotated[str, Form(max_length=20)] = "open",
) -> Response:
    try:
        data = FeedCreate.model_validate(
            {"name": name, "kind": kind, "tag": tag.strip() or None, "status": status}
        )
        feed, secret = await feeds_service.create_feed(session, user, data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for field, message in _errors(exc).items():
            if field in {"name", "tag"}:
                errors[f"feed_{field}"] = message
            else:  # only a tampered form sends another kind or status
                errors.setdefault("feeds", f"{field}: {message}")
        ctx = await _account_context(request, state, session, user, errors=errors)
        return respond(request, state, "account.html", ctx, status=422)
    except DoableError as exc:
        ctx = await _account_context(request, state, session, user, errors={"feeds": exc.detail})
        return respond(request, state, "account.html", ctx, status=exc.status)
    ctx = await _account_context(
        request, state, session, user, new_feed=_new_feed(request, feed.name, secret)
    )
    return respond(request, state, "account.html", ctx, status=201)


@router.post("/account/feeds/{feed_id}/rotate")
async def rotate_feed(
    request: Request,
    feed_id: Annotated[uuid.UUID, Path()],
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    feed, secret = await feeds_service.rotate_feed(session, user.id, feed_id)
    ctx = await _account_context(
        request, state, session, user, new_feed=_new_feed(request, feed.name, secret)
    )
    return respond(request, state, "account.html", ctx)


@router.post("/account/feeds/{feed_id}/revoke")
async def revoke_feed(
    request: Request,
    feed_id: Annotated[uuid.UUID, Path()],
    user: WebUser,
    session: SessionDep,
) -> Response:
    await feeds_service.revoke_feed(session, user.id, feed_id)
    return _see_other("/account?saved=feed")
