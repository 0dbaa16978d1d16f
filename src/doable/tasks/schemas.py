"""Request and response bodies for tasks and tags."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
)

from doable import fastjson
from doable.tasks import recurrence
from doable.tasks.models import Task, TaskCompletion, TaskRow
from doable.types import NOT_BLANK, NoNulStr, Text

Priority = Literal["none", "low", "medium", "high", "urgent"]
PRIORITY_LEVELS: dict[str, int] = {"none": 0, "low": 1, "medium": 2, "high": 3, "urgent": 4}
PRIORITY_NAMES: dict[int, Priority] = {0: "none", 1: "low", 2: "medium", 3: "high", 4: "urgent"}

# Lengths count what was sent; the stored value is trimmed.
Title = Annotated[str, StringConstraints(min_length=1, max_length=200), NOT_BLANK]
Description = Annotated[NoNulStr, StringConstraints(max_length=10_000)]
TagName = Annotated[str, StringConstraints(min_length=1, max_length=50), NOT_BLANK]
TagColor = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]

# Years 1900 to 9998: 9999-12-31 is the "no due date" sort key (models.NO_DUE).
_YEAR = "(19[0-9]{2}|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_TIME = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
_OFFSET = r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
_DATE_RE = re.compile(f"^{_DATE}$")
_DATETIME_RE = re.compile(f"^{_DATE}[Tt ]{_TIME}{_OFFSET}?$")
# The same shape in JSON Schema, with the calendar spelled out so generators make real dates
# (29 February is allowed in every year here; the validator refuses it outside leap years).
_MONTH_DAY = "((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-9])|(0[13-9]|1[0-2])-30|(0[13578]|1[02])-31)"
_CLOCK = r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?"
_LOCAL_DATETIME_PATTERN = f"^{_YEAR}-{_MONTH_DAY}[Tt ]{_CLOCK}$"
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
        try:
            if _DATE_RE.fullmatch(value):
                result = date.fromisoformat(value)
            elif _DATETIME_RE.fullmatch(value):
                result = datetime.fromisoformat(value.replace("z", "Z"))
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
                {"type": "string", "format": "date", "pattern": f"^{_YEAR}-"},
                {"type": "string", "format": "date-time", "pattern": f"^{_YEAR}-"},
                {
                    "type": "string",
                    "format": "date-time-local",
                    "pattern": _LOCAL_DATETIME_PATTERN,
                    "description": "A local date and time, read in your time zone.",
                },
                {"type": "null"},
            ],
            "description": "An all-day date, an RFC 3339 datetime, or a local datetime (read in"
            " your time zone); years 1900 to 9998.",
        }
    ),
]

TagList = Annotated[list[TagName], Field(max_length=30)]


def _canonical_rule(value: str) -> str:
    try:
        return recurrence.parse(value).text
    except recurrence.RuleError as exc:
        raise ValueError(str(exc)) from None


RuleText = Annotated[
    NoNulStr,
    StringConstraints(min_length=1, max_length=recurrence.MAX_RULE_LENGTH),
    AfterValidator(_canonical_rule),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecurrenceIn(Strict):
    """A repeat rule: an RFC 5545 RRULE value (no DTSTART; a leading `RRULE:` is dropped)."""

    rule: RuleText = Field(
        description="RRULE value, e.g. FREQ=WEEKLY;BYDAY=MO,TH (see docs/scheduling.md)",
        examples=["FREQ=WEEKLY;BYDAY=MO,TH"],
    )
    mode: recurrence.Mode = Field(
        "from_due",
        description="from_due: the next due follows the previous due; from_completion: it"
        " counts from the day the task was completed",
    )


class RecurrenceOut(BaseModel):
    rule: str
    mode: recurrence.Mode
    text: str = Field(description='The rule in words, e.g. "every week on Mon, Thu"')


class Placed(Strict):
    """Where a task goes: a project, a section, a parent, and a place among its siblings.

    On create, left out means the Inbox, no section, no parent, last. On PATCH, left out means
    unchanged; `section_id: null` and `parent_id: null` take the task out of its section or
    parent. Give at most one of `after`, `before` and `at`; a neighbour also names the list."""

    project_id: uuid.UUID | None = Field(
        None, description="The project; null or left out on create: the Inbox"
    )
    section_id: uuid.UUID | None = Field(None, description="A section of that project, or null")
    parent_id: uuid.UUID | None = Field(
        None, description="The parent task (same project), or null for a top-level task"
    )
    after: uuid.UUID | None = Field(None, description="Place right after this sibling task")
    before: uuid.UUID | None = Field(None, description="Place right before this sibling task")
    at: Literal["first", "last"] | None = Field(
        None, description="Place first or last among its siblings"
    )


PLACEMENT_FIELDS = frozenset(Placed.model_fields)


ASSIGNEE_DESCRIPTION = (
    "The one person the task is assigned to: its project's owner or a member (else 422);"
    " null for nobody."
)


class TaskCreate(Placed):
    title: Title
    description: Description = ""
    priority: Priority = "none"
    due: DueIn = None
    tags: TagList = Field(default_factory=list)
    # StrictBool: `"completed": 0` or `"yes"` is refused, as `type: boolean` says.
    completed: StrictBool = False
    recurrence: RecurrenceIn | None = Field(
        None,
        description="Repeat the task: an RRULE such as FREQ=WEEKLY;BYDAY=MO and a mode"
        " (docs/scheduling.md); null for a one-off task.",
    )
    assignee_id: uuid.UUID | None = Field(None, description=ASSIGNEE_DESCRIPTION)


class TaskReplace(TaskCreate):
    """PUT body: every field not given goes back to its default."""


def _only_due_is_nullable(schema: dict[str, Any]) -> None:
    # These fields may be left out, but null is refused for them (service.update_task), so the
    # schema must not offer it; only `due: null` (clear the due date) and `recurrence: null`
    # (stop repeating) mean something.
    for name in ("title", "description", "priority", "tags", "completed"):
        field = schema["properties"][name]
        (kept,) = [branch for branch in field.pop("anyOf") if branch != {"type": "null"}]
        field.update(kept)


class TaskPatch(Placed):
    """PATCH body: only the fields given change; `due: null` clears the due date and
    `recurrence: null` stops the task repeating."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_only_due_is_nullable)

    title: Title | None = None
    description: Description | None = None
    priority: Priority | None = None
    due: DueIn = None
    tags: TagList | None = None
    completed: StrictBool | None = None
    recurrence: RecurrenceIn | None = Field(
        None,
        description="Repeat the task: an RRULE such as FREQ=WEEKLY;BYDAY=MO and a mode"
        " (docs/scheduling.md); null for a one-off task.",
    )
    assignee_id: uuid.UUID | None = Field(None, description=ASSIGNEE_DESCRIPTION)


class SubtaskProgress(BaseModel):
    # Frozen, so that one value can stand for every task without subtasks.
    model_config = ConfigDict(frozen=True)

    done: int
    total: int


_NO_SUBTASKS = SubtaskProgress(done=0, total=0)


def _progress(task: Task | TaskRow, progress: tuple[int, int] | None) -> SubtaskProgress:
    if progress is None:
        progress = (
            (task.subtasks_done, task.subtasks_total) if isinstance(task, TaskRow) else (0, 0)
        )
    if progress == (0, 0):  # most tasks; validating a new one was a sixth of `from_task`
        return _NO_SUBTASKS
    return SubtaskProgress(done=progress[0], total=progress[1])


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
    recurrence: RecurrenceOut | None
    created_at: datetime
    updated_at: datetime
    project_id: uuid.UUID | None
    section_id: uuid.UUID | None
    parent_id: uuid.UUID | None
    position: str = Field(description="Sorts the task among its siblings (byte order)")
    subtasks: SubtaskProgress = Field(description="Direct subtasks: done and in all")
    assignee_id: uuid.UUID | None = Field(
        None, description="Who the task is assigned to (a person of its project), or null"
    )

    @classmethod
    def from_task(cls, task: Task | TaskRow, *, progress: tuple[int, int] | None = None) -> TaskOut:
        """`progress` (done, total) for a `Task`; a `TaskRow` carries its own."""
        return cls(**task_fields(task, progress))


def task_fields(task: Task | TaskRow, progress: tuple[int, int] | None = None) -> dict[str, Any]:
    """`TaskOut`'s fields for `task`, in its order: what `TaskOut.from_task` validates, and what
    a page's JSON writes as it is (`TaskPage.json_of`)."""
    due: date | datetime | None = task.due_date
    if task.due_at is not None:
        due = task.due_at.astimezone(UTC)
    return {
        "id": task.id,
        "title": task.title,
        "description": task.description,
        "completed": task.completed,
        "completed_at": task.completed_at,
        "priority": PRIORITY_NAMES.get(task.priority, "none"),
        "due": due,
        "tags": task.tag_names,
        "recurrence": recurrence_out(task),
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "project_id": task.project_id,
        "section_id": task.section_id,
        "parent_id": task.parent_id,
        "position": task.position,
        "subtasks": _progress(task, progress),
        "assignee_id": task.assignee_id,
    }


def recurrence_out(task: Task | TaskRow) -> RecurrenceOut | None:
    if task.rrule is None:
        return None
    mode: recurrence.Mode = (
        "from_completion" if task.recurrence_mode == "from_completion" else "from_due"
    )
    return RecurrenceOut(
        rule=task.rrule, mode=mode, text=recurrence.describe(recurrence.parse(task.rrule))
    )


class CompletionOut(BaseModel):
    id: uuid.UUID
    occurrence: date | datetime | None = Field(
        description="The due this completion was for: a date for all-day tasks, else a UTC datetime"
    )
    completed_at: datetime

    @classmethod
    def from_row(cls, row: TaskCompletion) -> CompletionOut:
        occurrence: date | datetime | None = row.occurrence_date
        if row.occurrence_at is not None:
            occurrence = row.occurrence_at.astimezone(UTC)
        return cls(id=row.id, occurrence=occurrence, completed_at=row.completed_at)


class CompletionPage(BaseModel):
    items: list[CompletionOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null at the end."
    )


class TaskPage(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )

    @staticmethod
    def json_of(tasks: Sequence[TaskRow], next_cursor: str | None) -> bytes:
        """The page's JSON, as `TaskPage(...).model_dump_json()` writes it (doable.fastjson):
        the rows come from the database, so there is nothing to validate."""
        items = [task_fields(task) for task in tasks]
        return fastjson.dumps({"items": items, "next_cursor": next_cursor})


class TagOut(BaseModel):
    id: uuid.UUID
    name: str
    color: str | None
    task_count: int


class TagPatch(Strict):
    """Rename or recolour. Renaming onto another tag's name merges the two."""

    name: TagName | None = None
    color: TagColor | None = None


# Quick add. The text is not trimmed, so token offsets index exactly what was sent.
QUICK_TEXT_MAX = 2000
QuickText = Annotated[
    str, StringConstraints(min_length=1, max_length=QUICK_TEXT_MAX), Text(blank=False)
]


class QuickAddIn(Strict):
    text: QuickText = Field(
        description="Quick-add text such as `Water plants every 3 days at 8am #home`;"
        " the grammar is in docs/quick-add.md."
    )


class PlaceOut(BaseModel):
    id: uuid.UUID
    name: str


class QuickTokenOut(BaseModel):
    kind: Literal["tag", "priority", "date", "time", "recurrence", "project", "section", "reminder"]
    start: int = Field(description="Offset of the first character, in code points.")
    end: int = Field(description="Offset after the last character (exclusive), in code points.")
    text: str
    utf16_start: int = Field(description="`start` in UTF-16 code units (JavaScript indices).")
    utf16_end: int = Field(description="`end` in UTF-16 code units (JavaScript indices).")


class QuickReminderOut(BaseModel):
    before: str | None = Field(
        description="Relative: an ISO 8601 duration before the due (PT30M), else null."
    )
    at: datetime | None = Field(description="Absolute: when, with your zone's offset, else null.")
    text: str = Field(description='In words: "30 minutes before the due time".')
    problem: str | None = Field(
        description="Why POST /tasks/quick would refuse it (its time is past), else null."
    )


class QuickParseOut(BaseModel):
    title: str
    priority: Priority
    tags: list[str]
    due: date | datetime | None = Field(
        description="A date for all-day, or a datetime with your time zone's offset."
    )
    recurrence: RecurrenceOut | None
    tokens: list[QuickTokenOut]
    warnings: list[str]
    project: PlaceOut | None = Field(
        description="The project the task goes to: the one named with #Name, else the Inbox."
    )
    section: PlaceOut | None = Field(description="The section named with /Name, or null.")
    reminder: QuickReminderOut | None = Field(
        default=None, description="The reminder `remind …` asks for, or null."
    )
