"""Sharing in Chromium, two people in two browser contexts: the owner invites from the Share
page, the invitee follows the link through sign-up, the owner changes their role and removes
them, and the removed member's next page is a 404. axe finds nothing on the new pages."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, SCREENSHOTS, Contexts
from tests.browser.test_accessibility import run_axe
from tests.browser.ui import PASSWORD, sign_up, unique_email


def no_violations(page: Page, name: str) -> None:
    """axe reports nothing at all, of any impact, at both widths; screenshots kept."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[dict[str, Any]]] = {}
    size = page.viewport_size
    for viewport in (size, PHONE):
        assert viewport is not None
        page.set_viewport_size(viewport)
        found[str(viewport["width"])] = run_axe(page)
        page.screenshot(
            path=SCREENSHOTS / f"sharing-{viewport['width']}-{name}.png", full_page=True
        )
    assert size is not None
    page.set_viewport_size(size)
    assert found == {"1280": [], "375": []}, found


def test_two_people_share_a_project(contexts: Contexts) -> None:
    owner = contexts.page()
    sign_up(owner, unique_email("owner"), name="Olive")
    owner.goto("/projects")
    owner.get_by_label("Name", exact=True).fill("Flat")
    owner.get_by_role("button", name="Add project").click()
    expect(owner.get_by_role("heading", level=1)).to_contain_text("Flat")
    project_path = "/" + owner.url.split("/", 3)[3]
    owner.get_by_role("link", name="Share").click()
    expect(owner.get_by_role("heading", level=1)).to_have_text("Share “Flat”")
    no_violations(owner, "share-alone")

    invitee_email = unique_email("invitee")
    owner.get_by_label("Email").fill(invitee_email)
    owner.get_by_label("Role", exact=True).select_option("viewer")
    owner.get_by_role("button", name="Make an invitation link").click()
    link = owner.locator("#new-link").input_value()
    assert re.search(r"/invitations/[0-9a-f]{32}\.[A-Za-z0-9_-]+$", link), link
    no_violations(owner, "share-invited")

    # The other person, in their own browser context, follows the link through sign-up.
    guest = contexts.page()
    guest.goto(link)
    expect(guest.get_by_role("heading", level=1)).to_have_text("Join “Flat”")
    no_violations(guest, "invitation")
    guest.get_by_role("link", name=f"Sign up with {invitee_email}").click()
    expect(guest.get_by_label("Email")).to_have_value(invitee_email)
    no_violations(guest, "signup-invited")
    guest.get_by_label("Name").fill("Vic")
    guest.get_by_label("Password").fill(PASSWORD)
    guest.get_by_role("button", name="Sign up").click()
    expect(guest).to_have_url(re.compile(re.escape(project_path) + "$"))
    guest.get_by_role("link", name="Share").click()
    expect(guest.get_by_text("Olive")).to_be_visible()
    expect(guest.get_by_role("button", name="Leave this project")).to_be_visible()
    no_violations(guest, "share-as-viewer")

    # The owner sees the new member with their email, and makes them an editor.
    owner.reload()
    member = owner.locator("li.member", has_text="Vic")
    expect(member).to_contain_text(invitee_email)
    member.get_by_label("Role of Vic", exact=True).select_option("editor")
    member.get_by_role("button", name="Change role: Vic").click()
    expect(
        owner.locator("li.member", has_text="Vic").get_by_label("Role of Vic", exact=True)
    ).to_have_value("editor")
    no_violations(owner, "share-members")

    # Removed: the member's next request is a 404.
    owner.locator("li.member", has_text="Vic").get_by_role("button", name="Remove: Vic").click()
    expect(owner.locator("li.member", has_text="Vic")).to_have_count(0)
    response = guest.goto(project_path)
    assert response is not None and response.status == 404
