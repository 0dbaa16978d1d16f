"""Readiness: is the database reachable, migrated to head, and does it hold what we need?"""

from __future__ import annotations

import asyncio
import logging

from doable.db import Database
from doable.migrations import HEAD, current_revision, describe_missing, missing_schema

log = logging.getLogger("doable.ops")


async def readiness(database: Database, *, limit_s: float = 3.0) -> tuple[bool, str]:
    async def read() -> tuple[str | None, list[str]]:
        current = await current_revision(database.engine)
        return current, (await missing_schema(database.engine) if current == HEAD else [])

    try:
        current, missing = await asyncio.wait_for(read(), limit_s)
    except Exception as exc:  # any failure to read the schema means "not ready"
        log.warning("readiness check failed: %s", type(exc).__name__)
        return False, "database unreachable"
    if current != HEAD:
        return False, f"database schema at {current or 'nothing'}, expected {HEAD}"
    if missing:
        return False, describe_missing(current, missing)
    return True, "ok"
