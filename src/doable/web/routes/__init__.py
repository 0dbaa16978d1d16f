"""The web app's routes, one module per area; every one checks CSRF on state-changing requests."""

from fastapi import APIRouter, Depends

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

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
# Order matters only where paths overlap: /tasks/quick and /tasks/preview are declared in the
# tasks module before /tasks/{task_id}.
for area in (
    auth_pages,
    tasks,
    agenda,
    projects,
    moves,
    reminders,
    account,
    data,
    accounts,
    sharing,
    comments,
    notifications,
    push,
    offline,
):
    router.include_router(area.router)
