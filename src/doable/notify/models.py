"""Web Push subscriptions, per-user notification channels, and app-wide secrets."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column

from doable.db import Base, UTCDateTime, new_id, utcnow


class AppSecret(Base):
    """A secret every replica must share, made once (the VAPID key pair). Its name is the
    key: the first process to insert it wins, the others read what it wrote."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PushSubscription(Base):
    """One browser (device) that gets a user's reminders by Web Push. The endpoint is unique
    (by its SHA-256: an index on a 2,000-character column does not fit MariaDB's key size):
    a browser that subscribes again, or for another user, replaces its row."""

    __tablename__ = "push_subscriptions"
    __table_args__ = (
        Index("ix_push_subscriptions_owner_id", "owner_id"),
        Index("uq_push_subscriptions_endpoint_hash", "endpoint_hash", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    endpoint: Mapped[str] = mapped_column(String(2000))
    endpoint_hash: Mapped[str] = mapped_column(String(64))
    p256dh: Mapped[str] = mapped_column(String(100))
    auth: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NotificationChannels(Base):
    """How a user wants reminders, beyond the inbox (which always has them), and the daily
    agenda email. No row: the defaults (web push and in-app on, email and agenda off)."""

    __tablename__ = "notification_channels"
    __table_args__ = (Index("ix_notification_channels_agenda_next_at", "agenda_next_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    web_push: Mapped[bool] = mapped_column(Boolean, default=True)
    email: Mapped[bool] = mapped_column(Boolean, default=False)
    in_app: Mapped[bool] = mapped_column(Boolean, default=True)
    # The daily agenda (notify/agenda.py): on or off, its local time ("HH:MM"), the instant it
    # is next due (NULL while off; claimed like a reminder), the local day it last went out for.
    agenda: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    agenda_time: Mapped[str] = mapped_column(String(5), default="07:00", server_default="07:00")
    agenda_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    agenda_last_day: Mapped[date | None] = mapped_column(Date, default=None)
