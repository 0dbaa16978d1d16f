"""Undo of a move in Chromium: the toast offers Undo for 8 seconds, and pressing it puts the
task back where it was; the Trash and Activity pages; axe finds nothing on any of it.
Screenshots go to test-artifacts/screenshots/undo-*.png."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS, Contexts
from tests.browser.test_organise import (
    check_axe,
    create_project,
    expect_outline,
    move_by_keyboard,
    quick_add,
)
from tests.browser.ui import settled, sign_up, unique_email

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_undo_a_move_from_its_toast(contexts: Contexts) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = contexts.page()
    sign_up(page, unique_email("undo"), name="Ada")
    project = create_project(page, "Garden")
    quick_add(page, "Sow carrots")
    quick_add(page, "Buy seeds")
    expect_outline(page, ["1:Sow carrots", "1:Buy seeds"])

    move_by_keyboard(page, "Buy seeds", "Move up")
    expect_outline(page, ["1:Buy seeds", "1:Sow carrots"])
    toast = page.locator("#toasts .toast", has_text="Moved “Buy seeds” up.")
    expect(toast).to_be_visible()
    settled(page)  # the move's own reload of the lists is done (a person is not faster)
    with page.expect_response("**/undo") as answer:
        toast.get_by_role("button", name="Undo").click()
    assert answer.value.status == 200, answer.value.text()
    expect_outline(page, ["1:Sow carrots", "1:Buy seeds"])
    expect(page.locator("#announce")).to_have_text("Moved “Buy seeds” back.")

    # With a toast showing, and on the Trash and Activity pages: nothing for axe.
    move_by_keyboard(page, "Buy seeds", "Move up")
    expect(page.locator("#toasts .toast").last).to_be_visible()
    axe = check_axe(page, "undo-toast", "light")
    settled(page)
    page.goto(f"{page.url.split('/projects')[0]}/projects/{project}/activity")
    expect(page.get_by_role("heading", level=1)).to_have_text("Activity of Garden")
    expect(page.locator("ol.activity li").first).to_contain_text("Ada moved")
    axe |= check_axe(page, "activity", "light")
    page.goto(f"{page.url.split('/projects')[0]}/trash")
    expect(page.get_by_role("heading", level=1)).to_have_text("Trash")
    axe |= check_axe(page, "trash", "light")
    assert axe == {}
