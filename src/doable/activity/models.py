"""The activity table: an append-only log per project and per task."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from doable.db import Base, UTCDateTime, new_id, utcnow


class Activity(Base):
    """One thing someone did: `kind` says what (created, completed, reopened, moved, edited,
    assigned, deleted, restored, section_created…), `detail` the particulars as small JSON
    (changed fields, the projects a task moved between, the title of what was deleted)."""

    __tablename__ = "activity"
    __table_args__ = (
        Index("ix_activity_project_created", "project_id", "created_at", "id"),
        Index("ix_activity_task_created", "task_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # Cascades with the project: a trashed project's activity is in its trash snapshot.
    project_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("projects.id", ondelete="CASCADE")
    )
    task_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
