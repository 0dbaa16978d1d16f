"""Prometheus metrics: every metric Doable exports, defined once, built only when turned on.

Off by default. `METRICS_TOKEN` turns them on and serves `/metrics` to requests that carry it
as a bearer token; nothing else can read them. `prometheus_client` is imported the first time
metrics are turned on, so a process with metrics off neither loads it nor counts anything.

Other modules feed the metrics through the plain functions below (`observe_event_bus_lag`,
`count_webhook_delivery`); each is a no-op while metrics are off. What the database knows for
every process (the scheduler's lag, the webhook queue) is read from it at scrape time.
Labels are bounded: a request is labelled with its route's template (`/api/v1/tasks/{task_id}`),
never its raw path, and with its method and status.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from doable import events
from doable.db import Database
from doable.errors import problem

if TYPE_CHECKING:
    from fastapi import FastAPI
    from prometheus_client import CollectorRegistry

log = logging.getLogger("doable.metrics")

PATH = "/metrics"
# Request latency buckets, in seconds: most requests take milliseconds, an import seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"
# A scrape never waits longer than this on the database (a stalled one leaves the lag unknown).
SCRAPE_DB_TIMEOUT_S = 2.0

WebhookOutcome = Literal["delivered", "failed", "expired"]


class Metrics:
    """The metric objects, in a registry of their own (the process's CPU and memory too)."""

    def __init__(self) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            PlatformCollector,
            ProcessCollector,
        )

        self.registry: CollectorRegistry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        r = self.registry
        self.requests = Counter(
            "doable_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "doable_http_request_duration_seconds",
            "Time from the request's arrival to its last response byte, by route template "
            "(an event stream's is its whole life).",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.pool_checked_out = Gauge(
            "doable_db_pool_checked_out", "Database connections in use.", registry=r
        )
        self.pool_size = Gauge(
            "doable_db_pool_size", "Database connections the pool keeps open.", registry=r
        )
        self.pool_overflow = Gauge(
            "doable_db_pool_overflow",
            "Connections beyond the pool size: 0 or less (minus the connections not yet opened).",
            registry=r,
        )
        self.scheduler_lag = Gauge(
            "doable_scheduler_lag_seconds",
            "How long the oldest due reminder has waited to fire (0 when none is waiting; "
            "NaN when the database did not answer the scrape in time).",
            registry=r,
        )
        self.open_streams = Gauge(
            "doable_event_streams_open", "Event streams open in this process.", registry=r
        )
        self.event_bus_lag = Histogram(
            "doable_event_bus_lag_seconds",
            "From an event's commit to its arrival in this process's bus.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.webhook_queue_depth = Gauge(
            "doable_webhook_queue_depth",
            "Webhook deliveries waiting to be sent (pending), read from the database at scrape "
            "time: the same figure on every process.",
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "doable_webhook_deliveries",
            "Webhook delivery attempts by outcome (delivered, failed, expired).",
            ["outcome"],
            registry=r,
        )


_metrics: Metrics | None = None


def enable() -> Metrics:
    """Build the metrics (importing prometheus_client) once per process."""
    global _metrics
    if _metrics is None:
        _metrics = Metrics()
    return _metrics


def active() -> Metrics | None:
    """The metrics, or None while they are off."""
    return _metrics


# Hooks for other modules: cheap no-ops while metrics are off.


def observe_event_bus_lag(seconds: float) -> None:
    if _metrics is not None:
        _metrics.event_bus_lag.observe(max(0.0, seconds))


def count_webhook_delivery(outcome: WebhookOutcome) -> None:
    if _metrics is not None:
        _metrics.webhook_deliveries.labels(outcome=outcome).inc()


class RouteTemplates:
    """The full template (prefix included) of each route object the app serves.

    Newer FastAPI hands the endpoint's own route object to the request's scope, whose path
    lacks the prefixes of the routers it was included through; the app's route contexts carry
    the full one. (Older FastAPI copied each route with its full path: that one is used.)
    Read once, on the first request, when every route is in place."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: dict[int, str] | None = None

    def _build(self) -> dict[int, str]:
        try:
            from fastapi.routing import iter_route_contexts
        except ImportError:  # FastAPI before route contexts copied routes with their prefix
            return {}
        templates: dict[int, str] = {}
        for ctx in iter_route_contexts(getattr(self.app, "routes", [])):
            template = ctx.path_format or ctx.path
            if template:
                templates.setdefault(id(ctx.original_route), template)
        return templates

    def of(self, scope: Scope) -> str:
        """The matched route's template, `<unmatched>` when none matched: bounded by the app."""
        route = scope.get("route")
        if route is None:
            return UNMATCHED
        if self._templates is None:
            self._templates = self._build()
        template = self._templates.get(id(route)) or getattr(route, "path_format", None)
        return template if isinstance(template, str) and template else UNMATCHED


class MetricsMiddleware:
    """Counts each request and its latency under its route template. Outermost, so it sees
    every answer, refusals and last-resort 500s included; the router records the matched
    route in the shared scope, which is read once the response is done."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, routes: RouteTemplates) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            method = scope.get("method", "")
            method = method if method in _METHODS else "OTHER"
            route = self.routes.of(scope)
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


async def _database_gauges(database: Database, now: datetime) -> tuple[float, int]:
    """How long the oldest due reminder has waited (seconds), and how many webhook deliveries
    are pending: two indexed reads on one connection."""
    from doable.reminders.models import Reminder
    from doable.webhooks.models import WebhookDelivery

    async with database.engine.connect() as conn:
        oldest = await conn.scalar(
            select(func.min(Reminder.fire_at)).where(
                Reminder.fired_at.is_(None), Reminder.fire_at <= now
            )
        )
        # On the (status, next_attempt_at) index: an index range scan of the pending rows.
        pending = await conn.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.status == "pending")
        )
    lag = 0.0
    if oldest is not None:
        if oldest.tzinfo is None:  # SQLite and MariaDB hand back naive UTC
            oldest = oldest.replace(tzinfo=UTC)
        lag = max(0.0, (now - oldest).total_seconds())
    return lag, int(pending or 0)


async def _refresh(metrics: Metrics, database: Database, now: datetime) -> None:
    """The gauges read at scrape time: the pool, the open streams, the scheduler's lag and the
    webhook queue."""
    pool: Any = database.engine.sync_engine.pool
    if hasattr(pool, "checkedout"):
        metrics.pool_checked_out.set(pool.checkedout())
        metrics.pool_size.set(pool.size())
        metrics.pool_overflow.set(pool.overflow())
    metrics.open_streams.set(events.bus.open_streams())
    lag, depth = math.nan, math.nan
    try:
        lag, pending = await asyncio.wait_for(_database_gauges(database, now), SCRAPE_DB_TIMEOUT_S)
        depth = float(pending)
    except Exception as exc:  # a scrape must answer even while the database does not
        log.info("metrics: scheduler lag and webhook queue unknown (%s)", type(exc).__name__)
    metrics.scheduler_lag.set(lag)
    metrics.webhook_queue_depth.set(depth)


def _authorized(request: Request, token: bytes) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token)


def install(app: FastAPI, *, token: str, database: Database) -> None:
    """Serve `/metrics` to bearer `token` only, and count every request from now on."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    metrics = enable()
    expected = token.encode()

    async def scrape(request: Request) -> Response:
        if not _authorized(request, expected):
            return problem(
                401,
                "Not authenticated",
                "The metrics need the bearer token set in METRICS_TOKEN.",
                slug="unauthorized",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"', "Cache-Control": "no-store"},
            )
        await _refresh(metrics, database, datetime.now(UTC))
        body = await asyncio.to_thread(generate_latest, metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})

    app.router.routes.insert(
        0, Route(PATH, endpoint=scrape, methods=["GET"], name="metrics", include_in_schema=False)
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=RouteTemplates(app))
