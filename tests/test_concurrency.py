"""Concurrent writers wait for each other instead of failing."""

from __future__ import annotations

import asyncio

import httpx

from tests.factories import make_account, make_task


async def test_64_concurrent_writers_all_succeed(client: httpx.AsyncClient) -> None:
    accounts = [await make_account(client) for _ in range(4)]
    task = await make_task(client, accounts[0], title="shared")

    async def write(i: int) -> int:
        acct = accounts[i % 4]
        if i % 8 == 0:
            r = await client.patch(
                f"/api/v1/tasks/{task['id']}",
                json={"description": str(i)},
                headers=accounts[0].headers,
            )
        else:
            r = await client.post(
                "/api/v1/tasks",
                json={"title": f"t{i}", "tags": [f"tag{i % 3}"]},
                headers=acct.headers,
            )
        return r.status_code

    statuses = await asyncio.gather(*(write(i) for i in range(64)))
    assert sorted(set(statuses)) == [200, 201], statuses
    assert statuses.count(201) == 56
    total = 0
    for acct in accounts:
        r = await client.get("/api/v1/tasks", params={"limit": 200}, headers=acct.headers)
        total += len(r.json()["items"])
    assert total == 57
    final = await client.get(f"/api/v1/tasks/{task['id']}", headers=accounts[0].headers)
    assert final.headers["etag"] == '"9"'  # created at 1, then exactly 8 patches
