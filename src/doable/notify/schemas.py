"""Request and response bodies for Web Push and the notification settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

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


AgendaTime = Annotated[
    str,
    StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", min_length=5, max_length=5),
]


class NotificationSettingsOut(BaseModel):
    web_push: bool = Field(description="Reminders by Web Push, on devices that subscribed.")
    email: bool = Field(description="Reminders by email (sent only where SMTP is set).")
    in_app: bool = Field(description="Reminder pop-ups in open tabs.")
    agenda: bool = Field(description="A daily agenda email: overdue and today's open tasks.")
    agenda_time: str = Field(
        description="When the agenda is sent: HH:MM (24-hour) in the user's time zone. A time "
        "that a daylight-saving change skips that day is sent the gap's length later."
    )
    email_available: bool = Field(description="Whether this server sends email (SMTP is set).")


class NotificationSettingsPatch(BaseModel):
    """Only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    # StrictBool: `0` or `"yes"` is refused, as `type: boolean` says.
    web_push: StrictBool | None = None
    email: StrictBool | None = None
    in_app: StrictBool | None = None
    agenda: StrictBool | None = None
    agenda_time: AgendaTime | None = Field(
        default=None, description="HH:MM, 00:00 to 23:59, in the user's time zone."
    )
