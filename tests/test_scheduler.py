# ruff: noqa: F811  (pytest fixtures imported from tests.test_server, used as arguments)
"""The scheduler on a real clock, against real `doable serve` processes: reminders a few seconds
away fire once each and on time; reminders that fall due while the server is down fire once,
late, after the restart; a `kill -9` while firing loses nothing and fires nothing twice; two
processes on one PostgreSQL (or MariaDB) database fire 1,000 reminders due in the same second
exactly once; a database outage is ridden out; and the event stream delivers a notification
live."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from doable.config import normalize_database_url
from doable.db import Database
from doable.reminders.models import Notification, Reminder
from doable.reminders.scheduler import fire_due
from tests.conftest import backend_params
from tests.factories import make_account, make_task
from tests.server import PROJECT_ROOT, Server, server_env
from tests.test_server import (  # noqa: F401  (fixtures)
    POSTGRES_ONLY,
    TcpProxy,
    bearer,
    create_task,
    home,
    server_database_url,
    signup,
)

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
pytestmark = pytest.mark.slow


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def add_reminder(c: httpx.Client, token: str, task_id: str, at: datetime) -> dict[str, Any]:
    r = c.post(f"/api/v1/tasks/{task_id}/reminders", json={"at": iso(at)}, headers=bearer(token))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def insert_reminders(
    database_url: str, owner_id: str, task_ids: list[str], at: datetime, per_task: int
) -> list[str]:
    """Reminders written straight into the database (1,000 through the API take too long to
    all fall due in the same second); the servers learn of them from one made through each."""

    async def write() -> list[str]:
        database = Database(normalize_database_url(database_url, Path("/nonexistent")))
        rows = [
            {
                "id": uuid.uuid4(),
                "owner_id": uuid.UUID(owner_id),
                "task_id": uuid.UUID(task_id),
                "kind": "absolute",
                "remind_at": at,
                "fire_at": at,
                "created_at": datetime.now(UTC),
            }
            for task_id in task_ids
            for _ in range(per_task)
        ]
        try:
            async with database.write_sessions() as s:
                await s.execute(insert(Reminder), rows)
                await s.commit()
        finally:
            await database.dispose()
        return [str(row["id"]) for row in rows]

    return asyncio.run(write())


def notifications(c: httpx.Client, token: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        r = c.get("/api/v1/notifications", params=params, headers=bearer(token))
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return items


def wait_for_notifications(
    c: httpx.Client, token: str, count: int, *, timeout: float
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = notifications(c, token)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.25)


def lateness(notes: list[dict[str, Any]]) -> list[float]:
    return sorted(
        (
            datetime.fromisoformat(n["created_at"]) - datetime.fromisoformat(n["fire_at"])
        ).total_seconds()
        for n in notes
    )


def record(name: str, data: dict[str, Any]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")


def sqlite_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    home_dir = tmp_path / "home"
    home_dir.mkdir(exist_ok=True)
    return server_env(tmp_path / "data", home_dir, **settings)


def test_real_clock_fires_each_once_on_time(tmp_path: Path) -> None:
    with Server(sqlite_env(tmp_path), logs_dir=tmp_path) as server, server.client() as c:
        token = signup(c, "clock@example.com")["access_token"]
        start = datetime.now(UTC)
        expected = {}
        for i in range(10):
            task = create_task(c, token, title=f"clock {i}")
            for j in range(3):
                # 30 reminders spread between 2 and 3.5 s from now, some in the same instant.
                at = start + timedelta(seconds=2 + (i % 4) * 0.5 + (j % 2) * 0.001)
                expected[add_reminder(c, token, task["id"], at)["id"]] = at
        notes = wait_for_notifications(c, token, 30, timeout=20)
        time.sleep(1.5)  # anything fired twice would show up by now
        notes = notifications(c, token)
    assert sorted(n["reminder_id"] for n in notes) == sorted(expected)
    assert all(n["late"] is False for n in notes)
    for n in notes:
        assert datetime.fromisoformat(n["fire_at"]) == expected[n["reminder_id"]]
    late = lateness(notes)
    assert all(x >= 0 for x in late), late  # never early
    record(
        "scheduler-lateness",
        {
            "reminders": len(late),
            "median_ms": round(statistics.median(late) * 1000, 1),
            "worst_ms": round(late[-1] * 1000, 1),
            "all_ms": [round(x * 1000, 1) for x in late],
        },
    )
    assert late[-1] < 2.0, late


def test_missed_while_down_fire_once_late_after_restart(tmp_path: Path) -> None:
    env = sqlite_env(tmp_path, REMINDER_LATE_SECONDS="1")
    with Server(env, logs_dir=tmp_path, name="before") as server, server.client() as c:
        token = signup(c, "restart@example.com")["access_token"]
        task = create_task(c, token, title="Missed")
        due = datetime.now(UTC) + timedelta(seconds=3)
        ids = {add_reminder(c, token, task["id"], due)["id"] for _ in range(5)}
        # Stop well before they are due.
    assert server.stopped_cleanly, server.output()
    time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 2)
    with Server(env, logs_dir=tmp_path, name="after") as server, server.client() as c:
        token = c.post(
            "/api/v1/auth/login",
            json={"email": "restart@example.com", "password": "correct horse battery"},
        ).json()["access_token"]
        notes = wait_for_notifications(c, token, 5, timeout=15)
        time.sleep(1)
        notes = notifications(c, token)
    assert sorted(n["reminder_id"] for n in notes) == sorted(ids)
    assert [n["late"] for n in notes] == [True] * 5


def test_kill_9_while_firing_loses_nothing_and_fires_nothing_twice(tmp_path: Path) -> None:
    env = sqlite_env(tmp_path)
    with Server(env, logs_dir=tmp_path, name="doomed") as server, server.client() as c:
        account = signup(c, "kill@example.com")
        token = account["access_token"]
        tasks = [create_task(c, token, title=f"kill {i}")["id"] for i in range(201)]
        due = datetime.now(UTC) + timedelta(seconds=3)
        url = f"sqlite:///{tmp_path / 'data' / 'doable.db'}"
        ids = set(insert_reminders(url, account["user"]["id"], tasks[:200], due, 10))
        ids.add(add_reminder(c, token, tasks[200], due)["id"])  # wakes the scheduler
        # Kill it while it fires: poll until the first notifications are visible.
        deadline = time.monotonic() + 30
        seen = 0
        while time.monotonic() < deadline:
            r = c.get("/api/v1/notifications", params={"limit": 1}, headers=bearer(token))
            seen = r.json()["unread_count"]
            if seen > 0:
                break
            time.sleep(0.01)
        os.kill(server.pid, signal.SIGKILL)
    record("scheduler-kill", {"notifications_seen_before_kill": seen, "reminders": len(ids)})
    with Server(env, logs_dir=tmp_path, name="revived") as server, server.client() as c:
        token = c.post(
            "/api/v1/auth/login",
            json={"email": "kill@example.com", "password": "correct horse battery"},
        ).json()["access_token"]
        notes = wait_for_notifications(c, token, 2001, timeout=60)
        time.sleep(1)
        notes = notifications(c, token)
    fired = [n["reminder_id"] for n in notes]
    assert len(fired) == len(ids) == 2001
    assert set(fired) == ids


SERVER_BACKENDS = [p for p in backend_params() if p.values != ("sqlite",)]


@pytest.mark.parametrize("database", SERVER_BACKENDS, indirect=True)
def test_two_processes_on_one_database_fire_1000_once_each(
    server_database_url: str | None,
    tmp_path: Path,
    home: Path,
) -> None:
    assert server_database_url is not None
    shared = {"DATABASE_URL": server_database_url, "SECRET_KEY": "s" * 48}
    env_a = server_env(tmp_path / "a", home, **shared)
    env_b = server_env(tmp_path / "b", home, **shared)
    with (
        Server(env_a, logs_dir=tmp_path, name="a") as a,
        Server(env_b, logs_dir=tmp_path, name="b") as b,
        a.client() as ca,
        b.client() as cb,
    ):
        account = signup(ca, "pair@example.com")
        token = account["access_token"]
        tasks = [create_task(ca, token, title=f"pair {i}")["id"] for i in range(100)]
        due = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
        owner = account["user"]["id"]
        ids = insert_reminders(server_database_url, owner, tasks[:99], due, 10)
        ids += insert_reminders(server_database_url, owner, tasks[99:], due, 8)
        # The last two through each process, for the same second: both schedulers wake for it.
        ids.append(add_reminder(ca, token, tasks[99], due)["id"])
        ids.append(add_reminder(cb, token, tasks[99], due)["id"])
        assert datetime.now(UTC) < due, "creating the reminders took too long"
        notes = wait_for_notifications(ca, token, 1000, timeout=60)
        time.sleep(2)
        notes = notifications(cb, token)
        logs = a.stderr + b.stderr
    fired = [n["reminder_id"] for n in notes]
    assert len(fired) == 1000
    assert sorted(fired) == sorted(ids)
    late = lateness(notes)
    record(
        f"scheduler-two-processes-{server_database_url.split(':', 1)[0]}",
        {
            "reminders": 1000,
            "median_ms": round(statistics.median(late) * 1000, 1),
            "worst_ms": round(late[-1] * 1000, 1),
            "fired_by": {
                "a": _fired_in(a.stderr),
                "b": _fired_in(b.stderr),
            },
        },
    )
    assert "Traceback" not in logs


@pytest.mark.parametrize("database", POSTGRES_ONLY, indirect=True)
def test_scheduler_survives_a_database_outage(
    server_database_url: str | None, tmp_path: Path, home: Path
) -> None:
    assert server_database_url is not None
    real = make_url(server_database_url)
    proxy = TcpProxy((real.host or "127.0.0.1", real.port or 5432))
    proxied = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    proxy.start()
    try:
        env = server_env(tmp_path / "data", home, DATABASE_URL=proxied)
        with Server(env, logs_dir=tmp_path, name="outage") as server, server.client() as c:
            token = signup(c, "outage@example.com")["access_token"]
            task = create_task(c, token, title="Through the outage")
            due = datetime.now(UTC) + timedelta(seconds=2)
            reminder = add_reminder(c, token, task["id"], due)
            proxy.cut()
            time.sleep(8)  # the reminder falls due while the database is unreachable
            assert server.process is not None and server.process.poll() is None
            proxy.start()
            notes = wait_for_notifications(c, token, 1, timeout=90)
            logs = server.stderr
        assert [n["reminder_id"] for n in notes] == [reminder["id"]]
        assert server.stopped_cleanly, server.output()
    finally:
        proxy.cut()
    retries = logs.count("scheduler: database unavailable")
    assert 1 <= retries <= 8, logs  # backoff, not a spin
    assert "Traceback" not in logs


def _fired_in(log: str) -> int:
    total = 0
    for line in log.splitlines():
        if "scheduler: fired" in line:
            total += int(line.split("scheduler: fired ", 1)[1].split(" ", 1)[0])
    return total


@pytest.fixture
def sse_server(tmp_path: Path) -> Iterator[Server]:
    with Server(sqlite_env(tmp_path), logs_dir=tmp_path, name="sse") as server:
        yield server


def _read_events(
    server: Server, headers: dict[str, str], out: list[tuple[str, dict[str, Any]]], stop: float
) -> None:
    with (
        httpx.Client(base_url=server.base_url, timeout=httpx.Timeout(5, read=30)) as c,
        c.stream("GET", "/api/v1/events", headers=headers) as r,
    ):
        out.append(("status", {"code": r.status_code, "type": r.headers["content-type"]}))
        event = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                out.append((event, json.loads(line[6:])))
                if event == "notification":
                    return
            if time.monotonic() > stop:
                return


def test_event_stream_delivers_a_live_notification(sse_server: Server) -> None:
    with sse_server.client() as c:
        token = signup(c, "sse@example.com")["access_token"]
        read_token = c.post(
            "/api/v1/tokens", json={"name": "sse", "scopes": ["tasks:read"]}, headers=bearer(token)
        ).json()["token"]
        received: list[tuple[str, dict[str, Any]]] = []
        reader = threading.Thread(
            target=_read_events,
            args=(sse_server, bearer(read_token), received, time.monotonic() + 20),
        )
        reader.start()
        time.sleep(1)  # the stream is open
        task = create_task(c, token, title="Live one")
        at = datetime.now(UTC) + timedelta(seconds=2)
        reminder = add_reminder(c, token, task["id"], at)
        reader.join(25)
    assert not reader.is_alive()
    assert received[0] == ("status", {"code": 200, "type": "text/event-stream; charset=utf-8"})
    kinds = [kind for kind, _ in received[1:]]
    assert kinds == ["ready", "task", "notification"], received
    task_event = received[2][1]
    assert (task_event["action"], task_event["id"]) == ("created", task["id"])
    note = received[3][1]
    assert (note["reminder_id"], note["title"], note["late"]) == (
        reminder["id"],
        "Live one",
        False,
    )
    arrived = datetime.fromisoformat(note["created_at"]) - at
    assert timedelta(0) <= arrived < timedelta(seconds=2)


def test_event_stream_limits_and_another_process(sse_server: Server, tmp_path: Path) -> None:
    with sse_server.client() as c:
        token = signup(c, "limits@example.com")["access_token"]
        streams = []
        client = httpx.Client(base_url=sse_server.base_url, timeout=httpx.Timeout(5, read=30))
        try:
            for _ in range(5):
                cm = client.stream("GET", "/api/v1/events", headers=bearer(token))
                r = cm.__enter__()
                assert r.status_code == 200
                streams.append(cm)
            r = c.get("/api/v1/events", headers=bearer(token))
            assert r.status_code == 429
            assert r.json()["detail"].startswith("At most 5 event streams")
        finally:
            for cm in streams:
                cm.__exit__(None, None, None)
            client.close()
        # Closed streams free their slots.
        deadline = time.monotonic() + 5
        while True:
            with c.stream("GET", "/api/v1/events", headers=bearer(token)) as r:
                if r.status_code == 200 or time.monotonic() > deadline:
                    break
            time.sleep(0.2)
        assert r.status_code == 200
    # The server stops promptly with a stream open: on SIGTERM the stream is told to
    # reconnect (to another replica) and ends.
    received: list[tuple[str, dict[str, Any]]] = []
    reader = threading.Thread(
        target=_read_events,
        args=(sse_server, bearer(token), received, time.monotonic() + 20),
    )
    reader.start()
    time.sleep(1)
    started = time.monotonic()
    sse_server.stop()
    assert sse_server.stopped_cleanly and time.monotonic() - started < 5
    reader.join(10)
    assert not reader.is_alive()
    assert [kind for kind, _ in received] == ["status", "ready", "reconnect"]


# Fairness between accounts (issue 14, item 14), in process on every backend.


async def test_a_burst_of_one_account_does_not_hold_back_another(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Alice has 30 reminders due, Bob one due a second after hers. In fire-time order Bob's
    would come last; fairly, it goes in the batch after Alice's first (batches of 5)."""
    alice, bob = await make_account(client), await make_account(client)
    alice_tasks = [await make_task(client, alice, title=f"a{n}") for n in range(3)]
    bob_task = await make_task(client, bob, title="b")
    burst = datetime.now(UTC) - timedelta(seconds=10)

    def due(owner: str, task: dict[str, Any], at: datetime) -> Reminder:
        return Reminder(
            owner_id=uuid.UUID(owner),
            task_id=uuid.UUID(task["id"]),
            kind="absolute",
            remind_at=at,
            fire_at=at,
            created_at=at,
        )

    async with database.write_sessions() as s:
        s.add_all(due(alice.id, t, burst) for t in alice_tasks for _ in range(10))
        s.add(due(bob.id, bob_task, burst + timedelta(seconds=1)))
        await s.commit()
    fired = await fire_due(database, batch_size=5)
    assert (fired.notified, fired.skipped) == (31, 0)
    async with database.read_sessions() as s:
        bobs = await s.scalar(
            select(Notification.created_at).where(Notification.owner_id == uuid.UUID(bob.id))
        )
        before_bob = await s.scalar(
            select(func.count()).where(
                Notification.owner_id == uuid.UUID(alice.id), Notification.created_at < bobs
            )
        )
    assert before_bob == 5
