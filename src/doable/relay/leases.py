"""Stream leases: the per-account cap on open event streams, counted across processes.

A stream takes a lease (a row of `stream_leases`) when it opens and gives it back when it ends.
The process serving it renews its leases every RENEW_SECONDS; a process that dies stops
renewing, and its leases lapse LEASE_SECONDS later, so a crash never locks an account out of
its streams for longer than that. Taking a lease locks the account's row, so two processes
opening streams at once still count each other's.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from datetime import timedelta

import anyio
from sqlalchemy import delete, insert, select, update

from doable.auth.models import User
from doable.db import Database, count_locked, lock_row, utcnow
from doable.events import Subscription
from doable.relay.models import StreamLease

log = logging.getLogger("doable.events")

LEASE_SECONDS = 30.0
RENEW_SECONDS = 10.0
RELEASE_TIMEOUT = 2.0

# The leases this process holds, by the stream they belong to: a stream dropped without its
# cleanup stops being renewed, and its lease lapses.
_held: weakref.WeakValueDictionary[uuid.UUID, Subscription] = weakref.WeakValueDictionary()


async def acquire(database: Database, sub: Subscription, limit: int) -> bool:
    """Give `sub` a lease unless its account already holds `limit` live ones."""
    now = utcnow()
    owner_id = sub.owner_id
    async with database.write_sessions() as session:
        await lock_row(session, User.id, owner_id)
        await session.execute(
            delete(StreamLease).where(
                StreamLease.owner_id == owner_id, StreamLease.expires_at <= now
            )
        )
        live = await count_locked(
            session, select(StreamLease.id).where(StreamLease.owner_id == owner_id)
        )
        if live >= limit:
            await session.commit()
            return False
        lease_id = uuid.uuid4()
        await session.execute(
            insert(StreamLease).values(
                id=lease_id,
                owner_id=owner_id,
                expires_at=now + timedelta(seconds=LEASE_SECONDS),
            )
        )
        await session.commit()
    sub.lease_id = lease_id
    _held[lease_id] = sub
    return True


async def release(database: Database, sub: Subscription) -> None:
    """Give the lease back; shielded, so a cancelled (disconnected) stream still does. Should
    the database be away, the lease lapses by itself."""
    lease_id, sub.lease_id = sub.lease_id, None
    if lease_id is None:
        return
    _held.pop(lease_id, None)
    with anyio.move_on_after(RELEASE_TIMEOUT, shield=True):
        try:
            async with database.write_sessions() as session:
                await session.execute(delete(StreamLease).where(StreamLease.id == lease_id))
                await session.commit()
        except Exception as exc:
            log.warning("event stream: cannot release its lease (%s)", type(exc).__name__)


async def renew(database: Database) -> int:
    """Push back the expiry of every lease this process holds; how many."""
    ids = list(_held.keys())
    if not ids:
        return 0
    async with database.write_sessions() as session:
        await session.execute(
            update(StreamLease)
            .where(StreamLease.id.in_(ids))
            .values(expires_at=utcnow() + timedelta(seconds=LEASE_SECONDS))
            .execution_options(synchronize_session=False)
        )
        await session.commit()
    return len(ids)


async def keep_renewing(database: Database) -> None:
    """Renew this process's leases until cancelled (a task of the app's lifespan)."""
    while True:
        await asyncio.sleep(RENEW_SECONDS)
        try:
            await renew(database)
        except Exception as exc:
            log.warning("event streams: cannot renew leases (%s)", type(exc).__name__)


async def release_all(database: Database) -> None:
    """At shutdown: give back every lease this process still holds."""
    ids = list(_held.keys())
    _held.clear()
    if not ids:
        return
    try:
        async with database.write_sessions() as session:
            await session.execute(delete(StreamLease).where(StreamLease.id.in_(ids)))
            await session.commit()
    except Exception as exc:
        log.warning("event streams: cannot release leases (%s)", type(exc).__name__)
