"""Guesses at the current password (password change, account deletion; API and web) are
limited per account like login, share login's budget, and never queue up in the hasher."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from doable.app import create_app
from doable.auth.models import User
from doable.db import Database
from tests.conftest import make_client, runtime_for, truncate_all
from tests.factories import PASSWORD, assert_problem, make_account
from tests.webclient import WebClient

LIMIT = 3
NEW_PASSWORD = "a brand new secret"
# A guess: (client, password) -> response. The web ones sign in through the form first.
Guess = Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]]


@pytest.fixture
async def limited_app(database: Database, data_dir: Path) -> AsyncIterator[FastAPI]:
    runtime = runtime_for(database, data_dir, AUTH_ACCOUNT_RATE_LIMIT=f"{LIMIT}/minute")
    yield create_app(runtime, database)
    await truncate_all(database.engine)


async def _password_hash(database: Database, email: str) -> str | None:
    async with database.read_sessions() as s:
        return await s.scalar(select(User.password_hash).where(User.email == email))


@pytest.mark.parametrize("route", ["api-password", "api-delete", "web-password", "web-delete"])
async def test_current_password_guesses_get_429_after_the_limit(
    limited_app: FastAPI, database: Database, route: str
) -> None:
    async with make_client(limited_app) as c:
        email = f"victim-{uuid.uuid4().hex[:6]}@example.com"
        acct = await make_account(c, email=email)
        web = WebClient(c)
        if route.startswith("web"):
            await web.get("/login")
            r = await web.post("/login", {"email": email, "password": PASSWORD, "next": "/tasks"})
            assert r.status_code == 303, r.text

        async def guess(password: str) -> httpx.Response:
            if route == "api-password":
                return await c.post(
                    "/api/v1/me/password",
                    json={"current_password": password, "new_password": NEW_PASSWORD},
                    headers=acct.headers,
                )
            if route == "api-delete":
                return await c.request(
                    "DELETE", "/api/v1/me", json={"password": password}, headers=acct.headers
                )
            if route == "web-password":
                return await web.post(
                    "/account/password",
                    {"current_password": password, "new_password": NEW_PASSWORD},
                )
            return await web.post("/account/delete", {"password": password, "confirm": "yes"})

        before = await _password_hash(database, email)
        # The web sign-in above spent one of the account's guesses: one budget for all.
        spent = 1 if route.startswith("web") else 0
        for i in range(LIMIT - spent):
            assert (await guess(f"wrong guess {i}")).status_code == 403
        # Over the limit even the right password is refused, before it is checked.
        r = await guess(PASSWORD)
        assert r.status_code == 429, r.text
        assert 1 <= int(r.headers["retry-after"]) <= 120  # two periods at most
        if route.startswith("api"):
            assert_problem(r, 429)
        else:
            assert "Too many attempts" in r.text
        assert await _password_hash(database, email) == before
        # Login counts against the same budget.
        r = await c.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert_problem(r, 429)
        # Another account is not held back by this one's limit.
        other = await make_account(c)
        r = await c.post(
            "/api/v1/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=other.headers,
        )
        assert r.status_code == 204


async def test_concurrent_guesses_for_one_account_are_refused_before_hashing(
    database: Database, data_dir: Path
) -> None:
    """One check per account at a time: guesses sent together do not queue for the hashing
    threads (where every other login would wait behind them); all but one get 429 at once.
    Hashing here is slow on purpose (real argon2 cost), so the first check is still running
    when the others arrive."""
    runtime = runtime_for(database, data_dir, ARGON2_TIME_COST=6, ARGON2_MEMORY_KIB=65536)
    app = create_app(runtime, database)
    try:
        async with make_client(app) as c:
            acct = await make_account(c)
            guesses = [
                c.post(
                    "/api/v1/me/password",
                    json={"current_password": f"wrong {i}", "new_password": NEW_PASSWORD},
                    headers=acct.headers,
                )
                for i in range(6)
            ]
            statuses = sorted(r.status_code for r in await asyncio.gather(*guesses))
            assert statuses == [403, 429, 429, 429, 429, 429]
            # The slot is free again once the check is done.
            r = await c.post(
                "/api/v1/me/password",
                json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                headers=acct.headers,
            )
            assert r.status_code == 204
    finally:
        await truncate_all(database.engine)
