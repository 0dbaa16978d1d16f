"""Moves: a task within its list, to a parent, section or project; a project or section in its
list. Drag and drop (app.js with SortableJS) and the keyboard's Move buttons post the same
forms; the services decide (tasks/tree.py, projects/service.py), this only reads the form.

A move's form carries `op`, "<kind>:<id>": before:X and after:X place next to a neighbour,
indent:X makes the task X's last subtask, outdent:X puts it right after its parent X, first:S
and last:S put it at one end of section S ("none" for the tasks outside any section) of
`project`, project:P sends it to the end of project P, section:S to the end of section S; op
"dest" takes one of the last two from the `dest` field (the Move to… list). An htmx request
is answered with an announcement for screen readers and the `doable-changed` event, on which
the page's lists reload; a plain form post is sent back to `back`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Form, Path, Request
from fastapi.responses import Response
from pydantic import ValidationError

from doable.db import SessionDep
from doable.errors import InvalidInput
from doable.projects import service as projects_service
from doable.projects.access import Role
from doable.projects.service import Placement
from doable.state import StateDep
from doable.tasks import service as tasks_service
from doable.tasks.schemas import TaskPatch
from doable.trash import undo as undo_service
from doable.web.dependencies import CsrfToken, WebUser, area_router, safe_next
from doable.web.routes.forms import TaskId, owned_task, see_other
from doable.web.routes.tasks import undo_toast
from doable.web.views import base_context, is_htmx, respond

router = area_router()

Op = Annotated[str, Form(max_length=100)]
Back = Annotated[str, Form(max_length=2000)]
CHANGED = {"HX-Trigger": "doable-changed"}
# What each kind of move did, for the announcement ("Moved “Call Sam” up.").
TASK_MOVES = {
    "before": "up",
    "after": "down",
    "indent": "under the task above it",
    "outdent": "out from under its parent",
    "first": "to the top of the list",
    "last": "to the end of the list",
    "project": "to the project",
    "section": "to the section",
}
LIST_MOVES = {"before": "up", "after": "down", "first": "to the top", "last": "to the end"}


def _op(op: str) -> tuple[str, str]:
    kind, _, value = op.partition(":")
    if not kind or not value:
        raise InvalidInput("Choose where to move it", loc=["body", "op"])
    return kind, value


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput("Not a valid id", loc=["body", "op"]) from None


def task_move_body(op: str, project: str = "") -> dict[str, Any]:
    """The TaskPatch placement fields for a move's `op` (see the module docstring)."""
    kind, value = _op(op)
    if kind in {"before", "after"}:
        return {kind: _uuid(value)}
    if kind == "outdent":
        return {"after": _uuid(value)}
    if kind == "indent":
        return {"parent_id": _uuid(value), "at": "last"}
    if kind in {"first", "last"}:
        body: dict[str, Any] = {"at": kind, "parent_id": None}
        body["section_id"] = None if value == "none" else _uuid(value)
        if project:
            body["project_id"] = _uuid(project)
        return body
    if kind == "project":
        return {"project_id": _uuid(value), "section_id": None, "parent_id": None, "at": "last"}
    if kind == "section":
        return {"section_id": _uuid(value), "parent_id": None, "at": "last"}
    raise InvalidInput("Choose where to move it", loc=["body", "op"])


def _answer(request: Request, state: Any, user: Any, back: str, message: str) -> Response:
    if not is_htmx(request):
        return see_other(safe_next(back))
    ctx = base_context(request, state, user) | {"announcement": message}
    return respond(request, state, "project.html", ctx, blocks=["announce_oob"], headers=CHANGED)


@router.post("/tasks/{task_id}/move")
async def move_task(
    request: Request,
    task_id: TaskId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    op: Op = "",
    dest: Op = "",
    project: Annotated[str, Form(max_length=100)] = "",
    back: Back = "/tasks",
) -> Response:
    task = await owned_task(session, user, task_id, request)
    if op == "dest":
        op = dest
    try:
        patch = TaskPatch.model_validate(task_move_body(op, project))
    except ValidationError:
        raise InvalidInput("Choose where to move it", loc=["body", "op"]) from None
    earlier = await undo_service.before(session, task)
    await tasks_service.update_task(session, user, task, patch)
    message = f"Moved “{task.title}” {TASK_MOVES[_op(op)[0]]}."
    if not is_htmx(request):
        return see_other(safe_next(back))
    ctx = base_context(request, state, user) | {"announcement": message}
    action = {"a": "move", "task": str(task.id), "v": task.version, "s": earlier}
    ctx |= undo_toast(state, user, action, message, target="#announce", swap="none")
    blocks = ["announce_oob", "toast_oob"]
    return respond(request, state, "project.html", ctx, blocks=blocks, headers=CHANGED)


def _placement(op: str) -> Placement:
    kind, value = _op(op)
    if kind == "before":
        return Placement(before=_uuid(value))
    if kind == "after":
        return Placement(after=_uuid(value))
    if kind in {"first", "last"}:
        return Placement(at="first" if kind == "first" else "last")
    raise InvalidInput("Choose where to move it", loc=["body", "op"])


@router.post("/projects/{project_id}/move")
async def move_project(
    request: Request,
    project_id: Annotated[uuid.UUID, Path()],
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    op: Op = "",
    back: Back = "/tasks",
) -> Response:
    project = await projects_service.get_project(
        session, user, project_id, for_update=True, need=Role.ADMIN
    )
    await projects_service.move_project(session, project, _placement(op))
    return _answer(
        request, state, user, back, f"Moved the project “{project.name}” {LIST_MOVES[_op(op)[0]]}."
    )


@router.post("/sections/{section_id}/move")
async def move_section(
    request: Request,
    section_id: Annotated[uuid.UUID, Path()],
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    op: Op = "",
    back: Back = "/tasks",
) -> Response:
    section = await projects_service.get_section(session, user, section_id, need=Role.EDITOR)
    await projects_service.update_section(session, section, placement=_placement(op))
    return _answer(
        request, state, user, back, f"Moved the section “{section.name}” {LIST_MOVES[_op(op)[0]]}."
    )
