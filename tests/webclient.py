"""A browser-like client for the web app: keeps cookies, reads CSRF tokens from pages."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from tests.factories import PASSWORD

_TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


class WebClient:
    """Wraps an httpx client; `post` sends the form with the page's CSRF token, same-origin."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = client
        self.token = ""
        self.email = ""

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        r = await self.http.get(url, **kwargs)
        found = _TOKEN.search(r.text)
        if found:
            self.token = found.group(1)
        return r

    async def post(
        self, url: str, data: dict[str, Any] | None = None, *, htmx: bool = False, **kwargs: Any
    ) -> httpx.Response:
        if not self.token:
            await self.get("/login")
        headers = {"Sec-Fetch-Site": "same-origin", **kwargs.pop("headers", {})}
        if htmx:
            headers.update({"HX-Request": "true", "X-CSRF-Token": self.token})
        form = {"csrf_token": self.token, **(data or {})}
        return await self.http.post(url, data=form, headers=headers, **kwargs)

    async def signup(self, email: str | None = None, **fields: Any) -> httpx.Response:
        self.email = email or f"web-{uuid.uuid4().hex[:8]}@example.com"
        await self.get("/signup")
        r = await self.post(
            "/signup", {"email": self.email, "password": PASSWORD, "name": "", **fields}
        )
        assert r.status_code == 303 and r.headers["location"] == "/tasks", r.text
        await self.get("/tasks")
        return r

    async def add(self, title: str, **fields: Any) -> str:
        """Add a task through the htmx quick-add form; returns its id."""
        r = await self.post("/tasks", {"title": title, **fields}, htmx=True)
        assert r.status_code == 200, r.text
        found = re.search(r'<li id="task-([0-9a-f-]{36})"', r.text)
        assert found, r.text
        return found.group(1)
