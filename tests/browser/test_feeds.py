"""Calendar feeds on the account page, in Chromium: create, copy the address once, fetch it,
rotate, revoke."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS, Contexts
from tests.browser.ui import add_task, sign_up, unique_email

pytestmark = [pytest.mark.browser, pytest.mark.slow]

URL = re.compile(r"^http://127\.0\.0\.1:\d+/ical/[A-Za-z0-9_-]{43}\.ics$")


@pytest.mark.parametrize("width", [375, 1280])
def test_create_copy_rotate_revoke_a_feed(contexts: Contexts, width: int) -> None:
    context = contexts.new(
        permissions=["clipboard-read", "clipboard-write"], viewport={"width": width, "height": 800}
    )
    page = contexts.page(context)
    sign_up(page, unique_email("feeds"))
    add_task(page, "Dentist")
    page.goto("/account")
    section = page.locator("section", has=page.get_by_role("heading", name="Calendar feeds"))
    section.get_by_label("Feed name").fill("Dentist and co")
    section.get_by_label("Show tasks as").select_option("vevent")
    section.get_by_role("button", name="Create feed").click()

    field = page.locator("#feed-url")
    expect(field).to_be_visible()
    url = field.input_value()
    assert URL.fullmatch(url), url
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#toasts .toast")).to_have_text(
        re.compile(r"^(Copied to the clipboard\.|Press Ctrl\+C)")
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"feeds-{width}.png", full_page=True)

    r = page.request.get(url)
    assert r.status == 200 and r.headers["content-type"] == "text/calendar; charset=utf-8"
    assert "BEGIN:VCALENDAR" in r.text() and "X-WR-CALNAME:Dentist and co" in r.text()

    # Reloading the page never shows the address again, only its hint.
    page.goto("/account")
    expect(page.locator("#feed-url")).to_have_count(0)
    row = page.locator("table.feeds tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Dentist and co")

    row.get_by_role("button", name="Rotate feed: Dentist and co (new address)").click()
    rotated = page.locator("#feed-url").input_value()
    assert URL.fullmatch(rotated) and rotated != url
    assert page.request.get(url).status == 404
    assert page.request.get(rotated).status == 200

    page.locator("table.feeds tbody tr").get_by_role(
        "button", name="Revoke feed: Dentist and co"
    ).click()
    expect(page).to_have_url(re.compile(r"/account\?saved=feed$"))
    expect(page.locator("table.feeds")).to_have_count(0)
    assert page.request.get(rotated).status == 404
