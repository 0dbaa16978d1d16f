"""Request and response bodies for reminders and notifications."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema, model_validator

from doable.reminders.durations import DurationError, format_duration, parse_duration
from doable.reminders.models import Notification, Reminder
from doable.tasks.schemas import parse_due

MAX_REMINDERS_PER_TASK = 10


def _parse_at(value: Any) -> datetime:
    parsed = parse_due(value)
    if not isinstance(parsed, datetime):
        raise ValueError("must be a datetime (YYYY-MM-DDTHH:MM[:SS][±HH:MM|Z]), not a date")
    return parsed


def _parse_before(value: Any) -> int:
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 duration such as PT30M, PT2H or P1D")
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise ValueError(str(exc)) from None


_DT = "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)?"
AtIn = Annotated[
    datetime,
    PlainValidator(_parse_at),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": f"^{_DT}([Zz]|[+-][0-9]{{2}}:[0-9]{{2}})?$",
            "description": "When to remind: an RFC 3339 datetime, or a local one (read in your"
            " time zone). Must be in the future and at most 5 years ahead.",
        }
    ),
]
BeforeIn = Annotated[
    int,
    PlainValidator(_parse_before),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^P([0-9]{1,4}W|([0-9]{1,4}D)?(T([0-9]{1,5}H)?([0-9]{1,6}M)?"
            "([0-9]{1,8}S)?)?)$",
            "examples": ["PT30M", "PT2H", "P1D", "P1W", "PT0S"],
            "description": "An ISO 8601 duration before the task's due (weeks, days, hours,"
            " minutes, seconds; at most 366 days). Days are calendar days in your time zone.",
        }
    ),
]


def _exactly_one_schema(schema: dict[str, Any]) -> None:
    # Either field may be left out, never sent as null; and exactly one must be sent.
    for name in ("at", "before"):
        field = schema["properties"][name]
        (kept,) = [branch for branch in field.pop("anyOf") if branch != {"type": "null"}]
        field.update(kept)
        field.pop("default", None)
    schema["oneOf"] = [{"required": ["at"]}, {"required": ["before"]}]


class ReminderCreate(BaseModel):
    """Exactly one of `at` (absolute) or `before` (relative to the task's due)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_exactly_one_schema)

    at: AtIn | None = None
    before: BeforeIn | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("at", "before"):
                if name in data and data[name] is None:
                    raise ValueError(f'"{name}" must not be null; leave it out instead')
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> ReminderCreate:
        if (self.at is None) == (self.before is None):
            raise ValueError('give exactly one of "at" (a datetime) or "before" (a duration)')
        return self


class ReminderOut(BaseModel):
    id: uuid.UUID
    task_id: uuid.UUID
    kind: Literal["absolute", "relative"]
    at: datetime | None = Field(description="Absolute reminders: when (UTC).")
    before: str | None = Field(description="Relative reminders: the ISO 8601 duration.")
    fire_at: datetime | None = Field(
        description="When it fires (UTC); null while a relative reminder's task has no due."
    )
    fired_at: datetime | None
    created_at: datetime

    @classmethod
    def from_reminder(cls, reminder: Reminder) -> ReminderOut:
        return cls(
            id=reminder.id,
            task_id=reminder.task_id,
            kind="absolute" if reminder.kind == "absolute" else "relative",
            at=reminder.remind_at,
            before=(
                format_duration(reminder.offset_seconds)
                if reminder.offset_seconds is not None
                else None
            ),
            fire_at=reminder.fire_at,
            fired_at=reminder.fired_at,
            created_at=reminder.created_at,
        )


class NotificationOut(BaseModel):
    id: uuid.UUID
    kind: str
    task_id: uuid.UUID | None = Field(description="The task it is about (it may be deleted).")
    reminder_id: uuid.UUID | None
    title: str
    body: str
    due: date | datetime | None = Field(description="The task's due when the reminder fired.")
    fire_at: datetime = Field(description="When the reminder was due to fire.")
    late: bool = Field(description="Fired well after fire_at (the server was down).")
    created_at: datetime = Field(description="When it fired.")
    read_at: datetime | None

    @classmethod
    def from_row(cls, n: Notification) -> NotificationOut:
        return cls(
            id=n.id,
            kind=n.kind,
            task_id=n.task_id,
            reminder_id=n.reminder_id,
            title=n.title,
            body=n.body,
            due=n.due_at if n.due_at is not None else n.due_date,
            fire_at=n.fire_at,
            late=n.late,
            created_at=n.created_at,
            read_at=n.read_at,
        )


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
    unread_count: int


class ReadAllOut(BaseModel):
    marked: int = Field(description="How many notifications were unread and are now read.")


class SnoozeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preset: Literal["10m", "1h", "tomorrow"] = Field(
        description="Fire again in 10 minutes, in an hour, or tomorrow at 09:00 local time."
    )


class SnoozeOut(BaseModel):
    notification: NotificationOut
    reminder: ReminderOut
