"""`IdempotentRoute`: the route class that makes a router's POSTs honour `Idempotency-Key`.

A router opts in with `APIRouter(route_class=IdempotentRoute)`. Each of its POST routes then
gets the `claim_key` dependency (which documents the header in OpenAPI), and its handler is
wrapped: after the route has produced its response, and before the request's unit of work
commits, the response is written into the claimed row. A replay is answered from that row.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, Header, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from doable.auth.dependencies import CurrentPrincipal
from doable.db import Database, SessionDep, utcnow
from doable.errors import loggable_error
from doable.idempotency import service
from doable.idempotency.models import IdempotencyKey
from doable.planned import PlannedRoute, plannable

log = logging.getLogger("doable.idempotency")

HEADER = "Idempotency-Key"
SWEEP_INTERVAL = timedelta(hours=1)
_CLAIM = "doable_idempotency_claim"
_RELEASED = "doable_idempotency_released"
_STORE_INSTEAD = "doable_idempotency_store_instead"

KeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=service.MAX_KEY_LENGTH,
        # Visible ASCII and spaces: no NUL or other control characters.
        pattern=r"^[\x20-\x7e]+$",
        description="Any unique string (a UUID is a good choice), 1-255 printable ASCII "
        "characters. The first response is stored for 24 h and a retry with the same key and "
        "the same request gets it back unchanged; the same key with another request gets 422.",
    ),
]


class _Replay(Exception):
    def __init__(self, stored: service.StoredResponse) -> None:
        self.stored = stored


@plannable
async def claim_key(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    background: BackgroundTasks,
    key: KeyHeader = None,
) -> None:
    await claim_for(request, session, principal.user.id, background, key)


async def claim_for(
    request: Request,
    session: AsyncSession,
    user_id: uuid.UUID,
    background: BackgroundTasks,
    key: str | None,
) -> None:
    """Claim `key` for `user_id` in the request's transaction (or replay its stored answer):
    the body of every claim dependency, whoever the caller is (an API principal here, the
    web app's session user in `web/routes/offline.py`)."""
    if key is None:
        return
    now = utcnow()
    body = await request.body()
    fingerprint = service.fingerprint(request.method, request.url.path, request.url.query, body)
    result = await service.claim(session, user_id, key, fingerprint, now=now)
    if isinstance(result, service.StoredResponse):
        raise _Replay(result)
    setattr(request.state, _CLAIM, (session, result))
    last: datetime | None = getattr(request.app.state, "idempotency_swept_at", None)
    if last is None or now - last >= SWEEP_INTERVAL:
        request.app.state.idempotency_swept_at = now
        background.add_task(_sweep, request.app.state.database, now)


async def _sweep(database: Database, now: datetime) -> None:
    """Delete expired keys: once an hour per process, after a claiming request's response,
    in transactions of its own (the request's has committed by then)."""
    try:
        while True:
            async with database.write_sessions() as session:
                deleted = await service.sweep(session, now=now)
                await session.commit()
            if deleted < service.SWEEP_BATCH:
                return
    except Exception as exc:  # the next sweep tries again; the request has been answered
        log.warning("sweeping expired idempotency keys failed\n%s", loggable_error(exc))


def claimed(request: Request) -> bool:
    """Whether this request claimed an Idempotency-Key: its row is then part of the request's
    transaction, which must not end before the response is stored."""
    return getattr(request.state, _CLAIM, None) is not None


async def release(request: Request) -> bool:
    """End the request's transaction, and with it its claim on the key, so that long work can
    run in transactions of its own (an import stages in chunks; on SQLite the claim's
    transaction holds the write lock). `claim_again` claims it back before the result is
    written; a retry in between runs too, and whichever claims second is answered with the
    first one's response. Returns whether a key was claimed."""
    claimed: tuple[AsyncSession, IdempotencyKey] | None = getattr(request.state, _CLAIM, None)
    if claimed is None:
        return False
    session, row = claimed
    setattr(request.state, _RELEASED, (row.user_id, row.key, row.fingerprint))
    setattr(request.state, _CLAIM, None)
    await session.rollback()
    return True


async def claim_again(request: Request, session: AsyncSession) -> None:
    """Claim the key `release` gave back, in `session`'s transaction. If another request with
    it finished meanwhile, its stored response answers this one (the route's work is then
    undone by the caller's rollback)."""
    released: tuple[Any, str, str] | None = getattr(request.state, _RELEASED, None)
    if released is None:
        return
    user_id, key, request_fingerprint = released
    result = await service.claim(session, user_id, key, request_fingerprint, now=utcnow())
    if isinstance(result, service.StoredResponse):
        raise _Replay(result)
    setattr(request.state, _CLAIM, (session, result))


def store_instead(request: Request, body: BaseModel) -> None:
    """Store this body for replays instead of the real one (which holds a secret)."""
    setattr(request.state, _STORE_INSTEAD, body.model_dump_json().encode())


def _replay(stored: service.StoredResponse) -> Response:
    headers = {**stored.headers, "Idempotent-Replayed": "true"}
    return Response(content=stored.body, status_code=stored.status_code, headers=headers)


class IdempotentRoute(PlannedRoute):
    """An APIRoute whose POST honours the `Idempotency-Key` header. `claim` is the dependency
    that claims the key; a subclass whose callers sign in another way names its own."""

    claim: Callable[..., Coroutine[Any, Any, None]] = staticmethod(claim_key)

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        methods = {m.upper() for m in kwargs.get("methods") or ()}
        if "POST" in methods:
            kwargs["dependencies"] = [*(kwargs.get("dependencies") or ()), Depends(self.claim)]
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if "POST" not in (self.methods or ()):
            return handler

        async def idempotent_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except _Replay as replay:
                return _replay(replay.stored)
            claimed: tuple[AsyncSession, IdempotencyKey] | None = getattr(
                request.state, _CLAIM, None
            )
            if claimed is not None:
                session, row = claimed
                body = getattr(request.state, _STORE_INSTEAD, None)
                headers = {k.lower(): v for k, v in response.headers.items()}
                await service.store(
                    session, row, response.status_code, headers, body or bytes(response.body)
                )
            return response

        return idempotent_handler
