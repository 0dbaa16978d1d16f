"""/api/v1/webhooks: thin routes over webhooks.service."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import StringConstraints

from doable.auth.dependencies import CurrentUser, require_scope
from doable.db import SessionDep
from doable.idempotency.route import IdempotentRoute, store_instead
from doable.routing import API_PREFIX
from doable.state import StateDep
from doable.types import NoNulStr
from doable.webhooks import service
from doable.webhooks.models import WebhookEndpoint
from doable.webhooks.schemas import (
    DeliveryOut,
    DeliveryPage,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookPatch,
)

# As for feeds: reading needs tasks:read; changing (and replaying, which sends task data out
# again) also tasks:write, since an endpoint keeps sending tasks after the token is gone.
_READ = Depends(require_scope("tasks:read"))
_WRITE = Depends(require_scope("tasks:write"))
webhooks_router = APIRouter(
    prefix=f"{API_PREFIX}/webhooks",
    tags=["webhooks"],
    dependencies=[_READ],
    route_class=IdempotentRoute,
)

COMMON: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated"},
    403: {"description": "An API token without tasks:read (and tasks:write to change)"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Not found (also another user's webhook or delivery)"}
}
WebhookId = Annotated[uuid.UUID, Path(description="Webhook id")]
DeliveryId = Annotated[uuid.UUID, Path(description="Delivery id")]
CursorParam = Annotated[NoNulStr, StringConstraints(max_length=1000)]


def _created(request: Request, endpoint: WebhookEndpoint, secret: str) -> WebhookCreated:
    out = service.webhook_out(endpoint)
    # An idempotent replay gets the same answer without the secret, which is never stored
    # in the clear.
    store_instead(request, WebhookCreated(**out.model_dump(), secret=None))
    return WebhookCreated(**out.model_dump(), secret=secret)


@webhooks_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    responses={**COMMON, 409: {"description": "Already at the limit of webhooks per user"}},
    dependencies=[_WRITE],
)
async def create_webhook(
    data: WebhookCreate, user: CurrentUser, session: SessionDep, state: StateDep, request: Request
) -> WebhookCreated:
    """Register an endpoint. Its secret is in this response only."""
    endpoint, secret = await service.create_endpoint(
        session,
        user,
        data,
        secret_key=state.runtime.secret_key,
        allow_private=state.runtime.settings.webhook_allow_private_targets,
    )
    return _created(request, endpoint, secret)


@webhooks_router.get("", response_model=list[WebhookOut], responses=COMMON)
async def list_webhooks(user: CurrentUser, session: SessionDep) -> list[WebhookOut]:
    """Your endpoints, newest first (each secret as a hint only)."""
    return [service.webhook_out(e) for e in await service.list_endpoints(session, user.id)]


@webhooks_router.get("/{webhook_id}", response_model=WebhookOut, responses={**COMMON, **NOT_FOUND})
async def get_webhook(webhook_id: WebhookId, user: CurrentUser, session: SessionDep) -> WebhookOut:
    return service.webhook_out(await service.get_endpoint(session, user.id, webhook_id))


@webhooks_router.patch(
    "/{webhook_id}",
    response_model=WebhookOut,
    responses={**COMMON, **NOT_FOUND},
    dependencies=[_WRITE],
)
async def update_webhook(
    webhook_id: WebhookId,
    data: WebhookPatch,
    user: CurrentUser,
    session: SessionDep,
    state: StateDep,
) -> WebhookOut:
    """Change the URL, event types, secret or whether it is enabled."""
    endpoint = await service.update_endpoint(
        session,
        user.id,
        webhook_id,
        data,
        secret_key=state.runtime.secret_key,
        allow_private=state.runtime.settings.webhook_allow_private_targets,
    )
    return service.webhook_out(endpoint)


@webhooks_router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**COMMON, **NOT_FOUND},
    dependencies=[_WRITE],
)
async def delete_webhook(webhook_id: WebhookId, user: CurrentUser, session: SessionDep) -> Response:
    """Delete the endpoint and its delivery log; pending deliveries are not sent."""
    await service.delete_endpoint(session, user.id, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@webhooks_router.get(
    "/{webhook_id}/deliveries", response_model=DeliveryPage, responses={**COMMON, **NOT_FOUND}
)
async def list_deliveries(
    webhook_id: WebhookId,
    user: CurrentUser,
    session: SessionDep,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        CursorParam | None, Query(description="next_cursor of the previous page")
    ] = None,
) -> DeliveryPage:
    """The endpoint's delivery log, newest first."""
    rows, next_cursor = await service.list_deliveries(
        session,
        user.id,
        webhook_id,
        limit=limit,
        cursor=cursor,
        cursor_key=state.runtime.secret_key,
    )
    return DeliveryPage(items=[service.delivery_out(r) for r in rows], next_cursor=next_cursor)


@webhooks_router.post(
    "/{webhook_id}/deliveries/{delivery_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryOut,
    responses={**COMMON, **NOT_FOUND},
    dependencies=[_WRITE],
)
async def replay_delivery(
    webhook_id: WebhookId, delivery_id: DeliveryId, user: CurrentUser, session: SessionDep
) -> DeliveryOut:
    """Send the delivery's message again (same body and webhook-id), as a new delivery."""
    row = await service.replay(session, user.id, webhook_id, delivery_id)
    return service.delivery_out(row)
