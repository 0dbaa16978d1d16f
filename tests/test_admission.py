"""Admission (doable/admission.py): past its slots, requests wait their turn in order, and one
that would wait too long, or finds the queue full, is answered 503 with Retry-After at once;
nothing it would have written is written. Event streams and probes are never held back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from doable.app import create_app
from doable.db import Database
from tests.conftest import make_client, runtime_for, truncate_all
from tests.factories import assert_problem, make_account

TASKS = "/api/v1/tasks"


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
