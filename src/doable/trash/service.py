"""Deleting into the trash, restoring from it, emptying and purging it. Never commits.

Deleting snapshots the rows (trash/snapshot.py) into one `trash` row and then deletes them as
the projects and tasks services always have, so every live query stays as it was. Restoring
re-inserts the rows with their ids, where they were if that place is still there (else the
project's top level, or for a task whose project is gone, the owner's Inbox).

Who sees a trash row: for a task or a section, the editors, admins and the owner of its
project while the project exists, and the project's owner always; for a project, its owner.
Anyone else gets 404, as for any object they cannot see.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from doable import events
from doable.activity import recorder
from doable.activity import service as activity
from doable.activity.models import Activity
from doable.auth.models import User
from doable.comments.models import Comment, ProjectMute
from doable.db import DEFAULT_TRASH_DAYS, TRASH_DAYS, actor_of, utcnow
from doable.errors import Conflict, NotFound
from doable.projects import access
from doable.projects import service as projects_service
from doable.projects.access import Role
from doable.projects.models import Project, ProjectMember, Section
from doable.projects.service import Placement
from doable.reminders.models import Reminder
from doable.tasks import cursor as cursors
from doable.tasks import service as tasks_service
from doable.tasks import tags as task_tags_service
from doable.tasks import tree
from doable.tasks.models import Tag, Task, TaskCompletion, task_tags
from doable.trash.models import TrashItem
from doable.trash.snapshot import (
    PROJECT_TABLES,
    TASK_TABLES,
    Snapshot,
    register_project_table,
    register_task_table,
)

TASKS = cast(Table, Task.__table__)
SECTIONS = cast(Table, Section.__table__)
PROJECTS = cast(Table, Project.__table__)
register_task_table(TaskCompletion.__table__)  # type: ignore[arg-type]
register_task_table(Reminder.__table__)  # type: ignore[arg-type]
register_task_table(Comment.__table__)  # type: ignore[arg-type]
register_project_table(SECTIONS)
register_project_table(ProjectMember.__table__)  # type: ignore[arg-type]
register_project_table(Activity.__table__)  # type: ignore[arg-type]
register_project_table(ProjectMute.__table__)  # type: ignore[arg-type]

PAGE = 50
CHUNK = 500


class TrashItemNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Nothing in the trash has that id (restored, emptied or purged)")


class AlreadyRestored(Conflict):
    def __init__(self, what: str) -> None:
        super().__init__(f"This {what} is back already: a row with its id exists")


class ProjectGone(Conflict):
    def __init__(self) -> None:
        super().__init__("Its project was deleted; restore the project from the trash first")


def _days(session: AsyncSession) -> int:
    return int(session.info.get(TRASH_DAYS, DEFAULT_TRASH_DAYS))


# Deleting


async def _snapshot_tasks(
    session: AsyncSession, snapshot: Snapshot, owner_id: uuid.UUID, ids: list[uuid.UUID]
) -> None:
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = (
            await session.execute(
                select(TASKS).where(TASKS.c.owner_id == owner_id, TASKS.c.id.in_(chunk))
            )
        ).all()
        snapshot.add(TASKS, list(rows))
        for table in TASK_TABLES:
            found = (await session.execute(select(table).where(table.c.task_id.in_(chunk)))).all()
            snapshot.add(table, list(found))
        for task_id, name in await session.execute(
            select(task_tags.c.task_id, Tag.name)
            .join(Tag, Tag.id == task_tags.c.tag_id)
            .where(task_tags.c.task_id.in_(chunk))
        ):
            snapshot.tags.setdefault(str(task_id), []).append(name)


def _keep(
    session: AsyncSession,
    *,
    owner_id: uuid.UUID,
    project_id: uuid.UUID,
    kind: str,
    title: str,
    items: int,
    snapshot: Snapshot,
) -> TrashItem:
    now = utcnow()
    item = TrashItem(
        id=uuid.uuid4(),
        owner_id=owner_id,
        project_id=project_id,
        kind=kind,
        title=title[:200],
        items=items,
        payload=snapshot.dumps(),
        deleted_by=actor_of(session),
        deleted_at=now,
        purge_after=now + timedelta(days=_days(session)),
    )
    session.add(item)
    return item


async def trash_task(session: AsyncSession, task: Task) -> TrashItem:
    """Delete a task and its subtree into the trash (the caller checked the editor role)."""
    assert task.project_id is not None
    ids = [task.id, *await tree.descendants(session, task.owner_id, task.id)]
    snapshot = Snapshot()
    await _snapshot_tasks(session, snapshot, task.owner_id, ids)
    item = _keep(
        session,
        owner_id=task.owner_id,
        project_id=task.project_id,
        kind="task",
        title=task.title,
        items=len(ids),
        snapshot=snapshot,
    )
    activity.record(session, task.project_id, task.id, "deleted", {"title": task.title})
    await tasks_service.delete_task(session, task)
    await session.flush()
    return item


async def trash_section(session: AsyncSession, section: Section, *, with_tasks: bool) -> int:
    """Delete a section into the trash (its tasks too, when `with_tasks`); tasks deleted."""
    snapshot = Snapshot()
    snapshot.add(SECTIONS, [await _row(session, SECTIONS, section.id)])
    ids: list[uuid.UUID] = []
    if with_tasks:
        ids = list(
            (
                await session.scalars(
                    select(Task.id).where(
                        Task.owner_id == section.owner_id, Task.section_id == section.id
                    )
                )
            ).all()
        )
        await _snapshot_tasks(session, snapshot, section.owner_id, ids)
    _keep(
        session,
        owner_id=section.owner_id,
        project_id=section.project_id,
        kind="section",
        title=section.name,
        items=len(ids),
        snapshot=snapshot,
    )
    activity.record(session, section.project_id, None, "section_deleted", {"name": section.name})
    return await projects_service.delete_section(session, section, with_tasks=with_tasks)


async def trash_project(session: AsyncSession, project: Project) -> int:
    """Delete a project into the trash with its sections, tasks, members and activity (the
    caller checked the owner's role; 409 for the Inbox, from the projects service)."""
    if project.is_inbox:
        return await projects_service.delete_project(session, project)  # raises 409
    await session.flush()
    snapshot = Snapshot()
    snapshot.add(PROJECTS, [await _row(session, PROJECTS, project.id)])
    for table in PROJECT_TABLES:
        found = (await session.execute(select(table).where(table.c.project_id == project.id))).all()
        snapshot.add(table, list(found))
    ids = list(
        (
            await session.scalars(
                select(Task.id).where(
                    Task.owner_id == project.owner_id, Task.project_id == project.id
                )
            )
        ).all()
    )
    await _snapshot_tasks(session, snapshot, project.owner_id, ids)
    _keep(
        session,
        owner_id=project.owner_id,
        project_id=project.id,
        kind="project",
        title=project.name,
        items=len(ids),
        snapshot=snapshot,
    )
    recorder.forget_project(session.sync_session, project.id)
    return await projects_service.delete_project(session, project)


async def _row(session: AsyncSession, table: Any, row_id: uuid.UUID) -> Any:
    return (await session.execute(select(table).where(table.c.id == row_id))).one()


# Reading


def _visible(user: User) -> ColumnElement[bool]:
    """The trash rows the user may restore or empty (see the module's docstring)."""
    editable = select(Project.id).where(access.project_scope(user, Role.EDITOR))
    return or_(
        TrashItem.owner_id == user.id,
        (TrashItem.kind != "project") & TrashItem.project_id.in_(editable),
    )


async def list_trash(
    session: AsyncSession,
    user: User,
    *,
    limit: int = PAGE,
    cursor: str | None = None,
    cursor_key: bytes,
) -> tuple[list[TrashItem], str | None]:
    """What the user may restore, most recently deleted first."""
    return await cursors.newest_first_page(
        session,
        TrashItem,
        time_column=TrashItem.deleted_at,
        id_column=TrashItem.id,
        conditions=[_visible(user)],
        sort="trash",
        limit=limit,
        cursor=cursor,
        cursor_key=cursor_key,
    )


async def _get(session: AsyncSession, user: User, item_id: uuid.UUID) -> TrashItem:
    stmt = select(TrashItem).where(_visible(user), TrashItem.id == item_id).with_for_update()
    item = (await session.execute(stmt)).scalar_one_or_none()
    if item is None:
        raise TrashItemNotFound()
    return item


async def empty_one(session: AsyncSession, user: User, item_id: uuid.UUID) -> None:
    item = await _get(session, user, item_id)
    await session.delete(item)
    await session.flush()


async def empty_all(session: AsyncSession, user: User) -> int:
    """Empty the trash of the user's own projects (members' deletions there included)."""
    result = await session.execute(delete(TrashItem).where(TrashItem.owner_id == user.id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def purge_expired(session: AsyncSession, now: datetime, *, batch: int = CHUNK) -> int:
    """Delete one batch of rows past their time. Rows another purger or a restore holds are
    skipped (SKIP LOCKED; SQLite's writers run one at a time), so concurrent purgers take
    disjoint batches and no row is purged twice."""
    stmt = (
        select(TrashItem.id)
        .where(TrashItem.purge_after < now)
        .order_by(TrashItem.purge_after)
        .limit(batch)
    )
    if session.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update(skip_locked=True)
    ids = list((await session.scalars(stmt)).all())
    if not ids:
        return 0
    await session.execute(delete(TrashItem).where(TrashItem.id.in_(ids)))
    return len(ids)


# Restoring


@dataclass(frozen=True)
class Restored:
    kind: str
    id: uuid.UUID  # the task's, section's or project's
    project_id: uuid.UUID
    tasks: int


async def restore(session: AsyncSession, user: User, item_id: uuid.UUID) -> Restored:
    """Put a trash row's contents back and remove it from the trash (404 if it is not there
    or not the user's to restore; 409 if its rows exist again or the quota is full)."""
    item = await _get(session, user, item_id)
    snapshot = Snapshot.loads(item.payload)
    if item.kind == "project":
        restored = await _restore_project(session, user, item, snapshot)
    elif item.kind == "section":
        restored = await _restore_section(session, user, item, snapshot)
    else:
        restored = await _restore_task(session, user, item, snapshot)
    await session.delete(item)
    await session.flush()
    return restored


async def _target_project(
    session: AsyncSession, user: User, project_id: uuid.UUID
) -> Project | None:
    return (
        await session.execute(
            select(Project).where(access.project_scope(user, Role.EDITOR), Project.id == project_id)
        )
    ).scalar_one_or_none()


async def _restore_task(
    session: AsyncSession, user: User, item: TrashItem, snapshot: Snapshot
) -> Restored:
    rows = snapshot.rows(TASKS)
    ids = [r["id"] for r in rows]
    # The root is the one whose parent is not among the rows.
    root = next(r for r in rows if r.get("parent_id") not in set(ids))
    project = await _target_project(session, user, item.project_id)
    if project is None:
        # Its project is gone (or the user lost the editor role, and then this is the
        # owner's own trash): the owner's Inbox.
        project_id, owner_id = await projects_service.inbox_id(session, user.id), user.id
    else:
        project_id, owner_id = project.id, project.owner_id
    section_id = await _existing(session, Section, root.get("section_id"), project_id)
    parent_id = await _existing(session, Task, root.get("parent_id"), project_id)
    if parent_id is not None:
        depth = await tree.depth_of(session, owner_id, parent_id)
        if depth + _height(rows, root["id"]) > tree.MAX_DEPTH:
            parent_id = None
        else:
            section_id = await session.scalar(select(Task.section_id).where(Task.id == parent_id))
    target = tree.Target(project_id, section_id, parent_id, owner_id)
    await projects_service.lock(session, project_id)
    root["position"] = await projects_service.key_for(
        session,
        Task.position,
        (Task.owner_id == owner_id) & tree.siblings(target),
        Placement(at="last"),
        id_column=Task.id,
    )
    root["parent_id"] = parent_id
    for row in rows:
        row["project_id"], row["section_id"] = project_id, section_id
    await _insert_tasks(session, snapshot, rows, owner_id)
    activity.record(session, project_id, root["id"], "restored", {"title": root["title"]})
    return Restored("task", root["id"], project_id, len(rows))


def _height(rows: list[dict[str, Any]], root_id: uuid.UUID) -> int:
    children: dict[Any, list[Any]] = {}
    for row in rows:
        children.setdefault(row.get("parent_id"), []).append(row["id"])

    def height(node: Any) -> int:
        return 1 + max((height(c) for c in children.get(node, [])), default=0)

    return height(root_id)


async def _existing(
    session: AsyncSession, model: type[Section] | type[Task], row_id: Any, project_id: uuid.UUID
) -> uuid.UUID | None:
    if row_id is None:
        return None
    found = await session.scalar(
        select(model.id).where(model.id == row_id, model.project_id == project_id)
    )
    return found


async def _insert_tasks(
    session: AsyncSession, snapshot: Snapshot, rows: list[dict[str, Any]], owner_id: uuid.UUID
) -> None:
    """Insert a snapshot's tasks (already placed) with their tags and dependent rows, under
    `owner_id` (the owner of the project they land in): 409 if any exists, quota checked."""
    if not rows:
        return
    ids = [r["id"] for r in rows]
    for start in range(0, len(ids), CHUNK):
        if await session.scalar(
            select(Task.id).where(Task.id.in_(ids[start : start + CHUNK])).limit(1)
        ):
            raise AlreadyRestored("task")
    await tasks_service.ensure_room(session, owner_id, adding=len(rows))
    moved_owner = any(r["owner_id"] != owner_id for r in rows)
    for row in rows:
        row["owner_id"] = owner_id
        if moved_owner:
            row["assignee_id"] = None  # a member of another owner's project
    for start in range(0, len(rows), CHUNK):
        await session.execute(insert(TASKS), rows[start : start + CHUNK])
    for table in TASK_TABLES:
        dependent = snapshot.rows(table)
        if "owner_id" in table.c and table.name == TaskCompletion.__tablename__:
            for row in dependent:
                row["owner_id"] = owner_id
        for start in range(0, len(dependent), CHUNK):
            await session.execute(insert(table), dependent[start : start + CHUNK])
    links: list[dict[str, Any]] = []
    for task_id, names in snapshot.tags.items():
        for tag in await task_tags_service.resolve_tags(session, owner_id, names):
            links.append({"task_id": uuid.UUID(task_id), "tag_id": tag.id})
    for start in range(0, len(links), CHUNK):
        await session.execute(insert(task_tags), links[start : start + CHUNK])
    for task_id in ids:
        events.publish_after_commit(
            session, events.Event("task", owner_id, {"action": "created", "id": str(task_id)})
        )
    if snapshot.tables.get(Reminder.__tablename__):
        events.reminders_changed(session)


async def _restore_section(
    session: AsyncSession, user: User, item: TrashItem, snapshot: Snapshot
) -> Restored:
    project = await _target_project(session, user, item.project_id)
    if project is None:
        raise ProjectGone()
    (section,) = snapshot.rows(SECTIONS)
    if await session.scalar(select(Section.id).where(Section.id == section["id"])):
        raise AlreadyRestored("section")
    await projects_service.lock(session, project.id)
    section["owner_id"] = project.owner_id
    section["position"] = await projects_service.key_for(
        session,
        Section.position,
        Section.project_id == project.id,
        Placement(at="last"),
        id_column=Section.id,
    )
    await session.execute(insert(SECTIONS), [section])
    rows = snapshot.rows(TASKS)
    await _insert_tasks(session, snapshot, rows, project.owner_id)
    activity.record(session, project.id, None, "restored", {"name": section["name"]})
    return Restored("section", section["id"], project.id, len(rows))


async def _restore_project(
    session: AsyncSession, user: User, item: TrashItem, snapshot: Snapshot
) -> Restored:
    (project,) = snapshot.rows(PROJECTS)
    if await session.scalar(select(Project.id).where(Project.id == project["id"])):
        raise AlreadyRestored("project")
    owner_id = item.owner_id
    await projects_service.lock(session, await projects_service.inbox_id(session, owner_id))
    project["position"] = await projects_service.key_for(
        session,
        Project.position,
        (Project.owner_id == owner_id) & Project.inbox_owner_id.is_(None),
        Placement(at="last"),
        id_column=Project.id,
    )
    await session.execute(insert(PROJECTS), [project])
    for table in PROJECT_TABLES:
        rows = snapshot.rows(table)
        if table.name == ProjectMember.__tablename__:
            # Members whose accounts are gone stay gone.
            alive = set(
                (
                    await session.scalars(
                        select(User.id).where(User.id.in_([r["user_id"] for r in rows]))
                    )
                ).all()
            )
            rows = [r for r in rows if r["user_id"] in alive]
        for start in range(0, len(rows), CHUNK):
            await session.execute(insert(table), rows[start : start + CHUNK])
        if table.name == ProjectMember.__tablename__:
            await access.recount(session, [r["user_id"] for r in rows])
    rows = snapshot.rows(TASKS)
    await _insert_tasks(session, snapshot, rows, owner_id)
    activity.record(session, project["id"], None, "restored", {"name": project["name"]})
    return Restored("project", project["id"], project["id"], len(rows))
