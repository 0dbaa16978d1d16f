"""The connection pool after a request is cut off mid-query: the next requests are served."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

import httpx
import pytest

from doable.db import Database
from tests.factories import make_account

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
