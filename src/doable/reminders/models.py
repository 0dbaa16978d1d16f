"""Reminder and notification tables."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from doable.db import Base, UTCDateTime, new_id, utcnow


class Reminder(Base):
    """A reminder of a task: at an instant (absolute), or some seconds before its due
    (relative). `fire_at` is the instant it fires, computed; NULL while a relative reminder's
    task has no due. `fired_at` is set once it fired (or was passed over, see service)."""

    __tablename__ = "reminders"
    __table_args__ = (
        Index("ix_reminders_task_id", "task_id"),
        # The scheduler's queries: MIN(fire_at) and the due batch WHERE fired_at IS NULL.
        Index("ix_reminders_fired_at_fire_at", "fired_at", "fire_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    task_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tasks.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # "absolute" | "relative"
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    offset_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(Base):
    """What a fired reminder told its owner. `task_id` is not a foreign key on purpose: the
    scheduler inserts notifications while requests hold task rows locked, and a foreign-key
    check would make it wait on (and deadlock with) them. It names the task the notification
    was about, which may since have been deleted."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_owner_created", "owner_id", "created_at", "id"),
        # A reminder fires once per fire time, whatever the processes racing to fire it.
        UniqueConstraint("reminder_id", "fire_at", name="uq_notifications_reminder_id_fire_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    task_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    reminder_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("reminders.id", ondelete="SET NULL"), default=None
    )
    kind: Mapped[str] = mapped_column(String(20), default="reminder")
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(500), default="")
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    due_date: Mapped[date | None] = mapped_column(Date, default=None)
    fire_at: Mapped[datetime] = mapped_column(UTCDateTime)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
