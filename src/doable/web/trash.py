"""The web app's Trash page (restore, empty) and a project's Activity page. Thin: the same
trash and activity services as the API."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from doable.activity import service as activity_service
from doable.db import SessionDep
from doable.projects import service as projects_service
from doable.state import StateDep
from doable.trash import service as trash_service
from doable.web.dependencies import CsrfToken, WebUser, csrf_protect
from doable.web.views import base_context, respond

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
ItemId = Annotated[uuid.UUID, Path()]
Cursor = Annotated[str | None, Query(max_length=1000)]
NOTICES = {
    "restored": "Restored.",
    "emptied": "Removed for good.",
    "all": "The trash of your projects is empty.",
}


@router.get("/trash")
async def trash_page(
    request: Request,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    cursor: Cursor = None,
) -> Response:
    items, next_cursor = await trash_service.list_trash(
        session, user, cursor=cursor, cursor_key=state.runtime.secret_key
    )
    ctx = base_context(request, state, user) | {
        "items": items,
        "next_cursor": next_cursor,
        "notice": NOTICES.get(request.query_params.get("done", ""), ""),
    }
    return respond(request, state, "trash.html", ctx)


@router.post("/trash/{item_id}/restore")
async def restore(item_id: ItemId, user: WebUser, session: SessionDep, csrf: CsrfToken) -> Response:
    await trash_service.restore(session, user, item_id)
    return RedirectResponse("/trash?done=restored", status_code=303)


@router.post("/trash/{item_id}/empty")
async def empty_one(
    item_id: ItemId, user: WebUser, session: SessionDep, csrf: CsrfToken
) -> Response:
    await trash_service.empty_one(session, user, item_id)
    return RedirectResponse("/trash?done=emptied", status_code=303)


@router.post("/trash/empty")
async def empty_all(user: WebUser, session: SessionDep, csrf: CsrfToken) -> Response:
    await trash_service.empty_all(session, user)
    return RedirectResponse("/trash?done=all", status_code=303)


@router.get("/projects/{project_id}/activity")
async def project_activity(
    request: Request,
    project_id: ItemId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    cursor: Cursor = None,
) -> Response:
    project = await projects_service.get_project(session, user, project_id)
    entries, next_cursor = await activity_service.project_activity(
        session, user, project_id, cursor=cursor, cursor_key=state.runtime.secret_key
    )
    ctx = base_context(request, state, user) | {
        "project": project,
        "entries": entries,
        "next_cursor": next_cursor,
    }
    return respond(request, state, "activity.html", ctx)
