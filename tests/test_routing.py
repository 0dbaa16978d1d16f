"""The app's routes are flat and found through an index (doable.routing): every request reaches
the route the router's own walk would reach, and whatever the index does not decide (405, 404,
the trailing-slash redirect) is answered by the router as before."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.convertors import IntegerConvertor, PathConvertor, UUIDConvertor
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Mount, NoMatchFound, Route

from doable.routing import RouteIndex, path_for
from tests.factories import bearer, make_account, make_task

# Requests whose answer the index leaves to the router, or which only look like a route.
AWKWARD = [
    ("GET", "/"),
    ("GET", "/api/v1/tasks/"),
    ("GET", "//api/v1/tasks"),
    ("GET", "/api/v1/tasks/not-a-uuid"),
    ("PUT", "/api/v1/tasks"),
    ("GET", "/api/v1"),
    ("GET", "/api/v1/nothing/here"),
    ("GET", "/api/00000000-0000-4000-8000-000000000000/tasks"),
    ("GET", "/static/"),
    ("GET", "/static/no-such-file.css"),
    ("POST", "/healthz"),
    ("GET", "/tasks/"),
    ("GET", "/nothing"),
    ("GET", "/api/v1/tasks/%2e%2e/tags"),
]


def _scope(app: FastAPI, method: str, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "headers": [],
        "query_string": b"",
        "app": app,
    }


def _walk(app: FastAPI, scope: dict[str, Any]) -> BaseRoute | None:
    """The route Starlette's router would run: the first to match in full."""
    for route in app.router.routes:
        if route.matches(dict(scope))[0] is Match.FULL:
            return route
    return None


def _indexed(index: RouteIndex, scope: dict[str, Any]) -> BaseRoute | None:
    for route in index.candidates(scope["path"]):
        if route.matches(dict(scope))[0] is Match.FULL:
            return route
    return None


def _sample(route: BaseRoute) -> str | None:
    """A path `route` matches, with a value of the right kind for each parameter."""
    convertors = getattr(route, "param_convertors", {})
    values: dict[str, str] = {}
    for name, convertor in convertors.items():
        if isinstance(convertor, UUIDConvertor):
            values[name] = str(uuid.uuid4())
        elif isinstance(convertor, IntegerConvertor):
            values[name] = "7"
        elif isinstance(convertor, PathConvertor):
            values[name] = "some/file.txt"
        elif name == "user_id":  # the compat routes' own convertor: a UUID
            values[name] = str(uuid.uuid4())
        else:
            values[name] = "x1"
    path_format = getattr(route, "path_format", None)
    if not isinstance(path_format, str):
        return None
    return path_format.format(**values)


def test_the_routes_are_flat(app: FastAPI) -> None:
    """No included router sits in the list: each entry is a route a request can run."""
    kinds = {type(route).__name__ for route in app.router.routes}
    assert all(isinstance(route, (APIRoute, Route, Mount)) for route in app.router.routes), kinds
    assert len(app.router.routes) > 150
    assert isinstance(app.router.middleware_stack, RouteIndex)


def test_the_index_finds_what_the_router_finds(app: FastAPI) -> None:
    index = app.router.middleware_stack
    assert isinstance(index, RouteIndex)
    checked = 0
    for route in app.router.routes:
        path = _sample(route)
        if path is None:
            continue
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            scope = _scope(app, method, path)
            expected = _walk(app, scope)
            assert expected is not None, (method, path)
            assert _indexed(index, scope) is expected, (method, path)
            checked += 1
    assert checked > 200
    for method, path in AWKWARD:
        scope = _scope(app, method, path)
        assert _indexed(index, scope) is _walk(app, scope), (method, path)


async def test_what_the_index_leaves_to_the_router_answers_as_before(
    client: httpx.AsyncClient,
) -> None:
    """405 with Allow, 404 as a problem, the redirect for a trailing slash, and a route
    added after the app was built: all still answered."""
    account = await make_account(client)
    token = account.access_token
    task = await make_task(client, account, title="routed")
    wrong_method = await client.put("/api/v1/tasks", headers=bearer(token), json={})
    assert wrong_method.status_code == 405
    assert "GET" in wrong_method.headers["allow"]
    missing = await client.get("/api/v1/nothing/here", headers=bearer(token))
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    slash = await client.get("/api/v1/tasks/", headers=bearer(token), follow_redirects=False)
    assert slash.status_code == 307
    assert slash.headers["location"].endswith("/api/v1/tasks")
    found = await client.get(f"/api/v1/tasks/{task['id']}", headers=bearer(token))
    assert found.status_code == 200
    assert found.json()["title"] == "routed"


async def test_a_route_added_later_is_found(app: FastAPI, client: httpx.AsyncClient) -> None:
    async def late(_: Any) -> Any:
        from starlette.responses import PlainTextResponse

        return PlainTextResponse("late")

    app.router.routes.append(Route("/late-route", endpoint=late))
    try:
        answer = await client.get("/late-route")
        assert answer.status_code == 200
        assert answer.text == "late"
    finally:
        app.router.routes.pop()


def _request(app: FastAPI, root_path: str = "") -> Request:
    scope = {**_scope(app, "GET", "/"), "router": app.router, "root_path": root_path}
    scope.update(server=("testserver", 80), scheme="http")
    return Request(scope)


def test_path_for_gives_what_url_for_gives(app: FastAPI) -> None:
    """A Location built by `path_for` is the path `url_for` builds, for every named route,
    behind a root path too; a name or parameters that fit no route fail the same way."""
    checked = 0
    for route in app.router.routes:
        convertors = getattr(route, "param_convertors", None)
        if convertors is None or not getattr(route, "name", None):
            continue
        sample = _sample(route)
        if sample is None:
            continue
        params = dict(route.matches(_scope(app, "GET", sample))[1].get("path_params", {}))
        if set(params) != set(convertors):
            continue
        for root_path in ("", "/behind/proxy"):
            request = _request(app, root_path)
            expected = request.url_for(route.name, **params).path
            assert path_for(request, route.name, **params) == expected, (route.name, root_path)
            checked += 1
    assert checked > 200
    request = _request(app)
    for route in app.router.routes:  # a value that cuts url_for's URL: the same path
        if isinstance(route, Route) and set(route.param_convertors) == {"project_id"}:
            odd = {"project_id": "a?b#c"}
            assert path_for(request, route.name, **odd) == request.url_for(route.name, **odd).path
            break
    else:
        raise AssertionError("no route with a project_id parameter")
    for name, params in [("no_such_route", {}), ("get_task", {"wrong": "1"})]:
        with pytest.raises(NoMatchFound):
            request.url_for(name, **params)
        with pytest.raises(NoMatchFound):
            path_for(request, name, **params)


async def test_a_created_task_is_located(client: httpx.AsyncClient) -> None:
    account = await make_account(client)
    created = await client.post("/api/v1/tasks", json={"title": "here"}, headers=account.headers)
    location = created.headers["location"]
    assert location == f"/api/v1/tasks/{created.json()['id']}"
    assert (await client.get(location, headers=account.headers)).json()["title"] == "here"
