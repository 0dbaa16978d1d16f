"""An open event stream ends as soon as the credential it was opened with is revoked.

Real `doable serve` processes (the in-process client buffers a whole response, and a stream
never ends by itself). Each test opens streams, revokes one credential, and checks which
streams ended within a few seconds, far below the 25 s periodic check, and which still
deliver. The last test revokes through another process, whose signal crosses over through
the relay (doable.relay; here the polled table, both servers being on one SQLite file).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import PASSWORD, bearer
from tests.server import Server, server_env

pytestmark = pytest.mark.slow
EVENTS = "/api/v1/events"
# A revocation through the event bus ends the stream at once; allow for a loaded machine.
PROMPTLY = 5.0
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


class Stream(threading.Thread):
    """Reads one event stream in a thread; `ended` is set when the server ends it."""

    def __init__(
        self, server: Server, path: str = EVENTS, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(daemon=True)
        self.server, self.path, self.headers = server, path, headers or {}
        self.cookies: httpx.Cookies | None = None
        self.ready = threading.Event()
        self.ended = threading.Event()
        self.events: list[str] = []
        self.status = 0

    def run(self) -> None:
        timeout = httpx.Timeout(5, read=60)
        try:
            with (
                httpx.Client(
                    base_url=self.server.base_url, timeout=timeout, cookies=self.cookies
                ) as c,
                c.stream("GET", self.path, headers=self.headers) as r,
            ):
                self.status = r.status_code
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        self.events.append(line[7:])
                        if line == "event: ready":
                            self.ready.set()
        finally:
            self.ready.set()
            self.ended.set()

    def open(self) -> Stream:
        self.start()
        assert self.ready.wait(15) and self.status == 200, self.status
        return self


class Browser:
    """A signed-in browser: a cookie jar and the page's CSRF token."""

    def __init__(self, server: Server, email: str, *, agent: str = "browser") -> None:
        self.client = httpx.Client(
            base_url=server.base_url, timeout=30, headers={"User-Agent": agent}
        )
        self.server = server
        page = self.client.get("/login")
        self.token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        r = self.post("/login", {"email": email, "password": PASSWORD, "next": "/tasks"})
        assert r.status_code == 303, r.text

    def post(self, url: str, data: dict[str, str] | None = None) -> httpx.Response:
        return self.client.post(
            url,
            data={"csrf_token": self.token, **(data or {})},
            headers={"Sec-Fetch-Site": "same-origin"},
        )

    def stream(self) -> Stream:
        s = Stream(self.server, "/events")
        s.cookies = self.client.cookies
        return s.open()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("streams")
    env = server_env(tmp / "data", tmp, AUTH_IP_RATE_LIMIT="1000/minute")
    with Server(env, logs_dir=tmp, name="streams") as s:
        yield s


def _signup(c: httpx.Client) -> tuple[str, dict[str, Any]]:
    email = f"s-{uuid.uuid4().hex[:8]}@example.com"
    r = c.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return email, r.json()


def _api_token(c: httpx.Client, access: str) -> tuple[str, str]:
    r = c.post(
        "/api/v1/tokens", json={"name": "stream", "scopes": ["tasks:read"]}, headers=bearer(access)
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["token"]


def _login(c: httpx.Client, email: str) -> dict[str, Any]:
    r = c.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _still_delivers(stream: Stream, c: httpx.Client, access: str) -> bool:
    """The stream is open and gets the next change (a task created by the owner)."""
    before = stream.events.count("task")
    assert c.post("/api/v1/tasks", json={"title": "x"}, headers=bearer(access)).status_code == 201
    deadline = time.monotonic() + PROMPTLY
    while time.monotonic() < deadline and stream.events.count("task") == before:
        time.sleep(0.05)
    return not stream.ended.is_set() and stream.events.count("task") == before + 1


def test_revoking_an_api_token_ends_its_stream_only(server: Server) -> None:
    with server.client() as c:
        _, pair = _signup(c)
        access = pair["access_token"]
        revoked_id, revoked = _api_token(c, access)
        _, kept = _api_token(c, access)
        doomed = Stream(server, headers=bearer(revoked)).open()
        other = Stream(server, headers=bearer(kept)).open()
        assert c.delete(f"/api/v1/tokens/{revoked_id}", headers=bearer(access)).status_code == 204
        assert doomed.ended.wait(PROMPTLY)
        assert _still_delivers(other, c, access)


def test_api_logout_ends_the_streams_of_that_sign_in(server: Server) -> None:
    with server.client() as c:
        email, _ = _signup(c)
        first, second = _login(c, email), _login(c, email)
        doomed = Stream(server, headers=bearer(first["access_token"])).open()
        other = Stream(server, headers=bearer(second["access_token"])).open()
        r = c.post("/api/v1/auth/logout", json={"refresh_token": first["refresh_token"]})
        assert r.status_code == 204
        assert doomed.ended.wait(PROMPTLY)
        assert _still_delivers(other, c, second["access_token"])


def test_password_change_ends_every_stream(server: Server) -> None:
    with server.client() as c:
        email, pair = _signup(c)
        access = pair["access_token"]
        _, token = _api_token(c, access)
        streams = [
            Stream(server, headers=bearer(access)).open(),
            Stream(server, headers=bearer(token)).open(),
            Browser(server, email).stream(),
        ]
        r = c.post(
            "/api/v1/me/password",
            json={"current_password": PASSWORD, "new_password": "a brand new secret"},
            headers=bearer(access),
        )
        assert r.status_code == 204
        assert [s.ended.wait(PROMPTLY) for s in streams] == [True, True, True]


def test_logout_everywhere_ends_every_stream(server: Server) -> None:
    with server.client() as c:
        email, pair = _signup(c)
        access = pair["access_token"]
        _, token = _api_token(c, access)
        browser = Browser(server, email)
        streams = [
            Stream(server, headers=bearer(access)).open(),
            Stream(server, headers=bearer(token)).open(),
            browser.stream(),
        ]
        assert browser.post("/logout-everywhere").status_code == 303
        assert [s.ended.wait(PROMPTLY) for s in streams] == [True, True, True]
        # Other users' streams are not touched.
        _, stranger = _signup(c)
        bystander = Stream(server, headers=bearer(stranger["access_token"])).open()
        browser2 = Browser(server, email)
        assert browser2.post("/logout-everywhere").status_code == 303
        assert _still_delivers(bystander, c, stranger["access_token"])


def test_web_logout_ends_that_browsers_stream_only(server: Server) -> None:
    with server.client() as c:
        email, pair = _signup(c)
        leaving, staying = Browser(server, email), Browser(server, email)
        doomed, other = leaving.stream(), staying.stream()
        assert leaving.post("/logout").status_code == 303
        assert doomed.ended.wait(PROMPTLY)
        assert _still_delivers(other, c, pair["access_token"])


def test_revoking_a_session_on_the_account_page_ends_its_stream(server: Server) -> None:
    with server.client() as c:
        email, pair = _signup(c)
        mine, lost = Browser(server, email), Browser(server, email, agent="lost-laptop")
        lost_stream, my_stream = lost.stream(), mine.stream()
        page = mine.client.get("/account").text
        found = re.search(r'id="session-([0-9a-f-]{36})">\s*<td>lost-laptop', page)
        assert found, page
        assert mine.post(f"/account/sessions/{found.group(1)}/revoke").status_code == 303
        assert lost_stream.ended.wait(PROMPTLY)
        assert _still_delivers(my_stream, c, pair["access_token"])


def test_a_revocation_in_another_process_ends_the_stream(server: Server, tmp_path: Path) -> None:
    """A second server on the same database revokes the token; the first's stream ends well
    before its periodic check (every 25 s) could notice, through the relay."""
    env = dict(server.env)
    with Server(env, logs_dir=tmp_path, name="second") as second, server.client() as c:
        _, pair = _signup(c)
        access = pair["access_token"]
        token_id, token = _api_token(c, access)
        stream = Stream(server, headers=bearer(token)).open()
        with second.client() as c2:
            r = c2.delete(f"/api/v1/tokens/{token_id}", headers=bearer(access))
            assert r.status_code == 204
        assert stream.ended.wait(PROMPTLY)
