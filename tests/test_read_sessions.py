"""A read's unit of work: it commits only what it wrote (`Database.unit_of_work`).

A session for a safe request runs in autocommit on PostgreSQL and SQLite and in a read-only
transaction on MariaDB; one that wrote nothing just closes. One that did write (a flush, an
ORM statement) still commits, on every backend."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select, update

from doable.auth.models import User
from doable.db import Database
from tests.factories import make_account


async def _name_of(database: Database, user_id: uuid.UUID) -> str:
    async with database.read_sessions() as session:
        name = await session.scalar(select(User.name).where(User.id == user_id))
    assert name is not None
    return name


async def test_a_read_that_writes_commits(client: httpx.AsyncClient, database: Database) -> None:
    acct = await make_account(client)
    me = (await client.get("/api/v1/me", headers=acct.headers)).json()
    user_id = uuid.UUID(me["id"])
    async with database.unit_of_work(write=False) as session:
        user = await session.get(User, user_id)
        assert user is not None
        user.name = "flushed in a read"
    assert await _name_of(database, user_id) == "flushed in a read"
    async with database.unit_of_work(write=False) as session:
        await session.execute(update(User).where(User.id == user_id).values(name="by statement"))
    assert await _name_of(database, user_id) == "by statement"


async def test_a_read_that_wrote_nothing_leaves_things_as_they_were(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    for _ in range(3):
        r = await client.get("/api/v1/tasks", headers=acct.headers)
        assert r.status_code == 200, r.text
    r = await client.post("/api/v1/tasks", json={"title": "after reads"}, headers=acct.headers)
    assert r.status_code == 201, r.text
    listed = (await client.get("/api/v1/tasks", headers=acct.headers)).json()["items"]
    assert [t["title"] for t in listed] == ["after reads"]
