"""The live event stream behind `GET /api/v1/events` and the web app's `GET /events`.

A stream carries `notification` events (a reminder fired, or someone assigned, commented or
mentioned: comments/notify.py), `task` events (a task was created, changed or deleted, in one of
the user's projects or one shared with them), `comment` events (a comment was added, edited or
deleted) and `membership` events (a project was shared with the user, or they were removed from
it), as Server-Sent Events. Changes arrive through the event bus: at once from this process, and
through the relay (doable.relay) from the others. A notification
event carries no content: the stream re-reads the account's recent notifications, over a
window that looks back a little, because another process's row may commit after a later one
was already sent; ids already sent are remembered so nothing is sent twice. Should the relay
have missed something, the process's `NotificationWatch` looks at the table every few seconds
for all its streams at once, and wakes those whose users have new notifications. A stream does
no work of its own while nothing happens: the same watch checks every stream's credential.

The cap on open streams per account holds across processes through stream leases
(doable.relay.leases). At shutdown a stream sends `reconnect` (with a `retry` spread over a
few seconds, so the clients do not all come back at once) and ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

from fastapi.sse import ServerSentEvent, format_sse_event
from starlette.responses import StreamingResponse

from doable import events
from doable.auth import service as auth_service
from doable.db import Database, utcnow
from doable.errors import RateLimited
from doable.projects import access
from doable.relay import leases
from doable.reminders import service
from doable.reminders.models import Notification
from doable.reminders.schemas import NotificationOut

log = logging.getLogger("doable.events")

POLL_SECONDS = 5.0
LOOKBACK = timedelta(seconds=60)
# A stream ends after this long; the browser reconnects (and so re-authenticates).
MAX_STREAM_SECONDS = 900.0
MAX_STREAMS_PER_USER = 5
# How often the streams' credentials are checked (at most 30 s apart, the watch looking every
# 5 s): a backstop for revocations made by another process (this process's close the stream
# at once, through the event bus).
RECHECK_SECONDS = 25.0
RETRY_MS = 3000
# An idle stream sends a `: ping` comment this often, so proxies do not close it.
PING_SECONDS = 15.0
# What each item of the stream is, for the OpenAPI document (FastAPI writes the same for a
# generator route; the routes return the response themselves, see `sse_response`).
SSE_ITEM_SCHEMA = {
    "type": "object",
    "properties": {
        "data": {"type": "string"},
        "event": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
}
# At shutdown, clients are told to come back after a delay drawn from this range (ms).
RECONNECT_RETRY_MS = (500, 3000)


def _too_many() -> RateLimited:
    error = RateLimited(30)
    error.detail = (
        f"At most {MAX_STREAMS_PER_USER} event streams may be open per account; "
        "close a tab or try again later"
    )
    return error


async def open_subscription(
    database: Database, owner_id: uuid.UUID, credential: events.Credential | None = None
) -> events.Subscription:
    """A mailbox for one new stream, opened with `credential`, holding one of the account's
    stream leases; 429 past MAX_STREAMS_PER_USER open ones, whichever processes serve them."""
    try:
        sub = events.bus.subscribe(owner_id, limit=MAX_STREAMS_PER_USER, credential=credential)
    except events.TooManyStreams:
        raise _too_many() from None
    try:
        taken = await leases.acquire(database, sub, MAX_STREAMS_PER_USER)
    except BaseException:
        events.bus.unsubscribe(sub)
        raise
    if not taken:
        events.bus.unsubscribe(sub)
        raise _too_many()
    try:
        await _follow_shared(database, sub)
    except BaseException:
        events.bus.unsubscribe(sub)
        await leases.release(database, sub)
        raise
    return sub


async def _follow_shared(
    database: Database, sub: events.Subscription, change: events.Event | None = None
) -> None:
    """Read the projects shared with the stream's user (one index range), so their task
    events reach the stream. A membership `change` just announced wins over what the read
    says (a read replica may not have it yet)."""
    async with database.read_sessions() as session:
        ids = set((await session.scalars(access.shared_with(sub.owner_id))).all())
    project = events.project_of(change) if change is not None else None
    if change is not None and project is not None:
        if change.data.get("action") == "removed":
            ids.discard(project)
        else:
            ids.add(project)
    events.bus.follow(sub, frozenset(ids))


def _reconnect() -> ServerSentEvent:
    low, high = RECONNECT_RETRY_MS
    retry = random.randint(low, high)  # noqa: S311 (spreading reconnections, not a secret)
    return ServerSentEvent(event="reconnect", data={"reason": "shutdown"}, retry=retry)


async def _recent(database: Database, owner_id: uuid.UUID) -> list[Notification]:
    async with database.read_sessions() as session:
        return await service.notifications_since(session, owner_id, utcnow() - LOOKBACK, limit=500)


class StreamWatch:
    """The backstops for every stream of this process, so that an idle stream does no work of
    its own (a poll per stream cost 1,000 idle streams a fifth of a core, and their credential
    checks, bunched after a restart, quintupled other requests' p99).

    `look()`, every POLL_SECONDS: one read, for the users with a stream open here, of the
    notifications made over the last LOOKBACK (another process's row may commit after a later
    one). Each user with one not seen before gets a `notification` event on this process's
    bus, and their streams re-read as for any other.

    `check()`, every RECHECK_SECONDS: whether the credentials the streams were opened with still
    stand (auth.service.dead_credentials), should the relay have missed a revocation made by
    another process. A stream whose credential is gone is ended.
    """

    # Users or streams per read: well under every backend's limit on bound parameters.
    BATCH = 500

    def __init__(self) -> None:
        self.seen: dict[uuid.UUID, float] = {}

    async def look(self, database: Database) -> int:
        """One look at the notifications; how many users were woken."""
        owners = events.bus.owners()
        woken: set[uuid.UUID] = set()
        since = utcnow() - LOOKBACK
        now = time.monotonic()
        for first in range(0, len(owners), self.BATCH):
            async with database.request_reads() as session:
                rows = await service.notifications_of_since(
                    session, owners[first : first + self.BATCH], since
                )
            for notification_id, owner_id in rows:
                if notification_id not in self.seen:
                    self.seen[notification_id] = now
                    woken.add(owner_id)
        for owner_id in woken:
            events.bus.publish(events.Event("notification", owner_id))
        horizon = now - 2 * LOOKBACK.total_seconds()
        for key in [k for k, at in self.seen.items() if at < horizon]:
            del self.seen[key]
        return len(woken)

    async def check(self, database: Database) -> int:
        """One check of the streams' credentials; how many streams were ended."""
        subs = events.bus.subscriptions()
        ended = 0
        for first in range(0, len(subs), self.BATCH):
            batch = subs[first : first + self.BATCH]
            async with database.request_reads() as session:
                dead = await auth_service.dead_credentials(
                    session, [(sub.owner_id, sub.credential) for sub in batch]
                )
            for n in dead:
                batch[n].offer(events.Event("revoked", batch[n].owner_id, {"credential": "all"}))
            ended += len(dead)
        return ended

    async def run(self, database: Database) -> None:
        """Look and check, each at its interval, until cancelled (a task of the lifespan)."""
        next_check = time.monotonic() + RECHECK_SECONDS
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self.look(database)
            except Exception as exc:
                log.warning("event streams: cannot read notifications (%s)", type(exc).__name__)
            if time.monotonic() < next_check:
                continue
            next_check = time.monotonic() + RECHECK_SECONDS
            try:
                await self.check(database)
            except Exception as exc:  # the database is away: keep the streams, check later
                log.warning("event streams: cannot check credentials (%s)", type(exc).__name__)


def _encode(item: ServerSentEvent) -> bytes:
    data = json.dumps(item.data) if item.data is not None else None
    return format_sse_event(
        data_str=data, event=item.event, id=item.id, retry=item.retry, comment=item.comment
    )


class EventStreamResponse(StreamingResponse):
    """A stream of Server-Sent Events (not FastAPI's EventSourceResponse, which makes FastAPI
    take the route for a generator of events). The media type is given per response, not on
    the class: on the class, FastAPI would describe the body as one string in the OpenAPI
    document, and clients that read each event against it would reject every event; the
    route's own `itemSchema` describes them."""

    media_type = None


def sse_response(items: AsyncIterator[ServerSentEvent]) -> EventStreamResponse:
    """The stream as a response, each item in SSE's wire format.

    The routes return this rather than being generators themselves: for a generator route,
    FastAPI runs two more tasks and two memory streams per stream, to slip in its pings, and
    that was 21 KB of the 70 KB each idle stream cost. `event_stream` sends its own pings."""

    async def body() -> AsyncIterator[bytes]:
        async for item in items:
            yield _encode(item)

    # Cache-Control and X-Accel-Buffering (nginx must not buffer it), as FastAPI sets them.
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return EventStreamResponse(body(), headers=headers, media_type="text/event-stream")


async def event_stream(
    database: Database,
    sub: events.Subscription,
    *,
    max_seconds: float = MAX_STREAM_SECONDS,
) -> AsyncIterator[ServerSentEvent]:
    """The stream for `sub`. It ends when the credential it was opened with is revoked (at
    once through the event bus, which the relay feeds from other processes too; within
    RECHECK_SECONDS by the process's StreamWatch, should that have missed it) or expires, and
    after `max_seconds`."""
    owner_id = sub.owner_id
    sent: dict[uuid.UUID, float] = {}
    deadline = time.monotonic() + max_seconds
    expires_at = sub.credential.expires_at if sub.credential else None
    if expires_at is not None:
        deadline = min(deadline, time.monotonic() + expires_at - time.time())
    try:
        try:
            for n in await _recent(database, owner_id):
                sent[n.id] = time.monotonic()
        except Exception as exc:
            log.warning("event stream: cannot read notifications (%s)", type(exc).__name__)
        yield ServerSentEvent(event="ready", data={"poll_seconds": POLL_SECONDS}, retry=RETRY_MS)
        while True:
            if events.bus.stopping:
                yield _reconnect()
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            check = False
            items: list[events.Event] = []
            try:
                async with asyncio.timeout(min(remaining, PING_SECONDS)):
                    items.append(await sub.queue.get())
            except TimeoutError:
                if remaining > PING_SECONDS:
                    yield ServerSentEvent(comment="ping")
                continue
            while not sub.queue.empty():
                items.append(sub.queue.get_nowait())
            if sub.overflowed:
                sub.overflowed = False
                check = True
                yield ServerSentEvent(event="resync", data={})
            for item in items:
                if item.kind == "shutdown":
                    yield _reconnect()
                    return
                if item.kind == "revoked" and sub.revoked_by(item):
                    return
                if item.kind == "comment":
                    yield ServerSentEvent(event="comment", data=item.data)
                elif item.kind == "task":
                    # Checked again as it goes out: a removal delivered after this event
                    # was queued still keeps it from the stream.
                    if sub.sees(item):
                        yield ServerSentEvent(event="task", data=item.data)
                elif item.kind == "membership":
                    try:
                        await _follow_shared(database, sub, item)
                    except Exception as exc:  # keep what the event itself set
                        log.warning(
                            "event stream: cannot read memberships (%s)", type(exc).__name__
                        )
                    yield ServerSentEvent(event="membership", data=item.data)
                elif item.kind == "notification":
                    check = True
                elif item.kind == "resync":
                    check = True
                    yield ServerSentEvent(event="resync", data={})
            if not check:
                continue
            try:
                rows = await _recent(database, owner_id)
            except Exception as exc:
                log.warning("event stream: cannot read notifications (%s)", type(exc).__name__)
                continue
            for n in rows:
                if n.id in sent:
                    continue
                sent[n.id] = time.monotonic()
                yield ServerSentEvent(
                    event="notification",
                    id=str(n.id),
                    data=NotificationOut.from_row(n).model_dump(mode="json"),
                )
            horizon = time.monotonic() - 2 * LOOKBACK.total_seconds()
            for key in [k for k, at in sent.items() if at < horizon]:
                del sent[key]
    finally:
        events.bus.unsubscribe(sub)
        await leases.release(database, sub)
