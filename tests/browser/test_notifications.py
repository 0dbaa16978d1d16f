"""The notification inbox in Chromium: the header bell counts a reminder live, the inbox lists
it (axe: no violations, light and dark, 1280 and 375 px), mark read; the service worker's push
handler shows a reminder with its Complete and Snooze buttons (DevTools protocol:
ServiceWorker.deliverPushMessage, since headless Chromium cannot subscribe to a real push
service); and the app is installable (Page.getInstallabilityErrors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, expect

from tests.browser.conftest import Contexts
from tests.browser.test_accessibility import run_axe
from tests.browser.test_reminders import remind_soon, wait_for_stream
from tests.browser.ui import add_task, sign_up, unique_email
from tests.server import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def shot(contexts: Contexts, page: Page, name: str) -> None:
    folder = contexts.request.config.rootpath / "test-artifacts" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_bell_counts_live_and_the_inbox_marks_read(contexts: Contexts, server: Server) -> None:
    page = contexts.page()
    email = unique_email("inbox")
    sign_up(page, email)
    add_task(page, "Water the plants")
    bell = page.locator("#bell")
    expect(bell).to_have_attribute("aria-label", "Notifications")
    wait_for_stream(page)
    remind_soon(server, email, "Water the plants", 2)
    expect(bell).to_have_attribute("aria-label", "Notifications: 1 unread", timeout=15_000)
    expect(bell.locator(".bell-count")).to_have_text("1")
    bell.click()
    expect(page).to_have_url(f"{server.base_url}/notifications")
    expect(page.locator(".note.unread")).to_have_count(1)
    for scheme in ("light", "dark"):
        for width, height in ((1280, 800), (375, 740)):
            page.emulate_media(color_scheme=scheme)
            page.set_viewport_size({"width": width, "height": height})
            violations = run_axe(page)
            assert violations == [], json.dumps(violations, indent=1)
            shot(contexts, page, f"inbox-{scheme}-{width}")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.get_by_role("button", name="Mark read: Water the plants").click()
    expect(page.locator(".note.unread")).to_have_count(0)
    expect(page.get_by_role("status")).to_have_text("Marked read.")
    expect(page.locator("#bell")).to_have_attribute("aria-label", "Notifications")


def test_installable_and_the_service_worker_shows_pushes(
    playwright: Playwright, server: Server, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # A persistent profile: Chromium refuses installs and push in incognito-like contexts.
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path="/usr/bin/chromium",
        headless=True,
        base_url=server.base_url,
        permissions=["notifications"],
        viewport={"width": 1280, "height": 800},
    )
    try:
        page = context.pages[0] if context.pages else context.new_page()
        sign_up(page, unique_email("install"))
        _installable_and_pushes(page, context, server)
    finally:
        context.close()


def _installable_and_pushes(page: Page, context: BrowserContext, server: Server) -> None:
    cdp = context.new_cdp_session(page)
    manifest = page.request.get("/manifest.webmanifest")
    assert manifest.headers["content-type"] == "application/manifest+json"
    # The page registered /sw.js, notifications being allowed (app.js).
    page.wait_for_function(
        "async () => !!(await navigator.serviceWorker.getRegistration('/'))", timeout=15_000
    )
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert errors == [], errors

    registrations: list[dict[str, str]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.extend(e["registrations"]),
    )
    cdp.send("ServiceWorker.enable")
    page.wait_for_timeout(500)
    [reg] = [r for r in registrations if r["scopeURL"] == f"{server.base_url}/"]
    page.evaluate(
        """() => { window.__pushes = [];
            navigator.serviceWorker.addEventListener(
                "message", e => window.__pushes.push(e.data)); }"""
    )
    payload = {"id": "n1", "title": "Water the plants", "body": "Due today", "token": "t"}
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": server.base_url,
            "registrationId": reg["registrationId"],
            "data": json.dumps(payload),
        },
    )
    page.wait_for_function("() => window.__pushes.length > 0", timeout=15_000)
    [told] = page.evaluate("window.__pushes")
    assert told == {
        "type": "doable-push",
        "id": "n1",
        "title": "Water the plants",
        "shown": True,
        "actions": ["Complete", "Snooze 1 h"],
    }
