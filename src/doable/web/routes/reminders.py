"""Reminders on a task's edit page, and the live event stream for open tabs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.responses import Response
from fastapi.sse import ServerSentEvent
from pydantic import ValidationError
from starlette.responses import StreamingResponse

from doable.auth.models import User
from doable.db import SessionDep, release_connection
from doable.errors import InvalidInput
from doable.events import Credential
from doable.notify import service as push_service
from doable.projects.access import Role
from doable.reminders import service as reminders_service
from doable.reminders import stream as reminders_stream
from doable.reminders import wording
from doable.reminders.schemas import ReminderCreate
from doable.state import StateDep
from doable.tasks.models import Task
from doable.web.dependencies import CsrfToken, WebUser, area_router
from doable.web.routes.forms import (
    TaskId,
    field_errors,
    owned_task,
    read_form,
    see_other,
    today_for,
)
from doable.web.views import base_context, is_htmx, respond, task_view
from doable.zones import zone_of

router = area_router()

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


async def reminder_views(session: Any, user: User, task: Task) -> list[dict[str, str]]:
    """Each reminder in words, in the user's zone: what it is ("30 minutes before the due
    time", "At 09:00 on Fri 11 Dec") and where it stands ("fires at 14:00 on Sat 12 Dec")."""
    zone = zone_of(user.timezone)
    today = datetime.now(zone).date()
    out = []
    for r in await reminders_service.list_reminders(session, user, task):
        if r.kind == "absolute" and r.remind_at is not None:
            what = wording.at(r.remind_at, zone, today=today)
        else:
            what = wording.before(r.offset_seconds or 0)
        if r.fired_at is not None:
            state_label = "past"  # fired, or passed over (reminders.service)
        elif r.fire_at is None:
            state_label = "waits until the task has a due date"
        elif r.kind == "absolute":
            state_label = "upcoming"
        else:
            state_label = "fires " + wording.at(r.fire_at, zone, today=today)
        out.append({"id": str(r.id), "what": wording.sentence(what), "state": state_label})
    return out


def reminders_context(reminders: list[dict[str, str]]) -> dict[str, Any]:
    """What the reminders section needs besides the task: for the edit forms' contexts."""
    return {"reminders": reminders, "before_choices": BEFORE_CHOICES}


def reminders_fragment(
    request: Request,
    state: Any,
    user: User,
    task: Task,
    reminders: list[dict[str, str]],
    *,
    error: str | None = None,
    error_on: str = "",
    value: str = "",
    focus: str = "",
) -> Response:
    """Just the task's reminders section, for htmx: swapped in place in the list's inline
    edit form or on the task's own page, so neither is left."""
    ctx = base_context(request, state, user) | reminders_context(reminders)
    ctx |= {
        "task": task,
        "reminder_error": error,
        "reminder_error_on": error_on,
        "reminder_value": value,
        "reminder_focus": focus,
    }
    status = 422 if error else 200
    return respond(request, state, "tasks.html", ctx, blocks=["reminders"], status=status)


@router.post("/tasks/{task_id}/reminders")
async def add_reminder(
    request: Request,
    task_id: TaskId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    task = await owned_task(session, user, task_id, request, need=Role.VIEWER)
    form = await read_form(request)
    error_on = "at" if form.get("at") else "before"
    value = str(form.get(error_on, ""))[:100]
    body = {"at": form["at"]} if form.get("at") else {"before": form.get("before", "")}
    error = None
    focus = f"reminder-{error_on}-{task.id}"
    try:
        data = ReminderCreate.model_validate(body)
        reminder = await reminders_service.create_reminder(
            session, user, task, data, now=state.clock()
        )
        focus = f"reminder-{reminder.id}"
    except ValidationError as exc:
        error = next(iter(field_errors(exc).values()), "Invalid reminder")
    except InvalidInput as exc:
        error = exc.detail
    if is_htmx(request):
        reminders = await reminder_views(session, user, task)
        return reminders_fragment(
            request, state, user, task, reminders,
            error=error, error_on=error_on, value=value, focus=focus,
        )  # fmt: skip
    if error is None:
        return see_other(f"/tasks/{task.id}/edit")
    ctx = base_context(request, state, user) | {
        "task": task_view(task, user, today_for(state, user)),
        "errors": {},
        "values": None,
        "reminder_error": error,
        "reminder_error_on": error_on,
        "reminder_value": value,
    }
    ctx |= reminders_context(await reminder_views(session, user, task))
    return respond(request, state, "edit.html", ctx, status=422)


@router.post("/tasks/{task_id}/reminders/{reminder_id}/delete")
async def delete_reminder(
    request: Request,
    task_id: TaskId,
    reminder_id: Annotated[uuid.UUID, Path()],
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    task = await owned_task(session, user, task_id, request, need=Role.VIEWER)
    reminder = await reminders_service.get_reminder(
        session, user, task, reminder_id, for_update=True
    )
    await reminders_service.delete_reminder(session, reminder)
    if is_htmx(request):
        reminders = await reminder_views(session, user, task)
        return reminders_fragment(
            request, state, user, task, reminders, focus=f"reminder-before-{task.id}"
        )
    return see_other(f"/tasks/{task.id}/edit")


async def _web_subscription(request: Request, user: WebUser, session: SessionDep) -> Any:
    await release_connection(session)
    credential = Credential("web_session", request.state.web_session_id)
    return await reminders_stream.open_subscription(request.app.state.database, user.id, credential)


@router.get("/events", response_class=reminders_stream.EventStreamResponse)
async def web_events(
    request: Request, sub: Annotated[Any, Depends(_web_subscription)]
) -> StreamingResponse:
    """The same stream as /api/v1/events, signed in by the session cookie (EventSource cannot
    send an Authorization header). With in-app pop-ups off (the account page's channels), a
    notification comes as `notification-quiet`: the bell counts it, no pop-up shows."""
    database = request.app.state.database
    async with database.read_sessions() as session:
        in_app = (await push_service.channels(session, sub.owner_id)).in_app

    async def items() -> AsyncIterator[ServerSentEvent]:
        async for item in reminders_stream.event_stream(database, sub):
            if not in_app and item.event == "notification":
                item = ServerSentEvent(event="notification-quiet", id=item.id, data=item.data)
            yield item

    return reminders_stream.sse_response(items())
