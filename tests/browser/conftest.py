"""Fixtures for the browser tests: Chromium, a real `doable serve`, and pages that watch for errors.

Everything here is synchronous on purpose. The project's pytest config runs async tests on a
session-wide asyncio loop, and Playwright's sync API refuses to start inside a running loop, so
no fixture here may depend on an async fixture.

When /usr/bin/chromium is missing, every test here is skipped with a reason, except in CI
(`CI=true`), where a missing browser is a failure. tests/browser/results.py writes the outcome of
the browser tests to `test-artifacts/browser-tests.json`; `.ci/run` reads it to fail a CI run in
which the browser tests did not actually run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    sync_playwright,
)

from tests.browser.ui import ZONE
from tests.conftest import IN_CI
from tests.server import PROJECT_ROOT, Server, server_env

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
FAILURES = ARTIFACTS / "browser-failures"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
GENEROUS_LIMITS = {
    "AUTH_IP_RATE_LIMIT": "100000/minute",
    "AUTH_ACCOUNT_RATE_LIMIT": "100000/minute",
}
# Console errors that are not the page's fault: Chromium logs every 4xx answer (a 404 page,
# a 422 form) as a failed load, and refuses `autofocus` inside a cross-origin iframe.
EXPECTED_CONSOLE = re.compile(
    r"^(Failed to load resource: the server responded with a status of"
    r"|Blocked autofocusing on a <\w+> element in a cross-origin subframe\.)"
)


# Chromium present, or skip (fail in CI)


@pytest.fixture(scope="session", autouse=True)
def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = (
        f"{CHROMIUM} is missing: the browser tests need Debian's Chromium "
        "(apt-get install chromium)"
    )
    if IN_CI:
        pytest.fail(f"{reason}; CI=true, so a missing browser is a failure", pytrace=False)
    pytest.skip(reason)


_call_failed = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_call_failed] = report.failed
    return report


# The server and the browser


@contextmanager
def running_server(
    tmp_path_factory: pytest.TempPathFactory, name: str, **settings: str
) -> Iterator[Server]:
    """A `doable serve` on SQLite in its own temporary folder, with cheap hashing."""
    base = tmp_path_factory.mktemp(name)
    home = base / "home"
    home.mkdir()
    env = server_env(base / "data", home, **GENEROUS_LIMITS, **settings)
    with Server(env, logs_dir=base, name=name) as server:
        yield server


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory, "browser-server") as srv:
        yield srv


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@dataclass
class PageWatch:
    """What a page said that a test did not ask for: console errors, uncaught exceptions,
    dialogs (alert, confirm, prompt)."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> Page:
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        return page

    def _on_console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")
        if message.type in {"error", "warning"} and not EXPECTED_CONSOLE.match(message.text):
            self.errors.append(f"console {message.type}: {message.text}")


class Contexts:
    """Browser contexts for one test, each with its own cookies, closed after the test.

    Every page made through `page()` is watched; at the end of the test, any console error,
    uncaught exception or dialog fails it.
    """

    def __init__(self, browser: Browser, base_url: str, request: pytest.FixtureRequest) -> None:
        self.browser = browser
        self.base_url = base_url
        self.request = request
        self.opened: list[BrowserContext] = []
        self.pages: list[tuple[Page, PageWatch]] = []

    def new(self, **options: Any) -> BrowserContext:
        options.setdefault("base_url", self.base_url)
        options.setdefault("viewport", DESKTOP)
        options.setdefault("timezone_id", ZONE.key)  # signup adopts the browser's zone
        options.setdefault("locale", "en-GB")
        context = self.browser.new_context(**options)
        context.set_default_timeout(10_000)
        self.opened.append(context)
        return context

    def page(self, context: BrowserContext | None = None, **options: Any) -> Page:
        page = (context or self.new(**options)).new_page()
        watch = PageWatch()
        watch.attach(page)
        self.pages.append((page, watch))
        return page

    def watch(self, page: Page) -> PageWatch:
        return next(w for p, w in self.pages if p is page)

    def close(self) -> None:
        failed = self.request.node.stash.get(_call_failed, False)
        if failed:
            FAILURES.mkdir(parents=True, exist_ok=True)
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.request.node.name)
            for index, (page, _) in enumerate(self.pages):
                if not page.is_closed():
                    page.screenshot(
                        path=FAILURES / f"{stem}-{index}.png", full_page=True, caret="initial"
                    )
        for context in self.opened:
            context.close()


@pytest.fixture
def contexts(
    browser: Browser, server: Server, request: pytest.FixtureRequest
) -> Iterator[Contexts]:
    made = Contexts(browser, server.base_url, request)
    yield made
    problems = {
        index: watch.errors + watch.dialogs
        for index, (_, watch) in enumerate(made.pages)
        if watch.errors or watch.dialogs
    }
    made.close()
    assert problems == {}, "pages reported errors or opened dialogs"


@pytest.fixture
def page(contexts: Contexts) -> Page:
    """A fresh context (no cookies) at 1280 x 800, and one page in it."""
    return contexts.page()
