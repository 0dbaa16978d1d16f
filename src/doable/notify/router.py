"""/api/v1/push: the VAPID key, push subscriptions, and the buttons of a push notification."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from doable.auth.dependencies import CurrentUser, require_scope_by_method
from doable.db import SessionDep, utcnow
from doable.idempotency.route import IdempotentRoute
from doable.notify import service
from doable.notify.schemas import (
    PublicKeyOut,
    PushActionIn,
    SubscriptionIn,
    SubscriptionOut,
)
from doable.state import StateDep

# Subscriptions are the account's own settings: tasks:read to list, tasks:write to change.
push_router = APIRouter(
    prefix="/push",
    tags=["push"],
    dependencies=[Depends(require_scope_by_method("tasks:read", "tasks:write"))],
    route_class=IdempotentRoute,
)
# The buttons of a push notification: the signed token in the body is the credential.
push_actions_router = APIRouter(prefix="/push", tags=["push"])

COMMON: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated"},
    403: {"description": "An API token without the scope this route needs"},
    404: {"description": "Not found (also for another user's object)"},
}


@push_router.get("/key", response_model=PublicKeyOut, responses=COMMON)
async def public_key(request: Request, user: CurrentUser, state: StateDep) -> PublicKeyOut:
    keys = await service.vapid_keys(request.app.state.database, state.runtime.settings)
    return PublicKeyOut(public_key=keys.public)


@push_router.get("/subscriptions", response_model=list[SubscriptionOut], responses=COMMON)
async def list_subscriptions(user: CurrentUser, session: SessionDep) -> list[SubscriptionOut]:
    return [
        SubscriptionOut(id=s.id, endpoint=s.endpoint, created_at=s.created_at)
        for s in await service.list_subscriptions(session, user.id)
    ]


@push_router.post(
    "/subscriptions",
    status_code=status.HTTP_201_CREATED,
    response_model=SubscriptionOut,
    responses={**COMMON, 422: {"description": "A bad endpoint (private, loopback) or keys"}},
)
async def subscribe(
    data: SubscriptionIn, user: CurrentUser, session: SessionDep, state: StateDep
) -> SubscriptionOut:
    sub = await service.subscribe(
        session,
        user.id,
        service.NewSubscription(data.endpoint, data.keys.p256dh, data.keys.auth),
        allow_private=state.runtime.settings.webhook_allow_private_targets,
    )
    return SubscriptionOut(id=sub.id, endpoint=sub.endpoint, created_at=sub.created_at)


@push_router.delete(
    "/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT, responses=COMMON
)
async def unsubscribe(
    user: CurrentUser,
    session: SessionDep,
    subscription_id: Annotated[uuid.UUID, Path(description="Subscription id")],
) -> Response:
    await service.unsubscribe(session, user.id, subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@push_actions_router.post(
    "/actions",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        401: {"description": "A forged or expired token"},
        404: {"description": "The notification, its reminder or its task is gone"},
    },
)
async def push_action(data: PushActionIn, session: SessionDep, state: StateDep) -> Response:
    """Complete the task, or snooze the reminder an hour: what the service worker sends when
    a push notification's button is pressed. No cookie and no bearer: the token (signed, for
    this one notification, 7 days) is the credential, so no CSRF defence is needed."""
    owner_id, notification_id = service.read_action_token(state.runtime.secret_key, data.token)
    await service.act(session, owner_id, notification_id, data.action, now=utcnow())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


email_router = APIRouter(prefix="/email", tags=["email"])


@email_router.post(
    "/unsubscribe",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "A forged or malformed link"}},
)
async def email_unsubscribe(
    session: SessionDep,
    state: StateDep,
    token: Annotated[str, Query(max_length=200, description="From the List-Unsubscribe link")],
) -> Response:
    """One-click unsubscribe (RFC 8058): the mail client POSTs `List-Unsubscribe=One-Click`
    to the link of a reminder email; the email channel is turned off. The signed token is
    the credential; using it again changes nothing."""
    from doable.notify import email

    user_id = email.read_unsubscribe_token(state.runtime.secret_key, token)
    current = await service.channels(session, user_id)
    if not await service.user_exists(session, user_id):
        raise email.UnsubscribeLinkInvalid()
    await service.set_channels(
        session, user_id, service.Channels(current.web_push, False, current.in_app)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
