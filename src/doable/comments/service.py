"""Comments on tasks. Nothing here commits.

Who may do what: anyone who can see a task (any role, the viewer included) reads its thread
and comments on it; only the author edits a comment; the author, and the project's admins and
owner, delete it. A task the caller cannot see is 404, and so are its comments; a comment the
caller may see but not change is 403. Every query goes through the task's visibility
(`access.task_scope`), never a check after loading.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from doable import events
from doable.auth.models import User
from doable.comments import notify
from doable.comments.models import Comment
from doable.db import utcnow
from doable.errors import Forbidden, NotFound
from doable.projects import access
from doable.projects.access import Role
from doable.tasks import cursor as cursors
from doable.tasks import service as tasks_service
from doable.tasks.models import VISIBLE, Task

PAGE = 50
_SORT = "comments"


class CommentNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such comment")


class NotYourComment(Forbidden):
    slug = "not-your-comment"


@dataclass(frozen=True)
class Authored:
    """A comment with its author's display name."""

    comment: Comment
    author_name: str


async def _names(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    users = (await session.scalars(select(User).where(User.id.in_(ids)))).all()
    return {u.id: notify.display_name(u) for u in users}


async def authored(session: AsyncSession, comments: list[Comment]) -> list[Authored]:
    names = await _names(session, {c.author_id for c in comments if c.author_id is not None})
    return [
        Authored(
            c,
            names.get(c.author_id, notify.display_name(None))
            if c.author_id is not None
            else notify.display_name(None),
        )
        for c in comments
    ]


async def list_comments(
    session: AsyncSession,
    task: Task,
    *,
    limit: int = PAGE,
    cursor: str | None = None,
    cursor_key: bytes,
) -> tuple[list[Authored], str | None]:
    """A visible task's comments, oldest first, by keyset on (created_at, id)."""
    where = [Comment.task_id == task.id]
    if cursor:
        key = cursors.decode(cursor_key, cursor, sort=_SORT, order="asc", datetime_value=True)
        where.append(Comment.created_at >= key.value)
        where.append(
            or_(
                Comment.created_at > key.value,
                and_(Comment.created_at == key.value, Comment.id > key.id),
            )
        )
    stmt = select(Comment).where(*where).order_by(Comment.created_at, Comment.id).limit(limit + 1)
    rows = list((await session.scalars(stmt)).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = cursors.encode(
            cursor_key, cursors.CursorKey(_SORT, "asc", last.created_at, last.id)
        )
    return await authored(session, rows), next_cursor


async def add_comment(session: AsyncSession, user: User, task: Task, body: str) -> Comment:
    """Comment on a task the user can see (any role), and tell those who hear of it."""
    now = utcnow()
    comment = Comment(task_id=task.id, author_id=user.id, body=body, created_at=now)
    session.add(comment)
    await session.flush()
    await _announce(session, user, task, comment)
    events.publish_after_commit(
        session,
        events.Event(
            "comment",
            task.owner_id,
            {"action": "created", "id": str(comment.id), "task_id": str(task.id)},
        ),
    )
    return comment


async def _announce(session: AsyncSession, user: User, task: Task, comment: Comment) -> None:
    """Mentioned people first (a mention says more than a comment), then the assignee and the
    creator (its owner for tasks made before sharing)."""
    assert task.project_id is not None
    who = notify.display_name(user)
    notices: list[notify.Notice] = []
    names = notify.mentioned_names(comment.body)
    if names:
        people = await notify.people_of(session, task.project_id)
        for uid in notify.match_mentions(names, {uid: u.name for uid, u in people.items()}):
            notices.append(
                notify.Notice(uid, notify.MENTION, f"{who} mentioned you: {comment.body}")
            )
    listeners = [task.assignee_id, task.created_by or task.owner_id]
    for listener in listeners:
        if listener is not None:
            notices.append(notify.Notice(listener, notify.COMMENT, f"{who}: {comment.body}"))
    await notify.send(session, task, notices, actor_id=user.id)


async def get_comment(
    session: AsyncSession, user: User, task_id: uuid.UUID, comment_id: uuid.UUID
) -> tuple[Comment, Task]:
    """A comment on a task the user can see, with its task (locked, for a change); else 404."""
    stmt = (
        select(Comment, Task)
        .join(Task, Task.id == Comment.task_id)
        .where(
            access.task_scope(user),
            VISIBLE,
            Task.id == task_id,
            Comment.id == comment_id,
        )
        .with_for_update()
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        raise CommentNotFound()
    return row[0], row[1]


async def edit_comment(
    session: AsyncSession, user: User, comment: Comment, task: Task, body: str
) -> Comment:
    """Only the author edits a comment (403 for anyone else, admins too)."""
    if comment.author_id != user.id:
        raise NotYourComment("Only its author can edit a comment")
    # A member who lost access in the meantime cannot write (the scope found the row).
    await _still_member(session, user, task)
    if body != comment.body:
        comment.body = body
        comment.edited_at = utcnow()
        await session.flush()
        _changed(session, task, comment, "updated")
    return comment


async def delete_comment(session: AsyncSession, user: User, comment: Comment, task: Task) -> None:
    """The author deletes their comment; the project's admins and owner delete anyone's."""
    if comment.author_id == user.id:
        await _still_member(session, user, task)
    else:
        assert task.project_id is not None
        role = await access.role_in(
            session, user, project_id=task.project_id, owner_id=task.owner_id
        )
        if role is None or not role.allows(Role.ADMIN):
            raise NotYourComment(
                "Only its author, or an admin or the owner of the project, can delete a comment"
            )
    await session.execute(delete(Comment).where(Comment.id == comment.id))
    _changed(session, task, comment, "deleted")


async def _still_member(session: AsyncSession, user: User, task: Task) -> None:
    if task.owner_id != user.id:
        assert task.project_id is not None
        await access.require(
            session, user, Role.VIEWER, project_id=task.project_id, owner_id=task.owner_id
        )


def _changed(session: AsyncSession, task: Task, comment: Comment, action: str) -> None:
    events.publish_after_commit(
        session,
        events.Event(
            "comment",
            task.owner_id,
            {"action": action, "id": str(comment.id), "task_id": str(task.id)},
        ),
    )


async def visible_task(session: AsyncSession, user: User, task_id: uuid.UUID) -> Task:
    """A task the user can see (404 otherwise): commenting needs no more than a viewer."""
    return await tasks_service.get_task(session, user, task_id, need=Role.VIEWER)
