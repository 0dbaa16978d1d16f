"""Admission (doable/admission.py): past its slots, requests wait their turn in order, and one
that would wait too long, or finds the queue full, is answered 503 with Retry-After at once;
nothing it would have written is written. Event streams and probes are never held back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

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


async def test_a_login_gives_its_slot_back_while_its_password_is_hashed(
    database: Database, data_dir: Path
) -> None:
    """One slot, a 50 ms wait, and a hash slow enough to see (about 0.3 s). A request that
    arrives while a login is hashing is served, not shed. The login, once hashed, waits for
    the slot as long as the other holds it, past the 50 ms, instead of being shed after its
    work."""
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

            def login(who: str) -> dict[str, str]:
                return {"email": f"{who}@example.com", "password": "not the password"}

            # Unknown emails: each login verifies against the dummy hash (the first also
            # waits for it to be made), then answers 401.
            assert (await client.post(LOGIN, json=login("warm"))).status_code == 401
            started = time.perf_counter()
            assert (await client.post(LOGIN, json=login("timed"))).status_code == 401
            hash_time = time.perf_counter() - started
            assert hash_time > 0.15, hash_time  # else the timings below prove nothing

            hashing = asyncio.ensure_future(client.post(LOGIN, json=login("first")))
            await asyncio.sleep(hash_time / 3)  # the first login is in its hash
            # Its body arrives after the first's hash ends: it holds the slot meanwhile,
            # so the first login waits for it well past ADMISSION_WAIT_MS.
            body = json.dumps(login("second")).encode()
            holder = asyncio.ensure_future(
                client.post(
                    LOGIN,
                    content=SlowBody(body, hash_time + 0.3),
                    headers={"Content-Type": "application/json"},
                )
            )
            await asyncio.sleep(0.02)
            for r in await asyncio.gather(hashing, holder):
                assert_problem(r, 401)
    finally:
        await truncate_all(database.engine)
