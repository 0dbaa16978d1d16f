"""Two people in Chromium sharing a project live: the member's open project page updates when
the owner adds and completes a task (the page's event stream carries the shared project's task
events), and stops following it once the member is removed. axe finds no violation on either
person's page. Screenshots go to test-artifacts/screenshots/sharing-*.png.

Membership is set in the server's database (the invitation UI is built elsewhere), the way the
API tests set it up: through `projects.members`, before the member opens the page, whose stream
then reads the projects shared with them.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from doable import events
from doable.auth.models import User
from doable.config import normalize_database_url
from doable.db import Database, utcnow
from doable.projects import members
from doable.projects import service as projects
from doable.projects.access import Role, Someone
from doable.projects.models import Project
from doable.relay.envelope import pack
from doable.relay.models import RelayedEvent
from tests.browser.conftest import SCREENSHOTS, Contexts
from tests.browser.test_accessibility import run_axe
from tests.browser.test_organise import create_project, quick_add
from tests.browser.ui import settled, sign_up, unique_email
from tests.server import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _membership(server: Server, project_id: str, email: str, role: Role | None) -> None:
    """Share the project with the account of `email` (or, `role` None, remove them), as
    another process would: the change commits, and its membership event reaches the server
    through the relay's table (the transport `doable serve` polls on SQLite)."""

    async def change() -> None:
        config = normalize_database_url(None, Path(server.env["DOABLE_DATA_DIR"]))
        database = Database(config)
        project_uuid = uuid.UUID(project_id)
        try:
            async with database.unit_of_work(write=True) as session:
                user_id = await session.scalar(select(User.id).where(User.email == email))
                owner_id = await session.scalar(
                    select(Project.owner_id).where(Project.id == project_uuid)
                )
                assert user_id is not None and owner_id is not None
                project = await projects.get_project(session, Someone(owner_id), project_uuid)
                if role is None:
                    await members.remove_member(session, project, user_id)
                else:
                    await members.add_member(session, project, user_id, role)
                change = events.Event(
                    "membership",
                    user_id,
                    {"action": "added" if role else "removed", "project_id": project_id},
                )
                for payload in pack("browser-test", [change]):
                    session.add(RelayedEvent(created_at=utcnow(), payload=payload))
        finally:
            await database.dispose()

    # Playwright's sync API runs an event loop in this thread: run ours in another one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, change()).result()


def titles(page: Page) -> list[str]:
    return page.locator("#list-region li.task p.title").all_inner_texts()


def no_violations(page: Page) -> None:
    settled(page)
    found = run_axe(page)
    assert [(v["id"], v["impact"]) for v in found] == []


def test_two_people_share_a_project_live(contexts: Contexts, server: Server) -> None:
    owner_email, member_email = unique_email("owner"), unique_email("member")
    owner = contexts.page()
    sign_up(owner, owner_email, name="Olive")
    member = contexts.page()
    sign_up(member, member_email, name="Max")
    project_id = create_project(owner, "Household", "teal")
    _membership(server, project_id, member_email, Role.EDITOR)

    member.goto(f"/projects/{project_id}")
    expect(member.get_by_role("heading", level=1)).to_have_text(re.compile(r"Household$"))
    expect(member.locator("body")).to_have_attribute("data-live", "on")
    assert titles(member) == []

    # The owner adds a task: it appears on the member's open page without a reload.
    quick_add(owner, "Buy milk")
    quick_add(owner, "Water plants")
    expect(member.locator("#list-region li.task p.title")).to_have_text(
        ["Buy milk", "Water plants"]
    )
    no_violations(member)
    no_violations(owner)
    member.screenshot(path=SCREENSHOTS / "sharing-member-live.png", full_page=True)

    # The owner completes one: it leaves the member's open list.
    owner.locator("#list-region li.task", has_text="Buy milk").locator("button.check").click()
    expect(member.locator("#list-region li.task p.title")).to_have_text(["Water plants"])

    # The member (an editor) completes the other: the owner's page follows too. (app.js drops
    # an event that comes within 1.5 s of the tab's own last change, taking it for its own:
    # let that pass first.)
    settled(member)
    owner.wait_for_timeout(1600)
    member.locator("#list-region li.task", has_text="Water plants").locator("button.check").click()
    expect(owner.locator("#list-region li.task p.title")).to_have_count(0)
    no_violations(owner)
    owner.screenshot(path=SCREENSHOTS / "sharing-owner-live.png", full_page=True)

    # Removed in another process: the server hears it through the relay, and the owner's next
    # task no longer reaches the member's page (a task added before, still does).
    member.wait_for_timeout(1600)  # past the member's own last change (see above)
    quick_add(owner, "Before removal")
    expect(member.locator("#list-region li.task p.title")).to_have_text(["Before removal"])
    _membership(server, project_id, member_email, None)
    # The member's page leaves the project they lost (its URL is 404 for them now).
    expect(member).to_have_url(re.compile(r"/tasks$"))
    expect(member.locator("body")).to_have_attribute("data-live", "on")
    quick_add(owner, "After removal")
    member.wait_for_timeout(2500)
    assert member.get_by_text("After removal").count() == 0
    assert member.get_by_role("link", name=re.compile("Household")).count() == 0
