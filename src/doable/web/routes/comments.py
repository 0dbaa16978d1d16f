"""A task's people and comments on its edit page: the assignee select, the comment thread
with its form, and muting the task's project. Commenting needs only a viewer's role;
assigning needs an editor's, as any change of the task does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import Response
from pydantic import ValidationError

from doable.auth.models import User
from doable.comments import notify
from doable.comments import service as comments_service
from doable.comments.schemas import CommentIn
from doable.db import SessionDep
from doable.errors import InvalidInput
from doable.projects import access
from doable.projects.access import Role
from doable.state import AppState, StateDep
from doable.tasks import assignees
from doable.tasks import service as tasks_service
from doable.tasks.models import Task
from doable.web.dependencies import CsrfToken, WebUser, area_router
from doable.web.routes.forms import TaskId, field_errors, owned_task, read_form, see_other
from doable.web.routes.forms import today_for as _today_for
from doable.web.routes.reminders import BEFORE_CHOICES, reminder_views
from doable.web.views import base_context, respond, task_view
from doable.zones import zone_of

router = area_router()
CommentId = Annotated[uuid.UUID, Path()]
THREAD_PAGE = 100


@dataclass(frozen=True)
class CommentView:
    id: str
    author: str
    body: str
    when: str
    iso: str
    edited: bool
    mine: bool
    can_delete: bool


async def collab_context(
    session: Any, state: AppState, user: User, task: Task, cursor: str | None = None
) -> dict[str, Any]:
    """What the edit page shows of the people around a task. A few queries."""
    assert task.project_id is not None
    role = await access.role_in(session, user, project_id=task.project_id, owner_id=task.owner_id)
    people = await notify.people_of(session, task.project_id)
    rows, next_cursor = await comments_service.list_comments(
        session,
        task,
        limit=THREAD_PAGE,
        cursor=cursor,
        cursor_key=state.runtime.secret_key,
    )
    zone = zone_of(user.timezone)
    moderates = role is not None and role.allows(Role.ADMIN)
    return {
        "people": [
            {"id": str(uid), "name": notify.display_name(u) + (" (you)" if uid == user.id else "")}
            for uid, u in people.items()
        ],
        "assignee_id": str(task.assignee_id) if task.assignee_id else "",
        "can_assign": role is not None and role.allows(Role.EDITOR),
        "comments": [
            CommentView(
                id=str(r.comment.id),
                author=r.author_name,
                body=r.comment.body,
                when=r.comment.created_at.astimezone(zone).strftime("%d %b %Y, %H:%M"),
                iso=r.comment.created_at.isoformat(),
                edited=r.comment.edited_at is not None,
                mine=r.comment.author_id == user.id,
                can_delete=moderates or r.comment.author_id == user.id,
            )
            for r in rows
        ],
        "comments_next": next_cursor,
        "muted": await notify.muted(session, user.id, task.project_id),
        "shared": len(people) > 1,
    }


async def _page(
    request: Request,
    session: Any,
    state: AppState,
    user: User,
    task: Task,
    *,
    status: int,
    **extra: Any,
) -> Response:
    ctx = (
        base_context(request, state, user)
        | {
            "task": task_view(task, user, _today_for(state, user)),
            "errors": {},
            "values": None,
            "reminders": await reminder_views(session, user, task),
            "before_choices": BEFORE_CHOICES,
        }
        | await collab_context(session, state, user, task)
        | extra
    )
    return respond(request, state, "edit.html", ctx, status=status)


@router.post("/tasks/{task_id}/assignee")
async def set_assignee(
    request: Request,
    task_id: TaskId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    task = await owned_task(session, user, task_id, request)  # an editor
    form = await read_form(request)
    raw = form.get("assignee_id", "").strip()
    try:
        wanted = uuid.UUID(raw) if raw else None
        previous = task.assignee_id
        await assignees.set_assignee(session, task, wanted)
    except (ValueError, InvalidInput):
        session.expunge(task)
        task = await tasks_service.get_task(session, user, task_id)
        message = "Choose a person of this task's project"
        return await _page(request, session, state, user, task, status=422, assignee_error=message)
    task.updated_at = state.clock()
    await session.flush()
    await assignees.announce(session, user, task, previous)
    return see_other(f"/tasks/{task.id}/edit#people")


@router.post("/tasks/{task_id}/comments")
async def add_comment(
    request: Request,
    task_id: TaskId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    task = await comments_service.visible_task(session, user, task_id)  # viewers comment
    form = await read_form(request)
    try:
        data = CommentIn.model_validate({"body": form.get("body", "")})
    except ValidationError as exc:
        error = next(iter(field_errors(exc).values()), "Write a comment")
        return await _page(
            request,
            session,
            state,
            user,
            task,
            status=422,
            comment_error=error,
            comment_value=form.get("body", ""),
        )
    comment = await comments_service.add_comment(session, user, task, data.body)
    return see_other(f"/tasks/{task.id}/edit#comment-{comment.id}")


@router.post("/tasks/{task_id}/comments/{comment_id}")
async def edit_comment(
    request: Request,
    task_id: TaskId,
    comment_id: CommentId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    comment, task = await comments_service.get_comment(session, user, task_id, comment_id)
    form = await read_form(request)
    try:
        data = CommentIn.model_validate({"body": form.get("body", "")})
    except ValidationError as exc:
        error = next(iter(field_errors(exc).values()), "Write a comment")
        return await _page(request, session, state, user, task, status=422, comment_error=error)
    await comments_service.edit_comment(session, user, comment, task, data.body)
    return see_other(f"/tasks/{task.id}/edit#comment-{comment.id}")


@router.post("/tasks/{task_id}/comments/{comment_id}/delete")
async def delete_comment(
    request: Request,
    task_id: TaskId,
    comment_id: CommentId,
    user: WebUser,
    session: SessionDep,
    csrf: CsrfToken,
) -> Response:
    comment, task = await comments_service.get_comment(session, user, task_id, comment_id)
    await comments_service.delete_comment(session, user, comment, task)
    return see_other(f"/tasks/{task.id}/edit#comments")


@router.post("/tasks/{task_id}/mute")
async def mute_project(
    request: Request,
    task_id: TaskId,
    user: WebUser,
    session: SessionDep,
    csrf: CsrfToken,
) -> Response:
    """Mute or unmute, for yourself, the project of a task you can see."""
    task = await comments_service.visible_task(session, user, task_id)
    assert task.project_id is not None
    form = await read_form(request)
    await notify.set_muted(session, user.id, task.project_id, form.get("muted") == "1")
    return see_other(f"/tasks/{task.id}/edit#people")
