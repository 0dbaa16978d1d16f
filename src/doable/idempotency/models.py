"""The stored first response of each idempotency key, per user."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from doable.db import Base, MediumBlob, UTCDateTime, key_string, new_id, utcnow

# MySQL's BLOB stops at 64 KiB; a task with a long emoji description can come close.
ResponseBody = MediumBlob()


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        # The unique pair is what makes concurrent requests with one key wait for each other.
        UniqueConstraint("user_id", "key"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(key_string(255))
    # SHA-256 of method, path, query and body: the same key with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    # NULL only inside the transaction that claimed the key; it commits with the response.
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    headers: Mapped[str | None] = mapped_column(Text, default=None)  # JSON object
    body: Mapped[bytes | None] = mapped_column(ResponseBody, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
