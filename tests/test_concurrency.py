"""Concurrent writers wait for each other instead of failing, and races on one row or one
tag name have exactly one winner."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select

from doable.db import Database
from doable.feeds.models import CalendarFeed
from doable.feeds.service import MAX_FEEDS_PER_USER
from doable.reminders.models import Reminder
from doable.reminders.schemas import MAX_REMINDERS_PER_TASK
from tests.factories import assert_problem, make_account, make_task


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


async def test_two_patches_with_the_same_if_match_one_wins(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    for round_ in range(5):
        task = await make_task(client, acct, title=f"race {round_}")
        url = f"/api/v1/tasks/{task['id']}"
        first, second = await asyncio.gather(
            *(
                client.patch(url, json={"title": who}, headers={**acct.headers, "If-Match": '"1"'})
                for who in ("alice", "bob")
            )
        )
        assert sorted([first.status_code, second.status_code]) == [200, 412]
        winner = first if first.status_code == 200 else second
        loser = second if winner is first else first
        assert assert_problem(loser, 412)["title"] == "Precondition failed"
        r = await client.get(url, headers=acct.headers)
        assert (r.headers["etag"], r.json()["title"]) == ('"2"', winner.json()["title"])


async def test_fifty_parallel_completes_complete_once(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, title="once")
    url = f"/api/v1/tasks/{task['id']}/complete"
    responses = await asyncio.gather(*(client.post(url, headers=acct.headers) for _ in range(50)))
    assert [r.status_code for r in responses] == [200] * 50
    stamps = {r.json()["completed_at"] for r in responses}
    assert len(stamps) == 1 and None not in stamps
    assert {r.headers["etag"] for r in responses} == {'"2"'}
    r = await client.get(f"/api/v1/tasks/{task['id']}", headers=acct.headers)
    assert (r.headers["etag"], r.json()["completed_at"]) == ('"2"', stamps.pop())


async def test_concurrent_creates_of_one_tag_make_one_tag(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    spellings = ["Errands", "errands", "ERRANDS", "Errands "]
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/tasks",
                json={"title": f"t{i}", "tags": [spellings[i % 4]]},
                headers=acct.headers,
            )
            for i in range(20)
        )
    )
    assert [r.status_code for r in responses] == [201] * 20
    tags = (await client.get("/api/v1/tags", headers=acct.headers)).json()
    assert [(t["name"].casefold(), t["task_count"]) for t in tags] == [("errands", 20)]
    assert len({r.json()["tags"][0] for r in responses}) == 1


async def test_the_feed_cap_holds_under_concurrent_creates(
    client: httpx.AsyncClient, database: Database
) -> None:
    """30 creates at once against a cap of 20: exactly 20 feeds, on every backend (a plain
    count-then-insert let 24 through on MariaDB)."""
    acct = await make_account(client)
    responses = await asyncio.gather(
        *(
            client.post("/api/v1/feeds", json={"name": f"f{i}"}, headers=acct.headers)
            for i in range(30)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * MAX_FEEDS_PER_USER + [409] * (30 - MAX_FEEDS_PER_USER)
    async with database.read_sessions() as s:
        stored = await s.scalar(
            select(func.count()).select_from(CalendarFeed).where(CalendarFeed.revoked_at.is_(None))
        )
    assert stored == MAX_FEEDS_PER_USER


async def test_the_reminder_cap_holds_under_concurrent_creates(
    client: httpx.AsyncClient, database: Database
) -> None:
    """20 reminders at once on one task against a cap of 10: exactly 10 (MariaDB's snapshot
    read let all 20 through the task-row lock)."""
    acct = await make_account(client)
    task = await make_task(client, acct, title="busy")
    at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    responses = await asyncio.gather(
        *(
            client.post(
                f"/api/v1/tasks/{task['id']}/reminders",
                json={"at": at},
                headers=acct.headers,
            )
            for _ in range(20)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * MAX_REMINDERS_PER_TASK + [422] * (20 - MAX_REMINDERS_PER_TASK)
    async with database.read_sessions() as s:
        stored = await s.scalar(select(func.count()).select_from(Reminder))
    assert stored == MAX_REMINDERS_PER_TASK
