"""Issue 4's "Done when", walked as a new user would, in one go per screen width:

type "Water plants every 3 days at 8am #home" and see the parse preview; add the task and see it
due at the right local time; complete it and see it move to the next occurrence; get a reminder in
the open tab (a browser Notification at 1280 px, where notifications are allowed; the in-page toast
at 375 px, where they are not).

The browser runs in America/New_York (not the server's UTC, not the other tests' Europe/Paris), and
signup adopts that zone, so every time on screen must be New York wall-clock time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, Contexts
from tests.browser.test_reminders import RECORD_NOTIFICATIONS, remind_soon, wait_for_stream
from tests.browser.ui import PASSWORD, settled, sign_up, task_id, task_item, unique_email
from tests.server import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEXT = "Water plants every 3 days at 8am #home"
NEW_YORK = ZoneInfo("America/New_York")


def first_due(now: datetime) -> datetime:
    """docs/quick-add.md: today at 08:00 if that is still ahead in the zone, else 3 days later."""
    at_8 = now.replace(hour=8, minute=0, second=0, microsecond=0)
    return at_8 if now < at_8 else at_8 + timedelta(days=3)


def day_label(day: date, today: date) -> str:
    """How the task list names a day (web/views.py `_day_label`), for days from today on."""
    delta = (day - today).days
    if delta == 0:
        return "Today"
    if delta == 1:
        return "Tomorrow"
    if delta < 7:
        return f"{day:%a}"
    return f"{day:%-d %b %Y}" if day.year != today.year else f"{day:%-d %b}"


def api_as(server: Server, email: str) -> httpx.Client:
    """An API client signed in as the same user (the API takes Bearer tokens, not the cookie)."""
    client = httpx.Client(base_url=server.base_url, timeout=10)
    r = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return client


def shot(page: Page, name: str, width: int) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # caret="initial": hiding the caret leaves style="" on the inputs, which htmx copies onto
    # the fresh quick-add form an add swaps in, and the CSP (rightly) refuses.
    page.screenshot(path=Path(SCREENSHOTS) / f"done-when-{name}-{width}.png", caret="initial")


@pytest.mark.parametrize(
    ("viewport", "allowed"),
    [(DESKTOP, True), (PHONE, False)],
    ids=["1280-notification", "375-toast"],
)
def test_issue_4_done_when(
    contexts: Contexts, server: Server, viewport: dict[str, int], allowed: bool
) -> None:
    width = viewport["width"]
    # Not allowed means never asked ("default"): an empty permissions list would mean "denied".
    grant = {"permissions": ["notifications"]} if allowed else {}
    context = contexts.new(viewport=viewport, timezone_id=NEW_YORK.key, locale="en-US", **grant)
    context.add_init_script(RECORD_NOTIFICATIONS)
    page = contexts.page(context)

    # A new user signs up; the account adopts the browser's zone.
    email = unique_email("done-when")
    sign_up(page, email, name="Nora")
    page.goto("/account")
    expect(page.get_by_label("Time zone")).to_have_value(NEW_YORK.key)
    shot(page, "0-account", width)
    page.goto("/tasks")
    settled(page)
    api = api_as(server, email)
    assert api.get("/api/v1/me").json()["timezone"] == NEW_YORK.key

    # 1. Type the phrase and see the parse preview.
    box = page.locator("#quick-title")
    box.click()
    box.press_sequentially(TEXT, delay=15)
    preview = page.locator("#quick-preview")
    expect(preview.locator("mark.token")).to_have_text(["every 3 days", "at 8am", "#home"])
    expect(preview.locator("mark.token-recurrence")).to_have_text("every 3 days")
    expect(preview.locator("mark.token-time")).to_have_text("at 8am")
    expect(preview.locator("mark.token-tag")).to_have_text("#home")
    expect(preview.locator(".preview-title")).to_have_text("Water plants")
    expect(preview.locator(".preview-repeats")).to_have_text("every 3 days")
    typed_at = datetime.now(NEW_YORK)
    due = first_due(typed_at)
    expect(preview.locator(".preview-due")).to_have_text(
        f"{due:%a %-d %b %Y}, 08:00 ({NEW_YORK.key})"
    )
    shot(page, "1-preview", width)

    # 2. Add it and see it due at 08:00 New York time, tagged, repeating.
    page.get_by_role("button", name="Add", exact=True).click()
    item = task_item(page, "Water plants")
    expect(item).to_have_count(1)
    settled(page)
    today = datetime.now(NEW_YORK).date()
    expect(item.locator(".due")).to_have_text(f"{day_label(due.date(), today)} 08:00")
    expect(item.locator(".chip")).to_have_text(["#home"])
    expect(item.locator(".repeat")).to_have_text("every 3 days")
    expect(box).to_have_value("")
    expect(preview.locator("mark")).to_have_count(0)
    ident = task_id(item)
    stored = api.get(f"/api/v1/tasks/{ident}")
    assert stored.status_code == 200, stored.text
    body = stored.json()
    assert body["title"] == "Water plants"
    assert datetime.fromisoformat(body["due"]) == due.astimezone(UTC)
    shot(page, "2-added", width)

    # 3. Complete it: it stays open, due exactly 3 days later, and a completion is recorded.
    item.get_by_role("button", name="Complete: Water plants").click()
    next_due = due + timedelta(days=3)
    item = task_item(page, "Water plants")
    expect(item).to_have_count(1)
    expect(item).not_to_have_class("task done")
    expect(item.locator(".due")).to_have_text(f"{day_label(next_due.date(), today)} 08:00")
    expect(item.locator("button.check")).to_have_attribute("aria-pressed", "false")
    expect(item.locator(".repeat")).to_have_text("every 3 days")
    settled(page)
    after = api.get(f"/api/v1/tasks/{ident}").json()
    assert after["completed"] is False
    assert datetime.fromisoformat(after["due"]) == next_due.astimezone(UTC)
    history = api.get(f"/api/v1/tasks/{ident}/completions").json()["items"]
    assert len(history) == 1
    assert datetime.fromisoformat(history[0]["occurrence"]) == due.astimezone(UTC)
    completed_at = datetime.fromisoformat(history[0]["completed_at"])
    assert abs(datetime.now(UTC) - completed_at) < timedelta(minutes=1)
    # A fresh load agrees (the server renders the same thing).
    page.reload()
    item = task_item(page, "Water plants")
    expect(item.locator(".due")).to_have_text(f"{day_label(next_due.date(), today)} 08:00")
    shot(page, "3-completed", width)

    # 4. A reminder a few seconds ahead reaches this open tab.
    wait_for_stream(page)
    if allowed:
        expect(page.locator("#notify-allow")).to_be_hidden()
    else:
        expect(page.locator("#notify-allow")).to_be_visible()
    remind_soon(server, email, "Water plants", 2)
    body = f"Due {next_due:%a} {next_due.day} {next_due:%b}, 08:00"  # New York time
    if allowed:
        page.wait_for_function("() => window.__notes.length > 0", timeout=15_000)
        assert page.evaluate("window.__notes") == [{"title": "Water plants", "body": body}]
        expect(page.locator(".toast.reminder")).to_have_count(0)
    else:
        toast = page.locator(".toast.reminder")
        expect(toast).to_have_text(f"Water plants · {body}", timeout=15_000)
        assert page.evaluate("window.__notes") == []
    shot(page, "4-reminder", width)


def test_the_same_phrase_with_a_date_keeps_8am_across_the_dst_change(
    contexts: Contexts, server: Server
) -> None:
    """Deterministic twin of the walk: an explicit first date, two days before New York's clocks
    go forward (Sunday 10 March 2030), so the next occurrence is 08:00 EDT, not 09:00."""
    context = contexts.new(timezone_id=NEW_YORK.key, locale="en-US")
    page = contexts.page(context)
    email = unique_email("done-when-dst")
    sign_up(page, email)
    settled(page)
    page.locator("#quick-title").fill("Water plants every 3 days 2030-03-08 at 8am #home")
    preview = page.locator("#quick-preview")
    expect(preview.locator("mark.token")).to_have_text(
        ["every 3 days", "2030-03-08", "at 8am", "#home"]
    )
    expect(preview.locator("mark.token-date")).to_have_text("2030-03-08")
    expect(preview.locator(".preview-due")).to_have_text(f"Fri 8 Mar 2030, 08:00 ({NEW_YORK.key})")
    page.get_by_role("button", name="Add", exact=True).click()
    item = task_item(page, "Water plants")
    expect(item.locator(".due")).to_have_text("8 Mar 2030 08:00")
    expect(item.locator(".repeat")).to_have_text("every 3 days")
    settled(page)
    ident = task_id(item)
    api = api_as(server, email)
    assert api.get(f"/api/v1/tasks/{ident}").json()["due"] == "2030-03-08T13:00:00Z"  # EST

    item.get_by_role("button", name="Complete: Water plants").click()
    expect(item.locator(".due")).to_have_text("11 Mar 2030 08:00")
    expect(item).to_have_class("task")
    settled(page)
    after = api.get(f"/api/v1/tasks/{ident}").json()
    assert (after["completed"], after["due"]) == (False, "2030-03-11T12:00:00Z")  # EDT
    history = api.get(f"/api/v1/tasks/{ident}/completions").json()["items"]
    assert [h["occurrence"] for h in history] == ["2030-03-08T13:00:00Z"]
    shot(page, "dst-completed", DESKTOP["width"])


def test_a_second_open_tab_follows_the_completion(contexts: Contexts, server: Server) -> None:
    """The event stream carries task changes "so open tabs stay in sync": the other tab's list
    and counts follow a change made in this one, without a reload."""
    context = contexts.new(timezone_id=NEW_YORK.key, locale="en-US")
    here = contexts.page(context)
    sign_up(here, unique_email("done-when-tabs"))
    settled(here)
    here.locator("#quick-title").fill("Water plants every 3 days 2030-03-08 at 8am #home")
    here.get_by_role("button", name="Add", exact=True).click()
    mine = task_item(here, "Water plants")
    expect(mine.locator(".due")).to_have_text("8 Mar 2030 08:00")
    settled(here)

    there = contexts.page(context)
    there.goto("/tasks")
    wait_for_stream(there)
    settled(there)
    expect(task_item(there, "Water plants").locator(".due")).to_have_text("8 Mar 2030 08:00")

    mine.get_by_role("button", name="Complete: Water plants").click()
    expect(mine.locator(".due")).to_have_text("11 Mar 2030 08:00")
    expect(task_item(there, "Water plants").locator(".due")).to_have_text("11 Mar 2030 08:00")

    here.locator("#quick-title").fill("Call the plumber tomorrow")
    here.get_by_role("button", name="Add", exact=True).click()
    expect(task_item(there, "Call the plumber")).to_have_count(1)
    expect(there.locator("#counts div").filter(has_text="Open").locator("dd")).to_have_text("2")
    shot(there, "other-tab", DESKTOP["width"])
