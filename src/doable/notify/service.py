"""Push subscriptions, the VAPID keys every replica shares, the signed tokens behind a push
notification's buttons, and a user's channels. Queries are scoped to their owner; nothing
here commits (but vapid_keys, which stores the pair in its own short transaction)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from doable.accounts.links import LinkExpired
from doable.config import Settings
from doable.db import Database, set_actor, utcnow
from doable.errors import InvalidInput, NotFound, Unauthorized
from doable.notify import agenda as agenda_rules
from doable.notify.models import AppSecret, NotificationChannels, PushSubscription
from doable.notify.webpush import BadKey, VapidKeys, check_subscription_keys
from doable.webhooks import ssrf
from doable.zones import Zone

VAPID_ROW = "vapid"  # app_secrets.name of the VAPID pair
MAX_SUBSCRIPTIONS_PER_USER = 20
# A push notification's buttons work for this long after it was sent.
ACTION_TOKEN_SECONDS = 7 * 86400


class SubscriptionNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No push subscription with this id")


# VAPID keys


_cached: dict[int, VapidKeys] = {}


async def vapid_keys(database: Database, settings: Settings) -> VapidKeys:
    """The settings' pair; else the one in app_secrets, made by the first process to ask
    (an insert that loses the race reads the winner's row; a pair is never replaced)."""
    if settings.vapid_private_key:
        keys = VapidKeys.from_private(settings.vapid_private_key)
        if settings.vapid_public_key and settings.vapid_public_key != keys.public:
            raise ValueError("VAPID_PUBLIC_KEY does not match VAPID_PRIVATE_KEY")
        return keys
    found = _cached.get(id(database))
    if found is not None:
        return found
    async with database.read_sessions() as session:
        value = await session.scalar(select(AppSecret.value).where(AppSecret.name == VAPID_ROW))
    if value is None:
        fresh = VapidKeys.generate()
        try:
            async with database.write_sessions() as session:
                session.add(
                    AppSecret(
                        name=VAPID_ROW,
                        value=json.dumps({"private": fresh.private, "public": fresh.public}),
                        created_at=utcnow(),
                    )
                )
                await session.commit()
            value = json.dumps({"private": fresh.private, "public": fresh.public})
        except IntegrityError:
            async with database.read_sessions() as session:
                value = await session.scalar(
                    select(AppSecret.value).where(AppSecret.name == VAPID_ROW)
                )
    assert value is not None
    stored = json.loads(value)
    keys = VapidKeys(stored["private"], stored["public"])
    _cached[id(database)] = keys
    return keys


# Subscriptions


@dataclass(frozen=True)
class NewSubscription:
    endpoint: str
    p256dh: str
    auth: str


def endpoint_hash(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()


def check_endpoint(endpoint: str, *, allow_private: bool) -> None:
    """A push endpoint is an https URL a browser gave us: the webhook SSRF guard's rules
    (names are checked again when a push resolves them). Plain http only where private
    targets are allowed (tests)."""
    try:
        scheme, _, _ = ssrf.check_url_form(endpoint)
        ssrf.check_literal(endpoint, allow_private=allow_private)
    except ValueError as exc:
        raise InvalidInput(f"The endpoint {exc}", loc=["body", "endpoint"]) from None
    if scheme != "https" and not allow_private:
        raise InvalidInput("The endpoint must be an https:// URL", loc=["body", "endpoint"])


async def subscribe(
    session: AsyncSession, owner_id: uuid.UUID, data: NewSubscription, *, allow_private: bool
) -> PushSubscription:
    """Add (or take over) the subscription of one browser endpoint. A browser that signs in
    as someone else moves its endpoint to that account."""
    check_endpoint(data.endpoint, allow_private=allow_private)
    try:
        check_subscription_keys(data.p256dh, data.auth)
    except BadKey as exc:
        raise InvalidInput(str(exc), loc=["body", "keys"]) from None
    digest = endpoint_hash(data.endpoint)
    await session.execute(
        delete(PushSubscription)
        .where(PushSubscription.endpoint_hash == digest)
        .execution_options(synchronize_session=False)
    )
    count = len(
        (
            await session.execute(
                select(PushSubscription.id).where(PushSubscription.owner_id == owner_id)
            )
        ).all()
    )
    if count >= MAX_SUBSCRIPTIONS_PER_USER:
        raise InvalidInput(
            f"At most {MAX_SUBSCRIPTIONS_PER_USER} devices can get push notifications;"
            " remove one first",
            loc=["body"],
        )
    sub = PushSubscription(
        owner_id=owner_id,
        endpoint=data.endpoint,
        endpoint_hash=digest,
        p256dh=data.p256dh,
        auth=data.auth,
        created_at=utcnow(),
    )
    session.add(sub)
    await session.flush()
    return sub


async def list_subscriptions(session: AsyncSession, owner_id: uuid.UUID) -> list[PushSubscription]:
    stmt = (
        select(PushSubscription)
        .where(PushSubscription.owner_id == owner_id)
        .order_by(PushSubscription.created_at, PushSubscription.id)
    )
    return list((await session.execute(stmt)).scalars())


async def unsubscribe(
    session: AsyncSession, owner_id: uuid.UUID, subscription_id: uuid.UUID
) -> None:
    result = await session.execute(
        delete(PushSubscription)
        .where(PushSubscription.owner_id == owner_id, PushSubscription.id == subscription_id)
        .execution_options(synchronize_session=False)
    )
    if not int(getattr(result, "rowcount", 0) or 0):
        raise SubscriptionNotFound()


async def unsubscribe_endpoint(session: AsyncSession, owner_id: uuid.UUID, endpoint: str) -> int:
    result = await session.execute(
        delete(PushSubscription)
        .where(
            PushSubscription.owner_id == owner_id,
            PushSubscription.endpoint_hash == endpoint_hash(endpoint),
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# Action tokens: what a push notification's Complete and Snooze buttons send back. The
# service worker has neither the page's CSRF token nor an API token, so the push payload
# carries one signed token per notification, good for these two actions on that
# notification only, for ACTION_TOKEN_SECONDS.


def _sign(key: bytes, body: bytes) -> str:
    return (
        base64.urlsafe_b64encode(hmac.new(key, b"push-action:" + body, hashlib.sha256).digest())
        .decode()
        .rstrip("=")
    )


def action_token(key: bytes, owner_id: uuid.UUID, notification_id: uuid.UUID, *, now: float) -> str:
    body = f"{owner_id}.{notification_id}.{int(now) + ACTION_TOKEN_SECONDS}".encode()
    return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + _sign(key, body)


def read_action_token(
    key: bytes, token: str, *, now: float | None = None
) -> tuple[uuid.UUID, uuid.UUID]:
    """(owner id, notification id) of a genuine, unexpired token; else 401."""
    refused = Unauthorized("This notification's action link is invalid or has expired")
    head, _, sig = token.partition(".")
    try:
        body = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
    except ValueError:
        raise refused from None
    if not hmac.compare_digest(_sign(key, body), sig):
        raise refused
    try:
        owner, notification, expires = body.decode().split(".")
        parsed = uuid.UUID(owner), uuid.UUID(notification)
        if int(expires) < (time.time() if now is None else now):
            raise refused
    except ValueError:
        raise refused from None
    return parsed


# Channels


@dataclass(frozen=True)
class Channels:
    web_push: bool = True
    email: bool = False
    in_app: bool = True
    agenda: bool = False  # the daily agenda email (notify/agenda.py)
    agenda_time: str = agenda_rules.DEFAULT_TIME  # "HH:MM", the user's local time


async def channels(session: AsyncSession, user_id: uuid.UUID) -> Channels:
    row = await session.get(NotificationChannels, user_id)
    if row is None:
        return Channels()
    return Channels(row.web_push, row.email, row.in_app, row.agenda, row.agenda_time)


async def set_channels(
    session: AsyncSession, user_id: uuid.UUID, value: Channels, *, zone: Zone, now: datetime
) -> None:
    """Store the user's channels; the agenda's next instant follows from its time and `zone`
    (the user's). A bad agenda time is a 422 on `agenda_time`."""
    try:
        agenda_rules.parse_time(value.agenda_time)
    except ValueError as exc:
        raise InvalidInput(str(exc), loc=["body", "agenda_time"]) from None
    row = await session.get(NotificationChannels, user_id, with_for_update=True)
    if row is None:
        row = NotificationChannels(user_id=user_id, agenda_last_day=None)
        session.add(row)
    row.web_push, row.email, row.in_app = value.web_push, value.email, value.in_app
    row.agenda, row.agenda_time = value.agenda, value.agenda_time
    agenda_rules.schedule(row, zone, now)
    await session.flush()


async def rezone_agenda(
    session: AsyncSession, user_id: uuid.UUID, zone: Zone, *, now: datetime
) -> None:
    """The user's time zone changed: the agenda's next instant follows the new zone."""
    row = await session.get(NotificationChannels, user_id, with_for_update=True)
    if row is not None and row.agenda:
        agenda_rules.schedule(row, zone, now)


# Unsubscribe links (notify/email.py makes them)


class AlreadyUnsubscribed(LinkExpired):
    def __init__(self, channel: str) -> None:
        what = "reminder emails are" if channel == "reminders" else "the daily agenda is"
        super().__init__(
            f"This link was already used: {what} off. Turn it back on from your account page."
        )


async def unsubscribe_target(
    session: AsyncSession, secret: bytes, token: str, *, now: datetime
) -> tuple[uuid.UUID, str, str]:
    """(user id, channel, email address) of an unsubscribe link that can still act: 400 when
    forged, 410 when expired, when the account is gone, or when the channel is already off
    (the link was used)."""
    from doable.auth.models import User
    from doable.notify import email

    user_id, channel = email.read_unsubscribe_token(secret, token, now=now)
    address = await session.scalar(select(User.email).where(User.id == user_id))
    if address is None:
        raise LinkExpired("The account this link was sent to no longer exists")
    current = await channels(session, user_id)
    if not (current.email if channel == "reminders" else current.agenda):
        raise AlreadyUnsubscribed(channel)
    return user_id, channel, address


async def unsubscribe_email(
    session: AsyncSession, secret: bytes, token: str, *, now: datetime
) -> str:
    """Turn off the email channel an unsubscribe link names; the channel. Errors as
    `unsubscribe_target`; of two uses at once, one turns it off and the other gets 410."""
    user_id, channel, _ = await unsubscribe_target(session, secret, token, now=now)
    row = await session.get(NotificationChannels, user_id, with_for_update=True)
    if row is None or not (row.email if channel == "reminders" else row.agenda):
        raise AlreadyUnsubscribed(channel)
    if channel == "reminders":
        row.email = False
    else:
        row.agenda = False
        row.agenda_next_at = None
    await session.flush()
    return channel


# A push notification's buttons


async def act(
    session: AsyncSession,
    owner_id: uuid.UUID,
    notification_id: uuid.UUID,
    action: str,
    *,
    now: datetime,
) -> None:
    """Complete the notification's task, or snooze its reminder for an hour; either marks
    the notification read. What the owner can no longer see is 404."""
    from doable.auth.models import User
    from doable.projects.access import Role
    from doable.reminders import service as reminders_service
    from doable.tasks import service as tasks_service

    if action == "snooze":
        await reminders_service.snooze(session, owner_id, notification_id, "1h", now=now)
        return
    user = await session.get(User, owner_id)
    if user is None:
        raise reminders_service.NotificationNotFound()
    note = await reminders_service.mark_read(session, owner_id, notification_id, now=now)
    if note.task_id is None:
        raise tasks_service.TaskNotFound()
    task = await tasks_service.get_task(
        session, user, note.task_id, for_update=True, need=Role.EDITOR
    )
    # The token's owner pressed the button: the activity log and the assignee's notice
    # name them, as for any other way of completing.
    set_actor(session, owner_id)
    await tasks_service.set_completed(session, task, True)


async def user_exists(session: AsyncSession, user_id: uuid.UUID) -> bool:
    from doable.auth.models import User

    return await session.scalar(select(User.id).where(User.id == user_id)) is not None
