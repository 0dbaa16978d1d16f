"""Relay envelopes: batches stay under PostgreSQL's NOTIFY cap, what does not parse is
dropped rather than breaking the receiver, and one sent through the pool is delivered."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text

from doable.config import without_statement_cache
from doable.db import Database
from doable.events import Event
from doable.relay.envelope import MAX_PAYLOAD_BYTES, pack, sent_at, unpack
from doable.relay.postgres import CHANNEL, PostgresTransport

OWNER = uuid.UUID("6f1c1f9e-8f0e-4a53-9f44-0a7d9b8f3c11")


def test_many_events_split_into_envelopes_under_the_cap() -> None:
    items = [
        Event("task", OWNER, {"action": "updated", "id": str(uuid.uuid4()), "version": n})
        for n in range(500)
    ]
    envelopes = pack("origin-a", items, 1796540000.25)
    assert len(envelopes) == 10
    assert {sent_at(e) for e in envelopes} == {1796540000.25}
    assert all(len(e.encode()) <= MAX_PAYLOAD_BYTES for e in envelopes)
    received = [item for e in envelopes for item in unpack(e)[1]]
    assert received == items
    assert {unpack(e)[0] for e in envelopes} == {"origin-a"}


def test_an_event_too_big_for_notify_travels_as_a_resync_of_its_account() -> None:
    huge = Event("task", OWNER, {"action": "updated", "id": "x" * 9000})
    small = Event("notification", OWNER, {})
    (envelope,) = pack("o", [huge, small])
    assert len(envelope.encode()) < 8000
    assert unpack(envelope)[1] == [Event("resync", OWNER, {}), small]


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "[]",
        '{"o": 1, "e": []}',
        '{"o": "x", "e": [["shutdown", null, {}]]}',
        '{"o": "x", "e": [["task", "not-a-uuid", {}]]}',
        '{"o": "x", "e": [["task", null, {"nested": {"a": 1}}]]}',
        '{"o": "x", "e": [["task", null]]}',
    ],
)
def test_malformed_envelopes_and_events_are_dropped(payload: str) -> None:
    assert unpack(payload)[1] == []


def test_an_envelope_without_a_send_time_has_none() -> None:
    assert sent_at('{"o": "x", "e": []}') is None
    assert sent_at("not json") is None


def test_good_events_beside_a_bad_one_are_kept() -> None:
    good = ["notification", str(OWNER), {}]
    payload = json.dumps({"o": "x", "e": [["bogus", None, {}], good]})
    assert unpack(payload) == ("x", [Event("notification", OWNER, {})])


async def test_a_notify_sent_through_the_pool_reaches_listeners_behind_a_pooler(
    database: Database,
) -> None:
    """With its listening connection down, a process sends through the pool; behind a
    transaction pooler that session is a transaction, and the NOTIFY must be committed."""
    if database.config.backend != "postgresql":
        pytest.skip("PostgreSQL's LISTEN/NOTIFY")
    pooled = Database(without_statement_cache(database.config))
    dsn = database.config.url.set(drivername="postgresql").render_as_string(hide_password=False)
    listener = await asyncpg.connect(dsn)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener(CHANNEL, lambda *args: heard.put_nowait(args[3]))
    transport = PostgresTransport(pooled.config, pooled, lambda _: None, lambda: None)
    try:
        await transport.send("through the pool")  # never started: no listening connection
        assert await asyncio.wait_for(heard.get(), 5) == "through the pool"
    finally:
        await listener.close()
        await pooled.dispose()


async def test_a_process_skips_its_own_notifies_unread_and_hears_the_others(
    database: Database,
) -> None:
    """The listening connection's own NOTIFYs (this process's envelopes) are skipped by the
    notifying backend's pid; one from another connection arrives."""
    if database.config.backend != "postgresql":
        pytest.skip("PostgreSQL's LISTEN/NOTIFY")
    heard: asyncio.Queue[str] = asyncio.Queue()
    transport = PostgresTransport(database.config, database, heard.put_nowait, lambda: None)
    dsn = database.config.url.set(drivername="postgresql").render_as_string(hide_password=False)
    other = await asyncpg.connect(dsn)
    try:
        await transport.start()
        await transport.send("mine")
        await other.execute("SELECT pg_notify($1, $2)", CHANNEL, "theirs")
        assert await asyncio.wait_for(heard.get(), 5) == "theirs"
        await asyncio.sleep(0.1)
        assert heard.empty()
    finally:
        await other.close()
        await transport.stop()  # close() alone would let its loop listen again
    async with database.engine.connect() as conn:  # nothing left listening for other tests
        left = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'doable-events'"
                " AND datname = current_database()"
            )
        )
    assert left == 0
