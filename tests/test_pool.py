"""The connection pool: after a request is cut off mid-query the next requests are served, and
connections opened under load are kept rather than closed and opened again."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event

from doable.app import create_app
from doable.db import Database
from tests.conftest import make_client, runtime_for, truncate_all
from tests.factories import bearer, make_account, make_api_token
from tests.test_today import signed_in

TASKS = "/api/v1/tasks"


async def test_a_request_cancelled_mid_query_leaves_the_pool_healthy(
    client: httpx.AsyncClient, database: Database, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite's own pool listeners (the write gate) are what this checks")
    acct = await make_account(client)
    path = database.config.url.database
    assert path
    # Another process's writer holds the lock, so the request's first statement waits in
    # SQLite's busy handler: a slow query, cut off by the client going away.
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        request = asyncio.create_task(
            client.post(TASKS, json={"title": "cut off"}, headers=acct.headers)
        )
        deadline = time.monotonic() + 5
        while database.engine.pool.checkedout() == 0 and not request.done():  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, "the request never reached the database"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # into the statement, waiting on the lock
        assert not request.done()
        with caplog.at_level(logging.WARNING):
            request.cancel()
            await asyncio.sleep(0.1)
            blocker.rollback()  # the other writer finishes
            # Cancelled, as the server cancels a request whose client went away; not turned
            # into an error on the way out (a 500 and PendingRollbackError, before).
            with pytest.raises(asyncio.CancelledError):
                await request
    finally:
        if blocker.in_transaction:
            blocker.rollback()
        blocker.close()

    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    for n in range(3):
        r = await client.post(TASKS, json={"title": f"after {n}"}, headers=acct.headers)
        assert r.status_code == 201, r.text
    r = await client.get(TASKS, params={"sort": "created", "order": "asc"}, headers=acct.headers)
    assert r.status_code == 200, r.text
    assert [t["title"] for t in r.json()["items"]] == ["after 0", "after 1", "after 2"]
    assert database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_connections_opened_under_load_are_kept_for_the_next_requests(
    database: Database, data_dir: Path, backend: str
) -> None:
    """Waves of concurrent requests, larger and smaller than DB_POOL_SIZE, open each
    connection once: none is closed when the number at work dips and opened again for the
    next wave (with a small pool and an overflow above it, every wave opened new ones)."""
    if backend == "sqlite":
        pytest.skip("SQLite's connections are files in this process, not a server's sessions")
    db = Database(database.config, pool_size=2)  # 2 x 3 = 6 connections at most
    opened: list[object] = []
    event.listen(db.engine.sync_engine, "connect", lambda conn, _record: opened.append(conn))
    try:
        async with make_client(create_app(runtime_for(database, data_dir), db)) as client:
            acct = await make_account(client)
            for wave in (6, 1, 6, 2, 6, 1, 6):
                answers = await asyncio.gather(
                    *(client.get(TASKS, headers=acct.headers) for _ in range(wave))
                )
                assert {r.status_code for r in answers} == {200}
            assert 1 <= len(opened) <= 6, len(opened)
    finally:
        await db.dispose()
        await truncate_all(database.engine)


async def test_a_burst_that_writes_on_the_side_does_not_exhaust_the_pool(
    database: Database, data_dir: Path, backend: str
) -> None:
    """A side write (an API token's use, a remembered layout) takes a second connection while
    the request holds its own. When a client's concurrent requests all came due at once, each
    of the pool's connections was held by a request waiting for a second one: nothing moved
    until the pool's timeout, and the burst was answered 503 (the benchmark's board page)."""
    if backend == "sqlite":
        pytest.skip("SQLite's pool does not run out this way")
    db = Database(database.config, pool_size=1)  # 3 connections, 3 requests at work
    try:
        async with make_client(create_app(runtime_for(database, data_dir), db)) as client:
            acct = await make_account(client)
            token = (await make_api_token(client, acct, "tasks:read"))["token"]
            r = await client.post("/api/v1/projects", json={"name": "Board"}, headers=acct.headers)
            project = r.json()["id"]
            # The token's first use is recorded; the project's layout changes to board.
            answers = await asyncio.gather(
                *(client.get(TASKS, headers=bearer(token)) for _ in range(6))
            )
            assert [r.status_code for r in answers] == [200] * 6, answers[0].text
            web = await signed_in(client, acct)
            answers = await asyncio.gather(
                *(web.get(f"/projects/{project}?view=board") for _ in range(6))
            )
            assert [r.status_code for r in answers] == [200] * 6
    finally:
        await db.dispose()
        await truncate_all(database.engine)
