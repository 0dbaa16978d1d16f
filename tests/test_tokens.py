"""Personal API tokens: created once and stored hashed, scoped, revocable, and never a way to
manage the account or open a web session (the hole of Vikunja's CVE-2026-57458)."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import func, select, update

from doable.auth.dependencies import CurrentUser
from doable.auth.models import ApiToken, User, WebSession
from doable.db import Database
from doable.web.security import SESSION_COOKIE
from tests.factories import (
    PASSWORD,
    Account,
    assert_problem,
    bearer,
    make_account,
    make_api_token,
    make_task,
)

TOKENS = "/api/v1/tokens"
ALL = ("tasks:read", "tasks:write", "account:read")
NOBODY = "00000000-0000-4000-8000-000000000000"

# What every API route allows to an API token: the scope it needs, "session" (access tokens
# only) or "public" (no credential). A new route without a rule fails the first test.
RULES: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/auth/signup"): "public",
    ("POST", "/api/v1/auth/login"): "public",
    ("POST", "/api/v1/auth/refresh"): "public",
    ("POST", "/api/v1/auth/logout"): "public",
    ("GET", "/healthz"): "public",
    ("GET", "/readyz"): "public",
    ("GET", "/api/v1/me"): "account:read",
    ("PATCH", "/api/v1/me"): "session",
    ("DELETE", "/api/v1/me"): "session",
    ("POST", "/api/v1/me/password"): "session",
    ("GET", "/api/v1/tokens"): "session",
    ("POST", "/api/v1/tokens"): "session",
    ("DELETE", "/api/v1/tokens/{token_id}"): "session",
    ("GET", "/api/v1/tasks"): "tasks:read",
    ("GET", "/api/v1/tasks/{task_id}"): "tasks:read",
    ("GET", "/api/v1/tags"): "tasks:read",
    ("GET", "/api/v1/tasks/{task_id}/reminders"): "tasks:read",
    ("POST", "/api/v1/tasks/{task_id}/reminders"): "tasks:write",
    ("DELETE", "/api/v1/tasks/{task_id}/reminders/{reminder_id}"): "tasks:write",
    ("GET", "/api/v1/notifications"): "tasks:read",
    ("POST", "/api/v1/notifications/{notification_id}/read"): "tasks:write",
    ("POST", "/api/v1/notifications/read-all"): "tasks:write",
    ("GET", "/api/v1/events"): "tasks:read",
    ("GET", "/api/{user_id}/tasks"): "tasks:read",
    ("GET", "/api/{user_id}/tasks/{task_id}"): "tasks:read",
    ("POST", "/api/v1/tasks"): "tasks:write",
    # Parsing writes nothing: reading is enough.
    ("POST", "/api/v1/tasks/parse"): "tasks:read",
    ("POST", "/api/v1/tasks/quick"): "tasks:write",
    ("PATCH", "/api/v1/tasks/{task_id}"): "tasks:write",
    ("PUT", "/api/v1/tasks/{task_id}"): "tasks:write",
    ("DELETE", "/api/v1/tasks/{task_id}"): "tasks:write",
    ("POST", "/api/v1/tasks/{task_id}/complete"): "tasks:write",
    ("POST", "/api/v1/tasks/{task_id}/reopen"): "tasks:write",
    ("POST", "/api/v1/tasks/{task_id}/skip"): "tasks:write",
    ("GET", "/api/v1/tasks/{task_id}/completions"): "tasks:read",
    ("PATCH", "/api/v1/tags/{tag_id}"): "tasks:write",
    ("GET", "/api/v1/projects"): "tasks:read",
    ("POST", "/api/v1/projects"): "tasks:write",
    ("GET", "/api/v1/projects/{project_id}"): "tasks:read",
    ("PATCH", "/api/v1/projects/{project_id}"): "tasks:write",
    ("DELETE", "/api/v1/projects/{project_id}"): "tasks:write",
    ("GET", "/api/v1/projects/{project_id}/sections"): "tasks:read",
    ("POST", "/api/v1/projects/{project_id}/sections"): "tasks:write",
    # Sharing is part of a project: the same scopes as /projects.
    ("GET", "/api/v1/projects/{project_id}/members"): "tasks:read",
    ("PATCH", "/api/v1/projects/{project_id}/members/{member_id}"): "tasks:write",
    ("DELETE", "/api/v1/projects/{project_id}/members/{member_id}"): "tasks:write",
    ("DELETE", "/api/v1/projects/{project_id}/members/me"): "tasks:write",
    ("POST", "/api/v1/projects/{project_id}/owner"): "tasks:write",
    ("POST", "/api/v1/projects/{project_id}/invitations"): "tasks:write",
    ("GET", "/api/v1/projects/{project_id}/invitations"): "tasks:read",
    ("DELETE", "/api/v1/projects/{project_id}/invitations/{invitation_id}"): "tasks:write",
    ("GET", "/api/v1/invitations"): "tasks:read",
    ("POST", "/api/v1/invitations/accept"): "tasks:write",
    ("POST", "/api/v1/invitations/{received_id}/accept"): "tasks:write",
    ("POST", "/api/v1/invitations/{received_id}/decline"): "tasks:write",
    ("GET", "/api/v1/sections/{section_id}"): "tasks:read",
    ("PATCH", "/api/v1/sections/{section_id}"): "tasks:write",
    ("DELETE", "/api/v1/sections/{section_id}"): "tasks:write",
    ("DELETE", "/api/v1/tags/{tag_id}"): "tasks:write",
    ("POST", "/api/{user_id}/tasks"): "tasks:write",
    ("PUT", "/api/{user_id}/tasks/{task_id}"): "tasks:write",
    ("DELETE", "/api/{user_id}/tasks/{task_id}"): "tasks:write",
    ("PATCH", "/api/{user_id}/tasks/{task_id}/complete"): "tasks:write",
    # The export holds the account's settings too: it needs both scopes.
    ("GET", "/api/v1/export"): "tasks:read+account:read",
    ("POST", "/api/v1/import"): "tasks:write",
    ("GET", "/api/v1/feeds"): "tasks:read",
    # A feed URL outlives the token that made it: making one takes both scopes
    # (tests/test_feeds.py::test_api_token_scopes).
    ("POST", "/api/v1/feeds"): "tasks:read+tasks:write",
    ("POST", "/api/v1/feeds/{feed_id}/rotate"): "tasks:read+tasks:write",
    ("DELETE", "/api/v1/feeds/{feed_id}"): "tasks:read+tasks:write",
    ("GET", "/ical/{secret}.ics"): "public",  # gated by the secret in its path
    # Asking for a reset link, and using one: the link is the credential.
    ("POST", "/api/v1/auth/password-reset"): "public",
    ("POST", "/api/v1/auth/password-reset/confirm"): "public",
    # Admins, signed in with a password (tests/test_accounts.py: non-admins get 403).
    ("GET", "/api/v1/admin/users"): "session",
    ("POST", "/api/v1/admin/users/{user_id}/disable"): "session",
    ("POST", "/api/v1/admin/users/{user_id}/enable"): "session",
    ("POST", "/api/v1/admin/users/{user_id}/reset-link"): "session",
    ("POST", "/api/v1/admin/invitations"): "session",
    # Webhooks send tasks out after the token is gone: changing them takes both scopes.
    ("GET", "/api/v1/webhooks"): "tasks:read",
    ("GET", "/api/v1/webhooks/{webhook_id}"): "tasks:read",
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): "tasks:read",
    ("POST", "/api/v1/webhooks"): "tasks:read+tasks:write",
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): "tasks:read+tasks:write",
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): "tasks:read+tasks:write",
    ("POST", "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay"): (
        "tasks:read+tasks:write"
    ),
    # Comments and muting are part of a task and a project: the same scopes, by method.
    ("GET", "/api/v1/tasks/{task_id}/comments"): "tasks:read",
    ("POST", "/api/v1/tasks/{task_id}/comments"): "tasks:write",
    ("PATCH", "/api/v1/tasks/{task_id}/comments/{comment_id}"): "tasks:write",
    ("DELETE", "/api/v1/tasks/{task_id}/comments/{comment_id}"): "tasks:write",
    ("GET", "/api/v1/projects/{project_id}/mute"): "tasks:read",
    ("PUT", "/api/v1/projects/{project_id}/mute"): "tasks:write",
    ("GET", "/api/v1/projects/{project_id}/activity"): "tasks:read",
    ("GET", "/api/v1/tasks/{task_id}/activity"): "tasks:read",
    ("GET", "/api/v1/trash"): "tasks:read",
    ("DELETE", "/api/v1/trash"): "tasks:write",
    ("POST", "/api/v1/trash/{item_id}/restore"): "tasks:write",
    ("DELETE", "/api/v1/trash/{item_id}"): "tasks:write",
    ("POST", "/api/v1/notifications/{notification_id}/snooze"): "tasks:write",
    ("GET", "/api/v1/push/key"): "tasks:read",
    ("GET", "/api/v1/push/subscriptions"): "tasks:read",
    ("POST", "/api/v1/push/subscriptions"): "tasks:write",
    ("DELETE", "/api/v1/push/subscriptions/{subscription_id}"): "tasks:write",
    ("GET", "/api/v1/me/notifications"): "tasks:read",
    ("PATCH", "/api/v1/me/notifications"): "tasks:write",
    # A push button and a List-Unsubscribe link: the signed token in the body or query is
    # the credential.
    ("POST", "/api/v1/push/actions"): "public",
    ("POST", "/api/v1/email/unsubscribe"): "public",
}
# A body that succeeds, and the success status, for the routes a token may use.
ALLOWED: dict[tuple[str, str], tuple[dict[str, Any] | None, int]] = {
    ("GET", "/api/v1/me"): (None, 200),
    ("GET", "/api/v1/tasks"): (None, 200),
    ("GET", "/api/v1/tasks/{task_id}"): (None, 200),
    ("GET", "/api/v1/tags"): (None, 200),
    ("GET", "/api/v1/tasks/{task_id}/reminders"): (None, 200),
    ("POST", "/api/v1/tasks/{task_id}/reminders"): ({"before": "PT5M"}, 201),
    ("GET", "/api/v1/notifications"): (None, 200),
    ("POST", "/api/v1/notifications/read-all"): (None, 200),
    ("GET", "/api/{user_id}/tasks"): (None, 200),
    ("GET", "/api/{user_id}/tasks/{task_id}"): (None, 200),
    ("POST", "/api/v1/tasks"): ({"title": "by token"}, 201),
    ("POST", "/api/v1/tasks/parse"): ({"text": "by token tomorrow #t"}, 200),
    ("POST", "/api/v1/tasks/quick"): ({"text": "by token tomorrow #t"}, 201),
    ("PATCH", "/api/v1/tasks/{task_id}"): ({"title": "patched"}, 200),
    ("PUT", "/api/v1/tasks/{task_id}"): ({"title": "replaced"}, 200),
    ("DELETE", "/api/v1/tasks/{task_id}"): (None, 204),
    ("POST", "/api/v1/tasks/{task_id}/complete"): (None, 200),
    ("POST", "/api/v1/tasks/{task_id}/reopen"): (None, 200),
    # The task here does not repeat: with the scope, skip gets past the scope check to 409.
    ("POST", "/api/v1/tasks/{task_id}/skip"): (None, 409),
    ("GET", "/api/v1/tasks/{task_id}/completions"): (None, 200),
    ("PATCH", "/api/v1/tags/{tag_id}"): ({"color": "#abcdef"}, 200),
    ("GET", "/api/v1/projects"): (None, 200),
    ("POST", "/api/v1/projects"): ({"name": "by token"}, 201),
    ("GET", "/api/v1/projects/{project_id}"): (None, 200),
    ("PATCH", "/api/v1/projects/{project_id}"): ({"name": "patched"}, 200),
    ("DELETE", "/api/v1/projects/{project_id}"): (None, 204),
    ("GET", "/api/v1/projects/{project_id}/sections"): (None, 200),
    ("POST", "/api/v1/projects/{project_id}/sections"): ({"name": "by token"}, 201),
    ("GET", "/api/v1/projects/{project_id}/members"): (None, 200),
    ("POST", "/api/v1/projects/{project_id}/invitations"): ({"email": "new@example.com"}, 201),
    ("GET", "/api/v1/projects/{project_id}/invitations"): (None, 200),
    # With the scope, these get past the scope check to the rules behind it.
    ("DELETE", "/api/v1/projects/{project_id}/members/me"): (None, 409),
    ("POST", "/api/v1/invitations/accept"): ({"token": "x.y"}, 404),
    ("GET", "/api/v1/invitations"): (None, 200),
    ("GET", "/api/v1/sections/{section_id}"): (None, 200),
    ("PATCH", "/api/v1/sections/{section_id}"): ({"name": "patched"}, 200),
    ("DELETE", "/api/v1/sections/{section_id}"): (None, 204),
    ("DELETE", "/api/v1/tags/{tag_id}"): (None, 204),
    ("POST", "/api/{user_id}/tasks"): ({"title": "by token"}, 201),
    ("PUT", "/api/{user_id}/tasks/{task_id}"): ({"title": "replaced"}, 200),
    ("DELETE", "/api/{user_id}/tasks/{task_id}"): (None, 204),
    ("PATCH", "/api/{user_id}/tasks/{task_id}/complete"): (None, 200),
    ("GET", "/api/v1/export"): (None, 200),
    ("POST", "/api/v1/import"): ({"format": "doable.export", "version": 1}, 200),
    ("GET", "/api/v1/feeds"): (None, 200),
    ("GET", "/api/v1/webhooks"): (None, 200),
    ("GET", "/api/v1/tasks/{task_id}/comments"): (None, 200),
    ("POST", "/api/v1/tasks/{task_id}/comments"): ({"body": "by token"}, 201),
    ("GET", "/api/v1/projects/{project_id}/activity"): (None, 200),
    ("GET", "/api/v1/tasks/{task_id}/activity"): (None, 200),
    ("GET", "/api/v1/trash"): (None, 200),
    ("GET", "/api/v1/push/subscriptions"): (None, 200),
    ("GET", "/api/v1/me/notifications"): (None, 200),
    ("PATCH", "/api/v1/me/notifications"): ({"agenda": True, "agenda_time": "06:30"}, 200),
}
# Scoped routes tested elsewhere: the event stream (never ends in-process; tests/test_reminders.py
# checks its 403, tests/test_scheduler.py a token streaming from a real server) and the routes
# whose ids need a reminder or a notification (tests/test_reminders.py::test_scopes).
UNTESTED_HERE = {
    ("GET", "/api/v1/events"),
    # Need a webhook's id; the router declares tasks:read for all of /webhooks.
    ("GET", "/api/v1/webhooks/{webhook_id}"),
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"),
    ("DELETE", "/api/v1/tasks/{task_id}/reminders/{reminder_id}"),
    ("POST", "/api/v1/notifications/{notification_id}/read"),
    # Need a member or an invitation; the router declares tasks:read/tasks:write by method
    # for all of them (tests/test_sharing_invites.py covers what they do).
    ("PATCH", "/api/v1/projects/{project_id}/members/{member_id}"),
    ("DELETE", "/api/v1/projects/{project_id}/members/{member_id}"),
    ("POST", "/api/v1/projects/{project_id}/owner"),
    ("DELETE", "/api/v1/projects/{project_id}/invitations/{invitation_id}"),
    ("POST", "/api/v1/invitations/{received_id}/accept"),
    ("POST", "/api/v1/invitations/{received_id}/decline"),
    # Need a comment, a trash item, a notification or a subscription, or change settings the
    # other rows share; their routers declare tasks:read/tasks:write by method
    # (tests/test_comments.py, tests/test_trash.py, tests/test_push.py cover what they do).
    ("PATCH", "/api/v1/tasks/{task_id}/comments/{comment_id}"),
    ("DELETE", "/api/v1/tasks/{task_id}/comments/{comment_id}"),
    ("GET", "/api/v1/projects/{project_id}/mute"),
    ("PUT", "/api/v1/projects/{project_id}/mute"),
    ("DELETE", "/api/v1/trash"),
    ("POST", "/api/v1/trash/{item_id}/restore"),
    ("DELETE", "/api/v1/trash/{item_id}"),
    ("POST", "/api/v1/notifications/{notification_id}/snooze"),
    ("GET", "/api/v1/push/key"),
    ("POST", "/api/v1/push/subscriptions"),
    ("DELETE", "/api/v1/push/subscriptions/{subscription_id}"),
}
SESSION_ONLY: dict[tuple[str, str], dict[str, Any] | None] = {
    ("PATCH", "/api/v1/me"): {"name": "renamed"},
    ("DELETE", "/api/v1/me"): {"password": PASSWORD},
    ("POST", "/api/v1/me/password"): {
        "current_password": PASSWORD,
        "new_password": "a brand new passphrase",
    },
    ("GET", "/api/v1/tokens"): None,
    ("POST", "/api/v1/tokens"): {"name": "minted by a token", "scopes": list(ALL)},
    ("DELETE", "/api/v1/tokens/{token_id}"): None,
    ("GET", "/api/v1/admin/users"): None,
    ("POST", "/api/v1/admin/users/{user_id}/disable"): None,
    ("POST", "/api/v1/admin/users/{user_id}/enable"): None,
    ("POST", "/api/v1/admin/users/{user_id}/reset-link"): None,
    ("POST", "/api/v1/admin/invitations"): {"email": "invitee@example.com"},
}


def _api_routes(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


async def _count(database: Database, model: Any, **where: Any) -> int:
    async with database.read_sessions() as s:
        stmt = select(func.count()).select_from(model)
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        return int((await s.execute(stmt)).scalar_one())


async def _set_token(database: Database, token_id: str, **values: Any) -> None:
    async with database.write_sessions() as s:
        await s.execute(update(ApiToken).where(ApiToken.id == uuid.UUID(token_id)).values(**values))
        await s.commit()


async def _listed(client: httpx.AsyncClient, acct: Account) -> dict[str, dict[str, Any]]:
    r = await client.get(TOKENS, headers=acct.headers)
    assert r.status_code == 200, r.text
    return {t["id"]: t for t in r.json()}


async def test_every_route_has_a_rule(app: FastAPI) -> None:
    assert _api_routes(app) == set(RULES)
    single = {r for r, rule in RULES.items() if rule in ALL}
    # Every single-scope route is tried here or named in UNTESTED_HERE; ALLOWED also holds
    # routes that need two scopes (the export).
    multi = {r for r in ALLOWED if "+" in RULES[r]}
    assert single | multi == set(ALLOWED) | UNTESTED_HERE
    assert {r for r, rule in RULES.items() if rule == "session"} == set(SESSION_ONLY)


# Creating, listing, revoking


async def test_create_returns_the_token_once_and_stores_only_its_hash(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    r = await client.post(
        TOKENS,
        json={"name": "  backup script ", "scopes": ["tasks:write", "tasks:read", "tasks:read"]},
        headers=acct.headers,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    raw = created["token"]
    assert re.fullmatch(r"dbl_pat_[A-Za-z0-9_-]{43}", raw)
    assert created["name"] == "backup script"
    assert created["scopes"] == ["tasks:read", "tasks:write"]
    assert created["hint"] == raw[:12]
    assert created["expires_at"] is None and created["last_used_at"] is None
    assert set(created) == {
        "id",
        "name",
        "scopes",
        "hint",
        "created_at",
        "expires_at",
        "last_used_at",
        "token",
    }

    listed = await _listed(client, acct)
    assert list(listed) == [created["id"]]
    assert "token" not in listed[created["id"]]
    assert raw not in (await client.get(TOKENS, headers=acct.headers)).text

    async with database.read_sessions() as s:
        row = (await s.execute(select(ApiToken))).scalar_one()
    assert row.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {row.token_hash, row.hint, row.name, row.scopes}
    assert row.scopes == "tasks:read tasks:write"


async def test_list_is_newest_first_and_only_the_owners(client: httpx.AsyncClient) -> None:
    alice = await make_account(client)
    bob = await make_account(client)
    first = await make_api_token(client, alice, "tasks:read", name="first")
    second = await make_api_token(client, alice, "account:read", name="second")
    await make_api_token(client, bob, "tasks:read", name="bob's")
    r = await client.get(TOKENS, headers=alice.headers)
    assert [t["name"] for t in r.json()] == ["second", "first"]
    assert [t["id"] for t in r.json()] == [second["id"], first["id"]]


async def test_a_token_works_until_revoked(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    token = await make_api_token(client, acct, "tasks:read")
    assert (await client.get("/api/v1/tasks", headers=bearer(token["token"]))).status_code == 200
    r = await client.delete(f"{TOKENS}/{token['id']}", headers=acct.headers)
    assert r.status_code == 204
    r = await client.get("/api/v1/tasks", headers=bearer(token["token"]))
    assert assert_problem(r, 401)["detail"] == "The API token was revoked"
    assert r.headers["www-authenticate"] == "Bearer"
    assert await _listed(client, acct) == {}
    assert_problem(await client.delete(f"{TOKENS}/{token['id']}", headers=acct.headers), 404)


async def test_revoking_another_users_token_is_not_found(client: httpx.AsyncClient) -> None:
    alice = await make_account(client)
    bob = await make_account(client)
    token = await make_api_token(client, alice, "tasks:read")
    for token_id in (token["id"], NOBODY):
        r = await client.delete(f"{TOKENS}/{token_id}", headers=bob.headers)
        assert assert_problem(r, 404)["detail"] == "No API token with this id"
    assert (await client.get("/api/v1/tasks", headers=bearer(token["token"]))).status_code == 200


async def test_an_expired_token_is_401(client: httpx.AsyncClient, database: Database) -> None:
    acct = await make_account(client)
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    token = await make_api_token(client, acct, "tasks:read", expires_at=soon)
    assert token["expires_at"] is not None
    assert (await client.get("/api/v1/tasks", headers=bearer(token["token"]))).status_code == 200
    await _set_token(database, token["id"], expires_at=datetime.now(UTC) - timedelta(seconds=1))
    r = await client.get("/api/v1/tasks", headers=bearer(token["token"]))
    assert assert_problem(r, 401)["detail"] == "The API token has expired"
    # Still listed (so its owner sees why a script stopped), until revoked.
    assert list(await _listed(client, acct)) == [token["id"]]


@pytest.mark.parametrize(
    "credential",
    [
        "dbl_pat_",
        "dbl_pat_" + "A" * 43,
        "dbl_pat_\u00e9\u00e9",
        "dbl_pat_" + "x" * 5000,
        "DBL_PAT_" + "A" * 43,
    ],
    ids=["bare prefix", "unknown", "non-ascii", "5000 chars", "upper-case prefix"],
)
async def test_unknown_tokens_are_401(client: httpx.AsyncClient, credential: str) -> None:
    await make_account(client)
    r = await client.get(
        "/api/v1/tasks", headers={"Authorization": f"Bearer {credential}".encode()}
    )
    assert_problem(r, 401)


async def test_password_change_revokes_every_api_token(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    token = await make_api_token(client, acct, *ALL)
    r = await client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "another long passphrase"},
        headers=acct.headers,
    )
    assert r.status_code == 204
    r = await client.get("/api/v1/me", headers=bearer(token["token"]))
    assert assert_problem(r, 401)["detail"] == "The API token was revoked"


async def test_deleting_the_account_deletes_its_tokens(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    other = await make_account(client)
    token = await make_api_token(client, acct, *ALL)
    await make_api_token(client, other, "tasks:read")
    r = await client.request(
        "DELETE", "/api/v1/me", json={"password": PASSWORD}, headers=acct.headers
    )
    assert r.status_code == 204
    assert await _count(database, ApiToken, user_id=uuid.UUID(acct.id)) == 0
    assert await _count(database, ApiToken) == 1
    assert_problem(await client.get("/api/v1/me", headers=bearer(token["token"])), 401)


# Bad input: 422, and nothing is created

BAD_TOKEN_BODIES: list[tuple[str, Any]] = [
    ("unknown scope", {"name": "x", "scopes": ["tasks:admin"]}),
    ("unknown scope among good", {"name": "x", "scopes": ["tasks:read", "admin"]}),
    ("scope wrong case", {"name": "x", "scopes": ["TASKS:READ"]}),
    ("empty scopes", {"name": "x", "scopes": []}),
    ("missing scopes", {"name": "x"}),
    ("scopes a string", {"name": "x", "scopes": "tasks:read"}),
    ("scope null", {"name": "x", "scopes": [None]}),
    ("NUL in name", {"name": "a\x00b", "scopes": ["tasks:read"]}),
    ("101-char name", {"name": "n" * 101, "scopes": ["tasks:read"]}),
    ("empty name", {"name": "", "scopes": ["tasks:read"]}),
    ("blank name", {"name": "   ", "scopes": ["tasks:read"]}),
    ("missing name", {"scopes": ["tasks:read"]}),
    ("expires in the past", {"name": "x", "scopes": ["tasks:read"], "expires_at": "past"}),
    ("expires now-ish", {"name": "x", "scopes": ["tasks:read"], "expires_at": "now"}),
    ("expires without offset", {"name": "x", "scopes": ["tasks:read"], "expires_at": "naive"}),
    ("expires in 11 years", {"name": "x", "scopes": ["tasks:read"], "expires_at": "far"}),
    ("expires year 9999", {"name": "x", "scopes": ["tasks:read"], "expires_at": "9999"}),
    ("expires garbage", {"name": "x", "scopes": ["tasks:read"], "expires_at": "soon"}),
    ("unknown field", {"name": "x", "scopes": ["tasks:read"], "admin": True}),
    ("token given", {"name": "x", "scopes": ["tasks:read"], "token": "dbl_pat_mine"}),
]


def _expires(value: str) -> str:
    now = datetime.now(UTC)
    return {
        "past": (now - timedelta(days=1)).isoformat(),
        "now": (now - timedelta(seconds=1)).isoformat(),
        "naive": (now + timedelta(days=1)).replace(tzinfo=None).isoformat(),
        "far": (now + timedelta(days=11 * 366)).isoformat(),
        "9999": "9999-12-31T23:59:59+14:00",
    }.get(value, value)


@pytest.mark.parametrize(("name", "body"), BAD_TOKEN_BODIES, ids=[b[0] for b in BAD_TOKEN_BODIES])
async def test_bad_token_bodies_are_422(
    client: httpx.AsyncClient, database: Database, name: str, body: dict[str, Any]
) -> None:
    acct = await make_account(client)
    if "expires_at" in body:
        body = {**body, "expires_at": _expires(body["expires_at"])}
    r = await client.post(TOKENS, json=body, headers=acct.headers)
    assert_problem(r, 422)
    assert r.json()["errors"]
    assert await _count(database, ApiToken) == 0


async def test_a_100_char_name_and_a_near_expiry_are_fine(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    expires = datetime.now(UTC) + timedelta(days=3650)
    token = await make_api_token(
        client, acct, "tasks:read", name="n" * 100, expires_at=expires.isoformat()
    )
    assert token["name"] == "n" * 100
    assert datetime.fromisoformat(token["expires_at"]) == expires


# Scopes


async def _objects(client: httpx.AsyncClient, acct: Account) -> dict[str, str]:
    task = await make_task(client, acct, tags=["tagged"])
    tags = (await client.get("/api/v1/tags", headers=acct.headers)).json()
    token = await make_api_token(client, acct, "tasks:read")
    project = await client.post("/api/v1/projects", json={"name": "p"}, headers=acct.headers)
    section = await client.post(
        f"/api/v1/projects/{project.json()['id']}/sections",
        json={"name": "s"},
        headers=acct.headers,
    )
    return {
        "task_id": task["id"],
        "tag_id": tags[0]["id"],
        "token_id": token["id"],
        "project_id": project.json()["id"],
        "section_id": section.json()["id"],
    }


@pytest.mark.parametrize(("method", "path"), list(ALLOWED), ids=[f"{m} {p}" for m, p in ALLOWED])
async def test_each_route_needs_its_scope(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    acct = await make_account(client)
    ids = await _objects(client, acct)
    url = path.format(user_id=acct.id, **ids)
    needed = RULES[(method, path)].split("+")
    body, status = ALLOWED[(method, path)]
    kwargs: dict[str, Any] = {"json": body} if body is not None else {}
    for scope in needed:
        others = [s for s in ALL if s != scope]
        lacking = await make_api_token(client, acct, *others)
        r = await client.request(method, url, headers=bearer(lacking["token"]), **kwargs)
        problem = assert_problem(r, 403)
        assert problem["type"].endswith("/insufficient-scope")
        assert problem["detail"] == f"This API token lacks the {scope} scope"
        assert (
            r.headers["www-authenticate"] == f'Bearer error="insufficient_scope", scope="{scope}"'
        )
        task = await client.get(f"/api/v1/tasks/{ids['task_id']}", headers=acct.headers)
        assert task.headers["etag"] == '"1"'  # the refused write changed nothing

    exact = await make_api_token(client, acct, *needed)
    r = await client.request(method, url, headers=bearer(exact["token"]), **kwargs)
    assert r.status_code == status, r.text


async def test_a_read_token_reads_but_cannot_write(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, title="mine")
    reader = bearer((await make_api_token(client, acct, "tasks:read"))["token"])
    r = await client.get(f"/api/v1/tasks/{task['id']}", headers=reader)
    assert r.json()["title"] == "mine"
    assert_problem(await client.post("/api/v1/tasks", json={"title": "x"}, headers=reader), 403)
    r = await client.patch(f"/api/v1/tasks/{task['id']}", json={"title": "x"}, headers=reader)
    assert_problem(r, 403)
    r = await client.get("/api/v1/tasks", headers=acct.headers)
    assert [t["title"] for t in r.json()["items"]] == ["mine"]


async def test_a_token_only_reaches_its_own_users_data(client: httpx.AsyncClient) -> None:
    alice = await make_account(client)
    bob = await make_account(client)
    bobs = await make_task(client, bob, title="bob's")
    token = bearer((await make_api_token(client, alice, *ALL))["token"])
    assert_problem(await client.get(f"/api/v1/tasks/{bobs['id']}", headers=token), 404)
    assert (await client.get("/api/v1/tasks", headers=token)).json()["items"] == []
    assert (await client.get("/api/v1/me", headers=token)).json()["id"] == alice.id


async def test_a_route_without_a_scope_refuses_api_tokens(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """CurrentUser fails closed: a route that declares no scope lets no API token in."""
    router = APIRouter()

    @router.get("/api/v1/forgot-a-scope")
    async def forgot(user: CurrentUser) -> dict[str, str]:
        return {"email": user.email}

    app.include_router(router)
    acct = await make_account(client)
    token = await make_api_token(client, acct, *ALL)
    r = await client.get("/api/v1/forgot-a-scope", headers=bearer(token["token"]))
    assert assert_problem(r, 403)["type"].endswith("/session-required")
    r = await client.get("/api/v1/forgot-a-scope", headers=acct.headers)
    assert r.json() == {"email": acct.email}


# Never: create tokens, change the password or email, delete the account, open a web session


@pytest.mark.parametrize(
    ("method", "path"), list(SESSION_ONLY), ids=[f"{m} {p}" for m, p in SESSION_ONLY]
)
async def test_session_only_routes_refuse_every_api_token(
    client: httpx.AsyncClient, database: Database, method: str, path: str
) -> None:
    acct = await make_account(client, name="original")
    everything = await make_api_token(client, acct, *ALL)
    url = path.format(token_id=everything["id"], user_id=acct.id)
    body = SESSION_ONLY[(method, path)]
    kwargs: dict[str, Any] = {"json": body} if body is not None else {}

    r = await client.request(method, url, headers=bearer(everything["token"]), **kwargs)
    problem = assert_problem(r, 403)
    assert problem["type"].endswith("/session-required")
    assert "API tokens cannot be used here" in problem["detail"]

    # Nothing changed: the account, its name, its password, its tokens.
    me = await client.get("/api/v1/me", headers=acct.headers)
    assert me.status_code == 200 and me.json()["name"] == "original"
    login = await client.post(
        "/api/v1/auth/login", json={"email": acct.email, "password": PASSWORD}
    )
    assert login.status_code == 200
    assert list(await _listed(client, acct)) == [everything["id"]]
    assert await _count(database, ApiToken) == 1
    assert (await client.get("/api/v1/me", headers=bearer(everything["token"]))).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"email": "attacker@example.com"},
        {"name": "x", "email": "attacker@example.com"},
        {"name": "x"},
        "not even json",
    ],
)
async def test_a_token_cannot_change_the_email_or_profile(
    client: httpx.AsyncClient, database: Database, body: Any
) -> None:
    acct = await make_account(client)
    token = await make_api_token(client, acct, *ALL)
    r = await client.patch("/api/v1/me", json=body, headers=bearer(token["token"]))
    assert_problem(r, 403)
    async with database.read_sessions() as s:
        user = await s.get(User, uuid.UUID(acct.id))
    assert user is not None and user.email == acct.email and user.name == ""
    # With an access token, email is not a field /me accepts at all.
    r = await client.patch("/api/v1/me", json={"email": "x@example.com"}, headers=acct.headers)
    assert_problem(r, 422)


async def test_a_token_cannot_mint_a_token_even_with_a_body_that_would_fail(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    token = bearer((await make_api_token(client, acct, *ALL))["token"])
    for body in ({"name": "x", "scopes": ["root"]}, {}, None):
        r = await client.post(TOKENS, json=body, headers=token)
        assert_problem(r, 403)
    assert await _count(database, ApiToken) == 1


async def test_a_token_cannot_delete_the_account_even_with_the_password(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    token = bearer((await make_api_token(client, acct, *ALL))["token"])
    r = await client.request("DELETE", "/api/v1/me", json={"password": PASSWORD}, headers=token)
    assert_problem(r, 403)
    assert await _count(database, User, id=uuid.UUID(acct.id)) == 1


async def test_a_token_cannot_change_the_password_even_knowing_it(
    client: httpx.AsyncClient,
) -> None:
    acct = await make_account(client)
    token = bearer((await make_api_token(client, acct, *ALL))["token"])
    body = {"current_password": PASSWORD, "new_password": "attacker chosen passphrase"}
    assert_problem(await client.post("/api/v1/me/password", json=body, headers=token), 403)
    r = await client.post(
        "/api/v1/auth/login",
        json={"email": acct.email, "password": "attacker chosen passphrase"},
    )
    assert_problem(r, 401)
    assert (await client.get("/api/v1/me", headers=acct.headers)).status_code == 200


def _every_route(app: FastAPI) -> list[tuple[str, str]]:
    out = []
    for ctx in iter_route_contexts(app.routes):
        path = getattr(ctx, "path", "") or ""
        for method in sorted(getattr(ctx, "methods", None) or ()):
            # The API's event stream never ends in-process: a token that may read it streams
            # (tests/test_scheduler.py reads it from a real server, where no cookie is set).
            if method != "HEAD" and path not in {"/static", "/api/v1/events"}:
                out.append((method, re.sub(r"{[^}]+}", NOBODY, path)))
    return out


async def test_no_route_opens_a_web_session_for_an_api_token(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    """Every route, API and web, called with a token as Bearer, as a cookie, and as the
    credential fields of the web forms: no session cookie, no web_sessions row."""
    acct = await make_account(client)
    raw = (await make_api_token(client, acct, *ALL))["token"]
    headers = {**bearer(raw), "Sec-Fetch-Site": "same-origin"}
    routes = _every_route(app)
    assert ("GET", "/tasks") in routes and ("POST", "/login") in routes
    for method, path in routes:
        for as_cookie, kwargs in (
            (False, {"json": {}}),
            (False, {"data": {"email": acct.email, "password": raw}}),
            (True, {}),
        ):
            if as_cookie:
                client.cookies.set(SESSION_COOKIE, raw)
            r = await client.request(method, path, headers={} if as_cookie else headers, **kwargs)
            client.cookies.clear()
            assert r.status_code < 500, (method, path, r.text)
            assert SESSION_COOKIE not in r.headers.get("set-cookie", ""), (method, path)
    assert await _count(database, WebSession) == 0
    # The web app itself does not know the token: its pages send you to sign in.
    r = await client.get("/tasks", headers=bearer(raw))
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    client.cookies.set(SESSION_COOKIE, raw)
    r = await client.get("/tasks")
    client.cookies.clear()
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_an_api_token_is_not_a_refresh_token(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    raw = (await make_api_token(client, acct, *ALL))["token"]
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": raw})
    assert_problem(r, 401)
    r = await client.post("/api/v1/auth/login", json={"email": acct.email, "password": raw})
    assert_problem(r, 401)


# last_used_at


async def test_last_used_at_is_written_at_most_once_a_minute(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    token = await make_api_token(client, acct, "tasks:read", "tasks:write")
    auth = bearer(token["token"])
    before = datetime.now(UTC)
    assert (await client.get("/api/v1/tasks", headers=auth)).status_code == 200
    first = (await _listed(client, acct))[token["id"]]["last_used_at"]
    assert first is not None
    assert datetime.fromisoformat(first) >= before - timedelta(seconds=1)

    for _ in range(3):
        assert (await client.get("/api/v1/tasks", headers=auth)).status_code == 200
    assert (await _listed(client, acct))[token["id"]]["last_used_at"] == first

    # A minute later, a read writes it again (in its own short transaction)...
    old = datetime.now(UTC) - timedelta(minutes=2)
    await _set_token(database, token["id"], last_used_at=old)
    assert (await client.get("/api/v1/tasks", headers=auth)).status_code == 200
    second = (await _listed(client, acct))[token["id"]]["last_used_at"]
    assert datetime.fromisoformat(second) > old + timedelta(minutes=1)
    # ...and so does a write (in the request's transaction).
    await _set_token(database, token["id"], last_used_at=old)
    r = await client.post("/api/v1/tasks", json={"title": "x"}, headers=auth)
    assert r.status_code == 201
    third = (await _listed(client, acct))[token["id"]]["last_used_at"]
    assert datetime.fromisoformat(third) > old + timedelta(minutes=1)


async def test_a_refused_request_still_counts_as_use(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    token = await make_api_token(client, acct, "tasks:read")
    r = await client.get("/api/v1/me", headers=bearer(token["token"]))
    assert_problem(r, 403)
    assert (await _listed(client, acct))[token["id"]]["last_used_at"] is not None
