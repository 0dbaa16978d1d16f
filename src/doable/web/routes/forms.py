"""Helpers every web page shares: reading forms into task bodies, errors by field, redirects,
starting a browser session, and loading the signed-in user's task."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from functools import cache
from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from doable.auth import service as auth_service
from doable.auth.models import User
from doable.errors import InvalidInput
from doable.projects.access import Role
from doable.reminders.schemas import ReminderCreate
from doable.tasks import listing as task_listing
from doable.tasks import quickadd, rulewords
from doable.tasks import service as tasks_service
from doable.tasks.models import Task
from doable.tasks.quickplaces import Catalog
from doable.tasks.schemas import QUICK_TEXT_MAX
from doable.web import messages
from doable.web.security import SESSION_COOKIE
from doable.web.views import set_cookie
from doable.zones import time_zone_names, zone_of

TaskId = Annotated[uuid.UUID, Path()]


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Pydantic errors as field -> first message, in words a person understands
    (web/messages.py), for showing next to each field."""
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if isinstance(p, str)]
        field = loc[0] if loc else "form"
        out.setdefault(field, messages.plain(err))
    return out


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def start_session(
    request: Request, state: Any, session: Any, user: User, target: str
) -> Response:
    raw = await auth_service.create_web_session(
        session,
        state,
        user,
        user_agent=request.headers.get("user-agent", ""),
        ip=client_ip(request),
    )
    response = see_other(target)
    set_cookie(
        request,
        state,
        response,
        SESSION_COOKIE,
        raw,
        max_age=state.runtime.settings.session_days * 86400,
    )
    return response


@cache
def zone_names() -> list[str]:
    return sorted(time_zone_names())


@cache
def zone_set() -> frozenset[str]:
    return frozenset(zone_names()) | {"UTC"}


def form_task_fields(form: dict[str, str], user: User, now: datetime) -> dict[str, Any]:
    """Form fields as a task body: due from a date and an optional time, tags comma-separated."""
    body: dict[str, Any] = {}
    for key in ("title", "description", "priority"):
        if key in form:
            body[key] = form[key]
    if "due_date" in form or "due_time" in form:
        body["due"] = _form_due(form.get("due_date", ""), form.get("due_time", ""), user, now)
    if "tags" in form:
        body["tags"] = [t.strip() for t in form["tags"].split(",") if t.strip()]
    for key in ("project_id", "section_id"):  # an add box on a project's page
        if form.get(key):
            body[key] = form[key]
    if "repeat" in form or "repeat_rule" in form:
        body["recurrence"] = _form_recurrence(form, user, now)
    return body


def _form_recurrence(form: dict[str, str], user: User, now: datetime) -> dict[str, str] | None:
    """The edit form's repeat rule: the words field ("every sunday", quick add's grammar, or an
    RRULE typed as is), unless the advanced RRULE field was changed from the rule the form
    showed (`repeat_original`), which then wins. InvalidInput for words that are no rule."""
    mode = form.get("repeat_mode", "from_due")
    advanced = form.get("repeat_rule")
    if advanced is not None and advanced.strip() != form.get("repeat_original", "").strip():
        text = advanced.strip()
    else:
        text = form.get("repeat", "").strip()
    if not text:
        return None
    if "=" in text:  # an RRULE: checked by the task's schema, with its own messages
        return {"rule": text, "mode": mode}
    try:
        read = rulewords.read(text, zone=zone_of(user.timezone), now=now)
    except rulewords.WordsError as exc:
        raise InvalidInput(str(exc), loc=["body", "recurrence"]) from None
    return {"rule": read.rule, "mode": read.mode or mode}


def _form_due(day: str, clock: str, user: User, now: datetime) -> str | None:
    """The due of a date field and a time field. A time without a date is today if that moment
    is still ahead in the user's zone, else tomorrow (as Todoist does); never dropped."""
    day, clock = day.strip(), clock.strip()
    if clock and not day:
        try:
            at = time.fromisoformat(clock)
        except ValueError:
            return clock  # not a time: validation answers for the due field
        day = task_listing.due_day_for_time(at, user, now).isoformat()
    if not day:
        return None
    return f"{day}T{clock}" if clock else day


async def read_form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


def quick_body(
    form: dict[str, str], user: User, now: datetime, catalog: Catalog | None = None
) -> tuple[dict[str, Any], str | None, ReminderCreate | None]:
    """The task body for the quick-add box: its text read by the quick-add parser, then the
    "Priority, due date, tags" fields on top (a priority or due date given there wins; tags
    add up; a time alone goes on the text's date if it has one). Also the error to show on
    the text field, if any, and the reminder a `remind …` phrase asks for."""
    text = form.get("title", "")
    if len(text) > QUICK_TEXT_MAX:
        return {}, f"Use at most {QUICK_TEXT_MAX:,} characters", None
    zone = zone_of(user.timezone)
    parsed = quickadd.parse(text, zone=zone, now=now, catalog=catalog)
    body = quickadd.create_body(parsed)
    explicit = form_task_fields({k: v for k, v in form.items() if k != "title"}, user, now)
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
    if not any(body.get(k) for k in ("project_id", "section_id")):
        # The page's project (and section) unless the text named one.
        for key in ("project_id", "section_id"):
            if explicit.get(key):
                body[key] = explicit[key]
    if explicit.get("description"):
        body["description"] = explicit["description"]
    reminder = quickadd.reminder_create(parsed)
    if not text.strip():
        return body, "Type what the task is", None
    if not parsed.title:
        return body, quickadd.NO_TITLE, None
    if len(parsed.title) > quickadd.MAX_TITLE_LENGTH:
        # The box takes QUICK_TEXT_MAX for the whole text; say that the title is what is long.
        return body, _long_title(parsed.title), None
    if parsed.reminder is not None and parsed.reminder.problem:
        return body, parsed.reminder.problem, None
    return body, None, reminder


def _long_title(title: str) -> str:
    most = quickadd.MAX_TITLE_LENGTH
    return (
        f"The title has {len(title):,} characters; use at most {most} characters (dates, #tags"
        " and the rest do not count)"
    )


def today_for(state: Any, user: User) -> task_listing.Today:
    return task_listing.today_of(user, state.clock())


async def owned_task(
    session: Any, user: User, task_id: uuid.UUID, request: Request, *, need: Role = Role.EDITOR
) -> Task:
    """The task for a web route: a POST locks it and needs `need` (an editor's role unless
    the route says otherwise); a GET needs only to see it."""
    writing = request.method == "POST"
    return await tasks_service.get_task(
        session, user, task_id, for_update=writing, need=need if writing else Role.VIEWER
    )
