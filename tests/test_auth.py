"""Signup, login, refresh rotation, logout, /me, password change, rate limits and token attacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy import func, select

from doable.app import create_app
from doable.auth.models import RefreshToken, User
from doable.db import Database
from tests.attacks import claims_for, forge, forged_tokens
from tests.conftest import TEST_SECRET, make_client, runtime_for, truncate_all
from tests.factories import PASSWORD, Account, assert_problem, make_account, make_task

AUTH = "/api/v1/auth"


async def test_signup_returns_token_pair_and_user(client: httpx.AsyncClient) -> None:
    r = await client.post(
        f"{AUTH}/signup",
        json={"email": "  Alice@Example.COM ", "password": PASSWORD, "name": "Alice"},
    )
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    assert body["user"]["email"] == "alice@example.com"
    assert body["user"]["name"] == "Alice"
    assert body["user"]["timezone"] == "UTC"
    assert set(body["user"]) == {"id", "email", "name", "timezone", "created_at"}
    assert "password" not in r.text
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json() == body["user"]


async def test_duplicate_email_any_case_is_409(client: httpx.AsyncClient) -> None:
    await make_account(client, email="bob@example.com")
    r = await client.post(f"{AUTH}/signup", json={"email": "BOB@example.com", "password": PASSWORD})
    assert_problem(r, 409)


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("short", "at least 8"),
        ("password", "too common"),
        ("12345678", "too common"),
        ("Password1", "too common"),
        ("x" * 257, "at most 256"),
    ],
)
async def test_weak_password_is_422(
    client: httpx.AsyncClient, password: str, fragment: str
) -> None:
    r = await client.post(
        f"{AUTH}/signup", json={"email": "weak@example.com", "password": password}
    )
    body = assert_problem(r, 422)
    assert body["errors"][0]["loc"] == ["body", "password"]
    assert fragment in body["errors"][0]["msg"]


@pytest.mark.parametrize(
    "email", ["not-an-email", "", "a@", "a" * 250 + "@example.com", "a\x00@example.com"]
)
async def test_bad_email_is_422(client: httpx.AsyncClient, email: str) -> None:
    r = await client.post(f"{AUTH}/signup", json={"email": email, "password": PASSWORD})
    assert_problem(r, 422)


async def test_login_json_and_oauth2_form(client: httpx.AsyncClient) -> None:
    acct = await make_account(client, email="carol@example.com")
    r = await client.post(
        f"{AUTH}/login", json={"email": "CAROL@example.com", "password": PASSWORD}
    )
    assert r.status_code == 200
    assert r.json()["user"]["id"] == acct.id
    r = await client.post(
        f"{AUTH}/login", data={"username": "carol@example.com", "password": PASSWORD}
    )
    assert r.status_code == 200
    assert r.json()["token_type"] == "bearer"
    me = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
    )
    assert me.json()["id"] == acct.id


async def test_wrong_password_and_unknown_email_look_the_same(client: httpx.AsyncClient) -> None:
    await make_account(client, email="dave@example.com")
    wrong = await client.post(
        f"{AUTH}/login", json={"email": "dave@example.com", "password": "nope-nope-nope"}
    )
    unknown = await client.post(
        f"{AUTH}/login", json={"email": "nobody@example.com", "password": "nope-nope-nope"}
    )
    a, b = assert_problem(wrong, 401), assert_problem(unknown, 401)
    a.pop("request_id"), b.pop("request_id")
    assert a == b
    assert wrong.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        ("{not json", {"content-type": "application/json"}),
        ("email=a", {"content-type": "text/plain"}),
        ('{"email": "a@b.co"}', {"content-type": "application/json"}),
        ('{"email": 5, "password": []}', {"content-type": "application/json"}),
    ],
)
async def test_login_bad_bodies_are_422(
    client: httpx.AsyncClient, content: str, headers: dict[str, str]
) -> None:
    assert_problem(await client.post(f"{AUTH}/login", content=content, headers=headers), 422)


async def test_refresh_rotates_and_reuse_revokes_family(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    r1 = await client.post(f"{AUTH}/refresh", json={"refresh_token": acct.refresh_token})
    assert r1.status_code == 200
    second = r1.json()["refresh_token"]
    assert second != acct.refresh_token
    # Reusing the rotated token: 401, and the family (including `second`) is revoked.
    assert_problem(
        await client.post(f"{AUTH}/refresh", json={"refresh_token": acct.refresh_token}), 401
    )
    assert_problem(await client.post(f"{AUTH}/refresh", json={"refresh_token": second}), 401)
    async with database.read_sessions() as s:
        live = await s.scalar(
            select(func.count()).select_from(RefreshToken).where(RefreshToken.revoked_at.is_(None))
        )
    assert live == 0


async def test_refresh_garbage_is_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post(f"{AUTH}/refresh", json={"refresh_token": "dr_nope"}), 401)


async def test_logout_revokes_refresh_token(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    r = await client.post(f"{AUTH}/logout", json={"refresh_token": acct.refresh_token})
    assert r.status_code == 204
    assert_problem(
        await client.post(f"{AUTH}/refresh", json={"refresh_token": acct.refresh_token}), 401
    )


async def test_patch_me_validates_timezone(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    r = await client.patch(
        "/api/v1/me", json={"name": "  Eve ", "timezone": "Europe/Paris"}, headers=acct.headers
    )
    assert r.status_code == 200
    assert (r.json()["name"], r.json()["timezone"]) == ("Eve", "Europe/Paris")
    for bad in ["Mars/Olympus", "", "../../etc/passwd", "Europe/Paris\x00"]:
        assert_problem(
            await client.patch("/api/v1/me", json={"timezone": bad}, headers=acct.headers), 422
        )
    assert_problem(
        await client.patch("/api/v1/me", json={"email": "x@y.z"}, headers=acct.headers), 422
    )
    assert (await client.get("/api/v1/me", headers=acct.headers)).json()[
        "timezone"
    ] == "Europe/Paris"


async def test_password_change_revokes_every_earlier_token(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    other = await client.post(f"{AUTH}/login", json={"email": acct.email, "password": PASSWORD})
    other_access = other.json()["access_token"]
    wrong = await client.post(
        "/api/v1/me/password",
        json={"current_password": "wrong-password", "new_password": "a brand new secret"},
        headers=acct.headers,
    )
    assert_problem(wrong, 403)
    r = await client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new secret"},
        headers=acct.headers,
    )
    assert r.status_code == 204
    for token in (acct.access_token, other_access):
        assert_problem(
            await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401
        )
    assert_problem(
        await client.post(f"{AUTH}/refresh", json={"refresh_token": acct.refresh_token}), 401
    )
    assert_problem(
        await client.post(f"{AUTH}/login", json={"email": acct.email, "password": PASSWORD}), 401
    )
    fresh = await client.post(
        f"{AUTH}/login", json={"email": acct.email, "password": "a brand new secret"}
    )
    assert fresh.status_code == 200


async def test_delete_account_needs_password_and_removes_data(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    keeper = await make_account(client)
    await make_task(client, acct, tags=["x"])
    kept = await make_task(client, keeper, tags=["x"])
    assert_problem(
        await client.request(
            "DELETE", "/api/v1/me", json={"password": "wrong-pass"}, headers=acct.headers
        ),
        403,
    )
    assert_problem(await client.request("DELETE", "/api/v1/me", headers=acct.headers), 422)
    r = await client.request(
        "DELETE", "/api/v1/me", json={"password": PASSWORD}, headers=acct.headers
    )
    assert r.status_code == 204
    assert_problem(await client.get("/api/v1/me", headers=acct.headers), 401)
    async with database.read_sessions() as s:
        assert await s.scalar(select(func.count()).select_from(User)) == 1
    r = await client.get("/api/v1/tasks", headers=keeper.headers)
    assert [t["id"] for t in r.json()["items"]] == [kept["id"]]


async def test_forged_tokens_are_401(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    ok = forge(claims_for(acct))
    assert (
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {ok}"})
    ).status_code == 200
    bad_tokens = forged_tokens(acct)
    for name, token in bad_tokens.items():
        r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, name
        assert_problem(r, 401)
        assert r.headers["www-authenticate"] == "Bearer", name
    for header_value in [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        acct.access_token,
        f"Token {acct.access_token}",
    ]:
        assert_problem(await client.get("/api/v1/me", headers={"Authorization": header_value}), 401)


async def test_rate_limit_gives_429_with_retry_after(database: Database, data_dir: Path) -> None:
    app = create_app(
        runtime_for(
            database, data_dir, AUTH_IP_RATE_LIMIT="100/minute", AUTH_ACCOUNT_RATE_LIMIT="3/minute"
        ),
        database,
    )
    try:
        async with make_client(app) as c:
            acct = await make_account(c, email="frank@example.com")
            for _ in range(3):
                await c.post(f"{AUTH}/login", json={"email": acct.email, "password": "wrong-wrong"})
            r = await c.post(f"{AUTH}/login", json={"email": acct.email, "password": PASSWORD})
            assert_problem(r, 429)
            # Within two minutes: until a retry is allowed, with the refused one counted.
            assert 1 <= int(r.headers["retry-after"]) <= 120
            # Another account from the same IP is not blocked by frank's limit.
            other = await make_account(c)
            assert (
                await c.post(f"{AUTH}/login", json={"email": other.email, "password": PASSWORD})
            ).status_code == 200
        app2 = create_app(runtime_for(database, data_dir, AUTH_IP_RATE_LIMIT="2/minute"), database)
        async with make_client(app2) as c:
            await make_account(c)
            await make_account(c)
            r = await c.post(
                f"{AUTH}/signup", json={"email": "g@example.com", "password": PASSWORD}
            )
            assert_problem(r, 429)
            assert int(r.headers["retry-after"]) >= 1
    finally:
        await truncate_all(database.engine)


async def test_login_rehashes_when_parameters_change(database: Database, data_dir: Path) -> None:
    weak = create_app(runtime_for(database, data_dir), database)
    strong = create_app(
        runtime_for(database, data_dir, ARGON2_MEMORY_KIB=2048, ARGON2_TIME_COST=2), database
    )
    try:
        async with make_client(weak) as c:
            acct = await make_account(c)
        async with database.read_sessions() as s:
            before = await s.scalar(select(User.password_hash).where(User.id == acct_uuid(acct)))
        assert before is not None and before.startswith("$argon2id$") and "m=1024,t=1" in before
        async with make_client(strong) as c:
            assert (
                await c.post(f"{AUTH}/login", json={"email": acct.email, "password": PASSWORD})
            ).status_code == 200
        async with database.read_sessions() as s:
            after = await s.scalar(select(User.password_hash).where(User.id == acct_uuid(acct)))
        assert after is not None and "m=2048,t=2" in after
    finally:
        await truncate_all(database.engine)


def acct_uuid(acct: Account) -> object:
    import uuid

    return uuid.UUID(acct.id)


async def test_access_token_claims_are_pinned(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    header = jwt.get_unverified_header(acct.access_token)
    assert header["alg"] == "HS256"
    claims = jwt.decode(acct.access_token, TEST_SECRET, algorithms=["HS256"], audience="doable-api")
    assert claims["sub"] == acct.id and claims["iss"] == "doable"
    lifetime = datetime.fromtimestamp(claims["exp"], UTC) - datetime.fromtimestamp(
        claims["iat"], UTC
    )
    assert lifetime == timedelta(minutes=15)
