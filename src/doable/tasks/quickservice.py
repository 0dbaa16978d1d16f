"""Quick add's writes: the task a text stands for and, when it says `remind …`, its reminder,
in one transaction through the same services as POST /tasks and POST /tasks/{id}/reminders.
The API's POST /tasks/quick and the web app's quick-add box both come here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from doable.auth.models import User
from doable.reminders import service as reminders_service
from doable.reminders.schemas import ReminderCreate
from doable.tasks import service as tasks_service
from doable.tasks.models import Task
from doable.tasks.schemas import TaskCreate


async def create(
    session: AsyncSession,
    user: User,
    data: TaskCreate,
    reminder: ReminderCreate | None,
    *,
    now: datetime,
) -> Task:
    """Create the task, then its reminder (refused like the reminders API refuses one: the
    request's unit of work then rolls the task back too)."""
    task = await tasks_service.create_task(session, user, data)
    if reminder is not None:
        await reminders_service.create_reminder(session, user, task, reminder, now=now)
    return task
