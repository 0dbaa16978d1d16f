"""Sign-up modes, admins (list, disable, enable, invite), and password-reset links, over HTTP:
replayed, expired, forged and misdirected links each get a clear 4xx."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from doable.app import create_app
from doable.auth.models import User
from doable.db import Database, utcnow
from tests.conftest import TEST_SECRET, make_client, runtime_for, truncate_all
from tests.factories import (
    PASSWORD,
    Account,
    assert_problem,
    bearer,
    make_account,
    make_api_token,
    make_task,
)
from tests.webclient import WebClient

AUTH = "/api/v1/auth"
ADMIN = "/api/v1/admin"
NEW_PASSWORD = "a brand new passphrase"


async def promote(database: Database, email: str, *, admin: bool = True) -> None:
    """Name an admin, as `doable users set-admin` does (tests/test_accounts_cli.py runs it)."""
    async with database.write_sessions() as session:
        await session.execute(update(User).where(User.email == email).values(is_admin=admin))
        await session.commit()


async def make_admin(client: httpx.AsyncClient, database: Database) -> Account:
    acct = await make_account(client)
    await promote(database, acct.email)
    return acct


async def user_row(database: Database, email: str) -> User:
    async with database.read_sessions() as session:
        user = await session.scalar(select(User).where(User.email == email))
    assert user is not None
    return user


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


Build = Callable[..., Any]


@pytest.fixture
def app_with(database: Database, data_dir: Path) -> Build:
    """An app with other settings (SIGNUP=…) on the session's database; yields (client, app)."""

    @asynccontextmanager
    async def build(**settings: Any) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
        app = create_app(runtime_for(database, data_dir, **settings), database)
        try:
            async with make_client(app) as client:
                yield client, app
        finally:
            await truncate_all(database.engine)

    return build


async def invitation(client: httpx.AsyncClient, admin: Account, email: str) -> str:
    r = await client.post(f"{ADMIN}/invitations", json={"email": email}, headers=admin.headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["email"] == email.strip().lower()
    assert body["url"].startswith("http://testserver/invite/")
    return token_of(body["url"])


async def reset_link(client: httpx.AsyncClient, admin: Account, user_id: str) -> str:
    r = await client.post(f"{ADMIN}/users/{user_id}/reset-link", headers=admin.headers)
    assert r.status_code == 201, r.text
    assert r.json()["url"].startswith("http://testserver/reset-password/")
    return token_of(r.json()["url"])


def signup_body(email: str, **extra: Any) -> dict[str, Any]:
    return {"email": email, "password": PASSWORD, **extra}


# Sign-up modes


async def test_open_is_the_default_and_admits_anyone(client: httpx.AsyncClient) -> None:
    r = await client.post(f"{AUTH}/signup", json=signup_body("anyone@example.com"))
    assert r.status_code == 201, r.text


async def test_closed_refuses_every_sign_up_even_with_an_invitation(
    app_with: Build, database: Database
) -> None:
    async with app_with() as (open_client, _):  # invitations made while open still exist
        admin = await make_admin(open_client, database)
        token = await invitation(open_client, admin, "late@example.com")
        async with app_with(SIGNUP="closed") as (client, _):
            for body in (
                signup_body("new@example.com"),
                signup_body("late@example.com", invitation=token),
            ):
                problem = assert_problem(await client.post(f"{AUTH}/signup", json=body), 403)
                assert problem["type"].endswith("/signup-closed")
                assert problem["detail"] == (
                    "Sign-up is closed on this server; an admin can create your account"
                )
            web = WebClient(client)
            page = await web.get("/signup")
            assert page.status_code == 200 and "Sign-up is closed on this server" in page.text
            assert 'action="/signup"' not in page.text
            r = await web.post("/signup", {"email": "new@example.com", "password": PASSWORD})
            assert r.status_code == 403 and "Sign-up is closed" in r.text
            login = await web.get("/login")
            assert 'href="/signup"' not in login.text
            async with database.read_sessions() as session:
                emails = set((await session.execute(select(User.email))).scalars())
            assert emails == {admin.email}


async def test_invite_admits_only_the_invited_email_once(
    app_with: Build, database: Database
) -> None:
    async with app_with(SIGNUP="invite") as (client, _):
        # No sign-up without an invitation: the first admin comes from the CLI (promote).
        problem = assert_problem(
            await client.post(f"{AUTH}/signup", json=signup_body("first@example.com")), 403
        )
        assert problem["type"].endswith("/invitation-required")
        admin = await make_admin_direct(client, database)

        token = await invitation(client, admin, "Guest@Example.com")
        # Another email with this invitation: refused, whatever the case of the email.
        problem = assert_problem(
            await client.post(
                f"{AUTH}/signup", json=signup_body("intruder@example.com", invitation=token)
            ),
            403,
        )
        assert problem["type"].endswith("/invitation-email-mismatch")
        r = await client.post(
            f"{AUTH}/signup", json=signup_body("GUEST@example.com", invitation=token)
        )
        assert r.status_code == 201, r.text
        assert r.json()["user"]["email"] == "guest@example.com"
        # Replayed: the account exists, so the link is spent.
        problem = assert_problem(
            await client.post(
                f"{AUTH}/signup", json=signup_body("guest@example.com", invitation=token)
            ),
            410,
        )
        assert problem["detail"] == "This invitation was already used; log in instead"
        # An invitation for an email that has an account: the admin is told.
        r = await client.post(
            f"{ADMIN}/invitations", json={"email": "guest@example.com"}, headers=admin.headers
        )
        assert_problem(r, 409)


@pytest.mark.parametrize(
    "forge",
    [
        "truncated",
        "flipped",
        "other-key",
        "reset-as-invite",
        "access-token",
        "alg-none",
        "garbage",
        "huge",
    ],
)
async def test_forged_invitations_are_400(app_with: Build, database: Database, forge: str) -> None:
    from doable.accounts import links

    now = utcnow()
    good, _ = links.make(
        TEST_SECRET, "invite", {"email": "x@example.com"}, now=now, ttl=timedelta(days=1)
    )
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = {
        "truncated": good[:-5],
        "flipped": f"{header}.{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}"
        f"{signature[-1]}",
        "other-key": jwt.encode(claims, b"another-secret-key-of-32-bytes-or-more!", "HS256"),
        "reset-as-invite": links.make(
            TEST_SECRET, "reset", {"email": "x@example.com"}, now=now, ttl=timedelta(days=1)
        )[0],
        "access-token": jwt.encode({**claims, "typ": "access"}, TEST_SECRET, "HS256"),
        "alg-none": jwt.encode(claims, "", "none"),
        "garbage": "not-a-token",
        "huge": "a" * 1999,
    }[forge]
    async with app_with(SIGNUP="invite") as (client, _):
        r = await client.post(
            f"{AUTH}/signup", json=signup_body("x@example.com", invitation=forged)
        )
        problem = assert_problem(r, 400)
        assert problem["type"].endswith("/invalid-link")
        web = WebClient(client)
        page = await web.get(f"/invite/{forged}")
        assert page.status_code == 400 and "This link is not valid" in page.text
        async with database.read_sessions() as session:
            assert (await session.execute(select(User.id))).first() is None


async def test_an_expired_invitation_is_410(app_with: Build, database: Database) -> None:
    async with app_with(SIGNUP="invite", INVITE_LINK_DAYS=2) as (client, app):
        admin = await make_admin_direct(client, database)
        token = await invitation(client, admin, "slow@example.com")
        later = utcnow() + timedelta(days=2, seconds=1)
        app.state.doable.clock = lambda: later
        r = await client.post(
            f"{AUTH}/signup", json=signup_body("slow@example.com", invitation=token)
        )
        problem = assert_problem(r, 410)
        assert problem["detail"] == "This link has expired; ask for a new one"
        app.state.doable.clock = utcnow
        r = await client.post(
            f"{AUTH}/signup", json=signup_body("slow@example.com", invitation=token)
        )
        assert r.status_code == 201, r.text


async def make_admin_direct(client: httpx.AsyncClient, database: Database) -> Account:
    """An admin on a server whose sign-up is not open: created, then promoted, as the CLI
    does (`doable users create --admin`)."""
    from doable.accounts import links

    email = f"admin-{utcnow().timestamp()}@example.com"
    token, _ = links.make(TEST_SECRET, "invite", {"email": email}, now=utcnow(), ttl=timedelta(1))
    r = await client.post(f"{AUTH}/signup", json=signup_body(email, invitation=token))
    assert r.status_code == 201, r.text
    await promote(database, email)
    body = r.json()
    return Account(body["user"]["id"], email, PASSWORD, body["access_token"], "")


async def test_web_sign_up_through_an_invitation(app_with: Build, database: Database) -> None:
    async with app_with(SIGNUP="invite") as (client, app):
        admin = await make_admin_direct(client, database)
        token = await invitation(client, admin, "webguest@example.com")
        web = WebClient(client)
        page = await web.get("/signup")
        assert "needs an invitation" in page.text and 'action="/signup"' not in page.text
        page = await web.get(f"/invite/{token}")
        assert page.status_code == 200
        assert "You were invited to sign up as <strong>webguest@example.com</strong>" in page.text
        assert 'value="webguest@example.com" readonly' in page.text
        other = await web.post(
            "/signup",
            {"email": "someone@example.com", "password": PASSWORD, "invitation": token},
        )
        assert other.status_code == 403 and "for another email address" in other.text
        r = await web.post(
            "/signup",
            {"email": "webguest@example.com", "password": PASSWORD, "invitation": token},
        )
        assert r.status_code == 303 and r.headers["location"] == "/tasks"
        async with make_client(app) as second_browser:
            replay = await WebClient(second_browser).get(f"/invite/{token}")
        assert replay.status_code == 410 and "already used" in replay.text


# Admins


async def test_admin_routes_need_an_admin_with_a_password_session(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await make_admin(client, database)
    user = await make_account(client)
    api_token = (await make_api_token(client, admin, "tasks:read", "account:read"))["token"]
    routes = [
        ("GET", f"{ADMIN}/users", None),
        ("POST", f"{ADMIN}/users/{user.id}/disable", None),
        ("POST", f"{ADMIN}/users/{user.id}/enable", None),
        ("POST", f"{ADMIN}/users/{user.id}/reset-link", None),
        ("POST", f"{ADMIN}/invitations", {"email": "z@example.com"}),
    ]
    for method, path, body in routes:
        assert_problem(await client.request(method, path, json=body), 401)
        r = await client.request(method, path, json=body, headers=user.headers)
        assert assert_problem(r, 403)["type"].endswith("/admin-required"), path
        r = await client.request(method, path, json=body, headers=bearer(api_token))
        assert assert_problem(r, 403)["type"].endswith("/session-required"), path
    # Nothing changed: the user was never disabled.
    assert (await user_row(database, user.email)).disabled_at is None
    r = await client.get(f"{ADMIN}/users", headers=admin.headers)
    assert r.status_code == 200
    assert [(u["email"], u["is_admin"], u["disabled_at"]) for u in r.json()["items"]] == sorted(
        [(admin.email, True, None), (user.email, False, None)]
    )
    unknown = "00000000-0000-0000-0000-000000000001"
    for action in ("disable", "enable", "reset-link"):
        r = await client.post(f"{ADMIN}/users/{unknown}/{action}", headers=admin.headers)
        assert_problem(r, 404)
    r = await client.post(f"{ADMIN}/users/not-a-uuid/disable", headers=admin.headers)
    assert_problem(r, 422)


async def test_the_user_list_pages_by_email(client: httpx.AsyncClient, database: Database) -> None:
    admin = await make_admin(client, database)
    for n in range(3):
        await make_account(client, email=f"page{n}@example.com")
    r = await client.get(f"{ADMIN}/users", params={"limit": 2}, headers=admin.headers)
    first = r.json()
    r = await client.get(
        f"{ADMIN}/users", params={"limit": 2, "after": first["next_cursor"]}, headers=admin.headers
    )
    second = r.json()
    emails = [u["email"] for u in first["items"] + second["items"]]
    assert emails == sorted(
        [admin.email, "page0@example.com", "page1@example.com", "page2@example.com"]
    )
    assert second["next_cursor"] == emails[-1]
    r = await client.get(
        f"{ADMIN}/users", params={"limit": 2, "after": emails[-1]}, headers=admin.headers
    )
    assert r.json() == {"items": [], "next_cursor": None}


async def test_a_disabled_user_cannot_sign_in_and_loses_every_credential(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await make_admin(client, database)
    victim = await make_account(client)
    await make_task(client, victim, title="kept", due="2031-01-02")
    api_token = (await make_api_token(client, victim, "tasks:read"))["token"]
    feed = await client.post("/api/v1/feeds", json={"name": "f"}, headers=victim.headers)
    feed_url = feed.json()["url"]
    web = WebClient(client)
    await web.get("/login")
    r = await web.post("/login", {"email": victim.email, "password": PASSWORD})
    assert r.status_code == 303
    assert (await web.get("/tasks")).status_code == 200
    assert (await client.get(feed_url)).status_code == 200

    r = await client.post(f"{ADMIN}/users/{victim.id}/disable", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["disabled_at"] is not None and r.json()["email"] == victim.email

    wrong = await client.post(
        f"{AUTH}/login", json={"email": victim.email, "password": "wrong-wrong"}
    )
    disabled = await client.post(
        f"{AUTH}/login", json={"email": victim.email, "password": PASSWORD}
    )
    a, b = assert_problem(wrong, 401), assert_problem(disabled, 401)
    a.pop("request_id"), b.pop("request_id")
    assert a == b  # no telling a disabled account from a wrong password
    assert_problem(await client.get("/api/v1/me", headers=victim.headers), 401)
    assert_problem(await client.get("/api/v1/tasks", headers=bearer(api_token)), 401)
    r = await client.post(f"{AUTH}/refresh", json={"refresh_token": victim.refresh_token})
    assert_problem(r, 401)
    assert (await client.get(feed_url)).status_code == 404
    page = await web.get("/tasks")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    r = await web.post("/login", {"email": victim.email, "password": PASSWORD})
    assert r.status_code == 401 and "Email or password is incorrect" in r.text

    r = await client.post(f"{ADMIN}/users/{victim.id}/enable", headers=admin.headers)
    assert r.status_code == 200 and r.json()["disabled_at"] is None
    r = await client.post(f"{AUTH}/login", json={"email": victim.email, "password": PASSWORD})
    assert r.status_code == 200
    tasks = await client.get("/api/v1/tasks", headers=bearer(r.json()["access_token"]))
    assert [t["title"] for t in tasks.json()["items"]] == ["kept"]
    # What was revoked stays revoked.
    assert_problem(await client.get("/api/v1/tasks", headers=bearer(api_token)), 401)
    assert (await client.get(feed_url)).status_code == 404


async def test_the_last_admin_cannot_disable_or_unname_themselves(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await make_admin(client, database)
    r = await client.post(f"{ADMIN}/users/{admin.id}/disable", headers=admin.headers)
    problem = assert_problem(r, 409)
    assert problem["detail"].startswith("This is the last enabled admin")
    assert (await user_row(database, admin.email)).disabled_at is None
    # With a second admin, either may step down; then the other is the last.
    second = await make_admin(client, database)
    r = await client.post(f"{ADMIN}/users/{admin.id}/disable", headers=admin.headers)
    assert r.status_code == 200
    assert_problem(await client.get(f"{ADMIN}/users", headers=admin.headers), 401)
    r = await client.post(f"{ADMIN}/users/{second.id}/disable", headers=second.headers)
    assert_problem(r, 409)


async def test_the_admin_page(client: httpx.AsyncClient, database: Database) -> None:
    web = WebClient(client)
    await web.signup()
    assert (await web.get("/admin")).status_code == 403
    assert "/admin" not in (await web.get("/account")).text
    await promote(database, web.email)
    assert 'href="/admin"' in (await web.get("/account")).text
    other = await make_account(client, email="member@example.com")
    page = await web.get("/admin")
    assert page.status_code == 200 and "member@example.com" in page.text
    r = await web.post("/admin/invitations", {"email": "invitee@example.com"})
    assert r.status_code == 201 and "http://testserver/invite/" in r.text
    r = await web.post("/admin/invitations", {"email": "member@example.com"})
    assert r.status_code == 409 and "already exists" in r.text
    r = await web.post("/admin/invitations", {"email": "not an email"})
    assert r.status_code == 422
    r = await web.post(f"/admin/users/{other.id}/reset-link")
    assert r.status_code == 200 and "http://testserver/reset-password/" in r.text
    r = await web.post(f"/admin/users/{other.id}/disable")
    assert r.status_code == 303 and r.headers["location"] == "/admin?saved=disabled"
    assert (await user_row(database, other.email)).disabled_at is not None
    r = await web.post(f"/admin/users/{other.id}/enable")
    assert r.status_code == 303
    assert (await user_row(database, other.email)).disabled_at is None
    me = await user_row(database, web.email)
    r = await web.post(f"/admin/users/{me.id}/disable")
    assert r.status_code == 409 and "last enabled admin" in r.text


# Password reset


async def test_a_reset_link_sets_the_password_once_and_revokes_everything(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await make_admin(client, database)
    user = await make_account(client)
    api_token = (await make_api_token(client, user, "tasks:read"))["token"]
    feed_url = (
        await client.post("/api/v1/feeds", json={"name": "f"}, headers=user.headers)
    ).json()["url"]
    token = await reset_link(client, admin, user.id)
    r = await client.post(
        f"{AUTH}/password-reset/confirm", json={"token": token, "new_password": "short"}
    )
    assert_problem(r, 422)
    r = await client.post(
        f"{AUTH}/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert r.status_code == 204, r.text
    # A password change: every credential of the account is gone.
    assert_problem(await client.get("/api/v1/me", headers=user.headers), 401)
    assert_problem(await client.get("/api/v1/tasks", headers=bearer(api_token)), 401)
    assert_problem(
        await client.post(f"{AUTH}/refresh", json={"refresh_token": user.refresh_token}), 401
    )
    assert (await client.get(feed_url)).status_code == 404
    old = await client.post(f"{AUTH}/login", json={"email": user.email, "password": PASSWORD})
    assert_problem(old, 401)
    new = await client.post(f"{AUTH}/login", json={"email": user.email, "password": NEW_PASSWORD})
    assert new.status_code == 200
    # Replayed: the password it was made for is gone.
    r = await client.post(
        f"{AUTH}/password-reset/confirm", json={"token": token, "new_password": "yet another one!"}
    )
    problem = assert_problem(r, 410)
    assert problem["type"].endswith("/link-expired")
    assert (
        await client.post(f"{AUTH}/login", json={"email": user.email, "password": NEW_PASSWORD})
    ).status_code == 200


async def test_any_password_change_ends_earlier_reset_links(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await make_admin(client, database)
    user = await make_account(client)
    token = await reset_link(client, admin, user.id)
    r = await client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=user.headers,
    )
    assert r.status_code == 204
    r = await client.post(
        f"{AUTH}/password-reset/confirm", json={"token": token, "new_password": "taken over!!"}
    )
    assert_problem(r, 410)
    # A disabled account's link does not work either (disabling signs it out everywhere).
    token = await reset_link(client, admin, user.id)
    await client.post(f"{ADMIN}/users/{user.id}/disable", headers=admin.headers)
    await client.post(f"{ADMIN}/users/{user.id}/enable", headers=admin.headers)
    r = await client.post(
        f"{AUTH}/password-reset/confirm", json={"token": token, "new_password": "taken over!!"}
    )
    assert_problem(r, 410)


async def test_expired_and_forged_reset_links(
    client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    from doable.accounts import links

    admin = await make_admin(client, database)
    user = await make_account(client)
    token = await reset_link(client, admin, user.id)
    later = utcnow() + timedelta(minutes=60, seconds=1)
    app.state.doable.clock = lambda: later
    r = await client.post(
        f"{AUTH}/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert assert_problem(r, 410)["detail"] == "This link has expired; ask for a new one"
    app.state.doable.clock = utcnow
    invite, _ = links.make(
        TEST_SECRET, "invite", {"sub": user.id, "bind": "x"}, now=utcnow(), ttl=timedelta(1)
    )
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = {
        "invite-as-reset": invite,
        "other-key": jwt.encode(claims, b"another-secret-key-of-32-bytes-or-more!", "HS256"),
        "other-user": links.make(
            TEST_SECRET,
            "reset",
            {"sub": admin.id, "bind": claims["bind"]},
            now=utcnow(),
            ttl=timedelta(1),
        )[0],
        "no-user": links.make(
            TEST_SECRET, "reset", {"sub": "nobody", "bind": "x"}, now=utcnow(), ttl=timedelta(1)
        )[0],
        "truncated": token[:-3],
    }
    for name, value in forged.items():
        r = await client.post(
            f"{AUTH}/password-reset/confirm", json={"token": value, "new_password": NEW_PASSWORD}
        )
        # "other-user" is genuinely signed, but bound to another account's password: spent.
        assert_problem(r, 410 if name == "other-user" else 400)
    # The real link still works: nothing above used it.
    r = await client.post(
        f"{AUTH}/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert r.status_code == 204


async def test_asking_for_a_reset_says_the_same_for_any_email(
    client: httpx.AsyncClient,
) -> None:
    user = await make_account(client)
    known = await client.post(f"{AUTH}/password-reset", json={"email": user.email})
    unknown = await client.post(f"{AUTH}/password-reset", json={"email": "nobody@example.com"})
    assert (
        (known.status_code, known.content) == (unknown.status_code, unknown.content) == (202, b"")
    )
    assert_problem(await client.post(f"{AUTH}/password-reset", json={"email": "nope"}), 422)
    # Nothing changed for the account.
    r = await client.post(f"{AUTH}/login", json={"email": user.email, "password": PASSWORD})
    assert r.status_code == 200


async def test_the_reset_page(client: httpx.AsyncClient, database: Database) -> None:
    admin = await make_admin(client, database)
    user = await make_account(client, email="pager@example.com")
    token = await reset_link(client, admin, user.id)
    web = WebClient(client)
    page = await web.get(f"/reset-password/{token}")
    assert page.status_code == 200 and "For <strong>pager@example.com</strong>" in page.text
    r = await web.post(f"/reset-password/{token}", {"new_password": "password"})
    assert r.status_code == 422 and "too common" in r.text
    r = await web.post(f"/reset-password/{token}", {"new_password": NEW_PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/login?reset=1"
    assert "Your password was changed" in (await web.get("/login?reset=1")).text
    again = await web.get(f"/reset-password/{token}")
    assert again.status_code == 410 and "already used" in again.text
    r = await web.post(f"/reset-password/{token}", {"new_password": "another passphrase"})
    assert r.status_code == 410
    assert (await web.get("/reset-password/forged.token.here")).status_code == 400


# An external issuer's first token


async def test_external_first_sign_in_needs_open_sign_up(
    app_with: Build, database: Database
) -> None:
    secret = "an-external-shared-secret-of-32-bytes-at-least"
    settings = {
        "AUTH_JWT_SECRET": secret,
        "AUTH_JWT_ISSUER": "https://app.example.com",
        "AUTH_JWT_AUDIENCE": "https://app.example.com",
    }
    now = int(utcnow().timestamp())

    def token(sub: str) -> str:
        claims = {
            "sub": sub,
            "iss": "https://app.example.com",
            "aud": "https://app.example.com",
            "iat": now,
            "exp": now + 600,
        }
        return jwt.encode(claims, secret, "HS256")

    async with app_with(**settings) as (client, _):
        r = await client.get("/api/v1/tasks", headers=bearer(token("known")))
        assert r.status_code == 200
        async with app_with(SIGNUP="invite", **settings) as (invite_client, _):
            r = await invite_client.get("/api/v1/tasks", headers=bearer(token("stranger")))
            problem = assert_problem(r, 403)
            assert problem["type"].endswith("/signup-closed")
            assert "cannot create an account" in problem["detail"]
            # Known subjects keep working.
            r = await invite_client.get("/api/v1/tasks", headers=bearer(token("known")))
            assert r.status_code == 200
            async with database.read_sessions() as session:
                assert len((await session.execute(select(User.id))).all()) == 1
            # A disabled external account is refused.
            async with database.write_sessions() as session:
                await session.execute(update(User).values(disabled_at=utcnow()))
                await session.commit()
            r = await invite_client.get("/api/v1/tasks", headers=bearer(token("known")))
            assert_problem(r, 401)


# The check other sign-up paths reuse (a project invitation's link, issue 16)


@pytest.mark.parametrize(
    ("mode", "admission", "refused"),
    [
        ("open", None, None),
        ("open", "project_invitation", None),
        ("invite", None, "InvitationRequired"),
        ("invite", "signup_invitation", None),
        ("invite", "project_invitation", None),
        ("invite", "other-email", "InvitationForAnotherEmail"),
        ("closed", None, "SignupClosed"),
        ("closed", "project_invitation", "SignupClosed"),
    ],
)
def test_signup_allowed(
    tmp_path: Path, mode: str, admission: str | None, refused: str | None
) -> None:
    from doable.accounts import service as accounts
    from tests.conftest import fast_settings

    settings = fast_settings(tmp_path, SIGNUP=mode.upper())
    given = None
    if admission == "other-email":
        given = accounts.Admission("someone@example.com")
    elif admission is not None:
        given = accounts.Admission("guest@example.com", admission)  # type: ignore[arg-type]
    if refused is None:
        assert accounts.signup_allowed(settings, given, " Guest@Example.com") is None
    else:
        with pytest.raises(getattr(accounts, refused)):
            accounts.signup_allowed(settings, given, "guest@example.com")
