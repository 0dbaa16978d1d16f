"""Arguments and results of the MCP tools: the REST API's rules, in shapes a model can use."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
)

from doable.comments.schemas import CommentBody
from doable.tasks import service as tasks_service
from doable.tasks.schemas import (
    DueIn,
    Placed,
    PlaceOut,
    Priority,
    QuickText,
    TagOut,
    TaskCreate,
    TaskOut,
    TaskPatch,
)
from doable.types import NO_NUL, Text

TaskId = Annotated[
    uuid.UUID, Field(description="The task's id (a UUID), as returned by add_task or list_tasks.")
]
DryRun = Annotated[
    StrictBool,
    Field(description="true: report what would change (before and after) and change nothing."),
]
# The same limits as GET /api/v1/tasks.
# Lengths first, so they count what was sent; then the NUL check (and trimming).
SearchText = Annotated[str, StringConstraints(max_length=200), Text(strip=True)]
TagFilter = Annotated[str, StringConstraints(min_length=1, max_length=50), NO_NUL]
Cursor = Annotated[str, StringConstraints(max_length=1000), NO_NUL]


def _one_or_many(value: Any) -> Any:
    # Models often send one tag as a bare string; it means a list of one.
    return [value] if isinstance(value, str) else value


class Args(BaseModel):
    # Unknown names are refused, so a misspelt argument is not silently ignored.
    model_config = ConfigDict(extra="forbid")


class NoArgs(Args):
    pass


class ParseQuickAddArgs(Args):
    text: QuickText = Field(
        description="Quick-add text, e.g. 'Water plants every 3 days at 8am #home !high'."
        " Recognised: #Project (a project of that name, else a tag), /Section, @tag;"
        " !low|!medium|!high|!urgent or !1 (urgent) to !4 (low), p1 (urgent) to p4 (none); dates"
        " (today,"
        " tomorrow, friday, next friday, in 3 days, dec 5, 2026-12-05); times (at 5pm, 17:30);"
        " repeats (every day, every weekday, every 2 weeks on mon, thu, every month on the 1st,"
        " every last friday, every year; every! counts from completion). Other words are the"
        " title. Dates and times are read in the user's time zone."
    )


class AddTaskArgs(TaskCreate):
    pass  # the body of POST /api/v1/tasks


class TaskRef(Args):
    task_id: TaskId


class UpdateTaskArgs(TaskPatch):
    # The body of PATCH /api/v1/tasks/{id}, plus the task id and dry_run.
    task_id: TaskId
    dry_run: DryRun = False


class DeleteTaskArgs(TaskRef):
    dry_run: DryRun = False


class ListTasksArgs(Args):
    status: tasks_service.StatusFilter = Field(
        "all", description="pending: not completed; completed: done; all: both."
    )
    q: SearchText | None = Field(
        None, description="Case-insensitive substring of the title or description."
    )
    tag: Annotated[list[TagFilter], BeforeValidator(_one_or_many)] = Field(
        default_factory=list,
        max_length=30,
        description="Tag names (case-insensitive); a task must have all of them.",
    )
    priority: list[Priority] = Field(
        default_factory=list, max_length=5, description="Any of these priorities."
    )
    due_after: DueIn = Field(
        None, description="Only tasks due at or after this date or datetime (inclusive)."
    )
    due_before: DueIn = Field(
        None, description="Only tasks due at or before this date or datetime (inclusive)."
    )
    sort: tasks_service.SortField = Field("created", description="The order of the list.")
    order: tasks_service.Order | None = Field(
        None, description="Default: desc for created, updated and priority; asc for due, title."
    )
    limit: int = Field(50, ge=1, le=200, strict=True, description="Tasks per page, 1 to 200.")
    cursor: Cursor | None = Field(
        None, description="next_cursor from the previous page, with the same filters and sort."
    )
    project_id: uuid.UUID | None = Field(
        None,
        description="Only this project's tasks (an id from list_projects), archived or not."
        " Without it, every project's tasks but archived projects'.",
    )
    assignee: Literal["me", "none"] | uuid.UUID | None = Field(
        None,
        description='"me": only tasks assigned to the user; "none": only unassigned tasks; a'
        " user id: tasks assigned to that person.",
    )


class ListCommentsArgs(TaskRef):
    limit: int = Field(50, ge=1, le=200, strict=True, description="Comments per page, 1 to 200.")
    cursor: Cursor | None = Field(None, description="next_cursor from the previous page.")


class AddCommentArgs(TaskRef):
    body: CommentBody = Field(
        description="Plain text, 1 to 10,000 characters (no HTML: it is shown as typed)."
        ' `@Name` or `@"Full Name"` mentions a person of the project, who is notified.'
    )


class ListProjectsArgs(Args):
    archived: StrictBool = Field(
        False, description="true: list archived projects too (they are left out by default)."
    )


class MoveTaskArgs(Placed):
    # The placement fields of PATCH /api/v1/tasks/{id}, plus the task id.
    task_id: TaskId
    project_id: uuid.UUID | None = Field(
        None, description="The project to move it to (an id from list_projects)."
    )


ResultStatus = Literal[
    "created",
    "updated",
    "completed",
    "reopened",
    "deleted",
    "pending",
    "would_update",
    "would_delete",
]


class TaskResult(BaseModel):
    """The original spec's `{task_id, status, title}`, plus the whole task."""

    task_id: uuid.UUID
    status: ResultStatus = Field(
        description="What happened: created, updated, completed, reopened or deleted; for "
        "get_task the task's state (pending or completed); for a dry run would_update or "
        "would_delete."
    )
    title: str
    task: TaskOut = Field(description="The task as it is now (after a dry run: as it would be).")


class FieldChange(BaseModel):
    before: Any
    after: Any


class UpdateResult(TaskResult):
    before: TaskOut | None = Field(
        None, description="Dry run only: the task as it is now, before the change."
    )
    changes: dict[str, FieldChange] = Field(
        default_factory=dict, description="Each field whose value changes, before and after."
    )


class TaskList(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same filters) for the next page; null at the end."
    )


class MoveResult(BaseModel):
    task_id: uuid.UUID
    status: Literal["moved"]
    title: str
    project: PlaceOut = Field(description="The project the task is in now.")
    section: PlaceOut | None = Field(description="Its section there, or null.")
    task: TaskOut = Field(description="The task as it is now.")


class SectionItem(BaseModel):
    id: uuid.UUID
    name: str


class ProjectItem(BaseModel):
    id: uuid.UUID
    name: str
    color: str
    favorite: bool
    archived: bool
    inbox: bool = Field(description="true for the Inbox, where tasks go by default.")
    open_tasks: int = Field(description="How many of its tasks are not completed.")
    sections: list[SectionItem] = Field(description="Its sections, in order.")
    role: str = Field(
        default="owner",
        description="The user's role in it: owner (their own project), or admin, editor or"
        " viewer (a project shared with them; a viewer cannot change its tasks).",
    )


class ProjectList(BaseModel):
    projects: list[ProjectItem] = Field(description="In the user's order, the Inbox first.")


class TagList(BaseModel):
    tags: list[TagOut] = Field(description="Every tag, by name, with how many tasks carry it.")


FIELD_DESCRIPTIONS = {
    "title": "The task's title, 1 to 200 characters (trimmed).",
    "description": "Free-form notes, up to 10,000 characters.",
    "priority": "none, low, medium, high or urgent.",
    "due": "A date (YYYY-MM-DD) for an all-day task, or a datetime (YYYY-MM-DDTHH:MM[:SS] with"
    " an optional Z or ±HH:MM offset; without one it is read in the user's time zone).",
    "tags": "Tag names, 1 to 50 characters each, up to 30; a new name creates the tag.",
    "completed": "true: the task is done.",
    "assignee_id": "The user id of the one person of the task's project it is assigned to"
    " (its owner or a member), or null for nobody.",
}


def describe(schema: dict[str, Any]) -> dict[str, Any]:
    """An arguments schema with a description on every property, for a model to read."""
    schema = {k: v for k, v in schema.items() if k not in {"title", "description"}}
    properties = {}
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        prop.pop("title", None)
        if name in FIELD_DESCRIPTIONS:
            prop.setdefault("description", FIELD_DESCRIPTIONS[name])
        properties[name] = prop
    schema["properties"] = properties
    return schema
