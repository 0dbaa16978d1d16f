"""PostgreSQL LISTEN/NOTIFY: one direct connection per process listens, and sends the
process's own envelopes with pg_notify (delivered to every listener once that call commits,
which it does at once: it runs in autocommit)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text

from doable.config import DatabaseConfig
from doable.db import Database
from doable.relay.transport import Transport

CHANNEL = "doable_events"
# How often an idle listening connection is checked (a dead one is otherwise noticed only
# when something is sent).
PING_SECONDS = 10.0


class PostgresTransport(Transport):
    name = "PostgreSQL"

    def __init__(
        self,
        config: DatabaseConfig,
        database: Database,
        on_envelope: Callable[[str | bytes], None],
        on_gap: Callable[[], None],
    ) -> None:
        super().__init__(on_envelope, on_gap)
        self._config = config
        self._database = database
        self._conn: Any = None
        self._lock = asyncio.Lock()  # one operation at a time on the connection

    async def listen(self, *, first: bool) -> None:
        url = self._config.url.set(drivername="postgresql")
        lost = asyncio.Event()
        conn = await asyncpg.connect(
            url.render_as_string(hide_password=False),
            ssl=self._config.connect_args.get("ssl"),
            timeout=5,
            statement_cache_size=0,  # nothing to cache; and harmless through a pooler
            server_settings={"application_name": "doable-events"},
        )
        self._conn = conn
        conn.add_termination_listener(lambda _c: lost.set())
        await conn.add_listener(CHANNEL, self._notified)
        self._now_connected(first)
        while not lost.is_set():
            try:
                await asyncio.wait_for(lost.wait(), PING_SECONDS)
            except TimeoutError:
                async with self._lock:
                    await asyncio.wait_for(conn.execute("SELECT 1"), 5)
        raise ConnectionError("the listening connection closed")

    def _notified(self, conn: Any, pid: int, _channel: str, payload: str) -> None:
        # PostgreSQL tells its listeners which backend notified: this connection's NOTIFYs
        # are this process's own envelopes (one per committed change), skipped unread.
        if pid != conn.get_server_pid():
            self.on_envelope(payload)

    async def send(self, payload: str) -> None:
        conn = self._conn
        if conn is not None and not conn.is_closed() and self.connected.is_set():
            try:
                async with self._lock:  # asyncpg's own timeout: cheaper than wait_for's task
                    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload, timeout=5)
                return
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pass  # the listening loop notices and reconnects; send through the pool
        # The listening connection is down: NOTIFY works through the pool as well, a pooler
        # included, so the others still hear this process.
        async with self._database.request_reads() as session:
            await session.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {"channel": CHANNEL, "payload": payload},
            )
            # Behind a transaction pooler the session is a transaction, and a NOTIFY is
            # delivered only when it commits (in autocommit this changes nothing).
            await session.commit()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()
