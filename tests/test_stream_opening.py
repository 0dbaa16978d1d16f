"""More event streams opening at once than the database pool has connections all open.

A real `doable serve` (the in-process client buffers a whole response) on SQLite, whose pool
holds 15 connections. Each stream being opened used to hold its request's connection while it
waited for another one for its lease, so 15 opening at once waited on each other until
DB_POOL_TIMEOUT and were answered 503.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.factories import PASSWORD, bearer
from tests.server import Server, server_env

pytestmark = pytest.mark.slow
AT_ONCE = 20  # streams opening together: more than the pool's 15 connections


async def _open_together(base_url: str, tokens: list[str]) -> list[tuple[int, str]]:
    async def one(client: httpx.AsyncClient, token: str) -> tuple[int, str]:
        async with client.stream("GET", "/api/v1/events", headers=bearer(token)) as r:
            if r.status_code != 200:
                return r.status_code, (await r.aread()).decode()
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    return r.status_code, line[7:]
            return r.status_code, ""

    limits = httpx.Limits(max_connections=AT_ONCE)
    timeout = httpx.Timeout(20)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
        return await asyncio.gather(*(one(client, tokens[n % len(tokens)]) for n in range(AT_ONCE)))


def test_more_streams_than_connections_open_at_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = server_env(tmp_path / "data", home, DB_POOL_TIMEOUT="2")
    with Server(env, logs_dir=tmp_path, name="opening") as server, server.client() as c:
        tokens = []
        for n in range(4):  # 5 streams each, the per-account cap
            email = f"opening{n}@example.com"
            r = c.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
            assert r.status_code == 201, r.text
            tokens.append(r.json()["access_token"])
        got = asyncio.run(_open_together(server.base_url, tokens))
    assert got == [(200, "ready")] * AT_ONCE
