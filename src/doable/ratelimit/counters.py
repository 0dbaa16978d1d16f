"""Where rate-limit hits are counted: a file beside SQLite's, the database, Redis, or memory.

Each counter answers a hit with None (allowed) or the seconds to wait (refused).

- `DatabaseCounter`: a sliding window over two fixed windows, one upsert per hit in a short
  transaction of its own, so every worker and replica on one PostgreSQL or MariaDB shares one
  budget without another service.
- `SqliteFileCounter`: the same window in a small SQLite file of its own beside SQLite's
  database (`<database>-ratelimit`), so the workers of `doable serve --workers N`, and any
  other process on that file, share one budget. Not in the database itself: a hit would take
  its one write lock, and a password check can come while the request already holds it (a
  password change after a web session's "last seen" write), which would wait for itself.
- `RedisCounter`: `limits.aio`'s moving window on Redis (REDIS_URL), imported only then. When
  Redis does not answer, the hit is counted by the fallback counter (the database, or the
  SQLite file) instead, so the limits keep holding while Redis is down.
- `MemoryCounter`: `limits`' moving window in this process: CLI commands, which have no
  database, and the fallback while SQLite's counter file cannot be written.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateIndex, CreateTable

from doable.ratelimit.models import RateLimitHit
from doable.ratelimit.rates import Rate

if TYPE_CHECKING:
    from doable.config import DatabaseConfig
    from doable.db import Database

log = logging.getLogger("doable.ratelimit")

# How long Redis may take to answer before a hit falls back (seconds).
REDIS_TIMEOUT_S = 0.5
# How often a process deletes the database's finished windows (seconds).
SWEEP_EVERY_S = 60.0
# Windows that ended more than this long ago count for nothing (no limit here is longer than a
# day; a longer one's old windows are only counted less).
KEEP_WINDOWS_S = 2 * 86400
# How long a hit waits for another process's hold on SQLite's counter file (seconds).
SQLITE_COUNTER_TIMEOUT_S = 5.0


class Counter(Protocol):
    async def hit(self, item: Rate, key: str) -> int | None:
        """Count one hit of `key` against `item`: None if allowed, else seconds to wait."""
        ...


class MemoryCounter:
    """`limits`' moving window in this process's memory. Its synchronous API is fine here: it
    only touches a dict. `limits` is imported on the first hit, not at start (doable.ratelimit.
    rates says why): a server on SQLite holds one of these only as a fallback."""

    def __init__(self) -> None:
        self._limiter: Any = None

    async def hit(self, item: Rate, key: str) -> int | None:
        if self._limiter is None:
            from limits.storage import MemoryStorage
            from limits.strategies import MovingWindowRateLimiter

            self._limiter = MovingWindowRateLimiter(MemoryStorage())
        if self._limiter.hit(item.item, key):
            return None
        reset_time: float = self._limiter.get_window_stats(item.item, key).reset_time
        return max(1, math.ceil(reset_time - time.time()))


def bucket_of(item: Rate, key: str) -> str:
    """The row key of `key` under `item`: a digest, so no address or email is stored."""
    return hashlib.sha256(item.key_for(key).encode()).hexdigest()


def _wait(amount: int, period: int, elapsed: float, current: int, previous: int) -> int:
    """Seconds until one more hit would be allowed if none comes meanwhile, `elapsed` seconds
    into a window that holds `current` hits after one that held `previous`.

    Within this window the previous one's weight falls until `previous * weight + current + 1`
    is within `amount`; if that cannot happen before the window ends, this window's hits weigh
    less as the next one passes. So after a burst the wait can reach two periods: Retry-After
    then says when a retry is allowed, not merely when the window turns (a retry sent then
    would be refused again, and counted)."""
    needed: float | None = None  # seconds since this window's start
    if previous and current + 1 <= amount:
        within = period * (1 - (amount - current - 1) / previous)
        if within < period:
            needed = within
    if needed is None:
        needed = period + period * max(0.0, 1 - (amount - 1) / current)
    return max(1, math.ceil(needed - elapsed))


class _SlidingWindow:
    """A sliding window counter over stored fixed windows (`_count` says how they are stored).

    A hit adds one to the current fixed window's row and reads the previous window's row; the
    count is the previous window's hits, weighted by how much of it still lies within one period
    of now, plus the current window's. Refused hits count too: a client that keeps guessing
    stays refused until it pauses.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.time, fallback: Counter | None = None
    ) -> None:
        self._clock = clock
        self._fallback = fallback
        self._next_sweep = 0.0

    async def hit(self, item: Rate, key: str) -> int | None:
        now = self._clock()
        period = item.get_expiry()
        window = int(now // period) * period
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + SWEEP_EVERY_S
        counts = await self._count(bucket_of(item, key), window, period, now, sweep)
        if counts is None:
            assert self._fallback is not None, "a store that can fail needs a fallback"
            return await self._fallback.hit(item, key)
        current, previous = counts
        weight = (period - (now - window)) / period
        if previous * weight + current <= item.amount:
            return None
        return _wait(item.amount, period, now - window, current, previous)

    async def _count(
        self, bucket: str, window: int, period: int, now: float, sweep: bool
    ) -> tuple[int, int] | None:
        """Add one to `bucket`'s window starting at `window`: (its hits, the previous
        window's), or None when the store cannot be reached and `_fallback` counts instead."""
        raise NotImplementedError


_DEADLOCK_CODES = {1213}  # MariaDB; PostgreSQL's upserts of one row do not deadlock


class DatabaseCounter(_SlidingWindow):
    """The sliding window in the `rate_limit_hits` table: one upsert and one read per hit, in a
    short transaction of its own (PostgreSQL and MariaDB; SQLite's is `SqliteFileCounter`)."""

    def __init__(self, database: Database, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self._database = database

    async def _count(
        self, bucket: str, window: int, period: int, now: float, sweep: bool
    ) -> tuple[int, int]:
        for attempt in range(3):
            try:
                return await self._count_once(bucket, window, period, now, sweep)
            except DBAPIError as exc:
                code = getattr(exc.orig, "args", (None,))[0]
                if attempt == 2 or code not in _DEADLOCK_CODES:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _count_once(
        self, bucket: str, window: int, period: int, now: float, sweep: bool
    ) -> tuple[int, int]:
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
            if sweep:
                await session.execute(
                    delete(table).where(table.c.window_start < int(now) - KEEP_WINDOWS_S)
                )
        if current is None:
            current = rows.get(window, 1)
        return current, rows.get(window - period, 0)


def sqlite_counter_path(config: DatabaseConfig) -> Path:
    """Where SQLite's rate-limit counters live: a file beside the database, named after it."""
    return Path(f"{config.url.database}-ratelimit")


def _sqlite_counter_schema() -> list[str]:
    """The counter file's tables: `rate_limit_hits` as the migrations make it elsewhere."""
    table = cast(Table, RateLimitHit.__table__)
    dialect = sqlite_dialect.dialect()
    return [
        str(CreateTable(table, if_not_exists=True).compile(dialect=dialect)),
        *(
            str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect))
            for index in table.indexes
        ),
    ]


_UPSERT = (
    "INSERT INTO rate_limit_hits (bucket, window_start, hits) VALUES (?, ?, 1) "
    "ON CONFLICT (bucket, window_start) DO UPDATE SET hits = hits + 1 RETURNING hits"
)
_PREVIOUS = "SELECT hits FROM rate_limit_hits WHERE bucket = ? AND window_start = ?"
_SWEEP = "DELETE FROM rate_limit_hits WHERE window_start < ?"


class SqliteFileCounter(_SlidingWindow):
    """The sliding window in a small SQLite file of its own (`sqlite_counter_path`), shared by
    every process on this host that uses the same database file.

    A hit is one short write transaction on that file (an upsert and a read), run on a thread
    so the event loop never waits on the file's lock. The file holds digests only, and nothing
    that must survive: deleting it (while Doable is stopped) resets the counts. When it cannot
    be opened or written, hits are counted in this process's memory, with one warning a minute.
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock, fallback=MemoryCounter())
        self.path = path
        self._lock = threading.Lock()  # one transaction at a time on the shared connection
        self._conn: sqlite3.Connection | None = None
        self._warned_at = -math.inf

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=SQLITE_COUNTER_TIMEOUT_S,
            isolation_level=None,  # transactions are ours: BEGIN IMMEDIATE … COMMIT
            check_same_thread=False,  # used from the loop's worker threads, one at a time
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # Counts need no durability: losing the last hits to a power cut costs nothing.
            conn.execute("PRAGMA synchronous=OFF")
            for statement in _sqlite_counter_schema():
                conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        # Closed with the counter (each app builds one), not left to the collector.
        weakref.finalize(self, conn.close)
        return conn

    def _count_now(
        self, bucket: str, window: int, period: int, now: float, sweep: bool
    ) -> tuple[int, int]:
        with self._lock:
            if self._conn is None:
                self._conn = self._connect()
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                current = conn.execute(_UPSERT, (bucket, window)).fetchone()[0]
                previous = conn.execute(_PREVIOUS, (bucket, window - period)).fetchone()
                if sweep:
                    conn.execute(_SWEEP, (int(now) - KEEP_WINDOWS_S,))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return int(current), int(previous[0]) if previous else 0

    async def _count(
        self, bucket: str, window: int, period: int, now: float, sweep: bool
    ) -> tuple[int, int] | None:
        try:
            return await asyncio.to_thread(self._count_now, bucket, window, period, now, sweep)
        except sqlite3.Error as exc:
            if time.monotonic() - self._warned_at > 60:
                self._warned_at = time.monotonic()
                log.warning(
                    "the rate-limit counter file %s cannot be used (%s: %s); this process "
                    "counts the limits in its own memory meanwhile",
                    self.path,
                    type(exc).__name__,
                    exc,
                )
            return None


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

    async def hit(self, item: Rate, key: str) -> int | None:
        try:
            if await self._limiter.hit(item.item, key):
                return None
            stats = await self._limiter.get_window_stats(item.item, key)
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
    """Redis when REDIS_URL is set; else the database on PostgreSQL and MariaDB, the counter
    file beside SQLite's; memory without a database (CLI commands)."""
    shared: Counter = MemoryCounter()
    if database is not None:
        if database.config.backend == "sqlite":
            shared = SqliteFileCounter(sqlite_counter_path(database.config))
        else:
            shared = DatabaseCounter(database)
    if redis_url:
        return RedisCounter(redis_url, fallback=shared)
    return shared
