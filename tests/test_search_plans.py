"""PostgreSQL plans a search for its own values each time (db.read_rows, custom plans): a
prepared statement's generic plan, which PostgreSQL may switch to after five executions,
assumes an owner of average size (docs/performance.md, round 12). The setting that forces it
is the connection's, so it must never outlive the read."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from doable.db import _CUSTOM_PLANS, Database
from tests.factories import make_account, make_task

TASKS = "/api/v1/tasks"


@pytest.fixture(autouse=True)
def _postgresql_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL's plan cache")


async def _plan_mode(database: Database) -> str:
    async with database.engine.connect() as conn:
        return str((await conn.execute(text("SHOW plan_cache_mode"))).scalar_one())


async def test_searches_past_the_fifth_leave_the_connection_as_they_found_it(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    await make_task(client, acct, title="a quokka on the beach")
    await make_task(client, acct, title="nothing here", description="QUOKKA again")
    await make_task(client, acct, title="unrelated")
    for _ in range(8):
        r = await client.get(TASKS, params={"q": "quokka"}, headers=acct.headers)
        assert r.status_code == 200, r.text
        titles = sorted(t["title"] for t in r.json()["items"])
        assert titles == ["a quokka on the beach", "nothing here"]
    assert await _plan_mode(database) == "auto"
    r = await client.get(TASKS, headers=acct.headers)
    assert len(r.json()["items"]) == 3


async def test_a_connection_a_search_left_mid_way_is_not_used_again(database: Database) -> None:
    """What a search that went away between setting and resetting leaves: the connection is
    discarded at its next checkout, not handed out with every statement planned anew."""
    async with database.engine.connect() as conn:
        await conn.execute(text("SET plan_cache_mode = force_custom_plan"))
        await conn.commit()
        conn.info[_CUSTOM_PLANS] = True
        before = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    async with database.engine.connect() as conn:
        after = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        mode = (await conn.execute(text("SHOW plan_cache_mode"))).scalar_one()
    assert after != before
    assert mode == "auto"
