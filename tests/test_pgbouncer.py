"""Doable behind a real PgBouncer in transaction mode (DATABASE_STATEMENT_CACHE=false): it
migrates an empty database through it (the migration lock is transaction-scoped) and serves
concurrent clients whose transactions share PgBouncer's few server connections."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from doable.db import Database
from doable.migrations import missing_schema, upgrade
from tests.conftest import BACKEND_ENV, IN_CI, drop_everything
from tests.factories import PASSWORD
from tests.pgbouncer import PGBOUNCER, PgBouncer
from tests.replicas import POSTGRES_ONLY
from tests.server import Server, server_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        PGBOUNCER is None and not IN_CI, reason="pgbouncer is not installed (apt-get install)"
    ),
    pytest.mark.parametrize("database", POSTGRES_ONLY, indirect=True),
]
CLIENTS = 6
ROUNDS = 15
READY_TIMEOUT = 120.0  # it migrates an empty database first, on a busy machine


@pytest.fixture
async def empty_postgres(database: Database) -> Iterator[str]:
    await drop_everything(database.engine)
    try:
        yield os.environ[BACKEND_ENV["postgresql"]]
    finally:
        await database.engine.dispose()
        await drop_everything(database.engine)
        await upgrade(database.engine)
        assert await missing_schema(database.engine) == []


def _client_work(base_url: str, n: int, statuses: list[int], lock: threading.Lock) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as c:
        r = c.post(
            "/api/v1/auth/signup", json={"email": f"pgb{n}@example.com", "password": PASSWORD}
        )
        seen = [r.status_code]
        auth = {"Authorization": f"Bearer {r.json().get('access_token')}"}
        for step in range(ROUNDS):
            r = c.post("/api/v1/tasks", json={"title": f"c{n} #{step}"}, headers=auth)
            seen.append(r.status_code)
            task_id = r.json().get("id")
            seen.append(c.get("/api/v1/tasks", params={"limit": 5}, headers=auth).status_code)
            r = c.patch(
                f"/api/v1/tasks/{task_id}", json={"title": f"c{n} #{step} done"}, headers=auth
            )
            seen.append(r.status_code)
        r = c.get("/api/v1/tasks", params={"limit": 100}, headers=auth)
        seen.append(r.status_code)
        seen.append(len(r.json()["items"]))
    with lock:
        statuses.extend(seen)


def test_serves_through_pgbouncer_in_transaction_mode(empty_postgres: str, tmp_path: Path) -> None:
    statuses: list[int] = []
    lock = threading.Lock()
    with PgBouncer(empty_postgres, pool_size=2) as bouncer:
        home = tmp_path / "home"
        home.mkdir()
        env = server_env(
            tmp_path / "data",
            home,
            DATABASE_URL=bouncer.url,
            DATABASE_STATEMENT_CACHE="false",
            AUTH_IP_RATE_LIMIT="100000/minute",
        )
        server = Server(env, logs_dir=tmp_path, name="pgbouncer", cwd=home).start()
        try:
            server.wait_ready(READY_TIMEOUT)
            threads = [
                threading.Thread(target=_client_work, args=(server.base_url, n, statuses, lock))
                for n in range(CLIENTS)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
            with server.client() as c:
                assert c.get("/readyz").status_code == 200
        finally:
            server.stop()
        log = bouncer.log()
    assert "Traceback" not in server.stderr, server.stderr
    # Every answer a success, and each client finds its ROUNDS tasks.
    assert Counter(statuses) == Counter(
        {201: CLIENTS * (1 + ROUNDS), 200: CLIENTS * (2 * ROUNDS + 1), ROUNDS: CLIENTS}
    )
    assert "login attempt" in log  # the connections went through PgBouncer
