"""Regenerate the README's screenshots (docs/screenshots/*.png) from a real `doable serve`.

    uv run python scripts/screenshots.py

Starts the app on SQLite in a temporary folder, signs up a demo user, adds a few tasks through
the web app, and photographs the pages in Debian's Chromium (/usr/bin/chromium).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.server and tests.browser.ui

from playwright.sync_api import Browser, BrowserContext, sync_playwright  # noqa: E402
from tests.browser.ui import (  # noqa: E402
    ZONE,
    log_in,
    seed_demo_project,
    seed_demo_tasks,
    sign_up,
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

            def shoot(context: BrowserContext, path: str, name: str) -> None:
                page = context.pages[0] if context.pages else context.new_page()
                page.goto(path)
                target = OUT / name
                page.screenshot(path=target, caret="initial")
                shots.append(target)

            light = new_context(browser, server.base_url, 1280, 860, "light")
            page = light.new_page()
            sign_up(page, EMAIL, name="Ada Lovelace")
            seed_demo_tasks(page)
            project = seed_demo_project(page)
            shoot(light, "/tasks", "tasks-light-1280.png")
            shoot(light, project, "project-light-1280.png")
            shoot(light, "/account", "account-light-1280.png")

            dark = new_context(browser, server.base_url, 375, 812, "dark")
            page = dark.new_page()
            page.goto("/login")
            log_in(page, EMAIL)
            page.wait_for_url("**/tasks")
            shoot(dark, "/tasks", "tasks-dark-375.png")

            board = new_context(browser, server.base_url, 1280, 720, "dark")
            page = board.new_page()
            page.goto("/login")
            log_in(page, EMAIL)
            page.wait_for_url("**/tasks")
            shoot(board, project + "?view=board", "board-dark-1280.png")

            signed_out = new_context(browser, server.base_url, 1280, 480, "dark")
            shoot(signed_out, "/login", "login-dark-1280.png")
            browser.close()

    too_big = False
    for shot in shots:
        size = shot.stat().st_size
        too_big |= size > MAX_BYTES
        print(f"{shot.relative_to(ROOT)}  {size / 1000:.0f} KB")
    if too_big:
        print(f"a screenshot is over {MAX_BYTES // 1000} KB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
