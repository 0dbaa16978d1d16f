"""Request and response bodies for tasks and tags."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StringConstraints, WithJsonSchema

from doable.tasks.models import Task
from doable.types import NO_NUL, NoNulStr

Priority = Literal["none", "low", "medium", "high", "urgent"]
PRIORITY_LEVELS: dict[str, int] = {"none": 0, "low": 1, "medium": 2, "high": 3, "urgent": 4}
PRIORITY_NAMES: dict[int, Priority] = {0: "none", 1: "low", 2: "medium", 3: "high", 4: "urgent"}

Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NO_NUL
]
Description = Annotated[NoNulStr, StringConstraints(max_length=10_000)]
TagName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50), NO_NUL
]
TagColor = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DUE_ERROR = "must be a date (YYYY-MM-DD) or an RFC 3339 datetime (YYYY-MM-DDTHH:MM[:SS][±HH:MM|Z])"


def parse_due(value: Any) -> date | datetime | None:
    """A due value: an all-day date, or a datetime (no offset means the user's time zone)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        result: date | datetime = value
    elif isinstance(value, date):
        result = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            if _DATE_RE.fullmatch(text):
                result = date.fromisoformat(text)
            elif "T" in text or "t" in text or " " in text:
                result = datetime.fromisoformat(text.replace("z", "Z"))
            else:
                raise ValueError(_DUE_ERROR)
        except ValueError:
            raise ValueError(_DUE_ERROR) from None
    else:
        raise ValueError(_DUE_ERROR)
    if not 1900 <= result.year <= 9998:
        raise ValueError("must be between the years 1900 and 9998")
    return result


DueIn = Annotated[
    date | datetime | None,
    PlainValidator(parse_due),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date"},
                {"type": "string", "format": "date-time"},
                {"type": "null"},
            ],
            "description": "All-day date, or an RFC 3339 datetime; no offset = your time zone.",
        }
    ),
]

TagList = Annotated[list[TagName], Field(max_length=30)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskCreate(Strict):
    title: Title
    description: Description = ""
    priority: Priority = "none"
    due: DueIn = None
    tags: TagList = Field(default_factory=list)
    completed: bool = False


class TaskReplace(TaskCreate):
    """PUT body: every field not given goes back to its default."""


class TaskPatch(Strict):
    """PATCH body: only the fields given change; `due: null` clears the due date."""

    title: Title | None = None
    description: Description | None = None
    priority: Priority | None = None
    due: DueIn = None
    tags: TagList | None = None
    completed: bool | None = None


class TaskOut(BaseModel):
    id: uuid.UUID
    title: str
    description: str
    completed: bool
    completed_at: datetime | None
    priority: Priority
    due: date | datetime | None = Field(
        description="A date for all-day tasks, else a UTC datetime."
    )
    tags: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_task(cls, task: Task) -> TaskOut:
        due: date | datetime | None = task.due_date
        if task.due_at is not None:
            due = task.due_at.astimezone(UTC)
        return cls(
            id=task.id,
            title=task.title,
            description=task.description,
            completed=task.completed,
            completed_at=task.completed_at,
            priority=PRIORITY_NAMES.get(task.priority, "none"),
            due=due,
            tags=[tag.name for tag in task.tags],
            created_at=task.created_at,
            updated_at=task.updated_at,
        )


class TaskPage(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class TagOut(BaseModel):
    id: uuid.UUID
    name: str
    color: str | None
    task_count: int


class TagPatch(Strict):
    """Rename or recolour. Renaming onto another tag's name merges the two."""

    name: TagName | None = None
    color: TagColor | None = None
