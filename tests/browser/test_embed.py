"""The app inside a Hugging Face Space's iframe (EMBED_MODE=true): sign up and add a task.

How the test stands in for huggingface.co and a Space:

- The parent page is served as https://huggingface.co/spaces/… by Playwright's router, so the
  frame's ancestor is exactly the origin that `frame-ancestors` admits. Nothing goes to the
  network.
- The app runs at http://localhost:<port>. The embed needs Secure cookies, which Chromium accepts
  over https or on localhost, a "potentially trustworthy" origin; an https parent may also frame
  it without a mixed-content block.
- Chromium's Local Network Access check stops a public site (huggingface.co) from loading
  anything from localhost unless the user allows it. A real Space is public (*.hf.space), so the
  check does not apply there; the test grants the permission to huggingface.co, as a user
  clicking "Allow" would.
- A Playwright context is like an incognito window: it blocks third-party cookies. The test
  checks that it does, so login inside the frame can only work through partitioned (CHIPS)
  cookies, as in browsers that block third-party cookies.
"""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import FrameLocator, expect

from tests.browser.conftest import Contexts, running_server
from tests.browser.ui import PASSWORD, unique_email
from tests.server import Server, free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SPACE_URL = "https://huggingface.co/spaces/someone/doable"


@pytest.fixture(scope="module")
def embed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory, "embed-server", EMBED_MODE="true") as srv:
        yield srv


def parent_page(app_url: str) -> str:
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>A Space</title>"
        "<h1>someone/doable</h1>"
        f'<iframe src="{app_url}/login" title="Doable" width="1000" height="760"></iframe>'
    )


@pytest.fixture
def other_origin(tmp_path: Path) -> Iterator[str]:
    """A tiny http.server on 127.0.0.1 (another origin than http://localhost:<app port>)."""
    root = tmp_path / "parent"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", free_port()),
        partial(http.server.SimpleHTTPRequestHandler, directory=str(root)),
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_sign_up_and_add_a_task_inside_the_huggingface_iframe(
    contexts: Contexts, embed_server: Server
) -> None:
    app_url = f"http://localhost:{embed_server.port}"
    context = contexts.new(base_url=app_url)
    context.grant_permissions(["local-network-access"], origin="https://huggingface.co")
    html = parent_page(app_url)
    context.route(
        "https://huggingface.co/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body=html),
    )
    page = contexts.page(context)
    page.goto(SPACE_URL)
    frame: FrameLocator = page.frame_locator("iframe")
    expect(frame.get_by_role("heading", name="Log in")).to_be_visible()

    # This browser blocks third-party cookies: only a partitioned one survives in the frame.
    stored = page.frames[1].evaluate(
        """() => {
            document.cookie = "plain=1; SameSite=None; Secure; Path=/";
            document.cookie = "chips=1; SameSite=None; Secure; Path=/; Partitioned";
            return document.cookie;
        }"""
    )
    assert stored == "chips=1"

    email = unique_email("embed")
    frame.get_by_role("link", name="Create an account").click()
    frame.get_by_label("Email").fill(email)
    frame.get_by_label("Password").fill(PASSWORD)
    frame.get_by_role("button", name="Sign up").click()
    expect(frame.get_by_role("heading", name="Nothing to do yet")).to_be_visible()

    frame.locator("#quick-title").fill("Added inside the Space")
    frame.get_by_role("button", name="Add", exact=True).click()  # htmx, token in a header
    expect(frame.locator("#task-list p.title")).to_have_text(["Added inside the Space"])
    assert page.url == SPACE_URL  # the top page never navigated

    cookies = {c["name"]: c for c in context.cookies()}
    for name in ("doable_session", "doable_csrf"):
        assert cookies[name]["secure"] is True
        assert cookies[name]["sameSite"] == "None"
        assert cookies[name].get("partitionKey") == "https://huggingface.co"

    # The task is in the app, as its owner sees it through the API.
    with httpx.Client(base_url=embed_server.base_url, timeout=10) as api:
        login = api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200
        token = login.json()["access_token"]
        listed = api.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    assert [t["title"] for t in listed.json()["items"]] == ["Added inside the Space"]

    # The session lives in huggingface.co's partition: the app opened directly is signed out.
    direct = contexts.page(context)
    direct.goto(f"{app_url}/tasks")
    expect(direct).to_have_url(re.compile(r"/login\?next=%2Ftasks$"))


def test_an_origin_other_than_huggingface_cannot_frame_the_app(
    contexts: Contexts, embed_server: Server, other_origin: str, tmp_path: Path
) -> None:
    app_url = f"http://localhost:{embed_server.port}"
    (tmp_path / "parent" / "index.html").write_text(parent_page(app_url))
    page = contexts.page()
    watch = contexts.watch(page)
    page.goto(f"{other_origin}/index.html")
    expect(page.get_by_role("heading", name="someone/doable")).to_be_visible()
    frame = page.frame_locator("iframe")
    expect(frame.get_by_role("heading", name="Log in")).to_have_count(0, timeout=3000)
    refused = [m for m in watch.errors if "frame-ancestors" in m]
    assert len(refused) == 1, watch.console
    assert "'self' https://huggingface.co" in refused[0]
    watch.errors.remove(refused[0])  # expected here; any other error still fails the test
