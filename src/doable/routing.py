"""How requests reach routes: routers added flat (`add_routes`) and found through an index
(`RouteIndex`).

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

Routes that skip FastAPI's per-request dependency solving are in `doable.planned`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRouter
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, NoMatchFound, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send

API_PREFIX = "/api/v1"


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
        self.named: dict[str, Route | WebSocketRoute] = {}
        self.indexed = -1

    def _build(self) -> None:
        root = _Node()
        named: dict[str, Route | WebSocketRoute] = {}
        plain = True  # no Mount or Host yet, which could answer a name of one of its routes
        for position, route in enumerate(self.router.routes):
            node = root
            for segment in _literal_segments(route):
                node = node.children.setdefault(segment, _Node())
            node.routes.append((position, route))
            if not isinstance(route, Route | WebSocketRoute):
                plain = False
            elif plain:
                named.setdefault(route.name, route)
        self.root, self.named, self.indexed = root, named, len(self.router.routes)

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


def path_for(request: Request, name: str, /, **params: Any) -> str:
    """`request.url_for(name, **params).path`, without walking the routes ahead of it and
    building the base URL: a created object's Location (Starlette's walk raised and caught an
    exception for each route before the one named, a twentieth of a task's create). The first
    route by that name answers, as Starlette's walk finds it; anything unusual (a root path, a
    name a Mount could answer, parameters that do not fit) takes Starlette's way."""
    index = getattr(request.scope.get("router"), "middleware_stack", None)
    if isinstance(index, RouteIndex) and not request.scope.get(
        "app_root_path", request.scope.get("root_path", "")
    ):
        if index.indexed != len(index.router.routes):
            index._build()
        route = index.named.get(name)
        if route is not None:
            try:
                path = str(route.url_path_for(name, **params))
            except NoMatchFound:
                pass
            else:
                if "?" not in path and "#" not in path:  # url_for's URL would cut there
                    return path
    return request.url_for(name, **params).path


def index_routes(app: FastAPI) -> None:
    """Put a `RouteIndex` in front of the app's router, unless the router has middleware or
    form limits of its own, which the index would skip."""
    router = app.router
    if router.middleware_stack != router.app or getattr(router, "form_limits", None):
        return
    router.middleware_stack = RouteIndex(router)
