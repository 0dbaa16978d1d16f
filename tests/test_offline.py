"""The installable app offline, over HTTP: the offline page and the app shell the service
worker caches, and POST /offline/tasks, which sends a quick add queued offline, once per
Idempotency-Key. tests/browser/test_offline.py drives the same in Chromium."""

from __future__ import annotations

import html
import json
import re
import uuid

import httpx
import pytest
from sqlalchemy import select

from doable.db import Database
from doable.projects.models import Project
from doable.tasks.models import Task
from tests.webclient import WebClient


@pytest.fixture
async def web(client: httpx.AsyncClient) -> WebClient:
    return WebClient(client)


async def send(
    web: WebClient, body: dict[str, object], *, key: str | None = None, **extra: str
) -> httpx.Response:
    headers = {"Sec-Fetch-Site": "same-origin", "X-CSRF-Token": web.token, **extra}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await web.http.post("/offline/tasks", json=body, headers=headers)


async def task_titles(database: Database) -> list[str]:
    async with database.read_sessions() as s:
        return sorted((await s.execute(select(Task.title))).scalars())


async def test_the_offline_page_holds_no_user_data_and_may_be_kept(
    web: WebClient, client: httpx.AsyncClient
) -> None:
    anonymous = await client.get("/offline")
    await web.signup(name="Ada Secret")
    signed_in = await client.get("/offline")
    assert signed_in.status_code == anonymous.status_code == 200
    assert signed_in.content == anonymous.content  # the same bytes for everyone
    assert signed_in.headers["cache-control"] == "no-cache"  # pages are no-store; this one isn't
    assert "Ada Secret" not in signed_in.text and web.email not in signed_in.text
    assert 'name="csrf_token"' not in signed_in.text
    assert '"X-CSRF-Token": ""' in signed_in.text
    assert "data-offline" in signed_in.text and "data-user" not in signed_in.text
    # Pages stay no-store.
    assert (await client.get("/tasks")).headers["cache-control"] == "no-store"


async def test_the_worker_caches_the_fingerprinted_shell(client: httpx.AsyncClient) -> None:
    sw = await client.get("/sw.js")
    assert sw.status_code == 200
    assert "__DOABLE_" not in sw.text
    shell = json.loads(re.search(r"var SHELL = (\[.*?\]);", sw.text).group(1))  # type: ignore[union-attr]
    assert shell[0] == "/offline"
    names = [url.split("?")[0] for url in shell[1:]]
    assert names == [
        "/static/app.css",
        "/static/app.js",
        "/static/offline.js",
        "/static/icon.svg",
        "/static/icon-192.png",
        "/static/vendor/htmx/htmx.min.js",
    ]
    version = re.search(r'"doable-shell-([0-9a-f]{12})"', sw.text)
    assert version is not None
    for url in shell[1:]:
        r = await client.get(url)
        assert r.status_code == 200, url
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable", url
    # The offline page names the same fingerprinted files.
    page = (await client.get("/offline")).text
    for url in shell[1:]:
        if not url.startswith("/static/icon-192"):
            assert url.replace("&", "&amp;") in page, url


async def test_a_queued_add_is_created_once_per_key(web: WebClient, database: Database) -> None:
    await web.signup()
    key = str(uuid.uuid4())
    body = {"text": "Buy milk tomorrow #errands", "project_id": None}
    first = await send(web, body, key=key)
    assert first.status_code == 201, first.text
    assert first.json()["title"] == "Buy milk"
    again = await send(web, body, key=key)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await task_titles(database) == ["Buy milk"]
    # The same key with other text is refused, not added.
    other = await send(web, {"text": "Something else", "project_id": None}, key=key)
    assert reason(other, 422).startswith("This Idempotency-Key was already used")
    assert await task_titles(database) == ["Buy milk"]


async def test_a_queued_add_lands_in_its_lists_project(web: WebClient, database: Database) -> None:
    await web.signup()
    await web.post("/projects", {"name": "Garden", "color": "green"})
    async with database.read_sessions() as s:
        garden = (await s.execute(select(Project.id).where(Project.name == "Garden"))).scalar_one()
    r = await send(web, {"text": "Water roses", "project_id": str(garden)}, key="k-1")
    assert r.status_code == 201, r.text
    async with database.read_sessions() as s:
        project = (await s.execute(select(Task.project_id))).scalar_one()
    assert project == garden


async def test_an_expired_session_is_sent_to_login_and_adds_nothing(
    web: WebClient, client: httpx.AsyncClient, database: Database
) -> None:
    await web.signup()
    client.cookies.delete("doable_session")
    r = await send(web, {"text": "Later"}, key="k-2")
    assert r.status_code == 303  # offline.js reads it (fetch's opaque redirect) as signed out
    assert r.headers["location"] == "/login?next=%2Foffline%2Ftasks"
    assert await task_titles(database) == []


def reason(r: httpx.Response, status: int) -> str:
    """The reason an HTML error page gives (offline.js shows it in a toast)."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html")
    found = re.search(
        r'<div class="error-box" role="alert" data-status="(\d+)">.*?<p>(.*?)</p>', r.text, re.S
    )
    assert found is not None and found.group(1) == str(status), r.text
    return html.unescape(found.group(2))


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"text": ""}, "Some of what was sent could not be used."),
        ({"text": "x" * 2001}, "Some of what was sent could not be used."),
        ({"text": "Hi", "extra": 1}, "Some of what was sent could not be used."),
        ({"text": "Hi", "project_id": "nope"}, "Some of what was sent could not be used."),
        ({"text": "#justatag"}, "The text has no title"),
        ({"text": "t" * 201}, "The title has 201 characters; use at most 200"),
    ],
)
async def test_a_queued_add_that_cannot_be_a_task_is_422(
    web: WebClient, database: Database, body: dict[str, object], detail: str
) -> None:
    await web.signup()
    said = reason(await send(web, body, key=str(uuid.uuid4())), 422)
    assert detail in said
    assert await task_titles(database) == []


async def test_another_users_project_is_404(
    web: WebClient, client: httpx.AsyncClient, database: Database
) -> None:
    await web.signup()
    r = await send(web, {"text": "Sneak in", "project_id": str(uuid.uuid4())}, key="k-3")
    assert reason(r, 404) == "No such project"
    assert await task_titles(database) == []


async def test_a_queued_add_needs_the_csrf_token(web: WebClient, database: Database) -> None:
    await web.signup()
    r = await web.http.post(
        "/offline/tasks",
        json={"text": "Forged"},
        headers={"Sec-Fetch-Site": "same-origin", "Idempotency-Key": "k-4"},
    )
    assert reason(r, 403).startswith("The form expired or came from elsewhere")
    cross = await send(web, {"text": "Forged"}, key="k-5", **{"Sec-Fetch-Site": "cross-site"})
    assert reason(cross, 403) == "Cross-site request refused"
    assert await task_titles(database) == []
