"""PostgreSQL plans a search for its own values each time (db.read_rows, custom plans): a
prepared statement's generic plan, which PostgreSQL may switch to after five executions,
assumes an owner of average size (docs/performance.md, round 12). The setting that forces it
is the connection's, so it must never outlive the read."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, literal, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from doable.db import _CUSTOM_PLANS, Database, read_rows
from tests.factories import make_account, make_task

TASKS = "/api/v1/tasks"
PLAN_MODE = select(func.current_setting("plan_cache_mode"))


@pytest.fixture(autouse=True)
def _postgresql_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL's plan cache")


@pytest.fixture
async def own(database: Database) -> AsyncIterator[Database]:
    """A database of its own, used one session at a time: its pool only ever opens one
    connection, so each check sees the connection the read before used (or its successor)."""
    db = Database(database.config)
    try:
        yield db
    finally:
        await db.dispose()


async def _connection_state(session: AsyncSession) -> tuple[int, str]:
    row = (
        await session.execute(text("SELECT pg_backend_pid(), current_setting('plan_cache_mode')"))
    ).one()
    return int(row[0]), str(row[1])


async def test_custom_plans_last_for_the_read_alone(own: Database) -> None:
    # A GET's reads, in autocommit: set for the read, reset after, on the same connection.
    async with own.request_reads() as session:
        pid, mode = await _connection_state(session)
        assert mode == "auto"
        assert (await read_rows(session, PLAN_MODE, custom_plans=True))[0][0] == "force_custom_plan"
        assert await _connection_state(session) == (pid, "auto")
        assert (await read_rows(session, PLAN_MODE))[0][0] == "auto"
    # In a transaction: SET LOCAL, over with the transaction.
    async with own.read_sessions() as session:
        assert (await read_rows(session, PLAN_MODE, custom_plans=True))[0][0] == "force_custom_plan"
        await session.commit()
        assert await _connection_state(session) == (pid, "auto")
    async with own.request_reads() as session:
        assert await _connection_state(session) == (pid, "auto")


async def test_a_failed_read_resets_and_keeps_its_connection(own: Database) -> None:
    async with own.request_reads() as session:
        pid, _ = await _connection_state(session)
        with pytest.raises(DBAPIError):
            await read_rows(session, select(literal(1) / literal(0)), custom_plans=True)
    async with own.request_reads() as session:
        assert await _connection_state(session) == (pid, "auto")


async def test_a_connection_a_search_left_mid_way_is_not_used_again(own: Database) -> None:
    """What a search cancelled between setting and resetting leaves: the connection is
    discarded at its next checkout, not handed out with every statement planned anew."""
    async with own.engine.connect() as conn:
        before = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        await conn.execute(text("SET plan_cache_mode = force_custom_plan"))
        await conn.commit()
        conn.info[_CUSTOM_PLANS] = True
    async with own.request_reads() as session:
        after, mode = await _connection_state(session)
    assert after != before
    assert mode == "auto"


async def test_searches_past_the_fifth_find_the_same_tasks(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    await make_task(client, acct, title="a quokka on the beach")
    await make_task(client, acct, title="nothing here", description="QUOKKA again")
    await make_task(client, acct, title="unrelated")
    for _ in range(8):
        r = await client.get(TASKS, params={"q": "quokka"}, headers=acct.headers)
        assert r.status_code == 200, r.text
        titles = sorted(t["title"] for t in r.json()["items"])
        assert titles == ["a quokka on the beach", "nothing here"]
