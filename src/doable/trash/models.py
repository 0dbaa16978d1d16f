"""The trash table: one row per deletion, holding the deleted rows as a JSON snapshot."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from doable.db import Base, MediumText, UTCDateTime, new_id, utcnow


class TrashItem(Base):
    __tablename__ = "trash"
    __table_args__ = (
        Index("ix_trash_owner_deleted", "owner_id", "deleted_at", "id"),
        Index("ix_trash_project_deleted", "project_id", "deleted_at", "id"),
        Index("ix_trash_purge_after", "purge_after"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # The project's owner (the tenant): their account's deletion takes their trash with it.
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    # The project the deleted thing was in (for a project: itself).
    project_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(10))  # task | section | project
    title: Mapped[str] = mapped_column(String(200))
    # How many tasks it holds (a task counts itself and its subtasks).
    items: Mapped[int] = mapped_column(Integer, default=0)
    # trash/snapshot.py: {"version": 1, "tables": {table name: [row, …]}, "tags": {…}}.
    payload: Mapped[str] = mapped_column(MediumText)
    deleted_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    purge_after: Mapped[datetime] = mapped_column(UTCDateTime)
