"""Where the login limits are counted (doable.ratelimit.counters): in the database, so that
processes on one PostgreSQL or MariaDB share one budget; in a file beside SQLite's database, so
that processes on one SQLite file do; in Redis when REDIS_URL is set; and in the database (or
the file) again while Redis does not answer. `doable serve --workers 2` on SQLite sharing the
limit is tests/test_scale_out.py's."""

from __future__ import annotations

import logging
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from doable.app import create_app
from doable.db import Database
from doable.ratelimit import rates
from doable.ratelimit.counters import (
    Counter,
    DatabaseCounter,
    MemoryCounter,
    RedisCounter,
    SqliteFileCounter,
    build_counter,
    sqlite_counter_path,
)
from tests.conftest import IN_CI, make_client, runtime_for, truncate_all
from tests.factories import make_account
from tests.server import free_port

TEN_A_MINUTE = rates.parse("10/minute")
REDIS = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(
    REDIS is None and not IN_CI, reason="redis-server is not installed (apt-get install)"
)


@pytest.fixture(autouse=True)
async def empty_counters(database: Database) -> AsyncIterator[None]:
    yield
    await truncate_all(database.engine)


async def hits(counter: Counter, n: int, key: str = "account:a@example.com") -> list[int | None]:
    return [await counter.hit(TEN_A_MINUTE, key) for _ in range(n)]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def shared_counter(database: Database, clock: Clock) -> Counter:
    """What a process on `database` counts with: the database itself, or SQLite's file."""
    if database.config.backend == "sqlite":
        return SqliteFileCounter(sqlite_counter_path(database.config), clock=clock)
    return DatabaseCounter(database, clock=clock)


async def test_processes_on_one_database_share_one_budget(database: Database) -> None:
    """Two counters, as two replicas (or workers) would have, on one database: ten hits in
    all, not each."""
    clock = Clock(1_800_000_000.0)  # the start of a minute
    first, second = shared_counter(database, clock), shared_counter(database, clock)
    assert await hits(first, 5) == [None] * 5
    assert await hits(second, 5) == [None] * 5
    # Refused until 11 hits weigh no more than 9 (one more is then the 10th): 10.9 s into the
    # next minute, and 15 s for 12.
    assert await hits(first, 1) == [71]
    assert await hits(second, 1) == [75]
    # Another key has its own budget.
    assert await hits(second, 10, key="account:b@example.com") == [None] * 10


async def test_the_window_slides(database: Database) -> None:
    """The previous minute counts for the part of it still within a minute of now."""
    clock = Clock(1_800_000_000.0 + 30)
    counter = shared_counter(database, clock)
    assert await hits(counter, 10) == [None] * 10
    clock.now += 45  # 15 s into the next minute: the last one weighs 45/60, 7.5 hits
    assert await hits(counter, 2) == [None, None]  # 7.5 + 2 = 9.5
    # 7.5 + 3 = 10.5: refused until 10 * weight + 4 <= 10, 24 s into the minute (9 s on).
    assert await hits(counter, 1) == [9]
    clock.now += 9
    assert await hits(counter, 1) == [None]  # 6 + 4 = 10
    clock.now += 51  # 15 s into the next minute: the last one (4 hits) weighs 45/60, 3
    assert await hits(counter, 7) == [None] * 7  # 3 + 7 = 10
    # 3 + 8 = 11: refused until 4 * weight + 9 <= 10, 45 s into the minute (30 s on).
    assert await hits(counter, 1) == [30]
    clock.now += 30
    assert await hits(counter, 1) == [None]  # 1 + 9 = 10


async def test_sqlite_counts_in_a_file_of_its_own(database: Database) -> None:
    """On SQLite a hit writes the counter file beside the database, never the database: the
    database's one write lock may be held by the request whose password is being checked."""
    if database.config.backend != "sqlite":
        pytest.skip("PostgreSQL and MariaDB count in their rate_limit_hits table")
    built = build_counter(None, database)
    assert isinstance(built, SqliteFileCounter)
    assert built.path == Path(f"{database.config.url.database}-ratelimit")
    start = 1_800_000_000  # the start of a minute
    counter = SqliteFileCounter(built.path, clock=Clock(start))
    async with database.write_sessions() as session:
        # This process holds the database's write lock (as a request that has written does)
        # while it counts: the count does not wait for it.
        await session.execute(text("DELETE FROM rate_limit_hits"))
        assert await hits(counter, 10) == [None] * 10
        assert await hits(counter, 1) == [71]
        await session.rollback()
    async with database.read_sessions() as session:
        rows = (await session.execute(text("SELECT count(*) FROM rate_limit_hits"))).scalar()
    assert rows == 0
    with sqlite3.connect(counter.path) as file:
        [(bucket, stored)] = file.execute(
            "SELECT bucket, hits FROM rate_limit_hits WHERE window_start = ?", (start,)
        ).fetchall()
    assert stored == 11 and "example.com" not in bucket  # a digest, not the email


async def test_an_unusable_counter_file_counts_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A counter file that cannot be opened (here a folder is in its place) leaves the limits
    counted in this process's memory, with one warning, not a 500 per login."""
    (tmp_path / "doable.db-ratelimit").mkdir()
    counter = SqliteFileCounter(tmp_path / "doable.db-ratelimit")
    with caplog.at_level(logging.WARNING, logger="doable.ratelimit"):
        assert await hits(counter, 10) == [None] * 10
        [refused] = await hits(counter, 1)
    assert refused is not None
    warnings = [r.getMessage() for r in caplog.records if r.name == "doable.ratelimit"]
    assert len(warnings) == 1, warnings
    assert "counts the limits in its own memory" in warnings[0]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if REDIS is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    folder: Path = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)],
        stdout=(folder / "out").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, (folder / "out").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (folder / "out").read_text()
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


@needs_redis
async def test_redis_counts_for_every_process(redis_url: str, database: Database) -> None:
    first, second = build_counter(redis_url, database), build_counter(redis_url, database)
    assert isinstance(first, RedisCounter)
    key = f"account:{time.time_ns()}@example.com"
    assert await hits(first, 6, key) == [None] * 6
    assert await hits(second, 4, key) == [None] * 4
    [refused] = await hits(first, 1, key)
    assert refused is not None and 1 <= refused <= 60


@pytest.mark.parametrize("storage", ["database", "memory"])
async def test_while_redis_is_down_the_fallback_counts(
    database: Database, storage: str, caplog: pytest.LogCaptureFixture
) -> None:
    fallback: Counter = (
        shared_counter(database, Clock(1_800_000_000.0))
        if storage == "database"
        else MemoryCounter()
    )
    # Nothing listens there: every Redis call fails at once, and the fallback counts.
    counter = RedisCounter(f"redis://127.0.0.1:{free_port()}/0", fallback=fallback)
    with caplog.at_level(logging.WARNING, logger="doable.ratelimit"):
        assert await hits(counter, 10) == [None] * 10
        [refused] = await hits(counter, 1)
    assert refused is not None
    warnings = [r.getMessage() for r in caplog.records if r.name == "doable.ratelimit"]
    # Said once, not once per hit.
    assert warnings == [
        "Redis did not answer (StorageError); rate limits are counted by the fallback"
    ]


@needs_redis
async def test_login_limit_through_the_api_with_redis(
    redis_url: str, database: Database, data_dir: Path
) -> None:
    runtime = runtime_for(
        database, data_dir, REDIS_URL=redis_url, AUTH_ACCOUNT_RATE_LIMIT="3/minute"
    )
    app = create_app(runtime, database)
    async with make_client(app) as client:
        acct = await make_account(client)
        statuses = []
        for _ in range(5):
            r = await client.post(
                "/api/v1/auth/login", json={"email": acct.email, "password": "wrong password"}
            )
            statuses.append(r.status_code)
    assert statuses == [401, 401, 401, 429, 429]


RATE_STRINGS = [
    *("30/minute", "10 per minute", "10/2 minutes", "5 per 3 hours", "1/second", "100/day"),
    *("7/Month", "2/YEARS", " 10 / minute ", "10/minute;5/second", "10/0 minute", "3 per hour"),
    *("", "minute", "10/", "ten/minute", "10/fortnight", "10/minute;", "-1/minute", "10//min"),
    *("10/minute/hour", "1e3/second", "10 minute", "\u0661\u0660/minute", "10/minute\n"),
    *("10/minute;5/fortnight", "10/minute|5/second,1 per day"),
]


@pytest.mark.parametrize("text", RATE_STRINGS)
def test_a_rate_reads_as_limits_reads_it(text: str) -> None:
    # doable.ratelimit.rates stands in for limits.parse at start; a setting must mean the same
    # to both, and name the same bucket, so counts stored before an upgrade carry over.
    import limits

    try:
        theirs = limits.parse(text)
    except ValueError:
        with pytest.raises(ValueError, match=r"rate limit string|granularity"):
            rates.parse(text)
        return
    ours = rates.parse(text)
    assert (ours.amount, ours.multiples, ours.get_expiry()) == (
        theirs.amount,
        theirs.multiples,
        theirs.get_expiry(),
    )
    assert ours.key_for("ip:203.0.113.9") == theirs.key_for("ip:203.0.113.9")
    assert ours.item == theirs
