"""Several real `doable serve` processes on one database: events cross between them (PostgreSQL
LISTEN/NOTIFY, Redis pub/sub, the polled table on SQLite), a reminder fires once whichever
process claims it, processes starting together share one secret key, and SIGTERM tells open
streams to reconnect while requests in flight finish.

Delivery is asserted with generous timeouts; how fast events cross is measured in
benchmarks/event_crossing.py, not here.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from doable.db import Database
from tests.conftest import BACKEND_ENV, IN_CI, backend_params, truncate_all
from tests.factories import PASSWORD, bearer
from tests.server import Server, free_port, server_env

pytestmark = pytest.mark.slow

POSTGRES_ONLY = [p for p in backend_params() if p.values == ("postgresql",)]
SQLITE_AND_POSTGRES = [p for p in backend_params() if p.values != ("mariadb",)]
DELIVERY_TIMEOUT = 15.0
# A machine shared by several test runs can take a while to start a server.
READY_TIMEOUT = 90.0
REDIS_URL = os.environ.get("DOABLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class Stream(threading.Thread):
    """Reads one event stream in a thread: (event, data) pairs, and the `retry` values."""

    def __init__(self, base_url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.base_url, self.token = base_url, token
        self.events: list[tuple[str, Any]] = []
        self.retries: list[int] = []
        self.status = 0
        self.ready = threading.Event()
        self.ended = threading.Event()
        self._changed = threading.Condition()

    def run(self) -> None:
        event = ""
        try:
            with (
                httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(5, read=60)) as c,
                c.stream("GET", "/api/v1/events", headers=bearer(self.token)) as r,
            ):
                self.status = r.status_code
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("retry: "):
                        self.retries.append(int(line[7:]))
                    elif line.startswith("data: "):
                        with self._changed:
                            self.events.append((event, json.loads(line[6:])))
                            self._changed.notify_all()
                        if event == "ready":
                            self.ready.set()
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()
            self.ready.set()

    def open(self) -> Stream:
        self.start()
        assert self.ready.wait(DELIVERY_TIMEOUT), "the stream never said ready"
        assert self.status == 200
        return self

    def wait_for(self, event: str, **fields: Any) -> dict[str, Any]:
        """The first `event` whose data has `fields`; fails after DELIVERY_TIMEOUT."""
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        with self._changed:
            while True:
                for name, data in self.events:
                    if name == event and all(data.get(k) == v for k, v in fields.items()):
                        found: dict[str, Any] = data
                        return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {event} with {fields}: {self.events}")
                self._changed.wait(left)


@pytest.fixture
async def shared_url(database: Database, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """Settings that put server processes on the session's database (SQLite: one file in a
    shared data folder). Rows are removed afterwards like every other test's."""
    backend = database.config.backend
    settings: dict[str, str] = {}
    if backend == "postgresql":
        settings["DATABASE_URL"] = os.environ[BACKEND_ENV["postgresql"]]
    elif backend == "mysql":
        settings["DATABASE_URL"] = os.environ[BACKEND_ENV["mariadb"]]
    else:
        settings["DATABASE_URL"] = f"sqlite:///{tmp_path / 'shared.db'}"
    try:
        yield settings
    finally:
        await truncate_all(database.engine)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def _servers(tmp_path: Path, home: Path, count: int, **settings: str) -> list[Server]:
    data = tmp_path / "data"
    return [
        Server(server_env(data, home, **settings), logs_dir=tmp_path, name=f"s{n}", cwd=home)
        for n in range(count)
    ]


@contextmanager
def running(servers: list[Server]) -> Iterator[list[Server]]:
    """Start every server at once, wait until all are ready, stop them all on exit."""
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready(timeout=READY_TIMEOUT)
        yield servers
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        assert "Traceback" not in server.stderr, server.output()


def signup(c: httpx.Client) -> str:
    email = f"u-{uuid.uuid4().hex[:8]}@example.com"
    r = c.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    token: str = r.json()["access_token"]
    return token


def create_task(c: httpx.Client, token: str, **fields: Any) -> dict[str, Any]:
    r = c.post("/api/v1/tasks", json=fields, headers=bearer(token))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def add_reminder(c: httpx.Client, token: str, task_id: str, at: datetime) -> None:
    r = c.post(
        f"/api/v1/tasks/{task_id}/reminders", json={"at": at.isoformat()}, headers=bearer(token)
    )
    assert r.status_code == 201, r.text


def crosses(a: Server, b: Server) -> None:
    """A task change and a notification made through `a` reach a stream open on `b`."""
    with a.client() as ca:
        token = signup(ca)
        stream = Stream(b.base_url, token).open()
        task = create_task(ca, token, title="Made on A")
        stream.wait_for("task", id=task["id"], action="created")
        r = ca.patch(
            f"/api/v1/tasks/{task['id']}", json={"title": "Changed on A"}, headers=bearer(token)
        )
        assert r.status_code == 200, r.text
        stream.wait_for("task", id=task["id"], action="updated")
        add_reminder(ca, token, task["id"], datetime.now(UTC) + timedelta(seconds=1))
        stream.wait_for("notification", task_id=task["id"], title="Changed on A")


def test_events_cross_processes(shared_url: dict[str, str], tmp_path: Path, home: Path) -> None:
    """PostgreSQL: LISTEN/NOTIFY. SQLite and MariaDB: the polled table. B's scheduler is off,
    so the notification is made by A and must cross too."""
    a, b = _servers(tmp_path, home, 2, **shared_url)
    b.env["SCHEDULER_ENABLED"] = "false"
    with running([a, b]):
        crosses(a, b)


@pytest.mark.parametrize("database", POSTGRES_ONLY, indirect=True)
async def test_a_lost_listening_connection_resyncs_and_comes_back(
    database: Database, shared_url: dict[str, str], tmp_path: Path, home: Path
) -> None:
    """PostgreSQL ends every LISTEN connection: B's stream is told to resync once B listens
    again, and later changes cross as before."""
    a, b = _servers(tmp_path, home, 2, **shared_url)
    with running([a, b]), a.client() as ca:
        token = signup(ca)
        stream = Stream(b.base_url, token).open()
        async with database.engine.connect() as conn:
            ended = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'doable-events' AND datname = current_database()"
                )
            )
        assert ended == 2
        stream.wait_for("resync")
        task = create_task(ca, token, title="After the reconnect")
        stream.wait_for("task", id=task["id"], action="created")
    assert "relay: PostgreSQL connection lost" in b.stderr
    assert "relay: PostgreSQL connection back" in b.stderr


def redis_or_skip() -> None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return
    except OSError:
        pass
    if IN_CI:
        pytest.fail("Redis must answer at 127.0.0.1:6379 in CI: an unreachable backend fails")
    pytest.skip("no Redis at 127.0.0.1:6379")


@pytest.mark.parametrize("database", SQLITE_AND_POSTGRES, indirect=True)
def test_events_cross_through_redis(shared_url: dict[str, str], tmp_path: Path, home: Path) -> None:
    """With REDIS_URL the envelopes go through Redis: a subscriber of our own sees them."""
    redis_or_skip()
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.psubscribe("doable:events:*")
    try:
        a, b = _servers(tmp_path, home, 2, REDIS_URL=REDIS_URL, **shared_url)
        b.env["SCHEDULER_ENABLED"] = "false"
        with running([a, b]):
            crosses(a, b)
        seen = []
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:  # None also stands for a skipped subscribe reply
            message = pubsub.get_message(timeout=0.2)
            if message is not None:
                seen.append(message["data"].decode())
        assert any('"created"' in text for text in seen), seen
    finally:
        pubsub.close()
        client.close()
    assert "events across processes: Redis then" in a.stderr


@pytest.mark.parametrize("database", SQLITE_AND_POSTGRES, indirect=True)
def test_events_fall_back_to_the_database_when_redis_is_down(
    shared_url: dict[str, str], tmp_path: Path, home: Path
) -> None:
    """REDIS_URL points at a port where nothing listens: the processes start, say so, and
    events still cross through the database."""
    down = f"redis://127.0.0.1:{free_port()}/0"
    a, b = _servers(tmp_path, home, 2, REDIS_URL=down, **shared_url)
    b.env["SCHEDULER_ENABLED"] = "false"
    with running([a, b]):
        crosses(a, b)
    assert "relay: cannot reach Redis" in a.stderr
    assert "relay: cannot send through Redis" in a.stderr


@pytest.mark.parametrize("database", SQLITE_AND_POSTGRES, indirect=True)
def test_workers_share_events_and_the_stream_cap(
    shared_url: dict[str, str], tmp_path: Path, home: Path
) -> None:
    """`doable serve --workers 2`: every stream gets every change, whichever worker serves
    it, and the account's five streams are counted over both workers."""
    (server,) = _servers(tmp_path, home, 1, **shared_url)
    server.command += ["--workers", "2"]
    with running([server]), server.client() as c:
        token = signup(c)
        streams = [Stream(server.base_url, token).open() for _ in range(5)]
        for _ in range(4):  # new connections each, spread over the workers by the kernel
            with httpx.Client(base_url=server.base_url, timeout=10) as extra:
                r = extra.get("/api/v1/events", headers=bearer(token))
                assert r.status_code == 429, r.text
        task = create_task(c, token, title="Everyone hears this")
        for stream in streams:
            stream.wait_for("task", id=task["id"], action="created")


def worker_pids(parent: int, count: int, timeout: float = READY_TIMEOUT) -> list[int]:
    """The pids of `doable serve --workers N`'s worker processes (uvicorn spawns them with
    multiprocessing: their command line runs `spawn_main`), once all `count` exist."""
    deadline = time.monotonic() + timeout
    while True:
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue  # gone meanwhile
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == parent and b"spawn_main" in cmdline:
                pids.append(int(entry.name))
        if len(pids) == count:
            return sorted(pids)
        assert time.monotonic() < deadline, f"workers of {parent}: {pids}"
        time.sleep(0.1)


@contextmanager
def paused(pid: int) -> Iterator[None]:
    """Stop one process (SIGSTOP) for the block: a new connection is then accepted by the
    other worker, the only one calling accept() on the shared socket."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.mark.parametrize("database", SQLITE_AND_POSTGRES, indirect=True)
def test_workers_share_the_login_limit(
    shared_url: dict[str, str], tmp_path: Path, home: Path
) -> None:
    """`doable serve --workers 2`: five wrong passwords through one worker and five through
    the other use up the account's limit of 10, so the 11th is refused whichever worker
    takes it. Each worker in turn is paused so that the other takes the attempt; counted in
    each worker's memory, the 11th would be that worker's 6th and pass. No scheduler or
    webhook worker runs: nothing else writes while a worker is paused."""
    (server,) = _servers(
        tmp_path,
        home,
        1,
        **shared_url,
        AUTH_ACCOUNT_RATE_LIMIT="10/minute",
        AUTH_IP_RATE_LIMIT="1000/minute",
        SCHEDULER_ENABLED="false",
        WEBHOOK_WORKER_ENABLED="false",
    )
    server.command += ["--workers", "2"]
    with running([server]):
        first, second = worker_pids(server.pid, 2)
        email = f"u-{uuid.uuid4().hex[:8]}@example.com"
        with server.client() as c:
            r = c.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
            assert r.status_code == 201, r.text

        def attempt(through: int) -> int:
            other = second if through == first else first
            with paused(other), httpx.Client(base_url=server.base_url, timeout=30) as fresh:
                r = fresh.post(
                    "/api/v1/auth/login", json={"email": email, "password": "wrong password"}
                )
            assert r.status_code in (401, 429), r.text
            return r.status_code

        statuses = [attempt(first) for _ in range(5)] + [attempt(second) for _ in range(5)]
        assert statuses == [401] * 10
        assert attempt(first) == 429
        assert attempt(second) == 429
        # The right password is refused too until the window passes: it is a guess as well.
        with server.client() as c:
            r = c.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
            assert r.status_code == 429, r.text
            assert 1 <= int(r.headers["Retry-After"]) <= 120  # two periods at most


@pytest.mark.parametrize("database", SQLITE_AND_POSTGRES, indirect=True)
def test_a_reminder_fires_once_across_processes(
    shared_url: dict[str, str], tmp_path: Path, home: Path
) -> None:
    """Two processes with schedulers (the second with two workers: three schedulers) race
    for 60 reminders due at one instant: each fires exactly once."""
    a, b = _servers(tmp_path, home, 2, **shared_url)
    b.command += ["--workers", "2"]
    count = 60
    with running([a, b]), a.client() as c:
        token = signup(c)
        tasks = [create_task(c, token, title=f"Remind {n}")["id"] for n in range(count)]
        # Far enough ahead for a busy machine to add them all; every scheduler (woken by the
        # change, the others' through the relay) then sleeps until that one instant.
        at = datetime.now(UTC) + timedelta(seconds=15)
        for task_id in tasks:
            add_reminder(c, token, task_id, at)
        assert datetime.now(UTC) < at, "too slow to set the race up; raise the delay"
        deadline = time.monotonic() + 30
        items: list[dict[str, Any]] = []
        while len(items) < count and time.monotonic() < deadline:
            time.sleep(0.5)
            r = c.get("/api/v1/notifications", params={"limit": 100}, headers=bearer(token))
            assert r.status_code == 200, r.text
            items = r.json()["items"]
        time.sleep(2)  # a second firing would land by now
        r = c.get("/api/v1/notifications", params={"limit": 100}, headers=bearer(token))
        items = r.json()["items"]
    assert len(items) == count
    assert sorted(n["task_id"] for n in items) == sorted(tasks)
    assert len({n["reminder_id"] for n in items}) == count
    for server in (a, b):
        assert "already had its notification" not in server.stderr


def test_processes_starting_together_share_one_secret_key(tmp_path: Path) -> None:
    """Eight processes generate the key in one empty data folder at once: one key wins, every
    process reads it whole, and no temporary file is left."""
    data = tmp_path / "data"
    data.mkdir()
    code = (
        "import sys, time; from pathlib import Path;"
        "from doable.config import Settings, resolve_secret_key;"
        "start = float(sys.argv[1]);"
        "time.sleep(max(0.0, start - time.time()));"
        "s = Settings(_env_file=None, DOABLE_DATA_DIR=sys.argv[2]);"
        "print(resolve_secret_key(s, Path(sys.argv[2])).decode())"
    )
    start = time.time() + 2.0
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(start), str(data)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, outputs
    keys = {out.strip() for out, _ in outputs}
    assert len(keys) == 1, outputs
    assert (data / "secret_key").read_text().strip() == keys.pop()
    assert sorted(p.name for p in data.iterdir()) == ["secret_key"]


@pytest.mark.parametrize("database", POSTGRES_ONLY, indirect=True)
def test_replicas_started_together_accept_each_others_tokens(
    shared_url: dict[str, str], tmp_path: Path, home: Path
) -> None:
    """Three replicas on one (empty) data folder, started at once, generate one key."""
    servers = _servers(tmp_path, home, 3, **shared_url)
    with running(servers):
        with servers[0].client() as c:
            token = signup(c)
        for server in servers:
            with server.client() as c:
                assert c.get("/api/v1/tasks", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("database", SQLITE_AND_POSTGRES, indirect=True)
def test_sigterm_tells_streams_to_reconnect_and_finishes_writes(
    shared_url: dict[str, str], tmp_path: Path, home: Path
) -> None:
    """Writers keep creating tasks while the server gets SIGTERM: the stream is told to
    reconnect (with a retry) and ends; every write that was answered is kept, none failed
    with a server error, and the process exits cleanly."""
    (server,) = _servers(tmp_path, home, 1, **shared_url)
    acknowledged: list[str] = []
    errors: list[int] = []
    stop = threading.Event()
    server.start()
    try:
        server.wait_ready()
        with server.client() as c:
            token = signup(c)
        stream = Stream(server.base_url, token).open()

        def write() -> None:
            with httpx.Client(base_url=server.base_url, timeout=10) as w:
                while not stop.is_set():
                    try:
                        r = w.post("/api/v1/tasks", json={"title": "x"}, headers=bearer(token))
                    except httpx.TransportError:
                        return  # the listener closed: nothing was acknowledged
                    if r.status_code == 201:
                        acknowledged.append(r.json()["id"])
                    else:
                        errors.append(r.status_code)

        writers = [threading.Thread(target=write, daemon=True) for _ in range(4)]
        for writer in writers:
            writer.start()
        time.sleep(1.0)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        assert stream.ended.wait(DELIVERY_TIMEOUT)
        stop.set()
        for writer in writers:
            writer.join(DELIVERY_TIMEOUT)
    finally:
        stop.set()
        server.stop()
    assert server.stopped_cleanly, server.output()
    names = [name for name, _ in stream.events]
    assert names[-1] == "reconnect", stream.events
    assert stream.events[-1][1] == {"reason": "shutdown"}
    assert 500 <= stream.retries[-1] <= 3000
    assert errors == []
    assert len(acknowledged) > 0
    (again,) = _servers(tmp_path, home, 1, **shared_url)
    with running([again]), again.client() as c:
        kept: set[str] = set()
        params: dict[str, Any] = {"limit": 100}
        while True:
            r = c.get("/api/v1/tasks", params=params, headers=bearer(token))
            assert r.status_code == 200, r.text
            kept.update(t["id"] for t in r.json()["items"])
            if r.json()["next_cursor"] is None:
                break
            params["cursor"] = r.json()["next_cursor"]
    # Every answered write is kept, and (the drain letting each one in flight finish) no
    # write committed without its answer.
    assert kept == set(acknowledged)
