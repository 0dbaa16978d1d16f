"""Email, where SMTP_HOST is set: reminders, the daily agenda, invitation links and
password-reset links. smtplib is blocking, so each message is sent in a thread (smtplib and
email are imported there, on first use); a failure is retried with backoff and never reaches a
request. Each reminder and agenda message carries a signed one-click List-Unsubscribe link
(RFC 8058) that turns its channel off. A request's invitation mail is handed over with
`send_after_commit`: sent by a task of its own once the request's transaction commits, never if
it rolls back, and never awaited by the request. A reset link is a job for the `Mailer`, which
also does the account lookup off the request's path."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import event
from sqlalchemy.orm import Session

from doable.accounts import links

if TYPE_CHECKING:
    from doable.config import Settings

log = logging.getLogger("doable.email")

ATTEMPTS = 4
TIMEOUT_SECONDS = 20.0
# An unsubscribe link works this long after its email was sent (a mail client may keep
# offering its List-Unsubscribe button for a while).
UNSUBSCRIBE_LINK_DAYS = 60
# Password-reset emails per address and hour, whoever asks (no mail-bombing through the form).
RESET_MAILS_PER_HOUR = 3

Channel = Literal["reminders", "agenda"]


def unsubscribe_token(secret: bytes, user_id: uuid.UUID, channel: Channel, *, now: datetime) -> str:
    """The token of an email's unsubscribe link: this user, this channel, UNSUBSCRIBE_LINK_DAYS."""
    token, _ = links.make(
        secret,
        "unsubscribe",
        {"sub": str(user_id), "ch": channel},
        now=now,
        ttl=timedelta(days=UNSUBSCRIBE_LINK_DAYS),
    )
    return token


def read_unsubscribe_token(
    secret: bytes, token: str, *, now: datetime
) -> tuple[uuid.UUID, Channel]:
    """(user, channel) of a genuine, unexpired token; LinkInvalid (400) when forged or
    altered, LinkExpired (410) when expired."""
    claims = links.read(secret, "unsubscribe", token, now=now)
    channel = claims.get("ch")
    try:
        user_id = uuid.UUID(str(claims.get("sub")))
    except ValueError:
        raise links.LinkInvalid() from None
    if channel == "reminders":
        return user_id, "reminders"
    if channel == "agenda":
        return user_id, "agenda"
    raise links.LinkInvalid()


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    text: str
    # A reminder's or agenda's one-click unsubscribe link; None for a message the user asked
    # for (a reset link) or to someone who may have no account (an invitation).
    unsubscribe_url: str | None = None


def _send_blocking(settings: Settings, message: Message) -> None:
    import smtplib
    from email.message import EmailMessage
    from email.policy import SMTP
    from email.utils import make_msgid

    assert settings.smtp_host is not None
    # Long lines allowed (RFC 5322's 998): the default 78 would fold the unsubscribe link,
    # which has no spaces, into encoded words that mail clients do not read as a URL.
    mail = EmailMessage(policy=SMTP.clone(max_line_length=998))
    mail["From"] = settings.smtp_from
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Message-ID"] = make_msgid(domain="doable")
    if message.unsubscribe_url is not None:
        mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.text)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_SECONDS) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password or "")
        smtp.send_message(mail)


async def send(settings: Settings, message: Message, *, retry_base_seconds: float = 5.0) -> bool:
    """Send in a thread; try ATTEMPTS times in all, with backoff. True once sent."""
    for attempt in range(ATTEMPTS):
        try:
            await asyncio.to_thread(_send_blocking, settings, message)
            return True
        except Exception as exc:  # smtplib's errors, OSError, timeouts: all worth a retry
            log.warning("email: attempt %d failed (%s)", attempt + 1, type(exc).__name__)
        if attempt + 1 < ATTEMPTS:
            await asyncio.sleep(retry_base_seconds * 2**attempt)
    return False


# Mail a request asked for, waiting for its transaction to commit.
_AFTER_COMMIT = "doable_mail_after_commit"
# The sends under way: a task is kept here until it ends (asyncio keeps only weak references).
_sending: set[asyncio.Task[bool]] = set()


def send_after_commit(session: Any, settings: Settings, message: Message) -> None:
    """Send `message` once the session's transaction commits, in a task of its own (with
    `send`'s retries), so the request neither waits for the server nor fails with it. A
    rollback drops it. Accepts an AsyncSession too."""
    if not settings.smtp_host:
        return
    sync = getattr(session, "sync_session", session)
    sync.info.setdefault(_AFTER_COMMIT, []).append((settings, message))


@event.listens_for(Session, "after_commit")
def _start_sending(session: Session) -> None:
    if session.in_nested_transaction():
        return
    waiting: list[tuple[Settings, Message]] = session.info.pop(_AFTER_COMMIT, [])
    if not waiting:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # a sync session outside the event loop: nothing here sends mail
        log.warning("email: %d messages dropped (no event loop)", len(waiting))
        return
    for settings, message in waiting:
        task = loop.create_task(send(settings, message), name="doable-email")
        _sending.add(task)
        task.add_done_callback(_sending.discard)


@event.listens_for(Session, "after_soft_rollback")
def _drop_waiting(session: Session, previous_transaction: Any) -> None:
    if not previous_transaction.nested:
        session.info.pop(_AFTER_COMMIT, None)


MessageJob = Callable[[], Awaitable[Message | None]]


class Mailer:
    """Mail that a request asks for (a password-reset link), made and sent off its path.

    A request only enqueues a job (a coroutine function that builds the message, or None when
    there is nothing to send); one task of this process runs the jobs in order and sends with
    `send`'s retries, then ends when the queue is empty (the next job starts it again). So
    neither the lookup behind a message nor a slow SMTP server shows in the request's time.
    A job lost to a crash is a reset link the user asks for again."""

    def __init__(self, settings: Settings, *, retry_base_seconds: float = 5.0) -> None:
        self.settings = settings
        self.retry_base_seconds = retry_base_seconds
        self._queue: asyncio.Queue[MessageJob] = asyncio.Queue(maxsize=1000)
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    def enqueue(self, job: MessageJob) -> None:
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            log.warning("email: queue full; a message was dropped")
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="doable-mailer")

    async def idle(self) -> None:
        """Wait until every job enqueued so far is done (tests, shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    async def _run(self) -> None:
        while not self._queue.empty():
            job = self._queue.get_nowait()
            try:
                message = await job()
                if message is not None and await send(
                    self.settings, message, retry_base_seconds=self.retry_base_seconds
                ):
                    self.sent += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("email: a message could not be made (%s)", type(exc).__name__)
