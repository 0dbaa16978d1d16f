"""The MCP tools: each one a small function over tasks.service, registered with `@tool`.

A tool takes a `ToolContext` (the caller, and the session of its own unit of work) and its
validated arguments, and returns a result model. Its name is the function's name, its
description the docstring, its input and output schemas the annotated models. Adding a tool
is one decorated function here.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from mcp_types import ToolAnnotations
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from doable.auth.models import User
from doable.auth.security import Scope
from doable.db import utcnow
from doable.errors import InvalidInput
from doable.mcp_server.schemas import (
    AddTaskArgs,
    DeleteTaskArgs,
    FieldChange,
    ListProjectsArgs,
    ListTasksArgs,
    MoveResult,
    MoveTaskArgs,
    NoArgs,
    ParseQuickAddArgs,
    ProjectItem,
    ProjectList,
    ResultStatus,
    SectionItem,
    TagList,
    TaskList,
    TaskRef,
    TaskResult,
    UpdateResult,
    UpdateTaskArgs,
)
from doable.projects import access
from doable.projects import service as projects_service
from doable.projects.access import Role
from doable.projects.catalog import quick_add_catalog
from doable.tasks import listing as task_listing
from doable.tasks import quickadd
from doable.tasks import service as tasks_service
from doable.tasks import tags as task_tags_service
from doable.tasks.models import Task
from doable.tasks.schemas import PLACEMENT_FIELDS, PlaceOut, QuickParseOut, TaskOut, TaskPatch
from doable.trash import service as trash_service
from doable.zones import zone_of


@dataclass
class ToolContext:
    """What a tool works with. Set `discard` to roll the unit of work back (dry runs)."""

    session: AsyncSession
    user: User
    cursor_key: bytes
    discard: bool = False


ToolFn = Callable[[ToolContext, Any], Awaitable[BaseModel]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    scope: Scope
    args: type[BaseModel]
    result: type[BaseModel]
    fn: ToolFn
    annotations: ToolAnnotations = field(default_factory=ToolAnnotations)

    @property
    def writes(self) -> bool:
        return self.scope != "tasks:read"


TOOLS: dict[str, ToolSpec] = {}


def tool(
    *,
    title: str,
    scope: Scope,
    read_only: bool = False,
    destructive: bool = False,
    idempotent: bool = False,
) -> Callable[[ToolFn], ToolFn]:
    """Register a tool. Its arguments and result models come from the function's annotations."""

    def register(fn: ToolFn) -> ToolFn:
        hints = get_type_hints(fn)
        spec = ToolSpec(
            name=fn.__name__,
            title=title,
            description=inspect.cleandoc(fn.__doc__ or ""),
            scope=scope,
            args=hints["args"],
            result=hints["return"],
            fn=fn,
            annotations=ToolAnnotations(
                title=title,
                read_only_hint=read_only,
                destructive_hint=destructive,
                idempotent_hint=idempotent,
                open_world_hint=False,
            ),
        )
        if spec.name in TOOLS:
            raise ValueError(f"tool {spec.name} is registered twice")
        TOOLS[spec.name] = spec
        return fn

    return register


def _result(task: Task, status: ResultStatus) -> TaskResult:
    return TaskResult(
        task_id=task.id, status=status, title=task.title, task=TaskOut.from_task(task)
    )


# What a dry run reports as changed: every field but the bookkeeping ones.
_UNREPORTED = {"updated_at"}


def _changes(before: TaskOut, after: TaskOut) -> dict[str, FieldChange]:
    old, new = before.model_dump(mode="json"), after.model_dump(mode="json")
    return {
        name: FieldChange(before=old[name], after=new[name])
        for name in old
        if name not in _UNREPORTED and old[name] != new[name]
    }


@tool(title="Add a task", scope="tasks:write")
async def add_task(ctx: ToolContext, args: AddTaskArgs) -> TaskResult:
    """Create a task for the signed-in user and return it with status "created".

    Only `title` is required (1 to 200 characters). Optional: `description` (up to 10,000
    characters), `priority` (none, low, medium, high or urgent), `due`, `tags` (up to 30
    names of 1 to 50 characters; new names create tags) and `completed`. `due` is a date
    (YYYY-MM-DD) for an all-day task, or a datetime (YYYY-MM-DDTHH:MM[:SS] with an optional
    offset; without one it is read in the user's time zone). Datetimes come back in UTC.
    Where it goes: `project_id` (an id from list_projects; default the Inbox), `section_id`
    (a section of that project), `parent_id` (makes it a subtask) and `after`, `before` or
    `at` (first or last) among its siblings; by default it goes last.
    """
    task = await tasks_service.create_task(ctx.session, ctx.user, args)
    return _result(task, "created")


@tool(title="List tasks", scope="tasks:read", read_only=True, idempotent=True)
async def list_tasks(ctx: ToolContext, args: ListTasksArgs) -> TaskList:
    """List the user's tasks, newest first unless `sort` says otherwise, one page at a time.

    Filters combine: `status` (all, pending or completed), `q` (text in the title or
    description), `tag` (every listed tag), `priority` (any listed), `due_after` and
    `due_before` (an inclusive due range; tasks without a due date never match a range).
    `limit` is the page size (1 to 200, default 50); when `next_cursor` is not null, call again
    with it as `cursor` and the same filters to get the next page. `project_id` lists one
    project (sort "position" is its manual order); without it, tasks in archived projects are
    left out. `assignee` "me" lists the tasks assigned to the user (in shared projects too).
    """
    query = task_listing.TaskQuery(
        status=args.status,
        q=args.q or None,
        priority=list(args.priority),
        tag=list(args.tag),
        due_before=args.due_before,
        due_after=args.due_after,
        sort=args.sort,
        order=args.order,
        limit=args.limit,
        cursor=args.cursor,
        project_id=args.project_id,
        assignee=ctx.user.id if args.assignee == "me" else args.assignee,
    )
    tasks, next_cursor = await task_listing.list_tasks(
        ctx.session, ctx.user, query, cursor_key=ctx.cursor_key
    )
    return TaskList(items=[TaskOut.from_task(t) for t in tasks], next_cursor=next_cursor)


@tool(title="Get a task", scope="tasks:read", read_only=True, idempotent=True)
async def get_task(ctx: ToolContext, args: TaskRef) -> TaskResult:
    """Fetch one task by `task_id`. `status` is the task's state: pending or completed."""
    task = await tasks_service.get_task(ctx.session, ctx.user, args.task_id)
    return _result(task, "completed" if task.completed else "pending")


@tool(title="Update a task", scope="tasks:write")
async def update_task(ctx: ToolContext, args: UpdateTaskArgs) -> UpdateResult:
    """Change some fields of a task; fields not given stay as they are.

    Give `task_id` and at least one of `title`, `description`, `priority`, `due` (null removes
    the due date), `tags` (replaces all of the task's tags), `completed` or `assignee_id` (a
    person of the task's project, who is notified; null unassigns). `changes` lists
    each field that changed, before and after. With `dry_run: true` nothing is saved: status
    is "would_update", `task` is the task as it would be and `before` as it is now.
    """
    given = args.model_fields_set - {"task_id", "dry_run"}
    if not given:
        raise InvalidInput(
            "Give at least one field to change: title, description, priority, due, tags, "
            "completed or assignee_id",
            loc=["arguments"],
        )
    patch = TaskPatch.model_construct(
        _fields_set=given, **{name: getattr(args, name) for name in given}
    )
    task = await tasks_service.get_task(
        ctx.session, ctx.user, args.task_id, for_update=True, need=Role.EDITOR
    )
    before = TaskOut.from_task(task)
    task = await tasks_service.update_task(ctx.session, ctx.user, task, patch)
    after = TaskOut.from_task(task)
    ctx.discard = args.dry_run
    return UpdateResult(
        task_id=task.id,
        status="would_update" if args.dry_run else "updated",
        title=after.title,
        task=after,
        before=before if args.dry_run else None,
        changes=_changes(before, after),
    )


@tool(title="Complete a task", scope="tasks:write", idempotent=True)
async def complete_task(ctx: ToolContext, args: TaskRef) -> TaskResult:
    """Mark a task as done. Completing a completed task changes nothing. A repeating task
    (one with `recurrence`) records the completion and moves to its next due date instead,
    staying open, until its series ends."""
    task = await tasks_service.get_task(
        ctx.session, ctx.user, args.task_id, for_update=True, need=Role.EDITOR
    )
    task = await tasks_service.set_completed(ctx.session, task, True)
    return _result(task, "completed")


@tool(title="Reopen a task", scope="tasks:write", idempotent=True)
async def reopen_task(ctx: ToolContext, args: TaskRef) -> TaskResult:
    """Mark a completed task as not done (pending) again. Reopening a pending task changes
    nothing."""
    task = await tasks_service.get_task(
        ctx.session, ctx.user, args.task_id, for_update=True, need=Role.EDITOR
    )
    task = await tasks_service.set_completed(ctx.session, task, False)
    return _result(task, "reopened")


@tool(title="Delete a task", scope="tasks:write", destructive=True)
async def delete_task(ctx: ToolContext, args: DeleteTaskArgs) -> TaskResult:
    """Delete a task and its subtasks into the trash (restorable for TRASH_DAYS days; its tags
    stay). Returns the deleted task with status "deleted".

    With `dry_run: true` nothing is deleted: status is "would_delete" and `task` is the task
    that would go. Deleting an id that does not exist (or no longer exists) is an error.
    """
    task = await tasks_service.get_task(
        ctx.session, ctx.user, args.task_id, for_update=True, need=Role.EDITOR
    )
    result = _result(task, "would_delete" if args.dry_run else "deleted")
    if args.dry_run:
        ctx.discard = True
    else:
        await trash_service.trash_task(ctx.session, task)
    return result


@tool(title="List tags", scope="tasks:read", read_only=True, idempotent=True)
async def list_tags(ctx: ToolContext, args: NoArgs) -> TagList:
    """List the user's tags by name, each with its id, colour and number of tasks."""
    return TagList(tags=await task_tags_service.list_tags(ctx.session, ctx.user.id))


@tool(title="Parse quick-add text", scope="tasks:read", read_only=True, idempotent=True)
async def parse_quick_add(ctx: ToolContext, args: ParseQuickAddArgs) -> QuickParseOut:
    """Read natural-language task text the way Doable's quick-add box does, and return the
    title, due (a date for all-day, else a datetime with the user's offset), priority, tags,
    repeat rule (RRULE, mode and words), the character range of each recognised token, and
    warnings. Creates nothing: pass the fields to add_task (recurrence as {rule, mode}) to
    create the task."""
    zone = zone_of(ctx.user.timezone)
    catalog = await quick_add_catalog(ctx.session, ctx.user)
    return quickadd.parse_out(quickadd.parse(args.text, zone=zone, now=utcnow(), catalog=catalog))


@tool(title="List projects", scope="tasks:read", read_only=True, idempotent=True)
async def list_projects(ctx: ToolContext, args: ListProjectsArgs) -> ProjectList:
    """List the user's projects in their order, the Inbox first, then the projects others
    share with them: each with its `id`, name, colour, favourite and archived flags, number of
    open tasks, its sections (id and name) in order, and the user's `role` in it (owner,
    admin, editor or viewer; a viewer reads its tasks but cannot add, change, complete, move
    or delete them). Archived projects are left out unless `archived` is true. Pass a
    project's `id` as `project_id` to add_task, list_tasks or move_task, and a section's as
    `section_id`."""
    session, user = ctx.session, ctx.user
    found = await projects_service.list_projects(
        session, user, archived=None if args.archived else False
    )
    counts = await projects_service.open_counts(session, user)
    sections = await projects_service.sections_by_project(session, user)
    roles = await access.shared_roles(session, user)
    return ProjectList(
        projects=[
            ProjectItem(
                id=p.id,
                name=p.name,
                color=p.color,
                favorite=p.favorite,
                archived=p.archived,
                inbox=p.is_inbox,
                open_tasks=counts.get(p.id, 0),
                sections=[SectionItem(id=s.id, name=s.name) for s in sections.get(p.id, [])],
                role=roles.get(p.id, Role.OWNER).value,
            )
            for p in found
        ]
    )


@tool(title="Move a task", scope="tasks:write")
async def move_task(ctx: ToolContext, args: MoveTaskArgs) -> MoveResult:
    """Move a task to another project, section or parent, or to another place among its
    siblings; its subtasks move with it. Give `task_id` and at least one of `project_id` (from
    list_projects), `section_id` (null: out of its section), `parent_id` (null: a top-level
    task), `after` or `before` (a sibling task's id) and `at` (first or last). A task moved to
    another project leaves its section and parent there unless they are given too; by default
    it goes last. Returns the task with its project and section."""
    given = args.model_fields_set & PLACEMENT_FIELDS
    if not given:
        raise InvalidInput(
            "Give where to move it: project_id, section_id, parent_id, after, before or at",
            loc=["arguments"],
        )
    patch = TaskPatch.model_construct(
        _fields_set=given, **{name: getattr(args, name) for name in given}
    )
    task = await tasks_service.get_task(
        ctx.session, ctx.user, args.task_id, for_update=True, need=Role.EDITOR
    )
    task = await tasks_service.update_task(ctx.session, ctx.user, task, patch)
    assert task.project_id is not None
    project = await projects_service.get_project(ctx.session, ctx.user, task.project_id)
    section = None
    if task.section_id is not None:
        section = await projects_service.get_section(ctx.session, ctx.user, task.section_id)
    return MoveResult(
        task_id=task.id,
        status="moved",
        title=task.title,
        project=PlaceOut(id=project.id, name=project.name),
        section=PlaceOut(id=section.id, name=section.name) if section else None,
        task=TaskOut.from_task(task),
    )
