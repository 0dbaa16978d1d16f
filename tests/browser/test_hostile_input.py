"""Hostile and huge input in a real browser: markup shows as text, long content keeps the layout."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, Contexts
from tests.browser.ui import (
    add_task,
    edit_link,
    settled,
    sign_up,
    task_id,
    task_item,
    unique_email,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TITLE = '<script>alert("title")</script>'
DESCRIPTION = "<img src=x onerror=\"window.__pwned='description'\"><script>alert(2)</script>"
TAGS = ["<b>bold</b>", "<svg/onload=alert(3)>", '"><i>x</i>']


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the document is wider than the viewport (0 when it fits)."""
    width: int = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return width


def test_markup_in_titles_descriptions_and_tags_is_shown_as_text(contexts: Contexts) -> None:
    page = contexts.page()
    watch = contexts.watch(page)
    sign_up(page, unique_email("xss"), name="<em>Mallory</em>")
    item = add_task(page, TITLE, tags=TAGS)
    item_id = task_id(item)
    page.get_by_role("link", name=f"Edit: {TITLE}").click()
    settled(page)
    page.locator(f"#edit-description-{item_id}").fill(DESCRIPTION)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(f"#task-{item_id}.editing")).to_have_count(0)

    def check() -> None:
        shown = page.locator(f"#task-{item_id}")
        expect(shown.locator("p.title")).to_have_text(TITLE)
        expect(shown.locator(".description")).to_have_text(DESCRIPTION)
        expect(shown.locator(".chip")).to_have_text(sorted(f"#{t}" for t in TAGS))
        expect(page.get_by_text(TITLE, exact=True)).to_be_visible()
        expect(page.get_by_role("link", name="<em>Mallory</em>")).to_be_visible()
        assert shown.locator("script, img, svg, b, i").count() == 0
        assert page.locator("main em, header em").count() == 0
        assert page.evaluate("window.__pwned") is None

    check()  # after the htmx swaps
    page.reload()
    check()  # rendered by the server as a whole page
    page.locator(".sidebar .chip", has_text="#<b>bold</b>").click()
    expect(page).to_have_url(re.compile(r"tag=%3Cb%3Ebold%3C%2Fb%3E"))
    check()  # and through the tag filter

    # The edit form holds the same literal values.
    page.get_by_role("link", name=f"Edit: {TITLE}").click()
    expect(page.locator(f"#edit-title-{item_id}")).to_have_value(TITLE)
    expect(page.locator(f"#edit-description-{item_id}")).to_have_value(DESCRIPTION)
    settled(page)
    page.keyboard.press("Escape")
    expect(page.locator(f"#task-{item_id}.editing")).to_have_count(0)

    # The undo toast shows the title as text too.
    settled(page)
    page.get_by_role("button", name=f"Delete: {TITLE}").click()
    expect(page.locator("#toasts .toast")).to_contain_text(f"Deleted “{TITLE}”.")
    assert page.locator("#toasts script").count() == 0

    assert watch.dialogs == []
    assert [m for m in watch.console if "Content Security Policy" in m] == []
    assert page.evaluate("window.__pwned") is None


def test_a_huge_description_and_thirty_tags_keep_the_layout_at_375px(contexts: Contexts) -> None:
    page = contexts.page(viewport=PHONE)
    sign_up(page, unique_email("huge"))
    words = " ".join(f"word{i}" for i in range(1200))
    unbroken = "x" * 2000
    description = (words + "\n" + unbroken + "\n" + words)[:10_000]
    assert len(description) == 10_000
    tags = [f"tag{i:02d}-" + "y" * 40 for i in range(30)]
    long_title = "T" * 200

    item = add_task(page, long_title, tags=tags, priority="urgent", due_date="2031-12-24")
    item_id = task_id(item)
    expect(item.locator(".chip")).to_have_count(30)
    assert horizontal_overflow(page) <= 0

    edit_link(page, item_id).click()
    settled(page)
    expect(page.locator(f"#edit-tags-{item_id}")).to_have_value(", ".join(sorted(tags)))
    assert horizontal_overflow(page) <= 0
    page.locator(f"#edit-description-{item_id}").fill(description)
    page.get_by_role("button", name="Save").click()
    shown = task_item(page, long_title)
    expect(shown.locator(".description")).to_have_text(description)
    assert horizontal_overflow(page) <= 0

    for width in (375, 360, 1280, 1440):
        page.set_viewport_size({"width": width, "height": 800})
        page.reload()
        expect(task_item(page, long_title).locator(".chip")).to_have_count(30)
        expect(page.locator(".sidebar .chip")).to_have_count(30)
        assert horizontal_overflow(page) <= 0, width
        box = task_item(page, long_title).bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width, width
