"""The smallest end-to-end path through the in-process app on every backend."""

from __future__ import annotations

import httpx

from tests.factories import make_account, make_task


async def test_signup_create_list(client: httpx.AsyncClient) -> None:
    alice = await make_account(client)
    task = await make_task(client, alice, title="Buy milk 🥛", tags=["home"])
    r = await client.get("/api/v1/tasks", headers=alice.headers)
    assert r.status_code == 200
    assert [t["id"] for t in r.json()["items"]] == [task["id"]]
    assert r.json()["items"][0]["title"] == "Buy milk 🥛"
