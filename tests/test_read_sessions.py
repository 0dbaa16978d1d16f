"""A read's unit of work commits only when it wrote (`Database.unit_of_work`).

A session for a safe request runs in autocommit on PostgreSQL and SQLite and in a transaction
on MariaDB (and behind a transaction pooler). One that wrote nothing just closes; one that
wrote (a flush, an ORM statement) commits, which on MariaDB is what makes the write land."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from doable.auth.models import User
from doable.db import Database, read_rows
from doable.tasks.models import Task
from tests.factories import make_account


@contextmanager
def _commits() -> Iterator[list[Session]]:
    """The sessions that commit inside the block (SQLAlchemy's after_commit event)."""
    seen: list[Session] = []

    def note(session: Session) -> None:
        seen.append(session)

    event.listen(Session, "after_commit", note)
    try:
        yield seen
    finally:
        event.remove(Session, "after_commit", note)


async def _user(client: httpx.AsyncClient) -> uuid.UUID:
    acct = await make_account(client)
    return uuid.UUID((await client.get("/api/v1/me", headers=acct.headers)).json()["id"])


async def _name_of(database: Database, user_id: uuid.UUID) -> str:
    async with database.read_sessions() as session:
        name = await session.scalar(select(User.name).where(User.id == user_id))
    assert name is not None
    return name


async def test_a_read_that_writes_commits(client: httpx.AsyncClient, database: Database) -> None:
    user_id = await _user(client)
    with _commits() as committed:
        async with database.unit_of_work(write=False) as session:
            user = await session.get(User, user_id)
            assert user is not None
            user.name = "flushed in a read"
    assert len(committed) == 1
    assert await _name_of(database, user_id) == "flushed in a read"
    with _commits() as committed:
        async with database.unit_of_work(write=False) as session:
            stmt = update(User).where(User.id == user_id).values(name="by statement")
            await session.execute(stmt)
    assert len(committed) == 1
    assert await _name_of(database, user_id) == "by statement"


async def test_a_read_that_wrote_nothing_closes_without_a_commit(
    client: httpx.AsyncClient, database: Database
) -> None:
    user_id = await _user(client)
    with _commits() as committed:
        async with database.unit_of_work(write=False) as session:
            assert await session.get(User, user_id) is not None
            await read_rows(session, select(Task.id).where(Task.owner_id == user_id))
    assert committed == []
    with _commits() as committed:
        async with database.unit_of_work(write=True) as session:
            assert await session.get(User, user_id) is not None
    assert len(committed) == 1  # a write session commits whatever it did


async def test_read_rows_refuses_a_write(client: httpx.AsyncClient, database: Database) -> None:
    user_id = await _user(client)
    async with database.unit_of_work(write=False) as session:
        with pytest.raises(TypeError):
            await read_rows(session, update(User).where(User.id == user_id).values(name="x"))
    assert await _name_of(database, user_id) != "x"
