"""API reads served from a dependency plan (doable.planned.PlannedRoute) answer exactly as
FastAPI's own handler answers the same request: status, problem or body, and headers.

The yardstick is the same app with `app.state.planned_routes = False`, which makes every
PlannedRoute hand its requests to the handler FastAPI built for it."""

from __future__ import annotations

import json
import re
import uuid
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute

from doable.db import unit_of_work
from doable.planned import PLANNED_STATE, PlannedRoute, is_planned, plannable
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


def test_the_hot_routes_are_planned(app: FastAPI) -> None:
    """The task list, a task's GET, a task's create (and the other plain routes) run from a
    plan. Adding a dependency the plan does not know to these routes fails here, since it
    would quietly bring FastAPI's per-request solving back."""
    planned = _planned_paths(app)
    assert ("GET", "/api/v1/tasks") in planned
    assert ("GET", "/api/v1/tasks/{task_id:uuid}") in planned
    assert ("GET", "/api/v1/tags") in planned
    assert ("POST", "/api/v1/tasks") in planned
    assert ("POST", "/api/v1/projects") in planned


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
        # a path error and a query error in one request: one 422, in FastAPI's order
        f"{TASKS}/not-a-uuid/comments?limit=0&cursor=" + "c" * 1001,
        f"{TASKS}/{tasks[0]['id']}/comments?limit=abc",
        "/api/v1/webhooks/not-a-uuid/deliveries?limit=0",
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


# --- writes --------------------------------------------------------------------------------

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?")
# What differs between two creates of the same thing: ids, instants, and the position key
# (it follows the last one in the list).
_FRESH = {"position", "etag", "content-length"}


def _created(r: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    """An answer with the values that two identical creates do not share blanked out."""
    status, body, headers = _answer(r)

    def blank(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: "*" if k in _FRESH else blank(v) for k, v in value.items()}
        if isinstance(value, list):
            return [blank(v) for v in value]
        if isinstance(value, str):
            return _INSTANT.sub("T", _ID.sub("ID", value))
        return value

    headers = {k: "*" if k in _FRESH else blank(v) for k, v in headers.items()}
    return status, blank(body), headers


async def _write_both(
    app: FastAPI,
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: dict[str, Any],
    content: bytes | None,
) -> tuple[tuple[int, Any, dict[str, str]], tuple[int, Any, dict[str, str]]]:
    answers = []
    for planned in (True, False):
        setattr(app.state, PLANNED_STATE, planned)
        try:
            r = await client.request(method, url, headers=headers, content=content)
        finally:
            setattr(app.state, PLANNED_STATE, True)
        answers.append(_created(r))
    return answers[0], answers[1]


_JSON = {"Content-Type": "application/json"}
# Bodies for a create, good and bad: each must get the same answer either way.
_CREATE_BODIES: list[tuple[dict[str, str], bytes | None]] = [
    (_JSON, b'{"title": "plain"}'),
    (_JSON, b'{"title": "full", "priority": "high", "due": "2030-01-02", "tags": ["a"]}'),
    ({"Content-Type": "application/json; charset=utf-8"}, b'{"title": "charset"}'),
    ({"Content-Type": "application/merge-patch+json"}, b'{"title": "suffix"}'),
    ({"Content-Type": "text/plain"}, b'{"title": "not json"}'),
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"title=form"),
    ({"Content-Type": ";;;"}, b'{"title": "odd type"}'),
    ({}, b'{"title": "no type"}'),
    (_JSON, b""),
    (_JSON, None),
    (_JSON, b"{}"),
    (_JSON, b"[]"),
    (_JSON, b"null"),
    (_JSON, b'"title"'),
    (_JSON, b'{"title": ""}'),
    (_JSON, b'{"title": "a\\u0000b"}'),
    (_JSON, b'{"title": "x", "unknown": 1}'),
    (_JSON, b'{"title": "x", "priority": "urgent"}'),
    (_JSON, b'{"title": "x", "due": "yesterday"}'),
    (_JSON, b'{"title": "x", "project_id": "not-a-uuid"}'),
    (_JSON, json.dumps({"title": "x" * 5000}).encode()),
    (_JSON, b'{"title": '),
    (_JSON, b'{"title": "x"} trailing'),
    (_JSON, b"\xff\xfe{}"),
    (_JSON, b'{"title": "\xff"}'),
    (_JSON, b"[" * 5000),
]


async def test_planned_writes_answer_as_fastapi_does(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A create, good or bad, by any caller, with or without an Idempotency-Key: the same
    status, problem, body and headers either way, and the same tasks stored."""
    owner = await make_account(client)
    writer = await make_api_token(client, owner, "tasks:write")
    reader = await make_api_token(client, owner, "tasks:read")
    credentials = {
        "owner": owner.headers,
        "api token with tasks:write": bearer(writer["token"]),
        "api token with tasks:read only": bearer(reader["token"]),
        "none": {},
        "garbage": {"Authorization": "Bearer not-a-token"},
    }
    keys: dict[str, dict[str, Any]] = {
        "no key": {},
        "empty key": {"Idempotency-Key": ""},
        "long key": {"Idempotency-Key": "k" * 256},
        "odd key": {"Idempotency-Key": "caf\u00e9".encode()},
        "control key": {"Idempotency-Key": b"a\x7fb"},
    }
    seen_statuses = set()
    for who, auth_headers in credentials.items():
        for key_name, key_headers in keys.items():
            for body_headers, content in _CREATE_BODIES:
                headers = {**auth_headers, **key_headers, **body_headers}
                planned, solved = await _write_both(app, client, "POST", TASKS, headers, content)
                assert planned == solved, (who, key_name, body_headers, content)
                seen_statuses.add(planned[0])
    assert {201, 401, 403, 422} <= seen_statuses, seen_statuses
    # Every accepted create was stored once per path: the titles come in pairs.
    titles: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(TASKS, params=params, headers=owner.headers)).json()
        titles += [t["title"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert titles and all(titles.count(t) % 2 == 0 for t in titles), titles


@pytest.mark.parametrize("first", [True, False], ids=["planned first", "solved first"])
async def test_an_idempotency_key_replays_across_paths(
    app: FastAPI, client: httpx.AsyncClient, first: bool
) -> None:
    """A key claimed by one path is replayed by the other, byte for byte, and a key reused
    for another request gets the same 422 from both."""
    acct = await make_account(client)
    headers = {**acct.headers, "Idempotency-Key": f"key-{first}"}
    setattr(app.state, PLANNED_STATE, first)
    try:
        original = await client.post(TASKS, json={"title": "once"}, headers=headers)
    finally:
        setattr(app.state, PLANNED_STATE, True)
    assert original.status_code == 201, original.text
    replays = []
    for planned in (not first, first):
        setattr(app.state, PLANNED_STATE, planned)
        try:
            replay = await client.post(TASKS, json={"title": "once"}, headers=headers)
            other = await client.post(TASKS, json={"title": "twice"}, headers=headers)
        finally:
            setattr(app.state, PLANNED_STATE, True)
        assert replay.status_code == 201 and replay.content == original.content
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.headers["location"] == original.headers["location"]
        replays.append(_answer(other))
    assert replays[0] == replays[1] and replays[0][0] == 422
    listed = (await client.get(TASKS, headers=acct.headers)).json()["items"]
    assert [t["title"] for t in listed] == ["once"]


async def test_other_planned_writes_answer_as_fastapi_does(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A project's create, a comment's create and edit, good and bad, the same either way."""
    owner = await make_account(client)
    task = await make_task(client, owner)
    made = await client.post(
        f"{TASKS}/{task['id']}/comments", json={"body": "first"}, headers=owner.headers
    )
    assert made.status_code == 201, made.text
    comment = f"{TASKS}/{task['id']}/comments/{made.json()['id']}"
    cases = [
        ("PATCH", comment, b'{"body": "edited"}'),
        ("PATCH", comment, b'{"body": ""}'),
        ("PATCH", comment, b""),
        ("PATCH", f"{TASKS}/{task['id']}/comments/not-a-uuid", b'{"body": 7}'),
        ("PATCH", f"{TASKS}/{task['id']}/comments/{uuid.uuid4()}", b'{"body": "gone"}'),
        ("POST", "/api/v1/projects", b'{"name": "Work"}'),
        ("POST", "/api/v1/projects", b'{"name": ""}'),
        ("POST", "/api/v1/projects", b'{"name": "Home", "color": "nope"}'),
        ("POST", "/api/v1/projects", b"{"),
        ("POST", f"{TASKS}/{task['id']}/comments", b'{"body": "hello"}'),
        ("POST", f"{TASKS}/{task['id']}/comments", b'{"body": ""}'),
        ("POST", f"{TASKS}/{uuid.uuid4()}/comments", b'{"body": "nobody"}'),
        ("POST", f"{TASKS}/not-a-uuid/comments", b'{"body": "bad id"}'),
    ]
    for who, auth_headers in {"owner": owner.headers, "none": {}}.items():
        for method, url, content in cases:
            headers = {**auth_headers, **_JSON}
            planned, solved = await _write_both(app, client, method, url, headers, content)
            assert planned == solved, (who, url, content)


def test_the_plan_refuses_what_it_cannot_reproduce() -> None:
    """A dependency solved otherwise than the plan would (not cached, a request-scoped
    session, an unknown one) keeps FastAPI's handler, and only async checks can be marked."""

    async def unknown() -> None:
        return None

    router = APIRouter(route_class=PlannedRoute)

    @router.get("/plain", response_model=int)
    async def plain(session: Annotated[Any, Depends(unit_of_work, scope="function")]) -> int:
        return 1

    @router.get("/uncached", response_model=int)
    async def uncached(
        session: Annotated[Any, Depends(unit_of_work, use_cache=False, scope="function")],
    ) -> int:
        return 1

    @router.get("/request-scoped", response_model=int)
    async def request_scoped(
        session: Annotated[Any, Depends(unit_of_work, scope="request")],
    ) -> int:
        return 1

    @router.get("/unknown", response_model=int, dependencies=[Depends(unknown)])
    async def with_unknown() -> int:
        return 1

    planned = {route.path: is_planned(route) for route in router.routes}  # type: ignore[arg-type]
    assert planned == {
        "/plain": True,
        "/uncached": False,
        "/request-scoped": False,
        "/unknown": False,
    }

    def sync_check(request: Any) -> None:
        return None

    with pytest.raises(TypeError):
        plannable(sync_check)  # type: ignore[arg-type]
