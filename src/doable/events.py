"""The in-process event bus: what changed, told to the open event streams and the scheduler.

Services never commit, so they cannot publish directly: an event published while the unit of
work is still open could announce a change that is then rolled back. `publish_after_commit`
parks the event in the session, and a listener publishes it once that session's transaction
has committed (or drops it on rollback). Task changes are noticed by a flush listener, so every
path that writes a task (API, web, compat) is covered without each one remembering to publish.

Other processes learn of changes through the database (event streams poll it, and the
scheduler wakes up on its own every so often); this bus only makes the same process instant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("doable.events")

_PENDING = "doable_pending_events"
# An open stream that stops reading loses events past this many (it gets a "resync" instead).
QUEUE_SIZE = 100


@dataclass(frozen=True)
class Event:
    """One change for one user. `kind` is "task" or "notification"; "reminders" only wakes
    the scheduler and carries no user."""

    kind: str
    owner_id: uuid.UUID | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Credential:
    """What an event stream was opened with, so revoking it can close the stream.

    `kind` is "access_token" (`id`: its refresh-token family, `token_version`: the user's
    when issued), "api_token" or "web_session" (`id`: the row's), or "external".
    `expires_at` (Unix time) ends the stream when the credential expires."""

    kind: str
    id: uuid.UUID | None = None
    token_version: int | None = None
    expires_at: float | None = None


class Subscription:
    """One open stream's mailbox."""

    def __init__(self, owner_id: uuid.UUID, credential: Credential | None = None) -> None:
        self.owner_id = owner_id
        self.credential = credential
        self.queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False

    def revoked_by(self, item: Event) -> bool:
        """Whether a "revoked" event ends this stream: every credential of the user, or the
        one it was opened with."""
        if item.data.get("credential") == "all":
            return True
        c = self.credential
        return (
            c is not None
            and c.id is not None
            and item.data.get("credential") == c.kind
            and item.data.get("id") == str(c.id)
        )

    def offer(self, item: Event) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True


class TooManyStreams(Exception):
    pass


class EventBus:
    """Subscribers per user, plus the wake-up callbacks of schedulers."""

    def __init__(self) -> None:
        # Weak: a stream whose generator never ran its cleanup still frees its slot.
        self._subs: dict[uuid.UUID, weakref.WeakSet[Subscription]] = {}
        self._wakers: list[Callable[[], None]] = []
        self._shutdown_callbacks: list[Callable[[], None]] = []
        self.stopping = False

    def subscribe(
        self, owner_id: uuid.UUID, *, limit: int, credential: Credential | None = None
    ) -> Subscription:
        subs = self._subs.setdefault(owner_id, weakref.WeakSet())
        if len(subs) >= limit:
            raise TooManyStreams()
        sub = Subscription(owner_id, credential)
        subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.owner_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                self._subs.pop(sub.owner_id, None)

    def streams_of(self, owner_id: uuid.UUID) -> int:
        return len(self._subs.get(owner_id, ()))

    def open_streams(self) -> int:
        """Streams open in this process, all users together (the metrics read it)."""
        return sum(len(subs) for subs in list(self._subs.values()))

    def publish(self, item: Event) -> None:
        if item.kind == "reminders":
            for wake in list(self._wakers):
                wake()
            return
        if item.owner_id is None:
            return
        for sub in list(self._subs.get(item.owner_id, ())):
            sub.offer(item)

    def add_waker(self, wake: Callable[[], None]) -> None:
        self._wakers.append(wake)

    def remove_waker(self, wake: Callable[[], None]) -> None:
        with contextlib.suppress(ValueError):
            self._wakers.remove(wake)

    def on_shutdown(self, callback: Callable[[], None]) -> Callable[[], None]:
        self._shutdown_callbacks.append(callback)
        return lambda: self._shutdown_callbacks.remove(callback)

    def shutdown(self) -> None:
        """The server is stopping: end every stream (uvicorn waits for open responses)."""
        self.stopping = True
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.offer(Event("shutdown", sub.owner_id))
        for callback in list(self._shutdown_callbacks):
            callback()


bus = EventBus()


def publish_after_commit(session: Session | Any, item: Event) -> None:
    """Publish `item` once the session's transaction commits; never if it rolls back.
    Accepts an AsyncSession too."""
    sync = getattr(session, "sync_session", session)
    sync.info.setdefault(_PENDING, []).append(item)


def _task_event(obj: Any, action: str) -> Event:
    return Event(
        "task",
        obj.owner_id,
        {"action": action, "id": str(obj.id), "version": getattr(obj, "version", None)},
    )


@event.listens_for(Session, "after_flush")
def _note_task_changes(session: Session, _context: Any) -> None:
    from doable.tasks.models import Task  # the tasks package imports this module

    pending = session.info.setdefault(_PENDING, [])
    for obj in session.new:
        if isinstance(obj, Task):
            pending.append(_task_event(obj, "created"))
    for obj in session.dirty:
        if isinstance(obj, Task) and session.is_modified(obj):
            pending.append(_task_event(obj, "updated"))
    for obj in session.deleted:
        if isinstance(obj, Task):
            pending.append(_task_event(obj, "deleted"))


@event.listens_for(Session, "after_commit")
def _publish_pending(session: Session) -> None:
    # SQLAlchemy fires after_commit when a savepoint is released as well; only the outermost
    # transaction's commit makes the changes visible.
    if session.in_nested_transaction():
        return
    pending: list[Event] = session.info.pop(_PENDING, [])
    seen: set[tuple[str, str, str]] = set()
    for item in pending:
        key = (item.kind, str(item.owner_id), repr(sorted(item.data.items())))
        if key in seen:
            continue
        seen.add(key)
        try:
            bus.publish(item)
        except Exception:  # pragma: no cover - a subscriber must never break a commit
            log.exception("publishing %s failed", item.kind)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: Any) -> None:
    # A savepoint rolled back (say, a tag insert that lost a race) leaves the outer
    # transaction, and the events it will publish, alive.
    if not previous_transaction.nested:
        session.info.pop(_PENDING, None)


def task_deleted(session: Any, owner_id: uuid.UUID, task_id: uuid.UUID) -> None:
    """Bulk deletes bypass the flush listener: the tasks service reports them here."""
    publish_after_commit(
        session, Event("task", owner_id, {"action": "deleted", "id": str(task_id)})
    )


def credentials_revoked(
    session: Any, owner_id: uuid.UUID, kind: str = "all", credential_id: uuid.UUID | None = None
) -> None:
    """Once the revocation commits, end this process's event streams opened with the revoked
    credential (`kind` and `credential_id` as in `Credential`), or with any of the user's
    ("all": sign-out everywhere, a password change, the account's deletion). Streams of other
    processes notice at their next periodic check."""
    data = {"credential": kind, "id": str(credential_id) if credential_id else None}
    publish_after_commit(session, Event("revoked", owner_id, data))


def reminders_changed(session: Any) -> None:
    """Wake this process's scheduler once the change commits."""
    publish_after_commit(session, Event("reminders", None))


@contextlib.contextmanager
def stream_shutdown_on_signals() -> Iterator[None]:
    """While the server runs, SIGTERM and SIGINT also end the event streams.

    uvicorn's graceful shutdown waits for every open response before the lifespan ends, and an
    event stream never ends by itself; so the signal must reach the streams first. The handler
    uvicorn installed still runs (chained), so shutdown proceeds as before.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def chained(signum: int, frame: Any) -> None:
        loop.call_soon_threadsafe(bus.shutdown)
        handler = previous.get(signum)
        if callable(handler):
            handler(signum, frame)

    for sig in (signal.SIGTERM, signal.SIGINT):
        handler = signal.getsignal(sig)
        if not callable(handler):  # default or ignored: uvicorn is not managing signals
            continue
        previous[int(sig)] = handler
        signal.signal(sig, chained)
    try:
        yield
    finally:
        for signum, saved in previous.items():
            if signal.getsignal(signum) is chained:
                signal.signal(signum, saved)
