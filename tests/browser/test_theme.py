"""Dark mode follows prefers-color-scheme, and the theme toggle is remembered across reloads."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Contexts
from tests.browser.ui import sign_up, unique_email

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LIGHT_BG = "rgb(247, 247, 245)"  # --bg, light
DARK_BG = "rgb(21, 22, 20)"  # --bg, dark


def background(page: Page) -> str:
    colour: str = page.evaluate("getComputedStyle(document.body).backgroundColor")
    return colour


def luminance(rgb: str) -> float:
    """WCAG relative luminance of an `rgb(r, g, b)` string."""
    channels = [int(c) / 255 for c in re.findall(r"\d+", rgb)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_dark_mode_follows_the_system_setting(contexts: Contexts) -> None:
    page = contexts.page(color_scheme="dark")
    page.goto("/login")
    assert background(page) == DARK_BG
    assert luminance(background(page)) < 0.02
    text: str = page.evaluate("getComputedStyle(document.body).color")
    assert luminance(text) > 0.8
    expect(page.locator("#theme-toggle")).to_have_attribute("aria-label", "Colour theme: system")

    light = contexts.page(color_scheme="light")
    light.goto("/login")
    assert background(light) == LIGHT_BG


def _wired(toggle: Locator) -> Locator:
    """The toggle once app.js has labelled it, in the same step that adds its click handler:
    a click that lands after the URL changes but before the deferred script has run is lost."""
    expect(toggle).to_have_attribute("data-theme", re.compile(".+"))
    return toggle


def test_the_theme_toggle_is_remembered_after_reload(contexts: Contexts) -> None:
    page = contexts.page(color_scheme="dark")
    sign_up(page, unique_email("theme"))
    toggle = page.locator("#theme-toggle")
    assert background(page) == DARK_BG

    _wired(toggle).click()  # system -> light
    expect(toggle).to_have_attribute("aria-label", "Colour theme: light")
    assert background(page) == LIGHT_BG
    page.reload()
    expect(toggle).to_have_attribute("aria-label", "Colour theme: light")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert background(page) == LIGHT_BG
    page.goto("/account")  # another page of the same site
    assert background(page) == LIGHT_BG

    _wired(toggle).click()  # light -> dark
    expect(toggle).to_have_attribute("aria-label", "Colour theme: dark")
    page.emulate_media(color_scheme="light")  # the chosen theme wins over the system's
    page.reload()
    assert background(page) == DARK_BG

    _wired(toggle).click()  # dark -> system, which is now light
    expect(toggle).to_have_attribute("aria-label", "Colour theme: system")
    page.reload()
    expect(page.locator("html")).not_to_have_attribute("data-theme", re.compile(".*"))
    assert background(page) == LIGHT_BG
