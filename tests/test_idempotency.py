"""Idempotency-Key: the first response is stored per user for 24 h and replayed unchanged;
concurrent requests with one key wait for the first and get its response."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from doable.auth.models import ApiToken
from doable.db import Database
from doable.idempotency.models import IdempotencyKey
from doable.tasks.models import Task
from tests.factories import (
    Account,
    assert_problem,
    bearer,
    make_account,
    make_api_token,
    make_task,
)

TASKS = "/api/v1/tasks"


def keyed(acct: Account, key: str) -> dict[str, str]:
    return {**acct.headers, "Idempotency-Key": key}


async def _count(database: Database, model: Any) -> int:
    async with database.read_sessions() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


async def _titles(client: httpx.AsyncClient, acct: Account) -> list[str]:
    r = await client.get(TASKS, params={"limit": 200, "sort": "title"}, headers=acct.headers)
    return [t["title"] for t in r.json()["items"]]


async def test_a_replay_returns_the_first_response_unchanged(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    body = {"title": "pay rent", "tags": ["home"], "due": "2030-01-01"}
    first = await client.post(TASKS, json=body, headers=keyed(acct, "rent-2030-01"))
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    # The task changes afterwards; the replay still answers what the first request got.
    await client.patch(
        f"{TASKS}/{first.json()['id']}", json={"title": "renamed"}, headers=acct.headers
    )
    for _ in range(2):
        again = await client.post(TASKS, json=body, headers=keyed(acct, "rent-2030-01"))
        assert again.status_code == 201
        assert again.content == first.content
        for header in ("content-type", "location", "etag"):
            assert again.headers[header] == first.headers[header]
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert await _titles(client, acct) == ["renamed"]
    assert await _count(database, IdempotencyKey) == 1


async def test_the_same_key_with_another_request_is_422(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, title="other")
    r = await client.post(TASKS, json={"title": "a"}, headers=keyed(acct, "k1"))
    assert r.status_code == 201
    for method, url, body in [
        ("POST", TASKS, {"title": "b"}),
        ("POST", TASKS, {"title": "a", "priority": "high"}),
        ("POST", f"{TASKS}?x=1", {"title": "a"}),
        ("POST", f"{TASKS}/{task['id']}/complete", None),
    ]:
        r = await client.request(method, url, json=body, headers=keyed(acct, "k1"))
        problem = assert_problem(r, 422)
        assert problem["type"].endswith("/idempotency-key-mismatch")
    assert await _titles(client, acct) == ["a", "other"]
    r = await client.get(f"{TASKS}/{task['id']}", headers=acct.headers)
    assert r.json()["completed"] is False


async def test_without_a_key_every_post_acts(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    for _ in range(2):
        assert (
            await client.post(TASKS, json={"title": "a"}, headers=acct.headers)
        ).status_code == 201
    assert await _titles(client, acct) == ["a", "a"]


async def test_keys_are_per_user(client: httpx.AsyncClient, database: Database) -> None:
    alice = await make_account(client)
    bob = await make_account(client)
    r1 = await client.post(TASKS, json={"title": "a"}, headers=keyed(alice, "shared"))
    r2 = await client.post(TASKS, json={"title": "a"}, headers=keyed(bob, "shared"))
    assert (r1.status_code, r2.status_code) == (201, 201)
    assert r1.json()["id"] != r2.json()["id"]
    assert "idempotent-replayed" not in r2.headers
    assert await _titles(client, alice) == ["a"] and await _titles(client, bob) == ["a"]
    # Bob's key with another body is his own business: still 422 only against his request.
    r3 = await client.post(TASKS, json={"title": "b"}, headers=keyed(bob, "shared"))
    assert_problem(r3, 422)


async def test_a_replay_needs_the_same_users_credential(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    r = await client.post(TASKS, json={"title": "a"}, headers=keyed(acct, "k"))
    assert r.status_code == 201
    anonymous = await client.post(TASKS, json={"title": "a"}, headers={"Idempotency-Key": "k"})
    assert_problem(anonymous, 401)
    # An API token of the same user shares the user's keys.
    token = await make_api_token(client, acct, "tasks:write")
    r2 = await client.post(
        TASKS, json={"title": "a"}, headers={**bearer(token["token"]), "Idempotency-Key": "k"}
    )
    assert r2.status_code == 201 and r2.content == r.content
    assert r2.headers["idempotent-replayed"] == "true"
    # A token without the scope is refused before any replay.
    reader = await make_api_token(client, acct, "tasks:read")
    r3 = await client.post(
        TASKS, json={"title": "a"}, headers={**bearer(reader["token"]), "Idempotency-Key": "k"}
    )
    assert_problem(r3, 403)


async def test_failed_requests_store_nothing(client: httpx.AsyncClient, database: Database) -> None:
    """Only a response whose request succeeded is stored; a failure rolls back with its key,
    so a corrected retry may use the same key."""
    acct = await make_account(client)
    r = await client.post(TASKS, json={"title": ""}, headers=keyed(acct, "k"))
    assert_problem(r, 422)
    missing = f"{TASKS}/{uuid.uuid4()}/complete"
    assert_problem(await client.post(missing, headers=keyed(acct, "k2")), 404)
    assert await _count(database, IdempotencyKey) == 0
    r = await client.post(TASKS, json={"title": "fixed"}, headers=keyed(acct, "k"))
    assert r.status_code == 201
    assert await _count(database, IdempotencyKey) == 1


async def test_complete_and_reopen_replay(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct)
    url = f"{TASKS}/{task['id']}"
    done = await client.post(f"{url}/complete", headers=keyed(acct, "c"))
    assert done.status_code == 200 and done.headers["etag"] == '"2"'
    await client.post(f"{url}/reopen", headers=acct.headers)
    again = await client.post(f"{url}/complete", headers=keyed(acct, "c"))
    assert again.content == done.content and again.headers["etag"] == '"2"'
    current = await client.get(url, headers=acct.headers)
    assert current.json()["completed"] is False and current.headers["etag"] == '"3"'


async def test_token_creation_is_idempotent_but_the_secret_is_never_stored(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    body = {"name": "ci", "scopes": ["tasks:read"]}
    first = await client.post("/api/v1/tokens", json=body, headers=keyed(acct, "t"))
    assert first.status_code == 201
    raw = first.json()["token"]
    replay = await client.post("/api/v1/tokens", json=body, headers=keyed(acct, "t"))
    assert replay.status_code == 201
    assert replay.json() == {**first.json(), "token": None}
    assert await _count(database, ApiToken) == 1
    async with database.read_sessions() as s:
        stored = (await s.execute(select(IdempotencyKey.body))).scalar_one()
    assert stored is not None and raw.encode() not in stored


async def test_compat_create_honours_the_key(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    url = f"/api/{acct.id}/tasks"
    r1 = await client.post(url, json={"title": "Buy milk"}, headers=keyed(acct, "m"))
    r2 = await client.post(url, json={"title": "Buy milk"}, headers=keyed(acct, "m"))
    assert (r1.status_code, r2.status_code) == (201, 201) and r1.content == r2.content
    assert await _titles(client, acct) == ["Buy milk"]


async def test_password_change_with_a_key_is_stored_empty(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    r = await client.post(
        "/api/v1/me/password",
        json={"current_password": acct.password, "new_password": "another fine passphrase"},
        headers=keyed(acct, "pw"),
    )
    assert r.status_code == 204
    async with database.read_sessions() as s:
        row = (await s.execute(select(IdempotencyKey))).scalar_one()
    assert (row.status_code, row.body) == (204, b"")


def test_every_post_under_api_v1_declares_the_header(app: FastAPI) -> None:
    """…except the /auth routes (they act for nobody yet and answer with credentials),
    /tasks/parse (it writes nothing, so there is nothing to replay) and /admin (disabling and
    enabling are idempotent by nature; invitation and reset links are credentials, never
    stored for replay), the signed-token routes /push/actions and /email/unsubscribe, and
    /trash/{id}/restore (it creates nothing: a repeat finds the item gone, 404, and changes
    nothing)."""
    declared = {}
    for path, ops in app.openapi()["paths"].items():
        if "post" in ops:
            names = {p["name"] for p in ops["post"].get("parameters", [])}
            declared[path] = "Idempotency-Key" in names
    assert declared == {
        "/api/v1/auth/signup": False,
        "/api/v1/auth/login": False,
        "/api/v1/auth/refresh": False,
        "/api/v1/auth/logout": False,
        "/api/v1/auth/password-reset": False,
        "/api/v1/auth/password-reset/confirm": False,
        "/api/v1/admin/users/{user_id}/disable": False,
        "/api/v1/admin/users/{user_id}/enable": False,
        "/api/v1/admin/users/{user_id}/reset-link": False,
        "/api/v1/admin/invitations": False,
        "/api/v1/me/password": True,
        "/api/v1/tokens": True,
        "/api/v1/feeds": True,
        "/api/v1/feeds/{feed_id}/rotate": True,
        "/api/v1/webhooks": True,
        "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay": True,
        "/api/v1/tasks": True,
        "/api/v1/tasks/parse": False,
        "/api/v1/tasks/quick": True,
        "/api/v1/tasks/{task_id}/complete": True,
        "/api/v1/tasks/{task_id}/reopen": True,
        "/api/v1/tasks/{task_id}/skip": True,
        "/api/v1/projects": True,
        "/api/v1/projects/{project_id}/sections": True,
        "/api/v1/projects/{project_id}/owner": True,
        "/api/v1/projects/{project_id}/invitations": True,
        "/api/v1/invitations/accept": True,
        "/api/v1/invitations/{received_id}/accept": True,
        "/api/v1/invitations/{received_id}/decline": True,
        "/api/v1/tasks/{task_id}/comments": True,
        "/api/v1/trash/{item_id}/restore": False,
        "/api/v1/import": True,
        "/api/v1/tasks/{task_id}/reminders": True,
        "/api/v1/notifications/{notification_id}/read": True,
        "/api/v1/notifications/read-all": True,
        "/api/v1/notifications/{notification_id}/snooze": True,
        "/api/v1/push/subscriptions": True,
        "/api/v1/push/actions": False,
        "/api/v1/email/unsubscribe": False,
        "/api/{user_id}/tasks": True,
    }


async def test_auth_routes_ignore_the_header(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    login = {"email": acct.email, "password": acct.password}
    r1 = await client.post("/api/v1/auth/login", json=login, headers={"Idempotency-Key": "x"})
    r2 = await client.post("/api/v1/auth/login", json=login, headers={"Idempotency-Key": "x"})
    assert (r1.status_code, r2.status_code) == (200, 200)
    assert r1.json()["refresh_token"] != r2.json()["refresh_token"]


# Concurrency


async def test_ten_concurrent_requests_with_one_key_create_one_task(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    body = {"title": "exactly once", "tags": ["a", "b"]}

    async def post() -> httpx.Response:
        return await client.post(TASKS, json=body, headers=keyed(acct, "burst"))

    responses = await asyncio.gather(*(post() for _ in range(10)))
    assert [r.status_code for r in responses] == [201] * 10, [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    assert sum("idempotent-replayed" in r.headers for r in responses) == 9
    assert await _titles(client, acct) == ["exactly once"]
    assert await _count(database, Task) == 1
    assert await _count(database, IdempotencyKey) == 1


async def test_concurrent_requests_whose_first_fails_never_500(
    client: httpx.AsyncClient, database: Database
) -> None:
    """When the request holding the key fails and rolls back, the waiting ones take over.
    On MariaDB two waiters can then deadlock; the loser gets 409 idempotency-key-in-use."""
    acct = await make_account(client)
    missing = f"{TASKS}/{uuid.uuid4()}/complete"
    responses = await asyncio.gather(
        *(client.post(missing, headers=keyed(acct, "doomed")) for _ in range(10))
    )
    for r in responses:
        assert r.status_code in {404, 409}, r.text
        if r.status_code == 409:
            assert assert_problem(r, 409)["type"].endswith("/idempotency-key-in-use")
            assert r.headers["retry-after"] == "1"
    assert sum(r.status_code == 404 for r in responses) >= 1
    assert await _count(database, IdempotencyKey) == 0


async def test_concurrent_keys_of_one_user_do_not_block_each_other(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    responses = await asyncio.gather(
        *(
            client.post(TASKS, json={"title": f"t{i}"}, headers=keyed(acct, f"k{i}"))
            for i in range(10)
        )
    )
    assert [r.status_code for r in responses] == [201] * 10
    assert await _count(database, Task) == 10


# Expiry


async def test_a_key_expires_after_24_hours(client: httpx.AsyncClient, database: Database) -> None:
    acct = await make_account(client)
    r1 = await client.post(TASKS, json={"title": "daily"}, headers=keyed(acct, "day"))
    async with database.write_sessions() as s:
        row = (await s.execute(select(IdempotencyKey))).scalar_one()
        assert row.expires_at - row.created_at == timedelta(hours=24)
        await s.execute(
            update(IdempotencyKey).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await s.commit()
    r2 = await client.post(TASKS, json={"title": "daily"}, headers=keyed(acct, "day"))
    assert r2.status_code == 201 and "idempotent-replayed" not in r2.headers
    assert r2.json()["id"] != r1.json()["id"]
    assert await _count(database, IdempotencyKey) == 1


async def test_expired_keys_are_swept(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    alice = await make_account(client)
    bob = await make_account(client)
    for i in range(3):
        await client.post(TASKS, json={"title": "x"}, headers=keyed(alice, f"old{i}"))
    async with database.write_sessions() as s:
        await s.execute(
            update(IdempotencyKey).values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        await s.commit()
    app.state.idempotency_swept_at = datetime.now(UTC) - timedelta(hours=2)
    r = await client.post(TASKS, json={"title": "y"}, headers=keyed(bob, "new"))
    assert r.status_code == 201
    async with database.read_sessions() as s:
        keys = list((await s.execute(select(IdempotencyKey.key))).scalars())
    assert keys == ["new"]


# Bad keys


@pytest.mark.parametrize(
    "key",
    ["", "k" * 256, "a\x00b", "tab\there", "bell\x07", "del\x7f", "caf\u00e9"],
    ids=["empty", "256 chars", "NUL", "tab", "control", "DEL", "non-ASCII"],
)
async def test_bad_keys_are_422(
    app: FastAPI, client: httpx.AsyncClient, database: Database, key: str
) -> None:
    acct = await make_account(client)
    # Built by hand: httpx refuses some of these header values itself.
    headers = [
        (b"authorization", f"Bearer {acct.access_token}".encode()),
        (b"content-type", b"application/json"),
        (b"idempotency-key", key.encode("latin-1")),
    ]
    status, body = await _raw_post(app, TASKS, headers, b'{"title": "x"}')
    assert status == 422, body
    assert b"Idempotency-Key" in body and b"application/problem+json" in body
    assert await _count(database, Task) == 0


async def test_a_255_char_key_is_fine(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    key = "~ k-Z_9." + "k" * 247
    r1 = await client.post(TASKS, json={"title": "x"}, headers=keyed(acct, key))
    r2 = await client.post(TASKS, json={"title": "x"}, headers=keyed(acct, key))
    assert (r1.status_code, r2.status_code) == (201, 201) and r1.content == r2.content


async def _raw_post(
    app: FastAPI, path: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> tuple[int, bytes]:
    """Send one request straight through ASGI, so any header bytes reach the app."""
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            await asyncio.sleep(3600)
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(start["status"]), content + b"".join(v for _, v in start["headers"])
