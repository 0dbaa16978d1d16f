"""Reading many tasks: the list query behind every view (the API's list, Today, Upcoming, a
project, search, the MCP and compat lists, feeds' pages) and the counts beside it.

What "visible" means is `projects.access`'s; what "today" and "overdue" mean is here, once
(`Today`, `_when_conditions`). For a member of shared projects, an unscoped page is the merge
of two index walks, their own tasks and `task_views` (see `_member_page`), so its cost does not
grow with how many tasks are shared with them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Uuid,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from doable.auth.models import User
from doable.db import UTCDateTime, read_rows, utcnow
from doable.projects import access
from doable.projects import service as projects
from doable.tasks import cursor as cursors
from doable.tasks import search, tags, tree
from doable.tasks.models import NO_DUE, VISIBLE, Tag, Task, TaskRow, task_tags
from doable.tasks.schemas import PRIORITY_LEVELS, TagOut
from doable.tasks.service import (
    DEFAULT_ORDER,
    SORT_COLUMNS,
    UPCOMING_DAYS,
    Order,
    SortField,
    StatusFilter,
    WhenFilter,
    get_task,
    to_instant,
)
from doable.tasks.tags import tag_key
from doable.zones import zone_of


@dataclass
class TaskQuery:
    status: StatusFilter = "all"
    q: str | None = None
    priority: list[str] = field(default_factory=list)
    tag: list[str] = field(default_factory=list)
    due_before: date | datetime | None = None
    due_after: date | datetime | None = None
    has_due: bool | None = None
    # today / overdue / upcoming in the user's zone (docs/scheduling.md); `now` for tests.
    when: WhenFilter | None = None
    days: int = UPCOMING_DAYS  # for when="upcoming"
    now: datetime | None = None
    sort: SortField = "created"
    order: Order | None = None
    limit: int = 50
    cursor: str | None = None
    # Rows to skip, for the compat API's spec clients, which page by offset.
    offset: int = 0
    # Where: one project, one section ("none": outside any section), one parent ("none":
    # top-level tasks only), or a whole subtree below a task. Without a project, section,
    # parent or subtree, archived projects' tasks are left out (they show only in their own
    # project's view).
    project_id: uuid.UUID | None = None
    section_id: uuid.UUID | Literal["none"] | None = None
    parent_id: uuid.UUID | Literal["none"] | None = None
    subtree: uuid.UUID | None = None
    # Whose tasks: one person's (the caller's for "assigned to me"), or "none": unassigned.
    assignee: uuid.UUID | Literal["none"] | None = None
    # Who sees what, when narrower than `access.task_scope` (the compat list's).
    visible: ColumnElement[bool] | None = None

    @property
    def scoped(self) -> bool:
        return any(
            x is not None for x in (self.project_id, self.section_id, self.parent_id, self.subtree)
        )


_STATUS_CONDITIONS: dict[StatusFilter, tuple[ColumnElement[bool], ...]] = {
    "all": (),
    "pending": (Task.completed.is_(False),),
    "completed": (Task.completed.is_(True),),
}


async def list_tasks(
    session: AsyncSession, user: User, query: TaskQuery, *, cursor_key: bytes
) -> tuple[list[TaskRow], str | None]:
    """One page of the user's tasks by keyset; tags come in one more query.

    `query.offset` (the compat API's spec paging) skips rows instead; the compat list bounds
    it by its page size only, so a deep offset costs a longer index walk, never more rows."""
    order: Order = query.order or DEFAULT_ORDER[query.sort]
    bounds = _Bounds(user, query, order, cursor_key)
    plain = await _plain_page(session, user, query, bounds)
    if plain is not None:
        return await _read_page(session, bounds, *plain)
    column = SORT_COLUMNS[query.sort]
    scope = access.task_scope(user) if query.visible is None else query.visible
    owner: ColumnElement[bool] = and_(scope, VISIBLE)
    conditions: list[ColumnElement[bool]] = list(_STATUS_CONDITIONS[query.status])
    if query.q:
        text = query.q.lower()
        dialect = session.get_bind().dialect.name
        conditions.append(search.condition(dialect, text))
        candidates = await search.candidates(session, user, text)
        if candidates is not None:
            conditions.append(candidates)
            # Unary + keeps SQLite from walking the owner's index in page order, so the
            # few candidates drive the query (https://sqlite.org/optoverview.html#uplus).
            if dialect == "sqlite" and not user.shared_projects:
                owner = and_(
                    literal_column("+tasks.owner_id", Task.owner_id.type) == user.id,
                    VISIBLE,
                )
    merges = _merges(user, query)
    if not merges:  # a merged page leaves archived projects out per walk
        conditions.extend(await _place_conditions(session, user, query))
    if query.assignee == "none":
        conditions.append(Task.assignee_id.is_(None))
    elif query.assignee is not None:
        conditions.append(Task.assignee_id == query.assignee)
    if query.priority:
        conditions.append(Task.priority.in_([PRIORITY_LEVELS[p] for p in query.priority]))
    for name in dict.fromkeys(tag_key(t) for t in query.tag):
        conditions.append(
            # EXISTS per row (a primary-key probe) lets the page stop after `limit` matches
            # instead of first collecting every task that has the tag.
            select(task_tags.c.task_id)
            .join(Tag, Tag.id == task_tags.c.tag_id)
            .where(
                task_tags.c.task_id == Task.id,
                Tag.owner_id == Task.owner_id,
                Tag.name_key == name,
            )
            .offset(0)  # keeps PostgreSQL from flattening it back into a semi-join
            .exists()
        )
    params: dict[str, Any] | None = None
    if merges:
        stmt = _merged_page(user, query.sort, order, conditions, bounds, query.limit + 1)
        params = {access.VIEWER.key: user.id}
    else:
        stmt = (
            select(*tree.DISPLAY_COLUMNS)
            .where(owner, *conditions, *bounds.on(column, Task.id, Task.due_sort))
            .order_by(*_ordering(column, Task.id, order))
            .limit(query.limit + 1)
        )
    if query.offset:
        stmt = stmt.offset(query.offset)
    # A search's best plan depends on the owner's size and the word's rarity, which a generic
    # plan cannot know (db.read_rows).
    return await _read_page(session, bounds, stmt, params, custom_plans=bool(query.q))


async def _read_page(
    session: AsyncSession,
    bounds: _Bounds,
    stmt: Any,
    params: dict[str, Any] | None,
    *,
    custom_plans: bool = False,
) -> tuple[list[TaskRow], str | None]:
    """Run a page's statement (it reads one row past the limit): its tasks, with their tags,
    and the cursor of the next page if there is one."""
    query = bounds.query
    rows = await read_rows(session, stmt, params, custom_plans=custom_plans)
    tasks = [tree.display_row(row) for row in rows]
    next_cursor = None
    if len(tasks) > query.limit:
        tasks = tasks[: query.limit]
        last = tasks[-1]
        value = {
            "created": last.created_at,
            "updated": last.updated_at,
            "due": last.due_sort,
            "priority": last.priority,
            "title": last.title,
            "position": last.position,
        }[query.sort]
        next_cursor = cursors.encode(
            bounds.cursor_key, cursors.CursorKey(query.sort, bounds.order, value, last.id)
        )
    return tasks, next_cursor


def _ordering(key: Any, id_: Any, order: Order) -> list[Any]:
    return [key.asc(), id_.asc()] if order == "asc" else [key.desc(), id_.desc()]


@dataclass
class _Bounds:
    """The conditions on a page's sort key and due instant (due_before and _after, has_due,
    when, and the cursor's keyset bound): the ones an index walk seeks by. Written for given
    columns, so a walk of `task_views` bounds its own copies of them."""

    user: User
    query: TaskQuery
    order: Order
    cursor_key: bytes
    # One "now" for every walk of the page, so two walks cannot disagree on today at midnight.
    now: datetime = field(default_factory=utcnow)

    def on(self, column: Any, id_: Any, due: Any) -> list[ColumnElement[bool]]:
        query, user = self.query, self.user
        out: list[ColumnElement[bool]] = []
        if query.due_before is not None:
            out.append(due < to_instant(query.due_before, user))
        if query.due_after is not None:
            out.append(due >= to_instant(query.due_after, user))
            out.append(due != NO_DUE)
        if query.when is not None:
            out.extend(_when_conditions(user, query.when, query.now or self.now, query.days, due))
        if query.has_due is True:
            out.append(due != NO_DUE)
        elif query.has_due is False:
            out.append(due == NO_DUE)
        if query.cursor:
            key = self.after()
            out.extend(_keyset(column, id_, self.order, key.value, key.id))
        return out

    def after(self) -> cursors.CursorKey:
        """The page's cursor, decoded (a 400 for one that is not ours, or not for this sort)."""
        assert self.query.cursor is not None
        return cursors.decode(
            self.cursor_key,
            self.query.cursor,
            sort=self.query.sort,
            order=self.order,
            datetime_value=self.query.sort in {"created", "updated", "due"},
        )


def _keyset(
    column: Any, id_: Any, order: Order, value: Any, id_value: Any
) -> list[ColumnElement[bool]]:
    """The rows after (column, id) = (value, id_value) in `order`: the keyset bound."""
    # The plain bound is implied by the OR, but only it lets SQLite seek the index.
    if order == "asc":
        return [column >= value, or_(column > value, and_(column == value, id_ > id_value))]
    return [column <= value, or_(column < value, and_(column == value, id_ < id_value))]


# The page statements of the plainest lists, built once per shape: building one and its cache
# key took 0.4 ms, a ninth of a page's CPU. Plain: a user nothing is shared with, and no
# filter but the status and the project (sort, order, limit, cursor and project are
# parameters of the shape).
_PlainShape = tuple[StatusFilter, SortField, Order, bool, bool]
_PLAIN_PAGES: dict[_PlainShape, Select[*tuple[Any, ...]]] = {}
_LIMIT = bindparam("limit", type_=Integer)
_AFTER_ID = bindparam("after_id", type_=Uuid)
_PROJECT = bindparam("project_id", type_=Uuid)


async def _plain_page(
    session: AsyncSession, user: User, query: TaskQuery, bounds: _Bounds
) -> tuple[Select[*tuple[Any, ...]], dict[str, Any]] | None:
    """A plain list's statement and its parameters, or None when the list is not plain. Its
    checks come in the per-request path's order: the project (404), then the cursor."""
    if (
        user.shared_projects
        or query.visible is not None
        or query.section_id is not None
        or query.parent_id is not None
        or query.subtree is not None
        or query.q
        or query.priority
        or query.tag
        or query.assignee is not None
        or query.due_before is not None
        or query.due_after is not None
        or query.has_due is not None
        or query.when is not None
        or query.offset
    ):
        return None
    if query.project_id is not None:
        await projects.get_project(session, user, query.project_id)
    order = bounds.order
    shape = (query.status, query.sort, order, bool(query.cursor), query.project_id is not None)
    stmt = _PLAIN_PAGES.get(shape)
    if stmt is None:
        stmt = _PLAIN_PAGES[shape] = _plain_statement(*shape)
    params: dict[str, Any] = {access.VIEWER.key: user.id, _LIMIT.key: query.limit + 1}
    if query.project_id is not None:
        params[_PROJECT.key] = query.project_id
    if query.cursor:
        key = bounds.after()
        params.update(after=key.value, after_id=key.id)
    return stmt, params


def _plain_statement(
    status: StatusFilter, sort: SortField, order: Order, after: bool, in_project: bool
) -> Select[*tuple[Any, ...]]:
    column = SORT_COLUMNS[sort]
    viewer = access.UNSHARED_VIEWER
    conditions = [and_(access.task_scope(viewer), VISIBLE), *_STATUS_CONDITIONS[status]]
    # A project's own list shows it archived too; every other list leaves archived ones out.
    conditions.append(
        Task.project_id == _PROJECT if in_project else projects.in_active_project(viewer)
    )
    if after:
        conditions.extend(
            _keyset(column, Task.id, order, bindparam("after", type_=column.type), _AFTER_ID)
        )
    return (
        select(*tree.DISPLAY_COLUMNS)
        .where(*conditions)
        .order_by(*_ordering(column, Task.id, order))
        .limit(_LIMIT)
    )


def _merges(user: User, query: TaskQuery) -> bool:
    """Whether the page is read as the merge of the user's own tasks and `task_views`: for a
    member of shared projects, across all their projects, in an order `task_views` indexes.
    A project's (or section's, or parent's) page walks that place's index instead, and a
    search is narrowed by its own index first."""
    return bool(
        user.shared_projects
        and query.visible is None
        and not query.scoped
        and not query.q
        and not query.offset
        and query.sort in access.VIEW_KEYS
    )


ID: ColumnElement[Any] = literal_column("id")
KEY: ColumnElement[Any] = literal_column("k")
# The member's own tasks in page order, per sort (the `viewer` parameter: access.VIEWER).
_OWN_WALKS = {
    sort: select(Task.id.label("id"), SORT_COLUMNS[sort].label("k")).where(
        Task.owner_id == access.VIEWER, VISIBLE
    )
    for sort in access.VIEW_KEYS
}


def _merged_page(
    user: User,
    sort: SortField,
    order: Order,
    conditions: list[ColumnElement[bool]],
    bounds: _Bounds,
    limit: int,
) -> Any:
    """A page for a member of shared projects, as two index walks merged: their own tasks by
    the owner-first index of `sort`, and the tasks shared with them by `task_views`' (each at
    most `limit` rows), then the page's rows by primary key. Without `task_views` this page
    needed every visible task read and sorted (docs/architecture.md, "Who sees what")."""
    key = SORT_COLUMNS[sort]
    own = (
        _OWN_WALKS[sort]
        .where(*conditions, *bounds.on(key, Task.id, Task.due_sort))
        .where(projects.in_active_project(access.Someone(user.id, shared_projects=0)))
        .order_by(*_ordering(key, Task.id, order))
        .limit(limit)
        .subquery()
    )
    walk, view = access.shared_tasks(sort)
    shared = (
        walk.where(*conditions, *bounds.on(view.key, view.task_id, view.due_sort))
        .where(projects.in_unarchived_project())
        .order_by(*_ordering(view.key, view.task_id, order))
        .limit(limit)
        .subquery()
    )
    # Named columns rather than SQLAlchemy's column proxies of each subquery: building those
    # cost more than the rest of the statement.
    page_id: ColumnElement[Any] = literal_column("page.id")
    page_key: ColumnElement[Any] = literal_column("page.k")
    page = (
        union_all(*(select(ID, KEY).select_from(branch) for branch in (own, shared)))
        .order_by(*_ordering(KEY, ID, order))
        .limit(limit)
        .subquery("page")
    )
    stmt: Any = (
        select(*tree.DISPLAY_COLUMNS)
        .select_from(page)
        .join(Task, Task.id == page_id)
        .order_by(*_ordering(page_key, page_id, order))
    )
    return stmt


async def _place_conditions(
    session: AsyncSession, user: User, query: TaskQuery
) -> list[ColumnElement[bool]]:
    """The project, section, parent and subtree filters (404 for one the user cannot see)."""
    if not query.scoped:
        return [projects.in_active_project(user)]
    conditions: list[ColumnElement[bool]] = []
    if query.project_id is not None:
        await projects.get_project(session, user, query.project_id)
        conditions.append(Task.project_id == query.project_id)
    if query.section_id == "none":
        conditions.append(Task.section_id.is_(None))
    elif query.section_id is not None:
        await projects.get_section(session, user, query.section_id)
        conditions.append(Task.section_id == query.section_id)
    if query.parent_id == "none":
        conditions.append(Task.parent_id.is_(None))
    elif query.parent_id is not None:
        await get_task(session, user, query.parent_id)
        conditions.append(Task.parent_id == query.parent_id)
    if query.subtree is not None:
        root = await get_task(session, user, query.subtree)
        conditions.append(tree.subtree_condition(root.owner_id, query.subtree))
    return conditions


@dataclass(frozen=True)
class TaskCounts:
    all: int
    pending: int
    completed: int
    overdue: int
    today: int  # open tasks due today or overdue, like the "today" filter


@dataclass(frozen=True)
class Today:
    """The user's calendar day at `now`: where it starts and ends on the time line (UTC).

    "Overdue" is day-based (docs/scheduling.md): an open task whose due day, in the owner's
    zone, is before today. A time earlier today has passed but is not overdue; it is `late`.
    The rule is written twice, in Python (`is_overdue`, for labels) and in SQL (`_overdue`,
    for the filter and the counts), both on `due_sort`, so they cannot disagree."""

    date: date
    start: datetime
    end: datetime
    now: datetime

    def is_overdue(self, task: Task | TaskRow) -> bool:
        return not task.completed and task.due_sort < self.start

    def is_late(self, task: Task | TaskRow) -> bool:
        """Open, due at a time of today that has passed."""
        return (
            not task.completed and task.due_at is not None and self.start <= task.due_at < self.now
        )


def today_of(user: User, now: datetime) -> Today:
    local_today = now.astimezone(zone_of(user.timezone)).date()
    return Today(
        date=local_today,
        start=to_instant(local_today, user),
        end=to_instant(local_today + timedelta(days=1), user),
        now=now,
    )


def _overdue(day: Today, due: Any = Task.due_sort) -> ColumnElement[bool]:
    """SQL for Today.is_overdue."""
    return _overdue_from(day.start, due)


def _overdue_from(start: Any, due: Any = Task.due_sort) -> ColumnElement[bool]:
    """`_overdue` for a day starting at `start` (a value or a bound parameter)."""
    return and_(Task.completed.is_(False), due < start)


def _when_conditions(
    user: User,
    when: WhenFilter,
    now: datetime,
    days: int = UPCOMING_DAYS,
    due: Any = Task.due_sort,
) -> list[ColumnElement[bool]]:
    """today: due today (any status) or overdue, as Todoist's Today; overdue: see `Today`;
    upcoming: due in the `days` days after today, any status. Day bounds are local midnights,
    so a DST change makes no day an hour short or long."""
    day = today_of(user, now)
    if when == "today":
        # = (due today) OR overdue, written so that due_sort < end can use the index.
        return [due < day.end, or_(due >= day.start, _overdue(day, due))]
    if when == "overdue":
        return [_overdue(day, due)]
    last = to_instant(day.date + timedelta(days=1 + days), user)
    return [due >= day.end, due < last]


def due_day_for_time(clock: time, user: User, now: datetime) -> date:
    """The day a time given without a date falls on: today if that moment is still ahead in
    the user's zone, else tomorrow (as Todoist, and quick add's `at 9am`)."""
    today = now.astimezone(zone_of(user.timezone)).date()
    at = to_instant(datetime.combine(today, clock), user)
    return today if at > now else today + timedelta(days=1)


def _count_columns(start: Any, end: Any, of: ColumnElement[bool] | None = None) -> list[Any]:
    """How many tasks, open, overdue and open due by the end of today (the "today" filter's
    open tasks), for the day from `start` to `end` (`Today`'s): the sidebar's counts, as
    aggregates over the rows a query selects, or over those of them that meet `of`."""

    def count(condition: ColumnElement[bool] | None) -> Any:
        if condition is None:
            return func.count()
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    def where(condition: ColumnElement[bool]) -> ColumnElement[bool]:
        return condition if of is None else and_(of, condition)

    pending = Task.completed.is_(False)
    return [
        count(of),
        count(where(pending)),
        count(where(_overdue_from(start))),
        count(where(and_(pending, Task.due_sort < end))),
    ]


async def count_tasks(
    session: AsyncSession,
    user: User,
    *,
    now: datetime,
    visible: ColumnElement[bool] | None = None,
) -> TaskCounts:
    """All the sidebar counts in one query, by the same day rules as the `when` filter
    (`visible` as in TaskQuery)."""
    day = today_of(user, now)
    stmt = select(*_count_columns(day.start, day.end)).where(
        access.task_scope(user) if visible is None else visible,
        VISIBLE,
        projects.in_active_project(user),
    )
    total, open_, overdue, today = (await session.execute(stmt)).one()
    return TaskCounts(int(total), int(open_), int(total) - int(open_), int(overdue), int(today))


@dataclass(frozen=True)
class SidebarCounts:
    """The numbers beside every page of the web app: `counts` as `count_tasks` gives them,
    open tasks per project as `projects.open_counts`, and the tags as `tags.list_tags`."""

    counts: TaskCounts
    open_by_project: dict[uuid.UUID, int]
    tags: list[TagOut]


_TAG_ROW, _PROJECT_ROW = 0, 1
_DAY_START = bindparam("day_start", type_=UTCDateTime)
_DAY_END = bindparam("day_end", type_=UTCDateTime)


def _sidebar_statement(shares: int) -> Any:
    """See `count_sidebar`."""
    user = access.viewer_parameter(bool(shares))
    staged = and_(Task.owner_id == access.VIEWER, Task.import_batch_id.is_not(None))
    groups = (
        select(
            Task.project_id.label("project_id"),
            func.max(case((projects.in_active_project(user), 1), else_=0)).label("active"),
            *(
                column.label(name)
                for name, column in zip(
                    ("n", "pending", "overdue", "today"),
                    _count_columns(_DAY_START, _DAY_END, of=VISIBLE),
                    strict=True,
                )
            ),
            func.coalesce(func.sum(case((staged, 1), else_=0)), 0).label("staged"),
        )
        .where(access.task_scope(user))
        .group_by(Task.project_id)
        .cte("sidebar_groups")
    )
    has_staged = select(func.sum(groups.c.staged)).scalar_subquery() > 0
    rows = union_all(
        # Tags first: the columns' types come from real columns (name, name_key), not NULLs.
        select(
            literal_column(str(_TAG_ROW)).label("kind"),
            Tag.id.label("id"),
            Tag.name.label("name"),
            Tag.name_key.label("name_key"),
            Tag.color.label("color"),
            tags.task_count(has_staged).label("n"),
            *(null().label(name) for name in ("active", "pending", "overdue", "today")),
        ).where(Tag.owner_id == access.VIEWER),
        select(
            literal_column(str(_PROJECT_ROW)),
            groups.c.project_id,
            *(null().label(name) for name in ("name", "name_key", "color")),
            groups.c.n,
            groups.c.active,
            groups.c.pending,
            groups.c.overdue,
            groups.c.today,
        ),
    ).subquery("sidebar")
    return select(rows).order_by(rows.c.kind, rows.c.name_key)


# Built once: building this statement cost more CPU than SQLite took to run it at 10k tasks.
_SIDEBAR = {shares: _sidebar_statement(shares) for shares in (0, 1)}


async def count_sidebar(session: AsyncSession, user: User, *, now: datetime) -> SidebarCounts:
    """The sidebar's numbers in one statement, from one pass over the user's tasks.

    The pass groups the tasks by project: per group, the counts of `count_tasks`, whether
    `in_active_project` holds (it depends on the project alone, so it is the same for every
    row of a group: the totals add up the groups where it does, as `count_tasks` filters), and
    how many of the user's tasks an import still stages, which decides how `tags.task_count`
    counts the tags. One statement, so the tags, the totals and the projects' counts are all of
    one moment, and the check for staged tasks costs no second pass."""
    day = today_of(user, now)
    params = {access.VIEWER.key: user.id, "day_start": day.start, "day_end": day.end}
    total = open_ = overdue = today = 0
    by_project: dict[uuid.UUID, int] = {}
    tag_counts: list[TagOut] = []
    statement = _SIDEBAR[1 if user.shared_projects else 0]
    for kind, id_, name, _key, color, n, active, pending, late, due_today in await read_rows(
        session, statement, params
    ):
        if kind == _TAG_ROW:
            tag_counts.append(TagOut(id=id_, name=name, color=color, task_count=int(n)))
            continue
        if id_ is not None:
            by_project[id_] = int(pending)
        if active:
            total, open_ = total + int(n), open_ + int(pending)
            overdue, today = overdue + int(late), today + int(due_today)
    counts = TaskCounts(total, open_, total - open_, overdue, today)
    return SidebarCounts(counts, by_project, tag_counts)
