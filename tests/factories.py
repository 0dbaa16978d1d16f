"""Typed factories: accounts and tasks made through the real API."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

PASSWORD = "correct horse battery"
_counter = itertools.count()


@dataclass
class Account:
    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def make_account(
    client: httpx.AsyncClient, *, email: str | None = None, password: str = PASSWORD, **extra: Any
) -> Account:
    email = email or f"user{next(_counter)}-{uuid.uuid4().hex[:6]}@example.com"
    r = await client.post(
        "/api/v1/auth/signup", json={"email": email, "password": password, **extra}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    return Account(
        body["user"]["id"],
        body["user"]["email"],
        password,
        body["access_token"],
        body["refresh_token"],
    )


async def make_task(client: httpx.AsyncClient, account: Account, **fields: Any) -> dict[str, Any]:
    fields.setdefault("title", f"task {next(_counter)}")
    r = await client.post("/api/v1/tasks", json=fields, headers=account.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status and no stack trace."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert body["title"] and isinstance(body["detail"], str)
    assert "Traceback" not in r.text
    return body


async def make_api_token(
    client: httpx.AsyncClient, account: Account, *scopes: str, **fields: Any
) -> dict[str, Any]:
    """A personal API token of `account` (created with its access token); `token` holds it."""
    fields.setdefault("name", f"token {next(_counter)}")
    fields["scopes"] = list(scopes)
    r = await client.post("/api/v1/tokens", json=fields, headers=account.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
