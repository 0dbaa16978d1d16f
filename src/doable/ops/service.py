"""Readiness: is the database reachable, and can this build serve its schema?"""

from __future__ import annotations

import asyncio
import logging

from doable.db import Database
from doable.migrations import servable

log = logging.getLogger("doable.ops")


async def readiness(database: Database, *, limit_s: float = 3.0) -> tuple[bool, str]:
    """Ready when the schema is at this build's head and holds what it needs, or newer but
    inside the compatible window its release declared (doable.migrations.servable)."""
    try:
        return await asyncio.wait_for(servable(database.engine), limit_s)
    except Exception as exc:  # any failure to read the schema means "not ready"
        log.warning("readiness check failed: %s", type(exc).__name__)
        return False, "database unreachable"
