"""API reads served from a dependency plan (doable.routing.PlannedRoute) answer exactly as
FastAPI's own handler answers the same request: status, problem or body, and headers.

The yardstick is the same app with `app.state.planned_routes = False`, which makes every
PlannedRoute hand its requests to the handler FastAPI built for it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from doable.routing import PLANNED_STATE, is_planned
from tests.factories import bearer, make_account, make_api_token, make_task

TASKS = "/api/v1/tasks"
# Headers that differ between two answers to one request whatever serves them.
_VARYING = {"x-request-id", "date", "server"}


def _planned_paths(app: FastAPI) -> set[tuple[str, str]]:
    """(method, full path) of every planned route, on FastAPI's flat route list (before 0.16x,
    which .ci/ranges installs) or through its route contexts (after)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:
        pairs = [(r, getattr(r, "path", "")) for r in app.routes]
    else:
        pairs = [(c.original_route, c.path) for c in iter_route_contexts(app.routes)]
    return {
        (method, path)
        for route, path in pairs
        if isinstance(route, APIRoute) and is_planned(route)
        for method in route.methods
    }


def test_the_hot_reads_are_planned(app: FastAPI) -> None:
    """The task list and a task's GET (and the other plain reads) run from a plan; a write
    never does. Adding a dependency the plan does not know to these routes fails here, since
    it would quietly bring FastAPI's per-request solving back."""
    planned = _planned_paths(app)
    assert ("GET", "/api/v1/tasks") in planned
    assert ("GET", "/api/v1/tasks/{task_id:uuid}") in planned
    assert ("GET", "/api/v1/tags") in planned
    assert not any(method not in {"GET", "HEAD"} for method, _ in planned), planned


def _answer(r: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    headers = {k: v for k, v in r.headers.items() if k.lower() not in _VARYING}
    body: Any = r.content
    if r.headers.get("content-type", "").endswith("json"):
        body = r.json()
        if isinstance(body, dict):
            body.pop("request_id", None)
    return r.status_code, body, headers


async def _both(
    app: FastAPI, client: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> tuple[tuple[int, Any, dict[str, str]], tuple[int, Any, dict[str, str]]]:
    setattr(app.state, PLANNED_STATE, True)
    planned = _answer(await client.get(url, headers=headers))
    setattr(app.state, PLANNED_STATE, False)
    try:
        solved = _answer(await client.get(url, headers=headers))
    finally:
        setattr(app.state, PLANNED_STATE, True)
    return planned, solved


async def test_planned_reads_answer_as_fastapi_does(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner, other = await make_account(client), await make_account(client)
    tasks = [
        await make_task(client, owner, tags=["work", "home"], priority="high", due="2030-01-02"),
        await make_task(client, owner, tags=["work"]),
        await make_task(client, owner, title="zanzibar trip"),
    ]
    foreign = await make_task(client, other)
    reader = await make_api_token(client, owner, "tasks:read")
    no_scope = await make_api_token(client, owner, "account:read")
    first_page = (await client.get(TASKS, params={"limit": 2}, headers=owner.headers)).json()
    cursor = first_page["next_cursor"]
    assert cursor

    urls = [
        TASKS,
        f"{TASKS}?limit=2",
        f"{TASKS}?limit=2&cursor={cursor}",
        f"{TASKS}?status=pending&tag=work&tag=home&priority=high&sort=due&order=asc",
        f"{TASKS}?q=zanzibar",
        f"{TASKS}?when=upcoming&days=30",
        f"{TASKS}?has_due=true&due_after=2029-12-31",
        f"{TASKS}?assignee=me",
        # bad input: each must be the same 422 (or 400) problem either way
        f"{TASKS}?limit=0",
        f"{TASKS}?limit=abc",
        f"{TASKS}?limit=1&limit=2",
        f"{TASKS}?status=bogus",
        f"{TASKS}?days=3",
        f"{TASKS}?when=upcoming&days=400",
        f"{TASKS}?cursor=not-a-cursor",
        f"{TASKS}?project_id=not-a-uuid",
        f"{TASKS}?section_id=none&parent_id=none",
        f"{TASKS}?q=" + "x" * 201,
        f"{TASKS}?q=%00",
        f"{TASKS}?priority=high&priority=low&priority=none&priority=medium&priority=high&priority=low",
        f"{TASKS}?tag=",
        f"{TASKS}?q=%ff",
        f"{TASKS}?unknown=1",
        f"{TASKS}/{tasks[0]['id']}",
        f"{TASKS}/{foreign['id']}",
        f"{TASKS}/{uuid.uuid4()}",
        "/api/v1/tags",
    ]
    credentials = {
        "owner": owner.headers,
        "api token with tasks:read": bearer(reader["token"]),
        "api token without it": bearer(no_scope["token"]),
        "none": {},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
    }
    seen_statuses = set()
    for who, headers in credentials.items():
        for url in urls:
            planned, solved = await _both(app, client, url, headers)
            assert planned == solved, (who, url)
            seen_statuses.add(planned[0])
    # The walk reached every kind of answer it means to compare.
    assert {200, 401, 403, 404, 422} <= seen_statuses, seen_statuses


@pytest.mark.parametrize("etag", ['"1"', '"999"', "*"])
async def test_a_planned_get_keeps_its_etag(
    app: FastAPI, client: httpx.AsyncClient, etag: str
) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct)
    planned, solved = await _both(
        app, client, f"{TASKS}/{task['id']}", {**acct.headers, "If-None-Match": etag}
    )
    assert planned == solved
    assert planned[0] == 200 and planned[2]["etag"] == '"1"'
