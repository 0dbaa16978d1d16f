"""The purge job: every process removes trash rows past `purge_after`, in batches.

Safe with several processes: each batch is claimed with SKIP LOCKED (purge_expired), so
replicas take disjoint rows, a row is deleted once, and a row a restore holds is left to it.
"""

from __future__ import annotations

import asyncio
import logging
import random

from doable.db import Database, utcnow
from doable.trash import service

log = logging.getLogger("doable.trash")
INTERVAL_SECONDS = 3600.0


async def purge_once(database: Database) -> int:
    """Purge everything expired now, a batch per short transaction; how many rows went."""
    total = 0
    while True:
        async with database.unit_of_work(write=True) as session:
            gone = await service.purge_expired(session, utcnow())
        total += gone
        if gone < service.CHUNK:
            return total


async def run(database: Database, interval: float = INTERVAL_SECONDS) -> None:
    """Purge at start (after a random pause, so replicas started together spread out) and
    then every `interval` seconds, until cancelled."""
    await asyncio.sleep(random.uniform(5, 60))  # noqa: S311 (spreading, not secrecy)
    while True:
        try:
            gone = await purge_once(database)
            if gone:
                log.info("purged %d trash items", gone)
        except Exception:  # pragma: no cover - the next round tries again
            log.exception("trash purge failed")
        await asyncio.sleep(interval)
