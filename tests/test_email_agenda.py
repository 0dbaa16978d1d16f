"""The daily agenda email against a local SMTP server (aiosmtpd): chosen through the API and
the account page, sent once per local day at the user's local time (also with two senders at
once), overdue and today's open tasks only, a DST gap, bad input, and its unsubscribe link."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from doable.db import Database
from doable.notify import agenda
from doable.notify.models import NotificationChannels
from doable.zones import zone_of
from tests.factories import Account, assert_problem, make_account
from tests.test_email import Inbox, check_unsubscribe_link, config, smtp  # noqa: F401
from tests.webclient import WebClient

SETTINGS = "/api/v1/me/notifications"
BERLIN = zone_of("Europe/Berlin")


def at(text: str) -> datetime:
    """A UTC instant from ISO text with an offset."""
    return datetime.fromisoformat(text).astimezone(UTC)


async def berlin_user(client: httpx.AsyncClient) -> Account:
    user = await make_account(client)
    r = await client.patch("/api/v1/me", json={"timezone": "Europe/Berlin"}, headers=user.headers)
    assert r.status_code == 200, r.text
    return user


async def add(client: httpx.AsyncClient, user: Account, title: str, **fields: Any) -> str:
    r = await client.post("/api/v1/tasks", json={"title": title, **fields}, headers=user.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_agenda_once_per_local_day_with_today_and_overdue(
    client: httpx.AsyncClient,
    app: Any,
    database: Database,
    data_dir: Path,
    smtp: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox, port = smtp
    cfg = config(data_dir, port)
    user = await berlin_user(client)
    bystander = await berlin_user(client)  # agenda off: never mailed
    await add(client, bystander, "Not mine", due="2030-06-03")
    r = await client.get(SETTINGS, headers=user.headers)
    assert r.json() == {
        "web_push": True,
        "email": False,
        "in_app": True,
        "agenda": False,
        "agenda_time": "07:00",
        "email_available": False,
    }
    app.state.doable.clock = lambda: at("2030-06-02T12:00:00+02:00")
    r = await client.patch(
        SETTINGS, json={"agenda": True, "agenda_time": "08:00"}, headers=user.headers
    )
    assert r.status_code == 200, r.text
    assert (r.json()["agenda"], r.json()["agenda_time"], r.json()["email"]) == (
        True,
        "08:00",
        False,
    )

    await add(client, user, "Overdue bill", due="2030-06-01")
    await add(client, user, "Call Ann", due="2030-06-03T10:00:00")
    await add(client, user, "All-day today", due="2030-06-03")
    await add(client, user, "Tomorrow's", due="2030-06-04")
    await add(client, user, "Done already", due="2030-06-03", completed=True)

    # 07:59 in Berlin: not yet. 08:00: sent, once, however often the sender looks.
    assert await agenda.send_due(database, cfg, now=at("2030-06-03T07:59:59+02:00")) == 0
    assert await agenda.send_due(database, cfg, now=at("2030-06-03T08:00:00+02:00")) == 1
    assert await agenda.send_due(database, cfg, now=at("2030-06-03T08:00:01+02:00")) == 0
    assert await agenda.send_due(database, cfg, now=at("2030-06-03T23:59:00+02:00")) == 0
    [mail] = inbox.messages
    assert mail["To"] == user.email
    assert mail["Subject"] == "Your agenda for Mon 3 Jun: 2 due today, 1 overdue"
    body = mail.get_payload().replace("\r\n", "\n")
    assert body.startswith(
        "Overdue\n- Overdue bill (Sat 1 Jun)\n\n"
        "Today\n- All-day today (Mon 3 Jun)\n- Call Ann (Mon 3 Jun, 10:00)\n"
    ), body
    assert "Tomorrow's" not in body and "Done already" not in body and "Not mine" not in body
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = mail["List-Unsubscribe"].strip("<>")
    assert link.startswith("https://doable.example.com/unsubscribe?token=")
    async with database.read_sessions() as s:
        row = await s.get(NotificationChannels, uuid.UUID(user.id))
        assert row is not None
        assert (row.agenda_last_day, row.agenda_next_at) == (
            date(2030, 6, 3),
            at("2030-06-04T08:00:00+02:00"),
        )

    # Moving the time later the same day does not send that day again.
    app.state.doable.clock = lambda: at("2030-06-03T08:30:00+02:00")
    r = await client.patch(SETTINGS, json={"agenda_time": "09:00"}, headers=user.headers)
    assert r.status_code == 200
    assert await agenda.send_due(database, cfg, now=at("2030-06-03T09:00:00+02:00")) == 0
    # Next day, two senders at once (two processes): one email.
    sent = await asyncio.gather(
        agenda.send_due(database, cfg, now=at("2030-06-04T09:00:00+02:00")),
        agenda.send_due(database, cfg, now=at("2030-06-04T09:00:00+02:00")),
    )
    assert sorted(sent) == [0, 1]
    assert len(inbox.messages) == 2
    assert inbox.messages[1]["Subject"] == "Your agenda for Tue 4 Jun: 1 due today, 3 overdue"

    # The agenda's own unsubscribe link turns the agenda off, and only it.
    path = urlsplit(link)
    await check_unsubscribe_link(
        client, database, f"{path.path}?{path.query}", path.query[6:], "the daily agenda email"
    )
    r = await client.get(SETTINGS, headers=user.headers)
    assert (r.json()["agenda"], r.json()["web_push"]) == (False, True)
    assert await agenda.send_due(database, cfg, now=at("2030-06-05T09:00:00+02:00")) == 0
    assert len(inbox.messages) == 2


async def test_nothing_due_no_email_and_a_disabled_day_is_skipped(
    client: httpx.AsyncClient,
    app: Any,
    database: Database,
    data_dir: Path,
    smtp: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox, port = smtp
    cfg = config(data_dir, port)
    user = await berlin_user(client)
    app.state.doable.clock = lambda: at("2030-06-02T12:00:00+02:00")
    r = await client.patch(SETTINGS, json={"agenda": True}, headers=user.headers)
    assert r.json()["agenda_time"] == "07:00"
    await add(client, user, "Next week", due="2030-06-10")
    assert await agenda.send_due(database, cfg, now=at("2030-06-03T07:00:00+02:00")) == 0
    assert inbox.messages == []
    # The day counts as done all the same: no email later that day.
    await add(client, user, "Now today", due="2030-06-03")
    assert await agenda.send_due(database, cfg, now=at("2030-06-03T07:30:00+02:00")) == 0
    assert await agenda.send_due(database, cfg, now=at("2030-06-04T07:00:00+02:00")) == 1


async def test_agenda_time_in_a_dst_gap_is_sent_the_gap_later(
    client: httpx.AsyncClient,
    app: Any,
    database: Database,
    data_dir: Path,
    smtp: tuple[Inbox, int],  # noqa: F811
) -> None:
    """Europe/Berlin skips 02:00-03:00 on Sun 31 Mar 2030: an agenda at 02:30 goes out at
    03:30 local (01:30Z), as docs/scheduling.md reads any time in a gap."""
    inbox, port = smtp
    cfg = config(data_dir, port)
    user = await berlin_user(client)
    await add(client, user, "Clocks forward", due="2030-03-31")
    app.state.doable.clock = lambda: at("2030-03-30T12:00:00+01:00")
    r = await client.patch(
        SETTINGS, json={"agenda": True, "agenda_time": "02:30"}, headers=user.headers
    )
    assert r.status_code == 200, r.text
    assert await agenda.send_due(database, cfg, now=at("2030-03-31T01:29:59Z")) == 0
    assert await agenda.send_due(database, cfg, now=at("2030-03-31T01:30:00Z")) == 1
    assert inbox.messages[0]["Subject"].startswith("Your agenda for Sun 31 Mar: 1 due today")
    # The day after, 02:30 exists again (00:30Z in summer time).
    assert agenda.next_send(BERLIN, time(2, 30), date(2030, 3, 31), at("2030-03-31T02:00Z")) == (
        at("2030-04-01T00:30:00Z")
    )
    # An ambiguous time (clocks go back on Sun 27 Oct 2030): its first occurrence.
    assert agenda.next_send(BERLIN, time(2, 30), None, at("2030-10-26T12:00Z")) == at(
        "2030-10-27T00:30:00Z"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"agenda_time": "25:00"},
        {"agenda_time": "ab"},
        {"agenda_time": "07:00\n"},
        {"agenda_time": "7:00"},
        {"agenda_time": "07:60"},
        {"agenda_time": "07:00:00"},
        {"agenda_time": ""},
        {"agenda_time": "0" * 100_000},
        {"agenda_time": 700},
        {"agenda": "maybe"},
        {"agenda": 0},
        {"email": "yes"},
        {"agenda": True, "surprise": "x" * 1000},
        {"agenda": True, "agenda_time": ["07:00"] * 1000},
    ],
)
async def test_bad_agenda_settings_are_422(
    client: httpx.AsyncClient, database: Database, body: dict[str, Any]
) -> None:
    user = await make_account(client)
    r = await client.patch(SETTINGS, json=body, headers=user.headers)
    problem = assert_problem(r, 422)
    assert problem["errors"], problem
    async with database.read_sessions() as s:
        assert (await s.execute(select(NotificationChannels))).first() is None


async def test_an_oversized_settings_body_is_413(client: httpx.AsyncClient) -> None:
    user = await make_account(client)
    body = '{"agenda": true, "pad": "' + "x" * (3 * 1024 * 1024) + '"}'
    r = await client.patch(
        SETTINGS, content=body, headers={**user.headers, "Content-Type": "application/json"}
    )
    assert_problem(r, 413)


async def test_settings_need_a_token_with_the_scope(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(SETTINGS), 401)
    assert_problem(await client.patch(SETTINGS, json={"agenda": True}), 401)


async def test_agenda_on_the_account_page(client: httpx.AsyncClient, database: Database) -> None:
    web = WebClient(client)
    await web.signup()
    page = await web.get("/account")
    assert 'id="ch-agenda" name="agenda" aria-describedby="ch-email-note"' in page.text
    assert 'id="agenda-time" name="agenda_time" type="time" required value="07:00"' in page.text
    r = await web.post("/account/notifications", {"agenda": "on", "agenda_time": "06:45"})
    assert r.status_code == 303, r.text
    page = await web.get("/account")
    assert 'id="ch-agenda" name="agenda" checked' in page.text
    assert 'value="06:45"' in page.text
    async with database.read_sessions() as s:
        row = (await s.execute(select(NotificationChannels))).scalar_one()
    assert (row.agenda, row.agenda_time, row.web_push) == (True, "06:45", False)
    assert row.agenda_next_at is not None
    for bad in ("25:00", "ab", "x" * 500):
        r = await web.post("/account/notifications", {"agenda": "on", "agenda_time": bad})
        assert r.status_code == 422, r.text
        assert "Give the time as HH:MM, from 00:00 to 23:59" in r.text
        assert 'aria-invalid="true" aria-describedby="agenda_time-error"' in r.text
    async with database.read_sessions() as s:
        row = (await s.execute(select(NotificationChannels))).scalar_one()
    assert row.agenda_time == "06:45"
    # Turned off: nothing scheduled.
    assert (await web.post("/account/notifications", {"agenda_time": "06:45"})).status_code == 303
    async with database.read_sessions() as s:
        row = (await s.execute(select(NotificationChannels))).scalar_one()
    assert (row.agenda, row.agenda_next_at) == (False, None)


def test_parse_time_accepts_only_hh_mm() -> None:
    assert agenda.parse_time("00:00") == time(0, 0)
    assert agenda.parse_time("23:59") == time(23, 59)
    for bad in (
        "24:00",
        "25:00",
        "ab",
        "7:00",
        "07:0",
        " 07:00",
        "07:00\n",
        "\u0660\u0667:\u0660\u0660",
    ):
        with pytest.raises(ValueError, match="HH:MM"):
            agenda.parse_time(bad)


async def test_a_new_time_zone_moves_the_next_agenda(
    client: httpx.AsyncClient,
    app: Any,
    database: Database,
    data_dir: Path,
    smtp: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox, port = smtp
    cfg = config(data_dir, port)
    user = await berlin_user(client)
    await add(client, user, "Pack", due="2030-06-03")
    app.state.doable.clock = lambda: at("2030-06-02T12:00:00+02:00")
    r = await client.patch(
        SETTINGS, json={"agenda": True, "agenda_time": "08:00"}, headers=user.headers
    )
    assert r.status_code == 200
    # Moving east (Tokyo, +09:00) before the agenda: 08:00 there is 01:00 in Berlin.
    r = await client.patch("/api/v1/me", json={"timezone": "Asia/Tokyo"}, headers=user.headers)
    assert r.status_code == 200
    async with database.read_sessions() as s:
        row = await s.get(NotificationChannels, uuid.UUID(user.id))
        assert row is not None
        next_at = row.agenda_next_at
    assert next_at is not None and next_at.astimezone(zone_of("Asia/Tokyo")).hour == 8
    assert await agenda.send_due(database, cfg, now=next_at - timedelta(seconds=1)) == 0
    assert await agenda.send_due(database, cfg, now=next_at) == 1
    assert len(inbox.messages) == 1
    # The same zone again changes nothing.
    r = await client.patch("/api/v1/me", json={"timezone": "Asia/Tokyo"}, headers=user.headers)
    async with database.read_sessions() as s:
        row = await s.get(NotificationChannels, uuid.UUID(user.id))
        assert row is not None and row.agenda_next_at == next_at + timedelta(days=1)
