"""Sharing by email, against a local SMTP server (aiosmtpd). Where SMTP_HOST is set, every
invitation is mailed to its address once it commits, off the request; the answer is the same
whether the address has an account or not; refused invitations mail nothing. A member who
chose email hears of assignments, comments, mentions and completions by email too."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from doable.app import create_app
from doable.db import Database
from doable.notify.models import NotificationChannels
from doable.projects.access import Role
from tests.conftest import make_client, runtime_for, truncate_all
from tests.factories import PASSWORD, Account, assert_problem, make_account
from tests.test_email import Inbox
from tests.test_email import smtp as smtp
from tests.test_sharing_core import share
from tests.webclient import WebClient

PROJECTS = "/api/v1/projects"
TASKS = "/api/v1/tasks"
PUBLIC = "https://doable.example.com"


@pytest.fixture
async def mailing_app(
    database: Database, data_dir: Path, smtp: tuple[Inbox, int]
) -> AsyncIterator[FastAPI]:
    _, port = smtp
    runtime = runtime_for(
        database,
        data_dir,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=port,
        SMTP_STARTTLS="false",
        SMTP_FROM="Doable <doable@example.com>",
        PUBLIC_URL=PUBLIC,
    )
    yield create_app(runtime, database)
    await truncate_all(database.engine)


@pytest.fixture
async def mclient(mailing_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(mailing_app) as c:
        yield c


async def received(inbox: Inbox, count: int, timeout: float = 10.0) -> list[Any]:
    """The first `count` messages, once the background sends have delivered them."""
    deadline = time.monotonic() + timeout
    while len(inbox.messages) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert len(inbox.messages) == count, [m["To"] for m in inbox.messages]
    return inbox.messages


async def invite(
    client: httpx.AsyncClient, who: Account, project: str, email: str, role: str = "editor"
) -> httpx.Response:
    return await client.post(
        f"{PROJECTS}/{project}/invitations",
        json={"email": email, "role": role},
        headers=who.headers,
    )


def _shape(r: httpx.Response) -> tuple[int, dict[str, Any], list[str]]:
    """What the answer says beyond the values bound to the address (id, email, token, link,
    expiry): its status, the rest of the body, and the names of its headers."""
    body = {
        k: v for k, v in r.json().items() if k not in ("id", "email", "token", "url", "expires_at")
    }
    skip = {"x-request-id", "content-length", "date", "location"}
    return r.status_code, body, sorted(h for h in r.headers if h not in skip)


async def test_invitations_are_mailed_alike_to_accounts_and_strangers(
    mclient: httpx.AsyncClient, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    owner = await make_account(mclient, name="Olive  Owner")
    known = await make_account(mclient, name="Kim")
    project = (
        await mclient.post(PROJECTS, json={"name": "Garden   plans"}, headers=owner.headers)
    ).json()["id"]
    unknown = "nobody-yet@example.com"
    r_known = await invite(mclient, owner, project, known.email.upper())
    r_unknown = await invite(mclient, owner, project, unknown)
    assert r_known.status_code == 201, r_known.text
    assert _shape(r_known) == _shape(r_unknown)
    assert set(r_known.json()) == set(r_unknown.json())

    mails = await received(inbox, 2)
    by_address = {m["To"]: m for m in mails}
    assert set(by_address) == {known.email, unknown}
    for address, answer in ((known.email, r_known), (unknown, r_unknown)):
        mail = by_address[address]
        subject = str(make_header(decode_header(mail["Subject"])))
        assert subject == "Olive Owner invited you to “Garden plans” on Doable"
        assert mail["From"] == "Doable <doable@example.com>"
        assert mail["List-Unsubscribe"] is None  # nothing to unsubscribe from
        text = mail.get_payload(decode=True).decode()
        # The link is on PUBLIC_URL, whatever Host the request came with.
        link = f"{PUBLIC}/invitations/{answer.json()['token']}"
        assert link in text.split()
        assert answer.json()["url"] == f"http://testserver/invitations/{answer.json()['token']}"
        assert f"only for {address}" in text and "as editor" in text

    # The mailed link works: the account with that address accepts with the token in it.
    text = by_address[known.email].get_payload(decode=True).decode()
    token = next(w for w in text.split() if w.startswith(f"{PUBLIC}/invitations/")).rsplit("/")[-1]
    r = await mclient.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=known.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["id"] == project


async def test_refused_invitations_mail_nothing(
    mclient: httpx.AsyncClient, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    owner = await make_account(mclient, name="Olive")
    member = await make_account(mclient, name="Max")
    project = (await mclient.post(PROJECTS, json={"name": "Home"}, headers=owner.headers)).json()
    r = await invite(mclient, owner, project["id"], member.email, "viewer")
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    await received(inbox, 1)
    r = await mclient.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=member.headers
    )
    assert r.status_code == 200, r.text
    # Yourself, a member already, a role that does not exist, a viewer inviting, the Inbox.
    assert_problem(await invite(mclient, owner, project["id"], owner.email.upper()), 409)
    assert_problem(await invite(mclient, owner, project["id"], f" {member.email.upper()} "), 409)
    assert_problem(await invite(mclient, owner, project["id"], "new@example.com", "boss"), 422)
    assert_problem(await invite(mclient, owner, project["id"], "new@example.com", "owner"), 422)
    assert_problem(await invite(mclient, member, project["id"], "new@example.com"), 403)
    listed = (await mclient.get(PROJECTS, headers=owner.headers)).json()
    inbox_id = next(p["id"] for p in listed if p["inbox"])
    assert_problem(await invite(mclient, owner, inbox_id, "new@example.com"), 409)
    # A later good one is the only other mail.
    r = await invite(mclient, owner, project["id"], "later@example.com")
    assert r.status_code == 201, r.text
    mails = await received(inbox, 2)
    assert [m["To"] for m in mails] == [member.email, "later@example.com"]


class GatedInbox(Inbox):
    """An SMTP server that accepts no message until `gate` opens (at most 30 s): a request
    that waited for it could not answer while the gate is shut."""

    gate = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.get_running_loop().run_in_executor(None, self.gate.wait, 30)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow_smtp(smtp: tuple[Inbox, int]) -> Iterator[tuple[Inbox, int]]:
    inbox, port = smtp
    inbox.__class__ = GatedInbox
    GatedInbox.gate.clear()
    yield inbox, port
    GatedInbox.gate.set()  # lets a message still waiting go, so the server can stop


async def test_a_slow_mail_server_does_not_slow_the_invitation(
    mailing_app: FastAPI,
    mclient: httpx.AsyncClient,
    slow_smtp: tuple[Inbox, int],
) -> None:
    inbox, _ = slow_smtp
    owner = await make_account(mclient, name="Olive")
    project = (await mclient.post(PROJECTS, json={"name": "Home"}, headers=owner.headers)).json()
    r = await invite(mclient, owner, project["id"], "far@example.com")
    assert r.status_code == 201, r.text  # answered while the mail server accepts nothing
    assert inbox.messages == []
    # The web app's Share page invites the same way, and says the link is on its way.
    async with make_client(mailing_app) as http:
        web = WebClient(http)
        await web.get("/login")
        r = await web.post("/login", {"email": owner.email, "password": PASSWORD})
        assert r.status_code == 303, r.text
        await web.get(f"/projects/{project['id']}/share")
        r = await web.post(
            f"/projects/{project['id']}/share/invite",
            {"email": "web@example.com", "role": "viewer"},
        )
        assert r.status_code == 200, r.text
        assert "It is on its way to that address by email" in r.text
    assert inbox.messages == []
    GatedInbox.gate.set()
    mails = await received(inbox, 2)
    assert sorted(m["To"] for m in mails) == ["far@example.com", "web@example.com"]


async def test_without_smtp_the_share_page_says_no_mail_is_sent(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner = await make_account(client, name="Olive")
    project = (await client.post(PROJECTS, json={"name": "Home"}, headers=owner.headers)).json()
    async with make_client(app) as http:
        web = WebClient(http)
        await web.get("/login")
        r = await web.post("/login", {"email": owner.email, "password": PASSWORD})
        assert r.status_code == 303, r.text
        await web.get(f"/projects/{project['id']}/share")
        r = await web.post(
            f"/projects/{project['id']}/share/invite",
            {"email": "web@example.com", "role": "viewer"},
        )
        assert r.status_code == 200, r.text
        assert "This server sends no mail: copy this link" in r.text


@pytest.fixture
async def served(mailing_app: FastAPI) -> AsyncIterator[FastAPI]:
    """The mailing app with its lifespan entered (its Pusher sends the notifications), in a
    task of its own, as tests/test_mcp.py's running_app."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def serve() -> None:
        async with mailing_app.router.lifespan_context(mailing_app):
            started.set()
            await stop.wait()

    task = asyncio.create_task(serve())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()
    yield mailing_app
    stop.set()
    await task


async def choose_email(database: Database, who: Account, on: bool) -> None:
    async with database.unit_of_work(write=True) as session:
        session.add(
            NotificationChannels(user_id=uuid.UUID(who.id), web_push=False, email=on, in_app=True)
        )


async def test_members_who_chose_email_hear_of_shared_tasks_by_email(
    served: FastAPI,
    mclient: httpx.AsyncClient,
    database: Database,
    smtp: tuple[Inbox, int],
) -> None:
    inbox, _ = smtp
    olive = await make_account(mclient, name="Olive")
    max_ = await make_account(mclient, name="Max")
    sam = await make_account(mclient, name="Sam")
    await choose_email(database, max_, True)
    await choose_email(database, sam, False)
    project = (await mclient.post(PROJECTS, json={"name": "Home"}, headers=olive.headers)).json()
    for who in (max_, sam):
        await share(database, olive, project["id"], who, Role.EDITOR)

    def add(title: str, assignee: Account) -> Any:
        body = {"title": title, "project_id": project["id"], "assignee_id": assignee.id}
        return mclient.post(TASKS, json=body, headers=olive.headers)

    task = (await add("Bins", max_)).json()
    assert (await add("Dishes", sam)).status_code == 201  # Sam chose no email
    r = await mclient.post(f"{TASKS}/{task['id']}/complete", headers=olive.headers)
    assert r.status_code == 200, r.text
    r = await mclient.post(
        f"{TASKS}/{task['id']}/comments", json={"body": "Thanks @Max"}, headers=olive.headers
    )
    assert r.status_code == 201, r.text
    mails = await received(inbox, 3)
    assert {m["To"] for m in mails} == {max_.email}
    assert sorted(m["Subject"] for m in mails) == [
        "Olive assigned this task to you: Bins",
        "Olive completed this task: Bins",
        "Olive mentioned you: Thanks @Max: Bins",
    ]
    text = mails[0].get_payload(decode=True).decode()
    assert "Stop these emails: https://doable.example.com/unsubscribe?token=" in text

    # Muted: nothing more, by any channel.
    r = await mclient.put(
        f"{PROJECTS}/{project['id']}/mute", json={"muted": True}, headers=max_.headers
    )
    assert r.status_code == 200, r.text
    assert (await add("Sweep", max_)).status_code == 201
    await asyncio.sleep(0.3)
    assert len(inbox.messages) == 3
