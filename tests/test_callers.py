"""Reads by access token reuse the caller's row for a moment (doable.auth.callers), and every
change to a user's row that the app makes is seen on the very next request: a password change,
a disabled account, a new time zone, a project shared with them. Writes always read the row.

In process, on every backend; the last test runs two real servers on one database and checks
that a change made through one is seen by the other through the relay, long before the
remembered row would expire.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select, update

from doable.auth.callers import CallerCache
from doable.auth.models import User
from doable.db import Database, utcnow
from doable.events import Event, bus
from doable.projects.access import Role
from tests.factories import PASSWORD, bearer, make_account, make_task
from tests.server import Server, server_env
from tests.test_sharing_core import share, unshare

TASKS = "/api/v1/tasks"
ME = "/api/v1/me"


@contextmanager
def user_reads(database: Database) -> Iterator[list[str]]:
    """The statements that read the users table by id, as the caller's lookup does."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        text = " ".join(statement.split()).lower()
        if text.startswith("select") and "from users" in text and "users.id =" in text:
            seen.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", before)


def callers(app: FastAPI) -> CallerCache:
    cache: CallerCache = app.state.doable.callers
    return cache


async def test_reads_reuse_the_row_and_writes_read_it(
    client: httpx.AsyncClient, database: Database, long_memory: CallerCache
) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct)
    with user_reads(database) as first:
        assert (await client.get(TASKS, headers=acct.headers)).status_code == 200
    with user_reads(database) as again:
        r = await client.get(f"{TASKS}/{task['id']}", headers=acct.headers)
        assert r.status_code == 200 and r.json()["id"] == task["id"]
        assert (await client.get(ME, headers=acct.headers)).json()["email"] == acct.email
    with user_reads(database) as write:
        await make_task(client, acct)
    assert len(first) == 1 and again == [] and len(write) == 1, (first, again, write)


async def test_no_memory_when_turned_off(
    client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    cache = callers(app)
    before, cache.seconds = cache.seconds, 0.0
    try:
        acct = await make_account(client)
        with user_reads(database) as reads:
            for _ in range(3):
                assert (await client.get(TASKS, headers=acct.headers)).status_code == 200
        assert len(reads) == 3
    finally:
        cache.seconds = before


async def test_a_row_expires(client: httpx.AsyncClient, database: Database, app: FastAPI) -> None:
    cache = callers(app)
    now = [1000.0]
    before = cache.seconds, cache.clock
    cache.seconds, cache.clock = 5.0, lambda: now[0]
    try:
        acct = await make_account(client)
        with user_reads(database) as reads:
            await client.get(TASKS, headers=acct.headers)
            now[0] += 4.9
            await client.get(TASKS, headers=acct.headers)
            now[0] += 0.2
            await client.get(TASKS, headers=acct.headers)
        assert len(reads) == 2
    finally:
        cache.seconds, cache.clock = before


async def test_a_password_change_ends_old_tokens_at_once(
    client: httpx.AsyncClient, long_memory: CallerCache
) -> None:
    acct = await make_account(client)
    assert (await client.get(TASKS, headers=acct.headers)).status_code == 200
    r = await client.post(
        f"{ME}/password",
        json={"current_password": PASSWORD, "new_password": "a whole new passphrase"},
        headers=acct.headers,
    )
    assert r.status_code == 204, r.text
    assert (await client.get(TASKS, headers=acct.headers)).status_code == 401
    assert (await client.get(ME, headers=acct.headers)).status_code == 401


async def test_a_profile_change_shows_on_the_next_read(
    client: httpx.AsyncClient, long_memory: CallerCache
) -> None:
    acct = await make_account(client)
    assert (await client.get(ME, headers=acct.headers)).json()["timezone"] == "UTC"
    r = await client.patch(ME, json={"timezone": "Asia/Tokyo"}, headers=acct.headers)
    assert r.status_code == 200, r.text
    assert (await client.get(ME, headers=acct.headers)).json()["timezone"] == "Asia/Tokyo"


async def test_disabling_through_the_orm_or_an_update_ends_reads_at_once(
    client: httpx.AsyncClient, database: Database, long_memory: CallerCache
) -> None:
    loaded, updated = await make_account(client), await make_account(client)
    for acct in (loaded, updated):
        assert (await client.get(TASKS, headers=acct.headers)).status_code == 200
    assert len(long_memory) >= 2
    async with database.unit_of_work(write=True) as session:
        user = await session.get(User, uuid.UUID(loaded.id))
        assert user is not None
        user.disabled_at = utcnow()
    assert (await client.get(TASKS, headers=loaded.headers)).status_code == 401
    assert (await client.get(TASKS, headers=updated.headers)).status_code == 200
    async with database.unit_of_work(write=True) as session:
        await session.execute(
            update(User).where(User.id == uuid.UUID(updated.id)).values(disabled_at=utcnow())
        )
    assert (await client.get(TASKS, headers=updated.headers)).status_code == 401


async def test_a_rolled_back_change_keeps_nothing_stale(
    client: httpx.AsyncClient, database: Database, long_memory: CallerCache
) -> None:
    """A change that rolls back forgets the row too (harmless), and the next read reads the
    unchanged row: the token still works."""
    acct = await make_account(client)
    assert (await client.get(TASKS, headers=acct.headers)).status_code == 200
    async with database.unit_of_work(write=True) as session:
        user = await session.get(User, uuid.UUID(acct.id))
        assert user is not None
        user.token_version += 1
        await session.flush()
        await session.rollback()
    assert (await client.get(TASKS, headers=acct.headers)).status_code == 200


async def test_a_project_shared_shows_on_the_next_read(
    client: httpx.AsyncClient, database: Database, long_memory: CallerCache
) -> None:
    """Sharing recounts the member's `shared_projects`, which decides whether their reads
    look at shared projects at all: a stale count would hide the project."""
    owner, member = await make_account(client), await make_account(client)
    r = await client.post("/api/v1/projects", json={"name": "Home"}, headers=owner.headers)
    project = r.json()
    r = await client.post(
        TASKS, json={"title": "shared", "project_id": project["id"]}, headers=owner.headers
    )
    assert r.status_code == 201, r.text
    assert (await client.get(TASKS, headers=member.headers)).json()["items"] == []
    await share(database, owner, project["id"], member, Role.EDITOR)
    items = (await client.get(TASKS, headers=member.headers)).json()["items"]
    assert [t["title"] for t in items] == ["shared"]
    await unshare(database, owner, project["id"], member)
    assert (await client.get(TASKS, headers=member.headers)).json()["items"] == []


async def test_a_deleted_account_reads_nothing(
    client: httpx.AsyncClient, long_memory: CallerCache
) -> None:
    acct = await make_account(client)
    assert (await client.get(ME, headers=acct.headers)).status_code == 200
    r = await client.request("DELETE", ME, json={"password": PASSWORD}, headers=acct.headers)
    assert r.status_code == 204, r.text
    assert (await client.get(ME, headers=acct.headers)).status_code == 401


async def test_a_row_read_before_a_change_is_not_kept(
    client: httpx.AsyncClient, database: Database
) -> None:
    """The generation: a row read, then forgotten by a change, then offered is refused."""
    acct = await make_account(client)
    cache = CallerCache(60.0)
    async with database.read_sessions() as session:
        generation = cache.generation
        user = await session.get(User, uuid.UUID(acct.id))
        assert user is not None
        bus.publish(Event("user", uuid.UUID(acct.id)))  # another process's change arrives meanwhile
        cache.remember(user, generation)
        assert len(cache) == 0
        cache.remember(user, cache.generation)
        assert len(cache) == 1
    bus.resync_all()  # the relay lost events: everything goes
    assert len(cache) == 0


def test_the_oldest_rows_go_first() -> None:
    cache = CallerCache(60.0, max_rows=2)
    rows = [User(id=uuid.uuid4(), email=f"{i}@example.com") for i in range(3)]
    for user in rows:
        for key in ("name", "password_hash", "timezone", "token_version", "shared_projects"):
            setattr(user, key, getattr(user, key, None) or "")
        user.__dict__.update(
            preferences=None, is_admin=False, disabled_at=None, created_at=utcnow()
        )
        user.__dict__.update(updated_at=utcnow(), has_webhook_endpoints=False)
        cache.remember(user, cache.generation)
    assert len(cache) == 2 and rows[0].id not in cache._rows


@pytest.mark.slow
def test_a_change_in_another_process_is_seen_through_the_relay(tmp_path: Path) -> None:
    """Two servers on one database, the second remembering rows for a minute: a password
    changed through the first ends the old token on the second within seconds."""
    env = server_env(tmp_path / "data", tmp_path, AUTH_IP_RATE_LIMIT="1000/minute")
    with (
        Server(env, logs_dir=tmp_path, name="first") as first,
        Server({**env, "CALLER_CACHE_SECONDS": "60"}, logs_dir=tmp_path, name="second") as second,
        first.client() as one,
        second.client() as two,
    ):
        email = f"c-{uuid.uuid4().hex[:8]}@example.com"
        r = one.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        old = bearer(r.json()["access_token"])
        assert two.get(ME, headers=old).status_code == 200
        assert two.get(ME, headers=old).status_code == 200  # now remembered
        r = one.post(
            f"{ME}/password",
            json={"current_password": PASSWORD, "new_password": "a whole new passphrase"},
            headers=old,
        )
        assert r.status_code == 204, r.text
        deadline = time.monotonic() + 10
        while two.get(ME, headers=old).status_code == 200:
            assert time.monotonic() < deadline, "the second server still takes the old token"
            time.sleep(0.05)
        assert two.get(ME, headers=old).status_code == 401


async def test_the_cache_keeps_no_session_state(
    client: httpx.AsyncClient, database: Database, long_memory: CallerCache
) -> None:
    """A remembered row becomes an object of each request's own session: two reads get two
    objects, and the row's values match the table's."""
    acct = await make_account(client)
    await client.get(ME, headers=acct.headers)
    async with database.read_sessions() as one, database.read_sessions() as two:
        first = long_memory.get(one.sync_session, uuid.UUID(acct.id))
        second = long_memory.get(two.sync_session, uuid.UUID(acct.id))
        assert first is not None and second is not None and first is not second
        assert first in one.sync_session and second not in one.sync_session
        stored = (
            await one.execute(select(User.email, User.token_version).where(User.id == first.id))
        ).one()
        assert (first.email, first.token_version) == tuple(stored)
        assert not one.sync_session.dirty


async def test_a_remembered_row_older_than_the_token_is_read_again(
    client: httpx.AsyncClient, database: Database, app: FastAPI, long_memory: CallerCache
) -> None:
    """A token made by a change this process has not heard of yet (another process moved
    the token version, or enabled the account again, and its event is still on the way) is
    not refused on the strength of the remembered row: the row is read again first."""
    acct = await make_account(client)
    user_id = uuid.UUID(acct.id)
    assert (await client.get(ME, headers=acct.headers)).status_code == 200
    async with database.engine.begin() as conn:  # as another process would: no event here
        await conn.execute(
            update(User).where(User.id == user_id).values(token_version=User.token_version + 1)
        )
    state = app.state.doable
    newer = bearer(state.signer.issue(user_id, 1, utcnow()))
    with user_reads(database) as reads:
        assert (await client.get(ME, headers=newer)).status_code == 200
        assert (await client.get(ME, headers=newer)).status_code == 200
        assert (await client.get(ME, headers=acct.headers)).status_code == 401
    # read again once for the newer token, then remembered; the old token reads it again too
    assert len(reads) == 2, reads


async def test_an_update_of_one_user_forgets_that_user_only(
    client: httpx.AsyncClient, database: Database, long_memory: CallerCache
) -> None:
    changed, other = await make_account(client), await make_account(client)
    for acct in (changed, other):
        assert (await client.get(ME, headers=acct.headers)).status_code == 200
    async with database.unit_of_work(write=True) as session:
        await session.execute(
            update(User).where(User.id == uuid.UUID(changed.id)).values(name="Renamed")
        )
    with user_reads(database) as reads:
        assert (await client.get(ME, headers=changed.headers)).json()["name"] == "Renamed"
        assert (await client.get(ME, headers=other.headers)).status_code == 200
    assert len(reads) == 1, reads  # the changed user's; the other is still remembered
    async with database.unit_of_work(write=True) as session:
        await session.execute(update(User.__table__).values(timezone="Europe/Paris"))
    with user_reads(database) as reads:
        for acct in (changed, other):
            assert (await client.get(ME, headers=acct.headers)).json()["timezone"] == (
                "Europe/Paris"
            )
    assert len(reads) == 2, reads  # a statement over the table forgets every row
