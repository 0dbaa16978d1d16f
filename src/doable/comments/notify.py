"""Who hears what from a shared project, as rows of `notifications` (docs/sharing.md).

- The assignee hears that a task was assigned to them (unless they assigned it themselves),
  and that someone else completed it.
- The assignee and the task's creator (its owner for tasks made before sharing) hear about a
  new comment; a member named with `@name` in it hears about the mention instead.
- Nobody hears about what they did themselves, nobody hears twice about one change, nobody
  hears from a project they muted, and nobody hears from a project they can no longer see.

A notification is written in the change's own transaction, and each recipient's event
streams are woken once it commits (the stream then reads the row, as for a reminder); it is
then sent by Web Push and email like a reminder's, to whoever chose those channels.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from doable import events
from doable.auth.models import User
from doable.comments.models import ProjectMute
from doable.db import actor_of, utcnow
from doable.notify import delivery
from doable.projects import access
from doable.projects.models import Project, ProjectMember
from doable.reminders.models import Notification
from doable.tasks.models import Task

# The notification kinds this module writes (reminders write "reminder").
ASSIGNED = "assigned"
COMMENT = "comment"
MENTION = "mention"
COMPLETED = "completed"

BODY_MAX = 500


@dataclass(frozen=True)
class Notice:
    user_id: uuid.UUID
    kind: str
    body: str


def display_name(user: User | None) -> str:
    """What members see of each other: the name, never the email."""
    if user is None:
        return "A deleted user"
    return user.name.strip() or "A member"


def excerpt(text: str, limit: int = BODY_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def muted(session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID) -> bool:
    found = await session.get(ProjectMute, (project_id, user_id))
    return found is not None


async def set_muted(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID, value: bool
) -> bool:
    """Mute or unmute the project for the user (idempotent); returns the new state."""
    current = await session.get(ProjectMute, (project_id, user_id))
    if value and current is None:
        session.add(ProjectMute(project_id=project_id, user_id=user_id, created_at=utcnow()))
        await session.flush()
    elif not value and current is not None:
        await session.delete(current)
        await session.flush()
    return value


async def forget_mutes(
    session: AsyncSession, project_id: uuid.UUID, user_id: uuid.UUID | None = None
) -> None:
    """A removed member's mute (or, without `user_id`, a deleted project's) goes too."""
    stmt = delete(ProjectMute).where(ProjectMute.project_id == project_id)
    if user_id is not None:
        stmt = stmt.where(ProjectMute.user_id == user_id)
    await session.execute(stmt)


async def send(
    session: AsyncSession,
    task: Task,
    notices: list[Notice],
    *,
    actor_id: uuid.UUID,
    now: datetime | None = None,
) -> list[Notice]:
    """Write the notices that survive the rules above; returns them. The first notice for a
    user wins, so list the most specific first (a mention before a plain comment)."""
    if task.project_id is None or not notices:
        return []
    return await session.run_sync(
        lambda sync: write(sync, task, notices, actor_id=actor_id, now=now)
    )


def write(
    session: Session,
    task: Task,
    notices: list[Notice],
    *,
    actor_id: uuid.UUID,
    now: datetime | None = None,
) -> list[Notice]:
    """`send` for a sync session (a before-commit hook runs in one)."""
    if task.project_id is None or not notices:
        return []
    wanted: dict[uuid.UUID, Notice] = {}
    for notice in notices:
        if notice.user_id != actor_id and notice.user_id not in wanted:
            wanted[notice.user_id] = notice
    if not wanted:
        return []
    owner = session.scalar(select(Project.owner_id).where(Project.id == task.project_id))
    members = session.scalars(
        select(ProjectMember.user_id).where(
            ProjectMember.project_id == task.project_id,
            ProjectMember.user_id.in_(list(wanted)),
        )
    ).all()
    can_see = {owner, *members}
    silenced = set(
        session.scalars(
            select(ProjectMute.user_id).where(
                ProjectMute.project_id == task.project_id,
                ProjectMute.user_id.in_(list(wanted)),
            )
        ).all()
    )
    kept = [n for uid, n in wanted.items() if uid in can_see and uid not in silenced]
    if not kept:
        return []
    now = now or utcnow()
    ids = [uuid.uuid4() for _ in kept]
    session.execute(
        insert(Notification),
        [
            {
                "id": notification_id,
                "owner_id": n.user_id,
                "task_id": task.id,
                "reminder_id": None,
                "kind": n.kind,
                "title": task.title,
                "body": excerpt(n.body),
                "due_at": task.due_at,
                "due_date": task.due_date,
                "fire_at": now,
                "late": False,
                "created_at": now,
                "read_at": None,
            }
            for notification_id, n in zip(ids, kept, strict=True)
        ],
    )
    for n in kept:
        events.publish_after_commit(session, events.Event("notification", n.user_id))
    # By Web Push and email too, as a reminder's, where the person chose those channels.
    delivery.push_after_commit(session, ids)
    return kept


# --- completion --------------------------------------------------------------------------


def tell_assignees(session: Session, pending: list[events.Event]) -> None:
    """Before a commit: the assignee of each task this transaction completed hears about it,
    unless they completed it themselves. Hooked on the task events every path that completes
    a task already makes (API, web, MCP, compat, a push notification's button), so no path
    needs to remember it. A session without an actor (the scheduler, the CLI) tells nobody:
    nobody did it."""
    actor_id = actor_of(session)
    if actor_id is None:
        return
    done = list(
        dict.fromkeys(
            item.data["id"]
            for item in pending
            if item.kind == "task"
            and item.completed
            and item.assignee_id is not None
            and item.assignee_id != actor_id
        )
    )
    if not done:
        return
    actor: User | None = None
    for task_id in done:
        task = session.get(Task, uuid.UUID(task_id))
        if task is None or task.assignee_id is None or task.assignee_id == actor_id:
            continue
        actor = actor or session.get(User, actor_id)
        # A repeating task stays open: one occurrence was completed.
        what = "this task" if task.completed else "an occurrence of this task"
        body = f"{display_name(actor)} completed {what}"
        write(session, task, [Notice(task.assignee_id, COMPLETED, body)], actor_id=actor_id)


events.on_before_commit(tell_assignees)


# --- mentions ----------------------------------------------------------------------------

# `@"Full Name"` (any characters but a quote, up to 100) or `@word` (letters, digits, `.`,
# `_`, `-`, `'`), after the start or a character that is not part of a word or an address.
_MENTION = re.compile(r"""(?<![\w@.])@(?:"([^"\n]{1,100})"|([\w][\w.'-]*))""")


def mentioned_names(text: str) -> list[str]:
    """The names a comment mentions, casefolded, in order, once each."""
    found: dict[str, None] = {}
    for quoted, word in _MENTION.findall(text):
        name = " ".join((quoted or word).split()).casefold().rstrip(".'-")
        if name:
            found.setdefault(name)
    return list(found)


def match_mentions(names: list[str], people: dict[uuid.UUID, str]) -> list[uuid.UUID]:
    """The people (id → display name) the names point at. A name matches a person whose whole
    name it is (case and spacing aside); a single word that matches nobody's whole name
    matches everyone whose first name it is. Nameless people cannot be mentioned."""
    full = {uid: " ".join(name.split()).casefold() for uid, name in people.items() if name.strip()}
    hit: dict[uuid.UUID, None] = {}
    for name in names:
        exact = [uid for uid, whole in full.items() if whole == name]
        if not exact and " " not in name:
            exact = [uid for uid, whole in full.items() if whole.split(" ", 1)[0] == name]
        for uid in exact:
            hit.setdefault(uid)
    return list(hit)


async def people_of(session: AsyncSession, project_id: uuid.UUID) -> dict[uuid.UUID, User]:
    """The owner and members of a project, with their user rows."""
    ids = await access.member_ids(session, project_id)
    if not ids:
        return {}
    users = (await session.scalars(select(User).where(User.id.in_(ids)))).all()
    by_id = {u.id: u for u in users}
    return {uid: by_id[uid] for uid in ids if uid in by_id}
