"""A stored zone name the tz database does not know (an update dropped it, a row edited by hand)
reads as UTC on every page and route, never a 500."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select, update

from doable.auth.models import User
from doable.db import Database
from doable.tasks.models import Task
from tests.factories import make_account
from tests.webclient import WebClient

# Unknown to the tz database; a folder of it (ZoneInfo raises IsADirectoryError); malformed.
UNKNOWN = ["Mars/Olympus_Mons", "Europe", "../etc/passwd"]
TODOIST_HEADER = (
    "TYPE,CONTENT,DESCRIPTION,PRIORITY,INDENT,AUTHOR,RESPONSIBLE,DATE,DATE_LANG,TIMEZONE"
)


async def set_zone(database: Database, email: str, name: str) -> None:
    async with database.engine.begin() as conn:
        await conn.execute(update(User).where(User.email == email).values(timezone=name))


async def due_at(database: Database, title: str) -> datetime | None:
    async with database.read_sessions() as session:
        value: datetime | None = await session.scalar(
            select(Task.due_at).where(Task.title == title)
        )
        return value


@pytest.mark.parametrize("zone", UNKNOWN)
async def test_web_pages_read_an_unknown_zone_as_utc(
    client: httpx.AsyncClient, database: Database, zone: str
) -> None:
    web = WebClient(client)
    await web.signup(timezone="Europe/Berlin")
    await set_zone(database, web.email, zone)

    assert (await web.get("/tasks")).status_code == 200
    r = await web.post("/tasks/preview", {"title": "Party 2031-12-05 at 17:30"}, htmx=True)
    assert r.status_code == 200, r.text
    assert "17:30" in r.text
    r = await web.post("/tasks/quick", {"title": "Party 2031-12-05 at 17:30"}, htmx=True)
    assert r.status_code == 200, r.text
    found = re.search(r'<li id="task-([0-9a-f-]{36})"', r.text)
    assert found, r.text
    task_id = found.group(1)
    assert await due_at(database, "Party") == datetime(2031, 12, 5, 17, 30, tzinfo=UTC)
    r = await web.post(f"/tasks/{task_id}/reminders", {"before": "PT1H"})
    assert (r.status_code, r.headers["location"]) == (303, f"/tasks/{task_id}/edit"), r.text
    r = await web.get(f"/tasks/{task_id}/edit")
    assert r.status_code == 200, r.text
    assert "1 hour before" in r.text
    assert (await web.get("/account")).status_code == 200


@pytest.mark.parametrize("zone", UNKNOWN)
async def test_api_routes_read_an_unknown_zone_as_utc(
    client: httpx.AsyncClient, database: Database, zone: str
) -> None:
    acct = await make_account(client, timezone="Europe/Berlin")
    await set_zone(database, acct.email, zone)

    r = await client.post(
        "/api/v1/tasks", json={"title": "Local", "due": "2031-12-05T17:30"}, headers=acct.headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["due"] == "2031-12-05T17:30:00Z"
    r = await client.post(
        "/api/v1/tasks/parse", json={"text": "Party 2031-12-05 at 17:30"}, headers=acct.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["due"] == "2031-12-05T17:30:00Z"

    r = await client.get("/api/v1/export", headers=acct.headers)
    assert r.status_code == 200, r.text
    today = datetime.now(UTC).date().isoformat()
    assert re.search(rf'filename="doable-export-{today}\.json"', r.headers["content-disposition"])

    csv = f"{TODOIST_HEADER}\r\ntask,Buy oat milk,,1,1,,,Dec 3 2026 5pm,en,\r\n".encode()
    r = await client.post(
        "/api/v1/import", content=csv, headers={**acct.headers, "Content-Type": "text/csv"}
    )
    assert r.status_code == 200, r.text
    assert await due_at(database, "Buy oat milk") == datetime(2026, 12, 3, 17, 0, tzinfo=UTC)
