"""Reminders in the list's inline edit form (issue 18): open Edit on a task with a due date,
add a reminder, see it listed, delete it, all without leaving the list, at 1280 and 375 px,
light and dark, with axe finding nothing on the open form. One page, one sign-up; the
widths and schemes are switched on the same page, so the test stays cheap."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, Contexts
from tests.browser.test_accessibility import axe_source
from tests.browser.ui import ZONE, add_task, edit_link, settled, sign_up, task_id, unique_email

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def axe_on(page: Page, selector: str) -> list[dict[str, Any]]:
    """Every axe violation, of any impact, inside `selector`."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    found: list[dict[str, Any]] = page.evaluate(
        """async (selector) => {
            const result = await axe.run(selector, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))}));
        }""",
        selector,
    )
    return found


def test_add_and_delete_reminders_in_the_inline_edit_form(contexts: Contexts) -> None:
    page = contexts.page()
    sign_up(page, unique_email("inline-remind"))
    # The header's "Allow notifications" button is told apart from the inbox's bell.
    expect(page.locator("#notify-allow")).to_be_visible()
    expect(page.locator("#notify-allow svg.icon-bell-plus")).to_have_count(1)
    expect(page.locator("#bell svg")).to_have_count(1)
    expect(page.locator("#bell .icon-bell-plus")).to_have_count(0)

    tomorrow = datetime.now(ZONE) + timedelta(days=1)
    item = add_task(page, "Dentist", due_date=tomorrow.date().isoformat(), due_time="15:00")
    tid = task_id(item)
    edit_link(page, tid).click()
    form = page.locator(f"#task-{tid}.editing")
    expect(form.locator("input[name=title]")).to_be_focused()
    section = form.locator(f"#reminders-{tid}")
    expect(section.get_by_text("No reminders yet.")).to_be_visible()
    url = page.url
    day = f"{tomorrow:%a %-d %b}"

    findings: dict[str, list[dict[str, Any]]] = {}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for size in (DESKTOP, PHONE):
            page.set_viewport_size(size)
            key = f"{scheme}@{size['width']}"
            settled(page)
            form.get_by_label("Before the due time").select_option("PT1H")
            form.get_by_role("button", name="Add reminder").first.click()
            row = section.locator(".reminder-list li")
            expect(row).to_have_count(1)
            expect(row).to_contain_text("1 hour before the due time")
            expect(row).to_contain_text(f"fires at 14:00 on {day}")
            expect(row).to_be_focused()  # the new reminder
            settled(page)
            findings[key] = axe_on(page, f"#task-{tid}")
            page.screenshot(
                path=SCREENSHOTS / f"inline-reminders-{scheme}-{size['width']}.png",
                full_page=True,
                caret="initial",
            )
            form.get_by_role("button", name="Delete reminder: 1 hour before the due time").click()
            expect(section.get_by_text("No reminders yet.")).to_be_visible()
            expect(form.get_by_label("Before the due time")).to_be_focused()  # the add control
    assert page.url == url  # never left the list
    assert {k: v for k, v in findings.items() if v} == {}, json.dumps(findings, indent=2)

    # A refused time says why, in place, and puts focus on the field.
    page.set_viewport_size(DESKTOP)
    settled(page)
    form.get_by_label("At a date and time").fill("2020-01-01T10:00")
    form.get_by_role("button", name="Add reminder").nth(1).click()
    expect(section.get_by_role("alert")).to_contain_text("This time is in the past")
    expect(form.get_by_label("At a date and time")).to_be_focused()

    # Save still works after all that: the row comes back, edited.
    settled(page)
    form.get_by_label("Title").fill("Dentist at noon")
    form.get_by_role("button", name="Save").click()
    row = page.locator(f"#task-{tid}")
    expect(row).not_to_have_class("task editing")
    expect(row.locator("p.title")).to_have_text("Dentist at noon")
    assert page.url == url

    # Esc cancels the edit from the reminders section too, as from the form's fields.
    settled(page)
    edit_link(page, tid).click()
    expect(form.locator("input[name=title]")).to_be_focused()
    settled(page)
    form.get_by_label("At a date and time").focus()
    page.keyboard.press("Escape")
    expect(page.locator(f"#task-{tid}.editing")).to_have_count(0)
    expect(row.locator("p.title")).to_have_text("Dentist at noon")
