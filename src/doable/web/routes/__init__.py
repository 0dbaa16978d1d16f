"""The web app's routes, one module per area; every one checks CSRF on state-changing requests."""

from fastapi import APIRouter, Depends, FastAPI

from doable.web.dependencies import csrf_protect
from doable.web.routes import (
    account,
    accounts,
    agenda,
    auth_pages,
    comments,
    data,
    moves,
    notifications,
    offline,
    projects,
    push,
    reminders,
    sharing,
    tasks,
)

# Order matters only where paths overlap: /tasks/quick and /tasks/preview are declared in the
# tasks module before /tasks/{task_id}.
AREAS: tuple[APIRouter, ...] = (
    auth_pages.router,
    tasks.router,
    agenda.router,
    projects.router,
    moves.router,
    reminders.router,
    account.router,
    data.router,
    accounts.router,
    sharing.router,
    comments.router,
    notifications.router,
    push.router,
    offline.router,
)


def include_web_routes(app: FastAPI) -> None:
    """Add the web app's pages to `app`, each area's router directly rather than nested under
    one router: FastAPI builds every route of a nested router an extra time (to check its
    paths) when the outer router is included without a prefix, a fifth of a cold start."""
    for area in AREAS:
        app.include_router(area, include_in_schema=False, dependencies=[Depends(csrf_protect)])
