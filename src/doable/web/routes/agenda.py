"""Today and Upcoming: the user's open dated tasks grouped by day (tasks.agenda decides which)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from doable.auth.models import User
from doable.db import SessionDep
from doable.state import StateDep
from doable.tasks import agenda as agenda_service
from doable.web.dependencies import CsrfToken, WebUser, area_router
from doable.web.routes.lists import sidebar_context
from doable.web.views import (
    TaskView,
    base_context,
    day_heading,
    is_htmx,
    reminder_marks,
    respond,
    task_view,
)

router = area_router()


@dataclass(frozen=True)
class GroupView:
    label: str
    overdue: bool
    tasks: list[TaskView]


def _groups(agenda: agenda_service.Agenda, user: User) -> list[GroupView]:
    return [
        GroupView(
            label="Overdue" if group.day is None else day_heading(group.day, agenda.today.date),
            overdue=group.day is None,
            tasks=[task_view(t, user, agenda.today) for t in group.tasks],
        )
        for group in agenda.groups
    ]


async def _respond(
    request: Request,
    state: Any,
    session: Any,
    user: User,
    agenda: agenda_service.Agenda,
    **page: str,
) -> Response:
    ctx = base_context(request, state, user) | page
    ctx |= await sidebar_context(session, user, agenda.today.now)
    ctx |= {
        "groups": _groups(agenda, user),
        "truncated": agenda.truncated,
        "reminder_marks": await reminder_marks(
            session, user, [t.id for g in agenda.groups for t in g.tasks], agenda.today
        ),
        "errors": {},
        "values": {},
    }
    if is_htmx(request) and request.headers.get("hx-target") == "list-region":
        # An open tab refreshing after a change elsewhere (app.js).
        return respond(
            request, state, "agenda.html", ctx, blocks=["list_region", "counts_oob", "projects_oob"]
        )
    return respond(request, state, "agenda.html", ctx)


@router.get("/today")
async def today_page(
    request: Request, user: WebUser, session: SessionDep, state: StateDep, csrf: CsrfToken
) -> Response:
    agenda = await agenda_service.today_view(
        session, user, now=state.clock(), cursor_key=state.runtime.secret_key
    )
    return await _respond(
        request,
        state,
        session,
        user,
        agenda,
        view="today",
        heading="Today",
        empty_heading="Nothing due today",
        empty_text="Tasks due today, and open tasks past their due day, show here.",
        more_href="/tasks?due=today&status=pending&sort=due",
    )


@router.get("/upcoming")
async def upcoming_page(
    request: Request, user: WebUser, session: SessionDep, state: StateDep, csrf: CsrfToken
) -> Response:
    agenda = await agenda_service.upcoming_view(
        session, user, now=state.clock(), cursor_key=state.runtime.secret_key
    )
    return await _respond(
        request,
        state,
        session,
        user,
        agenda,
        view="upcoming",
        heading="Upcoming",
        empty_heading="Nothing in the next 14 days",
        empty_text="Open tasks due in the 14 days after today show here, by day.",
        more_href="/tasks?due=week&status=pending&sort=due",
    )
