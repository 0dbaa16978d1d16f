"""The edit page's people and comments in the web app, in-process: a viewer comments, HTML
is shown as text and only http(s) addresses become links, assigning through the select, the
Assigned to me view, and bad input re-rendered with a 422."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from doable.auth.models import User
from doable.comments.models import Comment
from doable.db import Database
from doable.projects.access import Role
from doable.web.linkify import linkify
from tests.conftest import make_client
from tests.factories import Account, make_account
from tests.test_sharing_core import share
from tests.webclient import WebClient


@pytest.fixture
async def web(client: httpx.AsyncClient) -> WebClient:
    return WebClient(client)


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("<b>hi</b> & bye", "&lt;b&gt;hi&lt;/b&gt; &amp; bye"),
        (
            "see https://example.com/a?b=1&c=2.",
            'see <a href="https://example.com/a?b=1&amp;c=2" rel="noopener nofollow ugc">'
            "https://example.com/a?b=1&amp;c=2</a>.",
        ),
        ("javascript:alert(1) and data:text/html,x", "javascript:alert(1) and data:text/html,x"),
        (
            '(http://x.org/wiki/A_(b)) "https://e.com/"x',
            '(<a href="http://x.org/wiki/A_(b)" rel="noopener nofollow ugc">http://x.org/wiki/A_(b)'
            '</a>) &#34;<a href="https://e.com/" rel="noopener nofollow ugc">https://e.com/</a>&#34;x',
        ),
        ("https://", "https://"),
    ],
)
def test_linkify_escapes_everything_and_links_only_http(text: str, html: str) -> None:
    assert str(linkify(text)) == html


async def _shared(
    app: FastAPI, client: httpx.AsyncClient, database: Database, web: WebClient
) -> tuple[Account, WebClient, str, str]:
    """An owner (API) sharing a project with a web user as a viewer, and a task of it."""
    owner = await make_account(client, name="Olive")
    await web.signup(name="Vera")
    me = (await client.get("/api/v1/me", headers=owner.headers)).json()
    assert me["name"] == "Olive"
    project = (
        await client.post("/api/v1/projects", json={"name": "Home"}, headers=owner.headers)
    ).json()
    async with database.read_sessions() as s:
        vera_id = (await s.execute(select(User.id).where(User.email == web.email))).scalar_one()
    vera = Account(str(vera_id), web.email, "", "", "")
    await share(database, owner, project["id"], vera, Role.VIEWER)
    task = (
        await client.post(
            "/api/v1/tasks",
            json={"title": "Fix the sink", "project_id": project["id"]},
            headers=owner.headers,
        )
    ).json()
    return owner, web, task["id"], str(vera_id)


async def test_a_viewer_comments_on_the_edit_page(
    app: FastAPI, client: httpx.AsyncClient, database: Database, web: WebClient
) -> None:
    owner, web, task_id, _ = await _shared(app, client, database, web)
    page = await web.get(f"/tasks/{task_id}/edit")
    assert page.status_code == 200
    assert "No comments yet." in page.text
    assert 'id="assignee"' not in page.text  # a viewer cannot assign
    body = "<script>alert(1)</script> see https://example.com/x and javascript:alert(2)"
    r = await web.post(f"/tasks/{task_id}/comments", {"body": body})
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith(f"/tasks/{task_id}/edit#comment-")
    page = await web.get(f"/tasks/{task_id}/edit")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert (
        '<a href="https://example.com/x" rel="noopener nofollow ugc">https://example.com/x</a>'
        in page.text
    )
    assert 'href="javascript' not in page.text
    # The owner reads it through the API, exactly as typed, and was told of it.
    r = await client.get(f"/api/v1/tasks/{task_id}/comments", headers=owner.headers)
    assert [c["body"] for c in r.json()["items"]] == [body]
    notes = (await client.get("/api/v1/notifications", headers=owner.headers)).json()["items"]
    assert [n["kind"] for n in notes] == ["comment"]
    # Edit, then delete, your own.
    comment_id = r.json()["items"][0]["id"]
    r = await web.post(f"/tasks/{task_id}/comments/{comment_id}", {"body": "fixed"})
    assert r.status_code == 303
    page = await web.get(f"/tasks/{task_id}/edit")
    assert "fixed" in page.text and "(edited)" in page.text
    r = await web.post(f"/tasks/{task_id}/comments/{comment_id}/delete")
    assert r.status_code == 303
    async with database.read_sessions() as s:
        assert (await s.execute(select(Comment.id))).all() == []


@pytest.mark.parametrize("body", ["", "   ", "x" * 10_001])
async def test_a_bad_comment_is_shown_again_with_its_error(
    app: FastAPI, client: httpx.AsyncClient, database: Database, web: WebClient, body: str
) -> None:
    _, web, task_id, _ = await _shared(app, client, database, web)
    r = await web.post(f"/tasks/{task_id}/comments", {"body": body})
    assert r.status_code == 422, r.text
    assert 'id="comment-error"' in r.text
    async with database.read_sessions() as s:
        assert (await s.execute(select(Comment.id))).all() == []


async def test_someone_elses_comment_cannot_be_edited_from_the_web(
    app: FastAPI, client: httpx.AsyncClient, database: Database, web: WebClient
) -> None:
    owner, web, task_id, _ = await _shared(app, client, database, web)
    r = await client.post(
        f"/api/v1/tasks/{task_id}/comments", json={"body": "owner's"}, headers=owner.headers
    )
    comment_id = r.json()["id"]
    r = await web.post(f"/tasks/{task_id}/comments/{comment_id}", {"body": "mine now"})
    assert r.status_code == 403, r.text
    r = await web.post(f"/tasks/{task_id}/comments/{comment_id}/delete")
    assert r.status_code == 403, r.text
    r = await client.get(f"/api/v1/tasks/{task_id}/comments", headers=owner.headers)
    assert [c["body"] for c in r.json()["items"]] == ["owner's"]


async def test_assigning_from_the_edit_page_and_the_assigned_view(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    web = WebClient(make_client(app))
    await web.signup(name="Ed")
    editor_page = await web.get("/tasks")
    assert 'href="/tasks?assigned=me"' in editor_page.text
    task_id = await web.add("Mine to give")
    page = await web.get(f"/tasks/{task_id}/edit")
    assert 'id="assignee"' in page.text
    me = re.search(r'<option value="([0-9a-f-]{36})">Ed \(you\)</option>', page.text)
    assert me, page.text
    r = await web.post(f"/tasks/{task_id}/assignee", {"assignee_id": me.group(1)})
    assert r.status_code == 303, r.text
    page = await web.get("/tasks?assigned=me")
    assert "Mine to give" in page.text
    assert 'href="/tasks?assigned=me" aria-current="page"' in page.text
    await web.add("Not mine")
    page = await web.get("/tasks?assigned=me")
    assert "Not mine" not in page.text
    for bad in (str(uuid.uuid4()), "nobody"):
        r = await web.post(f"/tasks/{task_id}/assignee", {"assignee_id": bad})
        assert r.status_code == 422, r.text
        assert 'id="assignee-error"' in r.text
    r = await web.post(f"/tasks/{task_id}/assignee", {"assignee_id": ""})
    assert r.status_code == 303
    assert "Mine to give" not in (await web.get("/tasks?assigned=me")).text
    await web.http.aclose()
