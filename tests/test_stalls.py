"""A stalled database answers 503, not 500: a pool that runs dry, and a row held locked while its
owner keeps writing to it and other users keep reading (DB_POOL_TIMEOUT, DB_LOCK_TIMEOUT_MS)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout

from doable.app import create_app
from doable.db import Database, Timeouts
from tests.conftest import make_client, runtime_for, truncate_all
from tests.factories import assert_problem, make_account, make_task

TASKS = "/api/v1/tasks"


@pytest.fixture
async def stalling(
    database: Database, data_dir: Path
) -> AsyncIterator[tuple[Database, httpx.AsyncClient]]:
    """An app of its own on the session's database, with a small pool and short waits."""
    db = Database(
        database.config, pool_size=2, timeouts=Timeouts(pool_s=2.0, statement_ms=0, lock_ms=500)
    )
    try:
        async with make_client(create_app(runtime_for(database, data_dir), db)) as client:
            yield db, client
    finally:
        await db.dispose()
        await truncate_all(database.engine)


async def test_a_pool_that_runs_dry_answers_503_with_retry_after(
    stalling: tuple[Database, httpx.AsyncClient],
) -> None:
    db, client = stalling
    acct = await make_account(client)
    async with AsyncExitStack() as held:
        # Take every connection the pool will give (its size and overflow), until it refuses.
        with pytest.raises(PoolTimeout):
            for _ in range(100):
                await held.enter_async_context(db.engine.connect())
        r = await client.get(TASKS, headers=acct.headers)
        assert assert_problem(r, 503)["detail"] == "The database is unavailable; try again shortly."
        assert r.headers["Retry-After"] == "5"
    r = await client.get(TASKS, headers=acct.headers)
    assert r.status_code == 200, r.text


async def test_a_row_locked_elsewhere_stalls_only_its_writers(
    stalling: tuple[Database, httpx.AsyncClient], database: Database
) -> None:
    """One task row is held locked (as a stuck transaction or a long batch would) while its
    owner sends more writes to it than the pool has connections, and another user reads. The
    owner's writes give up at the lock timeout with 503; the other user's reads all answer."""
    if database.config.backend == "sqlite":
        pytest.skip("SQLite has no row locks: its writers wait for the database's one lock")
    _, client = stalling
    owner, other = await make_account(client), await make_account(client)
    task = await make_task(client, owner, title="locked")
    for n in range(3):
        await make_task(client, other, title=f"other {n}")

    async with database.engine.connect() as locker:
        await locker.execute(
            text("SELECT id FROM tasks WHERE title = 'locked' FOR UPDATE")
        )  # held until the block ends: the transaction stays open
        writes = [
            client.patch(f"{TASKS}/{task['id']}", json={"title": f"w{n}"}, headers=owner.headers)
            for n in range(8)
        ]
        reads = [client.get(TASKS, headers=other.headers) for _ in range(12)]
        # Bounded: without a lock timeout the writes would wait for as long as the lock.
        answers = await asyncio.wait_for(asyncio.gather(*writes, *reads), 60)
        await locker.rollback()

    written, read = answers[:8], answers[8:]
    assert Counter(r.status_code for r in read) == {200: 12}
    assert {len(r.json()["items"]) for r in read} == {3}
    assert Counter(r.status_code for r in written) == {503: 8}
    for r in written:
        assert_problem(r, 503)
        assert r.headers["Retry-After"] == "5"
    # The lock gone, the owner writes again.
    r = await client.patch(f"{TASKS}/{task['id']}", json={"title": "after"}, headers=owner.headers)
    assert r.status_code == 200, r.text


SHOW_TIMEOUTS = {
    "postgresql": "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'), "
    "current_setting('application_name')",
    "mysql": "SELECT @@max_statement_time, @@innodb_lock_wait_timeout, 'doable'",
}


async def test_each_connection_opens_with_the_timeouts(database: Database) -> None:
    backend = database.config.backend
    if backend == "sqlite":
        pytest.skip("SQLite has neither setting")
    db = Database(database.config, timeouts=Timeouts(statement_ms=2500, lock_ms=1200))
    try:
        async with db.engine.connect() as conn:
            row = tuple((await conn.execute(text(SHOW_TIMEOUTS[backend]))).one())
    finally:
        await db.dispose()
    # MariaDB's lock wait is in whole seconds, rounded up.
    expected = {"postgresql": ("2500ms", "1200ms", "doable"), "mysql": (2.5, 2, "doable")}
    assert row == expected[backend]


async def test_postgresql_connections_open_without_jit(database: Database) -> None:
    """PostgreSQL's JIT compiled the sidebar's counts on every page (30 ms of 58): each of
    the app's connections turns it off when it opens, with or without the timeouts."""
    if database.config.backend != "postgresql":
        pytest.skip("PostgreSQL's setting")
    for timeouts in (None, Timeouts(statement_ms=2500)):
        db = Database(database.config, timeouts=timeouts)
        try:
            async with db.engine.connect() as conn:
                assert (await conn.execute(text("SHOW jit"))).scalar_one() == "off"
                await conn.rollback()
                # Still off in the next transaction: a session setting, not a local one.
                assert (await conn.execute(text("SHOW jit"))).scalar_one() == "off"
        finally:
            await db.dispose()
