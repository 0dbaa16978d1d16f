"""Today and Upcoming: a user's open dated tasks, grouped by day in their time zone.

The one home of these two views' rules, for the web app and any other surface: Today is the
`when="today"` filter (overdue, then due today), Upcoming the `when="upcoming"` filter over
`UPCOMING_VIEW_DAYS` days, both open tasks only, by due. Each is one page of `list_tasks`
(its rows, then their tags and their subtask progress)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from doable.auth.models import User
from doable.tasks import listing as task_listing
from doable.tasks import service as tasks_service
from doable.tasks.models import TaskRow
from doable.zones import zone_of

UPCOMING_VIEW_DAYS = 14
AGENDA_LIMIT = 200  # more than a day's worth for anyone; the list's filters page further


@dataclass(frozen=True)
class DayGroup:
    """Tasks of one calendar day (`day`), or the overdue ones (`day` is None)."""

    day: date | None
    tasks: list[TaskRow]


@dataclass(frozen=True)
class Agenda:
    today: task_listing.Today
    groups: list[DayGroup]
    truncated: bool  # more tasks than AGENDA_LIMIT matched

    @property
    def count(self) -> int:
        return sum(len(group.tasks) for group in self.groups)


def due_day(task: TaskRow, user: User) -> date:
    """The calendar day a dated task is due on, in the user's zone."""
    if task.due_date is not None:
        return task.due_date
    return task.due_sort.astimezone(zone_of(user.timezone)).date()


def group_by_day(tasks: list[TaskRow], user: User, today: task_listing.Today) -> list[DayGroup]:
    """Tasks in due order as groups: the overdue ones first (by `Today.is_overdue`, the one
    rule), then one group per local day that has any."""
    groups: list[DayGroup] = []
    overdue = [t for t in tasks if today.is_overdue(t)]
    if overdue:
        groups.append(DayGroup(None, overdue))
    for task in tasks:
        if today.is_overdue(task):
            continue
        day = due_day(task, user)
        if groups and groups[-1].day == day:
            groups[-1].tasks.append(task)
        else:
            groups.append(DayGroup(day, [task]))
    return groups


async def _agenda(
    session: AsyncSession,
    user: User,
    *,
    now: datetime,
    cursor_key: bytes,
    when: tasks_service.WhenFilter,
    days: int = tasks_service.UPCOMING_DAYS,
) -> Agenda:
    query = task_listing.TaskQuery(
        status="pending", when=when, days=days, now=now, sort="due", limit=AGENDA_LIMIT
    )
    tasks, more = await task_listing.list_tasks(session, user, query, cursor_key=cursor_key)
    today = task_listing.today_of(user, now)
    return Agenda(today=today, groups=group_by_day(tasks, user, today), truncated=more is not None)


async def today_view(
    session: AsyncSession, user: User, *, now: datetime, cursor_key: bytes
) -> Agenda:
    """Open tasks that are overdue or due today: an Overdue group, then Today."""
    return await _agenda(session, user, now=now, cursor_key=cursor_key, when="today")


async def upcoming_view(
    session: AsyncSession,
    user: User,
    *,
    now: datetime,
    cursor_key: bytes,
    days: int = UPCOMING_VIEW_DAYS,
) -> Agenda:
    """Open tasks due in the `days` days after today, one group per local day."""
    return await _agenda(session, user, now=now, cursor_key=cursor_key, when="upcoming", days=days)
