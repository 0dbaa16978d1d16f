"""The purge job: every process removes trash rows past `purge_after`, in batches.

Safe with several processes: each batch is claimed with SKIP LOCKED (purge_expired), so
replicas take disjoint rows, a row is deleted once, and a row a restore holds is left to it.
"""

from __future__ import annotations

import asyncio
import logging
import random

from doable.db import Database, utcnow
from doable.errors import is_db_unavailable, loggable_error
from doable.trash import service

log = logging.getLogger("doable.trash")
INTERVAL_SECONDS = 3600.0
# After a round that found the database unreachable, the next comes this soon.
RETRY_SECONDS = 60.0


async def purge_once(database: Database) -> int:
    """Purge everything expired now, a batch per short transaction; how many rows went."""
    total = 0
    while True:
        async with database.unit_of_work(write=True) as session:
            gone = await service.purge_expired(session, utcnow())
        total += gone
        if gone < service.CHUNK:
            return total


async def run(
    database: Database, interval: float = INTERVAL_SECONDS, *, first_delay: float | None = None
) -> None:
    """Purge at start (after a random pause, so replicas started together spread out) and
    then every `interval` seconds, until cancelled. A database that cannot be reached is an
    outage, not a bug: one line in the log, no traceback, and another try RETRY_SECONDS
    later; any other failure logs its traceback without the driver's text (it may quote the
    values bound to a statement)."""
    if first_delay is None:
        first_delay = random.uniform(5, 60)  # noqa: S311 (spreading, not secrecy)
    await asyncio.sleep(first_delay)
    while True:
        wait = interval
        try:
            gone = await purge_once(database)
            if gone:
                log.info("purged %d trash items", gone)
        except Exception as exc:  # the next round tries again
            if is_db_unavailable(exc):
                wait = min(interval, RETRY_SECONDS)
                log.warning("trash purge: database unavailable; trying again in %.0f s", wait)
            else:
                log.error("trash purge failed\n%s", loggable_error(exc))
        await asyncio.sleep(wait)
