"""The export document (format `doable.export`, version 2), read back by the import.

One set of models serves both directions: the export writes what these models accept, and an
import validates a file against them. docs/export-format.md describes every field.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
)

from doable.comments.schemas import CommentBody
from doable.projects.models import PALETTE
from doable.reminders.schemas import MAX_REMINDERS_PER_TASK, ReminderCreate
from doable.tasks.schemas import (
    Description,
    DueIn,
    Priority,
    RecurrenceIn,
    TagColor,
    TagList,
    TagName,
    Title,
    parse_due,
)
from doable.types import NOT_BLANK, TRIMMED, NoNulStr, TimeZoneName

FORMAT_NAME = "doable.export"
# What the export writes; an import reads every version in READ_VERSIONS.
FORMAT_VERSION = 2
READ_VERSIONS = (1, 2)
# The fields a task record gained in version 2 (refused in a version 1 document).
PLACE_FIELDS = ("project", "section", "parent", "position")
MAX_IMPORT_PROJECTS = 1_000
MAX_IMPORT_SECTIONS = 10_000
# An import is one transaction; past this many tasks, split the file.
MAX_IMPORT_TASKS = 100_000
MAX_IMPORT_TAGS = 10_000
# Completions per task (reminders have their API's own bound, MAX_REMINDERS_PER_TASK).
MAX_TASK_ENTRIES = 1_000

# Years 1900 to 9998, like due dates: every backend stores them, and 9999 is the no-due key.
_YEAR = "(19[0-9]{2}|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"


def _in_range(value: datetime) -> datetime:
    if not 1900 <= value.year <= 9998:
        raise ValueError("must be between the years 1900 and 9998")
    return value


Timestamp = Annotated[
    AwareDatetime,
    AfterValidator(_in_range),
    Field(
        json_schema_extra={"pattern": f"^{_YEAR}-"},
        description="RFC 3339 with an offset (the export writes UTC, `Z`).",
    ),
]


# The API takes due times in years 1900 to 9998 as the client wrote them; in UTC, which the
# export writes, such a time can fall on 1899-12-31 or 9999-01-01. An import takes those back.
_EDGE_DAYS = ("1899-12-31T", "9999-01-01T")


def _export_due(value: Any) -> date | datetime | None:
    if isinstance(value, str) and value.startswith(_EDGE_DAYS):
        try:
            result = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            result = None
        if result is None or result.tzinfo is None:
            raise ValueError("a due time on 1899-12-31 or 9999-01-01 needs an offset")
        return result
    return parse_due(value)


ExportDue = Annotated[
    date | datetime | None,
    PlainValidator(_export_due),
    WithJsonSchema(
        {
            "anyOf": [
                *DueIn.__metadata__[1].json_schema["anyOf"],
                {"type": "string", "format": "date-time", "pattern": "^(1899-12-31|9999-01-01)T"},
            ],
            "description": "An all-day date or an RFC 3339 time (the export writes UTC); a time "
            "without an offset is read in the importing account's time zone.",
        }
    ),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountSection(Strict):
    """The exporting account's settings. `email` is informational: an import never changes it."""

    email: Annotated[NoNulStr, StringConstraints(max_length=254)] | None = None
    name: Annotated[str, StringConstraints(max_length=100), TRIMMED] = ""
    timezone: TimeZoneName = "UTC"


class TagRecord(Strict):
    name: TagName
    color: TagColor | None = None


def _occurrence(value: Any) -> date | datetime | None:
    result = _export_due(value)
    if isinstance(result, datetime) and result.tzinfo is None:
        raise ValueError("a time needs an offset (the export writes UTC, `Z`)")
    return result


Occurrence = Annotated[
    date | datetime | None,
    PlainValidator(_occurrence),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date", "pattern": f"^{_YEAR}-"},
                {"type": "string", "format": "date-time", "pattern": f"^{_YEAR}-"},
                {"type": "null"},
            ],
            "description": "The due this completion was for: an all-day date, or an RFC 3339 "
            "time with an offset (the export writes UTC); null when the task had no due.",
        }
    ),
]


class CompletionRecord(Strict):
    """One completed occurrence of a repeating task (GET /api/v1/tasks/{id}/completions)."""

    occurrence: Occurrence = None
    completed_at: Timestamp


class ReminderRecord(ReminderCreate):
    """A reminder as `POST /api/v1/tasks/{id}/reminders` takes it (exactly one of `at` or
    `before`, same rules), plus what it has done: `fired_at`, and `created_at` (its order)."""

    fired_at: Timestamp | None = Field(
        default=None, description="When it fired, or was passed over; null while it waits."
    )
    created_at: Timestamp | None = None


class CommentRecord(Strict):
    """A comment on the task (GET /api/v1/tasks/{id}/comments), oldest first. An import makes
    every comment the importing account's own; `author` says who wrote it on the exporting
    server and is kept in the file only."""

    body: CommentBody
    author: Annotated[NoNulStr, StringConstraints(max_length=100)] | None = Field(
        default=None, description="The author's display name on the exporting server."
    )
    created_at: Timestamp | None = None
    edited_at: Timestamp | None = None


Ref = Annotated[NoNulStr, StringConstraints(max_length=100)]
# A project's or section's name (the projects API's rule: 1-120 characters, not blank).
ProjectName = Annotated[str, StringConstraints(min_length=1, max_length=120), NOT_BLANK]
SectionName = ProjectName


class SectionRecord(Strict):
    id: Ref | None = Field(
        default=None, description="Unique in the file; tasks name their section by it."
    )
    name: SectionName


class ProjectRecord(Strict):
    """A project with its sections, in their order (version 2)."""

    id: Ref | None = Field(
        default=None, description="Unique in the file; tasks name their project by it."
    )
    name: ProjectName
    inbox: StrictBool = Field(
        default=False, description="The account's Inbox: its tasks go to the importing Inbox."
    )
    color: Literal[PALETTE] = "grey"  # type: ignore[valid-type]
    favorite: StrictBool = False
    archived: StrictBool = False
    sections: Annotated[list[SectionRecord], Field(max_length=MAX_IMPORT_SECTIONS)] = Field(
        default_factory=list, description="In their order."
    )


class SharedProjectRecord(Strict):
    """A project someone else owns that is shared with the exporting account (informational:
    its tasks are its owner's and are not in this export; an import ignores it)."""

    name: str = Field(max_length=200)
    owner: str = Field(max_length=100, description="The owner's display name.")
    role: Literal["viewer", "editor", "admin"] = Field(description="The account's role in it.")


class TaskRecord(Strict):
    """One task, with its repeat rule, its completion history and its reminders."""

    id: Annotated[NoNulStr, StringConstraints(max_length=100)] | None = Field(
        default=None, description="The id on the exporting server; ignored by an import."
    )
    title: Title
    description: Description = ""
    priority: Priority = "none"
    due: ExportDue = None
    completed: StrictBool = False
    completed_at: Timestamp | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    tags: TagList = Field(default_factory=list)
    # The tasks API's own model: the same rules, the same canonical rule text, the same errors.
    recurrence: RecurrenceIn | None = None
    completions: Annotated[list[CompletionRecord], Field(max_length=MAX_TASK_ENTRIES)] = Field(
        default_factory=list, description="Oldest first."
    )
    reminders: Annotated[list[ReminderRecord], Field(max_length=MAX_REMINDERS_PER_TASK)] = Field(
        default_factory=list, description="Oldest first."
    )
    comments: Annotated[list[CommentRecord], Field(max_length=MAX_TASK_ENTRIES)] = Field(
        default_factory=list, description="Oldest first."
    )


class PlacedTaskRecord(TaskRecord):
    """A task of version 2: where it sits (docs/export-format.md, "Projects and order")."""

    project: Ref | None = Field(default=None, description="A project's `id`; null: the Inbox.")
    section: Ref | None = Field(default=None, description="A section's `id` in that project.")
    parent: Ref | None = Field(default=None, description="The parent task's `id`.")
    position: Annotated[NoNulStr, StringConstraints(max_length=64)] | None = Field(
        default=None, description="Sorts the task among its siblings, byte by byte."
    )


class ExportDocument(Strict):
    """A whole export. Only `format` and `version` are required to import one."""

    format: Literal["doable.export"]
    version: Literal[1, 2]
    exported_at: Timestamp | None = None
    account: AccountSection | None = None
    tags: Annotated[list[TagRecord], Field(max_length=MAX_IMPORT_TAGS)] = Field(
        default_factory=list
    )
    projects: Annotated[list[ProjectRecord], Field(max_length=MAX_IMPORT_PROJECTS)] = Field(
        default_factory=list, description="Version 2: the projects in their order, Inbox first."
    )
    tasks: Annotated[list[PlacedTaskRecord], Field(max_length=MAX_IMPORT_TASKS)] = Field(
        default_factory=list
    )
    shared_projects: Annotated[list[SharedProjectRecord], Field(max_length=MAX_IMPORT_PROJECTS)] = (
        Field(
            default_factory=list,
            description="Projects others share with the account, by name, owner and role. Their"
            " tasks are their owners' and are not exported; an import ignores this list.",
        )
    )


class ImportCounts(BaseModel):
    tasks: int = Field(description="Tasks created.")
    tags: int = Field(description="Tags created (tags that already existed are reused).")
    projects: int = Field(default=0, description="Projects created (the Inbox is reused).")
    sections: int = Field(default=0, description="Sections created.")


class ImportedProject(BaseModel):
    id: str
    name: str = Field(description="As created: `Name (2)` when `Name` was taken.")


class ImportNote(BaseModel):
    """A warning or an error, with where it is: `line` for CSV, `pointer` (RFC 6901) for JSON."""

    loc: list[str | int]
    msg: str
    line: int | None = None
    pointer: str | None = None
    # The pydantic error behind the note, if one is (not serialised): the web app's report
    # words it for a person (web/messages.py); the API keeps `msg` as pydantic wrote it.
    _cause: dict[str, Any] | None = PrivateAttr(default=None)

    def caused_by(self, error: Any) -> ImportNote:
        self._cause = dict(error)
        return self

    @property
    def cause(self) -> dict[str, Any] | None:
        return self._cause


class ImportResult(BaseModel):
    source: Literal["doable-json", "doable-csv", "todoist-csv"]
    imported: ImportCounts
    settings_applied: bool
    projects: list[ImportedProject] = Field(
        default_factory=list, description="The projects this import created, in their order."
    )
    warnings: list[ImportNote]
