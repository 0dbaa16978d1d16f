"""With JavaScript off, the app still works as plain HTML forms: every post answers 303."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, Response, expect

from tests.browser.conftest import Contexts
from tests.browser.ui import PASSWORD, task_item, task_list, titles, unique_email

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def post_and_follow(page: Page, click: Callable[[], None]) -> Response:
    """Clicks a submit button (`click()`), and returns the POST's own response (not the page
    it redirected to)."""
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        click()
    page.wait_for_load_state()
    return posted.value


def test_sign_up_log_in_add_complete_delete_without_javascript(contexts: Contexts) -> None:
    page = contexts.page(java_script_enabled=False)
    requests: list[tuple[str, str]] = []
    page.on("request", lambda r: requests.append((r.method, r.resource_type)))
    email = unique_email("nojs")

    page.goto("/signup")
    page.get_by_label("Name").fill("Grace")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    signed_up = post_and_follow(page, page.get_by_role("button", name="Sign up").click)
    assert signed_up.status == 303
    assert signed_up.headers["location"] == "/tasks"
    expect(page).to_have_url(re.compile(r"/tasks$"))
    expect(page.get_by_role("heading", name="Nothing to do yet")).to_be_visible()

    logged_out = post_and_follow(page, page.get_by_role("button", name="Log out").click)
    assert logged_out.status == 303
    expect(page).to_have_url(re.compile(r"/login$"))

    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    logged_in = post_and_follow(page, page.get_by_role("button", name="Log in").click)
    assert logged_in.status == 303
    expect(page).to_have_url(re.compile(r"/tasks$"))
    expect(page.get_by_role("link", name="Grace")).to_be_visible()

    # Add: the "Priority, due date, tags" details open without script too.
    page.locator("#quick-title").fill("Water the plants")
    page.get_by_text("Priority, due date, tags").click()
    page.locator("#quick-priority").select_option("medium")
    page.locator("#quick-tags").fill("home")
    added = post_and_follow(page, page.get_by_role("button", name="Add", exact=True).click)
    assert added.status == 303
    expect(page).to_have_url(re.compile(r"/tasks$"))
    page.locator("#quick-title").fill("Read a book")
    post_and_follow(page, page.get_by_role("button", name="Add", exact=True).click)
    expect(titles(page)).to_have_text(["Read a book", "Water the plants"])
    plants = task_item(page, "Water the plants")
    expect(plants.locator(".badge")).to_have_text("medium")
    expect(plants.locator(".chip")).to_have_text(["#home"])

    # A validation error comes back as the page, with the message next to the field.
    page.locator("#quick-title").fill("   ")
    invalid = post_and_follow(page, page.get_by_role("button", name="Add", exact=True).click)
    assert invalid.status == 422
    expect(page.locator("#quick-title-error")).to_be_visible()
    expect(task_list(page)).to_have_count(2)

    page.goto("/tasks")
    completed = post_and_follow(
        page, page.get_by_role("button", name="Complete: Water the plants").click
    )
    assert completed.status == 303
    expect(task_item(page, "Water the plants")).to_have_class(re.compile(r"\bdone\b"))

    # Search has an Apply button when script is off.
    page.locator("#search").fill("book")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"/tasks\?q=book&sort=created$"))
    expect(titles(page)).to_have_text(["Read a book"])
    page.goto("/tasks")

    deleted = post_and_follow(page, page.get_by_role("button", name="Delete: Read a book").click)
    assert deleted.status == 303
    expect(page).to_have_url(re.compile(r"/tasks$"))
    expect(titles(page)).to_have_text(["Water the plants"])

    # Nothing went through fetch or XHR: every request was a page load, a style or an icon.
    assert {kind for _, kind in requests} <= {"document", "stylesheet", "image", "other"}
    assert ("POST", "fetch") not in requests
    assert ("POST", "xhr") not in requests
