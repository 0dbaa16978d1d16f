"""Task and tag logic. Every query is scoped to its owner; nothing here commits."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from doable import events
from doable.auth.models import User
from doable.comments.models import Comment
from doable.db import TASK_QUOTA, flush_versioned, read_rows, utcnow, version_etag
from doable.db import check_if_match as db_check_if_match
from doable.errors import Conflict, InvalidInput, NotFound
from doable.projects import access
from doable.projects import service as projects
from doable.projects.access import Role
from doable.projects.models import ProjectMember
from doable.projects.service import Placement
from doable.reminders import service as reminders_service
from doable.reminders.models import Reminder
from doable.tasks import assignees, recurrence, tags, tree
from doable.tasks import cursor as cursors
from doable.tasks.models import (
    NO_DUE,
    VISIBLE,
    Tag,
    Task,
    TaskCompletion,
    TaskRow,
    task_tags,
)
from doable.tasks.schemas import (
    PLACEMENT_FIELDS,
    PRIORITY_LEVELS,
    Placed,
    RecurrenceIn,
    TaskCreate,
    TaskPatch,
)
from doable.zones import Zone, zone_of

SortField = Literal["created", "updated", "due", "priority", "title", "position"]
Order = Literal["asc", "desc"]
StatusFilter = Literal["all", "pending", "completed"]
WhenFilter = Literal["today", "overdue", "upcoming"]
UPCOMING_DAYS = 7
MAX_UPCOMING_DAYS = 366

SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "created": Task.created_at,
    "updated": Task.updated_at,
    "due": Task.due_sort,
    "priority": Task.priority,
    "title": Task.title,
    "position": Task.position,
}
DEFAULT_ORDER: dict[str, Order] = {
    "created": "desc",
    "updated": "desc",
    "due": "asc",
    "priority": "desc",
    "title": "asc",
    "position": "asc",
}


class TaskNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No task with this id")


def _zone(user: User) -> Zone:
    return zone_of(user.timezone)


def _to_instant(value: date | datetime, zone: Zone) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            # Gap and overlap rule: see recurrence.to_instant and docs/scheduling.md.
            return recurrence.to_instant(value, zone)
        return value.astimezone(UTC)
    return recurrence.to_instant(datetime.combine(value, time(0)), zone)


def instant_in(value: date | datetime, zone: Zone) -> datetime:
    """`to_instant` for a zone rather than a user (an import places dues in the zone the
    account will have)."""
    return _to_instant(value, zone)


def to_instant(value: date | datetime, user: User) -> datetime:
    """A filter or due value as a UTC instant: dates start at midnight in the user's zone, and
    an offset-less datetime is read in the user's zone (docs/scheduling.md: DST gaps and
    overlaps)."""
    return _to_instant(value, _zone(user))


def _apply_due(task: Task, due: date | datetime | None, zone: Zone) -> None:
    if due is None:
        task.due_date, task.due_at, task.due_sort = None, None, NO_DUE
    elif isinstance(due, datetime):
        task.due_date, task.due_at = None, _to_instant(due, zone)
        task.due_sort = task.due_at
    else:
        task.due_date, task.due_at, task.due_sort = due, None, _to_instant(due, zone)


def _due_of(task: Task) -> date | datetime | None:
    return task.due_at if task.due_at is not None else task.due_date


due_of = _due_of  # a task's due as the API gives it (trash/undo.py)


def _rule_error(exc: recurrence.RuleError) -> InvalidInput:
    return InvalidInput(str(exc), loc=["body", "recurrence", "rule"])


def _set_recurrence(task: Task, value: RecurrenceIn | None) -> None:
    if value is None:
        task.rrule, task.recurrence_mode = None, None
    else:
        task.rrule, task.recurrence_mode = value.rule, value.mode


def _settle_recurrence(task: Task, zone: Zone, now: datetime) -> None:
    """After a write that set the rule or the due: a recurring task without a due gets its
    first occurrence from today (all-day); a rule with no occurrence from the due is refused."""
    if task.rrule is None:
        return
    try:
        rule = recurrence.parse(task.rrule)
        due = _due_of(task)
        if due is None:
            _apply_due(task, recurrence.first_due(rule, now.astimezone(zone).date(), zone), zone)
        else:
            recurrence.check(rule, due, zone)
    except recurrence.RuleError as exc:
        raise _rule_error(exc) from None


def _visible_to(user: User) -> Select[Task]:
    """The tasks the user may see (projects/access.py), less an import's staged (hidden) ones:
    those exist for nobody yet."""
    return select(Task).where(access.task_scope(user), VISIBLE).options(selectinload(Task.tags))


async def get_task(
    session: AsyncSession,
    user: User,
    task_id: uuid.UUID,
    *,
    for_update: bool = False,
    need: Role = Role.VIEWER,
) -> Task:
    """Load a task the user may see (else 404), if their role in its project allows `need`
    (else 403). `for_update` locks the row so concurrent writers queue (and If-Match is
    checked against the version they will actually overwrite)."""
    stmt = _visible_to(user).where(Task.id == task_id)
    if for_update:
        stmt = stmt.with_for_update()
    task = (await session.execute(stmt)).scalar_one_or_none()
    if task is None:
        raise TaskNotFound()
    if need is not Role.VIEWER and task.owner_id != user.id:
        assert task.project_id is not None
        await access.require(
            session, user, need, project_id=task.project_id, owner_id=task.owner_id
        )
    return task


def etag(task: Task) -> str:
    return version_etag(task.version)


def check_if_match(task: Task, if_match: str | None) -> None:
    """412 unless `If-Match` is absent, `*`, or lists the task's current ETag."""
    db_check_if_match(task.version, if_match, "The task")


async def _flush(session: AsyncSession) -> None:
    await flush_versioned(session, "The task")


class TaskQuotaExceeded(Conflict):
    def __init__(self, quota: int) -> None:
        super().__init__(
            f"This account has reached its limit of {quota} tasks; delete some to add more"
        )


async def ensure_room(session: AsyncSession, owner_id: uuid.UUID, adding: int = 1) -> None:
    """Refuse to go past the account's task quota (MAX_TASKS_PER_ACCOUNT; off when 0). Every
    path that creates tasks (API, web, MCP, compat, import) calls it before inserting.

    Atomic on every backend: the owner's row is locked first, so one account's creations queue
    here until the one ahead commits, and the count then reads the latest committed rows
    (PostgreSQL's READ COMMITTED does so per statement; MariaDB's REPEATABLE READ only in a
    locking read, hence FOR UPDATE there; SQLite's write transactions are serial)."""
    quota = int(session.info.get(TASK_QUOTA, 0))
    if not quota:
        return
    await session.execute(select(User.id).where(User.id == owner_id).with_for_update())
    # Staged rows of an import in progress (hidden) do not count: the import counts them
    # when it makes them visible, under this same lock.
    count = select(func.count()).select_from(Task).where(Task.owner_id == owner_id, VISIBLE)
    if session.get_bind().dialect.name in {"mysql", "mariadb"}:
        count = count.with_for_update()
    if (await session.scalar(count) or 0) + adding > quota:
        raise TaskQuotaExceeded(quota)


def _move_of(data: Placed) -> tree.Move:
    return tree.Move(
        project_id=data.project_id,
        section_id=data.section_id,
        parent_id=data.parent_id,
        placement=Placement(after=data.after, before=data.before, at=data.at),
        given=frozenset(data.model_fields_set & PLACEMENT_FIELDS),
    )


async def _move(session: AsyncSession, user: User, task: Task, data: Placed) -> None:
    """Apply a PATCH's (or PUT's) placement fields, if it sent any."""
    move = _move_of(data)
    if not move.moves:
        return
    assert task.project_id is not None
    old = tree.Target(task.project_id, task.section_id, task.parent_id, task.owner_id)
    # No autoflush: the task's other changes go out with it in one flush (one version bump).
    with session.no_autoflush:
        target = await tree.resolve(session, user, task, move)
        if target.owner_id != task.owner_id:
            await _change_owner(session, task, target)
        await tree.place(session, task, target, move.placement, old=old)


async def _change_owner(session: AsyncSession, task: Task, target: tree.Target) -> None:
    """A task (and its subtree, which tree.place moves along) leaving for a project of
    another owner: it counts against that owner's quota, its tags are re-filed under their
    names in that owner's tags, its completions follow, its assignee (a member of the old
    project) is dropped, and so are the reminders of whoever cannot see it there."""
    owner_id = target.owner_id
    subtree = await tree.descendants(session, task.owner_id, task.id)
    await session.execute(
        delete(Reminder).where(
            Reminder.task_id.in_([task.id, *subtree]),
            Reminder.owner_id != owner_id,
            Reminder.owner_id.not_in(
                select(ProjectMember.user_id).where(ProjectMember.project_id == target.project_id)
            ),
        )
    )
    await ensure_room(session, owner_id, adding=1 + len(subtree))
    task.tags = await tags.resolve_tags(session, owner_id, task.tag_names)
    task.assignee_id = None
    for start in range(0, len(subtree), 500):
        chunk = subtree[start : start + 500]
        await session.execute(delete(task_tags).where(task_tags.c.task_id.in_(chunk)))
        await session.execute(
            update(Task)
            .where(Task.owner_id == task.owner_id, Task.id.in_(chunk))
            .values(assignee_id=None)
            .execution_options(synchronize_session=False)
        )
    await session.execute(
        update(TaskCompletion)
        .where(
            TaskCompletion.owner_id == task.owner_id,
            TaskCompletion.task_id.in_([task.id, *subtree]),
        )
        .values(owner_id=owner_id)
        .execution_options(synchronize_session=False)
    )


async def hand_over_project(
    session: AsyncSession, project_id: uuid.UUID, old_owner: uuid.UUID, new_owner: uuid.UUID
) -> None:
    """Every task of a project handed to its new owner (projects/members.py `hand_over`):
    they count against the new owner's quota (checked first, so a refusal changes nothing),
    their tags are re-filed by name under the new owner's tags, and their completions follow.
    Assignees stay: they are members of the project, whoever owns it."""
    in_project = and_(Task.owner_id == old_owner, Task.project_id == project_id)
    count = await session.scalar(select(func.count()).select_from(Task).where(in_project, VISIBLE))
    await ensure_room(session, new_owner, adding=int(count or 0))
    task_ids = select(Task.id).where(in_project)
    used = (
        await session.execute(
            select(Tag.id, Tag.name)
            .where(
                Tag.owner_id == old_owner,
                Tag.id.in_(select(task_tags.c.tag_id).where(task_tags.c.task_id.in_(task_ids))),
            )
            .order_by(Tag.name_key)
        )
    ).all()
    theirs = {
        t.name_key: t.id for t in await tags.resolve_tags(session, new_owner, [n for _, n in used])
    }
    for tag_id, name in used:
        await session.execute(
            update(task_tags)
            .where(task_tags.c.tag_id == tag_id, task_tags.c.task_id.in_(task_ids))
            .values(tag_id=theirs[tags.tag_key(name)])
        )
    await session.execute(
        update(TaskCompletion)
        .where(TaskCompletion.owner_id == old_owner, TaskCompletion.task_id.in_(task_ids))
        .values(owner_id=new_owner)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Task)
        .where(in_project)
        .values(owner_id=new_owner)
        .execution_options(synchronize_session=False)
    )


async def create_task(session: AsyncSession, user: User, data: TaskCreate) -> Task:
    """A new task where `data` says (the user's Inbox by default). In a shared project it
    belongs to the project's owner (their quota and tags) and records who made it."""
    move = _move_of(data)
    target = await tree.resolve(session, user, None, move)
    assignee_id = await assignees.check(session, target.project_id, data.assignee_id)
    await ensure_room(session, target.owner_id)
    now = utcnow()
    task = Task(
        owner_id=target.owner_id,
        created_by=user.id,
        assignee_id=assignee_id,
        title=data.title,
        description=data.description,
        priority=PRIORITY_LEVELS[data.priority],
        completed=data.completed,
        completed_at=now if data.completed else None,
        created_at=now,
        updated_at=now,
        tags=await tags.resolve_tags(session, target.owner_id, data.tags),
    )
    await tree.place(session, task, target, move.placement)
    zone = _zone(user)
    _apply_due(task, data.due, zone)
    _set_recurrence(task, data.recurrence)
    _settle_recurrence(task, zone, now)
    session.add(task)
    await session.flush()
    await assignees.announce(session, user, task, None)
    return task


def _set_completed(task: Task, completed: bool, now: datetime) -> None:
    if completed and not task.completed:
        task.completed, task.completed_at = True, now
    elif not completed and task.completed:
        task.completed, task.completed_at = False, None


NOT_NULLABLE = ("title", "description", "priority", "tags", "completed")


async def _set_completed_or_advance(
    session: AsyncSession, task: Task, completed: bool, zone: Zone, now: datetime
) -> None:
    """Completing an open recurring task advances it (see `advance`); anything else sets the
    flag. Completing a task completes its open subtasks (Todoist's rule); reopening it leaves
    them as they are."""
    if completed and not task.completed and task.rrule is not None:
        await advance(session, task, zone, record=True, now=now)
    else:
        was = task.completed
        _set_completed(task, completed, now)
        if completed and not was:
            await _complete_subtasks(session, task, now)


async def _complete_subtasks(session: AsyncSession, task: Task, now: datetime) -> None:
    """Each open subtask is completed as completing it alone would: a repeating one moves to
    its next occurrence (and stays open), any other is done."""
    zone: Zone | None = None
    with session.no_autoflush:  # the parent's change goes out in its own single flush
        children = await tree.open_descendants(session, task.owner_id, task.id)
    for child in children:
        if child.completed:  # an ancestor's advance in this loop may have changed it
            continue
        if child.rrule is not None:
            zone = zone or await _owner_zone(session, task.owner_id)
            await advance(session, child, zone, record=True, now=now, subtasks=False)
        else:
            child.completed, child.completed_at, child.updated_at = True, now, now


async def update_task(session: AsyncSession, user: User, task: Task, data: TaskPatch) -> Task:
    """Apply the fields the client sent; bumps the version when anything changes."""
    given = data.model_fields_set
    for name in NOT_NULLABLE:
        if name in given and getattr(data, name) is None:
            raise InvalidInput(f"{name} cannot be null", loc=["body", name])
    now = utcnow()
    zone = _zone(user)
    if data.title is not None:
        task.title = data.title
    if data.description is not None:
        task.description = data.description
    if data.priority is not None:
        task.priority = PRIORITY_LEVELS[data.priority]
    if "due" in given:
        _apply_due(task, data.due, zone)
    if "recurrence" in given:
        _set_recurrence(task, data.recurrence)
    if "due" in given or "recurrence" in given:
        _settle_recurrence(task, zone, now)
    if data.tags is not None:
        task.tags = await tags.resolve_tags(session, task.owner_id, data.tags)
    previous = task.assignee_id
    await _move(session, user, task, data)
    if "assignee_id" in given:
        await assignees.set_assignee(session, task, data.assignee_id)
    else:
        await assignees.keep_valid(session, task)
    if data.completed is not None:
        await _set_completed_or_advance(session, task, data.completed, zone, now)
    task.updated_at = now
    await _flush(session)
    await assignees.announce(session, user, task, previous)
    if "due" in given or "recurrence" in given:  # a new rule can move the due too
        await reminders_service.reschedule_for_task(session, task, now=now)
    return task


async def replace_task(session: AsyncSession, user: User, task: Task, data: TaskCreate) -> Task:
    now = utcnow()
    zone = _zone(user)
    task.title = data.title
    task.description = data.description
    task.priority = PRIORITY_LEVELS[data.priority]
    _apply_due(task, data.due, zone)
    _set_recurrence(task, data.recurrence)
    _settle_recurrence(task, zone, now)
    task.tags = await tags.resolve_tags(session, task.owner_id, data.tags)
    previous = task.assignee_id
    await _move(session, user, task, data)  # PUT moves only when it says where
    await assignees.set_assignee(session, task, data.assignee_id)
    await _set_completed_or_advance(session, task, data.completed, zone, now)
    task.updated_at = now
    await _flush(session)
    await assignees.announce(session, user, task, previous)
    await reminders_service.reschedule_for_task(session, task, now=now)
    return task


async def _owner_zone(session: AsyncSession, owner_id: uuid.UUID) -> Zone:
    name = await session.scalar(select(User.timezone).where(User.id == owner_id))
    return zone_of(name)


async def set_completed(session: AsyncSession, task: Task, completed: bool) -> Task:
    """Complete or reopen; repeating it changes nothing (same version, same completed_at).

    Completing an open recurring task records the completion and moves it to its next
    occurrence instead, leaving it open (or completes it for good when the series ends)."""
    if task.completed == completed:
        return task
    now = utcnow()
    if completed and task.rrule is not None:
        await advance(
            session, task, await _owner_zone(session, task.owner_id), record=True, now=now
        )
        return task
    _set_completed(task, completed, now)
    if completed:
        await _complete_subtasks(session, task, now)
    task.updated_at = now
    await _flush(session)
    return task


async def due_changed(session: AsyncSession, task: Task) -> None:
    """Awaited whenever `advance` moves a task's due to its next occurrence (task.due_at /
    due_date / due_sort already hold the new due): relative reminders follow the new due."""
    await reminders_service.reschedule_for_task(session, task)


async def advance(
    session: AsyncSession,
    task: Task,
    zone: Zone,
    *,
    record: bool,
    now: datetime | None = None,
    subtasks: bool = True,
) -> Task:
    """Move a recurring task past its current occurrence: the one place that does it.

    `record` (completing) adds a TaskCompletion for the current due; skipping does not. The
    due moves to the next occurrence (docs/scheduling.md) and the task stays open; when the
    series has no next occurrence (COUNT or UNTIL), the task is completed for good."""
    if task.rrule is None:
        raise Conflict("This task does not repeat")
    now = now or utcnow()
    rule = recurrence.parse(task.rrule)
    mode: recurrence.Mode = (
        "from_completion" if task.recurrence_mode == "from_completion" else "from_due"
    )
    due = _due_of(task)
    if due is None:  # not made by the API (which always gives a recurring task a due)
        due = recurrence.first_due(rule, now.astimezone(zone).date(), zone)
    if record:
        session.add(
            TaskCompletion(
                task_id=task.id,
                owner_id=task.owner_id,
                occurrence_date=task.due_date,
                occurrence_at=task.due_at,
                completed_at=now,
            )
        )
    step = recurrence.next_due(rule, due, zone, mode=mode, now=now)
    task.rrule = step.rule.text
    if step.due is None:
        task.completed, task.completed_at = True, now
        if subtasks:
            await _complete_subtasks(session, task, now)
    else:
        _apply_due(task, step.due, zone)
        task.completed, task.completed_at = False, None
        if subtasks:  # the subtasks open again for the next occurrence
            with session.no_autoflush:
                await tree.reopen_descendants(session, task.owner_id, task.id)
    task.updated_at = now
    await _flush(session)  # one version bump for the whole step
    if step.due is not None:
        await due_changed(session, task)  # relative reminders follow the due
    return task


async def skip(session: AsyncSession, user: User, task: Task) -> Task:
    """Advance a recurring task without recording a completion (409 if it does not repeat)."""
    if task.rrule is None:
        raise Conflict("This task does not repeat, so there is no occurrence to skip")
    if task.completed:
        raise Conflict("This task's series has ended; reopen it or change its rule first")
    return await advance(session, task, _zone(user), record=False)


COMPLETIONS_PAGE = 50


async def list_completions(
    session: AsyncSession,
    task: Task,
    *,
    limit: int = COMPLETIONS_PAGE,
    cursor: str | None,
    cursor_key: bytes,
) -> tuple[list[TaskCompletion], str | None]:
    """A task's completions, newest first, by keyset on (completed_at, id)."""
    conditions: list[ColumnElement[bool]] = [
        TaskCompletion.task_id == task.id,
        TaskCompletion.owner_id == task.owner_id,
    ]
    return await cursors.newest_first_page(
        session,
        TaskCompletion,
        time_column=TaskCompletion.completed_at,
        id_column=TaskCompletion.id,
        conditions=conditions,
        sort="completions",
        limit=limit,
        cursor=cursor,
        cursor_key=cursor_key,
    )


async def delete_task(session: AsyncSession, task: Task) -> None:
    """Delete a task and its subtree."""
    below = await tree.descendants(session, task.owner_id, task.id)
    if below:
        await projects.delete_tasks_where(session, task.owner_id, Task.id.in_(below))
    await session.execute(delete(task_tags).where(task_tags.c.task_id == task.id))
    await session.execute(
        delete(TaskCompletion).where(
            TaskCompletion.task_id == task.id, TaskCompletion.owner_id == task.owner_id
        )
    )
    await session.execute(delete(Comment).where(Comment.task_id == task.id))
    await session.execute(delete(Task).where(Task.id == task.id, Task.owner_id == task.owner_id))
    events.task_deleted(session, task.owner_id, task.id, task.project_id)


# The read statements are built once: building one costs more than running it.
_ONE_TASK_ANY = select(*tree.DISPLAY_COLUMNS).where(VISIBLE)
_ONE_TASK = _ONE_TASK_ANY.where(
    Task.owner_id == bindparam("owner_id"), Task.id == bindparam("task_id")
)


async def read_task(session: AsyncSession, user: User, task_id: uuid.UUID) -> TaskRow:
    """A task the user may see, with its tag names, for display: one query, one row.
    The statement is built once for users nothing is shared with, per call otherwise."""
    if user.shared_projects:
        stmt = _ONE_TASK_ANY.where(access.task_scope(user), Task.id == task_id)
        rows = await read_rows(session, stmt)
    else:
        rows = await read_rows(session, _ONE_TASK, {"owner_id": user.id, "task_id": task_id})
    if not rows:
        raise TaskNotFound()
    return tree.display_row(rows[0])


def read_task_sync(session: Session, owner_id: uuid.UUID, task_id: uuid.UUID) -> TaskRow | None:
    """`read_task` for a synchronous session, as SQLAlchemy's event hooks get (the webhook
    outbox reads a task as GET returns it just before the change commits); None if gone."""
    row = session.execute(_ONE_TASK, {"owner_id": owner_id, "task_id": task_id}).first()
    return tree.display_row(row) if row is not None else None


async def delete_all_for_owner(session: AsyncSession, owner_id: uuid.UUID) -> None:
    task_ids = select(Task.id).where(Task.owner_id == owner_id)
    await session.execute(delete(TaskCompletion).where(TaskCompletion.owner_id == owner_id))
    await session.execute(delete(task_tags).where(task_tags.c.task_id.in_(task_ids)))
    await session.execute(delete(Comment).where(Comment.task_id.in_(task_ids)))
    await session.execute(delete(Task).where(Task.owner_id == owner_id))
    await session.execute(delete(Tag).where(Tag.owner_id == owner_id))
