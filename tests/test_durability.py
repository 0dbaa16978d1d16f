"""Durability on SQLite: 64 writers against a real server, `kill -9` mid-load, 20 times over.
After each restart the database is intact and every write that got a 2xx is there."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.server import PROJECT_ROOT, Server, server_env

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
ROUNDS = int(os.environ.get("DOABLE_DURABILITY_ROUNDS", "20"))
WRITERS = 64
ACCOUNTS = 8
PASSWORD = "correct horse battery"


@dataclass
class Ledger:
    """What the server acknowledged: task id → (version, title) of the last 2xx write."""

    tasks: dict[str, tuple[int, str]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    cut: int = 0  # requests the kill interrupted (no answer: not acknowledged)
    creates: int = 0
    updates: int = 0


async def _writer(
    client: httpx.AsyncClient, token: str, ledger: Ledger, deadline: float, n: int
) -> None:
    """Create tasks and rewrite its own ones until the server dies (or the deadline passes)."""
    auth = {"Authorization": f"Bearer {token}"}
    mine: list[str] = []
    step = 0
    while time.monotonic() < deadline:
        step += 1
        try:
            if mine and step % 3 == 0:
                task_id = random.choice(mine)
                title = f"w{n} s{step} {uuid.uuid4().hex[:6]}"
                r = await client.patch(
                    f"/api/v1/tasks/{task_id}", json={"title": title}, headers=auth
                )
                if r.status_code == 200:
                    ledger.tasks[task_id] = (int(r.headers["etag"].strip('"')), title)
                    ledger.updates += 1
            else:
                title = f"w{n} s{step}"
                r = await client.post("/api/v1/tasks", json={"title": title}, headers=auth)
                if r.status_code == 201:
                    ledger.tasks[r.json()["id"]] = (1, title)
                    ledger.creates += 1
                    mine.append(r.json()["id"])
        except httpx.TransportError:
            ledger.cut += 1
            return
        ledger.statuses[r.status_code] += 1


async def _load_then_kill(server: Server, tokens: list[str], ledger: Ledger) -> float:
    """Run the writers and SIGKILL the server after a random moment; returns that moment."""
    kill_after = random.uniform(0.3, 1.2)
    limits = httpx.Limits(max_connections=WRITERS, max_keepalive_connections=WRITERS)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=20, limits=limits) as client:
        loop = asyncio.get_running_loop()
        loop.call_later(kill_after, os.kill, server.pid, signal.SIGKILL)
        deadline = time.monotonic() + kill_after + 15
        await asyncio.gather(
            *(_writer(client, tokens[n % len(tokens)], ledger, deadline, n) for n in range(WRITERS))
        )
    return kill_after


def _check_database(db: Path, ledger: Ledger) -> int:
    """integrity_check is ok and every acknowledged write is there; returns the task count."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = {
            uuid.UUID(bytes=row[0]) if isinstance(row[0], bytes) else uuid.UUID(row[0]): row[1:]
            for row in conn.execute("SELECT id, version, title FROM tasks")
        }
    for task_id, (version, title) in ledger.tasks.items():
        stored = rows.get(uuid.UUID(task_id))
        assert stored is not None, f"acknowledged task {task_id} is gone"
        # Each task has one writer, so the stored version is the acknowledged one, or a later
        # write that committed just before the kill cut off its answer.
        assert stored[0] > version or stored == (version, title), (task_id, stored, version)
    return len(rows)


@pytest.mark.slow
@pytest.mark.exclusive  # its load must reach ROUNDS * 10 writes: needs the cores to itself
def test_kill_9_mid_load_loses_no_acknowledged_write(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    data_dir = tmp_path / "data"
    env = server_env(data_dir, home)
    ledger = Ledger()
    tokens: list[str] = []
    kills = []
    started = time.monotonic()
    for round_ in range(ROUNDS + 1):
        server = Server(env, logs_dir=tmp_path, name=f"round-{round_}", cwd=home)
        server.start()
        try:
            server.wait_ready()
            rows = _check_database(data_dir / "doable.db", ledger)
            if round_ == ROUNDS:
                break
            if not tokens:
                with server.client() as c:
                    for n in range(ACCOUNTS):
                        r = c.post(
                            "/api/v1/auth/signup",
                            json={"email": f"writer{n}@example.com", "password": PASSWORD},
                        )
                        assert r.status_code == 201, r.text
                        tokens.append(r.json()["access_token"])
            kills.append(asyncio.run(_load_then_kill(server, tokens, ledger)))
            assert server.process is not None
            assert server.process.wait(10) == -signal.SIGKILL
        finally:
            server.stop()
        assert "database is locked" not in server.stderr, server.stderr[-2000:]
        assert "Traceback" not in server.stderr, server.stderr[-2000:]

    # Creates whose answer the kill cut off may or may not have committed.
    assert ledger.creates <= rows <= ledger.creates + ledger.cut
    assert ledger.creates >= ROUNDS * 10  # the load was real
    assert set(ledger.statuses) <= {200, 201}, ledger.statuses  # no 5xx, no "locked"
    figures = {
        "rounds": ROUNDS,
        "writers": WRITERS,
        "acknowledged_creates": ledger.creates,
        "acknowledged_updates": ledger.updates,
        "cut_by_kill": ledger.cut,
        "statuses": {str(k): v for k, v in sorted(ledger.statuses.items())},
        "tasks_after_last_restart": rows,
        "kill_after_seconds": [round(k, 2) for k in kills],
        "seconds": round(time.monotonic() - started, 1),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "durability.json").write_text(json.dumps(figures, indent=2) + "\n")
