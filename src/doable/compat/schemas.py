"""The original spec's task shapes: title (1-200), description (≤ 1000), completed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StrictBool, StringConstraints

from doable.tasks.models import Task, TaskRow
from doable.tasks.schemas import Title
from doable.types import NoNulStr

CompatStatus = Literal["all", "pending", "completed"]
CompatSort = Literal["created", "title", "due_date"]
CompatDescription = Annotated[NoNulStr, StringConstraints(max_length=1000)]


class Lenient(BaseModel):
    # Existing frontends often send the whole task back (id, user_id, timestamps): fields
    # the spec does not let a client set are ignored rather than refused.
    model_config = ConfigDict(extra="ignore")


class CompatTaskCreate(Lenient):
    title: Title
    description: CompatDescription = ""
    completed: bool = False


class CompatTaskUpdate(Lenient):
    """PUT body: the fields given change, the others (and priority, due date, tags) stay."""

    title: Title | None = None
    description: CompatDescription | None = None
    completed: bool | None = None


class CompatComplete(Lenient):
    """PATCH …/complete body: the state to set. Without a body the route toggles, as the spec
    says; a body must say `completed` (true or false), so a typo never flips a task."""

    completed: StrictBool


class CompatTaskOut(BaseModel):
    id: uuid.UUID
    # The id the caller named themselves by in the path: our UUID, or the external issuer's.
    user_id: str
    title: str
    description: str
    completed: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_task(cls, task: Task | TaskRow, user_id: str) -> CompatTaskOut:
        return cls(
            id=task.id,
            user_id=user_id,
            title=task.title,
            description=task.description,
            completed=task.completed,
            created_at=task.created_at,
            updated_at=task.updated_at,
        )
