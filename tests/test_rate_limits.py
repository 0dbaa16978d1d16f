"""Where the login limits are counted (doable.ratelimit.counters): in the database, so that
processes on one PostgreSQL or MariaDB share one budget; in Redis when REDIS_URL is set; and in
the database (or memory) again while Redis does not answer."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import limits
import pytest

from doable.app import create_app
from doable.db import Database
from doable.ratelimit.counters import (
    Counter,
    DatabaseCounter,
    MemoryCounter,
    RedisCounter,
    build_counter,
)
from tests.conftest import IN_CI, make_client, runtime_for, truncate_all
from tests.factories import make_account
from tests.server import free_port

TEN_A_MINUTE = limits.parse("10/minute")
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


async def test_processes_on_one_database_share_one_budget(database: Database) -> None:
    """Two counters, as two replicas would have, on one database: ten hits in all, not each."""
    clock = Clock(1_800_000_000.0)  # the start of a minute
    first, second = DatabaseCounter(database, clock=clock), DatabaseCounter(database, clock=clock)
    assert await hits(first, 5) == [None] * 5
    assert await hits(second, 5) == [None] * 5
    assert await hits(first, 1) == [60]
    assert await hits(second, 1) == [60]
    # Another key has its own budget.
    assert await hits(second, 10, key="account:b@example.com") == [None] * 10


async def test_the_window_slides(database: Database) -> None:
    """The previous minute counts for the part of it still within a minute of now."""
    clock = Clock(1_800_000_000.0 + 30)
    counter = DatabaseCounter(database, clock=clock)
    assert await hits(counter, 10) == [None] * 10
    clock.now += 45  # 15 s into the next minute: the last one weighs 45/60, 7.5 hits
    assert await hits(counter, 2) == [None, None]  # 7.5 + 2 = 9.5
    assert await hits(counter, 1) == [45]  # 7.5 + 3 = 10.5
    clock.now += 60  # a minute on: the first minute is gone, the second (3 hits) weighs 45/60
    assert await hits(counter, 8) == [None] * 7 + [45]  # 2.25 + 7 = 9.25; 2.25 + 8 = 10.25


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
    if storage == "database" and database.config.backend == "sqlite":
        pytest.skip("SQLite counts in memory")
    fallback: Counter = DatabaseCounter(database) if storage == "database" else MemoryCounter()
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
