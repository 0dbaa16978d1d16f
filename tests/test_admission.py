"""Admission (doable/admission.py): past its slots, requests wait their turn in order, and one
that would wait too long, or finds the queue full, is answered 503 with Retry-After at once;
nothing it would have written is written. Event streams and probes are never held back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from doable.app import create_app
from doable.db import Database
from tests.conftest import make_client, runtime_for, truncate_all
from tests.factories import assert_problem, make_account

TASKS = "/api/v1/tasks"
LOGIN = "/api/v1/auth/login"


@pytest.fixture
async def narrow(database: Database, data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An app with one slot, a 300 ms wait and room for one waiter."""
    runtime = runtime_for(
        database, data_dir, ADMISSION_SLOTS=1, ADMISSION_WAIT_MS=300, ADMISSION_QUEUE=1
    )
    try:
        async with make_client(create_app(runtime, database)) as client:
            yield client
    finally:
        await truncate_all(database.engine)


class SlowBody(httpx.AsyncByteStream):
    """A request body that arrives after `delay`: its request holds its slot meanwhile."""

    def __init__(self, body: bytes, delay: float) -> None:
        self.body, self.delay = body, delay

    async def __aiter__(self) -> AsyncIterator[bytes]:
        await asyncio.sleep(self.delay)
        yield self.body


async def test_a_request_that_waits_too_long_gets_503_and_writes_nothing(
    narrow: httpx.AsyncClient,
) -> None:
    acct = await make_account(narrow)
    slow = narrow.post(
        TASKS,
        content=SlowBody(b'{"title": "slow"}', 1.0),
        headers={**acct.headers, "Content-Type": "application/json"},
    )
    holder = asyncio.ensure_future(slow)
    await asyncio.sleep(0.1)  # the slow request has the one slot
    waiter = asyncio.ensure_future(
        narrow.post(TASKS, json={"title": "waited"}, headers=acct.headers)
    )
    await asyncio.sleep(0.05)
    # The queue (one place) is taken: the next is answered at once.
    full = await narrow.post(TASKS, json={"title": "refused"}, headers=acct.headers)
    problem = assert_problem(full, 503)
    assert problem["type"].endswith("/overloaded") and full.headers["Retry-After"] == "1"
    # The waiter's 300 ms run out before the slot frees: 503 too.
    r = await waiter
    assert_problem(r, 503)
    # Probes are not held back meanwhile.
    assert (await narrow.get("/healthz")).status_code == 200
    assert (await holder).status_code == 201
    titles = [t["title"] for t in (await narrow.get(TASKS, headers=acct.headers)).json()["items"]]
    assert titles == ["slow"]


async def test_waiters_are_served_in_turn_when_slots_free_in_time(
    narrow: httpx.AsyncClient,
) -> None:
    acct = await make_account(narrow)
    holder = asyncio.ensure_future(
        narrow.post(
            TASKS,
            content=SlowBody(b'{"title": "first"}', 0.1),
            headers={**acct.headers, "Content-Type": "application/json"},
        )
    )
    await asyncio.sleep(0.02)
    second = await narrow.post(TASKS, json={"title": "second"}, headers=acct.headers)
    assert second.status_code == 201, second.text
    assert (await holder).status_code == 201


def _login(who: str) -> dict[str, str]:
    """An unknown email: the login verifies against the dummy hash, then answers 401."""
    return {"email": f"{who}@example.com", "password": "not the password"}


@pytest.fixture
async def slow_hashing(
    database: Database, data_dir: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, float]]:
    """An app with one slot, a 50 ms wait, and a hash slow enough to see (about 0.3 s); and
    how long one login takes on it."""
    runtime = runtime_for(
        database,
        data_dir,
        ADMISSION_SLOTS=1,
        ADMISSION_WAIT_MS=50,
        ADMISSION_QUEUE=4,
        ARGON2_TIME_COST=12,
        ARGON2_MEMORY_KIB=32768,
    )
    try:
        async with make_client(create_app(runtime, database)) as client:
            # The first login also waits for the dummy hash to be made.
            assert (await client.post(LOGIN, json=_login("warm"))).status_code == 401
            started = time.perf_counter()
            assert (await client.post(LOGIN, json=_login("timed"))).status_code == 401
            hash_time = time.perf_counter() - started
            assert hash_time > 0.15, hash_time  # else the timings below prove nothing
            yield client, hash_time
    finally:
        await truncate_all(database.engine)


def _slow_login(client: httpx.AsyncClient, who: str, delay: float) -> asyncio.Future[Any]:
    """A login whose body arrives after `delay`: it holds the one slot meanwhile."""
    body = json.dumps(_login(who)).encode()
    return asyncio.ensure_future(
        client.post(
            LOGIN, content=SlowBody(body, delay), headers={"Content-Type": "application/json"}
        )
    )


async def _slot_is_free(client: httpx.AsyncClient) -> bool:
    """With one slot and a 50 ms wait, a request is admitted (401: no token) only if no
    slot was lost."""
    r = await client.get(TASKS)
    return r.status_code == 401


async def test_a_login_gives_its_slot_back_while_its_password_is_hashed(
    slow_hashing: tuple[httpx.AsyncClient, float],
) -> None:
    """A request that arrives while a login is hashing is served, not shed. The login, once
    hashed, waits for the slot as long as the other holds it, past the 50 ms, instead of
    being shed after its work."""
    client, hash_time = slow_hashing
    hashing = asyncio.ensure_future(client.post(LOGIN, json=_login("first")))
    await asyncio.sleep(hash_time / 3)  # the first login is in its hash
    # Its body arrives after the first's hash ends, so the first waits well past 50 ms.
    holder = _slow_login(client, "second", hash_time + 0.3)
    for r in await asyncio.gather(hashing, holder):
        assert_problem(r, 401)
    assert await _slot_is_free(client)


async def test_a_login_that_goes_away_while_it_waits_to_come_back_frees_its_place(
    slow_hashing: tuple[httpx.AsyncClient, float],
) -> None:
    client, hash_time = slow_hashing
    hashing = asyncio.ensure_future(client.post(LOGIN, json=_login("first")))
    await asyncio.sleep(hash_time / 3)
    holder = _slow_login(client, "second", hash_time + 0.6)
    await asyncio.sleep(hash_time)  # the first login's hash is done: it waits to come back
    assert not hashing.done()
    hashing.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await hashing
    assert_problem(await holder, 401)
    assert await _slot_is_free(client)
