"""The webhook_endpoints and webhook_deliveries tables: endpoints, and the outbox that is also
the delivery log."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from doable.db import Base, MediumText, UTCDateTime, new_id, utcnow


class WebhookEndpoint(Base):
    """Where a user's task events go. The signing secret is stored encrypted (secrets.py):
    signing needs the secret itself, so a hash would not do."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_owner_id", "owner_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    # Sorted event types, comma-separated ("task.completed,task.created").
    event_types: Mapped[str] = mapped_column(String(200))
    secret_encrypted: Mapped[str] = mapped_column(String(200))
    # The secret's first characters after `whsec_`, so a user can tell secrets apart.
    secret_hint: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One message to one endpoint: enqueued in the transaction of the change it reports,
    then sent (at least once) by a worker, which records each attempt here.

    `status` is "pending" (to send, at `next_attempt_at`), "delivered" or "failed" (gave up
    past the maximum age). A worker owns a pending row while `claimed_until` is in the
    future; `claim_token` tells its own claim from a later one."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_id_created_at", "endpoint_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    # The webhook-id header and the CloudEvent id: the same for a replay of the message, so
    # receivers can recognise one they already handled.
    message_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_type: Mapped[str] = mapped_column(String(40))
    # The exact body sent, fixed at enqueue time.
    payload: Mapped[str] = mapped_column(MediumText)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    claim_token: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(String(200), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
