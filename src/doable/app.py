"""create_app(): routers, middleware, error handlers, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.routing import Route

from doable import __version__
from doable.accounts.router import admin_router, reset_router
from doable.activity.router import router as activity_router
from doable.admission import AdmissionMiddleware
from doable.auth.router import auth_router, me_router, tokens_router
from doable.comments.router import comments_router, mute_router
from doable.compat.router import router as compat_router
from doable.compression import CompressionMiddleware
from doable.config import RuntimeConfig, resolve
from doable.db import Database, Timeouts
from doable.errors import install_error_handlers
from doable.events import bus, stream_shutdown_on_signals
from doable.feeds.router import feeds_router, ical_router
from doable.logging_setup import configure_logging
from doable.mcp_server.lazy import LazyMcpEndpoint
from doable.middleware import RequestContextMiddleware
from doable.notify.agenda import AgendaSender
from doable.notify.delivery import PushConfig, Pusher
from doable.notify.router import email_router, push_actions_router, push_router
from doable.notify.router import settings_router as notification_settings_router
from doable.openapi import install_openapi
from doable.ops import metrics as metrics_hooks
from doable.ops.docs import STATIC_DIR, install_docs
from doable.ops.router import router as ops_router
from doable.projects.router import projects_router, sections_router
from doable.projects.sharing_router import invitations_router, members_router
from doable.proxy import ProxyHeadersMiddleware
from doable.relay import leases
from doable.relay.hub import build_relay
from doable.reminders.router import events_router, notifications_router, reminders_router
from doable.reminders.scheduler import Scheduler
from doable.reminders.stream import StreamWatch
from doable.routing import API_PREFIX, add_routes, index_routes
from doable.state import AppState
from doable.tasks.router import parse_router, tags_router, tasks_router
from doable.transfer.router import router as transfer_router
from doable.trash import purge as trash_purge
from doable.trash.router import router as trash_router
from doable.web.assets import FingerprintedStaticFiles, fingerprints
from doable.web.errors import fallback_500_html, render_error
from doable.web.routes import include_web_routes
from doable.web.security import SecurityHeadersMiddleware, frame_ancestors
from doable.web.trash import router as web_trash_router
from doable.web.unsubscribe import router as web_unsubscribe_router
from doable.web.webhooks import router as web_webhooks_router
from doable.webhooks.delivery import DeliveryConfig, Worker
from doable.webhooks.router import webhooks_router

# The cyclic collector's full pass walks every object not frozen, most of them ones that lived
# through a middle pass. With 1,000 event streams open that is some 300,000 objects, and each
# pass held the event loop for a good part of a tenth of a second: other requests' p99 doubled
# (docs/performance.md, round 11). Python 3.11 to 3.13 start one after more than 10 middle
# passes, once the objects that lived through them are a quarter of what the last full pass
# kept; that 10 is now 100. The young and middle passes are left as they are. (From 3.14 the
# collector is incremental, pauses are short anyway, and the third threshold is ignored.)
FULL_PASS_AFTER = 100


def create_app(runtime: RuntimeConfig | None = None, database: Database | None = None) -> FastAPI:
    """Build the app. With no arguments (uvicorn's factory), settings come from the environment."""
    if runtime is None:
        # uvicorn's factory in a worker process (`--workers N`): a fresh interpreter, whose
        # logging is not the parent's.
        runtime = resolve()
        configure_logging(runtime.settings.log_format, runtime.settings.log_level)
    settings = runtime.settings
    owns_database = database is None
    db = database or Database(
        runtime.database,
        pool_size=settings.db_pool_size,
        timeouts=Timeouts(
            pool_s=settings.db_pool_timeout,
            statement_ms=settings.db_statement_timeout_ms,
            lock_ms=settings.db_lock_timeout_ms,
        ),
    )
    db.set_task_quota(settings.max_tasks_per_account)
    db.set_trash_days(settings.trash_days)
    state = AppState.build(runtime, db)
    mcp = LazyMcpEndpoint(database=db, state=state, max_body_bytes=settings.max_body_bytes)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # What exists now lives as long as the process: keep it out of the cyclic collector's
        # full passes, which otherwise stall a request now and then. `doable serve` kept the
        # collector off while starting (doable.cli, one worker without --reload): from here on
        # it runs. Looking for garbage first walks all ~270,000 objects (0.16 s of a 1.3 s cold
        # start) to find about 1 MB, so with the collector off here that is frozen too (a start
        # that migrated, or waited for the database, collected then: doable.migrations.upgrade,
        # doable.cli.migrate_with_retry). With it on (tests, --workers above 1, --reload, an
        # embedding program), garbage of any size may be about: it collects first.
        if gc.isenabled():
            gc.collect()
        gc.freeze()
        young, middle = gc.get_threshold()[:2]
        gc.set_threshold(young, middle, FULL_PASS_AFTER)
        gc.enable()
        # Events to and from the other processes on this database (docs/operations.md).
        relay = build_relay(runtime, db, bus)
        relay.lag_observer = metrics_hooks.observe_event_bus_lag  # a no-op while metrics are off
        await relay.start()
        app.state.relay = relay
        renewing = asyncio.create_task(leases.keep_renewing(db), name="doable-stream-leases")
        watching = asyncio.create_task(StreamWatch().run(db), name="doable-stream-watch")
        scheduler = None
        # Notifications go out by Web Push and email from the process that made them: fired
        # reminders from the scheduler's, the rest from the one whose request wrote them.
        pusher = Pusher(db, PushConfig.from_settings(settings, runtime.secret_key))
        pusher.start()
        if settings.scheduler_enabled:
            scheduler = Scheduler(
                db,
                late_after=timedelta(seconds=settings.reminder_late_seconds),
                on_fired=pusher.enqueue,
            )
            scheduler.start()
        app.state.scheduler = scheduler
        # Daily agendas: claimed like reminders, so every process may run a sender.
        agendas = None
        if settings.scheduler_enabled and settings.smtp_host:
            agendas = AgendaSender(db, PushConfig.from_settings(settings, runtime.secret_key))
            agendas.start()
        # The trash's purge runs beside the scheduler (trash/purge.py: safe in every replica).
        purging = (
            asyncio.create_task(trash_purge.run(db), name="doable-trash-purge")
            if settings.scheduler_enabled
            else None
        )
        webhooks = None
        if settings.webhook_worker_enabled:
            webhooks = Worker(db, DeliveryConfig.from_settings(settings, runtime.secret_key))
            webhooks.start()
        try:
            # The MCP transport (started by the first /mcp request) lives as long as the app.
            with stream_shutdown_on_signals():
                async with mcp.run():
                    yield
        finally:
            if scheduler is not None:
                await scheduler.stop()
            await pusher.stop()
            if agendas is not None:
                await agendas.stop()
            # Reset emails asked for just before: a few seconds to go out.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await state.mailer.idle()
            if webhooks is not None:
                await webhooks.stop()
            for task in (renewing, watching, purging):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await leases.release_all(db)
            await relay.stop()
            if owns_database:
                await db.dispose()

    app = FastAPI(
        title="Doable",
        version=__version__,
        summary="A self-hostable, multi-user task service.",
        docs_url=None,  # served by install_docs from vendored assets
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        lifespan=lifespan,
    )
    app.state.database = db
    app.state.doable = state

    # Routes are matched in order, one by one (doable.routing): the busiest come first.
    add_routes(
        app,
        parse_router,  # before tasks_router's /tasks/{task_id}
        tasks_router,
        tags_router,
        comments_router,
        projects_router,
        sections_router,
        members_router,
        invitations_router,
        mute_router,
        auth_router,
        reset_router,
        admin_router,
        me_router,
        tokens_router,
        transfer_router,
        feeds_router,
        reminders_router,
        notifications_router,
        events_router,
        push_router,
        push_actions_router,
        email_router,
        notification_settings_router,
        webhooks_router,
        activity_router,
        trash_router,
        compat_router,  # after /api/v1, though its {user_id} only matches UUIDs
        ops_router,
        ical_router,  # public, gated by the secret in its path
    )
    # The MCP server (streamable HTTP): a plain ASGI route, outside the OpenAPI document.
    app.router.routes.append(Route("/mcp", endpoint=mcp, name="mcp", include_in_schema=False))
    install_openapi(app)
    fingerprints()  # the static files' hashes, once, before the first page links them
    app.mount("/static", FingerprintedStaticFiles(directory=STATIC_DIR), name="static")
    if settings.docs_enabled:
        install_docs(
            app, openapi_url="/openapi.json", frame_ancestors=frame_ancestors(settings.embedded)
        )

    include_web_routes(app)
    add_routes(app, web_webhooks_router, web_trash_router, web_unsubscribe_router)
    index_routes(app)
    install_error_handlers(app, html=render_error)
    # Innermost: a request takes an admission slot (or waits its turn, or gets 503) before
    # any of its work, after the request context logs it.
    app.add_middleware(
        AdmissionMiddleware,
        slots=settings.admission_slots or settings.db_pool_size * 3,
        wait_ms=settings.admission_wait_ms,
        queue=settings.admission_queue,
    )
    # Added first, so it sits inside CORS: even last-resort 500s carry CORS headers.
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        body_limits={
            f"{API_PREFIX}/import": settings.import_max_bytes,
            "/account/import": settings.import_max_bytes,  # the web app's import form
        },
        html_500=fallback_500_html,
    )
    # gzip for JSON and static files, never HTML or event streams (compression.py says why).
    app.add_middleware(CompressionMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "Idempotency-Key",
                "X-Request-ID",
                "Mcp-Protocol-Version",
                "Mcp-Session-Id",
                "Mcp-Method",
                "Mcp-Name",
            ],
            expose_headers=[
                "ETag",
                "Location",
                "X-Request-ID",
                "Retry-After",
                "Idempotent-Replayed",
            ],
            max_age=600,
        )
    # Outermost: every response, errors included, carries the security headers.
    app.add_middleware(SecurityHeadersMiddleware, embedded=settings.embedded)
    # Outside that: the client's address from trusted proxies' headers, before anything reads it.
    app.add_middleware(ProxyHeadersMiddleware, trusted=settings.forwarded_allow_ips)
    if settings.metrics_token is not None:
        # Imported here: with metrics off, prometheus_client is never loaded.
        from doable.ops import metrics

        # Outermost of all, so every answer is counted.
        metrics.install(app, token=settings.metrics_token, database=db)
    return app
