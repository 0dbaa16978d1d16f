"""The in-process event bus: what changed, told to the open event streams and the scheduler.

Services never commit, so they cannot publish directly: an event published while the unit of
work is still open could announce a change that is then rolled back. `publish_after_commit`
parks the event in the session, and a listener publishes it once that session's transaction
has committed (or drops it on rollback). Task changes are noticed by a flush listener, so every
path that writes a task (API, web, compat) is covered without each one remembering to publish.

Other processes learn of the same events through the relay (doable.relay: PostgreSQL's
LISTEN/NOTIFY, Redis pub/sub, or a polled table), which `doable serve` installs as this bus's
forwarder: what commits here is published here at once and forwarded to the others.
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

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

log = logging.getLogger("doable.events")

_PENDING = "doable_pending_events"
# An open stream that stops reading loses events past this many (it gets a "resync" instead).
QUEUE_SIZE = 100
# Told of "user" events (and, with None, of events that may have been missed): see
# doable.auth.callers, which adds itself.
user_listeners: list[Callable[[uuid.UUID | None], None]] = []


@dataclass(frozen=True)
class Event:
    """One change for one user. `kind` is "task" or "notification"; "reminders" only wakes
    the scheduler and carries no user; "user" says a user's row changed (no user: some rows),
    for doable.auth.callers to forget what it remembered."""

    kind: str
    owner_id: uuid.UUID | None
    data: dict[str, Any] = field(default_factory=dict)
    # A task event whose change completed the task, or one occurrence of a repeating task
    # (webhooks send it as task.completed). Not part of what event streams send.
    completed: bool = False
    # A task event's assignee as of the change, so a completion's notice needs no query when
    # there is nobody to tell (comments/notify.py). Not sent either.
    assignee_id: uuid.UUID | None = None


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


def project_of(item: Event) -> uuid.UUID | None:
    """The project a task event is about (a task event carries its project's id)."""
    value = item.data.get("project_id")
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


class Subscription:
    """One open stream's mailbox.

    `projects` holds the ids of the projects shared with the stream's user (not those they
    own: their own tasks' events carry their id). The bus delivers a task event to the stream
    when the task is the user's or its project is in `projects`; a `membership` event for the
    user changes `projects` at once, before anything else is delivered, and the stream then
    re-reads it from the database."""

    def __init__(self, owner_id: uuid.UUID, credential: Credential | None = None) -> None:
        self.owner_id = owner_id
        self.credential = credential
        self.projects: frozenset[uuid.UUID] = frozenset()
        # The stream's row in stream_leases (doable.relay.leases), while it holds one.
        self.lease_id: uuid.UUID | None = None
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

    def sees(self, item: Event) -> bool:
        """Whether a task event is about a task this stream's user may see now."""
        if item.owner_id == self.owner_id:
            return True
        project = project_of(item)
        return project is not None and project in self.projects

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
        # The streams of members, by the shared project they follow.
        self._members: dict[uuid.UUID, weakref.WeakSet[Subscription]] = {}
        self._wakers: list[Callable[[], None]] = []
        self._shutdown_callbacks: list[Callable[[], None]] = []
        # Hands each committed event to the other processes (doable.relay); None: this
        # process is alone, or the relay is not running (in-process tests).
        self.forwarder: Callable[[Event], None] | None = None
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
        self.follow(sub, frozenset())
        subs = self._subs.get(sub.owner_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                self._subs.pop(sub.owner_id, None)

    def follow(self, sub: Subscription, projects: frozenset[uuid.UUID]) -> None:
        """Make `projects` the shared projects whose task events reach `sub`."""
        for gone in sub.projects - projects:
            followers = self._members.get(gone)
            if followers is not None:
                followers.discard(sub)
                if not followers:
                    self._members.pop(gone, None)
        for new in projects - sub.projects:
            self._members.setdefault(new, weakref.WeakSet()).add(sub)
        sub.projects = projects

    def _membership_changed(self, item: Event) -> None:
        """A project was shared with the event's user, or they left or were removed: their
        streams follow it, or stop carrying it, before any later event is delivered."""
        project = project_of(item)
        if project is None or item.owner_id is None:
            return
        for sub in list(self._subs.get(item.owner_id, ())):
            if item.data.get("action") == "removed":
                self.follow(sub, sub.projects - {project})
            else:
                self.follow(sub, sub.projects | {project})
            sub.offer(item)

    def streams_of(self, owner_id: uuid.UUID) -> int:
        return len(self._subs.get(owner_id, ()))

    def owners(self) -> list[uuid.UUID]:
        """The users with a stream open in this process."""
        return [owner for owner, subs in list(self._subs.items()) if subs]

    def subscriptions(self) -> list[Subscription]:
        """Every stream open in this process."""
        return [sub for subs in list(self._subs.values()) for sub in list(subs)]

    def open_streams(self) -> int:
        """Streams open in this process, all users together (the metrics read it)."""
        return sum(len(subs) for subs in list(self._subs.values()))

    def publish(self, item: Event) -> None:
        if item.kind == "user":
            for listener in list(user_listeners):
                listener(item.owner_id)
            return
        if item.kind == "reminders":
            for wake in list(self._wakers):
                wake()
            return
        if item.kind == "membership":
            self._membership_changed(item)
            return
        if item.owner_id is None:
            return
        subs = list(self._subs.get(item.owner_id, ()))
        project = project_of(item) if item.kind == "task" else None
        if project is not None:
            subs.extend(s for s in self._members.get(project, ()) if s.owner_id != item.owner_id)
        for sub in subs:
            sub.offer(item)

    def forward(self, item: Event) -> None:
        """Tell the other processes (through the relay, if one is installed)."""
        if self.forwarder is not None and item.kind != "shutdown":
            self.forwarder(item)

    def resync_all(self) -> None:
        """Events from other processes may have been missed (the relay lost its connection):
        every open stream tells its client to fetch afresh, and remembered rows of users
        are forgotten."""
        for listener in list(user_listeners):
            listener(None)
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.offer(Event("resync", sub.owner_id))

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


def _task_event(obj: Any, action: str, *, completed: bool = False, project_id: Any = None) -> Event:
    project = project_id if project_id is not None else obj.project_id
    return Event(
        "task",
        obj.owner_id,
        {
            "action": action,
            "id": str(obj.id),
            "version": getattr(obj, "version", None),
            "project_id": str(project) if project is not None else None,
        },
        completed=completed,
        assignee_id=getattr(obj, "assignee_id", None),
    )


def _moved_from(obj: Any) -> Any:
    """The project a task was moved out of in this flush, if it was."""
    history = inspect(obj).attrs.project_id.history
    before = [p for p in history.deleted if p is not None]
    return before[0] if before and before[0] != obj.project_id else None


def _was_completed(obj: Any) -> bool:
    history = inspect(obj).attrs.completed.history
    return True in history.added and False in history.deleted


@event.listens_for(Session, "after_flush")
def _note_task_changes(session: Session, _context: Any) -> None:
    from doable.tasks.models import Task, TaskCompletion  # the tasks package imports this module

    pending = session.info.setdefault(_PENDING, [])
    # A repeating task's completed occurrence is recorded as a TaskCompletion, the task
    # itself moving on (still open) in the same flush.
    occurrences = {obj.task_id for obj in session.new if isinstance(obj, TaskCompletion)}
    for obj in session.new:
        if isinstance(obj, Task):
            pending.append(_task_event(obj, "created"))
    for obj in session.dirty:
        if isinstance(obj, Task) and session.is_modified(obj):
            completed = obj.id in occurrences or _was_completed(obj)
            pending.append(_task_event(obj, "updated", completed=completed))
            moved_from = _moved_from(obj)
            if moved_from is not None:
                # The old project's members learn that the task left it.
                pending.append(_task_event(obj, "updated", project_id=moved_from))
    for obj in session.deleted:
        if isinstance(obj, Task):
            pending.append(_task_event(obj, "deleted"))


# Called with the session and its transaction's pending events just before it commits, in that
# transaction: what must be written with a change (the webhook outbox) is written here.
BeforeCommitHook = Callable[[Session, list[Event]], None]
_before_commit_hooks: list[BeforeCommitHook] = []


def on_before_commit(hook: BeforeCommitHook) -> BeforeCommitHook:
    """Register `hook` to run in every transaction that has pending events, before it commits
    (never for a savepoint). It may write with the session; it must not commit."""
    if hook not in _before_commit_hooks:
        _before_commit_hooks.append(hook)
    return hook


@event.listens_for(Session, "before_commit")
def _run_before_commit(session: Session) -> None:
    if session.in_nested_transaction() or not _before_commit_hooks:
        return
    # The commit's own flush comes after this event: flush first, so the flush listener has
    # noted every change by now.
    if session.new or session.dirty or session.deleted:
        session.flush()
    pending: list[Event] = session.info.get(_PENDING, [])
    if pending:
        for hook in list(_before_commit_hooks):
            hook(session, pending)


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
            bus.forward(item)
        except Exception:  # pragma: no cover - a subscriber must never break a commit
            log.exception("publishing %s failed", item.kind)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: Any) -> None:
    # A savepoint rolled back (say, a tag insert that lost a race) leaves the outer
    # transaction, and the events it will publish, alive.
    if not previous_transaction.nested:
        session.info.pop(_PENDING, None)


def task_deleted(
    session: Any, owner_id: uuid.UUID, task_id: uuid.UUID, project_id: uuid.UUID | None
) -> None:
    """Bulk deletes bypass the flush listener: the tasks service reports them here."""
    data = {
        "action": "deleted",
        "id": str(task_id),
        "project_id": str(project_id) if project_id is not None else None,
    }
    publish_after_commit(session, Event("task", owner_id, data))


def membership_changed(
    session: Any, user_id: uuid.UUID, project_id: uuid.UUID, action: str
) -> None:
    """Once it commits, the user's open streams (here, and through the relay elsewhere) follow
    the project (`action` "added") or stop carrying it ("removed") at once."""
    data = {"action": action, "project_id": str(project_id)}
    publish_after_commit(session, Event("membership", user_id, data))


def credentials_revoked(
    session: Any, owner_id: uuid.UUID, kind: str = "all", credential_id: uuid.UUID | None = None
) -> None:
    """Once the revocation commits, end the event streams opened with the revoked credential
    (`kind` and `credential_id` as in `Credential`), or with any of the user's ("all": sign-out
    everywhere, a password change, the account's deletion): this process's at once, other
    processes' through the relay (and, should that miss it, at their next periodic check)."""
    data = {"credential": kind, "id": str(credential_id) if credential_id else None}
    publish_after_commit(session, Event("revoked", owner_id, data))


def reminders_changed(session: Any) -> None:
    """Wake the schedulers (this process's, and through the relay the others') once the change
    commits."""
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
