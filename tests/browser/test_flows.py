"""The task list as a person uses it in Chromium: add, complete, filter, search, edit, delete."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Contexts
from tests.browser.ui import (
    ZONE,
    add_task,
    check_button,
    edit_link,
    expect_counts,
    filter_link,
    log_out,
    settled,
    sign_up,
    task_id,
    task_item,
    task_list,
    titles,
    unique_email,
)
from tests.server import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def today() -> str:
    return datetime.now(ZONE).date().isoformat()


def test_sign_up_add_complete_filter_search_edit_delete_undo_log_out(page: Page) -> None:
    sign_up(page, unique_email("flow"), name="Ada")
    expect(page.get_by_role("heading", name="Nothing to do yet")).to_be_visible()
    expect_counts(page, open=0, today=0, overdue=0, done=0)

    # Add three tasks; the second with priority, due date and tags.
    add_task(page, "Buy milk")
    expect(page.locator("#quick-title")).to_be_focused()
    expect(page.locator("#quick-title")).to_have_value("")
    report = add_task(page, "Write report", priority="high", due_date=today(), tags=["work", "q3"])
    add_task(page, "Call mum")
    expect(titles(page)).to_have_text(["Call mum", "Write report", "Buy milk"])
    expect(page.locator("#empty")).to_be_hidden()
    expect(report.locator(".badge")).to_have_text("high")
    expect(report.locator(".due")).to_have_text("Today")
    expect(report.locator(".chip")).to_have_text(["#q3", "#work"])  # sorted by name
    expect_counts(page, open=3, today=1, overdue=0, done=0)

    # Complete one with one click.
    milk = task_item(page, "Buy milk")
    milk.get_by_role("button", name="Complete: Buy milk").click()
    expect(milk).to_have_class(re.compile(r"\bdone\b"))
    expect(milk.get_by_role("button", name="Reopen: Buy milk")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect_counts(page, open=2, today=1, overdue=0, done=1)

    # Filters, each answered by htmx with the URL pushed; a full reload keeps them.
    filter_link(page, "Open").click()
    expect(page).to_have_url(re.compile(r"/tasks\?status=pending$"))
    expect(titles(page)).to_have_text(["Call mum", "Write report"])
    filter_link(page, "Done").click()
    expect(page).to_have_url(re.compile(r"/tasks\?status=completed$"))
    expect(titles(page)).to_have_text(["Buy milk"])
    page.reload()
    expect(titles(page)).to_have_text(["Buy milk"])
    expect(filter_link(page, "Done")).to_have_attribute("aria-current", "true")
    filter_link(page, "All").click()
    expect(titles(page)).to_have_text(["Call mum", "Write report", "Buy milk"])

    filter_link(page, "Today").click()
    expect(page).to_have_url(re.compile(r"/tasks\?due=today$"))
    expect(titles(page)).to_have_text(["Write report"])
    filter_link(page, "No date").click()
    expect(titles(page)).to_have_text(["Call mum", "Buy milk"])
    filter_link(page, "Overdue").click()
    expect(task_list(page)).to_have_count(0)
    expect(page.get_by_role("heading", name="No tasks match")).to_be_visible()
    filter_link(page, "Any time").click()
    expect(titles(page)).to_have_text(["Call mum", "Write report", "Buy milk"])

    sidebar = page.get_by_role("navigation", name="Task filters")
    settled(page)
    sidebar.get_by_role("link", name=re.compile(r"^#work\b")).click()
    expect(page).to_have_url(re.compile(r"/tasks\?tag=work$"))
    expect(titles(page)).to_have_text(["Write report"])
    settled(page)
    sidebar.get_by_role("link", name=re.compile(r"^#work\b")).click()  # a chip toggles off
    expect(page).to_have_url(re.compile(r"/tasks\??$"))
    expect(titles(page)).to_have_text(["Call mum", "Write report", "Buy milk"])

    filter_link(page, "High").click()
    expect(page).to_have_url(re.compile(r"/tasks\?priority=high$"))
    expect(titles(page)).to_have_text(["Write report"])
    filter_link(page, "Clear filters").click()
    expect(page).to_have_url(re.compile(r"/tasks$"))
    expect(titles(page)).to_have_text(["Call mum", "Write report", "Buy milk"])

    # Search as you type (debounced), and no matches.
    page.keyboard.press("/")
    expect(page.locator("#search")).to_be_focused()
    page.locator("#search").press_sequentially("mum", delay=40)
    expect(titles(page)).to_have_text(["Call mum"])
    expect(page).to_have_url(re.compile(r"/tasks\?q=mum&sort=created$"))
    page.locator("#search").fill("no such thing")
    expect(task_list(page)).to_have_count(0)
    expect(page.get_by_role("heading", name="No tasks match")).to_be_visible()
    page.locator("#search").fill("")
    expect(titles(page)).to_have_text(["Call mum", "Write report", "Buy milk"])

    # Edit in place; Esc cancels and leaves the task as it was.
    call = task_item(page, "Call mum")
    call_id = task_id(call)
    settled(page)
    page.get_by_role("link", name="Edit: Call mum").click()
    editing = page.locator(f"#task-{call_id}.editing")
    title_input = editing.get_by_label("Title")
    expect(title_input).to_be_focused()
    settled(page)
    title_input.fill("Something else")
    title_input.press("Escape")
    expect(page.locator(f"#task-{call_id}.editing")).to_have_count(0)
    expect(page.locator(f"#task-{call_id} p.title")).to_have_text("Call mum")

    page.get_by_role("link", name="Edit: Call mum").click()
    expect(editing.get_by_label("Title")).to_be_focused()
    editing.get_by_label("Title").fill("Call mum and dad")
    editing.get_by_label("Description").fill("Sunday, after lunch")
    editing.get_by_label("Priority").select_option("low")
    editing.get_by_role("button", name="Save").click()
    edited = page.locator(f"#task-{call_id}")
    expect(edited).not_to_have_class(re.compile(r"\bediting\b"))
    expect(edited.locator("p.title")).to_have_text("Call mum and dad")
    expect(edited.locator(".description")).to_have_text("Sunday, after lunch")
    expect(edited.locator(".badge")).to_have_text("low")
    page.reload()
    expect(titles(page)).to_have_text(["Call mum and dad", "Write report", "Buy milk"])

    # Delete, then Undo from the toast brings the task back with everything it had.
    report_id = task_id(task_item(page, "Write report"))
    page.get_by_role("button", name="Delete: Write report").click()
    expect(titles(page)).to_have_text(["Call mum and dad", "Buy milk"])
    toast = page.locator("#toasts .toast")
    expect(toast).to_have_count(1)
    expect(toast).to_contain_text("Deleted “Write report”.")
    expect_counts(page, open=1, today=0, overdue=0, done=1)
    settled(page)
    toast.get_by_role("button", name="Undo").click()
    restored = task_item(page, "Write report")
    expect(restored).to_have_count(1)
    expect(toast).to_have_count(0)
    assert task_id(restored) == report_id
    expect(restored.locator(".badge")).to_have_text("high")
    expect(restored.locator(".due")).to_have_text("Today")
    expect(restored.locator(".chip")).to_have_text(["#q3", "#work"])  # sorted by name
    expect_counts(page, open=2, today=1, overdue=0, done=1)
    page.reload()
    expect(task_list(page)).to_have_count(3)

    # Log out: the task list is behind the login page again.
    log_out(page)
    page.goto("/tasks")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Ftasks$"))


def test_the_toast_goes_away_by_itself(page: Page) -> None:
    sign_up(page, unique_email("toast"))
    add_task(page, "Short-lived")
    page.get_by_role("button", name="Delete: Short-lived").click()
    toast = page.locator("#toasts .toast")
    expect(toast).to_have_count(1)
    expect(page.locator("#toasts")).to_have_attribute("aria-live", "polite")
    expect(toast).to_have_count(0, timeout=12_000)  # data-timeout is 8 s
    expect(task_list(page)).to_have_count(0)


def test_a_second_user_sees_nothing_of_the_first(contexts: Contexts, server: Server) -> None:
    first = contexts.page()
    sign_up(first, unique_email("first"))
    secret = add_task(first, "Secret plan", priority="urgent", tags=["private"])
    secret_id = task_id(secret)

    second = contexts.page()  # another context: its own cookies
    sign_up(second, unique_email("second"))
    expect(second.get_by_role("heading", name="Nothing to do yet")).to_be_visible()
    expect(task_list(second)).to_have_count(0)
    expect(second.get_by_text("Secret plan")).to_have_count(0)
    expect(second.get_by_text("#private")).to_have_count(0)
    expect_counts(second, open=0, today=0, overdue=0, done=0)
    second.locator("#search").fill("Secret")
    expect(second).to_have_url(re.compile(r"q=Secret"))
    expect(task_list(second)).to_have_count(0)

    for path in (f"/tasks/{secret_id}/edit", f"/tasks/{secret_id}"):
        response = second.goto(path)
        assert response is not None
        assert response.status == 404, path
        expect(second.get_by_role("heading", name="Not found")).to_be_visible()
        expect(second.get_by_text("Secret plan")).to_have_count(0)

    # A forged htmx request for the first user's task from the second user's page: 404, and
    # the task is unchanged.
    second.goto("/tasks")
    status = second.evaluate(
        """async (id) => {
            const token = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"];
            const r = await fetch(`/tasks/${id}/toggle`, {method: "POST",
                headers: {"X-CSRF-Token": token, "HX-Request": "true"}});
            return r.status;
        }""",
        secret_id,
    )
    assert status == 404
    first.reload()
    expect(task_item(first, "Secret plan")).not_to_have_class(re.compile(r"\bdone\b"))
    expect(titles(first)).to_have_text(["Secret plan"])


def test_keyboard_shortcuts(page: Page) -> None:
    sign_up(page, unique_email("keys"))
    add_task(page, "Keyboard task")
    page.locator("#quick-title").blur()
    page.keyboard.press("n")
    expect(page.locator("#quick-title")).to_be_focused()
    expect(page.locator("#quick-title")).to_have_value("")  # the "n" is not typed into it

    page.locator("#quick-title").blur()
    page.keyboard.press("/")
    expect(page.locator("#search")).to_be_focused()
    expect(page.locator("#search")).to_have_value("")

    # While typing, the shortcuts are letters like any other.
    page.keyboard.type("n/")
    expect(page.locator("#search")).to_be_focused()
    expect(page.locator("#search")).to_have_value("n/")


def test_focus_stays_sensible_after_every_swap(page: Page) -> None:
    sign_up(page, unique_email("focus"))
    add_task(page, "Second")
    add_task(page, "First")
    first_id = task_id(task_item(page, "First"))

    # Opening an edit focuses its title; Esc closes it and focus returns to its Edit link.
    page.get_by_role("link", name="Edit: First").focus()
    page.keyboard.press("Enter")
    expect(page.locator(f"#edit-title-{first_id}")).to_be_focused()
    settled(page)
    page.keyboard.press("Escape")
    expect(page.locator(".task.editing")).to_have_count(0)
    expect(edit_link(page, first_id)).to_be_focused()
    settled(page)

    # Saving with Enter: the same.
    page.keyboard.press("Enter")
    expect(page.locator(f"#edit-title-{first_id}")).to_be_focused()
    settled(page)
    page.keyboard.type(" (edited)")
    page.keyboard.press("Enter")
    expect(titles(page)).to_have_text(["First (edited)", "Second"])
    expect(edit_link(page, first_id)).to_be_focused()
    settled(page)

    # Completing keeps focus on the check button.
    page.get_by_role("button", name="Complete: First (edited)").focus()
    page.keyboard.press("Enter")
    expect(check_button(page, first_id)).to_have_attribute("aria-pressed", "true")
    expect(check_button(page, first_id)).to_be_focused()
    settled(page)

    # Deleting moves focus to the neighbouring task; Undo puts it on the restored task.
    page.get_by_role("button", name="Delete: First (edited)").focus()
    page.keyboard.press("Enter")
    expect(titles(page)).to_have_text(["Second"])
    expect(page.get_by_role("button", name="Complete: Second")).to_be_focused()
    settled(page)
    # (The edit's own Undo toast may still be showing: this is the delete's.)
    deleted = page.locator("#toasts .toast", has_text="Deleted “First (edited)”")
    deleted.get_by_role("button", name="Undo").click()
    expect(titles(page)).to_have_text(["First (edited)", "Second"])
    expect(check_button(page, first_id)).to_be_focused()
    settled(page)

    # A filter link keeps focus after the list is swapped.
    filter_link(page, "Open").focus()
    page.keyboard.press("Enter")
    expect(titles(page)).to_have_text(["Second"])
    expect(filter_link(page, "Open")).to_be_focused()
    settled(page)

    # Deleting the last task in view leaves focus in quick add.
    page.get_by_role("button", name="Delete: Second").focus()
    page.keyboard.press("Enter")
    expect(task_list(page)).to_have_count(0)
    expect(page.locator("#quick-title")).to_be_focused()


def test_the_edit_page_without_the_list_saves_and_cancels_with_redirects(page: Page) -> None:
    """/tasks/<id>/edit opened on its own (a new tab, or no htmx yet): plain form posts."""
    sign_up(page, unique_email("editpage"))
    item_id = task_id(add_task(page, "Standalone"))
    page.goto(f"/tasks/{item_id}/edit")
    expect(page.get_by_role("heading", name="Edit task")).to_be_visible()
    settled(page)
    page.get_by_label("Title", exact=True).press("Escape")
    expect(page).to_have_url(re.compile(r"/tasks$"))
    page.goto(f"/tasks/{item_id}/edit")
    page.get_by_label("Title", exact=True).fill("Standalone, saved")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/tasks$"))
    expect(titles(page)).to_have_text(["Standalone, saved"])


def test_double_clicking_add_creates_one_task(page: Page) -> None:
    sign_up(page, unique_email("double"))
    page.locator("#quick-title").fill("Only once")
    page.get_by_role("button", name="Add", exact=True).dblclick()
    expect(task_item(page, "Only once")).to_have_count(1)
    page.wait_for_load_state("networkidle")
    expect(task_list(page)).to_have_count(1)
    page.reload()
    expect(task_list(page)).to_have_count(1)
    expect(titles(page)).to_have_text(["Only once"])


def test_a_task_due_yesterday_is_overdue(page: Page) -> None:
    sign_up(page, unique_email("late"))
    yesterday = (datetime.now(ZONE).date() - timedelta(days=1)).isoformat()
    late = add_task(page, "Pay the bill", due_date=yesterday)
    expect(late).to_have_class(re.compile(r"\boverdue\b"))
    expect(late.locator(".due")).to_have_text("Overdue · Yesterday")
    expect_counts(page, open=1, today=1, overdue=1, done=0)  # Today includes overdue
    filter_link(page, "Overdue").click()
    expect(titles(page)).to_have_text(["Pay the bill"])
