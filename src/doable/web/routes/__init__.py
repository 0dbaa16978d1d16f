"""The web app's routes, one module per area; every one checks CSRF on state-changing requests."""

from fastapi import APIRouter, FastAPI

from doable.routing import add_routes
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
    """Add the web app's pages to `app`, area by area (each area's router checks CSRF)."""
    add_routes(app, *AREAS)
