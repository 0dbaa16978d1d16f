"""/api/v1/feeds (manage your feeds) and the public, secret-gated /ical/{secret}.ics."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header, Path, Request, Response, status
from fastapi.responses import StreamingResponse

from doable.auth.dependencies import CurrentUser, require_scope
from doable.db import Database, SessionDep, utcnow
from doable.feeds import service
from doable.feeds.cache import RenderCache
from doable.feeds.models import CalendarFeed
from doable.feeds.schemas import FeedCreate, FeedCreated, FeedOut
from doable.idempotency.route import IdempotentRoute, store_instead
from doable.routing import API_PREFIX
from doable.zones import Zone

# Every route needs tasks:read: a feed publishes tasks, so a token that cannot read them
# cannot publish them. Creating, rotating and revoking also need tasks:write: a feed URL is a
# standing credential that outlives the API token that made it, so a read-only token must not
# be able to mint one. POSTs honour Idempotency-Key (a replay answers `url: null`).
_READ = Depends(require_scope("tasks:read"))
_WRITE = Depends(require_scope("tasks:write"))
feeds_router = APIRouter(
    prefix=f"{API_PREFIX}/feeds", tags=["feeds"], dependencies=[_READ], route_class=IdempotentRoute
)
ical_router = APIRouter(prefix="/ical", tags=["feeds"])

COMMON: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated"},
    403: {"description": "An API token without tasks:read (and tasks:write to change feeds)"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Not found (also another user's or a revoked feed)"}
}
CHUNK_TASKS = 250
ICS_MEDIA_TYPE = "text/calendar; charset=utf-8"


def feed_out(feed: CalendarFeed) -> FeedOut:
    return FeedOut(
        id=feed.id,
        name=feed.name,
        kind=feed.kind,
        tag=feed.tag,
        priority=service.priorities_of(feed),
        status=feed.status,
        project_id=feed.project_id,
        hint=feed.hint,
        created_at=feed.created_at,
        last_fetched_at=feed.last_fetched_at,
    )


def feed_url(request: Request, secret: str) -> str:
    """The absolute address calendar apps subscribe to, built from the request's own host."""
    return str(request.url_for("ical_feed", secret=secret))


def _created(request: Request, feed: CalendarFeed, secret: str) -> FeedCreated:
    out = feed_out(feed)
    # An idempotent replay gets the same answer without the URL, whose secret is never stored.
    store_instead(request, FeedCreated(**out.model_dump(), url=None))
    return FeedCreated(**out.model_dump(), url=feed_url(request, secret))


FeedId = Annotated[uuid.UUID, Path(description="Feed id")]


@feeds_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedCreated,
    responses={
        **COMMON,
        404: {"description": "No such project (also another user's)"},
        409: {"description": "Already at the limit of feeds per user"},
    },
    dependencies=[_WRITE],
)
async def create_feed(
    data: FeedCreate, user: CurrentUser, session: SessionDep, request: Request
) -> FeedCreated:
    """Create a feed. Its URL is in this response only: the secret in it is stored hashed."""
    feed, secret = await service.create_feed(session, user, data)
    return _created(request, feed, secret)


@feeds_router.get("", response_model=list[FeedOut], responses=COMMON)
async def list_feeds(user: CurrentUser, session: SessionDep) -> list[FeedOut]:
    """Your feeds that are not revoked, newest first, with each secret's hint (never the URL)."""
    return [feed_out(f) for f in await service.list_feeds(session, user.id)]


@feeds_router.post(
    "/{feed_id}/rotate",
    response_model=FeedCreated,
    responses={**COMMON, **NOT_FOUND},
    dependencies=[_WRITE],
)
async def rotate_feed(
    feed_id: FeedId, user: CurrentUser, session: SessionDep, request: Request
) -> FeedCreated:
    """Give the feed a new URL (shown only in this response); the old one answers 404."""
    feed, secret = await service.rotate_feed(session, user.id, feed_id)
    return _created(request, feed, secret)


@feeds_router.delete(
    "/{feed_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**COMMON, **NOT_FOUND},
    dependencies=[_WRITE],
)
async def revoke_feed(feed_id: FeedId, user: CurrentUser, session: SessionDep) -> Response:
    """Revoke the feed: its URL answers 404 from now on."""
    await service.revoke_feed(session, user.id, feed_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# The public feed


async def _touch(request: Request, feed: CalendarFeed) -> None:
    """Record the fetch beside the request (one request of a burst does it)."""
    now = utcnow()
    if not service.needs_touch(feed, now):
        return
    database: Database = request.app.state.database
    await database.side_write(
        ("feed", feed.id), lambda side: service.touch_feed(side, feed.id, now)
    )


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


async def _header(feed: CalendarFeed, zone: Zone, tasks: list[service.FeedTask]) -> bytes:
    """The calendar's header, rendered before the response starts, so that a failure there is
    an error response, never a 200 cut short. icalendar is imported on the first feed request,
    not at start, and in a worker thread, like all rendering."""
    await anyio.to_thread.run_sync(importlib.import_module, "doable.feeds.ical")
    from doable.feeds import ical  # imported above, off the event loop

    header: bytes = await anyio.to_thread.run_sync(ical.header, feed, zone, tasks)
    return header


async def _stream(
    header: bytes,
    feed: CalendarFeed,
    zone: Zone,
    tasks: list[service.FeedTask],
    cache: RenderCache,
) -> AsyncIterator[bytes]:
    """Render in worker threads, a chunk of tasks at a time: a cold 5,000-task feed takes a
    few seconds of CPU (icalendar), which must not stall the event loop. Warm, the component
    cache makes it a fraction of a second."""
    from doable.feeds import ical  # imported by _header, off the event loop

    yield header
    for chunk in ical.chunks(tasks, CHUNK_TASKS):
        yield await anyio.to_thread.run_sync(ical.render_chunk, chunk, feed, zone, cache)
    yield ical.footer()


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


FEED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The feed as iCalendar (RFC 5545)",
        "content": {"text/calendar": {"schema": {"type": "string"}}},
        "headers": {
            "ETag": {"description": "Send back as If-None-Match", "schema": {"type": "string"}}
        },
    },
    304: {"description": "Not modified since the ETag sent as If-None-Match"},
    404: {"description": "No live feed at this address: wrong, malformed, rotated or revoked"},
}


async def ical_feed(
    request: Request,
    secret: Annotated[str, Path(description="The feed's secret, from its URL")],
    session: SessionDep,
    if_none_match: Annotated[str | None, Header(max_length=2000)] = None,
) -> Response:
    """A feed: no credential but the secret in the path. Anything that is not a live feed's
    secret gets the same 404."""
    feed, zone = await service.feed_for_secret(session, secret)
    etag = await service.fingerprint(session, feed, zone)
    headers = {
        "ETag": etag,
        # Per user, and always revalidated: a 304 costs two small queries.
        "Cache-Control": "private, no-cache",
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex, nofollow",
        "Content-Disposition": 'inline; filename="doable.ics"',
    }
    await _touch(request, feed)
    if _matches(if_none_match, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    if request.method != "GET":  # HEAD: the headers a GET would send, without the work
        return StreamingResponse(_nothing(), headers=headers, media_type=ICS_MEDIA_TYPE)
    tasks = await service.feed_tasks(session, feed)
    header = await _header(feed, zone, tasks)
    cache: RenderCache = request.app.state.doable.feed_cache
    return StreamingResponse(
        _stream(header, feed, zone, tasks, cache), headers=headers, media_type=ICS_MEDIA_TYPE
    )


# GET and HEAD as two routes of one function, so each has its own OpenAPI operation id.
for _method in ("GET", "HEAD"):
    ical_router.add_api_route(
        "/{secret}.ics",
        ical_feed,
        methods=[_method],
        name="ical_feed" if _method == "GET" else "ical_feed_head",
        operation_id=f"{_method.lower()}_ical_feed",
        response_class=Response,
        responses=FEED_RESPONSES,
    )
