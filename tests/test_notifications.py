"""The notification inbox over HTTP: snooze (API and web), the web inbox with mark read and
mark all read, the header bell's count, and the bell with the next reminder on task rows."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from doable.db import Database
from doable.reminders.models import Notification, Reminder
from doable.reminders.scheduler import fire_due
from tests.conftest import make_client
from tests.factories import Account, assert_problem, make_account, make_task
from tests.webclient import WebClient


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def fire_now(database: Database, *reminder_ids: str) -> None:
    ago = datetime.now(UTC) - timedelta(seconds=1)
    async with database.write_sessions() as s:
        await s.execute(
            update(Reminder)
            .where(Reminder.id.in_([uuid.UUID(r) for r in reminder_ids]))
            .values(fire_at=ago)
        )
        await s.commit()
    await fire_due(database)


async def fired_notification(
    client: httpx.AsyncClient, database: Database, acct: Account, title: str = "Call mum"
) -> tuple[dict[str, Any], str]:
    task = await make_task(client, acct, title=title, due="2030-06-01T10:00:00Z")
    r = await client.post(
        f"/api/v1/tasks/{task['id']}/reminders", json={"before": "PT5M"}, headers=acct.headers
    )
    rid = r.json()["id"]
    await fire_now(database, rid)
    [note] = (await client.get("/api/v1/notifications", headers=acct.headers)).json()["items"]
    return note, rid


@pytest.mark.parametrize(
    ("preset", "delta"), [("10m", timedelta(minutes=10)), ("1h", timedelta(hours=1))]
)
async def test_snooze_fires_the_reminder_again_later(
    client: httpx.AsyncClient, database: Database, preset: str, delta: timedelta
) -> None:
    acct = await make_account(client)
    note, rid = await fired_notification(client, database, acct)
    before = datetime.now(UTC)
    r = await client.post(
        f"/api/v1/notifications/{note['id']}/snooze", json={"preset": preset}, headers=acct.headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["notification"]["read_at"] is not None
    assert body["reminder"]["id"] == rid and body["reminder"]["fired_at"] is None
    fire_at = datetime.fromisoformat(body["reminder"]["fire_at"])
    assert before + delta - timedelta(seconds=1) <= fire_at <= datetime.now(UTC) + delta
    # It fires again at the snoozed time: a second notification for the same reminder.
    await fire_due(database, now=fire_at + timedelta(seconds=1))
    page = (await client.get("/api/v1/notifications", headers=acct.headers)).json()
    assert [n["reminder_id"] for n in page["items"]] == [rid, rid]
    assert page["unread_count"] == 1


async def test_snooze_until_tomorrow_is_nine_local(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client, timezone="Asia/Tokyo")
    note, _ = await fired_notification(client, database, acct)
    r = await client.post(
        f"/api/v1/notifications/{note['id']}/snooze",
        json={"preset": "tomorrow"},
        headers=acct.headers,
    )
    fire_at = datetime.fromisoformat(r.json()["reminder"]["fire_at"])
    local = fire_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    today_tokyo = datetime.now(UTC).astimezone(local.tzinfo).date()
    assert (local.date(), local.hour, local.minute) == (today_tokyo + timedelta(days=1), 9, 0)


async def test_snooze_bad_input_and_other_accounts(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await make_account(client)
    bob = await make_account(client)
    note, rid = await fired_notification(client, database, alice)
    url = f"/api/v1/notifications/{note['id']}/snooze"
    r = await client.post(url, json={"preset": "1h"}, headers=bob.headers)
    assert assert_problem(r, 404)["detail"] == "No notification with this id"
    r = await client.post(url, json={"preset": "1y"}, headers=alice.headers)
    assert_problem(r, 422)
    r = await client.post(url, json={}, headers=alice.headers)
    assert_problem(r, 422)
    r = await client.post(url, json={"preset": "1h"})
    assert r.status_code == 401
    async with database.read_sessions() as s:
        fired_at = await s.scalar(select(Reminder.fired_at).where(Reminder.id == uuid.UUID(rid)))
    assert fired_at is not None  # none of the refused snoozes touched it
    # The reminder was deleted since: nothing to snooze.
    task_id = note["task_id"]
    await client.delete(f"/api/v1/tasks/{task_id}/reminders/{rid}", headers=alice.headers)
    r = await client.post(url, json={"preset": "1h"}, headers=alice.headers)
    assert assert_problem(r, 404)["detail"] == "No reminder with this id"


# The web inbox


@pytest.fixture
async def web(client: httpx.AsyncClient) -> WebClient:
    return WebClient(client)


async def web_reminder(web: WebClient, database: Database, title: str) -> tuple[str, str]:
    """A task with a reminder 5 minutes before a due far ahead, made in the web app."""
    task_id = await web.add(title, due_date="2030-06-01", due_time="10:00")
    r = await web.post(f"/tasks/{task_id}/reminders", {"before": "PT5M"})
    assert r.status_code == 303, r.text
    async with database.read_sessions() as s:
        rid = await s.scalar(select(Reminder.id).where(Reminder.task_id == uuid.UUID(task_id)))
    return task_id, str(rid)


def bell_label(html: str) -> str:
    found = re.search(r'<a id="bell"[^>]*aria-label="([^"]*)"', html)
    assert found, html
    return found.group(1)


async def test_inbox_lists_missed_reminders_mark_read_and_all(
    web: WebClient, database: Database
) -> None:
    await web.signup()
    page = await web.get("/notifications")
    assert page.status_code == 200 and "No notifications" in page.text
    assert bell_label(page.text) == "Notifications"
    ids = []
    for title in ("Pay rent", "Water <plants>"):
        _, rid = await web_reminder(web, database, title)
        ids.append(rid)
    await fire_now(database, *ids)  # no tab open: they wait in the inbox
    bell = await web.get("/notifications/bell")
    assert bell_label(bell.text) == "Notifications: 2 unread"
    assert 'class="bell-count" aria-hidden="true">2<' in bell.text
    assert "load," not in bell.text  # the fragment does not ask again by itself
    page = await web.get("/notifications")
    assert page.text.count('class="note unread"') == 2
    assert "Water &lt;plants&gt;" in page.text and "Due Sat 1 Jun, 10:00" in page.text
    note_ids = re.findall(r'id="notification-([0-9a-f-]{36})"', page.text)
    assert len(note_ids) == 2
    r = await web.post(f"/notifications/{note_ids[0]}/read")
    assert (r.status_code, r.headers["location"]) == (303, "/notifications?notice=read")
    page = await web.get(r.headers["location"])
    assert page.text.count('class="note unread"') == 1 and "Marked read." in page.text
    assert bell_label(page.text) == "Notifications: 1 unread"
    r = await web.post("/notifications/read-all")
    assert r.status_code == 303
    async with database.read_sessions() as s:
        unread = (
            await s.execute(select(Notification.id).where(Notification.read_at.is_(None)))
        ).all()
    assert unread == []
    assert bell_label((await web.get("/tasks")).text) == "Notifications"


async def test_web_snooze_and_another_users_notification(
    app: FastAPI, web: WebClient, database: Database
) -> None:
    await web.signup()
    _, rid = await web_reminder(web, database, "Stretch")
    await fire_now(database, rid)
    page = await web.get("/notifications")
    [note_id] = re.findall(r'id="notification-([0-9a-f-]{36})"', page.text)
    intruder = WebClient(make_client(app))
    await intruder.signup()
    for path, data in (("snooze", {"preset": "1h"}), ("read", {})):
        r = await intruder.post(f"/notifications/{note_id}/{path}", data)
        assert r.status_code == 404 and "Not found" in r.text
    r = await web.post(f"/notifications/{note_id}/snooze", {"preset": "forever"})
    assert r.status_code == 422
    r = await web.post(f"/notifications/{note_id}/snooze", {"preset": "10m"})
    assert (r.status_code, r.headers["location"]) == (303, "/notifications?notice=snoozed")
    async with database.read_sessions() as s:
        reminder = await s.get(Reminder, uuid.UUID(rid))
    assert reminder is not None and reminder.fired_at is None
    assert reminder.fire_at is not None
    delta = reminder.fire_at - datetime.now(UTC)
    assert timedelta(minutes=9) < delta <= timedelta(minutes=10)
    await intruder.http.aclose()


async def test_rows_show_the_next_reminder(web: WebClient, database: Database) -> None:
    await web.signup()
    task_id, _ = await web_reminder(web, database, "Dentist")
    await web.add("No reminder here")
    page = await web.get("/tasks")
    row = re.search(rf'<li id="task-{task_id}".*?</li>', page.text, re.S)
    assert row, page.text
    mark = '<span class="visually-hidden">Reminder at </span>Sat 1 Jun, 09:55</span>'
    assert mark in row.group(0)
    assert page.text.count('<span class="reminder"') == 1
