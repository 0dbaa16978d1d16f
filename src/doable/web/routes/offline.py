"""The installable app offline: the offline page the service worker falls back to, the app
shell it caches, and the JSON route that sends a quick add queued while offline (with an
`Idempotency-Key`, so a retried send adds it once). See docs/architecture.md, "Offline"."""

from __future__ import annotations

import hashlib
import json
import uuid
from functools import cache
from typing import Annotated

from fastapi import BackgroundTasks, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from doable.db import SessionDep
from doable.errors import InvalidInput
from doable.idempotency.route import IdempotentRoute, KeyHeader, claim_for
from doable.projects.catalog import quick_add_catalog
from doable.state import StateDep
from doable.tasks import quickservice
from doable.tasks.schemas import QUICK_TEXT_MAX, TaskCreate
from doable.web.assets import static_url
from doable.web.dependencies import WebUser, area_router
from doable.web.routes.forms import field_errors, quick_body
from doable.web.views import env

OFFLINE_PAGE = "/offline"
# What the service worker caches when it installs: the offline page and the fingerprinted
# files every page loads (a new fingerprint is a new worker, see `shell_version`).
SHELL_FILES = (
    "app.css",
    "app.js",
    "offline.js",
    "icon.svg",
    "icon-192.png",
    "vendor/htmx/htmx.min.js",
)


async def claim_web_key(
    request: Request,
    session: SessionDep,
    user: WebUser,
    background: BackgroundTasks,
    key: KeyHeader = None,
) -> None:
    await claim_for(request, session, user.id, background, key)


class WebIdempotentRoute(IdempotentRoute):
    """POSTs honour `Idempotency-Key` for the user of the browser session."""

    claim = staticmethod(claim_web_key)


router = area_router(route_class=WebIdempotentRoute)


@cache
def offline_page() -> bytes:
    """The same bytes for everyone: no user, no CSRF token, so the worker may keep it."""
    html = env.get_template("offline.html").render(user=None, csrf_token="", offline=True)
    return html.encode()


@cache
def shell_urls() -> tuple[str, ...]:
    return (OFFLINE_PAGE, *(static_url(name) for name in SHELL_FILES))


def shell_version(worker: bytes) -> str:
    """Changes with the worker script, the offline page or any shell file's fingerprint."""
    digest = hashlib.sha256(worker)
    digest.update(offline_page())
    digest.update(json.dumps(shell_urls()).encode())
    return digest.hexdigest()[:12]


@router.get(OFFLINE_PAGE)
async def offline() -> Response:
    """What a navigation shows when the network fails; offline.js fills it in from the lists
    saved in this browser. Holds no user data, unlike the pages (which are `no-store`)."""
    return Response(
        offline_page(),
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


Text = Annotated[str, StringConstraints(min_length=1, max_length=QUICK_TEXT_MAX)]


class QueuedAdd(BaseModel):
    """A quick add made offline: the box's text and the project of the list it was typed in."""

    model_config = ConfigDict(extra="forbid")

    text: Text
    project_id: uuid.UUID | None = None


@router.post("/offline/tasks", status_code=201)
async def send_queued_add(
    data: QueuedAdd, user: WebUser, session: SessionDep, state: StateDep
) -> JSONResponse:
    """Adds the task as the quick-add box would, and answers JSON. Errors answer as on every
    web route: a redirect to the login page when the session has expired (the queue then
    keeps the add for the next sign-in), an HTML error with the reason for text that cannot
    make a task (422) or a project the user cannot see (404)."""
    form = {"title": data.text}
    if data.project_id is not None:
        form["project_id"] = str(data.project_id)
    catalog = await quick_add_catalog(session, user)
    body, text_error, reminder = quick_body(form, user, state.clock(), catalog)
    if text_error:
        raise InvalidInput(text_error, loc=["body", "text"])
    try:
        task_data = TaskCreate.model_validate(body)
    except ValidationError as exc:
        field, message = next(iter(field_errors(exc).items()))
        raise InvalidInput(f"{field.capitalize()}: {message}", loc=["body", "text"]) from None
    task = await quickservice.create(session, user, task_data, reminder, now=state.clock())
    return JSONResponse({"id": str(task.id), "title": task.title}, status_code=201)
