"""Reminder emails against a local SMTP server (aiosmtpd): the channel chosen on the account
page, the one-click List-Unsubscribe link (RFC 8058) and its forgeries, expiry and replay,
and retries when the server fails. The agenda and reset emails: test_email_agenda.py and
test_email_reset.py."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import delete, select, update

from doable.accounts import links
from doable.db import Database
from doable.notify.delivery import PushConfig, email_notifications
from doable.notify.email import UNSUBSCRIBE_LINK_DAYS, unsubscribe_token
from doable.notify.models import NotificationChannels
from doable.reminders.models import Reminder
from doable.reminders.scheduler import fire_due
from tests.conftest import TEST_SECRET, fast_settings
from tests.webclient import WebClient


class Inbox:
    """Collects what the SMTP server is sent; `fail` answers that many DATA commands 451."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.fail = 0
        self.attempts = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.fail:
            self.fail -= 1
            return "451 Try again later"
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:  # a free port (aiosmtpd checks the one it is given)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def config(data_dir: Path, port: int) -> PushConfig:
    settings = fast_settings(
        data_dir,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=port,
        SMTP_STARTTLS="false",
        SMTP_FROM="Doable <doable@example.com>",
        PUBLIC_URL="https://doable.example.com",
    )
    return PushConfig(settings, TEST_SECRET, False, email_retry_base_seconds=0.01)


async def fire_one(web: WebClient, database: Database, title: str) -> tuple[uuid.UUID, ...]:
    task_id = await web.add(title, due_date="2030-06-01", due_time="10:00")
    assert (await web.post(f"/tasks/{task_id}/reminders", {"before": "PT5M"})).status_code == 303
    async with database.write_sessions() as s:
        await s.execute(
            update(Reminder)
            .where(Reminder.task_id == uuid.UUID(task_id))
            .values(fire_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await s.commit()
    return (await fire_due(database)).notification_ids


async def test_reminder_email_and_one_click_unsubscribe(
    client: httpx.AsyncClient, database: Database, data_dir: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    web = WebClient(client)
    await web.signup()
    page = await web.get("/account")
    assert 'id="ch-push" name="web_push" checked' in page.text
    assert 'id="ch-email" name="email" aria-describedby' in page.text  # off, and no SMTP here
    # Email is off by default: nothing is sent.
    ids = await fire_one(web, database, "Before choosing")
    assert await email_notifications(database, config(data_dir, port), ids) == 0
    r = await web.post("/account/notifications", {"email": "on", "in_app": "on"})
    assert r.status_code == 303
    async with database.read_sessions() as s:
        row = (await s.execute(select(NotificationChannels))).scalar_one()
    assert (row.web_push, row.email, row.in_app) == (False, True, True)

    ids = await fire_one(web, database, "Water plants")
    assert await email_notifications(database, config(data_dir, port), ids) == 1
    [mail] = inbox.messages
    assert mail["To"] == web.email and mail["Subject"] == "Reminder: Water plants"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Due Sat 1 Jun, 10:00" in mail.get_payload()
    link = mail["List-Unsubscribe"].strip("<>")
    assert link.startswith("https://doable.example.com/unsubscribe?token=")
    assert link in mail.get_payload()
    path = urlsplit(link)
    url = f"{path.path}?{path.query}"
    token = path.query.removeprefix("token=")
    await check_unsubscribe_link(client, database, url, token, "reminder emails")
    async with database.read_sessions() as s:
        row = (await s.execute(select(NotificationChannels))).scalar_one()
    assert (row.web_push, row.email, row.in_app) == (False, False, True)
    ids = await fire_one(web, database, "After unsubscribing")
    assert await email_notifications(database, config(data_dir, port), ids) == 0
    assert len(inbox.messages) == 1


def forgeries(token: str) -> list[str]:
    """Links that are not genuine: altered payload or signature, cut short, garbage, and a
    genuine link of another kind (a reset link's token is signed with another key)."""
    head, body, sig = token.split(".")
    other = links.make(
        TEST_SECRET,
        "reset",
        {"sub": str(uuid.uuid4()), "ch": "reminders"},
        now=datetime.now(UTC),
        ttl=timedelta(days=1),
    )[0]
    flipped = body[:-2] + ("AA" if not body.endswith("AA") else "BB")
    return [
        f"{head}.{flipped}.{sig}",
        f"{head}.{body}.{sig[:-3]}xyz",
        token[:-10],
        "nonsense",
        other,
        "x" * 2001,
    ]


async def check_unsubscribe_link(
    client: httpx.AsyncClient, database: Database, url: str, token: str, what: str
) -> None:
    """A genuine link: forgeries are 400 (web and API), GET shows a confirm page and changes
    nothing, one click (no cookie, no CSRF token) turns the channel off, a replay is 410."""
    for bad in forgeries(token):
        r = await client.post(
            "/api/v1/email/unsubscribe",
            params={"token": bad},
            data={"List-Unsubscribe": "One-Click"},
        )
        assert r.status_code == (422 if len(bad) > 2000 else 400), r.text
        for method in ("GET", "POST"):
            r = await client.request(method, "/unsubscribe", params={"token": bad})
            assert r.status_code == (422 if len(bad) > 2000 else 400), r.text
            assert r.headers["content-type"].startswith("text/html")
    r = await client.get("/unsubscribe")  # no token at all
    assert r.status_code == 400 and "not valid" in r.text
    fresh = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    page = await fresh.get(url)
    assert page.status_code == 200, page.text
    assert f"Stop {what}?" in page.text and f'action="/unsubscribe?token={token}"' in page.text
    # One click, as a mail client sends it (RFC 8058): no cookie, no CSRF token, cross-site.
    r = await fresh.post(
        url, data={"List-Unsubscribe": "One-Click"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert r.status_code == 200, r.text
    assert f"You will no longer get {what}" in r.text
    for method in ("GET", "POST"):  # replayed
        r = await fresh.request(method, url, data={"List-Unsubscribe": "One-Click"})
        assert r.status_code == 410, r.text
        assert "already used" in r.text
    r = await fresh.post("/api/v1/email/unsubscribe", params={"token": token})
    assert r.status_code == 410
    assert r.json()["detail"].startswith("This link was already used")
    await fresh.aclose()


async def test_expired_unsubscribe_links_are_refused(
    client: httpx.AsyncClient, app: Any, database: Database
) -> None:
    web = WebClient(client)
    await web.signup()
    await web.post("/account/notifications", {"email": "on", "agenda": "on"})
    from doable.auth.models import User

    async with database.read_sessions() as s:
        user_id = (await s.execute(select(User.id).where(User.email == web.email))).scalar_one()
    made = datetime.now(UTC)
    for channel in ("reminders", "agenda"):
        token = unsubscribe_token(TEST_SECRET, user_id, channel, now=made)
        app.state.doable.clock = lambda: made + timedelta(days=UNSUBSCRIBE_LINK_DAYS, seconds=1)
        for method in ("GET", "POST"):
            r = await client.request(method, "/unsubscribe", params={"token": token})
            assert r.status_code == 410 and "expired" in r.text, r.text
        r = await client.post("/api/v1/email/unsubscribe", params={"token": token})
        assert r.status_code == 410 and "expired" in r.json()["detail"]
        app.state.doable.clock = lambda: made + timedelta(days=UNSUBSCRIBE_LINK_DAYS - 1)
        r = await client.get("/unsubscribe", params={"token": token})
        assert r.status_code == 200, r.text
    async with database.read_sessions() as s:
        row = (await s.execute(select(NotificationChannels))).scalar_one()
    assert (row.email, row.agenda) == (True, True)  # nothing was turned off
    # The account is gone: the link is spent.
    await database_delete_user(database, user_id)
    r = await client.get("/unsubscribe", params={"token": token})
    assert r.status_code == 410 and "no longer exists" in r.text


async def database_delete_user(database: Database, user_id: uuid.UUID) -> None:
    from doable.auth.models import User

    async with database.write_sessions() as s:
        await s.execute(delete(User).where(User.id == user_id))
        await s.commit()


async def test_a_failing_smtp_server_is_retried_off_the_request_path(
    client: httpx.AsyncClient, database: Database, data_dir: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    web = WebClient(client)
    await web.signup()
    await web.post("/account/notifications", {"email": "on"})
    inbox.fail = 2
    ids = await fire_one(web, database, "Retry me")
    started = asyncio.get_running_loop().time()
    assert await email_notifications(database, config(data_dir, port), ids) == 1
    assert (inbox.attempts, len(inbox.messages)) == (3, 1)
    assert asyncio.get_running_loop().time() - started < 5
    # A server that never answers: given up after the attempts, nothing raised.
    inbox.fail = 10
    ids = await fire_one(web, database, "Never")
    assert await email_notifications(database, config(data_dir, port), ids) == 0
    assert inbox.attempts == 3 + 4
