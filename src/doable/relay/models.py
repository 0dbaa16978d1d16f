"""Tables for events across processes: the polled relay (SQLite, MariaDB) and stream leases."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from doable.db import Base, UTCDateTime, new_id


class RelayedEvent(Base):
    """One envelope of events, for the processes that poll (no LISTEN/NOTIFY on the backend).

    Rows are short-lived: every process reads the new ones every EVENTS_POLL_MS, and rows
    older than a minute are deleted by whichever process writes next."""

    __tablename__ = "event_relay"
    __table_args__ = (
        Index("ix_event_relay_created_at", "created_at"),
        {"sqlite_autoincrement": True},
    )

    # INTEGER on SQLite so it is the rowid (AUTOINCREMENT: never reused after a delete).
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[str] = mapped_column(Text)


class StreamLease(Base):
    """One open event stream, held by the process serving it until it ends or `expires_at`
    passes (the process renews its leases while it lives): the per-account cap on open
    streams, counted across every process."""

    __tablename__ = "stream_leases"
    __table_args__ = (Index("ix_stream_leases_owner_id", "owner_id", "expires_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
