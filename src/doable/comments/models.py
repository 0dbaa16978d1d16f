"""Comment and project-mute tables."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from doable.db import Base, UTCDateTime, new_id, utcnow


class Comment(Base):
    """A comment on a task: plain text as typed (shown escaped), by its author.

    Deleting the task deletes its comments (the services do, and the foreign key would);
    deleting the author's account keeps their comments, without an author."""

    __tablename__ = "comments"
    __table_args__ = (
        # A task's thread, oldest first, by keyset.
        Index("ix_comments_task_created", "task_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    task_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tasks.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class ProjectMute(Base):
    """A user who hears nothing from a project: no assignment, comment or mention
    notifications (their own reminders still fire)."""

    __tablename__ = "project_mutes"

    project_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
