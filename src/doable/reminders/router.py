"""/api/v1/tasks/{id}/reminders, /api/v1/notifications and /api/v1/events: thin routes."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import StringConstraints
from starlette.responses import StreamingResponse

from doable import events
from doable.auth.dependencies import CurrentUser, require_scope, require_scope_by_method
from doable.auth.service import Principal
from doable.db import SessionDep, release_connection, utcnow
from doable.idempotency.route import IdempotentRoute
from doable.reminders import service, stream
from doable.reminders.schemas import (
    NotificationOut,
    NotificationPage,
    ReadAllOut,
    ReminderCreate,
    ReminderOut,
    SnoozeIn,
    SnoozeOut,
)
from doable.routing import API_PREFIX
from doable.state import StateDep
from doable.tasks.dependencies import VisibleTask
from doable.types import NoNulStr

# Reminders and notifications belong to tasks: tasks:read to read them, tasks:write to change
# them (marking a notification read included). POSTs honour Idempotency-Key.
_SCOPES = [Depends(require_scope_by_method("tasks:read", "tasks:write"))]
reminders_router = APIRouter(
    prefix=f"{API_PREFIX}/tasks",
    tags=["reminders"],
    dependencies=_SCOPES,
    route_class=IdempotentRoute,
)
notifications_router = APIRouter(
    prefix=f"{API_PREFIX}/notifications",
    tags=["notifications"],
    dependencies=_SCOPES,
    route_class=IdempotentRoute,
)
events_router = APIRouter(prefix=API_PREFIX, tags=["events"])

COMMON: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated"},
    403: {"description": "An API token without the scope this route needs"},
    404: {"description": "Not found (also for another user's object)"},
}
CursorParam = Annotated[NoNulStr, StringConstraints(max_length=1000)]


@reminders_router.get("/{task_id}/reminders", response_model=list[ReminderOut], responses=COMMON)
async def list_reminders(
    task: VisibleTask, user: CurrentUser, session: SessionDep
) -> list[ReminderOut]:
    """Your reminders on the task (each member of a shared project sets their own)."""
    reminders = await service.list_reminders(session, user, task)
    return [ReminderOut.from_reminder(r) for r in reminders]


@reminders_router.post(
    "/{task_id}/reminders",
    status_code=status.HTTP_201_CREATED,
    response_model=ReminderOut,
    responses={**COMMON, 422: {"description": "Bad input, a time in the past, or 10 already"}},
)
async def create_reminder(
    data: ReminderCreate, task: VisibleTask, user: CurrentUser, session: SessionDep
) -> ReminderOut:
    reminder = await service.create_reminder(session, user, task, data, now=utcnow())
    return ReminderOut.from_reminder(reminder)


@reminders_router.delete(
    "/{task_id}/reminders/{reminder_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=COMMON,
)
async def delete_reminder(
    task: VisibleTask,
    user: CurrentUser,
    session: SessionDep,
    reminder_id: Annotated[uuid.UUID, Path(description="Reminder id")],
) -> Response:
    reminder = await service.get_reminder(session, user, task, reminder_id, for_update=True)
    await service.delete_reminder(session, reminder)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@notifications_router.get("", response_model=NotificationPage, responses=COMMON)
async def list_notifications(
    user: CurrentUser,
    session: SessionDep,
    state: StateDep,
    unread: Annotated[bool | None, Query(description="true: only unread; false: only read")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[
        CursorParam | None, Query(description="next_cursor of the previous page")
    ] = None,
) -> NotificationPage:
    rows, next_cursor = await service.list_notifications(
        session,
        user.id,
        unread=unread,
        limit=limit,
        cursor=cursor,
        cursor_key=state.runtime.secret_key,
    )
    return NotificationPage(
        items=[NotificationOut.from_row(n) for n in rows],
        next_cursor=next_cursor,
        unread_count=await service.unread_count(session, user.id),
    )


@notifications_router.post(
    "/{notification_id}/read", response_model=NotificationOut, responses=COMMON
)
async def read_notification(
    user: CurrentUser,
    session: SessionDep,
    notification_id: Annotated[uuid.UUID, Path(description="Notification id")],
) -> NotificationOut:
    n = await service.mark_read(session, user.id, notification_id, now=utcnow())
    return NotificationOut.from_row(n)


@notifications_router.post("/read-all", response_model=ReadAllOut, responses=COMMON)
async def read_all_notifications(user: CurrentUser, session: SessionDep) -> ReadAllOut:
    return ReadAllOut(marked=await service.mark_all_read(session, user.id, now=utcnow()))


@notifications_router.post(
    "/{notification_id}/snooze",
    response_model=SnoozeOut,
    responses={**COMMON, 404: {"description": "No such notification, or its reminder is gone"}},
)
async def snooze_notification(
    data: SnoozeIn,
    user: CurrentUser,
    session: SessionDep,
    notification_id: Annotated[uuid.UUID, Path(description="Notification id")],
) -> SnoozeOut:
    """Fire the notification's reminder again later (and mark the notification read)."""
    n, reminder = await service.snooze(session, user.id, notification_id, data.preset, now=utcnow())
    return SnoozeOut(
        notification=NotificationOut.from_row(n), reminder=ReminderOut.from_reminder(reminder)
    )


async def api_subscription(
    request: Request,
    principal: Annotated[Principal, Depends(require_scope("tasks:read"))],
    me: CurrentUser,
    session: SessionDep,
) -> events.Subscription:
    await release_connection(session)
    return await stream.open_subscription(request.app.state.database, me.id, principal.credential)


Subscription = Annotated[events.Subscription, Depends(api_subscription)]


@events_router.get(
    "/events",
    response_class=stream.EventStreamResponse,
    responses={
        **COMMON,
        200: {
            "description": "Server-Sent Events: `ready` once, then `notification` (data: a"
            " notification, id: its id), `task` (data: action, id, version, project_id:"
            " a task of the caller's or of a project shared with them) and `membership`"
            " (data: action `added` or `removed`, project_id: a project was shared with"
            " the caller, or they lost it; its task events stop at once) as they"
            " happen; a `: ping` comment every 15 s. The stream ends after 15 minutes and"
            " on shutdown, after a `reconnect` event whose `retry` says when to come back"
            " (EventSource reconnects by itself). `resync`: events may have been missed;"
            " fetch afresh.",
            "content": {"text/event-stream": {"itemSchema": stream.SSE_ITEM_SCHEMA}},
        },
        429: {"description": "Too many open streams for this account"},
    },
)
async def event_stream(request: Request, sub: Subscription) -> StreamingResponse:
    return stream.sse_response(stream.event_stream(request.app.state.database, sub))
