"""Readiness: is the database reachable and migrated to head?"""

from __future__ import annotations

import asyncio
import logging

from doable.db import Database
from doable.migrations import HEAD, current_revision

log = logging.getLogger("doable.ops")


async def readiness(database: Database, *, limit_s: float = 3.0) -> tuple[bool, str]:
    try:
        current = await asyncio.wait_for(current_revision(database.engine), limit_s)
    except Exception as exc:  # any failure to read the revision means "not ready"
        log.warning("readiness check failed: %s", type(exc).__name__)
        return False, "database unreachable"
    if current != HEAD:
        return False, f"database schema at {current or 'nothing'}, expected {HEAD}"
    return True, "ok"
