"""iCalendar feeds over HTTP: managing feeds, what a feed publishes (parsed back with
icalendar), filters, ETag/304, and every way a secret can be wrong."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import socket
import subprocess
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import recurring_ical_events
import vobject
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar, Component
from pydantic import ValidationError
from sqlalchemy import select, update

from doable.app import create_app
from doable.db import Database
from doable.feeds import ical
from doable.feeds import service as feeds_service
from doable.feeds.cache import ENTRY_OVERHEAD, RenderCache
from doable.feeds.models import CalendarFeed
from doable.feeds.schemas import FeedCreate
from doable.feeds.service import FeedTask
from doable.tasks.models import Tag, Task
from doable.types import ONE_LINE_PATTERN
from tests.conftest import IN_CI, make_client, runtime_for
from tests.factories import (
    Account,
    assert_problem,
    bearer,
    make_account,
    make_api_token,
    make_task,
)
from tests.server import Server, server_env
from tests.test_query_counts import count_statements
from tests.webclient import WebClient

FEEDS = "/api/v1/feeds"
BERLIN = ZoneInfo("Europe/Berlin")
URL_RE = re.compile(r"^http://testserver/ical/([A-Za-z0-9_-]{43})\.ics$")


async def make_feed(client: httpx.AsyncClient, acct: Account, **fields: Any) -> dict[str, Any]:
    fields.setdefault("name", "My tasks")
    r = await client.post(FEEDS, json=fields, headers=acct.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def path_of(url: str) -> str:
    return httpx.URL(url).path


def secret_of(url: str) -> str:
    found = URL_RE.fullmatch(url)
    assert found, url
    return found.group(1)


async def fetch(client: httpx.AsyncClient, url: str) -> Calendar:
    r = await client.get(path_of(url))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(r.content)


def by_summary(calendar: Calendar, name: str = "VTODO") -> dict[str, Component]:
    return {str(c["SUMMARY"]): c for c in calendar.walk(name)}


def categories(component: Component) -> list[str]:
    found = component.get("CATEGORIES")
    if found is None:
        return []
    return [str(c) for c in found.cats]


# Managing feeds


async def test_create_list_rotate_revoke(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    r = await client.post(
        FEEDS,
        json={"name": "  Work  ", "kind": "vevent", "tag": "work", "priority": ["urgent", "high"]},
        headers=acct.headers,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    secret = secret_of(created["url"])
    assert created == {
        "id": created["id"],
        "name": "Work",
        "kind": "vevent",
        "tag": "work",
        "priority": ["high", "urgent"],
        "status": "open",
        "project_id": None,
        "hint": secret[:4],
        "created_at": created["created_at"],
        "last_fetched_at": None,
        "url": created["url"],
    }
    listed = (await client.get(FEEDS, headers=acct.headers)).json()
    assert listed == [{k: v for k, v in created.items() if k != "url"}]
    assert secret not in (await client.get(FEEDS, headers=acct.headers)).text

    r = await client.get(path_of(created["url"]))
    assert r.status_code == 200
    listed = (await client.get(FEEDS, headers=acct.headers)).json()
    assert listed[0]["last_fetched_at"] is not None

    r = await client.post(f"{FEEDS}/{created['id']}/rotate", headers=acct.headers)
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert rotated["id"] == created["id"] and rotated["url"] != created["url"]
    assert rotated["hint"] == secret_of(rotated["url"])[:4]
    assert_problem(await client.get(path_of(created["url"])), 404)
    assert (await client.get(path_of(rotated["url"]))).status_code == 200

    r = await client.delete(f"{FEEDS}/{created['id']}", headers=acct.headers)
    assert r.status_code == 204
    assert_problem(await client.get(path_of(rotated["url"])), 404)
    assert (await client.get(FEEDS, headers=acct.headers)).json() == []
    assert_problem(await client.delete(f"{FEEDS}/{created['id']}", headers=acct.headers), 404)
    r = await client.post(f"{FEEDS}/{created['id']}/rotate", headers=acct.headers)
    assert_problem(r, 404)


async def test_only_the_hash_of_the_secret_is_stored(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    feed = await make_feed(client, acct)
    secret = secret_of(feed["url"])
    async with database.read_sessions() as s:
        row = (await s.execute(select(CalendarFeed))).scalar_one()
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert row.hint == secret[:4] and secret not in repr(vars(row))


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": "x", "kind": "vjournal"},
        {"name": "x", "status": "pending"},
        {"name": "x", "priority": ["high", "extreme"]},
        {"name": "x", "tag": ""},
        {"name": "x", "tag": "t" * 51},
        {"name": "x", "secret": "mine"},
        {"name": "x\u0000"},
    ],
)
async def test_bad_feed_bodies_are_422(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    acct = await make_account(client)
    assert_problem(await client.post(FEEDS, json=body, headers=acct.headers), 422)
    assert (await client.get(FEEDS, headers=acct.headers)).json() == []


async def test_feeds_per_user_are_capped(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feeds_service, "MAX_FEEDS_PER_USER", 3)
    acct = await make_account(client)
    feeds = [await make_feed(client, acct, name=f"f{i}") for i in range(3)]
    body = assert_problem(await client.post(FEEDS, json={"name": "x"}, headers=acct.headers), 409)
    assert body["detail"] == "You already have 3 calendar feeds; revoke one to make another"
    # Revoked feeds do not count; another user has their own allowance.
    await client.delete(f"{FEEDS}/{feeds[0]['id']}", headers=acct.headers)
    await make_feed(client, acct, name="again")
    other = await make_account(client)
    await make_feed(client, other)


async def test_api_token_scopes(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    feed = await make_feed(client, acct)
    reader = bearer((await make_api_token(client, acct, "tasks:read"))["token"])
    writer = bearer((await make_api_token(client, acct, "tasks:write"))["token"])
    both = bearer((await make_api_token(client, acct, "tasks:read", "tasks:write"))["token"])
    account = bearer((await make_api_token(client, acct, "account:read"))["token"])

    assert (await client.get(FEEDS, headers=reader)).status_code == 200
    for headers in (writer, account):
        assert_problem(await client.get(FEEDS, headers=headers), 403)
    # A read-only token cannot mint a standing URL (it would outlive the token).
    for headers in (reader, writer, account):
        assert_problem(await client.post(FEEDS, json={"name": "x"}, headers=headers), 403)
        r = await client.post(f"{FEEDS}/{feed['id']}/rotate", headers=headers)
        assert_problem(r, 403)
        assert_problem(await client.delete(f"{FEEDS}/{feed['id']}", headers=headers), 403)
    assert (await client.post(FEEDS, json={"name": "x"}, headers=both)).status_code == 201
    r = await client.post(f"{FEEDS}/{feed['id']}/rotate", headers=both)
    assert r.status_code == 200
    assert (await client.delete(f"{FEEDS}/{feed['id']}", headers=both)).status_code == 204


async def test_idempotent_create_replays_without_the_url(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    headers = {**acct.headers, "Idempotency-Key": "feed-1"}
    first = await client.post(FEEDS, json={"name": "x"}, headers=headers)
    again = await client.post(FEEDS, json={"name": "x"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == {**first.json(), "url": None}
    assert len((await client.get(FEEDS, headers=acct.headers)).json()) == 1


async def test_other_users_feed_is_404(client: httpx.AsyncClient) -> None:
    owner = await make_account(client)
    intruder = await make_account(client)
    feed = await make_feed(client, owner)
    r = await client.post(f"{FEEDS}/{feed['id']}/rotate", headers=intruder.headers)
    assert_problem(r, 404)
    assert_problem(await client.delete(f"{FEEDS}/{feed['id']}", headers=intruder.headers), 404)
    assert (await client.get(FEEDS, headers=intruder.headers)).json() == []
    assert (await client.get(path_of(feed["url"]))).status_code == 200


async def test_deleting_the_account_kills_its_feeds(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    feed = await make_feed(client, acct)
    r = await client.request(
        "DELETE", "/api/v1/me", json={"password": acct.password}, headers=acct.headers
    )
    assert r.status_code == 204
    assert_problem(await client.get(path_of(feed["url"])), 404)
    async with database.read_sessions() as s:
        assert (await s.execute(select(CalendarFeed))).scalars().all() == []


# What a feed publishes


LONG = "A long description that goes on. " * 20 + "Ünïcödé ✓ end."


async def _sample_tasks(client: httpx.AsyncClient, acct: Account) -> dict[str, dict[str, Any]]:
    made = {
        "allday": await make_task(
            client, acct, title="All-day", due="2030-03-01", priority="urgent", tags=["Work"]
        ),
        "timed": await make_task(
            client,
            acct,
            title="Timed",
            due="2030-03-02T09:30:00+02:00",
            priority="high",
            description=LONG,
            tags=["work", "home"],
        ),
        "emoji": await make_task(
            client, acct, title="Café 🎉 " + "ü" * 80, due="2030-03-03", priority="medium"
        ),
        "done": await make_task(
            client, acct, title="Done", due="2030-02-01", priority="low", completed=True
        ),
        "undated": await make_task(client, acct, title="No due date", tags=["Work"]),
    }
    return made


async def test_vtodo_feed_content(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    made = await _sample_tasks(client, acct)
    other = await make_account(client)
    await make_task(client, other, title="Someone else's", due="2030-03-01")
    feed = await make_feed(client, acct, name="Everything ✓", status="all")
    r = await client.get(path_of(feed["url"]))
    # Long lines are folded at 75 octets.
    assert all(len(line) <= 75 for line in r.content.split(b"\r\n")), r.content
    assert b"\r\n " in r.content
    calendar = Calendar.from_ical(r.content)
    assert str(calendar["X-WR-CALNAME"]) == "Everything ✓"
    assert calendar["REFRESH-INTERVAL"].dt.total_seconds() == 3600
    # Not an iTIP message, so no METHOD (libical then wants an ORGANIZER and a DTSTART).
    assert str(calendar["VERSION"]) == "2.0" and "METHOD" not in calendar
    todos = by_summary(calendar)
    emoji_title = "Café 🎉 " + "ü" * 80
    assert set(todos) == {"All-day", "Timed", emoji_title, "Done"}
    assert calendar.walk("VEVENT") == []

    allday = todos["All-day"]
    assert allday.decoded("DUE") == date(2030, 3, 1)
    assert allday["DUE"].params.get("VALUE") == "DATE"
    assert int(allday["PRIORITY"]) == 1
    assert str(allday["STATUS"]) == "NEEDS-ACTION"
    assert categories(allday) == ["Work"]
    assert "DTSTART" not in allday and "RRULE" not in allday and "COMPLETED" not in allday
    assert str(allday["UID"]) == f"{made['allday']['id']}.{uuid.UUID(feed['id']).hex[:8]}@doable"
    assert "DESCRIPTION" not in allday

    timed = todos["Timed"]
    assert timed.decoded("DUE") == datetime(2030, 3, 2, 7, 30, tzinfo=UTC)
    assert int(timed["PRIORITY"]) == 3
    assert categories(timed) == ["home", "Work"]  # a tag keeps its first spelling
    assert str(timed["DESCRIPTION"]) == LONG
    created = datetime.fromisoformat(made["timed"]["created_at"])
    assert timed.decoded("CREATED") == created.replace(microsecond=0)
    assert timed.decoded("DTSTAMP") == timed.decoded("LAST-MODIFIED")

    emoji = todos[emoji_title]
    assert int(emoji["PRIORITY"]) == 5 and emoji.decoded("DUE") == date(2030, 3, 3)
    assert categories(emoji) == []

    done = todos["Done"]
    assert str(done["STATUS"]) == "COMPLETED" and int(done["PRIORITY"]) == 9
    assert int(done["PERCENT-COMPLETE"]) == 100
    completed_at = datetime.fromisoformat(made["done"]["completed_at"]).replace(microsecond=0)
    assert done.decoded("COMPLETED") == completed_at


async def test_priority_none_is_zero_and_uids_are_stable(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, title="Plain", due="2030-01-01")
    feed = await make_feed(client, acct)
    first = by_summary(await fetch(client, feed["url"]))["Plain"]
    assert int(first["PRIORITY"]) == 0
    await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"title": "Renamed"}, headers=acct.headers
    )
    rotated = (await client.post(f"{FEEDS}/{feed['id']}/rotate", headers=acct.headers)).json()
    second = by_summary(await fetch(client, rotated["url"]))["Renamed"]
    assert str(second["UID"]) == str(first["UID"])


async def test_vevent_feed_content(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    await _sample_tasks(client, acct)
    feed = await make_feed(client, acct, kind="vevent", status="all")
    calendar = await fetch(client, feed["url"])
    assert calendar.walk("VTODO") == []
    events = by_summary(calendar, "VEVENT")
    assert set(events) == {"All-day", "Timed", "Café 🎉 " + "ü" * 80, "✓ Done"}
    allday = events["All-day"]
    assert allday.decoded("DTSTART") == date(2030, 3, 1)
    assert allday["DTSTART"].params.get("VALUE") == "DATE"
    assert allday.decoded("DTEND") == date(2030, 3, 2)
    assert int(allday["PRIORITY"]) == 1 and categories(allday) == ["Work"]
    timed = events["Timed"]
    assert timed.decoded("DTSTART") == datetime(2030, 3, 2, 7, 30, tzinfo=UTC)
    assert timed.decoded("DTEND") == datetime(2030, 3, 2, 8, 0, tzinfo=UTC)
    assert str(timed["TRANSP"]) == "TRANSPARENT" and "STATUS" not in timed
    assert "DUE" not in timed


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, {"All-day", "Timed", "emoji"}),
        ({"status": "completed"}, {"Done"}),
        ({"status": "all"}, {"All-day", "Timed", "emoji", "Done"}),
        ({"tag": "WORK"}, {"All-day", "Timed"}),
        ({"tag": "home", "status": "all"}, {"Timed"}),
        ({"tag": "nonexistent"}, set()),
        ({"priority": ["urgent"]}, {"All-day"}),
        ({"priority": ["low", "medium"], "status": "all"}, {"emoji", "Done"}),
        ({"priority": ["high"], "tag": "home"}, {"Timed"}),
        ({"priority": ["none"]}, set()),
    ],
)
async def test_filters(
    client: httpx.AsyncClient, filters: dict[str, Any], expected: set[str]
) -> None:
    acct = await make_account(client)
    await _sample_tasks(client, acct)
    feed = await make_feed(client, acct, **filters)
    titles = {
        "emoji" if title.startswith("Café") else title
        for title in by_summary(await fetch(client, feed["url"]))
    }
    assert titles == expected


async def test_the_newest_due_tasks_are_kept_past_the_cap(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feeds_service, "MAX_FEED_TASKS", 3)
    acct = await make_account(client)
    for day in range(1, 6):
        await make_task(client, acct, title=f"day {day}", due=f"2030-01-0{day}", tags=["t"])
    feed = await make_feed(client, acct)
    calendar = await fetch(client, feed["url"])
    summaries = [str(c["SUMMARY"]) for c in calendar.walk("VTODO")]
    assert summaries == ["day 3", "day 4", "day 5"]
    assert all(categories(c) == ["t"] for c in calendar.walk("VTODO"))


async def test_a_feed_reads_a_fixed_number_of_statements(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    feed = await make_feed(client, acct)
    await client.get(path_of(feed["url"]))  # the once-a-minute fetch time is written now
    counts = []
    for n in (2, 12):
        while len((await client.get("/api/v1/tasks", headers=acct.headers)).json()["items"]) < n:
            await make_task(client, acct, due="2030-01-01", tags=["a", "b"])
        with count_statements(database) as statements:
            r = await client.get(path_of(feed["url"]))
        assert r.status_code == 200 and r.text.count("BEGIN:VTODO") == n
        counts.append(len(statements))
    # Feed by secret, fingerprint (counts, tags), tasks, their tags.
    assert counts == [5, 5]


async def test_recurring_tasks_carry_their_rrule(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    await make_task(
        client,
        acct,
        title="Weekly",
        due="2030-01-07",
        recurrence={"rule": "FREQ=WEEKLY;BYDAY=MO"},
    )
    await make_task(client, acct, title="Once", due="2030-01-08")
    for kind in ("vtodo", "vevent"):
        feed = await make_feed(client, acct, kind=kind)
        component = "VTODO" if kind == "vtodo" else "VEVENT"
        items = by_summary(await fetch(client, feed["url"]), component)
        weekly = items["Weekly"]
        assert weekly["RRULE"].to_ical() == b"FREQ=WEEKLY;BYDAY=MO"
        assert weekly.decoded("DTSTART") == date(2030, 1, 7)
        assert "RRULE" not in items["Once"]
        # A repeating VTODO has its DTSTART and no DUE (DUE must come after DTSTART).
        assert "DUE" not in weekly
        if kind == "vtodo":
            assert "DTSTART" not in items["Once"]
            assert items["Once"].decoded("DUE") == date(2030, 1, 8)


def _feed_task(**fields: Any) -> FeedTask:
    now = datetime(2030, 1, 1, 12, tzinfo=UTC)
    values: dict[str, Any] = {
        "id": uuid.UUID(int=1),
        "title": "Weekly",
        "description": "",
        "priority": 0,
        "completed": False,
        "completed_at": None,
        "due": date(2030, 1, 7),
        "rrule": None,
        "tags": (),
        "created_at": now,
        "updated_at": now,
    }
    values.update(fields)
    return FeedTask(**values)


@pytest.mark.parametrize("kind", ["vtodo", "vevent"])
def test_rrule_rendering(kind: str) -> None:
    """The rendering half of recurrence, including a stored rule it cannot read."""
    feed_id = uuid.UUID(int=2)
    weekly = _feed_task(rrule="FREQ=WEEKLY;BYDAY=MO")
    prefixed = _feed_task(id=uuid.UUID(int=3), rrule="RRULE:FREQ=DAILY;COUNT=3")
    broken = _feed_task(id=uuid.UUID(int=4), rrule="FREQ=SOMETIMES;BYDAY=XX")
    once = _feed_task(id=uuid.UUID(int=5))
    for task, expected in (
        (weekly, b"FREQ=WEEKLY;BYDAY=MO"),
        (prefixed, b"FREQ=DAILY;COUNT=3"),
        (broken, None),
        (once, None),
    ):
        parsed = Component.from_ical(ical.component(task, feed_id, kind, BERLIN).to_ical())
        if expected is None:
            assert "RRULE" not in parsed
            assert ("DTSTART" in parsed) == (kind == "vevent")
            assert ("DUE" in parsed) == (kind == "vtodo")
        else:
            assert parsed["RRULE"].to_ical() == expected
            assert parsed.decoded("DTSTART") == date(2030, 1, 7)
            assert "DUE" not in parsed
    assert feeds_service.task_rrule(object()) is None
    assert feeds_service.task_rrule(type("T", (), {"rrule": "  "})()) is None
    assert feeds_service.task_rrule(type("T", (), {"rrule": "FREQ=DAILY"})()) == "FREQ=DAILY"


# Caching


async def test_etag_and_304(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, title="A", due="2030-01-01", tags=["work"])
    feed = await make_feed(client, acct)
    path = path_of(feed["url"])
    r = await client.get(path)
    etag = r.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{40}"', etag)
    assert r.headers["cache-control"] == "private, no-cache"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert (await client.get(path)).content == r.content

    r304 = await client.get(path, headers={"If-None-Match": etag})
    assert r304.status_code == 304 and r304.content == b""
    assert r304.headers["etag"] == etag
    r = await client.get(path, headers={"If-None-Match": f'"other", W/{etag}'})
    assert r.status_code == 304
    r = await client.get(path, headers={"If-None-Match": '"other"'})
    assert r.status_code == 200

    head = await client.head(path)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == etag
    assert head.headers["content-type"] == "text/calendar; charset=utf-8"
    assert (await client.head(path, headers={"If-None-Match": etag})).status_code == 304

    seen = {etag}
    changes = [
        ("PATCH", f"/api/v1/tasks/{task['id']}", {"title": "B"}),
        ("POST", f"/api/v1/tasks/{task['id']}/complete", None),  # leaves the open-only feed
        ("POST", f"/api/v1/tasks/{task['id']}/reopen", None),
        ("POST", "/api/v1/tasks", {"title": "C", "due": "2030-01-02"}),
    ]
    for method, url, body in changes:
        r = await client.request(method, url, json=body, headers=acct.headers)
        assert r.status_code in (200, 201), r.text
        new = (await client.get(path)).headers["etag"]
        assert new not in seen, (method, url)
        seen.add(new)
        assert (await client.get(path, headers={"If-None-Match": etag})).status_code == 200
    # Renaming a tag changes CATEGORIES without touching the task.
    tags = (await client.get("/api/v1/tags", headers=acct.headers)).json()
    r = await client.patch(
        f"/api/v1/tags/{tags[0]['id']}", json={"name": "Job"}, headers=acct.headers
    )
    assert r.status_code == 200
    r = await client.get(path)
    assert r.headers["etag"] not in seen and b"CATEGORIES:Job" in r.content
    seen.add(r.headers["etag"])
    # Deleting a task too; and an undated task does not matter.
    await make_task(client, acct, title="undated")
    assert (await client.get(path)).headers["etag"] in seen
    r = await client.delete(f"/api/v1/tasks/{task['id']}", headers=acct.headers)
    assert r.status_code == 204
    assert (await client.get(path)).headers["etag"] not in seen


async def test_same_tasks_in_two_feeds_have_different_etags(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    await make_task(client, acct, due="2030-01-01")
    one = await make_feed(client, acct, name="one")
    two = await make_feed(client, acct, name="two")
    a = (await client.get(path_of(one["url"]))).headers["etag"]
    b = (await client.get(path_of(two["url"]))).headers["etag"]
    assert a != b


# Secrets


async def test_every_bad_secret_is_the_same_404(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    await make_task(client, acct, due="2030-01-01")
    revoked = await make_feed(client, acct)
    await client.delete(f"{FEEDS}/{revoked['id']}", headers=acct.headers)
    rotated = await make_feed(client, acct)
    await client.post(f"{FEEDS}/{rotated['id']}/rotate", headers=acct.headers)
    live = await make_feed(client, acct)
    live_secret = secret_of(live["url"])
    candidates = [
        path_of(revoked["url"]),
        path_of(rotated["url"]),
        "/ical/" + "A" * 43 + ".ics",  # well formed, unknown
        "/ical/" + live_secret[:-1] + ".ics",
        "/ical/" + live_secret + "x.ics",
        "/ical/" + live_secret.upper() + ".ics",
        "/ical/short.ics",
        "/ical/" + "a" * 10_000 + ".ics",
        "/ical/" + live_secret + ".ics.ics",
        "/ical/%00" + live_secret[1:] + ".ics",
        "/ical/%2e%2e.ics",
        "/ical/" + "é" * 43 + ".ics",
        "/ical/" + live_secret[:-1] + "%20.ics",
    ]
    details = set()
    for url in candidates:
        for method in ("GET", "HEAD"):
            r = await client.request(method, url)
            assert r.status_code == 404, (method, url, r.text)
            assert "text/calendar" not in r.headers["content-type"]
        body = assert_problem(await client.get(url), 404)
        details.add(body["detail"])
    assert details == {"No calendar feed at this address"}
    assert (await client.get(path_of(live["url"]))).status_code == 200


@pytest.mark.parametrize(
    "raw_path",
    [
        b"/ical/../api/v1/me.ics",
        b"/ical/..%2F..%2Fapi%2Fv1%2Fme.ics",
        b"/ical/a%2Fb.ics",
        b"/ical/%2e%2e%2f%2e%2e%2fetc%2fpasswd.ics",
        b"/ical//x.ics",
        b"/ical/.ics",
        b"/ical/x.ics/",
        b"/ical/%ff%fe.ics",
    ],
)
async def test_path_tricks_are_404_never_500(client: httpx.AsyncClient, raw_path: bytes) -> None:
    acct = await make_account(client)
    await make_feed(client, acct)
    url = httpx.URL("http://testserver/").copy_with(raw_path=raw_path)
    r = await client.get(url)
    if r.status_code == 307:  # Starlette drops a trailing slash; the target is then 404
        assert r.headers["location"] == "http://testserver/ical/x.ics"
        r = await client.get(r.headers["location"])
    assert r.status_code == 404, r.text  # never a feed, never a 500
    assert "text/calendar" not in r.headers["content-type"] and "Traceback" not in r.text


async def test_the_secret_is_never_logged(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    acct = await make_account(client)
    feed = await make_feed(client, acct)
    secret = secret_of(feed["url"])
    with caplog.at_level(logging.INFO, logger="doable.access"):
        assert (await client.get(path_of(feed["url"]))).status_code == 200
        assert (await client.head(path_of(feed["url"]))).status_code == 200
        assert (await client.get("/ical/" + secret[:-1] + "Z.ics")).status_code == 404
    lines = [r for r in caplog.records if r.name == "doable.access"]
    assert [r.getMessage() for r in lines] == [
        f"GET /ical/{secret[:4]}….ics 200",
        f"HEAD /ical/{secret[:4]}….ics 200",
        f"GET /ical/{secret[:4]}….ics 404",
    ]
    assert [r.__dict__["http_path"] for r in lines] == [f"/ical/{secret[:4]}….ics"] * 3
    assert secret not in caplog.text and secret[:10] not in caplog.text


async def test_the_feed_is_not_behind_login_or_csrf(client: httpx.AsyncClient) -> None:
    """A calendar app has no session cookie, CSRF token or Origin: it still gets the feed."""
    acct = await make_account(client)
    feed = await make_feed(client, acct)
    r = await client.get(
        path_of(feed["url"]),
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    )
    assert r.status_code == 200
    # Only GET and HEAD.
    r = await client.post(path_of(feed["url"]))
    assert r.status_code == 405


# The web app's account page


WEB_URL_RE = re.compile(
    r'id="feed-url" type="text" readonly value="(http://testserver/ical/[^"]+)"'
)


async def test_web_create_copy_rotate_revoke(client: httpx.AsyncClient) -> None:
    web = WebClient(client)
    await web.signup()
    page = await web.get("/account")
    assert "Calendar feeds" in page.text and 'id="feed-url"' not in page.text
    r = await web.post(
        "/account/feeds", {"name": "Work", "kind": "vevent", "tag": "work", "status": "all"}
    )
    assert r.status_code == 201 and "shown only once" in r.text
    assert "location" not in r.headers and r.headers["cache-control"] == "no-store"
    url = WEB_URL_RE.search(r.text).group(1)  # type: ignore[union-attr]
    secret = secret_of(url)
    assert f'href="webcal://testserver/ical/{secret}.ics"' in r.text
    assert 'data-copy="feed-url"' in r.text and "<script>" not in r.text
    feed_id = re.search(r'id="feed-([0-9a-f-]{36})"', r.text).group(1)  # type: ignore[union-attr]
    await web.add("Dated", due_date="2030-01-01", tags="work")
    events = by_summary(await fetch(client, url), "VEVENT")
    assert set(events) == {"Dated"}

    # Afterwards the page shows the hint only, never the address.
    page = await web.get("/account")
    assert secret not in page.text and f"…/ical/{secret[:4]}…" in page.text
    assert "Events, all · #work" in page.text

    r = await web.post(f"/account/feeds/{feed_id}/rotate")
    assert r.status_code == 200
    new_url = WEB_URL_RE.search(r.text).group(1)  # type: ignore[union-attr]
    assert new_url != url
    assert (await client.get(path_of(url))).status_code == 404
    assert (await client.get(path_of(new_url))).status_code == 200

    r = await web.post(f"/account/feeds/{feed_id}/revoke")
    assert (r.status_code, r.headers["location"]) == (303, "/account?saved=feed")
    assert (await client.get(path_of(new_url))).status_code == 404
    page = await web.get("/account?saved=feed")
    assert "Feed revoked" in page.text and f'id="feed-{feed_id}"' not in page.text


async def test_web_feed_form_errors_and_csrf(client: httpx.AsyncClient, database: Database) -> None:
    web = WebClient(client)
    await web.signup()
    r = await web.post("/account/feeds", {"name": "  "})
    assert r.status_code == 422 and 'id="feed_name-error"' in r.text
    r = await web.post("/account/feeds", {"name": "x", "tag": "t" * 51})
    assert r.status_code == 422 and 'id="feed_tag-error"' in r.text
    r = await web.post("/account/feeds", {"name": "x", "kind": "vjournal"})
    assert r.status_code == 422 and 'id="feeds-error"' in r.text
    # Without the CSRF token, or cross-site: refused, nothing made.
    r = await client.post(
        "/account/feeds", data={"name": "x"}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert r.status_code == 403
    r = await web.post("/account/feeds", {"name": "x"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    async with database.read_sessions() as s:
        assert (await s.execute(select(CalendarFeed))).scalars().all() == []


# A real server process


@pytest.mark.slow
def test_real_server_serves_a_feed_and_logs_no_secret(tmp_path: Path) -> None:
    data_dir, home = tmp_path / "data", tmp_path / "home"
    data_dir.mkdir()
    home.mkdir()
    env = server_env(data_dir, home, LOG_FORMAT="json")
    with Server(env, logs_dir=tmp_path, name="feeds", cwd=home) as server, server.client() as c:
        r = c.post(
            "/api/v1/auth/signup", json={"email": "cal@example.com", "password": "correct horse b"}
        )
        assert r.status_code == 201, r.text
        headers = bearer(r.json()["access_token"])
        r = c.post(
            "/api/v1/tasks", json={"title": "Ünïcode 🎉", "due": "2030-01-01"}, headers=headers
        )
        assert r.status_code == 201
        r = c.post(FEEDS, json={"name": "Real"}, headers=headers)
        assert r.status_code == 201
        url = r.json()["url"]
        assert url == f"{server.base_url}/ical/{url.rsplit('/', 1)[1]}"
        secret = url.rsplit("/", 1)[1].removesuffix(".ics")
        r = c.get(url)
        assert r.status_code == 200 and "SUMMARY:Ünïcode 🎉" in r.text
        etag = r.headers["etag"]
        assert c.get(url, headers={"If-None-Match": etag}).status_code == 304
        head = c.head(url)
        assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag
        # Raw request lines that no client library would send.
        host, port = server.base_url.removeprefix("http://").split(":")
        for target in (
            b"/ical/../../etc/passwd.ics",
            b"/ical/%2e%2e%2f%2e%2e%2fetc%2fpasswd.ics",
            b"/ical/\xff\xfe.ics",
            b"/ical/" + secret.encode() + b"%00.ics",
            b"/ical/" + b"A" * 60_000 + b".ics",
        ):
            status = _raw_get(host, int(port), target)
            assert status in (400, 404, 414), (target[:40], status)
    log = server.stderr
    assert secret not in log and secret[:8] not in log
    access = [json.loads(line) for line in log.splitlines() if '"doable.access"' in line]
    feed_lines = [a for a in access if a["http_path"].startswith("/ical/")]
    assert [a["http_path"] for a in feed_lines[:3]] == [f"/ical/{secret[:4]}….ics"] * 3
    assert "Traceback" not in log


def _raw_get(host: str, port: int, target: bytes) -> int:
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


# What real calendar parsers make of a feed


async def _set_zone(client: httpx.AsyncClient, acct: Account, zone: str) -> None:
    r = await client.patch("/api/v1/me", json={"timezone": zone}, headers=acct.headers)
    assert r.status_code == 200, r.text


async def _doable_occurrences(
    client: httpx.AsyncClient, acct: Account, task: dict[str, Any], until: datetime
) -> list[datetime]:
    """The dues Doable itself gives the series: complete the task again and again."""
    dues = [datetime.fromisoformat(task["due"])]
    while True:
        r = await client.post(f"/api/v1/tasks/{task['id']}/complete", headers=acct.headers)
        assert r.status_code == 200, r.text
        if r.json()["completed"]:  # the series has ended
            return dues
        due = datetime.fromisoformat(r.json()["due"])
        if due >= until:
            return dues
        dues.append(due)


@pytest.mark.parametrize("kind", ["vtodo", "vevent"])
async def test_repeating_times_expand_in_the_owner_zone(
    client: httpx.AsyncClient, kind: str
) -> None:
    """Across Berlin's DST change on 2027-03-28, recurring-ical-events finds the occurrences
    at the wall-clock times (and on the weekdays) that Doable's own recurrence gives."""
    acct = await make_account(client)
    await _set_zone(client, acct, "Europe/Berlin")
    made = {
        "Standup": await make_task(
            client,
            acct,
            title="Standup",
            due="2027-03-01T09:00:00+01:00",
            recurrence={"rule": "FREQ=WEEKLY;BYDAY=MO,WE"},
        ),
        "Night": await make_task(
            client,
            acct,
            title="Night",
            due="2027-03-01T00:30:00+01:00",
            recurrence={"rule": "FREQ=WEEKLY;BYDAY=MO"},
        ),
        "Until": await make_task(
            client,
            acct,
            title="Until",
            due="2027-03-24T23:30:00+01:00",
            recurrence={"rule": "FREQ=DAILY;UNTIL=20270330"},
        ),
    }
    feed = await make_feed(client, acct, kind=kind)
    r = await client.get(path_of(feed["url"]))
    calendar = Calendar.from_ical(r.content)
    component = "VTODO" if kind == "vtodo" else "VEVENT"
    for item in calendar.walk(component):
        assert "DTSTART;TZID=Europe/Berlin:" in item.to_ical().decode()
    [vtimezone] = calendar.walk("VTIMEZONE")
    assert str(vtimezone["TZID"]) == "Europe/Berlin"
    feed_zone = vtimezone.to_tz()  # the zone as the feed's own VTIMEZONE describes it

    start, end = datetime(2027, 2, 1, tzinfo=BERLIN), datetime(2027, 5, 1, tzinfo=BERLIN)
    found: dict[str, list[datetime]] = {}
    for occurrence in recurring_ical_events.of(calendar, components=[component]).between(
        start, end
    ):
        at = occurrence.decoded("DTSTART")
        found.setdefault(str(occurrence["SUMMARY"]), []).append(at)
    expected = {
        title: await _doable_occurrences(client, acct, task, end) for title, task in made.items()
    }
    assert set(found) == set(expected)
    for title, dues in expected.items():
        local = [d.astimezone(BERLIN).replace(tzinfo=None) for d in dues]
        assert [o.astimezone(BERLIN).replace(tzinfo=None) for o in found[title]] == local
        assert [o.astimezone(UTC) for o in found[title]] == dues
        for moment in local:  # the VTIMEZONE agrees with the tz database on every one
            ours = moment.replace(tzinfo=feed_zone).utcoffset()
            assert ours == moment.replace(tzinfo=BERLIN).utcoffset(), moment
    standup = [d.astimezone(BERLIN) for d in expected["Standup"]]
    assert {(d.strftime("%a"), d.hour, d.minute) for d in standup} == {
        ("Mon", 9, 0),
        ("Wed", 9, 0),
    }
    assert len(standup) == 18 and standup[8] == datetime(2027, 3, 29, 9, tzinfo=BERLIN)
    night = [d.astimezone(BERLIN) for d in expected["Night"]]
    assert {(d.strftime("%a"), d.hour, d.minute) for d in night} == {("Mon", 0, 30)}
    assert len(night) == 9
    # UNTIL (a date: the whole day, local) covers the 30th's 23:30, written in UTC.
    until = [d.astimezone(BERLIN).date() for d in expected["Until"]]
    assert until == [date(2027, 3, day) for day in range(24, 31)]
    assert b"UNTIL=20270330T215959Z" in r.content


async def test_a_repeating_time_in_utc_needs_no_timezone(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    await make_task(
        client,
        acct,
        title="Weekly",
        due="2027-03-01T09:00:00Z",
        recurrence={"rule": "FREQ=WEEKLY;BYDAY=MO"},
    )
    await make_task(client, acct, title="Once", due="2027-03-02T09:00:00+01:00")
    feed = await make_feed(client, acct)
    r = await client.get(path_of(feed["url"]))
    calendar = Calendar.from_ical(r.content)
    assert calendar.walk("VTIMEZONE") == []
    todos = by_summary(calendar)
    assert todos["Weekly"].decoded("DTSTART") == datetime(2027, 3, 1, 9, tzinfo=UTC)
    assert todos["Once"].decoded("DUE") == datetime(2027, 3, 2, 8, tzinfo=UTC)
    # The owner moves: the same instant is now written in their zone, under a new ETag.
    await _set_zone(client, acct, "Europe/Berlin")
    moved = await client.get(path_of(feed["url"]), headers={"If-None-Match": r.headers["etag"]})
    assert moved.status_code == 200 and moved.headers["etag"] != r.headers["etag"]
    calendar = Calendar.from_ical(moved.content)
    assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    todos = by_summary(calendar)
    assert b"DTSTART;TZID=Europe/Berlin:20270301T100000" in moved.content
    assert todos["Weekly"].decoded("DTSTART") == datetime(2027, 3, 1, 10, tzinfo=BERLIN)
    assert todos["Once"].decoded("DUE") == datetime(2027, 3, 2, 8, tzinfo=UTC)


LIBICAL_CHECK = Path(__file__).with_name("libical_check.py")
DEBIAN_PYTHON = "/usr/bin/python3"


def _libical(tmp_path: Path, content: bytes) -> dict[str, Any]:
    """libical's verdict on the feed, from Debian's python3 with gir1.2-ical-3.0."""
    probe = subprocess.run(
        [DEBIAN_PYTHON, "-c", "import gi; gi.require_version('ICalGLib', '3.0')"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        message = "libical needs Debian's python3-gi and gir1.2-ical-3.0 (see .ci/run)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    path = tmp_path / "feed.ics"
    path.write_bytes(content)
    done = subprocess.run(
        [DEBIAN_PYTHON, str(LIBICAL_CHECK), str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    verdict: dict[str, Any] = json.loads(done.stdout)
    verdict["exit"] = done.returncode
    return verdict


CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|(?<!\r)\n")


@pytest.mark.parametrize("kind", ["vtodo", "vevent"])
async def test_the_feed_passes_libical_vobject_and_icalendar(
    client: httpx.AsyncClient, tmp_path: Path, kind: str
) -> None:
    acct = await make_account(client)
    await _set_zone(client, acct, "America/New_York")
    await _sample_tasks(client, acct)
    await make_task(
        client,
        acct,
        title="Repeating timed",
        due="2027-03-08T21:00:00-05:00",
        recurrence={"rule": "FREQ=WEEKLY;BYDAY=MO;COUNT=5"},
        description="line one\nline two",
    )
    await make_task(
        client,
        acct,
        title="Repeating day",
        due="2027-03-31",
        recurrence={"rule": "FREQ=MONTHLY;BYMONTHDAY=-1;UNTIL=20271231T120000Z"},
    )
    feed = await make_feed(client, acct, kind=kind, status="all")
    r = await client.get(path_of(feed["url"]))
    assert r.status_code == 200
    assert CONTROL_BYTES.search(r.content) is None

    verdict = _libical(tmp_path, r.content)
    component = kind.upper()
    assert verdict == {
        "restrictions": True,
        "errors": [],
        "counts": {"VCALENDAR": 1, "VTIMEZONE": 1, "STANDARD": 2, "DAYLIGHT": 1, component: 6},
        "exit": 0,
    }

    parsed = vobject.readOne(r.content.decode(), validate=True)
    assert parsed.validate(raiseException=True)
    items = getattr(parsed, f"{kind}_list")
    assert len(items) == 6 and not hasattr(parsed, "method")

    calendar = Calendar.from_ical(r.content)
    assert "METHOD" not in calendar
    assert len(calendar.walk(component)) == 6
    for item in calendar.walk(component):
        assert item.errors == []
        if "DUE" in item and "DTSTART" in item:  # RFC 5545 3.8.2.3: DUE after DTSTART
            assert item.decoded("DUE") > item.decoded("DTSTART")
        if "RRULE" in item:
            assert "DTSTART" in item and "DUE" not in item
    repeating = by_summary(calendar, component)["Repeating timed"]
    assert repeating.decoded("DTSTART") == datetime(
        2027, 3, 8, 21, tzinfo=ZoneInfo("America/New_York")
    )
    assert str(repeating["DESCRIPTION"]) == "line one\nline two"


# Line breaks and control characters


@pytest.mark.parametrize(
    "name",
    ["two\nlines", "carriage\rreturn", "crlf\r\n", "tab\there", "vt\x0b", "nel\x85", "ls\u2028"],
)
async def test_feed_names_are_one_line(client: httpx.AsyncClient, name: str) -> None:
    acct = await make_account(client)
    r = await client.post(FEEDS, json={"name": name}, headers=acct.headers)
    body = assert_problem(r, 422)
    assert body["errors"][0]["loc"] == ["body", "name"]
    assert (await client.get(FEEDS, headers=acct.headers)).json() == []


async def test_web_feed_name_with_a_line_break_is_422(client: httpx.AsyncClient) -> None:
    web = WebClient(client)
    await web.signup()
    r = await web.post("/account/feeds", {"name": "Work\r\nX-INJECTED:1"})
    assert r.status_code == 422 and 'id="feed_name-error"' in r.text


async def test_control_characters_already_stored_never_reach_the_feed(
    client: httpx.AsyncClient, database: Database, tmp_path: Path
) -> None:
    """Rows written before names were checked (or outside the API) still give a valid feed."""
    acct = await make_account(client)
    task = await make_task(client, acct, title="placeholder", due="2030-01-01", tags=["t"])
    repeating = await make_task(
        client,
        acct,
        title="placeholder 2",
        due="2030-01-02T10:00:00Z",
        recurrence={"rule": "FREQ=DAILY"},
    )
    feed = await make_feed(client, acct, name="placeholder")
    async with database.write_sessions() as s:
        await s.execute(update(CalendarFeed).values(name="Bad\r\nname\x0b\x01 here\rX-EVIL:1"))
        await s.execute(
            update(Task)
            .where(Task.id == uuid.UUID(task["id"]))
            .values(
                title="Line\rbreak\x0b\x01\x1f end\nX-EVIL:1", description="a\r\nb\rc\x01d\x7fe\tf"
            )
        )
        await s.execute(
            update(Task).where(Task.id == uuid.UUID(repeating["id"])).values(title="\x0c\x02")
        )
        await s.execute(update(Tag).values(name="ta\x0bg"))
        await s.commit()
    for kind in ("vtodo", "vevent"):
        async with database.write_sessions() as s:
            await s.execute(update(CalendarFeed).values(kind=kind))
            await s.commit()
        r = await client.get(path_of(feed["url"]))
        assert r.status_code == 200 and r.content.endswith(b"END:VCALENDAR\r\n")
        assert CONTROL_BYTES.search(r.content) is None
        assert b"\r\nX-EVIL" not in r.content
        calendar = Calendar.from_ical(r.content)
        assert str(calendar["X-WR-CALNAME"]) == "Bad name here X-EVIL:1"
        summaries = sorted(str(c.get("SUMMARY")) for c in calendar.walk(kind.upper()))
        assert summaries == ["Line break end X-EVIL:1", "None"]  # nothing left: no SUMMARY
        [item] = [c for c in calendar.walk(kind.upper()) if "SUMMARY" in c]
        assert str(item["DESCRIPTION"]) == "a\nb\ncde\tf"
        assert categories(item) == ["tag"]
        verdict = _libical(tmp_path, r.content)
        assert (verdict["exit"], verdict["errors"]) == (0, [])


# Revoked with the credentials


async def test_a_password_change_revokes_every_feed(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    await make_task(client, acct, due="2030-01-01")
    feeds = [await make_feed(client, acct, name=f"f{i}") for i in range(2)]
    other = await make_account(client)
    others = await make_feed(client, other)
    r = await client.post(
        "/api/v1/me/password",
        json={"current_password": acct.password, "new_password": "another good passphrase"},
        headers=acct.headers,
    )
    assert r.status_code == 204, r.text
    for feed in feeds:
        assert_problem(await client.get(path_of(feed["url"])), 404)
    r = await client.post(
        "/api/v1/auth/login",
        json={"email": acct.email, "password": "another good passphrase"},
    )
    acct = dataclasses.replace(acct, access_token=r.json()["access_token"])
    assert (await client.get(FEEDS, headers=acct.headers)).json() == []
    # A new feed works; another user's feed was never touched.
    fresh = await make_feed(client, acct)
    assert (await client.get(path_of(fresh["url"]))).status_code == 200
    assert (await client.get(path_of(others["url"]))).status_code == 200


async def test_log_out_everywhere_revokes_every_feed(client: httpx.AsyncClient) -> None:
    web = WebClient(client)
    await web.signup()
    r = await web.post("/account/feeds", {"name": "Work"})
    # The account page says so next to the button and with the feeds.
    assert "revokes your API tokens and calendar feeds" in r.text
    assert "Changing your password or logging out everywhere revokes every feed." in r.text
    url = WEB_URL_RE.search(r.text).group(1)  # type: ignore[union-attr]
    assert (await client.get(path_of(url))).status_code == 200
    r = await web.post("/logout-everywhere")
    assert (r.status_code, r.headers["location"]) == (303, "/login?signed_out=everywhere")
    assert_problem(await client.get(path_of(url)), 404)


# The render cache


async def test_the_render_cache_is_bounded_by_bytes(database: Database, data_dir: Path) -> None:
    budget = 100_000
    app = create_app(runtime_for(database, data_dir, FEED_CACHE_BYTES=budget), database)
    async with make_client(app) as client:
        acct = await make_account(client)
        for n in range(20):
            await make_task(
                client, acct, title=f"t{n:02}", due=f"2030-01-{n + 1:02}", description="d" * 10_000
            )
        feed = await make_feed(client, acct)
        first = (await client.get(path_of(feed["url"]))).content
        cache: RenderCache = app.state.doable.feed_cache
        # The cache keeps the components rendered last, as many as fit in the budget.
        components = re.findall(rb"BEGIN:VTODO\r\n.*?END:VTODO\r\n", first, re.DOTALL)
        assert len(components) == 20
        weights = [20 + len(c) + ENTRY_OVERHEAD for c in components]
        kept = next(k for k in range(20, -1, -1) if sum(weights[20 - k :]) <= budget)
        assert (len(cache), cache.weight_now()) == (kept, sum(weights[20 - kept :]))
        assert kept == 9 and cache.weight_now() <= budget
        # Evicted or not, the output is the same.
        assert (await client.get(path_of(feed["url"]))).content == first
        assert cache.weight_now() <= budget


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12) | st.from_regex(ONE_LINE_PATTERN, fullmatch=True))
def test_the_name_pattern_says_what_the_validator_accepts(name: str) -> None:
    """The OpenAPI pattern is a contract: a generated client (and schemathesis) relies on it."""
    matches = re.fullmatch(ONE_LINE_PATTERN, name) is not None and 1 <= len(name) <= 100
    try:
        FeedCreate(name=name)
    except ValidationError:
        accepted = False
    else:
        accepted = True
    assert accepted == matches, repr(name)
