"""The notification inbox: the list, the header bell's count, mark read, and snooze."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Path, Query, Request
from fastapi.responses import Response

from doable.db import SessionDep
from doable.errors import InvalidInput
from doable.reminders import service as reminders_service
from doable.reminders.models import Notification
from doable.state import StateDep
from doable.web.dependencies import CsrfToken, WebUser, area_router
from doable.web.routes.forms import read_form, see_other
from doable.web.views import base_context, respond
from doable.zones import Zone, zone_of

router = area_router()

NotificationId = Annotated[uuid.UUID, Path()]
SNOOZE_CHOICES = [("10m", "10 min"), ("1h", "1 hour"), ("tomorrow", "Tomorrow")]
PAGE_SIZE = 50


@dataclass(frozen=True)
class NotificationView:
    id: str
    title: str
    body: str
    fired: str
    fired_iso: str
    late: bool
    read: bool
    task_href: str
    snoozable: bool


def _view(n: Notification, zone: Zone) -> NotificationView:
    local = n.created_at.astimezone(zone)
    return NotificationView(
        id=str(n.id),
        title=n.title,
        body=n.body,
        fired=f"{local:%a} {local.day} {local:%b}, {local:%H:%M}",
        fired_iso=local.isoformat(timespec="minutes"),
        late=n.late,
        read=n.read_at is not None,
        task_href=f"/tasks/{n.task_id}/edit" if n.task_id else "",
        snoozable=n.reminder_id is not None,
    )


@router.get("/notifications")
async def notifications_page(
    request: Request,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    notice: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    rows, next_cursor = await reminders_service.list_notifications(
        session,
        user.id,
        unread=None,
        limit=PAGE_SIZE,
        cursor=cursor or None,
        cursor_key=state.runtime.secret_key,
    )
    zone = zone_of(user.timezone)
    notices = {"read": "Marked read.", "all": "All marked read.", "snoozed": "Snoozed."}
    ctx = base_context(request, state, user) | {
        "items": [_view(n, zone) for n in rows],
        "next_cursor": next_cursor,
        "unread": await reminders_service.unread_count(session, user.id),
        "snooze_choices": SNOOZE_CHOICES,
        "notice": notices.get(notice or ""),
    }
    return respond(request, state, "notifications.html", ctx)


@router.get("/notifications/bell")
async def bell(request: Request, user: WebUser, session: SessionDep, state: StateDep) -> Response:
    """The header bell with the unread count (htmx asks once a page loads, and again on each
    notification event)."""
    ctx = base_context(request, state, user) | {
        "unread": await reminders_service.unread_count(session, user.id)
    }
    return respond(request, state, "notifications.html", ctx, blocks=["bell"])


@router.post("/notifications/read-all")
async def read_all(
    request: Request, user: WebUser, session: SessionDep, state: StateDep, csrf: CsrfToken
) -> Response:
    await reminders_service.mark_all_read(session, user.id, now=state.clock())
    return see_other("/notifications?notice=all")


@router.post("/notifications/{notification_id}/read")
async def read_one(
    request: Request,
    notification_id: NotificationId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    await reminders_service.mark_read(session, user.id, notification_id, now=state.clock())
    return see_other("/notifications?notice=read")


@router.post("/notifications/{notification_id}/snooze")
async def snooze(
    request: Request,
    notification_id: NotificationId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    form = await read_form(request)
    preset = form.get("preset", "")
    if preset not in reminders_service.SNOOZE_PRESETS:
        raise InvalidInput("Snooze for 10 min, 1 hour or until tomorrow", loc=["body", "preset"])
    await reminders_service.snooze(session, user.id, notification_id, preset, now=state.clock())
    return see_other("/notifications?notice=snoozed")
