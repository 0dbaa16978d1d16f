"""Where a task sits: its project, section, parent and position, and its subtasks.

A task lives in one project, in at most one of that project's sections, and may have a parent
in the same project and section, down to MAX_DEPTH levels (Todoist's INDENT 1-4). Siblings
(same project, section and parent) are ordered by `position` keys (doable/positions.py).

Every placement, at creation or by a move, resolves its target here (`resolve`), checks it
(another user's project, section or parent: 404; a parent in another project, a section of
another project, a cycle, a depth past MAX_DEPTH or an unknown neighbour: 422), then locks the
projects involved and picks a key among the new siblings: one row written, plus the subtree's
rows when a parent changes project or section. Nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from doable.auth.models import User
from doable.errors import InvalidInput, NotFound
from doable.projects import access
from doable.projects import service as projects
from doable.projects.access import Role
from doable.projects.service import Placement
from doable.tasks.models import TASK_ROW_COLUMNS, VISIBLE, Task, TaskRow
from doable.tasks.tagnames import TAG_NAMES

MAX_DEPTH = 4


class ParentNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such parent task")


@dataclass(frozen=True)
class Target:
    project_id: uuid.UUID
    section_id: uuid.UUID | None
    parent_id: uuid.UUID | None
    # The project's owner, whose id every task of the project carries (projects/access.py).
    owner_id: uuid.UUID = field(default=uuid.UUID(int=0), compare=False)


@dataclass(frozen=True)
class Move:
    """What a create or PATCH asked for; `given` names the fields the client sent (a field
    sent as null means "none": no section, no parent)."""

    project_id: uuid.UUID | None = None
    section_id: uuid.UUID | None = None
    parent_id: uuid.UUID | None = None
    placement: Placement = field(default_factory=Placement)
    given: frozenset[str] = frozenset()

    @property
    def moves(self) -> bool:
        return bool(self.given & {"project_id", "section_id", "parent_id"}) or not (
            self.placement.empty
        )


# A list's shape: (under a parent, in a section). Under a parent, the section does not count.
Shape = tuple[bool, bool]


def _shape(target: Target) -> Shape:
    if target.parent_id is not None:
        return (True, False)
    return (False, target.section_id is not None)


def _sibling_rule(
    shape: Shape, project_id: Any, section_id: Any, parent_id: Any
) -> ColumnElement[bool]:
    """The one rule for a task's siblings, over values or bind parameters: the tasks under the
    same parent; else the top-level tasks of the same project and section (or of none)."""
    under_parent, in_section = shape
    if under_parent:
        same_parent: ColumnElement[bool] = Task.parent_id == parent_id
        return same_parent
    section = Task.section_id == section_id if in_section else Task.section_id.is_(None)
    return and_(Task.project_id == project_id, section, Task.parent_id.is_(None))


def siblings(target: Target) -> ColumnElement[bool]:
    return _sibling_rule(_shape(target), target.project_id, target.section_id, target.parent_id)


# `siblings(target)` of an owner's tasks, built once per shape with the values bound
# (projects.key_for builds its statements over each once: building cost more than running).
_BOUND_SIBLINGS: dict[Shape, ColumnElement[bool]] = {
    shape: and_(
        Task.owner_id == bindparam("owner_id"),
        _sibling_rule(
            shape, bindparam("project_id"), bindparam("section_id"), bindparam("parent_id")
        ),
    )
    for shape in ((True, False), (False, True), (False, False))
}


def _bound_siblings(target: Target) -> tuple[ColumnElement[bool], dict[str, Any]]:
    """`Task.owner_id == target.owner_id` and `siblings(target)`, as a prebuilt condition and
    the values to bind."""
    shape = _shape(target)
    names = ("parent_id",) if shape[0] else ("project_id", "section_id")[: 1 + shape[1]]
    values = {name: getattr(target, name) for name in names}
    return _BOUND_SIBLINGS[shape], {"owner_id": target.owner_id, **values}


def _list_columns(target: Target) -> tuple[InstrumentedAttribute[Any], ...]:
    """The columns of `ix_tasks_siblings_position` between a top-level list's project and
    the position, which its siblings' condition fixes by IS NULL (projects.key_for)."""
    return () if _shape(target)[0] else (Task.section_id, Task.parent_id)


async def _task_place(session: AsyncSession, user: User, task_id: uuid.UUID) -> Target | None:
    """Where a task the user may change sits (None: not found). A task the user sees but
    may not change (a viewer's) is 403, as for every other write of a viewer."""
    row = (
        await session.execute(
            select(Task.project_id, Task.section_id, Task.parent_id, Task.owner_id).where(
                access.task_scope(user), Task.id == task_id, VISIBLE
            )
        )
    ).one_or_none()
    if row is None:
        return None
    assert row[0] is not None
    await access.require(session, user, Role.EDITOR, project_id=row[0], owner_id=row[3])
    return Target(row[0], row[1], row[2], row[3])


async def depth_of(session: AsyncSession, owner_id: uuid.UUID, task_id: uuid.UUID) -> int:
    """1 for a top-level task, 2 for its subtask, …; walks at most MAX_DEPTH + 1 rows."""
    depth, current = 1, task_id
    while depth <= MAX_DEPTH + 1:
        parent = await session.scalar(
            select(Task.parent_id).where(Task.owner_id == owner_id, Task.id == current)
        )
        if parent is None:
            return depth
        depth, current = depth + 1, parent
    return depth


# SQLite's planner, once ANALYZE has run, sees ix_tasks_parent_position as one key (NULL, for
# every top-level task) and scans the whole table per row instead: 0.8 s for a page at 20k
# tasks. Without statistics it walks all the owner's tasks by an owner index instead: finding
# a completed task's subtasks took 9-15 ms at 38k tasks, 0.15-0.6 ms with the hint. The hint
# keeps the probe; the other backends' statistics know NULLs apart.
_BY_PARENT = "INDEXED BY ix_tasks_parent_position"


async def descendant_levels(
    session: AsyncSession, owner_id: uuid.UUID, root_ids: Sequence[uuid.UUID]
) -> list[list[uuid.UUID]]:
    """The descendants of `root_ids`, level by level (children, grandchildren, …): one query
    per level, at most MAX_DEPTH - 1 levels deep."""
    levels: list[list[uuid.UUID]] = []
    frontier = list(root_ids)
    for _ in range(MAX_DEPTH):
        if not frontier:
            break
        children = list(
            (
                await session.scalars(
                    select(Task.id)
                    .with_hint(Task, _BY_PARENT, dialect_name="sqlite")
                    .where(Task.owner_id == owner_id, Task.parent_id.in_(frontier))
                )
            ).all()
        )
        if children:
            levels.append(children)
        frontier = children
    return levels


async def descendants(
    session: AsyncSession, owner_id: uuid.UUID, root_id: uuid.UUID
) -> list[uuid.UUID]:
    return [
        task_id
        for level in await descendant_levels(session, owner_id, [root_id])
        for task_id in level
    ]


def subtree_condition(owner_id: uuid.UUID, root_id: uuid.UUID) -> ColumnElement[bool]:
    """A task condition: a descendant of `root_id` (not the root itself), as one SQL
    condition (a recursive CTE), for the list filter."""
    tree = (
        select(Task.id)
        .with_hint(Task, _BY_PARENT, dialect_name="sqlite")
        .where(Task.owner_id == owner_id, Task.parent_id == root_id)
        .cte("subtree", recursive=True)
    )
    child = (
        select(Task.id)
        .with_hint(Task, _BY_PARENT, dialect_name="sqlite")
        .where(Task.owner_id == owner_id, Task.parent_id == tree.c.id)
    )
    tree = tree.union_all(child)
    return Task.id.in_(select(tree.c.id))


async def resolve(session: AsyncSession, user: User, task: Task | None, move: Move) -> Target:
    """Where `task` (None: a new task) goes, checked, with the owner of the project it lands
    in. The user needs an editor's role there: a project, section, parent or neighbour they
    cannot see is 404 (422 for a neighbour), one they only view is 403. See the module
    docstring for the other errors."""
    given = move.given
    placement = move.placement
    anchor = placement.after or placement.before
    if anchor is not None:
        target_or_none = await _task_place(session, user, anchor)
        if target_or_none is None or (task is not None and anchor == task.id):
            raise InvalidInput(
                "The neighbour is not one of your tasks",
                loc=["body", "after" if placement.after else "before"],
            )
        target = target_or_none
        for name in ("project_id", "section_id", "parent_id"):
            if name in given and getattr(move, name) != getattr(target, name):
                raise InvalidInput(
                    f"The neighbour is not in the {name.removesuffix('_id')} given",
                    loc=["body", name],
                )
        await _check_parent(session, task, target)
        return target

    if task is not None:
        assert task.project_id is not None
        project_id, section_id, parent_id = task.project_id, task.section_id, task.parent_id
        owner_id = task.owner_id
    else:
        # Nothing given: an append to the Inbox, whose shared lock (`place`) comes with it.
        append = not given and placement.empty
        project_id = await projects.inbox_id(session, user.id, lock_shared=append)
        section_id = parent_id = None
        owner_id = user.id

    if "project_id" in given:
        # null means the Inbox, the project of tasks that have no other.
        wanted = move.project_id or await projects.inbox_id(session, user.id)
        if move.project_id is None:
            owner_id = user.id
        elif wanted != project_id or task is None:
            project = await projects.get_project(session, user, wanted, need=Role.EDITOR)
            owner_id = project.owner_id
        if wanted != project_id:
            project_id, section_id, parent_id = wanted, None, None
    if "section_id" in given:
        if move.section_id is None:
            section_id = None
        else:
            section = await projects.get_section(session, user, move.section_id, need=Role.EDITOR)
            if "project_id" in given and section.project_id != project_id:
                raise InvalidInput(
                    "The section belongs to another project", loc=["body", "section_id"]
                )
            if section.project_id != project_id:
                project_id = section.project_id
            section_id, owner_id = section.id, section.owner_id
        if "parent_id" not in given:
            parent_id = None  # a subtask moved to another section leaves its parent
    if "parent_id" in given:
        parent_id = move.parent_id
        if parent_id is not None:
            place = await _task_place(session, user, parent_id)
            if place is None:
                raise ParentNotFound()
            if ("project_id" in given or "section_id" in given) and place.project_id != project_id:
                raise InvalidInput("The parent is in another project", loc=["body", "parent_id"])
            if "section_id" in given and place.section_id != section_id:
                raise InvalidInput("The parent is in another section", loc=["body", "parent_id"])
            project_id, section_id, owner_id = place.project_id, place.section_id, place.owner_id
    target = Target(project_id, section_id, parent_id, owner_id)
    await _check_parent(session, task, target)
    return target


async def _check_parent(session: AsyncSession, task: Task | None, target: Target) -> None:
    parent_id, owner_id = target.parent_id, target.owner_id
    if parent_id is None:
        return
    height = 1
    if task is not None:
        if parent_id == task.id:
            raise InvalidInput("A task cannot be its own parent", loc=["body", "parent_id"])
        levels = await descendant_levels(session, task.owner_id, [task.id])
        if any(parent_id in level for level in levels):
            raise InvalidInput(
                "The parent is one of this task's subtasks", loc=["body", "parent_id"]
            )
        height += len(levels)
    if await depth_of(session, owner_id, parent_id) + height > MAX_DEPTH:
        raise InvalidInput(
            f"Subtasks go at most {MAX_DEPTH} levels deep", loc=["body", "parent_id"]
        )


async def place(
    session: AsyncSession,
    task: Task,
    target: Target,
    placement: Placement,
    *,
    old: Target | None = None,
) -> None:
    """Give `task` the target's place and a key among its new siblings (locks the projects).
    A task that lands in a project of another owner, and its subtree, take that owner's id;
    the caller re-files its tags (tasks/service.py).

    A new task with no place asked for goes last, under a shared lock: creates into one list
    run side by side (before, each waited for the one ahead to commit), and their keys are
    tiebroken. Anything else holds its projects alone."""
    owner_id = target.owner_id
    append = old is None and placement.empty
    for project_id in sorted({target.project_id} | ({old.project_id} if old else set())):
        await projects.lock(session, project_id, shared=append)
    moved = old is not None and old != target
    if placement.empty and old is not None and not moved:
        return
    among, params = _bound_siblings(target)
    task.position = await projects.key_for(
        session,
        Task.position,
        among,
        placement if not placement.empty else Placement(at="last"),
        id_column=Task.id,
        moving=task.id if old is not None else None,
        params=params,
        tiebreak=append,
        within=_list_columns(target),
        within_index="ix_tasks_siblings_position",
    )
    task.project_id, task.section_id, task.parent_id = (
        target.project_id,
        target.section_id,
        target.parent_id,
    )
    if old is not None and (
        old.project_id != target.project_id or old.section_id != target.section_id
    ):
        # The subtree follows its root (loaded, so each change is an event like any other).
        ids = await descendants(session, task.owner_id, task.id)
        for start in range(0, len(ids), 500):
            for child in (
                await session.scalars(
                    select(Task).where(
                        Task.owner_id == task.owner_id, Task.id.in_(ids[start : start + 500])
                    )
                )
            ).all():
                child.project_id, child.section_id = target.project_id, target.section_id
                child.owner_id = owner_id
    task.owner_id = owner_id


async def open_descendants(
    session: AsyncSession, owner_id: uuid.UUID, root_id: uuid.UUID
) -> list[Task]:
    ids = await descendants(session, owner_id, root_id)
    found: list[Task] = []
    for start in range(0, len(ids), 500):
        found.extend(
            (
                await session.scalars(
                    select(Task).where(
                        Task.owner_id == owner_id,
                        Task.id.in_(ids[start : start + 500]),
                        Task.completed.is_(False),
                    )
                )
            ).all()
        )
    return found


async def reopen_descendants(
    session: AsyncSession, owner_id: uuid.UUID, root_id: uuid.UUID
) -> None:
    """A repeating parent moved to its next occurrence: its subtasks open again for it."""
    ids = await descendants(session, owner_id, root_id)
    for start in range(0, len(ids), 500):
        for child in (
            await session.scalars(
                select(Task).where(
                    Task.owner_id == owner_id,
                    Task.id.in_(ids[start : start + 500]),
                    Task.completed.is_(True),
                )
            )
        ).all():
            child.completed, child.completed_at = False, None


def progress_select(parent_ids: Any) -> Select[Any]:
    """Per parent in `parent_ids` (a list or an expanding bind parameter): its direct visible
    subtasks, in all and done. Parents without subtasks have no row."""
    return (
        select(
            Task.parent_id,
            func.count(),
            func.coalesce(func.sum(case((Task.completed.is_(True), 1), else_=0)), 0),
        )
        .with_hint(Task, _BY_PARENT, dialect_name="sqlite")
        .where(Task.parent_id.in_(parent_ids), VISIBLE)
        .group_by(Task.parent_id)
    )


async def progress_of(session: AsyncSession, task_id: uuid.UUID) -> tuple[int, int]:
    """One task's subtasks, done and in all."""
    row = (await session.execute(progress_select([task_id]))).one_or_none()
    return (0, 0) if row is None else (int(row[2]), int(row[1]))


async def fill_progress(session: AsyncSession, tasks: Sequence[TaskRow]) -> None:
    """Each task's direct subtasks, done and in all ("2/5"), for a page, in one query."""
    if not tasks:
        return
    by_id = {task.id: task for task in tasks}
    rows = await session.execute(progress_select(list(by_id)))
    for parent_id, total, done in rows.all():
        row = by_id[parent_id]
        row.subtasks_total, row.subtasks_done = int(total), int(done)


_child = aliased(Task, name="child")
# A task's direct subtasks, done and in all, as two correlated columns of the page's own query
# (an index probe each on ix_tasks_parent_position), so progress costs no query of its own.
PROGRESS_COLUMNS = (
    select(func.count())
    .with_hint(_child, _BY_PARENT, dialect_name="sqlite")
    .where(_child.parent_id == Task.id, _child.import_batch_id.is_(None))
    .correlate(Task)
    .scalar_subquery()
    .label("subtasks_total"),
    select(func.count())
    .with_hint(_child, _BY_PARENT, dialect_name="sqlite")
    .where(
        _child.parent_id == Task.id,
        _child.import_batch_id.is_(None),
        _child.completed.is_(True),
    )
    .correlate(Task)
    .scalar_subquery()
    .label("subtasks_done"),
)


# A task as it is shown, in one row: its columns, its subtasks' progress and its tag names
# (doable.tasks.tagnames). A page and a task's GET read these.
DISPLAY_COLUMNS = (*TASK_ROW_COLUMNS, *PROGRESS_COLUMNS, TAG_NAMES)


def display_row(row: Any) -> TaskRow:
    """A TaskRow from a row of DISPLAY_COLUMNS."""
    task = TaskRow.from_row(row)
    n = len(TASK_ROW_COLUMNS)
    task.subtasks_total, task.subtasks_done = int(row[n] or 0), int(row[n + 1] or 0)
    task.tag_names = row[n + 2]
    return task
