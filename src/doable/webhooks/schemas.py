"""Request and response bodies for /api/v1/webhooks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from doable.types import Text
from doable.webhooks import signing, ssrf

EventType = Literal["task.created", "task.updated", "task.completed", "task.deleted"]
EVENT_TYPES: tuple[EventType, ...] = (
    "task.created",
    "task.updated",
    "task.completed",
    "task.deleted",
)
DeliveryStatus = Literal["pending", "delivered", "failed"]


def _url(value: str) -> str:
    ssrf.check_url_form(value)
    return value


def _event_types(value: list[EventType]) -> list[EventType]:
    return [t for t in EVENT_TYPES if t in value]


def _secret(value: str) -> str:
    try:
        signing.key_of(value)
    except signing.SecretError as exc:
        raise ValueError(f"The secret {exc}") from None
    return value


WebhookUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2000),
    Text(one_line=True),
    AfterValidator(_url),
]
EventTypes = Annotated[
    list[EventType], Field(min_length=1, max_length=len(EVENT_TYPES)), AfterValidator(_event_types)
]
Secret = Annotated[
    str,
    StringConstraints(min_length=1, max_length=120),
    Text(one_line=True),
    AfterValidator(_secret),
]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl = Field(description="An http:// or https:// URL that receives the events")
    event_types: EventTypes = Field(description="The events to send (at least one)")
    secret: Secret | None = Field(
        None,
        description="The signing secret in Standard Webhooks form: `whsec_` and standard "
        "base64 of 24 to 64 random bytes. Left out, the server generates one (32 bytes).",
    )
    enabled: bool = True


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl | None = None
    event_types: EventTypes | None = None
    secret: Secret | None = Field(None, description="A new signing secret (as for create)")
    enabled: bool | None = None


class WebhookOut(BaseModel):
    id: uuid.UUID
    url: str
    event_types: list[EventType]
    enabled: bool
    secret_hint: str = Field(description="The secret's first characters after `whsec_`")
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    secret: str | None = Field(
        description="The signing secret, shown only in this response (null in an idempotent "
        "replay of the request)."
    )


class DeliveryOut(BaseModel):
    id: uuid.UUID
    message_id: str = Field(description="The webhook-id header and the CloudEvent id")
    event_type: EventType
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="When it is tried next, if pending")
    last_attempt_at: datetime | None
    last_status_code: int | None = Field(description="The receiver's last HTTP status")
    last_error: str | None = Field(description="Why the last attempt failed, if it did")
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="The body sent: a CloudEvent in JSON")


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null at the end."
    )
