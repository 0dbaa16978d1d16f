"""The installable app offline, in Chromium: the last list seen reads offline (from the JSON
the page saved, never the no-store page), a quick add made offline is queued and added once
when the browser is back online (a retried send too), a queued add whose session expired
waits for its own user's next sign-in, and sign-out forgets the saved lists. Installability
is checked through the DevTools protocol (Page.getInstallabilityErrors).

One persistent profile for the whole story: Chromium reports an off-the-record context (a
plain Playwright context) as not installable."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, expect
from playwright.sync_api import Error as PlaywrightError

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, SCREENSHOTS, PageWatch
from tests.browser.test_accessibility import run_axe
from tests.browser.ui import (
    PASSWORD,
    ZONE,
    add_task,
    log_in,
    log_out,
    sign_up,
    task_item,
    unique_email,
)
from tests.server import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Reading the browser's offline storage from a page (same origin, any page).
QUEUE = """() => new Promise((resolve, reject) => {
    const open = indexedDB.open("doable-offline", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("queue", { keyPath: "key" });
    open.onsuccess = () => {
        const all = open.result.transaction("queue").objectStore("queue").getAll();
        all.onsuccess = () => { open.result.close(); resolve(all.result); };
    };
    open.onerror = () => reject(open.error);
})"""
SAVED_TITLES = """async (at) => {
    const r = await caches.match("/offline/data/list?at=" + encodeURIComponent(at),
                                 { cacheName: "doable-data" });
    if (!r) return null;
    const list = await r.json();
    return list.groups.flatMap((g) => g.rows.map((row) => row.title));
}"""
# Offline, Chromium logs the network errors of the page's event stream; they are expected.
OFFLINE_NOISE = re.compile(r"net::ERR_INTERNET_DISCONNECTED")


@pytest.fixture
def profile(
    playwright: Playwright, server: Server, tmp_path: Path
) -> Iterator[tuple[BrowserContext, Page, PageWatch]]:
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=str(CHROMIUM),
        args=CHROMIUM_ARGS,
        headless=True,
        base_url=server.base_url,
        viewport=DESKTOP,
        timezone_id=ZONE.key,
        locale="en-GB",
    )
    context.set_default_timeout(10_000)
    page = context.pages[0] if context.pages else context.new_page()
    watch = PageWatch()
    watch.attach(page)
    try:
        yield context, page, watch
    finally:
        context.close()
    unexpected = [e for e in watch.errors if not OFFLINE_NOISE.search(e)]
    assert unexpected + watch.dialogs == [], "the page reported errors or opened dialogs"


def api_titles(server: Server, email: str) -> list[str]:
    """The user's task titles, as the API has them."""
    with httpx.Client(base_url=server.base_url, timeout=10) as api:
        r = api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        tasks = api.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
        assert tasks.status_code == 200, tasks.text
        return sorted(t["title"] for t in tasks.json()["items"])


def wait_saved(page: Page, at: str, titles: list[str]) -> None:
    """Waits until the list saved for `at` holds these titles (saves are debounced)."""
    deadline = time.monotonic() + 10
    while (saved := page.evaluate(SAVED_TITLES, at)) != titles:
        assert time.monotonic() < deadline, saved
        page.wait_for_timeout(100)


def rounds(page: Page) -> int:
    """How many rounds of sending the queue this page has finished."""
    return int(page.evaluate("document.body.dataset.offlineRounds || '0'"))


def queue(page: Page) -> list[dict[str, Any]]:
    """The queued adds, read from IndexedDB (the origin's, whatever page is showing). A page
    coming back online may reload itself (offline.js) as this reads: read again once loaded."""
    for attempt in range(3):
        try:
            items: list[dict[str, Any]] = page.evaluate(QUEUE)
            return items
        except PlaywrightError as error:
            if "context was destroyed" not in str(error) or attempt == 2:
                raise
            page.wait_for_load_state()
    raise AssertionError("unreachable")


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"offline-{name}.png", full_page=True, caret="initial")


def test_read_offline_queue_adds_and_send_them_once(
    profile: tuple[BrowserContext, Page, PageWatch], server: Server
) -> None:
    context, page, _ = profile
    email = unique_email("offline")
    sign_up(page, email)
    add_task(page, "Water the plants")
    assert page.evaluate("navigator.serviceWorker.ready.then((r) => !!r.active)")
    page.wait_for_function("() => !!navigator.serviceWorker.controller")
    wait_saved(page, "/tasks", ["Water the plants"])

    cdp = context.new_cdp_session(page)
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert errors == [], errors

    # Offline: the list as last seen, from the saved JSON.
    context.set_offline(True)
    page.reload()
    expect(page.locator("body[data-offline-ready]")).to_have_count(1)
    expect(page.get_by_role("heading", level=1)).to_have_text("Tasks")
    expect(page.locator("#offline-list li.task p.title")).to_have_text(["Water the plants"])
    expect(page.locator("#offline-note")).to_contain_text("as you last saw it")
    for scheme, width in (("light", 1280), ("light", 375), ("dark", 375), ("dark", 1280)):
        page.emulate_media(color_scheme=scheme)
        page.set_viewport_size({"width": width, "height": 800})
        violations = run_axe(page)
        assert violations == [], json.dumps(violations, indent=1)
        shot(page, f"{scheme}-{width}")
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(DESKTOP)

    # The caches hold the shell and the lists' JSON: no page but the offline one.
    stored = page.evaluate(
        """async () => {
            const out = {};
            for (const name of await caches.keys()) {
                const keys = await (await caches.open(name)).keys();
                out[name.replace(/-[0-9a-f]{12}$/, "")] = keys.map((k) => new URL(k.url).pathname);
            }
            return out;
        }"""
    )
    assert stored == {
        "doable-shell": [
            "/offline",
            "/static/app.css",
            "/static/app.js",
            "/static/offline.js",
            "/static/icon.svg",
            "/static/icon-192.png",
            "/static/vendor/htmx/htmx.min.js",
        ],
        "doable-data": ["/offline/data/who", "/offline/data/list"],
    }, stored

    # A quick add, queued.
    page.locator("#quick-title").fill("Buy bread")
    page.keyboard.press("Enter")
    expect(page.locator("#queued-list li p.title")).to_have_text(["Buy bread"])
    [queued] = queue(page)
    assert (queued["text"], queued["project_id"]) == ("Buy bread", None)
    assert api_titles(server, email) == ["Water the plants"]

    # Back online: the page reloads, sends the queue, and shows the task; once on the server.
    context.set_offline(False)
    expect(task_item(page, "Buy bread")).to_have_count(1, timeout=15_000)
    expect(page.locator("body[data-offline-sent='1']")).to_have_count(1)
    assert queue(page) == []
    assert api_titles(server, email) == ["Buy bread", "Water the plants"]

    # A send retried (its answer lost on the way back) reuses the key: still one task.
    page.evaluate(
        """(item) => new Promise((resolve) => {
            const open = indexedDB.open("doable-offline", 1);
            open.onsuccess = () => {
                const tx = open.result.transaction("queue", "readwrite");
                tx.objectStore("queue").put(item);
                tx.oncomplete = () => { open.result.close(); resolve(); };
            };
        })""",
        queued,
    )
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("body[data-offline-sent='2']")).to_have_count(1)
    assert queue(page) == []
    assert api_titles(server, email) == ["Buy bread", "Water the plants"]

    # Sign-out forgets the lists; the shell (no user data) stays.
    wait_saved(page, "/tasks", ["Buy bread", "Water the plants"])
    log_out(page)
    names = page.evaluate("caches.keys()")
    assert len(names) == 1 and names[0].startswith("doable-shell-"), names
    assert queue(page) == []
    # Offline now, nothing of the user's is shown.
    context.set_offline(True)
    page.goto("/tasks")
    expect(page.locator("body[data-offline-ready]")).to_have_count(1)
    expect(page.locator("#offline-note")).to_have_text(
        "You are offline, and no lists are saved in this browser."
    )
    expect(page.locator("#offline-add")).to_be_hidden()
    expect(page.locator("li.task")).to_have_count(0)
    # Back online, the offline page finds the server and loads the real page (the login).
    context.set_offline(False)
    expect(page).to_have_url(re.compile(r"/login\?next=%2Ftasks$"), timeout=15_000)


def test_an_expired_sessions_add_waits_for_its_users_next_sign_in(
    profile: tuple[BrowserContext, Page, PageWatch], server: Server
) -> None:
    context, page, _ = profile
    email = unique_email("expired")
    sign_up(page, email)
    page.wait_for_function("() => document.body.dataset.offlineRounds === '1'")
    done = rounds(page)

    # Offline on a signed-in page: the quick-add box queues instead of posting.
    context.set_offline(True)
    page.locator("#quick-title").fill("Call the bank")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Saved offline")).to_have_count(1)
    assert [item["text"] for item in queue(page)] == ["Call the bank"]
    expect(page.locator("#quick-title")).to_have_value("")

    # The session expires meanwhile; back online, the send meets the login redirect.
    context.clear_cookies(name="doable_session")
    with page.expect_response("**/offline/tasks") as sent:
        context.set_offline(False)
    assert sent.value.status == 303  # to the login page: kept for the next sign-in
    page.wait_for_function(f"() => document.body.dataset.offlineRounds === '{done + 1}'")
    assert [item["text"] for item in queue(page)] == ["Call the bank"]
    assert api_titles(server, email) == []

    # Another user signs in here: their pages leave it queued.
    other = unique_email("other")
    sign_up(page, other)
    page.wait_for_function("() => document.body.dataset.offlineRounds === '1'")
    assert [item["text"] for item in queue(page)] == ["Call the bank"]
    assert api_titles(server, other) == []
    log_out(page)

    # Its own user signs in again: sent, once.
    log_in(page, email)
    expect(task_item(page, "Call the bank")).to_have_count(1)
    expect(page.locator("body[data-offline-sent='1']")).to_have_count(1)
    assert queue(page) == []
    assert api_titles(server, email) == ["Call the bank"]
