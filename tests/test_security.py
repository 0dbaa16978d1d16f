"""Attacks on the API: every route is in a permission matrix, forged credentials and mass
assignment change nothing, no response leaks a secret, and login does not reveal accounts."""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import select, update

from doable.app import create_app
from doable.auth.models import RefreshToken, User
from doable.db import Base, Database
from doable.errors import is_api_path
from doable.reminders.models import Reminder
from doable.reminders.scheduler import fire_due
from tests.attacks import forged_tokens
from tests.conftest import TEST_SECRET, make_client, runtime_for, truncate_all
from tests.factories import PASSWORD, Account, assert_problem, make_account, make_task
from tests.server import PROJECT_ROOT

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
NEW_PASSWORD = "a brand new secret phrase"
# Served for people, not in the OpenAPI document, and open to anyone by design.
DOCS = {
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
}
# Plain ASGI apps that answer every method. /mcp (the MCP server) has its own matrix in
# tests/test_mcp.py (credentials, scopes, other users' ids) and test_isolation (anonymous 401).
MOUNTS = {"/static", "/mcp"}


def openapi_operations(app: FastAPI) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
    }


async def snapshot(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: equal snapshots mean nothing changed."""
    rows = {}
    async with database.read_sessions() as s:
        for table in Base.metadata.sorted_tables:
            result = await s.execute(select(table).order_by(*table.primary_key.columns))
            rows[table.name] = [tuple(row) for row in result]
    return rows


# 2. Every route in the app sits in a permission matrix


def test_every_route_is_in_a_matrix(app: FastAPI) -> None:
    """API routes are walked by test_isolation (from the OpenAPI document), web pages by
    test_web (from the route table). Anything served that neither walk sees fails here."""
    documented = set(openapi_operations(app))
    unmatched = []
    for ctx in iter_route_contexts(app.routes):
        # The OpenAPI document drops path converters: /api/{user_id:uuid} is /api/{user_id}.
        path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", getattr(ctx, "path", ""))
        methods = getattr(ctx, "methods", None)
        if methods is None:
            assert path in MOUNTS, f"unexpected mount {path}: give it a case"
            continue
        for method in methods - {"HEAD"}:
            route = (method, path)
            web_page = not is_api_path(path)
            if route not in documented and not web_page and route not in DOCS:
                unmatched.append(route)
    assert unmatched == [], "routes no permission matrix covers"


# 3. Forged credentials: 401 on every authenticated route, and nothing changes


async def _owner_objects(client: httpx.AsyncClient, owner: Account) -> dict[str, str]:
    task = await make_task(client, owner, title="mine", tags=["secret"])
    tags = (await client.get("/api/v1/tags", headers=owner.headers)).json()
    project = await client.post("/api/v1/projects", json={"name": "p"}, headers=owner.headers)
    section = await client.post(
        f"/api/v1/projects/{project.json()['id']}/sections",
        json={"name": "s"},
        headers=owner.headers,
    )
    return {
        "task_id": task["id"],
        "tag_id": tags[0]["id"],
        "user_id": owner.id,
        "project_id": project.json()["id"],
        "section_id": section.json()["id"],
    }


async def make_admin(database: Database, user_id: str) -> None:
    """Name an admin, as `doable users set-admin` does."""
    async with database.write_sessions() as session:
        await session.execute(
            update(User).where(User.id == uuid.UUID(user_id)).values(is_admin=True)
        )
        await session.commit()


VALID_BODIES: dict[str, dict[str, Any]] = {
    "SignupIn": {"email": "new-{n}@example.com", "password": PASSWORD},
    "LoginIn": {"email": "{email}", "password": PASSWORD},
    "RefreshIn": {"refresh_token": "{refresh_token}"},
    "MePatch": {"name": "Mallory"},
    "DeleteAccountIn": {"password": PASSWORD},
    "PasswordChangeIn": {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    "TaskCreate": {"title": "forged"},
    "QuickAddIn": {"text": "forged tomorrow #forged"},
    "TaskReplace": {"title": "forged"},
    "TaskPatch": {"title": "forged"},
    "TagPatch": {"name": "forged"},
    "ProjectCreate": {"name": "forged"},
    "ProjectPatch": {"name": "forged"},
    "SectionCreate": {"name": "forged"},
    "SectionPatch": {"name": "forged"},
    "TokenCreate": {"name": "forged", "scopes": ["tasks:read"]},
    "FeedCreate": {"name": "forged"},
    "WebhookCreate": {"url": "https://example.com/forged", "event_types": ["task.created"]},
    "WebhookPatch": {"enabled": False},
    "ReminderCreate": {"before": "PT5M"},
    "CommentIn": {"body": "forged"},
    "MuteIn": {"muted": True},
    "CompatTaskCreate": {"title": "forged"},
    "CompatTaskUpdate": {"title": "forged"},
    "RoleIn": {"role": "viewer"},
    "HandOverIn": {"user_id": "00000000-0000-4000-8000-000000000001"},
    "InvitationCreate": {"email": "friend-{n}@example.com", "role": "viewer"},
    "AcceptLinkIn": {"token": "0" * 32 + ".forged"},
    "ExportDocument": {"format": "doable.export", "version": 1, "tasks": [{"title": "forged"}]},
    "SignupInvitationCreate": {"email": "new-{n}@example.com"},
    "PasswordResetRequest": {"email": "{email}"},
    "PasswordResetIn": {"token": "not.a.link", "new_password": NEW_PASSWORD},
    "SnoozeIn": {"preset": "1h"},
    "SubscriptionIn": {
        "endpoint": "https://push.example.com/forged",
        "keys": {"p256dh": "BPUBLICKEY", "auth": "AUTHSECRET"},
    },
    "PushActionIn": {"token": "forged", "action": "complete"},
    "NotificationSettingsPatch": {"agenda": True, "agenda_time": "06:30"},
    "UnsubscribeIn": {"endpoint": "https://push.example.com/forged"},
}
# Bodies that ignore unknown fields on purpose: the compat API's clients send whole tasks back
# (id, user_id, timestamps). There, such fields must be without effect instead of refused.
LENIENT = {"CompatTaskCreate", "CompatTaskUpdate"}


def _body_schema(operation: dict[str, Any]) -> str | None:
    content = operation.get("requestBody", {}).get("content", {})
    ref = content.get("application/json", {}).get("schema", {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


def valid_body(operation: dict[str, Any], owner: Account) -> dict[str, Any] | None:
    """A body this operation accepts from `owner`, built from its schema's name."""
    name = _body_schema(operation)
    if name is None:
        return None
    assert name in VALID_BODIES, f"add a valid {name} body to VALID_BODIES"
    fields = {
        "{n}": uuid.uuid4().hex[:8],
        "{email}": owner.email,
        "{refresh_token}": owner.refresh_token,
    }
    body = {}
    for key, value in VALID_BODIES[name].items():
        for placeholder, real in fields.items():
            value = value.replace(placeholder, real) if isinstance(value, str) else value
        body[key] = value
    return body


def _url(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), str(uuid.uuid4())), path)


async def test_forged_credentials_get_401_everywhere_and_change_nothing(
    client: httpx.AsyncClient, app: FastAPI, database: Database
) -> None:
    owner = await make_account(client)
    ids = await _owner_objects(client, owner)
    # Vikunja CVE-2026-27575: an access token issued before a password change.
    r = await client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=owner.headers,
    )
    assert r.status_code == 204, r.text
    stale = owner.access_token
    r = await client.post(
        "/api/v1/auth/login", json={"email": owner.email, "password": NEW_PASSWORD}
    )
    fresh = r.json()
    owner.access_token, owner.refresh_token = fresh["access_token"], fresh["refresh_token"]
    tokens = {**forged_tokens(owner), "before password change": stale}

    secured = {
        route: operation
        for route, operation in openapi_operations(app).items()
        if operation.get("security")
    }
    assert len(secured) >= 15
    before = await snapshot(database)
    for (method, path), operation in sorted(secured.items()):
        body = valid_body(operation, owner)
        for name, token in tokens.items():
            r = await client.request(
                method,
                _url(path, ids),
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 401, (method, path, name, r.text)
            assert_problem(r, 401)
            assert r.headers["www-authenticate"] == "Bearer"
    assert await snapshot(database) == before
    # The real credential still works, so the 401s were about the tokens.
    r = await client.get(f"/api/v1/tasks/{ids['task_id']}", headers=owner.headers)
    assert (r.status_code, r.json()["title"]) == (200, "mine")


# 4. Mass assignment: fields a client must never set are refused in every write body


FORBIDDEN_FIELDS: dict[str, Any] = {
    "owner_id": "00000000-0000-4000-8000-000000000001",
    "id": "00000000-0000-4000-8000-000000000002",
    "created_at": "2020-01-01T00:00:00Z",
    "is_admin": True,
    "unexpected": "mass-assigned-value",
}


def test_every_json_body_refuses_unknown_fields(app: FastAPI) -> None:
    """Statically: each request schema forbids additional properties."""
    document = app.openapi()
    schemas = document["components"]["schemas"]
    names = {_body_schema(op) for op in openapi_operations(app).values()} - {None}
    assert names, "no JSON request bodies found"
    for name in sorted(n for n in names if n and n not in LENIENT):
        assert schemas[name].get("additionalProperties") is False, name


def _stored_values(rows: dict[str, list[tuple[Any, ...]]]) -> set[str]:
    return {str(value) for table in rows.values() for row in table for value in row}


@pytest.mark.parametrize("field", list(FORBIDDEN_FIELDS))
async def test_mass_assignment_is_422_and_changes_nothing(
    client: httpx.AsyncClient, app: FastAPI, database: Database, field: str
) -> None:
    owner = await make_account(client)
    ids = await _owner_objects(client, owner)
    writes = {
        route: operation
        for route, operation in openapi_operations(app).items()
        if _body_schema(operation) is not None
    }
    assert len(writes) >= 10
    before = await snapshot(database)
    lenient = []
    for (method, path), operation in sorted(writes.items()):
        body = valid_body(operation, owner)
        assert body is not None
        r = await client.request(
            method,
            _url(path, ids),
            json={**body, field: FORBIDDEN_FIELDS[field]},
            headers=owner.headers,
        )
        if _body_schema(operation) in LENIENT:
            assert r.status_code < 300, (method, path, r.text)
            lenient.append((method, path))
            continue
        if path.startswith("/api/v1/admin/"):  # refused before the body is read
            assert assert_problem(r, 403)["type"].endswith("/admin-required")
            continue
        problem = assert_problem(r, 422)
        assert problem["errors"][0]["loc"] == ["body", field], (method, path, problem)
    after = await snapshot(database)
    if not lenient:
        assert after == before
    # Accepted or not, the value sent never reached a row.
    forged = str(FORBIDDEN_FIELDS[field])
    assert not any(forged in value for value in _stored_values(after)), (
        field,
        [v for v in _stored_values(after) if forged in v][:3],
    )


# 4. Data exposure: no response carries a password hash, a token hash or a secret


class Recorder:
    """Calls every API operation by its path template and keeps every response."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.called: set[tuple[str, str]] = set()
        self.responses: list[httpx.Response] = []

    async def __call__(
        self, method: str, path: str, ids: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        r = await self.client.request(method, _url(path, ids or {}), **kwargs)
        self.called.add((method, path))
        self.responses.append(r)
        return r


async def _reminders_and_notifications(
    call: Recorder, database: Database, ids: dict[str, str], auth: dict[str, str]
) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    path = "/api/v1/tasks/{task_id}/reminders"
    r = await call("POST", path, ids, json={"at": soon}, headers=auth)
    ids["reminder_id"] = r.json()["id"]
    await call("GET", path, ids, headers=auth)
    async with database.write_sessions() as s:
        await s.execute(
            update(Reminder)
            .where(Reminder.id == uuid.UUID(ids["reminder_id"]))
            .values(fire_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await s.commit()
    await fire_due(database)
    r = await call("GET", "/api/v1/notifications", headers=auth)
    ids["notification_id"] = r.json()["items"][0]["id"]
    await call(
        "POST",
        "/api/v1/notifications/{notification_id}/snooze",
        ids,
        json={"preset": "1h"},
        headers=auth,
    )
    await call("POST", "/api/v1/notifications/{notification_id}/read", ids, headers=auth)
    # Web Push: the key, a subscription (refused here: no such public host), a forged action.
    await call("GET", "/api/v1/push/key", headers=auth)
    subscription = {
        "endpoint": "https://push.example.com/forged",
        "keys": {"p256dh": "BPUBLICKEY", "auth": "AUTHSECRET"},
    }
    await call("POST", "/api/v1/push/subscriptions", json=subscription, headers=auth)
    await call("GET", "/api/v1/push/subscriptions", headers=auth)
    await call("GET", "/api/v1/me/notifications", headers=auth)
    agenda = {"agenda": True, "agenda_time": "06:30"}
    await call("PATCH", "/api/v1/me/notifications", json=agenda, headers=auth)
    ids["subscription_id"] = str(uuid.uuid4())
    await call("DELETE", "/api/v1/push/subscriptions/{subscription_id}", ids, headers=auth)
    await call("POST", "/api/v1/push/actions", json={"token": "forged", "action": "complete"})
    await call("POST", "/api/v1/notifications/read-all", headers=auth)
    await call("DELETE", path + "/{reminder_id}", ids, headers=auth)
    # A stream never ends in-process; tests/test_scheduler.py reads it from a real server.
    call.called.add(("GET", "/api/v1/events"))


async def _comments(call: Recorder, ids: dict[str, str], auth: dict[str, str]) -> None:
    thread = "/api/v1/tasks/{task_id}/comments"
    r = await call("POST", thread, ids, json={"body": "c @Leaky"}, headers=auth)
    ids["comment_id"] = r.json()["id"]
    await call("GET", thread, ids, headers=auth)
    await call("PATCH", thread + "/{comment_id}", ids, json={"body": "c2"}, headers=auth)
    await call("DELETE", thread + "/{comment_id}", ids, headers=auth)
    await call("GET", "/api/v1/projects/{project_id}/mute", ids, headers=auth)
    await call("PUT", "/api/v1/projects/{project_id}/mute", ids, json={"muted": True}, headers=auth)


async def _projects_and_sections(call: Recorder, ids: dict[str, str], auth: dict[str, str]) -> None:
    r = await call("POST", "/api/v1/projects", json={"name": "p"}, headers=auth)
    ids["project_id"] = r.json()["id"]
    await _comments(call, ids, auth)
    await call("GET", "/api/v1/projects", headers=auth)
    project = "/api/v1/projects/{project_id}"
    await call("GET", project, ids, headers=auth)
    await call("PATCH", project, ids, json={"archived": True}, headers=auth)
    r = await call("POST", project + "/sections", ids, json={"name": "s"}, headers=auth)
    ids["section_id"] = r.json()["id"]
    await call("GET", project + "/sections", ids, headers=auth)
    section = "/api/v1/sections/{section_id}"
    await call("GET", section, ids, headers=auth)
    await call("PATCH", section, ids, json={"name": "s2"}, headers=auth)
    await call("DELETE", section, ids, headers=auth)
    r = await call("GET", "/api/v1/trash", headers=auth)
    ids["item_id"] = r.json()["items"][0]["id"]
    await call("POST", "/api/v1/trash/{item_id}/restore", ids, headers=auth)
    await call("GET", project + "/activity", ids, headers=auth)
    await call("GET", "/api/v1/tasks/{task_id}/activity", ids, headers=auth)
    await call("DELETE", "/api/v1/trash/{item_id}", ids, headers=auth)  # restored: 404
    await call("DELETE", "/api/v1/trash", headers=auth)
    await call("POST", "/api/v1/email/unsubscribe", params={"token": "forged"})
    await _sharing(call, ids, auth)
    await call("DELETE", project, ids, headers=auth)


async def _sharing(call: Recorder, ids: dict[str, str], auth: dict[str, str]) -> None:
    """Every sharing operation, by the project's only user: the refusals a lone owner gets,
    and an invitation's link made, listed and revoked."""
    project = "/api/v1/projects/{project_id}"
    ids["member_id"] = ids["received_id"] = str(uuid.uuid4())
    await call("GET", project + "/members", ids, headers=auth)
    member = project + "/members/{member_id}"
    await call("PATCH", member, ids, json={"role": "viewer"}, headers=auth)
    await call("DELETE", member, ids, headers=auth)
    await call("DELETE", project + "/members/me", ids, headers=auth)
    await call("POST", project + "/owner", ids, json={"user_id": ids["member_id"]}, headers=auth)
    invite = {"email": "friend@example.com", "role": "viewer"}
    r = await call("POST", project + "/invitations", ids, json=invite, headers=auth)
    ids["invitation_id"], token = r.json()["id"], r.json()["token"]
    await call("GET", project + "/invitations", ids, headers=auth)
    await call("DELETE", project + "/invitations/{invitation_id}", ids, headers=auth)
    await call("GET", "/api/v1/invitations", headers=auth)
    await call("POST", "/api/v1/invitations/accept", json={"token": token}, headers=auth)
    await call("POST", "/api/v1/invitations/{received_id}/accept", ids, headers=auth)
    await call("POST", "/api/v1/invitations/{received_id}/decline", ids, headers=auth)


async def test_no_response_leaks_a_secret(
    client: httpx.AsyncClient, app: FastAPI, database: Database
) -> None:
    call = Recorder(client)
    email = f"leak-{uuid.uuid4().hex[:8]}@example.com"
    r = await call("POST", "/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
    pair = r.json()
    auth = {"Authorization": f"Bearer {pair['access_token']}"}
    await call("POST", "/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    await call("POST", "/api/v1/auth/login", data={"username": email, "password": "wrong-one!"})
    r = await call("POST", "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    pair = r.json()
    await call("GET", "/api/v1/me", headers=auth)
    await call("PATCH", "/api/v1/me", json={"name": "Leaky"}, headers=auth)
    r = await call("POST", "/api/v1/tasks", json={"title": "t", "tags": ["x"]}, headers=auth)
    ids = {"task_id": r.json()["id"]}
    await call("GET", "/api/v1/tasks", params={"limit": 1}, headers=auth)
    for method, path, body in [
        ("GET", "/api/v1/tasks/{task_id}", None),
        ("PATCH", "/api/v1/tasks/{task_id}", {"description": "d"}),
        ("PUT", "/api/v1/tasks/{task_id}", {"title": "t2", "tags": ["x"]}),
        ("POST", "/api/v1/tasks/{task_id}/complete", None),
        ("POST", "/api/v1/tasks/{task_id}/reopen", None),
    ]:
        await call(method, path, ids, json=body, headers=auth)
    repeat = {"recurrence": {"rule": "FREQ=DAILY"}}
    await call("PATCH", "/api/v1/tasks/{task_id}", ids, json=repeat, headers=auth)
    await call("POST", "/api/v1/tasks/{task_id}/complete", ids, headers=auth)
    await call("POST", "/api/v1/tasks/{task_id}/skip", ids, headers=auth)
    await call("GET", "/api/v1/tasks/{task_id}/completions", ids, headers=auth)
    await call("POST", "/api/v1/tasks/parse", json={"text": "q tomorrow #x"}, headers=auth)
    r = await call("POST", "/api/v1/tasks/quick", json={"text": "q tomorrow #x"}, headers=auth)
    await call("DELETE", "/api/v1/tasks/{task_id}", {"task_id": r.json()["id"]}, headers=auth)
    tags = (await call("GET", "/api/v1/tags", headers=auth)).json()
    ids["tag_id"] = tags[0]["id"]
    await call("PATCH", "/api/v1/tags/{tag_id}", ids, json={"color": "#abcdef"}, headers=auth)
    await call("DELETE", "/api/v1/tags/{tag_id}", ids, headers=auth)
    await _projects_and_sections(call, ids, auth)
    await _reminders_and_notifications(call, database, ids, auth)
    await call("DELETE", "/api/v1/tasks/{task_id}", ids, headers=auth)
    await call("GET", "/api/v1/export", headers=auth)
    document = {"format": "doable.export", "version": 1, "tasks": [{"title": "imported"}]}
    await call("POST", "/api/v1/import", json=document, headers=auth)
    await call("GET", "/healthz")
    await call("GET", "/readyz")
    operations = set(openapi_operations(app))
    if ("POST", "/api/v1/tokens") in operations:
        r = await call(
            "POST", "/api/v1/tokens", json={"name": "t", "scopes": ["tasks:read"]}, headers=auth
        )
        ids["token_id"] = r.json()["id"]
        await call("GET", "/api/v1/tokens", headers=auth)
        await call("DELETE", "/api/v1/tokens/{token_id}", ids, headers=auth)
    if ("POST", "/api/v1/feeds") in operations:
        r = await call("POST", "/api/v1/feeds", json={"name": "f"}, headers=auth)
        ids["feed_id"] = r.json()["id"]
        ids["secret"] = r.json()["url"].rsplit("/", 1)[1].removesuffix(".ics")
        await call("GET", "/api/v1/feeds", headers=auth)
        await call("GET", "/ical/{secret}.ics", ids)
        await call("HEAD", "/ical/{secret}.ics", ids)
        await call("POST", "/api/v1/feeds/{feed_id}/rotate", ids, headers=auth)
        await call("DELETE", "/api/v1/feeds/{feed_id}", ids, headers=auth)
    webhook_secrets: list[str] = []
    if ("POST", "/api/v1/webhooks") in operations:
        hook = {"url": "https://example.com/h", "event_types": ["task.created"]}
        for _ in range(2):  # one kept (its stored secret is checked below), one deleted
            r = await call("POST", "/api/v1/webhooks", json=hook, headers=auth)
            ids["webhook_id"] = r.json()["id"]
            webhook_secrets.append(r.json()["secret"])
        created_at = len(call.responses)
        await call("POST", "/api/v1/tasks", json={"title": "hooked"}, headers=auth)
        await call("GET", "/api/v1/webhooks", headers=auth)
        await call("GET", "/api/v1/webhooks/{webhook_id}", ids, headers=auth)
        await call(
            "PATCH", "/api/v1/webhooks/{webhook_id}", ids, json={"enabled": False}, headers=auth
        )
        r = await call("GET", "/api/v1/webhooks/{webhook_id}/deliveries", ids, headers=auth)
        ids["delivery_id"] = r.json()["items"][0]["id"]
        replay = "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay"
        await call("POST", replay, ids, headers=auth)
        await call("DELETE", "/api/v1/webhooks/{webhook_id}", ids, headers=auth)
        # A webhook's secret is in its create response only.
        for r in call.responses[created_at:]:
            for secret in webhook_secrets:
                assert secret not in r.text + json.dumps(dict(r.headers))
    if ("GET", "/api/v1/admin/users") in operations:
        await make_admin(database, pair["user"]["id"])
        ids["user_id"] = pair["user"]["id"]
        await call("GET", "/api/v1/admin/users", headers=auth)
        invite = {"email": f"invitee-{uuid.uuid4().hex[:8]}@example.com"}
        await call("POST", "/api/v1/admin/invitations", json=invite, headers=auth)
        await call("POST", "/api/v1/admin/users/{user_id}/reset-link", ids, headers=auth)
        await call("POST", "/api/v1/admin/users/{user_id}/disable", ids, headers=auth)  # 409
        await call("POST", "/api/v1/admin/users/{user_id}/enable", ids, headers=auth)
        await call("POST", "/api/v1/auth/password-reset", json={"email": email})
        forged = {"token": "not.a.link", "new_password": NEW_PASSWORD}
        await call("POST", "/api/v1/auth/password-reset/confirm", json=forged)
    if ("POST", "/api/{user_id}/tasks") in operations:
        ids["user_id"] = pair["user"]["id"]
        r = await call("POST", "/api/{user_id}/tasks", ids, json={"title": "c"}, headers=auth)
        ids["task_id"] = r.json()["id"]
        await call("GET", "/api/{user_id}/tasks", ids, headers=auth)
        await call("GET", "/api/{user_id}/tasks/{task_id}", ids, headers=auth)
        await call("PUT", "/api/{user_id}/tasks/{task_id}", ids, json={"title": "d"}, headers=auth)
        await call("PATCH", "/api/{user_id}/tasks/{task_id}/complete", ids, headers=auth)
        await call("DELETE", "/api/{user_id}/tasks/{task_id}", ids, headers=auth)
    # Errors too: a wrong password, a missing object, bad input.
    await call(
        "POST",
        "/api/v1/me/password",
        json={"current_password": "not it at all", "new_password": NEW_PASSWORD},
        headers=auth,
    )
    await call("GET", "/api/v1/tasks/{task_id}", ids, headers=auth)
    await call("POST", "/api/v1/tasks", json={"title": ""}, headers=auth)
    rows = await snapshot(database)
    async with database.read_sessions() as s:
        password_hashes = list((await s.execute(select(User.password_hash))).scalars())
        token_hashes = list((await s.execute(select(RefreshToken.token_hash))).scalars())
    # Every stored hash of a token or session, whatever table holds it.
    stored_hashes = {
        str(value)
        for table, table_rows in rows.items()
        for row in table_rows
        for column, value in zip(Base.metadata.tables[table].columns, row, strict=True)
        if column.name in {"token_hash", "password_hash", "secret_hash", "secret_encrypted"}
    }
    await call(
        "POST",
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=auth,
    )
    r = await call("POST", "/api/v1/auth/login", json={"email": email, "password": NEW_PASSWORD})
    auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
    await call("POST", "/api/v1/auth/logout", json={"refresh_token": r.json()["refresh_token"]})
    await call("DELETE", "/api/v1/me", json={"password": NEW_PASSWORD}, headers=auth)

    missing = set(openapi_operations(app)) - call.called
    assert missing == set(), ("operations this scan does not call yet", sorted(missing))
    assert len(password_hashes) == 1 and len(token_hashes) == 3
    assert set(password_hashes) | set(token_hashes) <= stored_hashes
    secrets = [*stored_hashes, TEST_SECRET.decode(), PASSWORD, NEW_PASSWORD]
    for r in call.responses:
        seen = r.text + json.dumps(dict(r.headers))
        for secret in secrets:
            assert secret not in seen, (r.request.method, r.request.url, r.status_code)
        for word in (
            "$argon2",
            "password_hash",
            "token_hash",
            "secret_hash",
            "secret_key",
            "secret_encrypted",
        ):
            assert word not in seen, (r.request.method, r.request.url, word)


# 5. Enumeration and brute force


async def _login_samples(
    client: httpx.AsyncClient, attempts: dict[str, dict[str, str]], rounds: int
) -> dict[str, list[float]]:
    """Alternate the attempts so drift in machine load hits each the same."""
    times: dict[str, list[float]] = {name: [] for name in attempts}
    bodies: dict[str, set[str]] = {name: set() for name in attempts}
    for _ in range(rounds):
        for name, body in attempts.items():
            started = time.perf_counter()
            r = await client.post("/api/v1/auth/login", json=body)
            times[name].append(time.perf_counter() - started)
            problem = assert_problem(r, 401)
            problem.pop("request_id")
            bodies[name].add(json.dumps(problem, sort_keys=True))
    assert len({b for seen in bodies.values() for b in seen}) == 1, bodies
    return times


@asynccontextmanager
async def _costly_hashes(
    database: Database, data_dir: Path, *, memory_kib: int, passes: int, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Account]]:
    """A client of an app whose argon2id costs `memory_kib` and `passes` (one lane), and an
    account made with it; the tables are emptied afterwards."""
    runtime = runtime_for(
        database,
        data_dir,
        ARGON2_MEMORY_KIB=memory_kib,
        ARGON2_TIME_COST=passes,
        ARGON2_PARALLELISM=1,
        **settings,
    )
    app = create_app(runtime, database)
    try:
        async with make_client(app) as client:
            yield client, await make_account(client)
    finally:
        await truncate_all(database.engine)


@pytest.mark.slow
@pytest.mark.exclusive  # timed: another worker's test would add its noise to the medians
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_unknown_email_takes_as_long_as_a_wrong_password(
    database: Database, data_dir: Path
) -> None:
    # A hash of 16 MiB and 2 passes (~25 ms) dwarfs the noise of the request itself; the
    # parameters are the same for the dummy hash an unknown email is checked against.
    async with _costly_hashes(database, data_dir, memory_kib=16384, passes=2) as (client, acct):
        attempts = {
            "wrong password": {"email": acct.email, "password": "not the password"},
            "unknown email": {"email": "nobody-here@example.com", "password": "whatever1"},
        }
        await _login_samples(client, attempts, 5)  # warm up
        times = await _login_samples(client, attempts, 200)
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    spread = abs(medians["wrong password"] - medians["unknown email"]) / max(medians.values())
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "login-timing.json").write_text(
        json.dumps(
            {
                "samples_each": 200,
                "median_ms": {k: round(v * 1000, 3) for k, v in medians.items()},
                "relative_difference": round(spread, 4),
                "argon2": "m=16384 KiB, t=2, p=1",
            },
            indent=2,
        )
        + "\n"
    )
    assert spread <= 0.10, medians


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # one is enough: it waits
async def test_brute_force_is_stopped_and_the_owner_gets_back_in(
    database: Database, data_dir: Path
) -> None:
    runtime = runtime_for(database, data_dir, AUTH_ACCOUNT_RATE_LIMIT="5/2 seconds")
    app = create_app(runtime, database)
    try:
        async with make_client(app) as client:
            acct = await make_account(client)

            def attempt(password: str) -> Awaitable[httpx.Response]:
                return client.post(
                    "/api/v1/auth/login", json={"email": acct.email, "password": password}
                )

            for n in range(5):
                assert_problem(await attempt(f"guess number {n}"), 401)
            # The sixth try is refused before the password is looked at, even the right one.
            # Refused tries count too, so the wait can reach two periods; Retry-After says
            # when a try is allowed again, and one made then is.
            for password in ("guess number 6", PASSWORD):
                r = await attempt(password)
                assert_problem(r, 429)
                retry_after = int(r.headers["retry-after"])
                assert 1 <= retry_after <= 4
            await asyncio.sleep(retry_after + 0.1)
            r = await attempt(PASSWORD)
            assert r.status_code == 200, r.text
            assert r.json()["user"]["id"] == acct.id
    finally:
        await truncate_all(database.engine)


@pytest.mark.exclusive  # counts requests served while hashing: needs the cores to itself
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_password_hashing_runs_off_the_event_loop_at_its_own_priority(
    database: Database, data_dir: Path
) -> None:
    # A costly hash (64 MiB, 3 passes: the defaults' memory and passes), so a blocked event
    # loop would show: requests made while logins hash must not wait for them.
    # An unusual niceness (the default is 19) tells this app's hashing threads from others'.
    costly = _costly_hashes(database, data_dir, memory_kib=65536, passes=3, HASH_NICENESS=17)
    async with costly as (client, acct):
        # Four accounts: each account has one password check at a time.
        accounts = [acct, *[await make_account(client) for _ in range(3)]]
        logins = [
            asyncio.create_task(
                client.post("/api/v1/auth/login", json={"email": a.email, "password": a.password})
            )
            for a in accounts
        ]
        await asyncio.sleep(0)  # the logins start hashing
        served_during: list[bool] = []
        while not all(t.done() for t in logins):
            r = await client.get("/api/v1/tasks", headers=acct.headers)
            assert r.status_code == 200
            served_during.append(not all(t.done() for t in logins))
        assert [(await t).status_code for t in logins] == [200] * 4
        # Four hashes in two threads take two hash times, and the loop kept serving. Had a
        # hash blocked the loop, at most one request would get in between two hashes.
        assert sum(served_during) >= 10, served_during
        hashing = [t for t in threading.enumerate() if t.name.startswith("doable-hash")]
        assert hashing, "no hashing thread of our own"
        niceness = {os.getpriority(os.PRIO_PROCESS, t.native_id or 0) for t in hashing}
        assert 17 in niceness, niceness
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) != 17


def test_a_remembered_access_token_still_expires_and_a_changed_one_is_checked(
    tmp_path: Path,
) -> None:
    """TokenSigner remembers verified tokens (PyJWT is a twentieth of a GET); a remembered
    token stops counting at its `exp`, and any other string is verified in full."""
    from doable.auth.security import TokenSigner
    from doable.errors import Unauthorized
    from tests.conftest import fast_settings

    now = [time.time()]  # the signer's clock, moved forward instead of sleeping
    signer = TokenSigner(
        TEST_SECRET, fast_settings(tmp_path, ACCESS_TOKEN_MINUTES=1), clock=lambda: now[0]
    )
    signer.leeway = 0
    user_id = uuid.uuid4()
    # Issued so that it expires within 2 s.
    token = signer.issue(user_id, 3, datetime.now(UTC) - signer.lifetime + timedelta(seconds=2))
    claims = signer.verify(token)
    assert (claims.user_id, claims.token_version, claims.family_id) == (user_id, 3, None)
    assert claims.expires_at is not None and 0 < claims.expires_at - now[0] <= 2
    assert signer.verify(token) == claims  # remembered: the same claims
    head, payload, signature = token.split(".")
    for forged in (
        f"{head}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}",
        f"{head}.{payload}X.{signature}",
        token + " ",
    ):
        with pytest.raises(Unauthorized):
            signer.verify(forged)
    now[0] += 3.1
    with pytest.raises(Unauthorized, match="expired"):
        signer.verify(token)  # no longer remembered
    with pytest.raises(Unauthorized, match="expired"):
        signer.verify(token)  # and refused in full
