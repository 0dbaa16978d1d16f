"""Webhook logic: endpoints (create, list, read, change, delete), the delivery log and
replay. Owner-scoped in every query; never commits."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from doable.auth.models import User
from doable.db import count_locked, lock_row, utcnow
from doable.errors import Conflict, InvalidInput, NotFound
from doable.tasks import cursor as cursors
from doable.webhooks import outbox, signing, ssrf
from doable.webhooks.models import WebhookDelivery, WebhookEndpoint
from doable.webhooks.schemas import (
    EVENT_TYPES,
    DeliveryOut,
    WebhookCreate,
    WebhookOut,
    WebhookPatch,
)

MAX_ENDPOINTS_PER_USER = 10
DELIVERIES_PAGE = 50


class WebhookNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No webhook with this id")


class DeliveryNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No delivery with this id")


class TooManyWebhooks(Conflict):
    def __init__(self) -> None:
        super().__init__(
            f"You already have {MAX_ENDPOINTS_PER_USER} webhooks; delete one to add another"
        )


def _check_target(url: str, *, allow_private: bool) -> None:
    try:
        ssrf.check_literal(url, allow_private=allow_private)
    except ValueError as exc:
        raise InvalidInput(f"The URL {exc}", loc=["body", "url"]) from None


def webhook_out(endpoint: WebhookEndpoint) -> WebhookOut:
    types = endpoint.event_types.split(",")
    return WebhookOut(
        id=endpoint.id,
        url=endpoint.url,
        event_types=[t for t in EVENT_TYPES if t in types],
        enabled=endpoint.enabled,
        secret_hint=endpoint.secret_hint,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def delivery_out(row: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=row.id,
        message_id=str(row.message_id),
        event_type=row.event_type,
        status=row.status,
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
        last_attempt_at=row.last_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        payload=json.loads(row.payload),
    )


async def create_endpoint(
    session: AsyncSession,
    user: User,
    data: WebhookCreate,
    *,
    secret_key: bytes,
    allow_private: bool,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its secret (generated unless given). The
    owner's row is locked first, so concurrent creates count one after another."""
    _check_target(data.url, allow_private=allow_private)
    await lock_row(session, User.id, user.id)
    count = await count_locked(
        session, select(WebhookEndpoint.id).where(WebhookEndpoint.owner_id == user.id)
    )
    if count >= MAX_ENDPOINTS_PER_USER:
        raise TooManyWebhooks()
    secret = data.secret or signing.new_secret()
    now = utcnow()
    endpoint = WebhookEndpoint(
        owner_id=user.id,
        url=data.url,
        event_types=",".join(data.event_types),
        secret_encrypted=signing.seal(secret, secret_key),
        secret_hint=signing.hint_of(secret),
        enabled=data.enabled,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    # The owner's row read earlier says "no endpoints": a task change later in this
    # transaction must still look.
    outbox.note_endpoint_added(session.sync_session, user.id)
    return endpoint, secret


async def list_endpoints(session: AsyncSession, owner_id: uuid.UUID) -> list[WebhookEndpoint]:
    stmt = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.owner_id == owner_id)
        .order_by(WebhookEndpoint.created_at.desc(), WebhookEndpoint.id)
    )
    return list((await session.execute(stmt)).scalars())


async def get_endpoint(
    session: AsyncSession, owner_id: uuid.UUID, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    """One of the owner's endpoints; another user's is simply not found."""
    endpoint = (
        await session.execute(
            select(WebhookEndpoint).where(
                WebhookEndpoint.id == endpoint_id, WebhookEndpoint.owner_id == owner_id
            )
        )
    ).scalar_one_or_none()
    if endpoint is None:
        raise WebhookNotFound()
    return endpoint


async def update_endpoint(
    session: AsyncSession,
    owner_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    data: WebhookPatch,
    *,
    secret_key: bytes,
    allow_private: bool,
) -> WebhookEndpoint:
    endpoint = await get_endpoint(session, owner_id, endpoint_id)
    if data.url is not None:
        _check_target(data.url, allow_private=allow_private)
        endpoint.url = data.url
    if data.event_types is not None:
        endpoint.event_types = ",".join(data.event_types)
    if data.secret is not None:
        endpoint.secret_encrypted = signing.seal(data.secret, secret_key)
        endpoint.secret_hint = signing.hint_of(data.secret)
    if data.enabled is not None:
        endpoint.enabled = data.enabled
    endpoint.updated_at = utcnow()
    await session.flush()
    return endpoint


async def delete_endpoint(
    session: AsyncSession, owner_id: uuid.UUID, endpoint_id: uuid.UUID
) -> None:
    """Delete the endpoint and its delivery log (pending deliveries are never sent)."""
    endpoint = await get_endpoint(session, owner_id, endpoint_id)
    await session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.owner_id == owner_id
        )
    )
    await session.execute(
        delete(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint.id, WebhookEndpoint.owner_id == owner_id
        )
    )


async def list_deliveries(
    session: AsyncSession,
    owner_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    *,
    limit: int = DELIVERIES_PAGE,
    cursor: str | None,
    cursor_key: bytes,
) -> tuple[list[WebhookDelivery], str | None]:
    """The endpoint's deliveries, newest first, by keyset on (created_at, id)."""
    await get_endpoint(session, owner_id, endpoint_id)
    return await cursors.newest_first_page(
        session,
        WebhookDelivery,
        time_column=WebhookDelivery.created_at,
        id_column=WebhookDelivery.id,
        conditions=[
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.owner_id == owner_id,
        ],
        sort="webhook-deliveries",
        limit=limit,
        cursor=cursor,
        cursor_key=cursor_key,
    )


async def replay(
    session: AsyncSession, owner_id: uuid.UUID, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Send a delivery's message again, as a new delivery with the same body and message id
    (receivers that already handled it can tell), due now; its maximum age counts from now."""
    original = (
        await session.execute(
            select(WebhookDelivery).where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.owner_id == owner_id,
            )
        )
    ).scalar_one_or_none()
    if original is None:
        raise DeliveryNotFound()
    now = utcnow()
    again = WebhookDelivery(
        endpoint_id=original.endpoint_id,
        owner_id=owner_id,
        message_id=original.message_id,
        event_type=original.event_type,
        payload=original.payload,
        status="pending",
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(again)
    await session.flush()
    return again


async def delete_for_owner(session: AsyncSession, owner_id: uuid.UUID) -> None:
    """Part of deleting an account: its deliveries and endpoints."""
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.owner_id == owner_id))
    await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.owner_id == owner_id))
