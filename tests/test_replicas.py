"""Three replicas on one PostgreSQL behind nginx (tests/replicas.py): they all start on an empty
database, share the login limits, and lose no acknowledged write when one is killed."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import Counter

import httpx
import pytest
from sqlalchemy import text

from doable.db import Database
from tests.factories import PASSWORD
from tests.replicas import POSTGRES_ONLY, REPLICAS, ReplicaSet, needs_nginx, paged_titles
from tests.server import PROJECT_ROOT

ARTIFACTS = PROJECT_ROOT / "test-artifacts"

pytestmark = [
    pytest.mark.slow,
    needs_nginx,
    pytest.mark.parametrize("database", POSTGRES_ONLY, indirect=True),
]
ACCOUNT_LIMIT = 10  # AUTH_ACCOUNT_RATE_LIMIT's default, per minute


def signup(client: httpx.Client, email: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_three_replicas_started_at_once_on_an_empty_database_all_serve(
    replicas: ReplicaSet,
) -> None:
    assert len(replicas.ready_after) == REPLICAS
    for server in replicas.servers:
        assert server.process is not None and server.process.poll() is None
        with server.client() as direct:
            assert direct.get("/readyz").json() == {"status": "ready"}
        assert "Traceback" not in server.stderr, server.stderr


def test_the_per_account_login_limit_holds_across_round_robin(replicas: ReplicaSet) -> None:
    with replicas.client() as client:
        email = f"limited-{uuid.uuid4().hex[:8]}@example.com"
        signup(client, email)
        statuses = [
            client.post(
                "/api/v1/auth/login", json={"email": email, "password": "wrong password 1"}
            ).status_code
            for _ in range(3 * ACCOUNT_LIMIT)
        ]
    counts = Counter(statuses)
    assert set(counts) == {401, 429}, counts
    # Counted in the database, one budget for all three: not 10 per replica (30). Within one
    # of the limit: a sliding window's previous minute weighs a little less as time passes.
    assert counts[401] in {ACCOUNT_LIMIT, ACCOUNT_LIMIT + 1}, counts
    assert statuses[:ACCOUNT_LIMIT] == [401] * ACCOUNT_LIMIT
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "replicas-login-limit.json").write_text(
        json.dumps({"attempts": len(statuses), "let_through": counts[401]}) + "\n"
    )


WRITERS = 4
RETRY_STATUSES = {502, 503, 504}


class Writers:
    """Threads creating tasks through nginx, each POST with its own Idempotency-Key, retried
    with that key on a transport error or a 502/503/504 until it is answered 201."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.base_url = base_url
        self.headers = headers
        self.acknowledged: list[str] = []
        self.failed: list[str] = []
        self.refused: list[str] = []
        self.retried = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(WRITERS)]

    def _create(self, client: httpx.Client, title: str) -> bool:
        headers = {**self.headers, "Idempotency-Key": title}
        for attempt in range(40):
            try:
                r = client.post("/api/v1/tasks", json={"title": title}, headers=headers)
            except httpx.TransportError:
                r = None
            if r is not None and r.status_code == 201:
                return True
            if r is not None and r.status_code not in RETRY_STATUSES:
                with self.lock:
                    self.refused.append(f"{r.status_code} {r.text[:200]}")
                return False
            with self.lock:
                self.retried += 1
            time.sleep(0.05 * min(attempt + 1, 10))
        return False

    def _run(self, n: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            step = 0
            while not self.stop.is_set():
                step += 1
                title = f"w{n}-{step}-{uuid.uuid4().hex[:6]}"
                ok = self._create(client, title)
                with self.lock:
                    (self.acknowledged if ok else self.failed).append(title)

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def count(self) -> int:
        with self.lock:
            return len(self.acknowledged)


WAITING_ON_LOCKS = text(
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


async def test_kill_9_under_write_load_loses_and_duplicates_nothing(
    replicas: ReplicaSet, database: Database
) -> None:
    email = f"writer-{uuid.uuid4().hex[:8]}@example.com"
    with replicas.client() as client:
        headers = signup(client, email)
        with Writers(replicas.url, headers) as writers:
            deadline = time.monotonic() + 60
            while writers.count() < 30:
                assert time.monotonic() < deadline, (writers.refused[:3], writers.retried)
                await asyncio.sleep(0.05)
            # Hold off every insert into tasks until each writer's create waits for it:
            # round-robin sends at least one of the four to replica 1, which then dies
            # mid-request. (Reads are not blocked by a SHARE lock.)
            async with database.engine.connect() as locker, database.engine.connect() as probe:
                await locker.execute(text("LOCK TABLE tasks IN SHARE MODE"))
                while (await probe.execute(WAITING_ON_LOCKS)).scalar_one() < WRITERS:
                    assert time.monotonic() < deadline, replicas.output()
                    await probe.rollback()
                    await asyncio.sleep(0.02)
                replicas.kill(1)
                await locker.rollback()
            killed_at = writers.count()
            while writers.count() < killed_at + 60:
                assert time.monotonic() < deadline, replicas.output()
                await asyncio.sleep(0.05)
        titles = list(paged_titles(client, headers))

    assert writers.failed == []
    # The creates in flight on replica 1 were answered 502 by nginx and sent again.
    assert writers.retried >= 1
    stored = Counter(titles)
    duplicates = {title: n for title, n in stored.items() if n > 1}
    assert duplicates == {}
    lost = set(writers.acknowledged) - set(stored)
    assert lost == set()
    # Nothing stored that was not acknowledged: every request ended in a 201.
    assert set(stored) == set(writers.acknowledged)
    assert replicas.servers[1].process is not None
    assert replicas.servers[1].process.returncode == -9
    ARTIFACTS.mkdir(exist_ok=True)
    figures = {
        "replicas": REPLICAS,
        "seconds_to_ready_started_together": [round(t, 2) for t in replicas.ready_after],
        "writers": WRITERS,
        "acknowledged_before_kill": killed_at,
        "acknowledged": len(writers.acknowledged),
        "retries": writers.retried,
        "failed": len(writers.failed),
        "duplicates": len(duplicates),
        "lost": len(lost),
    }
    (ARTIFACTS / "replicas-kill.json").write_text(json.dumps(figures, indent=2) + "\n")
