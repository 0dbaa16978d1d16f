"""Quick add's result as the API shows it, and as the task (and reminder) it creates."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from doable.errors import InvalidInput
from doable.reminders.durations import format_duration
from doable.reminders.schemas import ReminderCreate
from doable.tasks.quickadd.base import QuickParse, ReminderSpec
from doable.tasks.schemas import (
    PlaceOut,
    QuickParseOut,
    QuickReminderOut,
    QuickTokenOut,
    RecurrenceOut,
    TaskCreate,
)


def parse_out(parsed: QuickParse) -> QuickParseOut:
    """The parse as the API shows it."""
    recurrence = parsed.recurrence
    return QuickParseOut(
        title=parsed.title,
        priority=parsed.priority,
        tags=parsed.tags,
        due=parsed.due,
        recurrence=(
            RecurrenceOut(rule=recurrence.rule, mode=recurrence.mode, text=recurrence.description)
            if recurrence
            else None
        ),
        tokens=[
            QuickTokenOut(
                kind=t.kind,
                start=t.start,
                end=t.end,
                text=t.text,
                utf16_start=t.utf16_start,
                utf16_end=t.utf16_end,
            )
            for t in parsed.tokens
        ],
        warnings=parsed.warnings,
        project=PlaceOut(id=parsed.project.id, name=parsed.project.name)
        if parsed.project
        else None,
        reminder=_reminder_out(parsed.reminder),
        section=PlaceOut(id=parsed.section.id, name=parsed.section.name)
        if parsed.section
        else None,
    )


def _reminder_out(reminder: ReminderSpec | None) -> QuickReminderOut | None:
    if reminder is None:
        return None
    return QuickReminderOut(
        before=format_duration(reminder.before) if reminder.before is not None else None,
        at=reminder.at,
        text=reminder.description,
        problem=reminder.problem,
    )


def reminder_create(parsed: QuickParse) -> ReminderCreate | None:
    """The POST /tasks/{id}/reminders body the text's reminder stands for, if any."""
    reminder = parsed.reminder
    if reminder is None:
        return None
    if reminder.before is not None:
        return ReminderCreate.model_validate({"before": format_duration(reminder.before)})
    assert reminder.at is not None
    return ReminderCreate.model_validate({"at": reminder.at.isoformat()})


NO_TITLE = (
    "The text has no title: it is all dates, times, tags, priorities or repeat rules."
    " Add a few words that say what the task is."
)


def create_body(parsed: QuickParse) -> dict[str, Any]:
    """The POST /tasks body a parse stands for (not validated yet)."""
    body: dict[str, Any] = {
        "title": parsed.title,
        "priority": parsed.priority,
        "tags": list(parsed.tags),
        "due": parsed.due,
    }
    if parsed.recurrence is not None:
        body["recurrence"] = {"rule": parsed.recurrence.rule, "mode": parsed.recurrence.mode}
    # Only a place the text names: otherwise the caller's default (the Inbox, or the web
    # page's project) stands.
    if parsed.section is not None and parsed.project is not None:
        body["project_id"], body["section_id"] = parsed.project.id, parsed.section.id
    elif parsed.project is not None and any(t.kind == "project" for t in parsed.tokens):
        body["project_id"] = parsed.project.id
    return body


def task_create(parsed: QuickParse) -> TaskCreate:
    """The task a parse stands for, validated like a POST /tasks body (InvalidInput if not)."""
    if not parsed.title:
        raise InvalidInput(NO_TITLE, loc=["body", "text"])
    if parsed.reminder is not None and parsed.reminder.problem:
        raise InvalidInput(parsed.reminder.problem, loc=["body", "text"])
    try:
        return TaskCreate.model_validate(create_body(parsed))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"The parsed {where}: {message}", loc=["body", "text"]) from None
