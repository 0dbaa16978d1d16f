"""Icons are inline SVG, not emoji (issue 18): emoji show as empty boxes where no emoji font is
installed. Every template and the pages they make are checked for pictographic characters."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from doable.web.icons import NAMES, icon
from tests.webclient import WebClient

TEMPLATES = Path(__file__).resolve().parent.parent / "src" / "doable" / "web" / "templates"
APP_JS = TEMPLATES.parent / "static" / "app.js"
# Arrows, symbols, dingbats, Braille (the old drag handle) and the emoji planes.
PICTOGRAPHS = re.compile(
    "[\u2190-\u21ff\u2300-\u23ff\u2460-\u27bf\u2800-\u28ff\u2b00-\u2bff\U0001f000-\U0001faff]"
)


@pytest.mark.parametrize("path", sorted(TEMPLATES.glob("*.html")), ids=lambda p: p.name)
def test_templates_have_no_emoji(path: Path) -> None:
    assert PICTOGRAPHS.findall(path.read_text()) == []


def test_app_js_puts_no_emoji_on_the_page() -> None:
    # ⌘ stays: it is the name of a key in a sentence, not an icon.
    assert PICTOGRAPHS.findall(APP_JS.read_text().replace("⌘", "")) == []


@pytest.mark.parametrize("name", sorted(NAMES))
def test_each_icon_is_decorative_svg(name: str) -> None:
    svg = str(icon(name))
    assert svg.startswith(f'<svg class="icon icon-{name}"') and svg.endswith("</svg>")
    assert 'aria-hidden="true"' in svg and 'focusable="false"' in svg
    assert "<path " in svg and "style=" not in svg  # CSP: no inline style


async def test_pages_use_svg_icons_with_labels(client: httpx.AsyncClient) -> None:
    web = WebClient(client)
    await web.signup()
    task_id = await web.add("Water plants")
    await web.post(f"/tasks/{task_id}/toggle")
    page = await web.get("/tasks?status=all")
    assert PICTOGRAPHS.findall(page.text) == []
    # The brand, the menu, the theme toggle (three icons, one shown by CSS) and the check.
    assert page.text.count('class="icon icon-check"') == 2
    toggle = re.search(r'<button type="button" id="theme-toggle"[^>]*>(.*?)</button>', page.text)
    assert toggle is not None and 'aria-label="Colour theme: system"' in toggle.group(0)
    assert re.findall(r"icon-(\w+) theme-", toggle.group(1)) == ["contrast", "sun", "moon"]
    menu = re.search(r'<button type="button" id="menu-toggle".*?</button>', page.text, re.S)
    assert menu is not None and '<span class="visually-hidden">Menu</span>' in menu.group(0)
    check = re.search(r'<button [^>]*class="check"[^>]*>(.*?)</button>', page.text)
    assert check is not None and 'aria-label="Reopen: Water plants"' in check.group(0)
    account = await web.get("/account")
    assert '<a href="/tasks"><svg class="icon icon-back"' in account.text
    assert PICTOGRAPHS.findall(account.text) == []


async def test_allow_notifications_is_told_apart_from_the_inbox_bell(
    client: httpx.AsyncClient,
) -> None:
    web = WebClient(client)
    await web.signup()
    page = (await web.get("/tasks")).text
    allow = re.search(r'<button type="button" id="notify-allow".*?</button>', page, re.S)
    assert allow is not None
    assert re.findall(r'class="icon icon-([\w-]+)', allow.group(0)) == ["bell-plus"]
    bell = re.search(r'<a id="bell".*?</a>', page, re.S)
    assert bell is not None and "bell-plus" not in bell.group(0)
