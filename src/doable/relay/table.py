"""The polled relay, for backends without LISTEN/NOTIFY (SQLite with several workers,
MariaDB): envelopes are rows of `event_relay`, and each process reads the new ones every
EVENTS_POLL_MS.

Ids are read in order from the last one seen. A missing id (a writer whose transaction has not
committed yet, or rolled back) is looked for again for GAP_SECONDS, so a row that commits after
a later one is still delivered once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, func, insert, select

from doable.db import Database, utcnow
from doable.relay.models import RelayedEvent
from doable.relay.transport import Transport

KEEP = timedelta(seconds=60)  # rows older than this are deleted
CLEANUP_SECONDS = 30.0
GAP_SECONDS = 5.0
MAX_GAPS = 10_000
BATCH = 1000


class TableTransport(Transport):
    name = "database table"

    def __init__(
        self,
        database: Database,
        poll_seconds: float,
        on_envelope: Callable[[str | bytes], None],
        on_gap: Callable[[], None],
    ) -> None:
        super().__init__(on_envelope, on_gap)
        self._database = database
        self._poll = poll_seconds
        self._next_cleanup = 0.0

    async def listen(self, *, first: bool) -> None:
        async with self._database.read_sessions() as session:
            last = int(await session.scalar(select(func.max(RelayedEvent.id))) or 0)
        self._now_connected(first)
        gaps: dict[int, float] = {}
        while True:
            await asyncio.sleep(self._poll)
            floor = min(min(gaps) - 1, last) if gaps else last
            async with self._database.read_sessions() as session:
                rows = (
                    await session.execute(
                        select(RelayedEvent.id, RelayedEvent.payload)
                        .where(RelayedEvent.id > floor)
                        .order_by(RelayedEvent.id)
                        .limit(BATCH)
                    )
                ).all()
            now = time.monotonic()
            for row_id, payload in rows:
                if row_id in gaps:
                    del gaps[row_id]
                elif row_id > last:
                    for missing in range(last + 1, min(row_id, last + 1 + MAX_GAPS)):
                        gaps[missing] = now
                    last = row_id
                else:
                    continue  # seen already
                self.on_envelope(payload)
            for missing in [m for m, at in gaps.items() if now - at > GAP_SECONDS]:
                del gaps[missing]

    async def send(self, payload: str) -> None:
        now = utcnow()
        async with self._database.write_sessions() as session:
            await session.execute(insert(RelayedEvent).values(created_at=now, payload=payload))
            if time.monotonic() >= self._next_cleanup:
                self._next_cleanup = time.monotonic() + CLEANUP_SECONDS
                await session.execute(
                    delete(RelayedEvent).where(RelayedEvent.created_at < now - KEEP)
                )
            await session.commit()
