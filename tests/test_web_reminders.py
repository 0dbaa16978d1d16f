"""Reminders in the list's inline edit form (issue 18), in-process: the form carries the
user's reminders, and adding or deleting one answers with just the reminders section (htmx),
in words, with where focus goes; bad input is a 422 with a clear message in that section;
reminders stay personal on a shared task."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select

from doable.auth.models import User
from doable.db import Database
from doable.projects.access import Role
from doable.reminders.models import Reminder
from tests.factories import Account, make_account
from tests.test_sharing_core import share
from tests.webclient import WebClient

ZONE = ZoneInfo("Europe/Berlin")


@pytest.fixture
async def web(client: httpx.AsyncClient) -> WebClient:
    return WebClient(client)


def _tomorrow() -> datetime:
    return datetime.now(ZONE) + timedelta(days=1)


async def _task_due_tomorrow(web: WebClient) -> str:
    await web.signup(timezone=ZONE.key)
    return await web.add("Dentist", due_date=_tomorrow().date().isoformat(), due_time="15:00")


async def _count(database: Database) -> int:
    async with database.read_sessions() as s:
        return (await s.execute(select(func.count()).select_from(Reminder))).scalar_one()


def _section(html: str, task_id: str) -> str:
    found = re.search(rf'<section id="reminders-{task_id}".*?</section>', html, re.S)
    assert found, html
    return found.group(0)


def _items(section: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", li)).strip()
        for li in re.findall(r'<li id="reminder-[0-9a-f-]{36}".*?</li>', section, re.S)
    ]


async def test_inline_edit_form_shows_adds_and_deletes_reminders(
    web: WebClient, database: Database
) -> None:
    task_id = await _task_due_tomorrow(web)
    day = f"{_tomorrow():%a %-d %b}"
    r = await web.get(f"/tasks/{task_id}/edit", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert "<html" not in r.text
    # After the edit form (forms do not nest), inside the row being edited.
    assert r.text.index("</form>") < r.text.index(f'<section id="reminders-{task_id}"')
    assert r.text.rstrip().endswith("</li>")
    section = _section(r.text, task_id)
    assert "No reminders yet." in section
    assert f'<label for="reminder-before-{task_id}">Before the due time</label>' in section
    assert '<option value="PT30M" selected>30 minutes before</option>' in section
    assert f'<label for="reminder-at-{task_id}">At a date and time</label>' in section
    assert "data-focus" not in section

    r = await web.post(f"/tasks/{task_id}/reminders", {"before": "PT1H"}, htmx=True)
    assert r.status_code == 200, r.text
    assert r.text.startswith(f'<section id="reminders-{task_id}"')
    assert _items(r.text) == [f"1 hour before the due time · fires at 14:00 on {day} Delete"]
    async with database.read_sessions() as s:
        first = (await s.execute(select(Reminder.id))).scalar_one()
    assert f'data-focus="reminder-{first}"' in r.text

    at = _tomorrow().replace(hour=9, minute=0)
    r = await web.post(f"/tasks/{task_id}/reminders", {"at": f"{at:%Y-%m-%dT%H:%M}"}, htmx=True)
    assert r.status_code == 200, r.text
    assert _items(r.text) == [
        f"1 hour before the due time · fires at 14:00 on {day} Delete",
        f"At 09:00 on {day} · upcoming Delete",
    ]
    assert await _count(database) == 2

    # Opening the form again lists both.
    r = await web.get(f"/tasks/{task_id}/edit", headers={"HX-Request": "true"})
    assert len(_items(_section(r.text, task_id))) == 2

    r = await web.post(f"/tasks/{task_id}/reminders/{first}/delete", htmx=True)
    assert r.status_code == 200, r.text
    assert _items(r.text) == [f"At 09:00 on {day} · upcoming Delete"]
    assert f'data-focus="reminder-before-{task_id}"' in r.text
    assert await _count(database) == 1

    # Without htmx the same routes still go back to the task's own page.
    r = await web.post(f"/tasks/{task_id}/reminders", {"before": "PT0S"})
    assert (r.status_code, r.headers["location"]) == (303, f"/tasks/{task_id}/edit")
    page = await web.get(f"/tasks/{task_id}/edit")
    assert _items(_section(page.text, task_id))[-1].startswith("At the due time · fires at 15:00")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("before", "soon", "must be an ISO 8601 duration"),
        ("before", "P400D", "366 days"),
        ("before", "P" + "9" * 5000 + "D", "ISO 8601 duration"),
        ("at", "next tuesday-ish", "is not a date and time"),
        ("at", "2020-01-01T10:00", "This time is in the past"),
    ],
)
async def test_bad_reminder_input_is_a_clear_422_in_the_section(
    web: WebClient, database: Database, field: str, value: str, message: str
) -> None:
    task_id = await _task_due_tomorrow(web)
    r = await web.post(f"/tasks/{task_id}/reminders", {field: value}, htmx=True)
    assert r.status_code == 422, r.text
    assert r.text.startswith(f'<section id="reminders-{task_id}"')
    error = re.search(
        rf'<p class="field-error" id="reminder-error-{task_id}" role="alert">(.*?)</p>', r.text
    )
    assert error and message in error.group(1), r.text
    assert "Traceback" not in r.text and len(error.group(1)) < 200
    # The refused field is marked and takes focus; nothing was stored.
    control = re.search(rf'<(select|input) id="reminder-{field}-{task_id}"[^>]*>', r.text)
    assert control and 'aria-invalid="true"' in control.group(0)
    assert f'data-focus="reminder-{field}-{task_id}"' in r.text
    assert await _count(database) == 0


async def test_deleting_an_unknown_reminder_is_404(web: WebClient) -> None:
    task_id = await _task_due_tomorrow(web)
    r = await web.post(f"/tasks/{task_id}/reminders/{uuid.uuid4()}/delete", htmx=True)
    assert r.status_code == 404
    r = await web.post(f"/tasks/{task_id}/reminders/not-a-uuid/delete", htmx=True)
    assert r.status_code == 422


async def test_a_refused_save_keeps_the_reminders_in_the_form(web: WebClient) -> None:
    task_id = await _task_due_tomorrow(web)
    await web.post(f"/tasks/{task_id}/reminders", {"before": "PT15M"}, htmx=True)
    r = await web.post(f"/tasks/{task_id}", {"title": ""}, htmx=True)
    assert r.status_code == 422, r.text
    assert [i.split(" · ")[0] for i in _items(_section(r.text, task_id))] == [
        "15 minutes before the due time"
    ]


async def test_reminders_are_personal_on_a_shared_task(
    client: httpx.AsyncClient, database: Database, web: WebClient
) -> None:
    owner = await make_account(client, name="Olive")
    await web.signup(name="Eddie", timezone=ZONE.key)
    project = (
        await client.post("/api/v1/projects", json={"name": "Home"}, headers=owner.headers)
    ).json()
    async with database.read_sessions() as s:
        eddie_id = (await s.execute(select(User.id).where(User.email == web.email))).scalar_one()
    await share(
        database, owner, project["id"], Account(str(eddie_id), web.email, "", "", ""), Role.EDITOR
    )
    due = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    task = (
        await client.post(
            "/api/v1/tasks",
            json={"title": "Fix the sink", "project_id": project["id"], "due": due.isoformat()},
            headers=owner.headers,
        )
    ).json()
    path = f"/api/v1/tasks/{task['id']}/reminders"
    r = await client.post(path, json={"before": "P1D"}, headers=owner.headers)
    assert r.status_code == 201, r.text

    # Eddie, an editor, opens the inline form: the owner's reminder is not his.
    r = await web.get(f"/tasks/{task['id']}/edit", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert "No reminders yet." in _section(r.text, task["id"])
    r = await web.post(f"/tasks/{task['id']}/reminders", {"before": "PT5M"}, htmx=True)
    assert r.status_code == 200, r.text
    assert [i.split(" · ")[0] for i in _items(r.text)] == ["5 minutes before the due time"]
    owners = (await client.get(path, headers=owner.headers)).json()
    assert [x["before"] for x in owners] == ["P1D"]
    # Nor can he delete the owner's.
    r = await web.post(f"/tasks/{task['id']}/reminders/{owners[0]['id']}/delete", htmx=True)
    assert r.status_code == 404
    assert await _count(database) == 2
