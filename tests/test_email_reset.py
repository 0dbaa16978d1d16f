"""Password reset by email against a local SMTP server (aiosmtpd): the same answer whether an
account has the email or not, the send off the request's path, the link built from
PUBLIC_URL, and the link's expiry, single use, forgery and what a reset revokes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from doable.app import create_app
from doable.db import Database
from tests.conftest import make_client, runtime_for, truncate_all
from tests.factories import assert_problem, make_account
from tests.test_email import Inbox, smtp  # noqa: F401 (the fixture)
from tests.webclient import WebClient

AUTH = "/api/v1/auth"
LINK = re.compile(r"https://doable\.example\.com/reset-password/(\S+)")

Build = Callable[..., Any]


@pytest.fixture
def mail_app(database: Database, data_dir: Path, smtp: tuple[Inbox, int]) -> Build:  # noqa: F811
    """An app that sends email to the local SMTP server; yields (client, app, inbox)."""
    inbox, port = smtp

    @asynccontextmanager
    async def build(**settings: Any) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI, Inbox]]:
        values = {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": port,
            "SMTP_STARTTLS": "false",
            "SMTP_FROM": "Doable <doable@example.com>",
            "PUBLIC_URL": "https://doable.example.com",
            **settings,
        }
        app = create_app(runtime_for(database, data_dir, **values), database)
        app.state.doable.mailer.retry_base_seconds = 0.01
        try:
            async with make_client(app) as client:
                yield client, app, inbox
        finally:
            await app.state.doable.mailer.idle()
            await truncate_all(database.engine)

    return build


async def test_reset_by_email_same_answer_link_once_and_revokes(mail_app: Build) -> None:
    async with mail_app() as (client, app, inbox):
        user = await make_account(client)
        other = await make_account(client)
        known = await client.post(f"{AUTH}/password-reset", json={"email": user.email.upper()})
        unknown = await client.post(f"{AUTH}/password-reset", json={"email": "nobody@example.com"})
        for r in (known, unknown):
            assert (r.status_code, r.content) == (202, b"")
        await app.state.doable.mailer.idle()
        [mail] = inbox.messages
        assert mail["To"] == user.email
        assert mail["Subject"] == "Reset your Doable password"
        assert mail["List-Unsubscribe"] is None  # asked for, not a subscription
        body = mail.get_payload()
        assert "within 60 minutes" in body
        found = LINK.search(body)
        assert found, body
        token = found.group(1)

        # The page the link opens, then the reset through the API.
        page = await client.get(f"/reset-password/{token}")
        assert page.status_code == 200 and user.email in page.text
        r = await client.post(
            f"{AUTH}/password-reset/confirm", json={"token": token, "new_password": "n3w-Secret!"}
        )
        assert r.status_code == 204, r.text
        # Revoked: the old access and refresh tokens; the other account is untouched.
        assert (await client.get("/api/v1/me", headers=user.headers)).status_code == 401
        r = await client.post(f"{AUTH}/refresh", json={"refresh_token": user.refresh_token})
        assert r.status_code == 401
        assert (await client.get("/api/v1/me", headers=other.headers)).status_code == 200
        r = await client.post(
            f"{AUTH}/login", json={"email": user.email, "password": "n3w-Secret!"}
        )
        assert r.status_code == 200
        # Replayed: 410, as is its page.
        r = await client.post(
            f"{AUTH}/password-reset/confirm", json={"token": token, "new_password": "again-N3w!"}
        )
        assert_problem(r, 410)
        assert (await client.get(f"/reset-password/{token}")).status_code == 410
        # Forged: an altered signature or payload, garbage.
        head, payload, sig = token.split(".")
        for bad in (f"{head}.{payload}.{sig[:-4]}AAAA", f"{head}.{payload[:-4]}.{sig}", "x.y.z"):
            r = await client.post(
                f"{AUTH}/password-reset/confirm", json={"token": bad, "new_password": "F0rged!!"}
            )
            assert_problem(r, 400)


async def test_an_expired_reset_email_link_is_410(mail_app: Build) -> None:
    async with mail_app(RESET_LINK_MINUTES=5) as (client, app, inbox):
        user = await make_account(client)
        assert (
            await client.post(f"{AUTH}/password-reset", json={"email": user.email})
        ).status_code == 202
        await app.state.doable.mailer.idle()
        [mail] = inbox.messages
        assert "within 5 minutes" in mail.get_payload()
        found = LINK.search(mail.get_payload())
        assert found
        token = found.group(1)
        app.state.doable.clock = lambda: datetime.now(UTC) + timedelta(minutes=5, seconds=1)
        r = await client.post(
            f"{AUTH}/password-reset/confirm", json={"token": token, "new_password": "n3w-Secret!"}
        )
        assert_problem(r, 410)
        assert "expired" in r.json()["detail"]
        assert (await client.get("/api/v1/me", headers=user.headers)).status_code == 200


async def test_reset_email_is_off_the_request_path_and_capped_per_address(
    mail_app: Build,
) -> None:
    async with mail_app() as (client, app, inbox):
        user = await make_account(client)
        # The SMTP server fails twice: the request does not wait for the retries.
        inbox.fail = 2
        app.state.doable.mailer.retry_base_seconds = 0.3
        started = asyncio.get_running_loop().time()
        r = await client.post(f"{AUTH}/password-reset", json={"email": user.email})
        elapsed = asyncio.get_running_loop().time() - started
        assert r.status_code == 202 and elapsed < 0.3, elapsed
        await app.state.doable.mailer.idle()
        assert (inbox.attempts, len(inbox.messages)) == (3, 1)
        # The link points at PUBLIC_URL whatever Host the request named.
        r = await client.post(
            f"{AUTH}/password-reset", json={"email": user.email}, headers={"Host": "evil.test"}
        )
        assert r.status_code == 202
        await app.state.doable.mailer.idle()
        assert LINK.search(inbox.messages[1].get_payload())
        assert "evil.test" not in inbox.messages[1].get_payload()
        # At most 3 emails per address and hour; the answer does not change.
        for _ in range(2):
            r = await client.post(f"{AUTH}/password-reset", json={"email": user.email})
            assert (r.status_code, r.content) == (202, b"")
        await app.state.doable.mailer.idle()
        assert len(inbox.messages) == 3
        # Not an email: 422, before anything is counted or sent.
        assert_problem(await client.post(f"{AUTH}/password-reset", json={"email": "nope"}), 422)


async def test_web_forgot_password_page(mail_app: Build) -> None:
    async with mail_app() as (client, app, inbox):
        web = WebClient(client)
        await web.signup()
        await web.post("/logout")
        login = await web.get("/login")
        assert '<a href="/forgot-password">Forgot your password?</a>' in login.text
        page = await web.get("/forgot-password")
        assert page.status_code == 200 and 'action="/forgot-password"' in page.text
        texts = []
        for email in (web.email, "nobody@example.com"):
            r = await web.post("/forgot-password", {"email": email})
            assert r.status_code == 200, r.text
            texts.append(re.sub(r'value="[0-9a-f]{64}"', "", r.text))
        assert texts[0] == texts[1]
        assert "If an account has this email, a link" in texts[0]
        r = await web.post("/forgot-password", {"email": "not an email"})
        assert r.status_code == 422 and 'aria-invalid="true"' in r.text
        await app.state.doable.mailer.idle()
        [mail] = inbox.messages
        found = LINK.search(mail.get_payload())
        assert found
        r = await web.get(f"/reset-password/{found.group(1)}")
        assert r.status_code == 200
        r = await web.post(f"/reset-password/{found.group(1)}", {"new_password": "n3w-Secret!"})
        assert r.status_code == 303 and r.headers["location"] == "/login?reset=1"


async def test_without_smtp_nothing_is_sent_and_the_page_says_ask_an_admin(
    client: httpx.AsyncClient,
    smtp: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox, _ = smtp
    user = await make_account(client)
    r = await client.post(f"{AUTH}/password-reset", json={"email": user.email})
    assert (r.status_code, r.content) == (202, b"")
    assert "Ask an admin of this server for a reset link" in (await client.get("/login")).text
    page = await client.get("/forgot-password")
    assert "This server sends no email" in page.text
    await asyncio.sleep(0.05)
    assert inbox.messages == []
