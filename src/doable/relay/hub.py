"""The relay: forwards what this process's event bus publishes after a commit to the other
processes, and publishes what they forward on this process's bus.

Transports, by configuration:
- PostgreSQL: LISTEN/NOTIFY on one direct connection (EVENTS_DATABASE_URL or DATABASE_URL).
- SQLite and MariaDB: the `event_relay` table, polled every EVENTS_POLL_MS.
- REDIS_URL set: Redis pub/sub first; while a send to Redis fails, envelopes go through the
  database transport instead, which every process keeps listening to for that reason.

Sending happens in one task per process, after the commit that made the change: the commit
itself never waits for another process. An event is delivered at most once per transport; a
transport that lost its connection makes every local stream `resync` once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable

from doable.config import RuntimeConfig
from doable.db import Database
from doable.events import Event, EventBus
from doable.relay.envelope import pack, sent_at, unpack
from doable.relay.transport import Transport

log = logging.getLogger("doable.relay")

QUEUE_SIZE = 10_000
BATCH = 500
# After a failed send to Redis, go straight to the database for this long before trying again.
PRIMARY_RETRY_SECONDS = 5.0
FLUSH_SECONDS = 2.0


class Relay:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.origin = uuid.uuid4().hex
        self.primary: Transport | None = None
        self.fallback: Transport | None = None
        self._queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        self._sender: asyncio.Task[None] | None = None
        self._primary_down_until = 0.0
        self._overflowed = False
        self.sent = 0
        self.received = 0
        # Called with the seconds each envelope from another process took to arrive (from
        # its send to its receipt; the two clocks must agree), e.g. by a metrics exporter.
        self.lag_observer: Callable[[float], None] | None = None

    @property
    def transports(self) -> list[Transport]:
        return [t for t in (self.primary, self.fallback) if t is not None]

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        await asyncio.gather(*(t.start() for t in self.transports))
        self._sender = asyncio.create_task(self._send_loop(), name="doable-relay-sender")
        self.bus.forwarder = self.forward
        log.info(
            "events across processes: %s",
            " then ".join(t.name for t in self.transports),
        )

    async def stop(self) -> None:
        """Stop forwarding; what was queued goes out first (for up to FLUSH_SECONDS)."""
        if self.bus.forwarder == self.forward:
            self.bus.forwarder = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), FLUSH_SECONDS)
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        await asyncio.gather(*(t.stop() for t in self.transports), return_exceptions=True)

    def forward(self, item: Event) -> None:
        """Queue `item` for the other processes (from any thread; never blocks)."""
        if self._loop is None:
            return
        if threading.get_ident() == self._thread:
            self._offer(item)
        else:
            self._loop.call_soon_threadsafe(self._offer, item)

    def _offer(self, item: Event) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._overflowed = True

    def received_envelope(self, payload: str | bytes) -> None:
        origin, items = unpack(payload)
        if origin == self.origin or not origin:
            return
        self.received += len(items)
        at = sent_at(payload)
        if self.lag_observer is not None and at is not None:
            self.lag_observer(max(0.0, time.time() - at))
        for item in items:
            if item.kind == "resync" and item.owner_id is None:
                self.bus.resync_all()
            else:
                self.bus.publish(item)

    async def _send_loop(self) -> None:
        while True:
            items = [await self._queue.get()]
            while len(items) < BATCH and not self._queue.empty():
                items.append(self._queue.get_nowait())
            count = len(items)
            if self._overflowed:  # some events never left: every stream everywhere resyncs
                self._overflowed = False
                items = [Event("resync", None)]
            for payload in pack(self.origin, items, time.time()):
                await self._send(payload)
            self.sent += count
            for _ in range(count):
                self._queue.task_done()

    async def _send(self, payload: str) -> None:
        target = self.primary
        if self.fallback is not None and time.monotonic() < self._primary_down_until:
            target = self.fallback
        for transport in (target, self.fallback):
            if transport is None:
                continue
            try:
                await transport.send(payload)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if transport is self.primary and self.fallback is not None:
                    if time.monotonic() >= self._primary_down_until:
                        log.warning(
                            "relay: cannot send through %s (%s); using %s for %g s",
                            transport.name,
                            type(exc).__name__,
                            self.fallback.name,
                            PRIMARY_RETRY_SECONDS,
                        )
                    self._primary_down_until = time.monotonic() + PRIMARY_RETRY_SECONDS
                    continue
                log.warning(
                    "relay: cannot send through %s (%s); other processes miss these events",
                    transport.name,
                    type(exc).__name__,
                )
                return


def redis_channel(runtime: RuntimeConfig) -> str:
    """One channel per database, so two installations sharing a Redis never hear each
    other (the password is not part of what is hashed)."""
    target = runtime.database.url.set(password=None).render_as_string(hide_password=False)
    return "doable:events:" + hashlib.sha256(target.encode()).hexdigest()[:16]


def build_relay(runtime: RuntimeConfig, database: Database, bus: EventBus) -> Relay:
    relay = Relay(bus)
    on_envelope = relay.received_envelope
    on_gap = bus.resync_all
    settings = runtime.settings
    db_transport: Transport
    if database.config.backend == "postgresql":
        from doable.relay.postgres import PostgresTransport

        db_transport = PostgresTransport(
            runtime.events_database or database.config, database, on_envelope, on_gap
        )
    else:
        from doable.relay.table import TableTransport

        db_transport = TableTransport(database, settings.events_poll_ms / 1000, on_envelope, on_gap)
    if settings.redis_url:
        from doable.relay.redis_relay import RedisTransport

        relay.primary = RedisTransport(
            settings.redis_url, redis_channel(runtime), on_envelope, on_gap
        )
        relay.fallback = db_transport
    else:
        relay.primary = db_transport
    return relay
