"""Request and response bodies for Web Push."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from doable.types import NoNulStr


class SubscriptionKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")

    p256dh: NoNulStr = Field(max_length=100, description="The browser's P-256 key, base64url.")
    auth: NoNulStr = Field(max_length=50, description="The browser's auth secret, base64url.")


class SubscriptionIn(BaseModel):
    """What `PushSubscription.toJSON()` gives in a browser."""

    model_config = ConfigDict(extra="forbid")

    endpoint: NoNulStr = Field(
        max_length=2000,
        description="The push service URL (https; not a private or loopback address).",
    )
    expirationTime: int | None = Field(default=None, ge=0)
    keys: SubscriptionKeys


class SubscriptionOut(BaseModel):
    id: uuid.UUID
    endpoint: str
    created_at: datetime


class UnsubscribeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: NoNulStr = Field(max_length=2000)


class PublicKeyOut(BaseModel):
    public_key: str = Field(description="The VAPID public key: `applicationServerKey`.")


class PushActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: NoNulStr = Field(max_length=300, description="The `token` of the push payload.")
    action: Literal["complete", "snooze"] = Field(
        description="complete: complete the task; snooze: fire the reminder again in an hour."
    )
