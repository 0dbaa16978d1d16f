"""The task shortcuts: j/k move through the tasks, x completes, e/d/p open the edit form on
the right field, ? lists the shortcuts (and axe finds nothing wrong with that list)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_accessibility import run_axe
from tests.browser.ui import add_task, settled, sign_up, task_item, unique_email

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def focused_task(page: Page) -> str:
    title: str = page.evaluate(
        "document.activeElement.closest('li.task')?.querySelector('p.title')?.textContent ?? ''"
    )
    return title


def test_keys_move_through_tasks_and_act_on_the_focused_one(page: Page) -> None:
    sign_up(page, unique_email("keys"))
    for title in ("first", "second", "third"):
        add_task(page, title)
    page.locator("main").click(position={"x": 1, "y": 1})  # out of the quick-add box
    page.keyboard.press("j")
    top = focused_task(page)
    page.keyboard.press("j")
    second = focused_task(page)
    assert top and second and top != second
    page.keyboard.press("k")
    assert focused_task(page) == top
    page.keyboard.press("j")
    page.keyboard.press("x")
    item = task_item(page, second)
    expect(item.locator("button.check")).to_have_attribute("aria-pressed", "true")
    settled(page)

    # d opens the edit form of the focused task with focus on the due date.
    focus = task_item(page, top)
    focus.evaluate("li => { li.tabIndex = -1; li.focus(); }")
    page.keyboard.press("d")
    expect(page.locator("li.task.editing input[name=due_date]")).to_be_focused()
    page.keyboard.press("Escape")
    settled(page)

    # ? lists the shortcuts in a modal dialog; Esc closes it.
    page.locator("main").click(position={"x": 1, "y": 1})
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Complete or reopen the task")
    assert run_axe(page) == []
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_a_skip_link_jumps_to_quick_add(page: Page) -> None:
    sign_up(page, unique_email("skip"))
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    link = page.get_by_role("link", name="Skip to quick add")
    expect(link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#quick-title")).to_be_focused()
