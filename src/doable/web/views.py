"""Rendering: the Jinja environment, view models of tasks, and fragment responses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from jinja2_fragments import render_block, render_blocks

from doable import __version__
from doable.auth.models import User
from doable.reminders import service as reminders_service
from doable.reminders import wording
from doable.state import AppState
from doable.tasks import listing as task_listing
from doable.tasks import recurrence, rulewords
from doable.tasks.models import Task, TaskRow
from doable.tasks.quickadd import MAX_TITLE_LENGTH, QuickParse
from doable.tasks.schemas import PRIORITY_NAMES
from doable.web.assets import static_url
from doable.web.icons import icon
from doable.web.linkify import linkify
from doable.web.security import CSRF_COOKIE
from doable.zones import Zone, zone_of

env = Environment(
    loader=PackageLoader("doable.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
    # Each template is compiled once per process and never checked again: with auto_reload,
    # every get_template (a page makes a dozen, one per import) stats the file. The templates
    # ship inside the package; `doable serve --reload` restarts on an edited one instead.
    auto_reload=False,
)
env.globals["version"] = __version__
env.globals["static_url"] = static_url
env.globals["icon"] = icon
env.filters["linkify"] = linkify

UNDO_SECONDS = 60


@dataclass(frozen=True)
class TaskView:
    id: str
    title: str
    description: str
    completed: bool
    priority: str
    due_label: str
    due_date_value: str
    due_time_value: str
    overdue: bool  # open and due before today (task_listing.Today)
    late: bool  # overdue, or due at a time earlier today
    tags: list[str]
    repeat_rule: str = ""
    repeat_mode: str = "from_due"
    repeat_label: str = ""
    repeat_words: str = ""  # the rule in quick add's words, else the RRULE itself
    subtasks_done: int = 0  # direct subtasks (tasks/tree.py fill_progress)
    subtasks_total: int = 0


# Offered in the edit form's Repeat field (a datalist: any other words, or an RRULE, can be
# typed).
REPEAT_PRESETS = (
    "every day",
    "every weekday",
    "every week",
    "every 2 weeks",
    "every month",
    "every month on the last day",
    "every year",
)
env.globals["repeat_presets"] = REPEAT_PRESETS


async def reminder_marks(
    session: Any, user: User, task_ids: list[Any], today: task_listing.Today
) -> dict[str, str]:
    """Task id → when its next reminder fires ("09:00", or "Fri 11 Dec, 09:00" on another
    day), in the user's zone: the bell on a row. One query for a page of rows."""
    ids = [i if isinstance(i, uuid.UUID) else uuid.UUID(str(i)) for i in task_ids]
    zone = zone_of(user.timezone)
    out = {}
    for task_id, at in (await reminders_service.next_reminders(session, user.id, ids)).items():
        local = at.astimezone(zone)
        day = "" if local.date() == today.date else f"{local:%a} {local.day} {local:%b}, "
        out[str(task_id)] = f"{day}{local:%H:%M}"
    return out


def task_view(task: Task | TaskRow, user: User, today: task_listing.Today) -> TaskView:
    """`today` from task_listing.today_of, once per response: it decides overdue and late."""
    zone = zone_of(user.timezone)
    label, date_value, time_value = "", "", ""
    if task.due_date is not None:
        label = _day_label(task.due_date, today.date)
        date_value = task.due_date.isoformat()
    elif task.due_at is not None:
        local = task.due_at.astimezone(zone)
        label = f"{_day_label(local.date(), today.date)} {local:%H:%M}"
        date_value, time_value = local.date().isoformat(), f"{local:%H:%M}"
    overdue = today.is_overdue(task)
    return TaskView(
        id=str(task.id),
        title=task.title,
        description=task.description,
        completed=task.completed,
        priority=PRIORITY_NAMES.get(task.priority, "none"),
        due_label=label,
        due_date_value=date_value,
        due_time_value=time_value,
        overdue=overdue,
        late=overdue or today.is_late(task),
        tags=task.tag_names,
        repeat_rule=task.rrule or "",
        repeat_mode=task.recurrence_mode or "from_due",
        repeat_label=_repeat_label(task),
        repeat_words=_repeat_words(task),
        subtasks_done=getattr(task, "subtasks_done", 0),
        subtasks_total=getattr(task, "subtasks_total", 0),
    )


def _repeat_words(task: Task | TaskRow) -> str:
    if task.rrule is None:
        return ""
    return rulewords.say(recurrence.parse(task.rrule)) or task.rrule


def _repeat_label(task: Task | TaskRow) -> str:
    if task.rrule is None:
        return ""
    text = rulewords.describe(recurrence.parse(task.rrule))
    return text + (" after completion" if task.recurrence_mode == "from_completion" else "")


@dataclass(frozen=True)
class PreviewPart:
    text: str
    kind: str  # "" for words that stay in the title, else the token's kind


@dataclass(frozen=True)
class QuickPreview:
    """What the quick-add box will create, for the live preview under it."""

    parts: list[PreviewPart]
    title: str
    due_label: str
    priority: str
    tags: list[str]
    repeats: str
    warnings: list[str]
    project: str = ""  # where the task lands: "Project" or "Project / Section"
    reminder: str = ""  # "30 minutes before the due time"
    title_too_long: bool = False


def quick_preview(text: str, parsed: QuickParse, zone: Zone, landing: str = "") -> QuickPreview:
    """`landing` names the project the task goes to when the text names none. When quick add
    reads `#Project` and `/Section` (its result's `project` and `section`), those win."""
    parts: list[PreviewPart] = []
    at = 0
    for token in parsed.tokens:
        if token.start > at:
            parts.append(PreviewPart(text[at : token.start], ""))
        parts.append(PreviewPart(token.text, token.kind))
        at = token.end
    if at < len(text):
        parts.append(PreviewPart(text[at:], ""))
    due = parsed.due
    label = ""
    if isinstance(due, datetime):
        local = due.astimezone(zone)
        label = f"{local:%a %-d %b %Y, %H:%M} ({zone.key})"
    elif due is not None:
        label = f"{due:%a %-d %b %Y} (all day)"
    return QuickPreview(
        parts=parts,
        title=parsed.title,
        due_label=label,
        priority=parsed.priority,
        tags=parsed.tags,
        repeats=parsed.recurrence.description if parsed.recurrence else "",
        warnings=parsed.warnings,
        project=_place(parsed, landing),
        reminder=wording.sentence(parsed.reminder.description) if parsed.reminder else "",
        title_too_long=len(parsed.title) > MAX_TITLE_LENGTH,
    )


def _place(parsed: QuickParse, landing: str) -> str:
    project = getattr(parsed, "project", None)  # set by a parse given the user's projects
    section = getattr(parsed, "section", None)
    named = any(token.kind in {"project", "section"} for token in parsed.tokens)
    if project is None or not named:
        return landing
    name = str(getattr(project, "name", landing))
    return f"{name} / {section.name}" if section is not None else name


def _day_label(day: date, today: date) -> str:
    delta = (day - today).days
    if delta == 0:
        return "Today"
    if delta == 1:
        return "Tomorrow"
    if delta == -1:
        return "Yesterday"
    if 0 < delta < 7:
        return f"{day:%a}"
    return f"{day:%-d %b %Y}" if day.year != today.year else f"{day:%-d %b}"


def day_heading(day: date, today: date) -> str:
    """A day group's heading in Today and Upcoming: "Today · Sun 6 Dec", "Mon 7 Dec"."""
    full = f"{day:%a %-d %b}" if day.year == today.year else f"{day:%a %-d %b %Y}"
    relative = _day_label(day, today)
    return f"{relative} · {full}" if relative in {"Today", "Tomorrow", "Yesterday"} else full


def is_htmx(request: Request) -> bool:
    return (
        request.headers.get("hx-request") == "true" and request.headers.get("hx-boosted") != "true"
    )


def base_context(request: Request, state: AppState, user: User | None) -> dict[str, Any]:
    return {
        "request": request,
        "user": user,
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "embedded": state.runtime.settings.embedded,
    }


def respond(
    request: Request,
    state: AppState,
    template: str,
    context: dict[str, Any],
    *,
    blocks: list[str] | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A full page, or just the named blocks of it for an htmx request."""
    if blocks:
        body = (
            render_block(env, template, blocks[0], **context)
            if len(blocks) == 1
            else render_blocks(env, template, blocks, **context)
        )
    else:
        body = env.get_template(template).render(**context)
    response = HTMLResponse(body, status_code=status, headers=headers)
    response.headers["Vary"] = "HX-Request"
    response.headers["Cache-Control"] = "no-store"
    set_csrf_cookie(request, state, response)
    return response


def set_csrf_cookie(request: Request, state: AppState, response: Any) -> None:
    nonce = getattr(request.state, "new_csrf_nonce", None)
    if nonce:
        set_cookie(request, state, response, CSRF_COOKIE, nonce, max_age=None)


def set_cookie(
    request: Request, state: AppState, response: Any, name: str, value: str, *, max_age: int | None
) -> None:
    """HttpOnly always; Secure over HTTPS (also behind a proxy that says so); inside a
    Hugging Face iframe, SameSite=None + Partitioned so the embed can keep a session."""
    embedded = state.runtime.settings.embedded
    secure = embedded or request.url.scheme == "https"
    # Written by hand: the standard library only learns `Partitioned` in Python 3.14.
    parts = [f"{name}={value}", "Path=/", "HttpOnly", f"SameSite={'None' if embedded else 'Lax'}"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    if embedded:
        parts.append("Partitioned")
    response.headers.append("set-cookie", "; ".join(parts))


def delete_cookie(request: Request, state: AppState, response: Any, name: str) -> None:
    set_cookie(request, state, response, name, "", max_age=0)


def sign_snapshot(key: bytes, snapshot: dict[str, Any], owner: str) -> str:
    payload = json.dumps({"s": snapshot, "o": owner, "t": int(time.time())}).encode()
    body = base64.urlsafe_b64encode(payload).decode()
    sig = hmac.new(key, b"undo:" + payload, hashlib.sha256).hexdigest()
    return f"{body}.{sig}"


def verify_snapshot(key: bytes, token: str, owner: str) -> dict[str, Any] | None:
    """The snapshot if the token is ours, for this user, and fresh; otherwise None."""
    try:
        body, sig = token.rsplit(".", 1)
        payload = base64.urlsafe_b64decode(body.encode())
        expected = hmac.new(key, b"undo:" + payload, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sig, expected):
            return None
        data = json.loads(payload)
        if data["o"] != owner or time.time() - int(data["t"]) > UNDO_SECONDS:
            return None
        snapshot: dict[str, Any] = data["s"]
        return snapshot
    except (ValueError, KeyError, TypeError):
        return None
