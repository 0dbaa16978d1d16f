"""Response bodies of the activity routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from doable.activity.service import ActivityView


class ActorOut(BaseModel):
    id: uuid.UUID | None
    name: str = Field(description="Display name; never an email")


class ActivityOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    task_id: uuid.UUID | None
    actor: ActorOut
    kind: str = Field(
        description="created, completed, reopened, moved, edited, assigned, deleted, restored, "
        "section_created, section_renamed, section_deleted, project_created, project_edited, "
        "member_added, role_changed, member_removed, member_left, owner_changed"
    )
    detail: dict[str, Any] = Field(
        description="Particulars: changed `fields`, `from_project`/`to_project`, a `title`; "
        "for membership changes the member's `user_id` and display `name`, the `role` (and "
        "`from_role`), or the previous owner's `from_user_id`"
    )
    summary: str
    created_at: datetime

    @classmethod
    def of(cls, view: ActivityView) -> ActivityOut:
        return cls(
            id=view.id,
            project_id=view.project_id,
            task_id=view.task_id,
            actor=ActorOut(id=view.actor_id, name=view.actor_name),
            kind=view.kind,
            detail=view.detail,
            summary=view.summary,
            created_at=view.created_at,
        )


class ActivityPage(BaseModel):
    items: list[ActivityOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page")
