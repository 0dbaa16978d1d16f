"""Email, where SMTP_HOST is set: reminders, and invitation links. smtplib is blocking, so each
message is sent in a thread (smtplib and email are imported there, on first use); a failure is
retried with backoff and never reaches a request. A reminder carries a signed one-click
List-Unsubscribe link (RFC 8058) that turns the email channel off. A request's mail (an
invitation) is handed over with `send_after_commit`: sent by a task of its own once the
request's transaction commits, never if it rolls back, and never awaited by the request."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from doable.errors import NotFound

if TYPE_CHECKING:
    from doable.config import Settings

log = logging.getLogger("doable.email")

ATTEMPTS = 4
TIMEOUT_SECONDS = 20.0


class UnsubscribeLinkInvalid(NotFound):
    def __init__(self) -> None:
        super().__init__("This unsubscribe link is not valid")


def _sign(key: bytes, user_id: uuid.UUID) -> str:
    digest = hmac.new(key, f"unsubscribe-email:{user_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def unsubscribe_token(key: bytes, user_id: uuid.UUID) -> str:
    return f"{user_id}.{_sign(key, user_id)}"


def read_unsubscribe_token(key: bytes, token: str) -> uuid.UUID:
    """The user a genuine token names; else 404 (replaying one is harmless: it is idempotent)."""
    head, _, sig = token.partition(".")
    try:
        user_id = uuid.UUID(head)
    except ValueError:
        raise UnsubscribeLinkInvalid() from None
    if not hmac.compare_digest(_sign(key, user_id), sig):
        raise UnsubscribeLinkInvalid()
    return user_id


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    text: str
    # A reminder's one-click unsubscribe link; None for a message to someone who may have no
    # account (an invitation), which has no channel to turn off.
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
