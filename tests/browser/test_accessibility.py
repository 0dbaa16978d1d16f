"""axe-core on every page, light and dark, at 1280 px and 375 px; screenshots of each as artifacts.

A page passes when axe reports no `serious` or `critical` violation. Every finding, of any
impact, is written to test-artifacts/axe/<scheme>.json, and every state is photographed to
test-artifacts/screenshots/<scheme>-<width>-<page>.png.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ARTIFACTS, DESKTOP, PHONE, SCREENSHOTS, Contexts
from tests.browser.ui import (
    edit_link,
    filter_link,
    seed_demo_tasks,
    settled,
    sign_up,
    unique_email,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AXE_VERSION = "4.14.1"
AXE = Path(__file__).parent / "vendor" / "axe-core" / AXE_VERSION / "axe.min.js"
BLOCKING = {"serious", "critical"}


@cache
def axe_source() -> str:
    return AXE.read_text()


def run_axe(page: Page) -> list[dict[str, Any]]:
    """axe's violations for the page as it is now. The script is evaluated through the
    DevTools protocol, so the page's CSP (script-src 'self') is left as it is."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    violations: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => ({
                    target: n.target.join(" "), summary: n.failureSummary})),
            }));
        }"""
    )
    return violations


def visit_states(page: Page) -> list[tuple[str, Callable[[], None]]]:
    """Each page and state, in the order they can be reached; each callable gets there."""
    email = unique_email("axe")
    shared: dict[str, str] = {}

    def login() -> None:
        page.goto("/login")

    def login_error() -> None:
        page.get_by_label("Email").fill("nobody@example.com")
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_be_visible()

    def signup() -> None:
        page.goto("/signup")

    def signup_errors() -> None:
        page.get_by_label("Email").fill("not-an-email")
        page.get_by_role("button", name="Sign up").click()
        expect(page.locator(".field-error").first).to_be_visible()

    def tasks_empty() -> None:
        sign_up(page, email, name="Ada Lovelace")

    def tasks() -> None:
        shared["id"] = seed_demo_tasks(page)
        page.goto("/tasks")

    def quick_preview() -> None:
        page.locator("#quick-title").fill("Pay rent every month on the 1st at 9am #home !high x")
        expect(page.locator("#quick-preview mark")).to_have_count(4)
        settled(page)

    def tasks_filtered() -> None:
        filter_link(page, "Open").click()
        expect(page).to_have_url(re.compile(r"status=pending"))
        settled(page)
        page.get_by_role("navigation", name="Task filters").get_by_role(
            "link", name="#work 2"
        ).click()
        expect(page.locator("#task-list > li")).to_have_count(2)
        settled(page)

    def no_match() -> None:
        page.locator("#search").fill("nothing like this")
        expect(page.get_by_role("heading", name="No tasks match")).to_be_visible()
        settled(page)

    def edit_open() -> None:
        page.goto("/tasks")
        edit_link(page, shared["id"]).click()
        expect(page.locator(".task.editing")).to_have_count(1)
        settled(page)

    def undo_toast() -> None:
        page.goto("/tasks")
        page.get_by_role("button", name="Delete: Water the plants").click()
        expect(page.locator("#toasts .toast")).to_have_count(1)
        settled(page)

    def edit_page() -> None:
        page.goto(f"/tasks/{shared['id']}/edit")

    def account() -> None:
        page.goto("/account?saved=profile")

    def account_feed() -> None:
        page.goto("/account")
        page.get_by_label("Feed name").fill("Work")
        page.get_by_role("button", name="Create feed").click()
        expect(page.locator("#feed-url")).to_be_visible()

    def webhooks_new() -> None:
        page.goto("/account/webhooks")
        page.get_by_label("Address (http or https)").fill("https://hooks.example.com/in")
        page.get_by_role("button", name="Add webhook").click()
        expect(page.locator("#hook-secret")).to_be_visible()

    def webhook_deliveries() -> None:
        page.goto("/account/webhooks")
        row_id = page.locator("tr[id^=webhook-]").first.get_attribute("id")
        assert row_id is not None
        page.goto(f"/account/webhooks/{row_id.removeprefix('webhook-')}")
        expect(page.get_by_role("heading", name="Deliveries", exact=True)).to_be_visible()

    def not_found() -> None:
        response = page.goto(f"/tasks/{uuid.uuid4()}/edit")
        assert response is not None
        assert response.status == 404

    return [
        ("login", login),
        ("login-error", login_error),
        ("signup", signup),
        ("signup-errors", signup_errors),
        ("tasks-empty", tasks_empty),
        ("tasks", tasks),
        ("quick-preview", quick_preview),
        ("tasks-filtered", tasks_filtered),
        ("tasks-no-match", no_match),
        ("edit-open", edit_open),
        ("undo-toast", undo_toast),
        ("edit-page", edit_page),
        ("account", account),
        ("account-feed", account_feed),
        ("webhooks-new", webhooks_new),
        ("webhook-deliveries", webhook_deliveries),
        ("404", not_found),
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_has_no_serious_axe_violations(contexts: Contexts, scheme: str) -> None:
    page = contexts.page(color_scheme=scheme)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    findings: dict[str, list[dict[str, Any]]] = {}
    for name, reach in visit_states(page):
        page.set_viewport_size(DESKTOP)
        reach()
        for size in (DESKTOP, PHONE):
            page.set_viewport_size(size)
            # The toast fades in: photograph it once it has arrived.
            page.wait_for_timeout(250 if name == "undo-toast" else 0)
            key = f"{name}@{size['width']}"
            findings[key] = run_axe(page)
            shot = SCREENSHOTS / f"{scheme}-{size['width']}-{name}.png"
            page.screenshot(path=shot, full_page=True, caret="initial")
    (ARTIFACTS / "axe").mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "axe" / f"{scheme}.json").write_text(json.dumps(findings, indent=2) + "\n")
    blocking = {
        key: [f"{v['impact']} {v['id']}: {v['help']} {v['nodes']}" for v in found]
        for key, violations in findings.items()
        if (found := [v for v in violations if v["impact"] in BLOCKING])
    }
    assert blocking == {}


def test_axe_finds_a_planted_violation(page: Page) -> None:
    """The check can fail: axe flags an unlabelled input and low-contrast text."""
    page.goto("/login")
    page.evaluate(
        """() => {
            const input = document.createElement("input");
            document.querySelector("main").append(input);
            const p = document.createElement("p");
            p.textContent = "faint";
            p.style.color = "#eeeeee";
            document.querySelector("main").append(p);
        }"""
    )
    found = {v["id"]: v["impact"] for v in run_axe(page)}
    assert found.get("label") == "critical"
    assert found.get("color-contrast") == "serious"
