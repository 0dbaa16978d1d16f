"""The task list's filters (the sidebar and the search box) and the page they render."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from pydantic import BaseModel

from doable.auth.models import User
from doable.projects import service as projects_service
from doable.tasks import listing as task_listing
from doable.tasks import service as tasks_service
from doable.tasks.schemas import Priority
from doable.web.views import base_context, reminder_marks, task_view

DueFilter = Literal["overdue", "today", "week", "none"]
PAGE_SIZE = 50


class ListFilters(BaseModel):
    status: tasks_service.StatusFilter = "all"
    priority: list[Priority] = []
    tag: list[str] = []
    due: DueFilter | None = None
    q: str = ""
    sort: tasks_service.SortField = "created"
    # Whether the request named a sort (remembered) or left it to what was remembered.
    sort_given: bool = False
    # "me": the tasks assigned to the signed-in user (in any project they can see).
    assigned: Literal["me"] | None = None

    def query_string(self, **changes: Any) -> str:
        data = self.model_dump(exclude={"sort_given"}) | changes
        pairs: list[tuple[str, str]] = []
        for key, value in data.items():
            if isinstance(value, list):
                pairs.extend((key, str(v)) for v in value)
            elif value not in (None, "", "all") and not (key == "sort" and value == "created"):
                pairs.append((key, str(value)))
        return urlencode(pairs)

    @property
    def active(self) -> bool:
        return bool(
            self.status != "all" or self.priority or self.tag or self.due or self.q or self.assigned
        )


async def list_filters(
    status: Annotated[tasks_service.StatusFilter, Query()] = "all",
    priority: Annotated[list[Priority] | None, Query()] = None,
    tag: Annotated[list[str] | None, Query(max_length=50)] = None,
    due: Annotated[DueFilter | None, Query()] = None,
    q: Annotated[str, Query(max_length=200)] = "",
    sort: Annotated[tasks_service.SortField | None, Query()] = None,
    assigned: Annotated[Literal["me"] | None, Query()] = None,
) -> ListFilters:
    return ListFilters(
        status=status,
        priority=priority or [],
        tag=[t for t in (tag or []) if t.strip()],
        due=due,
        q=q.replace("\x00", "").strip(),
        sort=sort or "created",
        sort_given=sort is not None,
        assigned=assigned,
    )


Filters = Annotated[ListFilters, Depends(list_filters)]


# The sidebar's due filters are the API's `when` filters ("week" is `upcoming`, 7 days).
DUE_FILTERS: dict[str, tasks_service.WhenFilter] = {
    "overdue": "overdue",
    "today": "today",
    "week": "upcoming",
}


def task_query(
    filters: ListFilters, cursor: str | None, now: datetime, user: User
) -> task_listing.TaskQuery:
    query = task_listing.TaskQuery(
        status=filters.status,
        q=filters.q or None,
        priority=list(filters.priority),
        tag=list(filters.tag),
        sort=filters.sort,
        limit=PAGE_SIZE,
        cursor=cursor,
        now=now,
        assignee=user.id if filters.assigned == "me" else None,
    )
    if filters.due == "none":
        query.has_due = False
    elif filters.due is not None:
        query.when = DUE_FILTERS[filters.due]
    return query


async def page_context(
    request: Request,
    state: Any,
    session: Any,
    user: User,
    filters: ListFilters,
    cursor: str | None = None,
) -> dict[str, Any]:
    now = state.clock()
    tasks, next_cursor = await task_listing.list_tasks(
        session, user, task_query(filters, cursor, now, user), cursor_key=state.runtime.secret_key
    )
    today = task_listing.today_of(user, now)
    return (
        base_context(request, state, user)
        | await sidebar_context(session, user, now)
        | {
            "tasks": [task_view(t, user, today) for t in tasks],
            "reminder_marks": await reminder_marks(session, user, [t.id for t in tasks], today),
            "next_cursor": next_cursor,
            "filters": filters,
            "errors": {},
            "values": {},
        }
    )


@dataclass(frozen=True)
class ProjectNav:
    id: str
    name: str
    color: str
    favorite: bool
    inbox: bool
    open: int  # open tasks in it


async def sidebar_context(session: Any, user: User, now: datetime) -> dict[str, Any]:
    """What every page with the sidebar shows: the projects (Inbox first, in their order) with
    their open-task counts, the task counts and the tags. Two queries."""
    projects = await projects_service.list_projects(session, user)
    numbers = await task_listing.count_sidebar(session, user, now=now)
    nav = [
        ProjectNav(
            id=str(p.id),
            name=p.name,
            color=p.color,
            favorite=p.favorite,
            inbox=p.is_inbox,
            open=numbers.open_by_project.get(p.id, 0),
        )
        for p in projects
    ]
    return {
        "projects": nav,
        "counts": numbers.counts,
        "tags": numbers.tags,
    }
