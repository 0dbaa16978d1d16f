"""A reminder reaches an open tab: as a browser Notification when the user allowed them, as an
in-page toast otherwise; and reminders can be added on the edit page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Contexts
from tests.browser.ui import PASSWORD, add_task, sign_up, unique_email
from tests.server import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Records every Notification the page creates (Chromium shows none when headless).
RECORD_NOTIFICATIONS = """
(() => {
  window.__notes = [];
  const Real = window.Notification;
  if (!Real) return;
  function Recorded(title, options) {
    window.__notes.push({ title: title, body: (options && options.body) || "" });
    return new Real(title, options);
  }
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  Recorded.requestPermission = Real.requestPermission.bind(Real);
  Recorded.prototype = Real.prototype;
  window.Notification = Recorded;
})();
"""


def remind_soon(server: Server, email: str, title: str, seconds: float) -> None:
    """Through the API, as the same user: a reminder on the task `title`, `seconds` away."""
    with httpx.Client(base_url=server.base_url, timeout=10) as c:
        token = c.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()[
            "access_token"
        ]
        headers = {"Authorization": f"Bearer {token}"}
        tasks = c.get("/api/v1/tasks", params={"q": title}, headers=headers).json()["items"]
        at = (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()
        r = c.post(f"/api/v1/tasks/{tasks[0]['id']}/reminders", json={"at": at}, headers=headers)
        assert r.status_code == 201, r.text


def wait_for_stream(page: Page) -> None:
    """The tab's event stream is open (app.js opened it on load)."""
    expect(page.locator("body")).to_have_attribute("data-live", "on")


def test_browser_notification_when_allowed(contexts: Contexts, server: Server) -> None:
    context = contexts.new(permissions=["notifications"])
    context.add_init_script(RECORD_NOTIFICATIONS)
    page = contexts.page(context)
    email = unique_email("notify")
    sign_up(page, email)
    add_task(page, "Water the plants")
    expect(page.locator("#notify-allow")).to_be_hidden()  # already granted
    wait_for_stream(page)
    remind_soon(server, email, "Water the plants", 2)
    page.wait_for_function("() => window.__notes.length > 0", timeout=15_000)
    notes = page.evaluate("window.__notes")
    assert len(notes) == 1
    assert notes[0]["title"] == "Water the plants"
    assert notes[0]["body"] == "Reminder"
    expect(page.locator(".toast.reminder")).to_have_count(0)
    page.screenshot(
        path=str(
            contexts.request.config.rootpath
            / "test-artifacts"
            / "screenshots"
            / "reminder-notified.png"
        )
    )


def test_toast_when_not_allowed(contexts: Contexts, server: Server) -> None:
    page = contexts.page()
    email = unique_email("toast")
    sign_up(page, email)
    add_task(page, "Call the plumber")
    expect(page.locator("#notify-allow")).to_be_visible()
    wait_for_stream(page)
    remind_soon(server, email, "Call the plumber", 2)
    toast = page.locator(".toast.reminder")
    expect(toast).to_have_text("Call the plumber · Reminder", timeout=15_000)


def test_reminders_on_the_edit_page(contexts: Contexts) -> None:
    page = contexts.page()
    sign_up(page, unique_email("edit"))
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    item = add_task(page, "Dentist", due_date=tomorrow, due_time="15:00")
    task_id = (item.get_attribute("id") or "").removeprefix("task-")
    page.goto(f"/tasks/{task_id}/edit")
    expect(page.get_by_text("No reminders yet.")).to_be_visible()
    page.get_by_label("Before the due time").select_option("PT1H")
    page.get_by_role("button", name="Add reminder").first.click()
    expect(page).to_have_url(re.compile(rf"/tasks/{task_id}/edit$"))
    row = page.locator(".reminder-list li")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("1 hour before the due time")
    expect(row).to_contain_text("fires at 14:00 on ")
    # A time in the past is refused with a clear message.
    page.get_by_label("At a date and time").fill("2020-01-01T10:00")
    page.get_by_role("button", name="Add reminder").nth(1).click()
    expect(page.get_by_role("alert")).to_contain_text("This time is in the past")
    page.get_by_role("button", name="Delete reminder: 1 hour before the due time").click()
    expect(page.get_by_text("No reminders yet.")).to_be_visible()
