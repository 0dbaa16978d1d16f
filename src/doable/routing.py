"""How requests reach routes: routers added flat (`add_routes`), and `PlannedRoute`, an API
route whose reads skip FastAPI's per-request dependency solving.

Routers are added flat. Since 0.16x FastAPI includes a router lazily, as one entry in its
parent's list: each request walks every included router before it (their routes, and their
routes' version for a cache check) and walks again, level by level, to run the route it found.
That cost 45 to 60 us of CPU for an API route and 0.4 to 0.5 ms for a page listed after the
API. So each router is made with its full prefix and its own settings (tags, dependencies,
route class), and `add_routes` puts its routes straight into the app's list, which Starlette
matches route by route, the same on every FastAPI version. That list holds about 200 routes,
and a page listed after the API still cost 0.3 to 0.4 ms to find, so `index_routes` puts a
`RouteIndex` in front: it tries only the routes whose literal leading segments the path
starts with, in the list's order, and leaves everything else to the router.

FastAPI solves a route's dependency tree anew on every request: for each node it computes a
cache key, checks whether the callable is a generator, and enters exit stacks; for a task's
GET that bookkeeping cost about as much as the database work (issue 19). Most API reads
depend on the same few things: the caller (a scope requirement and `CurrentUser`), the
request's session and the app state. For a GET route whose dependencies are only those, this
route runs a plan made once when the route is built, in FastAPI's order:

1. open the request's unit of work (as `SessionDep` does);
2. check the Bearer credential and the API token's scope (as `require_scope_by_method` and
   `current_user` do, by calling them);
3. the route's own checks (`dependencies=[...]` such as the query-string check);
4. validate path, query, header and cookie parameters with FastAPI's own function, so the
   values and the errors (422) are exactly FastAPI's;
5. call the endpoint, commit, then validate and serialize the response with the route's
   response field, as FastAPI does, with the headers and status the endpoint set.

Any other route (a write, a body, another dependency) keeps FastAPI's handler: the plan is
an optimisation of what FastAPI would do, never a second behaviour. FastAPI still reads the
endpoint's signature for the OpenAPI document, so that stays what it was; the tests run every
API read through this route and the schema fuzzer checks its answers against the document.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi._compat import ModelField
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.routing import APIRoute, APIRouter
from fastapi.utils import is_body_allowed_for_status_code
from starlette._utils import get_route_path
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Router
from starlette.types import Receive, Scope, Send

from doable.auth import dependencies as auth
from doable.db import SAFE_METHODS, Database, unit_of_work
from doable.state import get_state

API_PREFIX = "/api/v1"
Handler = Callable[[Request], Coroutine[Any, Any, Response]]
# On `app.state`: False makes every PlannedRoute use FastAPI's own handler instead.
PLANNED_STATE = "planned_routes"
Check = Callable[[Request], Coroutine[Any, Any, None]]
_REQUEST_CHECKS: set[Check] = set()
# What the plan knows how to provide, by the dependency's callable: the name it goes by.
_PROVIDED: dict[Callable[..., Any], str] = {
    auth.current_user: "user",
    unit_of_work: "session",
    get_state: "state",
}


def add_routes(app: FastAPI, *routers: APIRouter) -> None:
    """Put the routers' routes at the end of the app's list, in order (see the module). A
    router must carry everything itself: nothing is added here, and its lifespan hooks would be
    lost, so a router with any is refused."""
    for router in routers:
        if router.on_startup or router.on_shutdown:
            raise ValueError("add_routes takes routers without startup or shutdown hooks")
        app.router.routes.extend(router.routes)


class _Node:
    __slots__ = ("children", "routes")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.routes: list[tuple[int, BaseRoute]] = []


def _literal_segments(route: BaseRoute) -> list[str]:
    """The segments of `route`'s path before its first parameter (none for a route with no
    path, such as a `Host`: it is tried for every request)."""
    path = getattr(route, "path", None)
    found: list[str] = []
    if isinstance(path, str):
        for segment in path.strip("/").split("/"):
            if not segment or "{" in segment:
                break
            found.append(segment)
    return found


class RouteIndex:
    """The app router's dispatch for HTTP requests, narrowed by the path's leading segments.

    A route can only match a path that starts with its literal segments, so the routes tried
    are those whose literal segments lead the path, in the router's order: the first to match
    in full is the one the router would have chosen. Anything else (no full match, a method
    that does not fit, a redirect for a trailing slash, a 404, lifespan and websockets) goes to
    the router itself, which walks its whole list as before."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.fallback = router.middleware_stack
        self.root = _Node()
        self.indexed = -1

    def _build(self) -> None:
        root = _Node()
        for position, route in enumerate(self.router.routes):
            node = root
            for segment in _literal_segments(route):
                node = node.children.setdefault(segment, _Node())
            node.routes.append((position, route))
        self.root, self.indexed = root, len(self.router.routes)

    def candidates(self, path: str) -> list[BaseRoute]:
        if self.indexed != len(self.router.routes):
            self._build()  # a route was added after the index was made
        node = self.root
        found = list(node.routes)
        for segment in path.strip("/").split("/"):
            child = node.children.get(segment)
            if child is None:
                break
            node = child
            found += node.routes
        found.sort(key=lambda entry: entry[0])
        return [route for _, route in found]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "fastapi.telemetry" not in scope:
            scope.setdefault("router", self.router)
            for route in self.candidates(get_route_path(scope)):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await self.fallback(scope, receive, send)


def index_routes(app: FastAPI) -> None:
    """Put a `RouteIndex` in front of the app's router, unless the router has middleware or
    form limits of its own, which the index would skip."""
    router = app.router
    if router.middleware_stack != router.app or getattr(router, "form_limits", None):
        return
    router.middleware_stack = RouteIndex(router)


@dataclass(frozen=True)
class _Plan:
    read_scopes: tuple[str, ...]  # the scopes the route requires for reads, if any
    checks: tuple[Check, ...]
    provided: tuple[tuple[str, str], ...]  # (endpoint parameter, what it is)


def _plan(route: APIRoute) -> _Plan | None:
    """The plan for `route`, or None when FastAPI must solve it (a write, a body, a
    dependency the plan does not know, a sync endpoint, a streamed or custom response)."""
    dependant: Dependant = route.dependant
    if not route.methods or not route.methods <= SAFE_METHODS:
        return None
    if route.body_field is not None or route.response_field is None:
        return None
    if not inspect.iscoroutinefunction(dependant.call) or inspect.isasyncgenfunction(
        dependant.call
    ):
        return None
    if dependant.background_tasks_param_name or dependant.security_scopes_param_name:
        return None
    if dependant.websocket_param_name or dependant.http_connection_param_name:
        return None
    if not isinstance(route.response_class, DefaultPlaceholder):
        return None
    read_scopes: list[str] = []
    checks: list[Check] = []
    provided: list[tuple[str, str]] = []
    for sub in dependant.dependencies:
        call = sub.call
        scopes = getattr(call, auth.SCOPES_ATTRIBUTE, None)
        if scopes is not None and sub.name is None:
            read_scopes.append(scopes[0])
        elif call in _PROVIDED and sub.name is not None:
            provided.append((sub.name, _PROVIDED[call]))
        elif call in _REQUEST_CHECKS and not sub.dependencies and sub.name is None:
            checks.append(call)
        else:
            return None
    if any(what == "user" for _, what in provided) and not read_scopes:
        return None  # `current_user` refuses API tokens without a scope check: FastAPI's path
    return _Plan(tuple(read_scopes), tuple(checks), tuple(provided))


def request_check(check: Check) -> Check:
    """Mark `check(request)`, a dependency that refuses a request or does nothing, as one a
    `PlannedRoute` may call itself."""
    _REQUEST_CHECKS.add(check)
    return check


def _planned_handler(route: APIRoute, plan: _Plan) -> Handler:
    dependant = route.dependant
    endpoint = dependant.call
    assert endpoint is not None
    response_field = route.response_field
    assert response_field is not None
    status_code = route.status_code
    param_groups = (
        (dependant.path_params, "path_params"),
        (dependant.header_params, "headers"),
        (dependant.cookie_params, "cookies"),
    )
    query = _QueryFields(dependant.query_params)

    async def handler(request: Request) -> Response:
        database: Database = request.app.state.database
        state = await get_state(request)
        sub_response = Response()
        del sub_response.headers["content-length"]
        sub_response.status_code = None  # type: ignore[assignment]
        async with database.unit_of_work(write=False) as session:
            values: dict[str, Any] = {}
            if plan.read_scopes:
                credentials = await auth.bearer(request)
                principal = await auth.current_principal(request, session, state, credentials)
                for scope in plan.read_scopes:
                    auth.allow(request, principal, scope)  # type: ignore[arg-type]
                user = await auth.current_user(request, principal)
            for check in plan.checks:
                await check(request)
            for name, what in plan.provided:
                values[name] = user if what == "user" else session if what == "session" else state
            values_found, errors = query.validate(request.query_params)
            values.update(values_found)
            for fields, source in param_groups:
                if fields:
                    found, wrong = request_params_to_args(fields, getattr(request, source))
                    values.update(found)
                    errors += wrong
            if errors:
                raise RequestValidationError(errors)
            if dependant.request_param_name:
                values[dependant.request_param_name] = request
            if dependant.response_param_name:
                values[dependant.response_param_name] = sub_response
            raw = await endpoint(**values)
        if isinstance(raw, Response):
            return raw
        value, wrong = response_field.validate(raw, {}, loc=("response",))
        if wrong:
            raise ResponseValidationError(errors=wrong, body=raw)
        content = response_field.serialize_json(
            value,
            include=route.response_model_include,
            exclude=route.response_model_exclude,
            by_alias=route.response_model_by_alias,
            exclude_unset=route.response_model_exclude_unset,
            exclude_defaults=route.response_model_exclude_defaults,
            exclude_none=route.response_model_exclude_none,
        )
        response = Response(
            content=content,
            media_type="application/json",
            status_code=sub_response.status_code or status_code or 200,
        )
        if not is_body_allowed_for_status_code(response.status_code):
            response.body = b""  # a 204 or 304 the endpoint set
        response.headers.raw.extend(sub_response.headers.raw)
        return response

    return handler


class _QueryFields:
    """A route's query parameters, validated by FastAPI's own function but only those the query
    string holds (and the required ones): an absent optional parameter gets its default, as
    FastAPI gives it. The list of tasks has 17 parameters and a request usually sends two."""

    def __init__(self, fields: list[ModelField]) -> None:
        self.fields = fields
        self.names = {name for f in fields for name in (f.alias, f.name)}
        self.always = [f for f in fields if f.field_info.is_required()]
        self.defaults = {
            f.name: f.default
            for f in fields
            if not f.field_info.is_required() and not f.field_info.validate_default
        }

    def validate(self, received: QueryParams) -> tuple[dict[str, Any], list[Any]]:
        if not self.fields:
            return {}, []
        keys = set(received.keys())
        if not keys <= self.names or len(self.defaults) + len(self.always) < len(self.fields):
            return request_params_to_args(self.fields, received)  # anything unusual: all
        given = [f for f in self.fields if f.alias in keys or f.name in keys]
        values = {name: copy.deepcopy(default) for name, default in self.defaults.items()}
        found, errors = request_params_to_args(
            [*self.always, *(f for f in given if f not in self.always)], received
        )
        values.update(found)
        return values, errors


class PlannedRoute(APIRoute):
    """An APIRoute whose GET requests run a dependency plan made once (see the module)."""

    def get_route_handler(self) -> Handler:
        solved = super().get_route_handler()
        plan = _plan(self)
        if plan is None:
            return solved
        planned = _planned_handler(self, plan)

        async def handler(request: Request) -> Response:
            if getattr(request.app.state, PLANNED_STATE, True):
                return await planned(request)
            return await solved(request)  # app.state.planned_routes = False: the yardstick

        return handler


def is_planned(route: APIRoute) -> bool:
    """Whether `route` serves its requests from a plan (else FastAPI solves it)."""
    return isinstance(route, PlannedRoute) and _plan(route) is not None
