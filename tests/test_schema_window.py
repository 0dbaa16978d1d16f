"""Migrating under a lock, and serving a schema inside the compatible window.

Processes that migrate at once on an empty database take turns (the migration lock); every
migrate leaves `schema_window` saying which oldest release can serve the schema; a build that
finds a newer schema serves it when its own head is inside that window, and says in one line
why not otherwise; `doable serve --no-migrate` leaves migrating to `doable migrate`.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

import doable.migrations
from doable.config import normalize_database_url
from doable.db import Database
from doable.migrations import (
    HEAD,
    KNOWN,
    current_revision,
    missing_schema,
    servable,
    upgrade,
    window_of,
)
from doable.migrations.window import LANDED, oldest_compatible
from tests.conftest import drop_everything, make_client, runtime_for, shared_app
from tests.factories import assert_problem
from tests.server import DOABLE, Server, run_serve, server_env

NEWER = "9999"  # a revision of a release newer than this build


async def test_three_migrations_at_once_on_an_empty_database(database: Database) -> None:
    await drop_everything(database.engine)
    others = [Database(database.config) for _ in range(3)]
    try:
        revisions = await asyncio.gather(*(upgrade(db.engine) for db in others))
    finally:
        for db in others:
            await db.dispose()
    assert revisions == [HEAD, HEAD, HEAD]
    assert await missing_schema(database.engine) == []
    assert await window_of(database.engine) == oldest_compatible(HEAD)


def test_every_migration_declares_whether_the_previous_release_runs_on_it() -> None:
    # The landed ones in LANDED (their files cannot change); every later one in its own file.
    versions = Path(doable.migrations.__file__).parent / "versions"
    undeclared = sorted(
        path.name
        for path in versions.glob("[0-9]*_*.py")
        if path.name.partition("_")[0] not in LANDED
        and "\nprevious_release_compatible = " not in path.read_text()
    )
    assert undeclared == [], "declare previous_release_compatible (doable.migrations.window)"
    assert {r for r in KNOWN if r <= "0009"} <= set(LANDED)
    assert oldest_compatible(HEAD) == "0010"  # 0011 adds tables only; 0010 contracts
    assert oldest_compatible("0004") == "0001"  # 0002-0004 only add


async def _pretend_newer(database: Database, oldest: str) -> None:
    """What a newer release leaves: its revision, and the window it declared."""
    async with database.engine.begin() as conn:
        await conn.execute(text(f"UPDATE alembic_version SET version_num = '{NEWER}'"))
        await conn.execute(text(f"UPDATE schema_window SET oldest_compatible = '{oldest}'"))


async def _restore(database: Database) -> None:
    async with database.engine.begin() as conn:
        await conn.execute(text(f"UPDATE alembic_version SET version_num = '{HEAD}'"))
        await conn.execute(text("DELETE FROM schema_window"))
        await conn.execute(
            text(f"INSERT INTO schema_window (id, oldest_compatible) VALUES (1, '{HEAD}')")
        )


OUTSIDE = (
    f"the database schema is at revision {NEWER}, newer than this version's {HEAD}, and "
    f"serves releases from revision {NEWER} on: run a newer release "
    "(docs/operations.md, rolling upgrades)"
)


async def test_an_older_build_serves_a_newer_schema_inside_its_window(
    database: Database, data_dir: Path
) -> None:
    await upgrade(database.engine)
    app = shared_app(database, runtime_for(database, data_dir))
    try:
        await _pretend_newer(database, oldest=HEAD)
        assert await servable(database.engine) == (True, "ok")
        # Left as it is: this build has nothing to migrate it with.
        assert await upgrade(database.engine) == NEWER
        async with make_client(app) as client:
            assert (await client.get("/readyz")).json() == {"status": "ready"}
            r = await client.post(
                "/api/v1/auth/signup",
                json={"email": "old@example.com", "password": "a long enough password 1"},
            )
            assert r.status_code == 201, r.text

        await _pretend_newer(database, oldest=NEWER)
        assert await servable(database.engine) == (False, OUTSIDE)
        async with make_client(app) as client:
            assert assert_problem(await client.get("/readyz"), 503)["detail"] == OUTSIDE
    finally:
        await _restore(database)
        async with database.engine.begin() as conn:
            await conn.execute(text("DELETE FROM users"))
    assert await current_revision(database.engine) == HEAD


@pytest.mark.slow
def test_serve_outside_the_window_says_so_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"

    async def prepare() -> None:
        db = Database(normalize_database_url(url, tmp_path))
        try:
            await upgrade(db.engine)
            await _pretend_newer(db, oldest=NEWER)
        finally:
            await db.dispose()

    asyncio.run(prepare())
    home = tmp_path / "home"
    home.mkdir()
    result = run_serve(server_env(tmp_path / "data", home, DATABASE_URL=url), cwd=home, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert [x for x in result.stderr.splitlines() if x.startswith("error:")] == [
        f"error: {OUTSIDE}"
    ]
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_serve_no_migrate_waits_for_doable_migrate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'later.db'}"
    home = tmp_path / "home"
    home.mkdir()
    env = server_env(tmp_path / "data", home, DATABASE_URL=url)
    server = Server(env, logs_dir=tmp_path, name="no-migrate", cwd=home)
    server.command.append("--no-migrate")
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=5) as client:
            for _ in range(600):  # up, but not ready: nothing has migrated
                try:
                    r = client.get("/readyz")
                    break
                except httpx.TransportError:
                    assert server.process is not None and server.process.poll() is None
                    subprocess.run(["sleep", "0.1"], check=True)
            assert (
                assert_problem(r, 503)["detail"] == f"database schema at nothing, expected {HEAD}"
            )
            migrated = subprocess.run(
                [str(DOABLE), "migrate"],
                env=env,
                cwd=home,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert migrated.returncode == 0, migrated.stderr
            assert client.get("/readyz").json() == {"status": "ready"}
    finally:
        server.stop()
