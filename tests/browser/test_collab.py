"""Two people in two browser contexts working on one shared project: a viewer comments (HTML
shown as text, links made safe), the owner assigns the task from its edit page, and the
assignee finds it under Assigned to me. axe finds no violation on those pages."""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from doable.config import normalize_database_url
from doable.db import Database
from doable.projects import members
from doable.projects import service as projects
from doable.projects.access import Role, Someone
from tests.browser.conftest import Contexts
from tests.browser.test_accessibility import run_axe
from tests.browser.ui import PASSWORD, sign_up, unique_email
from tests.server import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _api(server: Server, email: str) -> tuple[httpx.Client, str]:
    c = httpx.Client(base_url=server.base_url, timeout=10)
    r = c.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    body = r.json()
    c.headers["Authorization"] = f"Bearer {body['access_token']}"
    return c, body["user"]["id"]


def _share(server: Server, owner_id: str, project_id: str, member_id: str) -> None:
    """There is no invitation API on this branch yet: share through the service, as the
    sharing core's tests do."""

    async def run() -> None:
        database = Database(normalize_database_url(None, Path(server.env["DOABLE_DATA_DIR"])))
        try:
            async with database.unit_of_work(write=True) as session:
                project = await projects.get_project(
                    session, Someone(uuid.UUID(owner_id)), uuid.UUID(project_id)
                )
                await members.add_member(session, project, uuid.UUID(member_id), Role.VIEWER)
        finally:
            await database.engine.dispose()

    # Playwright's sync API runs an event loop in this thread: use another one.
    worker = threading.Thread(target=asyncio.run, args=(run(),))
    worker.start()
    worker.join(30)


def test_two_people_comment_and_assign(contexts: Contexts, server: Server) -> None:
    owner_page = contexts.page()
    owner_email = unique_email("olive")
    sign_up(owner_page, owner_email, name="Olive")
    viewer_page = contexts.page()
    viewer_email = unique_email("vera")
    sign_up(viewer_page, viewer_email, name="Vera")

    api, owner_id = _api(server, owner_email)
    _, viewer_id = _api(server, viewer_email)
    project = api.post("/api/v1/projects", json={"name": "Home"}).json()
    task = api.post(
        "/api/v1/tasks", json={"title": "Fix the sink", "project_id": project["id"]}
    ).json()
    _share(server, owner_id, project["id"], viewer_id)

    # The viewer comments, with HTML and a link.
    viewer_page.goto(f"/tasks/{task['id']}/edit")
    viewer_page.get_by_label("Add a comment").fill(
        "<b>Leaking</b> again, see https://example.com/sink and javascript:alert(1)"
    )
    viewer_page.get_by_role("button", name="Comment", exact=True).click()
    comment = viewer_page.locator(".comment").first
    expect(comment).to_contain_text("<b>Leaking</b> again")
    link = comment.get_by_role("link", name="https://example.com/sink")
    expect(link).to_have_attribute("rel", "noopener nofollow ugc")
    expect(comment.locator("b")).to_have_count(0)
    assert run_axe(viewer_page) == []

    # The owner sees it and assigns the task to the viewer.
    owner_page.goto(f"/tasks/{task['id']}/edit")
    expect(owner_page.locator(".comment").first).to_contain_text("Vera")
    owner_page.get_by_label("Assigned to").select_option(label="Vera")
    owner_page.get_by_role("button", name="Assign").click()
    expect(owner_page.get_by_label("Assigned to")).to_have_value(viewer_id)
    assert run_axe(owner_page) == []

    # The viewer finds it under Assigned to me.
    viewer_page.goto("/tasks")
    viewer_page.get_by_role("link", name="Assigned to me").click()
    expect(viewer_page.get_by_text("Fix the sink")).to_be_visible()
    assert run_axe(viewer_page) == []
    notes = api.get("/api/v1/notifications").json()["items"]
    assert [n["kind"] for n in notes] == ["comment"]
