"""Regenerate the README's screenshots (docs/screenshots/*.png) from a real `doable serve`.

    uv run python scripts/screenshots.py

Starts the app on SQLite in a temporary folder, signs up a demo user, adds a few tasks, a project
and reminders through the web app (two reminders fire, so the notification inbox has something to
show), and photographs the pages in Debian's Chromium (/usr/bin/chromium). When `pngquant` is on
the PATH (apt-get install pngquant), the pictures are squeezed to 256 colours, which keeps them
about a third of the size; without it they stay as Chromium wrote them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.server and tests.browser.ui

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright  # noqa: E402
from tests.browser.test_reminders import remind_soon  # noqa: E402
from tests.browser.ui import (  # noqa: E402
    ZONE,
    log_in,
    seed_demo_project,
    seed_demo_tasks,
    sign_up,
    task_id,
    task_item,
)
from tests.server import Server, server_env  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
OUT = ROOT / "docs" / "screenshots"
EMAIL = "ada@example.com"
MAX_BYTES = 250_000


def new_context(
    browser: Browser, base_url: str, width: int, height: int, scheme: Literal["light", "dark"]
) -> BrowserContext:
    return browser.new_context(
        base_url=base_url,
        viewport={"width": width, "height": height},
        color_scheme=scheme,
        timezone_id=ZONE.key,
        locale="en-GB",
        # Notifications allowed, as for someone who said yes: no "Allow notifications" button.
        permissions=["notifications"],
    )


def add_reminders(page: Page, title: str) -> str:
    """On the task's edit page: a reminder 30 minutes before its due time, and one tomorrow at
    09:00. Returns the edit page's path."""
    page.goto("/tasks")
    path = f"/tasks/{task_id(task_item(page, title))}/edit"
    page.goto(path)
    page.locator("#reminder-before").select_option("PT30M")
    page.get_by_role("button", name="Add reminder").first.click()
    expect(page.locator(".reminder-list li")).to_have_count(1)
    tomorrow = datetime.now(ZONE).date() + timedelta(days=1)
    page.locator("#reminder-at").fill(f"{tomorrow.isoformat()}T09:00")
    page.get_by_role("button", name="Add reminder").last.click()
    expect(page.locator(".reminder-list li")).to_have_count(2)
    return path


def optimise(shot: Path) -> None:
    """256 colours with pngquant, when it is installed; kept only if smaller."""
    pngquant = shutil.which("pngquant")
    if pngquant is None:
        return
    subprocess.run(  # noqa: S603 - a fixed tool on our own files
        [pngquant, "--force", "--skip-if-larger", "--strip", "--ext", ".png", "256", str(shot)],
        check=False,  # 98: the result would be larger, 99: below the quality floor; keep it
    )


def main() -> int:
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="doable-shots-") as tmp:
        base = Path(tmp)
        (base / "home").mkdir()
        env = server_env(base / "data", base / "home", AUTH_IP_RATE_LIMIT="1000/minute")
        with Server(env, logs_dir=base, name="screenshots") as server, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            shots: list[Path] = []

            def shoot(context: BrowserContext, path: str, name: str, element: str = "") -> None:
                page = context.pages[0] if context.pages else context.new_page()
                page.goto(path)
                target = OUT / name
                if element:
                    page.locator(element).screenshot(path=target, caret="initial")
                else:
                    page.screenshot(path=target, caret="initial")
                shots.append(target)

            light = new_context(browser, server.base_url, 1280, 860, "light")
            page = light.new_page()
            sign_up(page, EMAIL, name="Ada Lovelace")
            seed_demo_tasks(page)
            project = seed_demo_project(page)
            edit = add_reminders(page, "Send the quarterly report")
            # Two reminders that fire now, while no tab listens: they wait in the inbox.
            page.goto("/account")
            for title in ("Renew passport", "Water the plants"):
                remind_soon(server, EMAIL, title, 1)
            deadline = time.monotonic() + 30
            while page.goto("/notifications") and page.locator(".note").count() < 2:
                assert time.monotonic() < deadline, "the reminders did not reach the inbox"
                page.wait_for_timeout(500)
            page.get_by_role("button", name="Mark read: Renew passport").click()
            expect(page.locator(".note.unread")).to_have_count(1)
            shoot(light, "/tasks", "tasks-light-1280.png")
            shoot(light, project, "project-light-1280.png")
            shoot(light, "/account", "account-light-1280.png")
            shoot(light, edit, "edit-reminders-light-1280.png", "main")

            dark = new_context(browser, server.base_url, 375, 812, "dark")
            page = dark.new_page()
            page.goto("/login")
            log_in(page, EMAIL)
            page.wait_for_url("**/tasks")
            shoot(dark, "/today", "today-dark-375.png")

            board = new_context(browser, server.base_url, 1280, 720, "dark")
            page = board.new_page()
            page.goto("/login")
            log_in(page, EMAIL)
            page.wait_for_url("**/tasks")
            shoot(board, project + "?view=board", "board-dark-1280.png")
            board.pages[0].set_viewport_size({"width": 1280, "height": 560})
            shoot(board, "/notifications", "inbox-dark-1280.png")

            signed_out = new_context(browser, server.base_url, 1280, 480, "dark")
            shoot(signed_out, "/login", "login-dark-1280.png")
            browser.close()

    too_big = False
    for shot in shots:
        optimise(shot)
        size = shot.stat().st_size
        too_big |= size > MAX_BYTES
        print(f"{shot.relative_to(ROOT)}  {size / 1000:.0f} KB")
    if too_big:
        print(f"a screenshot is over {MAX_BYTES // 1000} KB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
