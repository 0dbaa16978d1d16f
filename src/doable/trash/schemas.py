"""Response bodies of the trash routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from doable.trash.models import TrashItem
from doable.trash.service import Restored


class TrashItemOut(BaseModel):
    id: uuid.UUID
    kind: Literal["task", "section", "project"]
    title: str
    project_id: uuid.UUID = Field(description="The project it was in (a project: itself)")
    tasks: int = Field(description="How many tasks it holds (a task counts itself)")
    deleted_by: uuid.UUID | None
    deleted_at: datetime
    purge_after: datetime = Field(description="When the purge removes it for good")

    @classmethod
    def of(cls, item: TrashItem) -> TrashItemOut:
        return cls(
            id=item.id,
            kind=item.kind,
            title=item.title,
            project_id=item.project_id,
            tasks=item.items,
            deleted_by=item.deleted_by,
            deleted_at=item.deleted_at,
            purge_after=item.purge_after,
        )


class TrashPage(BaseModel):
    items: list[TrashItemOut]
    next_cursor: str | None


class RestoredOut(BaseModel):
    kind: Literal["task", "section", "project"]
    id: uuid.UUID = Field(description="The restored task's, section's or project's id")
    project_id: uuid.UUID = Field(description="Where it is now")
    tasks: int

    @classmethod
    def of(cls, restored: Restored) -> RestoredOut:
        return cls(
            kind=restored.kind,
            id=restored.id,
            project_id=restored.project_id,
            tasks=restored.tasks,
        )
