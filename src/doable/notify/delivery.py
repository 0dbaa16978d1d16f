"""Sending notifications by Web Push and email, off the request path.

The scheduler hands the ids of the reminders' notifications it just made to this process's
Pusher (a queue and one task), and so does every transaction that wrote notifications for
someone else (an assignment, a comment, a mention, a completion: `push_after_commit`), once it
commits. The Pusher sends each to every push subscription of its owner who has web push on,
and by email to an owner who chose email. A push service that answers 404 or 410 has dropped
the subscription: its row is deleted. 429, 5xx and network errors are retried a few times
with backoff. The inbox always has the notification, so a push lost to a crash between the
firing and the sending costs the user a pop-up, never the notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session

from doable.db import ON_NOTIFIED, Database, utcnow
from doable.notify import service
from doable.notify.models import NotificationChannels, PushSubscription
from doable.reminders.models import Notification
from doable.webhooks import ssrf

if TYPE_CHECKING:
    import httpx

    from doable.config import Settings

log = logging.getLogger("doable.push")

ATTEMPTS = 3
TIMEOUT_SECONDS = 10.0


@dataclass
class PushReport:
    sent: int = 0
    removed: int = 0  # subscriptions the push service said are gone
    failed: int = 0
    refused: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PushConfig:
    settings: Settings
    secret_key: bytes
    allow_private: bool
    retry_base_seconds: float = 1.0
    email_retry_base_seconds: float = 5.0

    @staticmethod
    def from_settings(settings: Settings, secret_key: bytes) -> PushConfig:
        return PushConfig(settings, secret_key, settings.webhook_allow_private_targets)


def payload_of(n: Notification, token: str) -> dict[str, Any]:
    return {
        "id": str(n.id),
        "title": n.title,
        "body": n.body,
        "task_id": str(n.task_id) if n.task_id else None,
        "url": "/notifications",
        "token": token,
    }


async def _post(
    client: httpx.AsyncClient,
    endpoint: str,
    headers: dict[str, str],
    body: bytes,
    config: PushConfig,
) -> int:
    """POST to the endpoint through the SSRF guard (the checked address, Host and SNI as
    written); the status code."""
    async with asyncio.timeout(TIMEOUT_SECONDS):
        target = await ssrf.resolve(endpoint, allow_private=config.allow_private)
        headers = {**headers, "host": target.host_header}
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request = client.build_request(
            "POST", target.url_for(endpoint), content=body, headers=headers, extensions=extensions
        )
        response = await client.send(request, follow_redirects=False)
        await response.aclose()
        return response.status_code


async def push_notifications(
    database: Database, config: PushConfig, ids: Sequence[uuid.UUID], client: httpx.AsyncClient
) -> PushReport:
    """Push each notification to its owner's subscriptions."""
    import httpx

    from doable.notify import webpush

    report = PushReport()
    if not ids:
        return report
    async with database.read_sessions() as session:
        notes = list(
            (await session.execute(select(Notification).where(Notification.id.in_(ids)))).scalars()
        )
        owners = {n.owner_id for n in notes}
        off = set(
            (
                await session.execute(
                    select(NotificationChannels.user_id).where(
                        NotificationChannels.user_id.in_(owners),
                        NotificationChannels.web_push.is_(False),
                    )
                )
            ).scalars()
        )
        subs = list(
            (
                await session.execute(
                    select(PushSubscription).where(PushSubscription.owner_id.in_(owners - off))
                )
            ).scalars()
        )
    if not subs:
        return report
    keys = await service.vapid_keys(database, config.settings)
    gone: list[uuid.UUID] = []
    for n in notes:
        token = service.action_token(config.secret_key, n.owner_id, n.id, now=time.time())
        payload = payload_of(n, token)
        for sub in (s for s in subs if s.owner_id == n.owner_id):
            status = 0
            for attempt in range(ATTEMPTS):
                headers, body = webpush.push_request(
                    sub.endpoint, sub.p256dh, sub.auth, payload, keys, config.settings.vapid_subject
                )
                try:
                    status = await _post(client, sub.endpoint, headers, body, config)
                except ssrf.TargetRefused as exc:
                    report.refused.append(str(exc))
                    status = -1
                    break
                except (TimeoutError, httpx.HTTPError):
                    status = 0
                if status != 429 and status < 500 and status != 0:
                    break
                if attempt + 1 < ATTEMPTS:
                    await asyncio.sleep(config.retry_base_seconds * 2**attempt)
            if 200 <= status < 300:
                report.sent += 1
            elif status in (404, 410):
                gone.append(sub.id)
                report.removed += 1
            else:
                report.failed += 1
                log.warning("push to a subscription failed (status %s)", status or "none")
    if gone:
        async with database.write_sessions() as session:
            await session.execute(
                delete(PushSubscription)
                .where(PushSubscription.id.in_(gone))
                .execution_options(synchronize_session=False)
            )
            await session.commit()
    return report


async def email_notifications(
    database: Database, config: PushConfig, ids: Sequence[uuid.UUID]
) -> int:
    """Email each notification to its owner, where SMTP is set and the owner chose email;
    how many were sent."""
    from doable.auth.models import User
    from doable.notify import email

    settings = config.settings
    if not settings.smtp_host or not ids:
        return 0
    async with database.read_sessions() as session:
        rows = (
            await session.execute(
                select(Notification, User.email)
                .join(User, User.id == Notification.owner_id)
                .join(NotificationChannels, NotificationChannels.user_id == User.id)
                .where(Notification.id.in_(ids), NotificationChannels.email.is_(True))
            )
        ).all()
    sent = 0
    now = utcnow()
    base = settings.public_url.rstrip("/")
    for note, address in rows:
        token = email.unsubscribe_token(config.secret_key, note.owner_id, "reminders", now=now)
        if note.kind == "reminder":
            subject, stop = f"Reminder: {note.title}", "Stop reminder emails"
        else:  # someone's doing in a shared project: "Olive completed this task"
            first = " ".join(note.body.split("\n", 1)[0].split())[:120]
            subject, stop = f"{first}: {note.title}", "Stop these emails"
        message = email.Message(
            to=address,
            subject=subject,
            text=(
                f"{note.title}\n{note.body}\n\nYour notifications: {base}/notifications\n\n"
                f"{stop}: {base}/unsubscribe?token={token}\n"
            ),
            unsubscribe_url=f"{base}/unsubscribe?token={token}",
        )
        if await email.send(settings, message, retry_base_seconds=config.email_retry_base_seconds):
            sent += 1
    return sent


class Pusher:
    """The queue the scheduler feeds, and the task that empties it."""

    def __init__(self, database: Database, config: PushConfig) -> None:
        self.database = database
        self.config = config
        self._queue: asyncio.Queue[tuple[uuid.UUID, ...]] = asyncio.Queue(maxsize=10_000)
        self._task: asyncio.Task[None] | None = None

    def enqueue(self, ids: tuple[uuid.UUID, ...]) -> None:
        try:
            self._queue.put_nowait(ids)
        except asyncio.QueueFull:  # the inbox still has them
            log.warning("push queue full: %d notifications not pushed", len(ids))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="doable-push")
        self.database.set_on_notified(self.enqueue)

    async def stop(self) -> None:
        self.database.set_on_notified(None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        # httpx is imported and the client made when there is something to send: most
        # processes never send, and httpx (with the rich modules its CLI brings) was a tenth
        # of a cold start.
        first: tuple[uuid.UUID, ...] | None = await self._queue.get()
        import httpx

        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, trust_env=False) as client:
            while True:
                ids = list(first) if first is not None else list(await self._queue.get())
                first = None
                while not self._queue.empty():
                    ids.extend(self._queue.get_nowait())
                for channel in (
                    push_notifications(self.database, self.config, ids, client),
                    email_notifications(self.database, self.config, ids),
                ):
                    try:
                        await channel
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        log.error("notify: sending failed (%s)", type(exc).__name__)


# Notifications a transaction wrote, waiting for it to commit.
_WRITTEN = "doable_notifications_written"


def push_after_commit(session: Session | Any, ids: Sequence[uuid.UUID]) -> None:
    """Hand `ids` to this process's Pusher once the session's transaction commits (never if it
    rolls back). A session of a process without a Pusher hands them to nobody: the inbox and
    the event streams still have them. Accepts an AsyncSession too."""
    sync = getattr(session, "sync_session", session)
    sync.info.setdefault(_WRITTEN, []).extend(ids)


@event.listens_for(Session, "after_commit")
def _hand_over(session: Session) -> None:
    if session.in_nested_transaction():
        return
    ids = session.info.pop(_WRITTEN, None)
    sender = session.info.get(ON_NOTIFIED)
    if ids and sender is not None:
        sender(tuple(ids))


@event.listens_for(Session, "after_soft_rollback")
def _drop_written(session: Session, previous_transaction: Any) -> None:
    if not previous_transaction.nested:
        session.info.pop(_WRITTEN, None)
