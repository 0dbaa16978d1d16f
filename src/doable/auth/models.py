"""Account, refresh-token, web-session and API-token tables."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    column,
    exists,
    false,
    table,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column

from doable.db import Base, UTCDateTime, key_string, new_id, utcnow

# webhooks.models.WebhookEndpoint's table, as much of it as User.has_webhook_endpoints reads.
_endpoints = table("webhook_endpoints", column("owner_id", Uuid))


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # Normalised (trimmed, lower-cased) so uniqueness ignores case.
    email: Mapped[str] = mapped_column(key_string(254), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Bumped on password change: access tokens carry it, so older ones stop working.
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    # How many projects others share with this user (rows of project_members), recounted on
    # every membership change: 0 keeps every task query on the owner's own indexes
    # (projects/access.py).
    shared_projects: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # What the web app remembers for the user (auth/preferences.py): JSON, NULL for defaults.
    preferences: Mapped[str | None] = mapped_column(String(2000), default=None)
    # Named explicitly (`doable users create --admin`, `set-admin`), never the first sign-up.
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Set by an admin: the account cannot sign in, and everything it held was revoked.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Read with the row (one probe of ix_webhook_endpoints_owner_id), never stored: whether
    # the user has any webhook endpoint. The outbox skips looking for subscribers of a user it
    # knows, from the row this transaction read, to have none (webhooks.outbox).
    has_webhook_endpoints: Mapped[bool] = column_property(
        exists().where(_endpoints.c.owner_id == id)
    )


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_family_id", "family_id"),
        Index("ix_refresh_tokens_user_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    # All tokens descended from one login share a family; reuse of a rotated one revokes it all.
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    token_hash: Mapped[str] = mapped_column(key_string(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class WebSession(Base):
    """A browser session: the cookie holds a random id, the table holds its SHA-256."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(key_string(64), unique=True)
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class ApiToken(Base):
    """A personal API token: the client holds `dbl_pat_…`, the table holds its SHA-256."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(key_string(64), unique=True)
    # The prefix and the first few random characters, so a user can tell tokens apart.
    hint: Mapped[str] = mapped_column(String(16))
    # Space-separated, sorted scope names (`tasks:read tasks:write`).
    scopes: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class ExternalIdentity(Base):
    """A user provisioned by an external issuer's token: (issuer, subject) names them there.

    Only a token from that issuer with that subject acts as this user; an email never links an
    external identity to an existing account.
    """

    __tablename__ = "external_identities"
    __table_args__ = (
        UniqueConstraint("issuer", "subject"),
        Index("ix_external_identities_user_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    issuer: Mapped[str] = mapped_column(key_string(255))
    subject: Mapped[str] = mapped_column(key_string(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
