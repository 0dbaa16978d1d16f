"""The calendar_feeds table: one row per feed URL, holding the SHA-256 of its secret."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from doable.db import Base, UTCDateTime, key_string, new_id, utcnow


class CalendarFeed(Base):
    """A feed at `/ical/{secret}.ics`: the URL holds the secret, the table only its SHA-256."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (Index("ix_calendar_feeds_owner_id", "owner_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(key_string(64), unique=True)
    # The secret's first few characters, so a user can tell feeds (and log lines) apart.
    hint: Mapped[str] = mapped_column(String(8))
    # `vtodo` (Thunderbird, task apps) or `vevent` (Google Calendar, Apple Calendar).
    kind: Mapped[str] = mapped_column(String(10))
    # Filters; None or empty means "any". `priorities` holds sorted names, comma-separated.
    tag: Mapped[str | None] = mapped_column(String(50), default=None)
    priorities: Mapped[str] = mapped_column(String(50), default="")
    status: Mapped[str] = mapped_column(String(10), default="open")
    # One project's tasks only (None: every project). An archived project's tasks are in no
    # feed, its own included, until it is unarchived (migration 0013).
    project_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
