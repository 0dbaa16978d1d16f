"""Running one import from a received file, for every surface (the API and the web app).

Parsing and validating a big file is CPU work: it runs in worker threads, one chunk of one
import at a time per process (`limiter`), so the event loop keeps serving other requests. The
records are staged hidden in short transactions of their own (importer.stage), then `session`
(the request's transaction) makes them all visible at once; a file with a problem, or an import
that fails, leaves nothing. The caller has ended the transaction authentication began before
calling: on SQLite it holds the write lock, which the staging transactions would wait on.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import TypeVar

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from doable.db import Database
from doable.transfer import importer
from doable.transfer.parse import open_upload
from doable.transfer.schemas import ImportResult
from doable.zones import zone_of

T = TypeVar("T")


async def run_import(
    database: Database,
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    user_zone: str,
    body: bytes,
    content_type: str | None,
    now: datetime,
    limiter: anyio.CapacityLimiter,
    apply_settings: bool = False,
    project_name: str | None = None,
    before_publish: Callable[[], Awaitable[None]] | None = None,
) -> ImportResult:
    """Parse, stage and publish one file; `before_publish` runs in `session` just before."""

    async def offload(work: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(work, limiter=limiter)

    stream = await offload(
        partial(
            open_upload,
            body,
            content_type,
            timezone=user_zone,
            now=now,
            project_name=project_name,
        )
    )
    del body
    account = stream.account if apply_settings else None
    zone = zone_of(account.timezone if account is not None else user_zone)
    batch = await importer.stage(database, user_id, stream, zone=zone, now=now, offload=offload)
    try:
        if before_publish is not None:
            await before_publish()
        outcome = await importer.publish(session, batch, stream, account)
    except BaseException:
        await session.rollback()
        await importer.discard(database, batch)
        raise
    return ImportResult(
        source=stream.source,
        imported=outcome.counts,
        settings_applied=outcome.settings_applied,
        projects=outcome.projects,
        warnings=outcome.warnings,
    )
