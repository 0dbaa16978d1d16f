"""An admin makes a password-reset link on the admin page; its owner sets a new password
through it, once. axe finds nothing on any page of the flow, light and dark, wide and narrow."""

from __future__ import annotations

import re
import subprocess

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Contexts
from tests.browser.test_accessibility import DESKTOP, PHONE, run_axe
from tests.browser.ui import log_in, sign_up, unique_email
from tests.factories import PASSWORD
from tests.server import DOABLE, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NEW_PASSWORD = "a fresh passphrase for the flow"


def cli(server: Server, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(DOABLE), *args],
        env=server.env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def no_violations(page: Page, where: str) -> None:
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        found = run_axe(page)
        assert found == [], (where, size["width"], found)
    page.set_viewport_size(DESKTOP)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_reset_link_flow_from_the_admin_page(
    contexts: Contexts, server: Server, scheme: str
) -> None:
    admin_email = unique_email("admin")
    cli(server, "users", "create", admin_email, "--admin", "--password-stdin", stdin=PASSWORD)
    owner_email = unique_email("owner")
    owner = contexts.page(color_scheme=scheme)
    sign_up(owner, owner_email, name="Owen")

    admin = contexts.page(color_scheme=scheme)
    admin.goto("/login")
    log_in(admin, admin_email)
    expect(admin).to_have_url(re.compile(r"/tasks$"))
    admin.goto("/account")
    admin.get_by_role("link", name="Admin: accounts and invitations").click()
    expect(admin).to_have_url(re.compile(r"/admin$"))
    no_violations(admin, "admin")
    admin.get_by_role("button", name=f"Make a password-reset link for {owner_email}").click()
    link_box = admin.get_by_label("Link", exact=True)
    expect(link_box).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/reset-password/"))
    no_violations(admin, "admin with a link")
    link = link_box.input_value()

    # The owner, signed in elsewhere, opens the link in a fresh browser.
    reset = contexts.page(color_scheme=scheme)
    reset.goto(link)
    expect(reset.get_by_role("heading", name="Choose a new password")).to_be_visible()
    expect(reset.get_by_text(f"For {owner_email}.", exact=False)).to_be_visible()
    no_violations(reset, "reset")
    reset.get_by_label("New password").fill("password")
    reset.get_by_role("button", name="Set password").click()
    expect(reset.locator("#new_password-error")).to_contain_text("too common")
    expect(reset.get_by_label("New password")).to_have_attribute("aria-invalid", "true")
    no_violations(reset, "reset with an error")
    reset.get_by_label("New password").fill(NEW_PASSWORD)
    reset.get_by_role("button", name="Set password").click()
    expect(reset).to_have_url(re.compile(r"/login\?reset=1$"))
    expect(reset.get_by_role("status")).to_contain_text("Your password was changed")
    no_violations(reset, "login after reset")
    log_in(reset, owner_email, password=NEW_PASSWORD)
    expect(reset).to_have_url(re.compile(r"/tasks$"))

    # A reset is a password change: the owner's other browser is signed out.
    owner.goto("/tasks")
    expect(owner).to_have_url(re.compile(r"/login\?next="))
    # The link worked once.
    reset.goto(link)
    expect(reset.get_by_role("alert")).to_contain_text("already used")
    no_violations(reset, "used link")
