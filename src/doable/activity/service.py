"""Reading the activity log (scoped by the project's visibility) and recording what the ORM
listener cannot see (deletions and restores). Never commits."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from doable.activity.models import Activity
from doable.activity.recorder import _NOTED, Entry
from doable.auth.models import User
from doable.projects import service as projects_service
from doable.tasks import cursor as cursors
from doable.tasks import service as tasks_service

PAGE = 50


def record(
    session: AsyncSession,
    project_id: uuid.UUID,
    task_id: uuid.UUID | None,
    kind: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Note an entry for the transaction's commit (written with the ORM's, same actor)."""
    session.info.setdefault(_NOTED, []).append(Entry(project_id, task_id, kind, detail or {}))


@dataclass(frozen=True)
class ActivityView:
    id: uuid.UUID
    project_id: uuid.UUID
    task_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    actor_name: str
    kind: str
    detail: dict[str, Any]
    created_at: datetime

    @property
    def summary(self) -> str:
        """The entry in words, for the web app: "moved it from Home to Work"."""
        return describe(self.kind, self.detail)


# Membership changes (projects/members.py): `name` is the member's display name.
MEMBERSHIP = {
    "member_added": "joined as {role}",
    "role_changed": "made {name} {role} (was {from_role})",
    "member_removed": "removed {name}",
    "member_left": "left the project",
    "owner_changed": "handed the project over to {name}",
}


def describe(kind: str, detail: dict[str, Any]) -> str:
    if kind in MEMBERSHIP:
        values = {k: str(detail.get(k, "")) for k in ("name", "role", "from_role")}
        return MEMBERSHIP[kind].format(**values)
    title = detail.get("title") or detail.get("name") or ""
    if kind == "edited" or kind == "project_edited":
        return "edited " + ", ".join(detail.get("fields", []))
    if kind == "moved" and "to_project" in detail:
        return f"moved it from {detail['from_project']} to {detail['to_project']}"
    if kind == "assigned":
        return "assigned it" if detail.get("assignee_id") else "unassigned it"
    if kind == "completed" and detail.get("occurrence"):
        return "completed an occurrence"
    words = {
        "created": "created",
        "completed": "completed",
        "reopened": "reopened",
        "moved": "moved",
        "deleted": "deleted",
        "restored": "restored",
        "section_created": "added the section",
        "section_renamed": "renamed a section to",
        "section_deleted": "deleted the section",
        "project_created": "created the project",
    }
    verb = words.get(kind, kind.replace("_", " "))
    return f"{verb} “{title}”" if title else verb


async def _page(
    session: AsyncSession,
    condition: ColumnElement[bool],
    *,
    sort: str,
    limit: int,
    cursor: str | None,
    cursor_key: bytes,
) -> tuple[list[ActivityView], str | None]:
    rows, next_cursor = await cursors.newest_first_page(
        session,
        Activity,
        time_column=Activity.created_at,
        id_column=Activity.id,
        conditions=[condition],
        sort=sort,
        limit=limit,
        cursor=cursor,
        cursor_key=cursor_key,
    )
    actors = {row.actor_id for row in rows if row.actor_id is not None}
    names: dict[uuid.UUID, str] = {}
    if actors:
        found = await session.execute(
            select(User.id, User.name, User.email).where(User.id.in_(actors))
        )
        # Members see each other's display names, never emails (issue 16).
        names = {uid: name or "A member" for uid, name, _ in found}
    views = [
        ActivityView(
            id=row.id,
            project_id=row.project_id,
            task_id=row.task_id,
            actor_id=row.actor_id,
            actor_name=names.get(row.actor_id, "Someone") if row.actor_id else "Someone",
            kind=row.kind,
            detail=_detail(row.detail),
            created_at=row.created_at,
        )
        for row in rows
    ]
    return views, next_cursor


def _detail(text: str) -> dict[str, Any]:
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


async def project_activity(
    session: AsyncSession,
    user: User,
    project_id: uuid.UUID,
    *,
    limit: int = PAGE,
    cursor: str | None = None,
    cursor_key: bytes,
) -> tuple[list[ActivityView], str | None]:
    """A project's log, newest first, for anyone who may see the project (else 404)."""
    project = await projects_service.get_project(session, user, project_id)
    return await _page(
        session,
        Activity.project_id == project.id,
        sort="activity",
        limit=limit,
        cursor=cursor,
        cursor_key=cursor_key,
    )


async def task_activity(
    session: AsyncSession,
    user: User,
    task_id: uuid.UUID,
    *,
    limit: int = PAGE,
    cursor: str | None = None,
    cursor_key: bytes,
) -> tuple[list[ActivityView], str | None]:
    """A task's log, newest first, for anyone who may see the task (else 404). Its entries
    are those of its current project (a move writes one in each)."""
    task = await tasks_service.read_task(session, user, task_id)
    assert task.project_id is not None
    return await _page(
        session,
        (Activity.task_id == task.id) & (Activity.project_id == task.project_id),
        sort="task-activity",
        limit=limit,
        cursor=cursor,
        cursor_key=cursor_key,
    )
