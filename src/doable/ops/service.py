"""Readiness: is the database reachable and migrated to head?"""

from __future__ import annotations

import asyncio

from doable.db import Database
from doable.errors import is_db_unavailable
from doable.migrations import current_revision, head_revision


async def readiness(database: Database, *, timeout: float = 3.0) -> tuple[bool, str]:
    try:
        current = await asyncio.wait_for(current_revision(database.engine), timeout)
    except Exception as exc:  # any failure to reach the database means "not ready"
        if is_db_unavailable(exc) or isinstance(exc, Exception):
            return False, "database unreachable"
        raise  # pragma: no cover
    head = head_revision()
    if current != head:
        return False, f"database schema at {current or 'nothing'}, expected {head}"
    return True, "ok"
