"""Permission matrix for every route with an id: anonymous 401, owner 2xx, other user 404
(or 403 when the path names another user)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import update
from starlette.routing import Mount, Route

from doable.db import Database
from doable.reminders.models import Reminder
from doable.reminders.scheduler import fire_due
from tests.factories import Account, assert_problem, make_account, make_task

# Every API route with a path id, and what its owner may send. A new route without a case
# here makes test_every_id_route_has_a_case fail.
# A browser's push key (a point on P-256, base64url).
P256DH = "BMMFcshuiwXdlBmO5kT34k-MjsoFlNSSZZA32r1ZWTYOatFgQd97_YfpdvVRCKxcpLoz_CT_WTC0yTTUR3F3Pd8"

CASES: dict[tuple[str, str], tuple[dict[str, Any] | None, int]] = {
    ("GET", "/api/v1/tasks/{task_id}"): (None, 200),
    ("PATCH", "/api/v1/tasks/{task_id}"): ({"title": "mine"}, 200),
    ("PUT", "/api/v1/tasks/{task_id}"): ({"title": "mine"}, 200),
    ("DELETE", "/api/v1/tasks/{task_id}"): (None, 204),
    ("POST", "/api/v1/tasks/{task_id}/complete"): (None, 200),
    ("POST", "/api/v1/tasks/{task_id}/reopen"): (None, 200),
    # The matrix's task does not repeat, so its owner's skip is a 409 (test_recurrence covers
    # the 200); the intruder still gets the same 404 as for a missing task.
    ("POST", "/api/v1/tasks/{task_id}/skip"): (None, 409),
    ("GET", "/api/v1/tasks/{task_id}/completions"): (None, 200),
    ("GET", "/api/v1/projects/{project_id}"): (None, 200),
    ("PATCH", "/api/v1/projects/{project_id}"): ({"name": "mine", "at": "first"}, 200),
    ("DELETE", "/api/v1/projects/{project_id}"): (None, 204),
    ("GET", "/api/v1/projects/{project_id}/sections"): (None, 200),
    ("POST", "/api/v1/projects/{project_id}/sections"): ({"name": "mine"}, 201),
    ("GET", "/api/v1/projects/{project_id}/members"): (None, 200),
    ("PATCH", "/api/v1/projects/{project_id}/members/{member_id}"): ({"role": "admin"}, 200),
    ("DELETE", "/api/v1/projects/{project_id}/members/{member_id}"): (None, 204),
    # The owner cannot leave (409); test_sharing_invites covers a member's 204.
    ("DELETE", "/api/v1/projects/{project_id}/members/me"): (None, 409),
    # A static body names no member, so the owner's answer is 422; test_sharing_invites covers
    # the 200.
    ("POST", "/api/v1/projects/{project_id}/owner"): ({"user_id": str(uuid.UUID(int=1))}, 422),
    ("POST", "/api/v1/projects/{project_id}/invitations"): ({"email": "new@example.com"}, 201),
    ("GET", "/api/v1/projects/{project_id}/invitations"): (None, 200),
    ("DELETE", "/api/v1/projects/{project_id}/invitations/{invitation_id}"): (None, 204),
    # Invitations made for the owner's email, by another user into their project.
    ("POST", "/api/v1/invitations/{received_id}/accept"): (None, 200),
    ("POST", "/api/v1/invitations/{received_id}/decline"): (None, 204),
    ("GET", "/api/v1/sections/{section_id}"): (None, 200),
    ("PATCH", "/api/v1/sections/{section_id}"): ({"name": "mine"}, 200),
    ("DELETE", "/api/v1/sections/{section_id}"): (None, 204),
    ("PATCH", "/api/v1/tags/{tag_id}"): ({"color": "#123456"}, 200),
    ("DELETE", "/api/v1/tags/{tag_id}"): (None, 204),
    ("DELETE", "/api/v1/tokens/{token_id}"): (None, 204),
    ("POST", "/api/v1/feeds/{feed_id}/rotate"): (None, 200),
    ("DELETE", "/api/v1/feeds/{feed_id}"): (None, 204),
    ("GET", "/api/v1/tasks/{task_id}/reminders"): (None, 200),
    ("POST", "/api/v1/tasks/{task_id}/reminders"): ({"before": "PT5M"}, 201),
    ("DELETE", "/api/v1/tasks/{task_id}/reminders/{reminder_id}"): (None, 204),
    ("POST", "/api/v1/notifications/{notification_id}/read"): (None, 200),
    ("GET", "/api/v1/tasks/{task_id}/comments"): (None, 200),
    ("POST", "/api/v1/tasks/{task_id}/comments"): ({"body": "mine"}, 201),
    ("PATCH", "/api/v1/tasks/{task_id}/comments/{comment_id}"): ({"body": "mine"}, 200),
    ("DELETE", "/api/v1/tasks/{task_id}/comments/{comment_id}"): (None, 204),
    ("GET", "/api/v1/projects/{project_id}/mute"): (None, 200),
    ("PUT", "/api/v1/projects/{project_id}/mute"): ({"muted": True}, 200),
    ("POST", "/api/v1/notifications/{notification_id}/snooze"): ({"preset": "1h"}, 200),
    ("DELETE", "/api/v1/push/subscriptions/{subscription_id}"): (None, 204),
    ("GET", "/api/v1/webhooks/{webhook_id}"): (None, 200),
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): ({"enabled": False}, 200),
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): (None, 204),
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): (None, 200),
    ("POST", "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay"): (None, 202),
    ("GET", "/api/v1/projects/{project_id}/activity"): (None, 200),
    ("GET", "/api/v1/tasks/{task_id}/activity"): (None, 200),
    ("POST", "/api/v1/trash/{item_id}/restore"): (None, 200),
    ("DELETE", "/api/v1/trash/{item_id}"): (None, 204),
    # Compat routes: `{user_id}` is filled with the requester's own id, so the intruder asks
    # for the owner's task under their own user id (404); naming another user id is 403
    # (test_user_path_matrix).
    ("GET", "/api/{user_id}/tasks/{task_id}"): (None, 200),
    ("PUT", "/api/{user_id}/tasks/{task_id}"): ({"title": "mine"}, 200),
    ("DELETE", "/api/{user_id}/tasks/{task_id}"): (None, 204),
    ("PATCH", "/api/{user_id}/tasks/{task_id}/complete"): (None, 200),
}
# Routes whose only path id is the caller's own user id.
USER_CASES: dict[tuple[str, str], tuple[dict[str, Any] | None, int]] = {
    ("GET", "/api/{user_id}/tasks"): (None, 200),
    ("POST", "/api/{user_id}/tasks"): ({"title": "x"}, 201),
}
# Routes without an id that still need a credential.
AUTHED: dict[tuple[str, str], dict[str, Any] | None] = {
    ("GET", "/api/v1/tasks"): None,
    ("POST", "/api/v1/tasks"): {"title": "x"},
    ("POST", "/api/v1/tasks/parse"): {"text": "x tomorrow"},
    ("POST", "/api/v1/tasks/quick"): {"text": "x tomorrow"},
    ("GET", "/api/v1/tags"): None,
    ("GET", "/api/v1/projects"): None,
    ("GET", "/api/v1/invitations"): None,
    ("POST", "/api/v1/invitations/accept"): {"token": "x.y"},
    ("POST", "/api/v1/projects"): {"name": "x"},
    ("GET", "/api/v1/me"): None,
    ("PATCH", "/api/v1/me"): {"name": "x"},
    ("DELETE", "/api/v1/me"): {"password": "whatever1"},
    ("POST", "/api/v1/me/password"): {"current_password": "a", "new_password": "b brand new"},
    ("GET", "/api/v1/tokens"): None,
    ("POST", "/api/v1/tokens"): {"name": "x", "scopes": ["tasks:read"]},
    # Export and import act on the caller's own data only (test_transfer: an export holds
    # only the caller's data).
    ("GET", "/api/v1/export"): None,
    ("POST", "/api/v1/import"): {"format": "doable.export", "version": 1},
    ("GET", "/api/v1/feeds"): None,
    ("POST", "/api/v1/feeds"): {"name": "x"},
    ("GET", "/api/v1/webhooks"): None,
    ("POST", "/api/v1/webhooks"): {"url": "https://example.com/h", "event_types": ["task.created"]},
    ("GET", "/api/v1/notifications"): None,
    ("GET", "/api/v1/trash"): None,
    ("DELETE", "/api/v1/trash"): None,
    ("POST", "/api/v1/notifications/read-all"): None,
    ("GET", "/api/v1/push/key"): None,
    ("GET", "/api/v1/push/subscriptions"): None,
    ("GET", "/api/v1/me/notifications"): None,
    ("PATCH", "/api/v1/me/notifications"): {"agenda": True},
    ("POST", "/api/v1/push/subscriptions"): {
        "endpoint": "https://push.example.com/x",
        "keys": {"p256dh": P256DH, "auth": "AAAAAAAAAAAAAAAAAAAAAA"},
    },
    # A stream: the owner's side is tested over a real server (tests/test_scheduler.py).
    ("GET", "/api/v1/events"): None,
}
# Public, but gated by a secret in the path instead of a credential: a wrong, revoked or
# rotated secret is 404 (tests/test_feeds.py).
SECRET_GATED = {("GET", "/ical/{secret}.ics")}
# Admin routes: any account by id, but only for an admin signed in with a password (others
# get 403; tests/test_accounts.py holds that matrix).
ADMIN = {
    ("GET", "/api/v1/admin/users"),
    ("POST", "/api/v1/admin/users/{user_id}/disable"),
    ("POST", "/api/v1/admin/users/{user_id}/enable"),
    ("POST", "/api/v1/admin/users/{user_id}/reset-link"),
    ("POST", "/api/v1/admin/invitations"),
}
PUBLIC = {
    ("POST", "/api/v1/auth/password-reset"),
    ("POST", "/api/v1/auth/password-reset/confirm"),
    ("POST", "/api/v1/auth/signup"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    # Gated by the signed token in the body instead of a credential (tests/test_push.py).
    ("POST", "/api/v1/push/actions"),
    # Gated by the signed token of a reminder email's link (tests/test_email.py).
    ("POST", "/api/v1/email/unsubscribe"),
}


# Plain ASGI routes and mounts, outside the OpenAPI document: who may call them. /mcp is the
# MCP server (tests/test_mcp.py has its own matrix: tools, scopes, other users' ids).
PLAIN: dict[str, str] = {
    "/openapi.json": "public",
    "/static": "public",
    "/mcp": "credential",
}


def _routes(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


async def test_every_route_is_classified(app: FastAPI) -> None:
    routes = _routes(app)
    by_id = {r for r in routes if "{" in r[1]}
    assert by_id == set(CASES) | set(USER_CASES) | SECRET_GATED | {r for r in ADMIN if "{" in r[1]}
    assert routes == set(CASES) | set(USER_CASES) | set(AUTHED) | PUBLIC | SECRET_GATED | ADMIN


async def test_every_plain_route_is_classified(app: FastAPI) -> None:
    plain = {
        route.path
        for route in app.routes
        if isinstance(route, (Route, Mount)) and not isinstance(route, APIRoute)
    }
    assert plain == set(PLAIN)


@pytest.mark.parametrize("method", ["POST", "GET", "DELETE"])
async def test_mcp_anonymous_is_401(client: httpx.AsyncClient, method: str) -> None:
    r = await client.request(method, "/mcp", headers={"Accept": "application/json"})
    assert_problem(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"


async def _objects(client: httpx.AsyncClient, owner: Account, database: Database) -> dict[str, str]:
    hook = await client.post(
        "/api/v1/webhooks",
        json={"url": "https://example.com/h", "event_types": ["task.created"]},
        headers=owner.headers,
    )
    task = await make_task(client, owner, tags=["secret"])
    hook_log = await client.get(
        f"/api/v1/webhooks/{hook.json()['id']}/deliveries", headers=owner.headers
    )
    tags = (await client.get("/api/v1/tags", headers=owner.headers)).json()
    token = await client.post(
        "/api/v1/tokens", json={"name": "t", "scopes": ["tasks:read"]}, headers=owner.headers
    )
    feed = await client.post("/api/v1/feeds", json={"name": "f"}, headers=owner.headers)
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    reminders = f"/api/v1/tasks/{task['id']}/reminders"
    fired = await client.post(reminders, json={"at": soon}, headers=owner.headers)
    reminder = await client.post(reminders, json={"at": soon}, headers=owner.headers)
    async with database.write_sessions() as s:
        await s.execute(
            update(Reminder)
            .where(Reminder.id == uuid.UUID(fired.json()["id"]))
            .values(fire_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await s.commit()
    await fire_due(database)
    notes = await client.get("/api/v1/notifications", headers=owner.headers)
    project = await client.post("/api/v1/projects", json={"name": "p"}, headers=owner.headers)
    push = await client.post(
        "/api/v1/push/subscriptions",
        json={
            "endpoint": f"https://push.example.com/{uuid.uuid4()}",
            "keys": {"p256dh": P256DH, "auth": "AAAAAAAAAAAAAAAAAAAAAA"},
        },
        headers=owner.headers,
    )
    section = await client.post(
        f"/api/v1/projects/{project.json()['id']}/sections",
        json={"name": "s"},
        headers=owner.headers,
    )
    # Sharing: a member of the owner's project, an invitation the owner sent, and one sent to
    # the owner by someone else.
    project_id = project.json()["id"]
    member = await make_account(client)
    sent = await client.post(
        f"/api/v1/projects/{project_id}/invitations",
        json={"email": member.email, "role": "viewer"},
        headers=owner.headers,
    )
    accepted = await client.post(
        "/api/v1/invitations/accept", json={"token": sent.json()["token"]}, headers=member.headers
    )
    assert accepted.status_code == 200, accepted.text
    pending = await client.post(
        f"/api/v1/projects/{project_id}/invitations",
        json={"email": "someone@example.com"},
        headers=owner.headers,
    )
    theirs = await client.post("/api/v1/projects", json={"name": "t"}, headers=member.headers)
    received = await client.post(
        f"/api/v1/projects/{theirs.json()['id']}/invitations",
        json={"email": owner.email},
        headers=member.headers,
    )
    comment = await client.post(
        f"/api/v1/tasks/{task['id']}/comments", json={"body": "secret"}, headers=owner.headers
    )
    trashed = await make_task(client, owner, title="trashed")
    await client.delete(f"/api/v1/tasks/{trashed['id']}", headers=owner.headers)
    trash = (await client.get("/api/v1/trash", headers=owner.headers)).json()["items"]
    return {
        "member_id": member.id,
        "invitation_id": pending.json()["id"],
        "received_id": received.json()["id"],
        "comment_id": comment.json()["id"],
        "item_id": trash[0]["id"],
        "project_id": project.json()["id"],
        "section_id": section.json()["id"],
        "task_id": task["id"],
        "tag_id": tags[0]["id"],
        "token_id": token.json()["id"],
        "feed_id": feed.json()["id"],
        "reminder_id": reminder.json()["id"],
        "notification_id": notes.json()["items"][0]["id"],
        "webhook_id": hook.json()["id"],
        "delivery_id": hook_log.json()["items"][0]["id"],
        "subscription_id": push.json()["id"],
    }


@pytest.mark.parametrize(("method", "path"), list(CASES), ids=[f"{m} {p}" for m, p in CASES])
async def test_matrix(
    client: httpx.AsyncClient, database: Database, method: str, path: str
) -> None:
    owner = await make_account(client)
    intruder = await make_account(client)
    ids = await _objects(client, owner, database)
    url = path.format(user_id=owner.id, **ids)
    body, owner_status = CASES[(method, path)]
    kwargs: dict[str, Any] = {"json": body} if body is not None else {}

    assert_problem(await client.request(method, url, **kwargs), 401)
    intruder_url = path.format(user_id=intruder.id, **ids)
    r = await client.request(method, intruder_url, headers=intruder.headers, **kwargs)
    assert_problem(r, 404)
    # The intruder's 404 looks exactly like a missing object's.
    nobody = "00000000-0000-4000-8000-000000000000"
    missing = path.format(user_id=intruder.id, **{k: nobody for k in ids})
    r_missing = await client.request(method, missing, headers=intruder.headers, **kwargs)
    assert_problem(r_missing, 404)
    assert r.json()["detail"] == r_missing.json()["detail"]
    # Nothing of the owner's changed.
    task = await client.get(f"/api/v1/tasks/{ids['task_id']}", headers=owner.headers)
    assert task.status_code == 200 and task.headers["etag"] == '"1"'
    assert task.json()["tags"] == ["secret"] and task.json()["completed"] is False

    r = await client.request(method, url, headers=owner.headers, **kwargs)
    assert r.status_code == owner_status, r.text


USER_PATHS = {
    route: spec for route, spec in {**CASES, **USER_CASES}.items() if "{user_id}" in route[1]
}


@pytest.mark.parametrize(
    ("method", "path"), list(USER_PATHS), ids=[f"{m} {p}" for m, p in USER_PATHS]
)
async def test_user_path_matrix(
    client: httpx.AsyncClient, database: Database, method: str, path: str
) -> None:
    """A path that names a user: anonymous 401, any other user's credential 403, owner 2xx."""
    owner = await make_account(client)
    intruder = await make_account(client)
    ids = await _objects(client, owner, database)
    url = path.format(user_id=owner.id, **ids)
    body, owner_status = USER_PATHS[(method, path)]
    kwargs: dict[str, Any] = {"json": body} if body is not None else {}

    assert_problem(await client.request(method, url, **kwargs), 401)
    r = await client.request(method, url, headers=intruder.headers, **kwargs)
    assert_problem(r, 403)
    task = await client.get(f"/api/v1/tasks/{ids['task_id']}", headers=owner.headers)
    assert task.headers["etag"] == '"1"' and task.json()["completed"] is False
    listed = await client.get("/api/v1/tasks", headers=intruder.headers)
    assert listed.json()["items"] == []

    r = await client.request(method, url, headers=owner.headers, **kwargs)
    assert r.status_code == owner_status, r.text


@pytest.mark.parametrize(("method", "path"), list(AUTHED), ids=[f"{m} {p}" for m, p in AUTHED])
async def test_anonymous_is_401(client: httpx.AsyncClient, method: str, path: str) -> None:
    body = AUTHED[(method, path)]
    r = await client.request(method, path, **({"json": body} if body is not None else {}))
    assert_problem(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"


async def test_lists_only_show_own_objects(client: httpx.AsyncClient) -> None:
    alice = await make_account(client)
    bob = await make_account(client)
    mine = await make_task(client, alice, tags=["shared-name"])
    await make_task(client, bob, tags=["shared-name"])
    tasks = (await client.get("/api/v1/tasks", headers=alice.headers)).json()["items"]
    assert [t["id"] for t in tasks] == [mine["id"]]
    tags = (await client.get("/api/v1/tags", headers=alice.headers)).json()
    assert [(t["name"], t["task_count"]) for t in tags] == [("shared-name", 1)]
    for acct in (alice, bob):
        r = await client.post("/api/v1/projects", json={"name": "same"}, headers=acct.headers)
        assert r.status_code == 201
    projects = (await client.get("/api/v1/projects", headers=alice.headers)).json()
    assert [(p["name"], p["open_count"]) for p in projects] == [("Inbox", 1), ("same", 0)]
    filtered = (
        await client.get("/api/v1/tasks", params={"tag": "shared-name"}, headers=alice.headers)
    ).json()
    assert [t["id"] for t in filtered["items"]] == [mine["id"]]
