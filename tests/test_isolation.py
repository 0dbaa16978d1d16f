"""Permission matrix for every route with an id: anonymous 401, owner 2xx, other user 404."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import Account, assert_problem, make_account, make_task

# Every API route with a path id, and what its owner may send. A new route without a case
# here makes test_every_id_route_has_a_case fail.
CASES: dict[tuple[str, str], tuple[dict[str, Any] | None, int]] = {
    ("GET", "/api/v1/tasks/{task_id}"): (None, 200),
    ("PATCH", "/api/v1/tasks/{task_id}"): ({"title": "mine"}, 200),
    ("PUT", "/api/v1/tasks/{task_id}"): ({"title": "mine"}, 200),
    ("DELETE", "/api/v1/tasks/{task_id}"): (None, 204),
    ("POST", "/api/v1/tasks/{task_id}/complete"): (None, 200),
    ("POST", "/api/v1/tasks/{task_id}/reopen"): (None, 200),
    ("PATCH", "/api/v1/tags/{tag_id}"): ({"color": "#123456"}, 200),
    ("DELETE", "/api/v1/tags/{tag_id}"): (None, 204),
}
# Routes without an id that still need a credential.
AUTHED: dict[tuple[str, str], dict[str, Any] | None] = {
    ("GET", "/api/v1/tasks"): None,
    ("POST", "/api/v1/tasks"): {"title": "x"},
    ("GET", "/api/v1/tags"): None,
    ("GET", "/api/v1/me"): None,
    ("PATCH", "/api/v1/me"): {"name": "x"},
    ("DELETE", "/api/v1/me"): {"password": "whatever1"},
    ("POST", "/api/v1/me/password"): {"current_password": "a", "new_password": "b brand new"},
}
PUBLIC = {
    ("POST", "/api/v1/auth/signup"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
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
    assert {r for r in routes if "{" in r[1]} == set(CASES)
    assert routes == set(CASES) | set(AUTHED) | PUBLIC


async def _objects(client: httpx.AsyncClient, owner: Account) -> dict[str, str]:
    task = await make_task(client, owner, tags=["secret"])
    tags = (await client.get("/api/v1/tags", headers=owner.headers)).json()
    return {"task_id": task["id"], "tag_id": tags[0]["id"]}


@pytest.mark.parametrize(("method", "path"), list(CASES), ids=[f"{m} {p}" for m, p in CASES])
async def test_matrix(client: httpx.AsyncClient, method: str, path: str) -> None:
    owner = await make_account(client)
    intruder = await make_account(client)
    ids = await _objects(client, owner)
    url = path.format(**ids)
    body, owner_status = CASES[(method, path)]
    kwargs: dict[str, Any] = {"json": body} if body is not None else {}

    assert_problem(await client.request(method, url, **kwargs), 401)
    r = await client.request(method, url, headers=intruder.headers, **kwargs)
    assert_problem(r, 404)
    # The intruder's 404 looks exactly like a missing object's.
    missing = path.format(**{k: "00000000-0000-4000-8000-000000000000" for k in ids})
    r_missing = await client.request(method, missing, headers=intruder.headers, **kwargs)
    assert_problem(r_missing, 404)
    assert r.json()["detail"] == r_missing.json()["detail"]
    # Nothing of the owner's changed.
    task = await client.get(f"/api/v1/tasks/{ids['task_id']}", headers=owner.headers)
    assert task.status_code == 200 and task.headers["etag"] == '"1"'
    assert task.json()["tags"] == ["secret"] and task.json()["completed"] is False

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
    filtered = (
        await client.get("/api/v1/tasks", params={"tag": "shared-name"}, headers=alice.headers)
    ).json()
    assert [t["id"] for t in filtered["items"]] == [mine["id"]]
