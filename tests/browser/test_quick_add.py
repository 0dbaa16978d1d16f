"""Quick add in Chromium: the live preview marks what it read, and Add creates that task."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, Contexts
from tests.browser.ui import ZONE, settled, sign_up, task_item, titles, unique_email

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEXT = "Water plants every 3 days at 8am #home"


def _first_eight_am(now: datetime) -> datetime:
    """Today at 08:00 if that is still ahead, else three days later (the rule's next one)."""
    at_8 = now.replace(hour=8, minute=0, second=0, microsecond=0)
    return at_8 if now < at_8 else at_8 + timedelta(days=3)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "375"])
def test_type_see_the_preview_add_and_see_the_task(
    contexts: Contexts, viewport: dict[str, int]
) -> None:
    page = contexts.page(viewport=viewport)
    sign_up(page, unique_email("quick"))
    settled(page)
    box = page.locator("#quick-title")
    box.click()
    box.press_sequentially(TEXT, delay=15)  # as a person types: the preview follows
    preview = page.locator("#quick-preview")
    expect(preview.locator("mark.token")).to_have_text(["every 3 days", "at 8am", "#home"])
    expect(preview.locator("mark.token-recurrence")).to_have_text("every 3 days")
    expect(preview.locator("mark.token-time")).to_have_text("at 8am")
    expect(preview.locator("mark.token-tag")).to_have_text("#home")
    expect(preview.locator(".preview-title")).to_have_text("Water plants")
    expect(preview.locator(".preview-repeats")).to_have_text("every 3 days")
    due = _first_eight_am(datetime.now(ZONE))
    expect(preview.locator(".preview-due")).to_have_text(f"{due:%a %-d %b %Y}, 08:00 ({ZONE.key})")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # caret="initial": hiding the caret leaves style="" on the inputs, which htmx copies onto
    # the fresh quick-add form the add swaps in, and the CSP (rightly) refuses.
    shot = SCREENSHOTS / f"quick-add-preview-{viewport['width']}.png"
    page.screenshot(path=shot, caret="initial")

    page.get_by_role("button", name="Add", exact=True).click()
    item = task_item(page, "Water plants")
    expect(item).to_have_count(1)
    expect(item.locator(".chip")).to_have_text(["#home"])
    days = (due.date() - datetime.now(ZONE).date()).days
    label = {0: "Today", 1: "Tomorrow"}.get(days, f"{due:%a}")
    expect(item.locator(".due")).to_have_text(f"{label} 08:00")
    expect(box).to_have_value("")
    expect(preview.locator("mark")).to_have_count(0)
    repeat = item.locator(".repeat, .recurrence")
    if repeat.count():  # once tasks carry their repeat rule, the list shows it
        expect(repeat.first).to_contain_text("3 days")

    # The server renders the same task on a fresh load.
    page.reload()
    item = task_item(page, "Water plants")
    expect(item.locator(".due")).to_have_text(f"{label} 08:00")
    expect(item.locator(".chip")).to_have_text(["#home"])


def test_a_text_without_a_title_is_refused_next_to_the_box(contexts: Contexts) -> None:
    page = contexts.page()
    sign_up(page, unique_email("quick-empty"))
    settled(page)
    page.locator("#quick-title").fill("#home tomorrow !high")
    expect(page.locator("#quick-preview .preview-warning")).to_have_text(
        "There is no title: everything was read as a date, tag or other token"
    )
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#quick-title-error")).to_contain_text("The text has no title")
    expect(page.locator("#task-list > li")).to_have_count(0)


def test_emptying_the_box_clears_the_preview_without_asking_the_server(
    contexts: Contexts,
) -> None:
    page = contexts.page()
    sign_up(page, unique_email("quick-clear"))
    settled(page)
    box = page.locator("#quick-title")
    preview = page.locator("#quick-preview")
    box.fill("Call mum tomorrow")
    expect(preview.locator("mark.token")).to_have_text(["tomorrow"])
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/tasks/preview" in r.url else None)
    box.fill("")
    expect(preview).to_be_empty()
    # Cleared by the page itself: a blank box's preview is no request (one that, offline or
    # signed out, would fail or send the page to the login).
    assert asked == []


def test_quick_add_reads_the_text_without_javascript(contexts: Contexts) -> None:
    page = contexts.page(java_script_enabled=False)
    sign_up(page, unique_email("quick-nojs"))
    page.locator("#quick-title").fill("Call mum tomorrow at 6pm #family !high")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Add", exact=True).click()
    page.wait_for_load_state()
    assert (posted.value.status, posted.value.headers["location"]) == (303, "/tasks")
    item = task_item(page, "Call mum")
    expect(item.locator(".badge")).to_have_text("high")
    expect(item.locator(".chip")).to_have_text(["#family"])
    expect(item.locator(".due")).to_have_text("Tomorrow 18:00")


def test_an_add_after_a_refused_one_empties_the_box_and_drops_the_error(
    contexts: Contexts,
) -> None:
    page = contexts.page()
    sign_up(page, unique_email("quick-again"))
    settled(page)
    page.locator("#quick-title").fill("#garden tomorrow")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#quick-title-error")).to_contain_text("The text has no title")
    expect(page.locator("#quick-title")).to_have_value("#garden tomorrow")
    for title, by_click in (("Buy oat milk", True), ("Water the fern", False)):
        settled(page)
        box = page.locator("#quick-title")
        box.fill(title)
        if by_click:
            page.get_by_role("button", name="Add", exact=True).click()
        else:
            box.press("Enter")
        expect(task_item(page, title)).to_have_count(1)
        expect(page.locator("#quick-title")).to_have_value("")
        expect(page.locator("#quick-title")).to_be_focused()
        expect(page.locator("#quick-title-error")).to_have_count(0)
        expect(page.locator("#quick-preview mark")).to_have_count(0)
    expect(titles(page)).to_have_text(["Water the fern", "Buy oat milk"])
