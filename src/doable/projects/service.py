"""Project and section logic: the Inbox, order by hand, archive. Scoped to the owner; never
commits.

Ordering (doable/positions.py) and moves of tasks between projects, sections and parents live
in tasks/tree.py; this module owns the containers. Every write that places something in a
project's lists (a task, a section) first locks the project's row (`lock`), so two clients
reordering the same list queue instead of picking the same key.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from doable import events, positions
from doable.comments.models import Comment, ProjectMute
from doable.db import check_if_match as db_check_if_match
from doable.db import flush_versioned, lock_row, utcnow, version_etag
from doable.errors import Conflict, InvalidInput, NotFound
from doable.projects import access
from doable.projects.access import Role
from doable.projects.models import (
    INBOX_NAME,
    PALETTE,
    Project,
    ProjectInvitation,
    ProjectMember,
    Section,
)
from doable.tasks.models import VISIBLE, Task, TaskCompletion, task_tags

Where = Literal["first", "last"]


class ProjectNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such project")


class SectionNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such section")


class InboxIsFixed(Conflict):
    def __init__(self, what: str) -> None:
        super().__init__(f"The Inbox cannot be {what}")


@dataclass(frozen=True)
class Placement:
    """Where a moved item goes among its siblings: next to a neighbour, or at one end."""

    after: uuid.UUID | None = None
    before: uuid.UUID | None = None
    at: Where | None = None

    def __post_init__(self) -> None:
        given = sum(x is not None for x in (self.after, self.before, self.at))
        if given > 1:
            raise InvalidInput(
                "Give at most one of after, before and position", loc=["body", "after"]
            )

    @property
    def empty(self) -> bool:
        return self.after is None and self.before is None and self.at is None


def etag(item: Project | Section) -> str:
    return version_etag(item.version)


def check_if_match(item: Project | Section, if_match: str | None) -> None:
    db_check_if_match(item.version, if_match, "It")


async def _flush(session: AsyncSession) -> None:
    await flush_versioned(session, "It")


def check_color(color: str) -> str:
    if color not in PALETTE:
        raise InvalidInput(f"Colour must be one of: {', '.join(PALETTE)}", loc=["body", "color"])
    return color


# --- keys -------------------------------------------------------------------------------


# key_for's statements over a prebuilt `siblings` condition, built once each: building one
# cost more CPU than running it (appending a task to a list, issue 19).
_KEY_STATEMENTS: dict[int, tuple[ColumnElement[bool], dict[tuple[str, str, bool, int], Any]]] = {}


async def key_for(
    session: AsyncSession,
    column: InstrumentedAttribute[str],
    siblings: ColumnElement[bool],
    placement: Placement,
    *,
    id_column: InstrumentedAttribute[uuid.UUID],
    moving: uuid.UUID | None = None,
    rebalance: Any = None,
    params: dict[str, Any] | None = None,
    tiebreak: bool = False,
    within: Sequence[InstrumentedAttribute[Any]] = (),
    within_index: str | None = None,
) -> str:
    """A position key for an item placed among `siblings` (a condition on the item's table).

    The caller holds the lock that serialises writes to this list, or with `tiebreak` (an
    append) a shared one: the key then ends in random digits (positions.tiebroken), so that
    appends side by side get distinct keys. `moving` is the item being moved (left out of its
    own neighbours). Returns a key that no sibling holds; when the gap has run out (keys past
    positions.MAX_LENGTH) the list is renumbered first (O(n), rare).
    With `params`, `siblings` is a condition built once (a module's constant) whose values
    are those bound parameters, and the statements made from it are built once too.
    `within`: the columns of the list's index before `column` that `siblings` fixes by IS NULL
    (ordered by too, so that PostgreSQL, which takes only equalities as fixing a column, reads
    the index in its order; not on MySQL and MariaDB, which then sort instead, and are told
    to read `within_index`, the list's index, instead).
    """
    model = column.class_
    hint: str | None = None
    if within and session.get_bind().dialect.name in ("mysql", "mariadb"):
        # MariaDB does not take `IS NULL` as fixing a column for ORDER BY: ordered by them too,
        # it sorted the whole list for each append (300 ms at 25,000 tasks in the Inbox); by
        # the key alone, on a small table, it may walk another index's NULLs instead.
        within, hint = (), f"FORCE INDEX ({within_index})" if within_index else None
    bound: dict[str, Any] = dict(params or {})
    others = siblings
    if moving is not None:
        others = and_(siblings, id_column != bindparam("key_for_moving"))
        bound["key_for_moving"] = moving
    built: dict[tuple[str, str, bool, int], Any] | None = None
    if params is not None:
        entry = _KEY_STATEMENTS.get(id(siblings))
        if entry is None or entry[0] is not siblings:
            entry = _KEY_STATEMENTS[id(siblings)] = (siblings, {})
        built = entry[1]

    def statement(kind: str, make: Any) -> Any:
        if built is None:
            return make()
        key = (kind, column.key, moving is None, len(within))
        found = built.get(key)
        if found is None:
            found = built[key] = make()
        return found

    async def scalar(kind: str, make: Any, **values: Any) -> Any:
        return await session.scalar(statement(kind, make), {**bound, **values})

    async def neighbour_key(anchor: uuid.UUID) -> str:
        key: str | None = await scalar(
            "neighbour",
            lambda: select(column).where(others, id_column == bindparam("key_for_anchor")),
            key_for_anchor=anchor,
        )
        if key is None:
            raise InvalidInput(
                "The neighbour is not in that list",
                loc=["body", "after" if placement.after else "before"],
            )
        return key

    # The nearest key past a bound, as ORDER BY … LIMIT 1 rather than min() or max(): an
    # index on the list and its order answers it with one entry, whatever the planner
    # estimates (PostgreSQL, its statistics behind a grown table, aggregated every row).
    def hinted(stmt: Any) -> Any:
        return stmt.with_hint(model, hint, dialect_name="mysql") if hint else stmt

    def lowest(*where: Any) -> Any:
        return hinted(select(column).where(others, *where).order_by(*within, column).limit(1))

    def highest(*where: Any) -> Any:
        descending = [c.desc() for c in (*within, column)]
        return hinted(select(column).where(others, *where).order_by(*descending).limit(1))

    async def place() -> str:
        if placement.after is not None:
            low = await neighbour_key(placement.after)
            high = await scalar(
                "above", lambda: lowest(column > bindparam("key_for_low")), key_for_low=low
            )
            return positions.between(low, high)
        if placement.before is not None:
            upper = await neighbour_key(placement.before)
            lower = await scalar(
                "below", lambda: highest(column < bindparam("key_for_high")), key_for_high=upper
            )
            return positions.between(lower, upper)
        if placement.at == "first":
            return positions.between(None, await scalar("first", lowest))
        return positions.between(await scalar("last", highest), None)

    async def placed() -> str:
        key = await place()
        return positions.tiebroken(key) if tiebreak else key

    key = await placed()
    if positions.too_long(key):
        ids = (
            await session.scalars(
                select(id_column).where(others).order_by(column, id_column), bound
            )
        ).all()
        for item_id, new_key in zip(ids, positions.spread(len(ids)), strict=True):
            await session.execute(
                update(model)
                .where(id_column == item_id)
                .values({column.key: new_key})
                .execution_options(synchronize_session=False)
            )
        if rebalance is not None:
            await rebalance(ids)
        key = await placed()
    return key


# --- projects ---------------------------------------------------------------------------


async def create_inbox(session: AsyncSession, owner_id: uuid.UUID) -> Project:
    """The user's Inbox: made with the user (signup, external issuer, CLI), never deleted."""
    inbox = Project(
        owner_id=owner_id,
        name=INBOX_NAME,
        inbox_owner_id=owner_id,
        position=positions.between(None, None),
    )
    session.add(inbox)
    await session.flush()
    return inbox


_INBOX = select(Project.id).where(Project.inbox_owner_id == bindparam("owner_id"))
# Shared, the row itself must be locked: InnoDB locks only the index entry when the index
# alone answers (inbox_owner_id holds the id), and a move locks the row by its primary key.
# Reading a column outside the index makes it read, and lock, the row.
_INBOX_SHARED = (
    select(Project.id, Project.version)
    .where(Project.inbox_owner_id == bindparam("owner_id"))
    .with_for_update(read=True)
)
# The projects this session's transaction holds a lock on (`lock`), with that transaction.
_HELD = "doable_project_locks"


def _held(session: AsyncSession) -> set[uuid.UUID]:
    transaction = session.sync_session.get_transaction()
    entry: tuple[Any, set[uuid.UUID]] | None = session.info.get(_HELD)
    if entry is None or entry[0] is not transaction:
        entry = session.info[_HELD] = (transaction, set())
    return entry[1]


async def inbox_id(
    session: AsyncSession, owner_id: uuid.UUID, *, lock_shared: bool = False
) -> uuid.UUID:
    """The owner's Inbox. With `lock_shared` (a task appended to it), the same statement takes
    the lock `lock(..., shared=True)` would, and that call is then skipped: a create into the
    Inbox makes one trip fewer."""
    shared = lock_shared and _locks(session)
    params = {"owner_id": owner_id}
    found: uuid.UUID | None = await (
        session.scalar(_INBOX_SHARED, params) if shared else session.scalar(_INBOX, params)
    )
    if found is None:  # a user made before projects existed and missed by 0010: heal
        return (await create_inbox(session, owner_id)).id
    if shared:
        _held(session).add(found)
    return found


async def get_project(
    session: AsyncSession,
    user: access.Viewer,
    project_id: uuid.UUID,
    *,
    for_update: bool = False,
    need: Role = Role.VIEWER,
) -> Project:
    """A project the user may see (else 404), if their role allows `need` (else 403)."""
    stmt = select(Project).where(access.project_scope(user), Project.id == project_id)
    if for_update:
        stmt = stmt.with_for_update()
    project = (await session.execute(stmt)).scalar_one_or_none()
    if project is None:
        raise ProjectNotFound()
    if need is not Role.VIEWER:
        await access.require(session, user, need, project_id=project.id, owner_id=project.owner_id)
    return project


async def lock(session: AsyncSession, project_id: uuid.UUID, *, shared: bool = False) -> None:
    """Serialise writes to one project's lists (placing tasks and sections). `shared` is for
    appends: they run side by side (their keys are tiebroken, positions.py), and wait only
    for a writer holding the project alone (a move, a rebalance, the trash). SQLite runs one
    writer at a time already (and has no FOR UPDATE), so it skips the statement, as it does a
    shared lock the transaction holds already (`inbox_id`)."""
    if not _locks(session) or (shared and project_id in _held(session)):
        return
    await lock_row(session, Project.id, project_id, shared=shared)
    if shared:
        _held(session).add(project_id)


def _locks(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name != "sqlite"


async def list_projects(
    session: AsyncSession, user: access.Viewer, *, archived: bool | None = False
) -> Sequence[Project]:
    """The user's projects in their order (Inbox first), then the projects shared with them
    (by name), active ones by default."""
    shares = bool(user.shared_projects)
    stmt = _PROJECT_LISTS.get((archived, shares))
    if stmt is None:
        stmt = _PROJECT_LISTS[archived, shares] = _project_list(archived, shares)
    return (await session.scalars(stmt, {access.VIEWER.key: user.id})).all()


# list_projects' statements, by (archived, shares), for any viewer (the `viewer` parameter):
# every web page's sidebar reads the list, and building its statement cost more than running it.
_PROJECT_LISTS: dict[tuple[bool | None, bool], Select[Project]] = {}


def _project_list(archived: bool | None, shares: bool) -> Select[Project]:
    viewer = access.viewer_parameter(shares)
    stmt = select(Project).where(access.project_scope(viewer))
    if archived is not None:
        stmt = stmt.where(Project.archived.is_(archived))
    stmt = stmt.order_by(Project.inbox_owner_id.is_(None), Project.owner_id != access.VIEWER)
    if shares:
        stmt = stmt.order_by(
            case((Project.owner_id == access.VIEWER, Project.position), else_=Project.name)
        )
    return stmt.order_by(Project.position, Project.id)


async def open_counts(session: AsyncSession, user: access.Viewer) -> dict[uuid.UUID, int]:
    """Open (not completed) visible tasks per project: the sidebar's counts, in one query."""
    rows = await session.execute(
        select(Task.project_id, func.count())
        .where(access.task_scope(user), VISIBLE, Task.completed.is_(False))
        .group_by(Task.project_id)
    )
    return {project_id: count for project_id, count in rows.all() if project_id is not None}


async def open_count(session: AsyncSession, project: Project) -> int:
    """Open visible tasks in one project (what `open_counts` gives it)."""
    count = await session.scalar(
        select(func.count()).where(
            Task.owner_id == project.owner_id,
            Task.project_id == project.id,
            VISIBLE,
            Task.completed.is_(False),
        )
    )
    return int(count or 0)


async def create_project(
    session: AsyncSession,
    owner_id: uuid.UUID,
    *,
    name: str,
    color: str = "grey",
    favorite: bool = False,
    placement: Placement = Placement(),
) -> Project:
    await lock(session, await inbox_id(session, owner_id))  # serialises the list
    key = await key_for(
        session,
        Project.position,
        and_(Project.owner_id == owner_id, Project.inbox_owner_id.is_(None)),
        placement if not placement.empty else Placement(at="last"),
        id_column=Project.id,
    )
    now = utcnow()
    project = Project(
        owner_id=owner_id,
        name=name,
        color=check_color(color),
        favorite=favorite,
        position=key,
        created_at=now,
        updated_at=now,
    )
    session.add(project)
    await session.flush()
    return project


async def update_project(
    session: AsyncSession,
    project: Project,
    *,
    name: str | None = None,
    color: str | None = None,
    favorite: bool | None = None,
    archived: bool | None = None,
    placement: Placement = Placement(),
) -> Project:
    """Change what is given, and move the project when `placement` says where: one row
    written, one version bump."""
    if not placement.empty:  # first: its reads would flush the other changes on their own
        await _place_project(session, project, placement)
    if name is not None:
        if project.is_inbox and name != project.name:
            raise InboxIsFixed("renamed")
        project.name = name
    if color is not None:
        project.color = check_color(color)
    if favorite is not None:
        project.favorite = favorite
    if archived is not None and archived != project.archived:
        if project.is_inbox:
            raise InboxIsFixed("archived")
        project.archived = archived
        events.reminders_changed(session)  # archived projects' reminders stop firing
    project.updated_at = utcnow()
    await _flush(session)
    return project


async def _place_project(session: AsyncSession, project: Project, placement: Placement) -> None:
    if project.is_inbox:
        raise InboxIsFixed("moved; it always comes first")
    await lock(session, await inbox_id(session, project.owner_id))
    project.position = await key_for(
        session,
        Project.position,
        and_(Project.owner_id == project.owner_id, Project.inbox_owner_id.is_(None)),
        placement if not placement.empty else Placement(at="last"),
        id_column=Project.id,
        moving=project.id,
    )


async def move_project(session: AsyncSession, project: Project, placement: Placement) -> Project:
    await _place_project(session, project, placement)
    project.updated_at = utcnow()
    await _flush(session)
    return project


async def delete_tasks_where(
    session: AsyncSession, owner_id: uuid.UUID, condition: ColumnElement[bool]
) -> list[uuid.UUID]:
    """Delete the owner's tasks matching `condition` with what hangs off them; returns ids."""
    rows = (
        await session.execute(
            select(Task.id, Task.project_id).where(Task.owner_id == owner_id, condition)
        )
    ).all()
    ids = [row.id for row in rows]
    places = {row.id: row.project_id for row in rows}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        await session.execute(delete(task_tags).where(task_tags.c.task_id.in_(chunk)))
        await session.execute(delete(Comment).where(Comment.task_id.in_(chunk)))
        await session.execute(
            delete(TaskCompletion).where(
                TaskCompletion.owner_id == owner_id, TaskCompletion.task_id.in_(chunk)
            )
        )
        await session.execute(
            delete(Task)
            .where(Task.owner_id == owner_id, Task.id.in_(chunk))
            .execution_options(synchronize_session=False)
        )
        for task_id in chunk:
            events.task_deleted(session, owner_id, task_id, places[task_id])
    return ids


async def delete_project(session: AsyncSession, project: Project) -> int:
    """Delete a project with its sections and tasks (409 for the Inbox); how many tasks went."""
    if project.is_inbox:
        raise InboxIsFixed("deleted")
    await lock(session, project.id)
    gone = await delete_tasks_where(session, project.owner_id, Task.project_id == project.id)
    await session.execute(delete(Section).where(Section.project_id == project.id))
    members = await access.member_ids(session, project.id)
    await session.execute(delete(ProjectMember).where(ProjectMember.project_id == project.id))
    await session.execute(
        delete(ProjectInvitation).where(ProjectInvitation.project_id == project.id)
    )
    await session.execute(delete(ProjectMute).where(ProjectMute.project_id == project.id))
    await access.recount(session, members[1:])
    for member in members[1:]:
        events.membership_changed(session, member, project.id, "removed")
    await session.delete(project)
    await _flush(session)
    events.reminders_changed(session)
    return len(gone)


def archived_projects(user: access.Viewer) -> Select[uuid.UUID]:
    """Ids of the archived projects the user sees; `in_active_project` is the condition."""
    return select(Project.id).where(access.project_scope(user), Project.archived.is_(True))


def in_active_project(user: access.Viewer) -> ColumnElement[bool]:
    """A task condition: not in an archived project. Today, Upcoming, search, feeds, MCP and
    the compat list all leave archived projects out; only the project's own view shows them."""
    return Task.project_id.not_in(archived_projects(user))


def in_unarchived_project() -> ColumnElement[bool]:
    """`in_active_project` checked per row (a primary-key probe of the task's project), for a
    walk that reads few rows of many projects: cheaper than listing every archived project."""
    return ~select(Project.id).where(Project.id == Task.project_id, Project.archived).exists()


# --- sections ---------------------------------------------------------------------------


async def get_section(
    session: AsyncSession,
    user: access.Viewer,
    section_id: uuid.UUID,
    *,
    for_update: bool = False,
    need: Role = Role.VIEWER,
) -> Section:
    """A section the user may see (else 404), if their role allows `need` (else 403)."""
    stmt = select(Section).where(access.section_scope(user), Section.id == section_id)
    if for_update:
        stmt = stmt.with_for_update()
    section = await session.scalar(stmt)
    if section is None:
        raise SectionNotFound()
    if need is not Role.VIEWER:
        await access.require(
            session, user, need, project_id=section.project_id, owner_id=section.owner_id
        )
    return section


async def list_sections(session: AsyncSession, project: Project) -> Sequence[Section]:
    """A project's sections in order (the caller has found the project in the user's scope)."""
    return (
        await session.scalars(
            select(Section)
            .where(Section.owner_id == project.owner_id, Section.project_id == project.id)
            .order_by(Section.position, Section.id)
        )
    ).all()


async def sections_by_project(
    session: AsyncSession, user: access.Viewer
) -> dict[uuid.UUID, list[Section]]:
    """Every section the user sees, by project, in order: one query."""
    found: dict[uuid.UUID, list[Section]] = {}
    for section in await session.scalars(
        select(Section)
        .where(access.section_scope(user))
        .order_by(Section.project_id, Section.position, Section.id)
    ):
        found.setdefault(section.project_id, []).append(section)
    return found


async def create_section(
    session: AsyncSession, project: Project, *, name: str, placement: Placement = Placement()
) -> Section:
    await lock(session, project.id)
    key = await key_for(
        session,
        Section.position,
        Section.project_id == project.id,
        placement if not placement.empty else Placement(at="last"),
        id_column=Section.id,
    )
    now = utcnow()
    section = Section(
        project_id=project.id,
        owner_id=project.owner_id,
        name=name,
        position=key,
        created_at=now,
        updated_at=now,
    )
    session.add(section)
    await session.flush()
    return section


async def update_section(
    session: AsyncSession,
    section: Section,
    *,
    name: str | None = None,
    placement: Placement = Placement(),
) -> Section:
    if not placement.empty:  # first: its reads would flush the rename on its own
        await lock(session, section.project_id)
        section.position = await key_for(
            session,
            Section.position,
            Section.project_id == section.project_id,
            placement,
            id_column=Section.id,
            moving=section.id,
        )
    if name is not None:
        section.name = name
    section.updated_at = utcnow()
    await _flush(session)
    return section


def _keys_after(last: str | None, count: int) -> list[str]:
    """`count` ascending keys after `last`: stepping the head while it lasts (short keys),
    else a fresh spread, each appended to `last` so they still sort after it."""
    keys: list[str] = []
    for _ in range(count):
        key = positions.between(keys[-1] if keys else last, None)
        if positions.too_long(key):
            base = (last or "") + "i"
            return [base + k for k in positions.spread(count)]
        keys.append(key)
    return keys


async def delete_section(session: AsyncSession, section: Section, *, with_tasks: bool) -> int:
    """Delete a section. Its tasks go with it when `with_tasks`, else they stay in the project,
    after the tasks outside any section. Returns how many tasks were deleted."""
    await lock(session, section.project_id)
    gone = 0
    if with_tasks:
        gone = len(
            await delete_tasks_where(session, section.owner_id, Task.section_id == section.id)
        )
    else:
        # Top-level tasks keep their keys' order but land after the section-less ones.
        top = (
            await session.scalars(
                select(Task)
                .where(
                    Task.owner_id == section.owner_id,
                    Task.section_id == section.id,
                    Task.parent_id.is_(None),
                )
                .order_by(Task.position, Task.id)
            )
        ).all()
        last = await session.scalar(
            select(func.max(Task.position)).where(
                Task.project_id == section.project_id,
                Task.section_id.is_(None),
                Task.parent_id.is_(None),
            )
        )
        now = utcnow()
        keys = _keys_after(last, len(top))
        for task, key in zip(top, keys, strict=True):
            task.position, task.section_id, task.updated_at = key, None, now
        await session.execute(
            update(Task)
            .where(Task.owner_id == section.owner_id, Task.section_id == section.id)
            .values(section_id=None)
            .execution_options(synchronize_session=False)
        )
    await session.delete(section)
    await _flush(session)
    return gone
