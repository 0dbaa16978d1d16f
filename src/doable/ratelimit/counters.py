"""Where rate-limit hits are counted: one process's memory, the database, or Redis.

Each counter answers a hit with None (allowed) or the seconds to wait (refused).

- `MemoryCounter`: `limits`' moving window in this process. What SQLite uses: one process
  serves it, and a counter in the database would take SQLite's one write lock on every login.
- `DatabaseCounter`: a sliding window over two fixed windows, one upsert per hit in a short
  transaction of its own, so every worker and replica on one PostgreSQL or MariaDB shares one
  budget without another service.
- `RedisCounter`: `limits.aio`'s moving window on Redis (REDIS_URL), imported only then. When
  Redis does not answer, the hit is counted by the fallback counter (the database, or memory on
  SQLite) instead, so the limits keep holding while Redis is down.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

from limits import RateLimitItem
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import Table, delete, select
from sqlalchemy.exc import DBAPIError

from doable.ratelimit.models import RateLimitHit

if TYPE_CHECKING:
    from doable.db import Database

log = logging.getLogger("doable.ratelimit")

# How long Redis may take to answer before a hit falls back (seconds).
REDIS_TIMEOUT_S = 0.5
# How often a process deletes the database's finished windows (seconds).
SWEEP_EVERY_S = 60.0


class Counter(Protocol):
    async def hit(self, item: RateLimitItem, key: str) -> int | None:
        """Count one hit of `key` against `item`: None if allowed, else seconds to wait."""
        ...


class MemoryCounter:
    """`limits`' moving window in this process's memory. Its synchronous API is fine here: it
    only touches a dict (limits.aio is imported only for Redis, to keep it off the start-up)."""

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def hit(self, item: RateLimitItem, key: str) -> int | None:
        if self._limiter.hit(item, key):
            return None
        stats = self._limiter.get_window_stats(item, key)
        return max(1, math.ceil(stats.reset_time - time.time()))


def bucket_of(item: RateLimitItem, key: str) -> str:
    """The row key of `key` under `item`: a digest, so no address or email is stored."""
    return hashlib.sha256(item.key_for(key).encode()).hexdigest()


_DEADLOCK_CODES = {1213}  # MariaDB; PostgreSQL's upserts of one row do not deadlock


class DatabaseCounter:
    """A sliding window counter in the `rate_limit_hits` table.

    A hit adds one to the current fixed window's row (one upsert) and reads the previous
    window's row; the count is the previous window's hits, weighted by how much of it still
    lies within one period of now, plus the current window's. Refused hits count too: a
    client that keeps guessing stays refused until it pauses.
    """

    def __init__(self, database: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._database = database
        self._clock = clock
        self._next_sweep = 0.0

    async def hit(self, item: RateLimitItem, key: str) -> int | None:
        now = self._clock()
        period = item.get_expiry()
        window = int(now // period) * period
        bucket = bucket_of(item, key)
        for attempt in range(3):
            try:
                current, previous = await self._count(bucket, window, period, now)
                break
            except DBAPIError as exc:
                code = getattr(exc.orig, "args", (None,))[0]
                if attempt == 2 or code not in _DEADLOCK_CODES:
                    raise
        weight = (period - (now - window)) / period
        if previous * weight + current <= item.amount:
            return None
        return max(1, math.ceil(window + period - now))

    async def _count(self, bucket: str, window: int, period: int, now: float) -> tuple[int, int]:
        table = cast(Table, RateLimitHit.__table__)
        backend = self._database.config.backend
        values: dict[str, Any] = {"bucket": bucket, "window_start": window, "hits": 1}
        async with self._database.unit_of_work(write=True) as session:
            if backend == "mysql":
                from sqlalchemy.dialects import mysql

                await session.execute(
                    mysql.insert(table)
                    .values(values)
                    .on_duplicate_key_update(hits=table.c.hits + 1)
                )
                current = None
            else:
                from sqlalchemy.dialects import postgresql, sqlite

                dialect_insert = postgresql.insert if backend == "postgresql" else sqlite.insert
                upsert = dialect_insert(table).values(values)
                upsert = upsert.on_conflict_do_update(
                    index_elements=[table.c.bucket, table.c.window_start],
                    set_={"hits": table.c.hits + 1},
                )
                current = (await session.execute(upsert.returning(table.c.hits))).scalar_one()
            rows = dict(
                (
                    await session.execute(
                        select(table.c.window_start, table.c.hits).where(
                            table.c.bucket == bucket,
                            table.c.window_start.in_([window - period, window]),
                        )
                    )
                ).all()
            )
            if now >= self._next_sweep:
                self._next_sweep = now + SWEEP_EVERY_S
                # Windows that ended more than a day ago count for nothing (no limit here is
                # longer than a day; a longer one's old windows are only counted less).
                await session.execute(
                    delete(table).where(table.c.window_start < int(now) - 2 * 86400)
                )
        if current is None:
            current = rows.get(window, 1)
        return current, rows.get(window - period, 0)


def _redis_failures() -> tuple[type[BaseException], ...]:
    from limits.errors import StorageError

    return (StorageError, ConnectionError, TimeoutError, OSError)


class RedisCounter:
    """`limits.aio`'s moving window on Redis; `fallback` counts while Redis does not answer."""

    def __init__(self, url: str, fallback: Counter) -> None:
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import MovingWindowRateLimiter

        # limits names its asynchronous schemes async+redis:// and async+rediss://.
        storage = RedisStorage(
            f"async+{url}",
            implementation="redispy",
            wrap_exceptions=True,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
        )
        self._limiter = MovingWindowRateLimiter(storage)
        self._fallback = fallback
        self._failures = _redis_failures()
        self._warned_at = -math.inf

    async def hit(self, item: RateLimitItem, key: str) -> int | None:
        try:
            if await self._limiter.hit(item, key):
                return None
            stats = await self._limiter.get_window_stats(item, key)
            return max(1, math.ceil(stats.reset_time - time.time()))
        except self._failures as exc:
            if time.monotonic() - self._warned_at > 60:
                self._warned_at = time.monotonic()
                log.warning(
                    "Redis did not answer (%s); rate limits are counted by the fallback",
                    type(exc).__name__,
                )
            return await self._fallback.hit(item, key)


def build_counter(redis_url: str | None, database: Database | None) -> Counter:
    """Redis when REDIS_URL is set; else the database on PostgreSQL and MariaDB; else memory."""
    shared: Counter = MemoryCounter()
    if database is not None and database.config.backend != "sqlite":
        shared = DatabaseCounter(database)
    if redis_url:
        return RedisCounter(redis_url, fallback=shared)
    return shared
