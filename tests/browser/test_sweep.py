"""A sweep of the newer pages with axe: the notification inbox, the admin page, a project's
share page, the account page (calendar feeds, reminder settings), the Data page (import with its
per-line report, export, API tokens) and the password-reset page, each at 1280 and 375 px, light
and dark, with zero violations of any impact.

Cheap on purpose: the package's one server and browser, one page load per page (the width and
the colour scheme change in place), the data made through the API and the CLI. Screenshots of
every state go to test-artifacts/screenshots/sweep-<page>-<scheme>-<width>.png.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Literal

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, Contexts
from tests.browser.test_accessibility import run_axe
from tests.browser.test_accounts import cli
from tests.browser.ui import PASSWORD, log_in, settled, unique_email
from tests.server import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BAD_CSV = b"title,priority,due\r\nPay rent,high,2026-13-01\r\nCall mum,very,\r\n"
SCHEMES: tuple[Literal["light"], Literal["dark"]] = ("light", "dark")


def api_login(client: httpx.Client, email: str) -> None:
    r = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"


def seed(server: Server, admin: str, member: str) -> str:
    """The admin's data, through the API: a notification in the inbox (a reminder that fired,
    one unread, one read), a project shared with `member` and a pending invitation, an API
    token and a calendar feed. Returns the project's id."""
    with httpx.Client(base_url=server.base_url, timeout=10) as c:
        r = c.post(
            "/api/v1/auth/signup",
            json={"email": member, "password": PASSWORD, "name": "Grace Hopper"},
        )
        assert r.status_code == 201, r.text
        api_login(c, admin)
        r = c.post("/api/v1/projects", json={"name": "Home renovation", "color": "teal"})
        assert r.status_code == 201, r.text
        project = r.json()["id"]
        soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        for title in ("Order the tiles", "Call the plumber"):
            r = c.post("/api/v1/tasks", json={"title": title, "project_id": project})
            assert r.status_code == 201, r.text
            r = c.post(f"/api/v1/tasks/{r.json()['id']}/reminders", json={"at": soon})
            assert r.status_code == 201, r.text
        r = c.post(
            f"/api/v1/projects/{project}/invitations", json={"email": member, "role": "editor"}
        )
        assert r.status_code == 201, r.text
        with httpx.Client(base_url=server.base_url, timeout=10) as m:
            api_login(m, member)
            [invitation] = m.get("/api/v1/invitations").json()
            r = m.post(f"/api/v1/invitations/{invitation['id']}/accept")
            assert r.status_code == 200, r.text
        r = c.post(
            f"/api/v1/projects/{project}/invitations",
            json={"email": "someone@example.com", "role": "viewer"},
        )
        assert r.status_code == 201, r.text
        r = c.post(
            "/api/v1/tokens", json={"name": "Shortcuts on my phone", "scopes": ["tasks:read"]}
        )
        assert r.status_code == 201, r.text
        r = c.post("/api/v1/feeds", json={"name": "Work"})
        assert r.status_code == 201, r.text
        deadline = time.monotonic() + 20
        while True:
            notes = c.get("/api/v1/notifications").json()["items"]
            if len(notes) == 2:
                break
            assert time.monotonic() < deadline, f"the reminders did not fire: {notes}"
            time.sleep(0.25)
        r = c.post(f"/api/v1/notifications/{notes[0]['id']}/read")
        assert r.status_code in (200, 204), r.text
    return str(project)


def sweep(page: Page, name: str, found: dict[str, list[dict[str, object]]]) -> None:
    """axe on the page as it is, in both schemes and both widths; a screenshot of each."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in SCHEMES:
        page.emulate_media(color_scheme=scheme)
        for size in (DESKTOP, PHONE):
            page.set_viewport_size(size)
            key = f"{name}-{scheme}-{size['width']}"
            found[key] = run_axe(page)
            page.screenshot(path=SCREENSHOTS / f"sweep-{key}.png", full_page=True, caret="initial")
    page.set_viewport_size(DESKTOP)


def test_newer_pages_have_no_axe_violations(contexts: Contexts, server: Server) -> None:
    admin, member = unique_email("sweep-admin"), unique_email("sweep-member")
    cli(
        server,
        "users",
        "create",
        admin,
        "--admin",
        "--name",
        "Ada Lovelace",
        "--password-stdin",
        stdin=PASSWORD,
    )
    project = seed(server, admin, member)
    reset_link = cli(server, "users", "reset-link", member, "--base-url", server.base_url).strip()
    found: dict[str, list[dict[str, object]]] = {}

    page = contexts.page()
    page.goto("/login")
    log_in(page, admin)
    expect(page.get_by_role("heading", name="Log in")).to_have_count(0)
    for name, path, ready in [
        ("inbox", "/notifications", ".note.unread"),
        ("admin", "/admin", f"text={member}"),
        ("share", f"/projects/{project}/share", "text=Grace Hopper"),
        ("account", "/account", "text=Work"),
        ("data", "/account/data", "text=Shortcuts on my phone"),
    ]:
        page.goto(path)
        expect(page.locator(ready).first).to_be_visible()
        settled(page)
        sweep(page, name, found)

    # The import's per-line report, for a CSV with a bad due date and a bad priority.
    page.locator("#import-file").set_input_files(
        files=[{"name": "tasks.csv", "mimeType": "text/csv", "buffer": BAD_CSV}]
    )
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-problems li")).to_have_count(2)
    sweep(page, "data-import-problems", found)

    signed_out = contexts.page()
    signed_out.goto(reset_link)
    expect(signed_out.get_by_role("heading", name="Choose a new password")).to_be_visible()
    sweep(signed_out, "reset", found)

    violations = {
        key: [f"{v['impact']} {v['id']}: {v['help']} {v['nodes']}" for v in listed]
        for key, listed in found.items()
        if listed
    }
    assert violations == {}, json.dumps(violations, indent=1)
