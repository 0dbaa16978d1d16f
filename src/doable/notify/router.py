"""/api/v1/push: the VAPID key, push subscriptions, and the buttons of a push notification;
/api/v1/me/notifications: the channels and the daily agenda; /api/v1/email/unsubscribe."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from doable.accounts.links import MAX_LINK_TOKEN
from doable.auth.dependencies import CurrentUser, require_scope_by_method
from doable.db import SessionDep, utcnow
from doable.idempotency.route import IdempotentRoute
from doable.notify import service
from doable.notify.schemas import (
    NotificationSettingsOut,
    NotificationSettingsPatch,
    PublicKeyOut,
    PushActionIn,
    SubscriptionIn,
    SubscriptionOut,
)
from doable.routing import API_PREFIX
from doable.state import AppState, StateDep
from doable.zones import zone_of

# Subscriptions are the account's own settings: tasks:read to list, tasks:write to change.
push_router = APIRouter(
    prefix=f"{API_PREFIX}/push",
    tags=["push"],
    dependencies=[Depends(require_scope_by_method("tasks:read", "tasks:write"))],
    route_class=IdempotentRoute,
)
# The buttons of a push notification: the signed token in the body is the credential.
push_actions_router = APIRouter(prefix=f"{API_PREFIX}/push", tags=["push"])

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


# The account's channels and daily agenda: tasks:read to read, tasks:write to change, like
# the push subscriptions.
settings_router = APIRouter(
    prefix=f"{API_PREFIX}/me/notifications",
    tags=["push"],
    dependencies=[Depends(require_scope_by_method("tasks:read", "tasks:write"))],
)


def _settings_out(channels: service.Channels, state: AppState) -> NotificationSettingsOut:
    return NotificationSettingsOut(
        web_push=channels.web_push,
        email=channels.email,
        in_app=channels.in_app,
        agenda=channels.agenda,
        agenda_time=channels.agenda_time,
        email_available=bool(state.runtime.settings.smtp_host),
    )


@settings_router.get("", response_model=NotificationSettingsOut, responses=COMMON)
async def get_notification_settings(
    user: CurrentUser, session: SessionDep, state: StateDep
) -> NotificationSettingsOut:
    """Where reminders reach the user besides the inbox, and the daily agenda email."""
    return _settings_out(await service.channels(session, user.id), state)


@settings_router.patch(
    "",
    response_model=NotificationSettingsOut,
    responses={**COMMON, 422: {"description": "An agenda time that is not HH:MM, 00:00-23:59"}},
)
async def patch_notification_settings(
    data: NotificationSettingsPatch, user: CurrentUser, session: SessionDep, state: StateDep
) -> NotificationSettingsOut:
    """Change some of the settings. The agenda goes out once per local day at `agenda_time`
    in the user's time zone, with the overdue and today's open tasks (none: no email)."""
    current = await service.channels(session, user.id)
    wanted = dataclasses.replace(current, **data.model_dump(exclude_none=True))
    await service.set_channels(
        session, user.id, wanted, zone=zone_of(user.timezone), now=state.clock()
    )
    return _settings_out(wanted, state)


email_router = APIRouter(prefix=f"{API_PREFIX}/email", tags=["email"])


@email_router.post(
    "/unsubscribe",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        400: {"description": "A forged, altered or truncated link"},
        410: {"description": "An expired link, or one already used (the channel is off)"},
    },
)
async def email_unsubscribe(
    session: SessionDep,
    state: StateDep,
    token: Annotated[
        str, Query(max_length=MAX_LINK_TOKEN, description="From the List-Unsubscribe link")
    ],
) -> Response:
    """Turn off the email channel (reminder emails, or the daily agenda) that a link names.
    The emails' own List-Unsubscribe link is the web page `/unsubscribe?token=…`, which takes
    the same one-click POST (RFC 8058); this is its API twin. The signed token is the
    credential; it expires after 60 days."""
    await service.unsubscribe_email(session, state.runtime.secret_key, token, now=state.clock())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
