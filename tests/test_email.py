"""Reminder emails against a local SMTP server (aiosmtpd): the channel chosen on the account
page, the one-click List-Unsubscribe link (RFC 8058) and its forgeries, and retries when the
server fails."""

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
from sqlalchemy import select, update

from doable.db import Database
from doable.notify.delivery import PushConfig, email_notifications
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
    assert link.startswith("https://doable.example.com/api/v1/email/unsubscribe?token=")
    path = urlsplit(link)
    url = f"{path.path}?{path.query}"

    # Forged links: another user id, a bad signature, garbage.
    token = path.query.removeprefix("token=")
    user_id, _, sig = token.partition(".")
    for bad in (f"{uuid.uuid4()}.{sig}", f"{user_id}.{sig[:-2]}xx", "nonsense", ""):
        r = await client.post(
            "/api/v1/email/unsubscribe",
            params={"token": bad},
            data={"List-Unsubscribe": "One-Click"},
        )
        assert r.status_code == 404, r.text
    # One click, as a mail client sends it: no cookie, no CSRF token.
    fresh = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    r = await fresh.post(url, data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 204, r.text
    r = await fresh.post(url, data={"List-Unsubscribe": "One-Click"})  # replayed: no change
    assert r.status_code == 204
    await fresh.aclose()
    async with database.read_sessions() as s:
        row = (await s.execute(select(NotificationChannels))).scalar_one()
    assert (row.web_push, row.email, row.in_app) == (False, False, True)
    ids = await fire_one(web, database, "After unsubscribing")
    assert await email_notifications(database, config(data_dir, port), ids) == 0
    assert len(inbox.messages) == 1


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
