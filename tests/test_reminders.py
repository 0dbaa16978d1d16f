"""Reminders and notifications over HTTP: CRUD, bad input, isolation, relative reminders that
follow the due, and firing (the scheduler's fire_due called on the test's clock)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text, update

from doable import events
from doable.db import Database
from doable.errors import RateLimited
from doable.relay import leases
from doable.relay.models import StreamLease
from doable.reminders import stream
from doable.reminders.models import Notification, Reminder
from doable.reminders.scheduler import fire_due
from tests.factories import Account, assert_problem, make_account, make_api_token, make_task
from tests.organise import make_project, set_archived

NOBODY = "00000000-0000-4000-8000-000000000000"


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def reminders_url(task: dict[str, Any]) -> str:
    return f"/api/v1/tasks/{task['id']}/reminders"


async def add(
    client: httpx.AsyncClient, acct: Account, task: dict[str, Any], body: dict[str, Any]
) -> httpx.Response:
    return await client.post(reminders_url(task), json=body, headers=acct.headers)


async def test_create_list_delete(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    due = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    task = await make_task(client, acct, due=iso(due))
    at = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    r = await add(client, acct, task, {"at": iso(at)})
    assert r.status_code == 201, r.text
    absolute = r.json()
    assert absolute["kind"] == "absolute" and absolute["before"] is None
    assert datetime.fromisoformat(absolute["at"]) == at
    assert datetime.fromisoformat(absolute["fire_at"]) == at
    assert absolute["fired_at"] is None and absolute["task_id"] == task["id"]

    r = await add(client, acct, task, {"before": "PT30M"})
    assert r.status_code == 201, r.text
    relative = r.json()
    assert (relative["kind"], relative["before"], relative["at"]) == ("relative", "PT30M", None)
    assert datetime.fromisoformat(relative["fire_at"]) == due - timedelta(minutes=30)

    r = await client.get(reminders_url(task), headers=acct.headers)
    assert r.status_code == 200
    assert [x["id"] for x in r.json()] == [absolute["id"], relative["id"]]

    r = await client.delete(f"{reminders_url(task)}/{absolute['id']}", headers=acct.headers)
    assert r.status_code == 204
    r = await client.get(reminders_url(task), headers=acct.headers)
    assert [x["id"] for x in r.json()] == [relative["id"]]
    r = await client.delete(f"{reminders_url(task)}/{absolute['id']}", headers=acct.headers)
    assert assert_problem(r, 404)["detail"] == "No reminder with this id"


async def test_local_time_and_calendar_days_in_the_users_zone(client: httpx.AsyncClient) -> None:
    acct = await make_account(client, timezone="Europe/Berlin")
    # Due 09:00 Berlin on Monday 29 March 2027, the day after clocks go forward (CET -> CEST).
    task = await make_task(client, acct, due="2027-03-29T09:00")
    r = await add(client, acct, task, {"before": "P1D"})
    # One calendar day before: 09:00 CET on Sunday 28 March = 07:00 UTC (not 07:00 CEST).
    assert r.json()["fire_at"] == "2027-03-28T07:00:00Z"
    r = await add(client, acct, task, {"before": "PT24H"})
    assert r.json()["fire_at"] == "2027-03-28T07:00:00Z"
    # An absolute time without an offset is read in the user's zone.
    r = await add(client, acct, task, {"at": "2027-03-01T08:30"})
    assert r.json()["fire_at"] == "2027-03-01T07:30:00Z"
    # All-day tasks: relative reminders count back from 09:00 local on the due date.
    day = await make_task(client, acct, due="2027-07-10")
    r = await add(client, acct, day, {"before": "PT1H"})
    assert r.json()["fire_at"] == "2027-07-10T06:00:00Z"


async def test_relative_reminders_follow_the_due(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct)
    r = await add(client, acct, task, {"before": "PT15M"})
    assert r.status_code == 201
    assert r.json()["fire_at"] is None  # dormant until the task has a due
    rid = r.json()["id"]
    url = f"/api/v1/tasks/{task['id']}"

    due = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    r = await client.patch(url, json={"due": iso(due)}, headers=acct.headers)
    assert r.status_code == 200
    [got] = (await client.get(reminders_url(task), headers=acct.headers)).json()
    assert datetime.fromisoformat(got["fire_at"]) == due - timedelta(minutes=15)

    # Once fired, moving the due to the future re-arms it.
    async with database.write_sessions() as s:
        await s.execute(
            update(Reminder).where(Reminder.id == uuid.UUID(rid)).values(fired_at=datetime.now(UTC))
        )
        await s.commit()
    later = due + timedelta(days=1)
    await client.patch(url, json={"due": iso(later)}, headers=acct.headers)
    [got] = (await client.get(reminders_url(task), headers=acct.headers)).json()
    assert datetime.fromisoformat(got["fire_at"]) == later - timedelta(minutes=15)
    assert got["fired_at"] is None
    # Moved into the past: passed over, never fired late.
    past = datetime.now(UTC) - timedelta(hours=2)
    await client.put(url, json={"title": "t", "due": iso(past)}, headers=acct.headers)
    [got] = (await client.get(reminders_url(task), headers=acct.headers)).json()
    assert got["fired_at"] is not None
    # Due cleared: dormant again.
    await client.patch(url, json={"due": None}, headers=acct.headers)
    [got] = (await client.get(reminders_url(task), headers=acct.headers)).json()
    assert (got["fire_at"], got["fired_at"]) == (None, None)


async def test_relative_reminders_follow_a_repeating_task(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Completing or skipping a recurring task moves its relative reminders with the due, and
    re-arms one that already fired; an absolute reminder stays where it was."""
    acct = await make_account(client, timezone="Europe/Berlin")
    r = await client.post(
        "/api/v1/tasks",
        json={
            "title": "Water plants",
            "due": "2031-03-29T09:00:00",  # local, the day before Berlin moves to summer time
            "recurrence": {"rule": "FREQ=DAILY;INTERVAL=3"},
        },
        headers=acct.headers,
    )
    assert r.status_code == 201, r.text
    task = r.json()
    relative = (await add(client, acct, task, {"before": "PT30M"})).json()
    at = datetime(2031, 3, 29, 12, tzinfo=UTC)
    absolute = (await add(client, acct, task, {"at": iso(at)})).json()
    assert relative["fire_at"] == "2031-03-29T07:30:00Z"  # 08:30 CET
    async with database.write_sessions() as s:
        await s.execute(
            update(Reminder)
            .where(Reminder.id == uuid.UUID(relative["id"]))
            .values(fired_at=datetime.now(UTC))
        )
        await s.commit()

    r = await client.post(f"/api/v1/tasks/{task['id']}/complete", headers=acct.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["due"], r.json()["completed"], r.headers["etag"]) == (
        "2031-04-01T07:00:00Z",
        False,
        '"2"',
    )
    got = {g["id"]: g for g in (await client.get(reminders_url(task), headers=acct.headers)).json()}
    assert (got[relative["id"]]["fire_at"], got[relative["id"]]["fired_at"]) == (
        "2031-04-01T06:30:00Z",
        None,
    )
    assert got[absolute["id"]]["fire_at"] == "2031-03-29T12:00:00Z"

    r = await client.post(f"/api/v1/tasks/{task['id']}/skip", headers=acct.headers)
    assert r.json()["due"] == "2031-04-04T07:00:00Z"
    got = {g["id"]: g for g in (await client.get(reminders_url(task), headers=acct.headers)).json()}
    assert got[relative["id"]]["fire_at"] == "2031-04-04T06:30:00Z"


BAD_BODIES: list[tuple[str, dict[str, Any], list[Any]]] = [
    ("empty", {}, ["body"]),
    ("both", {"at": "2030-01-01T00:00:00Z", "before": "PT5M"}, ["body"]),
    ("P", {"before": "P"}, ["body", "before"]),
    ("PT", {"before": "PT"}, ["body", "before"]),
    ("negative", {"before": "-PT5M"}, ["body", "before"]),
    ("P1000Y", {"before": "P1000Y"}, ["body", "before"]),
    ("months", {"before": "P1M"}, ["body", "before"]),
    ("garbage", {"before": "soon"}, ["body", "before"]),
    ("too long", {"before": "P400D"}, ["body", "before"]),
    ("number", {"before": 1800}, ["body", "before"]),
    ("date only", {"at": "2030-01-01"}, ["body", "at"]),
    ("not a time", {"at": "tomorrow"}, ["body", "at"]),
    ("year 10000", {"at": "10000-01-01T00:00:00Z"}, ["body", "at"]),
    ("unknown field", {"before": "PT5M", "owner_id": NOBODY}, ["body", "owner_id"]),
]


@pytest.mark.parametrize(
    ("body", "loc"), [b[1:] for b in BAD_BODIES], ids=[b[0] for b in BAD_BODIES]
)
async def test_bad_input_is_422(
    client: httpx.AsyncClient, body: dict[str, Any], loc: list[Any]
) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, due="2030-06-01T10:00:00Z")
    problem = assert_problem(await add(client, acct, task, body), 422)
    assert problem["errors"][0]["loc"] == loc, problem
    assert (await client.get(reminders_url(task), headers=acct.headers)).json() == []


async def test_past_far_future_and_too_soon_are_422(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    soon = datetime.now(UTC) + timedelta(minutes=10)
    task = await make_task(client, acct, due=iso(soon))
    past = datetime.now(UTC) - timedelta(minutes=5)
    problem = assert_problem(await add(client, acct, task, {"at": iso(past)}), 422)
    assert problem["detail"].startswith("This time is in the past (5 minutes ago)")
    century = datetime.now(UTC) + timedelta(days=100 * 365)
    problem = assert_problem(await add(client, acct, task, {"at": iso(century)}), 422)
    assert problem["detail"] == "A reminder can be at most 5 years ahead"
    problem = assert_problem(await add(client, acct, task, {"before": "PT30M"}), 422)
    assert problem["detail"].startswith("This reminder would fire in the past")
    assert problem["errors"][0]["loc"] == ["body", "before"]
    # At the due time itself is fine.
    assert (await add(client, acct, task, {"before": "PT0S"})).status_code == 201


async def test_at_most_ten_per_task(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, due="2030-06-01T10:00:00Z")
    for minutes in range(10):
        r = await add(client, acct, task, {"before": f"PT{minutes}M"})
        assert r.status_code == 201, r.text
    problem = assert_problem(await add(client, acct, task, {"before": "PT11M"}), 422)
    assert problem["detail"] == "A task can have at most 10 reminders; delete one first"
    assert len((await client.get(reminders_url(task), headers=acct.headers)).json()) == 10
    other = await make_task(client, acct, due="2030-06-01T10:00:00Z")
    assert (await add(client, acct, other, {"before": "PT11M"})).status_code == 201


async def test_other_users_objects_are_404(client: httpx.AsyncClient, database: Database) -> None:
    alice = await make_account(client)
    bob = await make_account(client)
    task = await make_task(client, alice, due="2030-06-01T10:00:00Z")
    rid = (await add(client, alice, task, {"before": "PT5M"})).json()["id"]
    bobs = await make_task(client, bob, due="2030-06-01T10:00:00Z")
    for method, url, body in [
        ("GET", reminders_url(task), None),
        ("POST", reminders_url(task), {"before": "PT10M"}),
        ("DELETE", f"{reminders_url(task)}/{rid}", None),
        # Bob's own task, Alice's reminder id: still not found.
        ("DELETE", f"{reminders_url(bobs)}/{rid}", None),
    ]:
        r = await client.request(method, url, json=body, headers=bob.headers)
        assert_problem(r, 404)
    assert len((await client.get(reminders_url(task), headers=alice.headers)).json()) == 1
    await _fire_now(database, rid)
    [note] = (await client.get("/api/v1/notifications", headers=alice.headers)).json()["items"]
    r = await client.post(f"/api/v1/notifications/{note['id']}/read", headers=bob.headers)
    assert assert_problem(r, 404)["detail"] == "No notification with this id"
    assert (await client.post("/api/v1/notifications/read-all", headers=bob.headers)).json() == {
        "marked": 0
    }
    page = (await client.get("/api/v1/notifications", headers=bob.headers)).json()
    assert page == {"items": [], "next_cursor": None, "unread_count": 0}
    alice_page = (await client.get("/api/v1/notifications", headers=alice.headers)).json()
    assert alice_page["unread_count"] == 1


async def _fire_now(database: Database, *reminder_ids: str) -> None:
    """Make the reminders due a second ago, then run the scheduler's firing once."""
    ago = datetime.now(UTC) - timedelta(seconds=1)
    async with database.write_sessions() as s:
        await s.execute(
            update(Reminder)
            .where(Reminder.id.in_([uuid.UUID(r) for r in reminder_ids]))
            .values(fire_at=ago)
        )
        await s.commit()
    await fire_due(database)


async def test_an_all_day_due_is_written_as_the_list_writes_it(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client, timezone="America/New_York")
    task = await make_task(client, acct, title="Pay rent", due="2030-06-03")
    rid = (await add(client, acct, task, {"before": "P1D"})).json()["id"]
    await _fire_now(database, rid)
    page = (await client.get("/api/v1/notifications", headers=acct.headers)).json()
    assert [n["body"] for n in page["items"]] == ["Due Mon 3 Jun"]


async def test_firing_creates_one_notification_each(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client, timezone="Europe/Paris")
    task = await make_task(client, acct, title="Water plants", due="2030-06-01T10:00:00Z")
    rids = [(await add(client, acct, task, {"before": f"PT{m}M"})).json()["id"] for m in (5, 10)]
    await _fire_now(database, *rids)
    await fire_due(database)  # again: nothing more
    page = (await client.get("/api/v1/notifications", headers=acct.headers)).json()
    assert page["unread_count"] == 2 and page["next_cursor"] is None
    notes = page["items"]
    assert sorted(n["reminder_id"] for n in notes) == sorted(rids)
    for n in notes:
        assert (n["kind"], n["title"], n["task_id"]) == ("reminder", "Water plants", task["id"])
        assert n["body"] == "Due Sat 1 Jun, 12:00"  # Paris time, the day as the list writes it
        assert n["due"] == "2030-06-01T10:00:00Z"
        assert n["late"] is False and n["read_at"] is None
    reminders = (await client.get(reminders_url(task), headers=acct.headers)).json()
    assert all(r["fired_at"] is not None for r in reminders)

    r = await client.post(f"/api/v1/notifications/{notes[0]['id']}/read", headers=acct.headers)
    assert r.status_code == 200 and r.json()["read_at"] is not None
    again = await client.post(f"/api/v1/notifications/{notes[0]['id']}/read", headers=acct.headers)
    assert again.json()["read_at"] == r.json()["read_at"]
    unread = (
        await client.get("/api/v1/notifications", params={"unread": "true"}, headers=acct.headers)
    ).json()
    assert [n["id"] for n in unread["items"]] == [notes[1]["id"]]
    r = await client.post("/api/v1/notifications/read-all", headers=acct.headers)
    assert r.json() == {"marked": 1}
    page = (await client.get("/api/v1/notifications", headers=acct.headers)).json()
    assert page["unread_count"] == 0


async def test_completed_tasks_do_not_notify_and_late_is_marked(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    done = await make_task(client, acct, due="2030-06-01T10:00:00Z")
    rid_done = (await add(client, acct, done, {"before": "PT5M"})).json()["id"]
    await client.post(f"/api/v1/tasks/{done['id']}/complete", headers=acct.headers)
    task = await make_task(client, acct, due="2030-06-01T10:00:00Z")
    rid = (await add(client, acct, task, {"before": "PT5M"})).json()["id"]
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    async with database.write_sessions() as s:
        await s.execute(
            update(Reminder)
            .where(Reminder.id.in_([uuid.UUID(rid_done), uuid.UUID(rid)]))
            .values(fire_at=two_hours_ago)
        )
        await s.commit()
    fired = await fire_due(database)
    assert (fired.notified, fired.skipped) == (1, 1)
    [note] = (await client.get("/api/v1/notifications", headers=acct.headers)).json()["items"]
    assert (note["reminder_id"], note["late"]) == (rid, True)


async def test_thousand_due_at_once_fire_once_each(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    tasks = [await make_task(client, acct, due="2030-06-01T10:00:00Z") for _ in range(100)]
    now = datetime.now(UTC)
    async with database.write_sessions() as s:
        owner = uuid.UUID(acct.id)
        s.add_all(
            Reminder(
                owner_id=owner,
                task_id=uuid.UUID(t["id"]),
                kind="absolute",
                remind_at=now,
                fire_at=now,
                created_at=now,
            )
            for t in tasks
            for _ in range(10)
        )
        await s.commit()
    fired = await fire_due(database, batch_size=300)
    assert (fired.notified, fired.skipped) == (1000, 0)
    assert (await fire_due(database)).total == 0
    async with database.read_sessions() as s:
        count = await s.scalar(select(func.count()).select_from(Notification))
        distinct = await s.scalar(select(func.count(func.distinct(Notification.reminder_id))))
        unfired = await s.scalar(
            select(func.count()).select_from(Reminder).where(Reminder.fired_at.is_(None))
        )
    assert (count, distinct, unfired) == (1000, 1000, 0)
    page = await client.get("/api/v1/notifications", params={"limit": 100}, headers=acct.headers)
    assert page.json()["unread_count"] == 1000
    seen = [n["id"] for n in page.json()["items"]]
    cursor = page.json()["next_cursor"]
    while cursor:
        page = await client.get(
            "/api/v1/notifications", params={"limit": 100, "cursor": cursor}, headers=acct.headers
        )
        seen += [n["id"] for n in page.json()["items"]]
        cursor = page.json()["next_cursor"]
    assert len(seen) == len(set(seen)) == 1000


async def test_deleting_the_task_deletes_its_reminders_keeps_notifications(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, due="2030-06-01T10:00:00Z")
    rids = [(await add(client, acct, task, {"before": f"PT{m}M"})).json()["id"] for m in (1, 2)]
    await _fire_now(database, rids[0])
    assert (
        await client.delete(f"/api/v1/tasks/{task['id']}", headers=acct.headers)
    ).status_code == 204
    async with database.read_sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Reminder)) == 0
    [note] = (await client.get("/api/v1/notifications", headers=acct.headers)).json()["items"]
    assert (note["task_id"], note["reminder_id"]) == (task["id"], None)


async def test_scopes(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, due="2030-06-01T10:00:00Z")
    read = await make_api_token(client, acct, "tasks:read")
    write = await make_api_token(client, acct, "tasks:write")
    account = await make_api_token(client, acct, "account:read")

    def auth(token: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {token['token']}"}

    r = await client.post(reminders_url(task), json={"before": "PT5M"}, headers=auth(read))
    assert_problem(r, 403)
    r = await client.post(reminders_url(task), json={"before": "PT5M"}, headers=auth(write))
    assert r.status_code == 201
    assert (await client.get(reminders_url(task), headers=auth(read))).status_code == 200
    assert_problem(await client.get(reminders_url(task), headers=auth(account)), 403)
    assert (await client.get("/api/v1/notifications", headers=auth(read))).status_code == 200
    assert_problem(await client.post("/api/v1/notifications/read-all", headers=auth(read)), 403)
    assert_problem(await client.get("/api/v1/events", headers=auth(account)), 403)
    assert_problem(await client.get("/api/v1/events"), 401)


async def test_bad_cursor_and_limit(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    for params in ({"cursor": "nope"}, {"limit": 0}, {"limit": 101}, {"unread": "maybe"}):
        r = await client.get("/api/v1/notifications", params=params, headers=acct.headers)
        assert_problem(r, 422)
    r = await client.post(f"/api/v1/notifications/{NOBODY}/read", headers=acct.headers)
    assert_problem(r, 404)
    r = await client.post("/api/v1/notifications/not-a-uuid/read", headers=acct.headers)
    assert_problem(r, 422)


# The event bus and the stream, in-process


async def test_task_events_are_published_only_after_commit(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    sub = events.bus.subscribe(uuid.UUID(acct.id), limit=5)
    try:
        task = await make_task(client, acct)
        url = f"/api/v1/tasks/{task['id']}"
        # Rolled back (stale If-Match): nothing is published.
        r = await client.patch(
            url, json={"title": "x"}, headers={**acct.headers, "If-Match": '"9"'}
        )
        assert_problem(r, 412)
        await client.patch(url, json={"title": "y"}, headers=acct.headers)
        await client.delete(url, headers=acct.headers)
        got = []
        while not sub.queue.empty():
            item = sub.queue.get_nowait()
            got.append((item.kind, item.data["action"], item.data["id"]))
    finally:
        events.bus.unsubscribe(sub)
    assert got == [
        ("task", "created", task["id"]),
        ("task", "updated", task["id"]),
        ("task", "deleted", task["id"]),
    ]


async def test_a_released_savepoint_does_not_publish_before_the_commit(
    database: Database,
) -> None:
    """SQLAlchemy fires `after_commit` when a savepoint is released too: an event parked before
    it must still wait for the real commit, and die with a rollback after it."""
    owner = uuid.uuid4()
    sub = events.bus.subscribe(owner, limit=5)
    try:
        with pytest.raises(RuntimeError):
            async with database.unit_of_work(write=True) as session:
                events.publish_after_commit(session, events.Event("task", owner, {"n": 1}))
                async with session.begin_nested():  # released: not the commit
                    await session.execute(text("SELECT 1"))
                assert sub.queue.empty()
                raise RuntimeError("the request failed after the savepoint")
        assert sub.queue.empty()
        async with database.unit_of_work(write=True) as session:
            events.publish_after_commit(session, events.Event("task", owner, {"n": 2}))
            async with session.begin_nested():
                await session.execute(text("SELECT 1"))
            assert sub.queue.empty()
        assert sub.queue.get_nowait().data == {"n": 2}
        assert sub.queue.empty()
    finally:
        events.bus.unsubscribe(sub)


async def test_stream_finds_notifications_made_by_another_process(
    client: httpx.AsyncClient, database: Database
) -> None:
    """A row inserted straight into the table (as another process would) reaches the stream
    by the process's watch, once, however many looks see it; a user without a stream here is
    not woken."""
    acct = await make_account(client)
    owner = uuid.UUID(acct.id)
    elsewhere = uuid.UUID((await make_account(client)).id)
    sub = await stream.open_subscription(database, owner)
    received: list[Any] = []
    watch = stream.StreamWatch()

    async def consume() -> None:
        async for item in stream.event_stream(database, sub, max_seconds=2.5):
            received.append(item)

    reader = asyncio.create_task(consume())
    await asyncio.sleep(0.5)
    assert await watch.look(database) == 0
    now = datetime.now(UTC)
    async with database.write_sessions() as s:
        for user in (owner, elsewhere):
            s.add(Notification(owner_id=user, title="From elsewhere", fire_at=now, created_at=now))
        await s.commit()
    assert [await watch.look(database) for _ in range(3)] == [1, 0, 0]
    await reader
    assert [(e.event, e.data.get("title")) for e in received] == [
        ("ready", None),
        ("notification", "From elsewhere"),
    ]
    assert events.bus.streams_of(owner) == 0  # the slot is free again
    async with database.read_sessions() as s:
        assert await s.scalar(select(func.count()).select_from(StreamLease)) == 0


async def _close(database: Database, sub: events.Subscription) -> None:
    events.bus.unsubscribe(sub)
    await leases.release(database, sub)


async def test_stream_watch_ends_the_streams_whose_credential_is_gone(
    client: httpx.AsyncClient, database: Database
) -> None:
    """The watch's periodic check (the backstop for a revocation another process made): one
    look ends exactly the streams opened with a revoked, unknown or outdated credential."""
    acct = await make_account(client)
    owner = uuid.UUID(acct.id)
    live_token = await make_api_token(client, acct, "tasks:read")
    revoked_token = await make_api_token(client, acct, "tasks:read")
    r = await client.delete(f"/api/v1/tokens/{revoked_token['id']}", headers=acct.headers)
    assert r.status_code == 204, r.text
    credentials = {
        "live token": events.Credential("api_token", uuid.UUID(live_token["id"])),
        "live access": events.Credential("access_token", None, token_version=0),
        "revoked token": events.Credential("api_token", uuid.UUID(revoked_token["id"])),
        "unknown session": events.Credential("web_session", uuid.uuid4()),
        "old access": events.Credential("access_token", None, token_version=1),
    }
    subs = {
        name: await stream.open_subscription(database, owner, credential)
        for name, credential in credentials.items()
    }
    try:
        assert await stream.StreamWatch().check(database) == 3
        ended = {name for name, sub in subs.items() if not sub.queue.empty()}
        assert ended == {"revoked token", "unknown session", "old access"}
        for name in ended:
            item = subs[name].queue.get_nowait()
            assert (item.kind, subs[name].revoked_by(item)) == ("revoked", True)
    finally:
        for sub in subs.values():
            await _close(database, sub)


async def test_at_most_five_streams_per_user(client: httpx.AsyncClient, database: Database) -> None:
    acct = await make_account(client)
    owner = uuid.UUID(acct.id)
    subs = [await stream.open_subscription(database, owner) for _ in range(5)]
    try:
        with pytest.raises(RateLimited):
            await stream.open_subscription(database, owner)
    finally:
        for sub in subs:
            await _close(database, sub)
    await _close(database, await stream.open_subscription(database, owner))


async def test_stream_cap_counts_other_processes_leases_until_they_lapse(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Leases held by other processes (rows this process did not write) count against the
    cap; a dead process's leases stop counting once they expire."""
    acct = await make_account(client)
    owner = uuid.UUID(acct.id)
    now = datetime.now(UTC)
    async with database.write_sessions() as s:
        for _ in range(4):
            s.add(StreamLease(owner_id=owner, expires_at=now + timedelta(seconds=30)))
        s.add(StreamLease(owner_id=owner, expires_at=now - timedelta(seconds=1)))  # lapsed
        await s.commit()
    mine = await stream.open_subscription(database, owner)  # 4 live + this one = 5
    try:
        with pytest.raises(RateLimited):
            await stream.open_subscription(database, owner)
        assert events.bus.streams_of(owner) == 1
        async with database.write_sessions() as s:  # the other process died: leases lapse
            await s.execute(update(StreamLease).values(expires_at=now - timedelta(seconds=1)))
            await s.commit()
        assert await leases.renew(database) == 1  # ours is renewed, theirs stay lapsed
        others = [await stream.open_subscription(database, owner) for _ in range(4)]
        for sub in others:
            await _close(database, sub)
    finally:
        await _close(database, mine)
    async with database.read_sessions() as s:
        assert await s.scalar(select(func.count()).select_from(StreamLease)) == 0


async def test_archived_projects_reminders_do_not_fire(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Issue 15: a reminder falling due in an archived project is spent without a word;
    after unarchiving, the project's reminders still ahead fire again."""
    acct = await make_account(client)
    old = await make_project(database, acct, "Old")
    task = await make_task(client, acct, title="Shelved", due="2030-06-01T10:00:00Z")
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"project_id": old.id}, headers=acct.headers
    )
    assert r.status_code == 200, r.text
    missed = (await add(client, acct, task, {"before": "PT5M"})).json()["id"]
    later = (await add(client, acct, task, {"before": "PT10M"})).json()["id"]
    kept = await make_task(client, acct, title="Active", due="2030-06-01T10:00:00Z")
    active = (await add(client, acct, kept, {"before": "PT5M"})).json()["id"]
    await set_archived(database, acct, old.id, True)

    now = datetime.now(UTC)
    async with database.write_sessions() as s:
        await s.execute(
            update(Reminder)
            .where(Reminder.id.in_([uuid.UUID(missed), uuid.UUID(active)]))
            .values(fire_at=now - timedelta(seconds=1))
        )
        await s.commit()
    fired = await fire_due(database)
    assert (fired.notified, fired.skipped) == (1, 1)
    page = (await client.get("/api/v1/notifications", headers=acct.headers)).json()
    assert [n["reminder_id"] for n in page["items"]] == [active]

    await set_archived(database, acct, old.id, False)
    async with database.write_sessions() as s:
        await s.execute(
            update(Reminder)
            .where(Reminder.id == uuid.UUID(later))
            .values(fire_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await s.commit()
    fired = await fire_due(database)
    assert (fired.notified, fired.skipped) == (1, 0)  # the missed one stays spent
    page = (await client.get("/api/v1/notifications", headers=acct.headers)).json()
    assert sorted(n["reminder_id"] for n in page["items"]) == sorted([active, later])
    reminders = (await client.get(reminders_url(task), headers=acct.headers)).json()
    assert all(r["fired_at"] is not None for r in reminders)
