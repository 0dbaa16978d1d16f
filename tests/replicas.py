"""Several real `doable serve` replicas on one PostgreSQL behind a real nginx: a reusable fixture.

`ReplicaSet` starts N processes at once on one database (each with its own data folder and
port, one shared SECRET_KEY, as a deployment's replicas share one Secret) and nginx in front,
round-robin over them with `proxy_next_upstream`. The `replicas` fixture (module scope, so a
test module pays for one start) yields one on the session's PostgreSQL database, emptied first:
the replicas migrate it themselves, all at once. Use it with
`pytestmark = pytest.mark.parametrize("database", POSTGRES_ONLY, indirect=True)`.
Pass settings of your own by overriding the `replica_settings` fixture in your module.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from types import TracebackType

import httpx
import pytest

from doable.db import Database
from doable.migrations import missing_schema, upgrade
from tests.conftest import BACKEND_ENV, IN_CI, TEST_SECRET, backend_params, drop_everything
from tests.server import Server, free_port, server_env

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
POSTGRES_ONLY = [p for p in backend_params() if p.values == ("postgresql",)]
needs_nginx = pytest.mark.skipif(
    NGINX is None and not IN_CI, reason="nginx is not installed (apt-get install nginx-light)"
)
REPLICAS = 3
# Three processes importing and migrating at once on a shared 2-core machine: generous.
READY_TIMEOUT = 120.0


class Nginx:
    """nginx on a free loopback port, round-robin over `ports`, retrying another replica
    when one refuses the connection, fails or answers 502/503 (`proxy_next_upstream`; POSTs
    are not resent by nginx: their clients retry with their Idempotency-Key)."""

    def __init__(self, root: Path, ports: list[int]) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        root.mkdir(parents=True, exist_ok=True)
        servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=0;" for p in ports)
        temp = "\n".join(
            f"  {kind}_temp_path {root / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (root / "nginx.conf").write_text(
            f"daemon off;\nworker_processes 1;\npid {root / 'nginx.pid'};\n"
            f"error_log {root / 'error.log'};\nevents {{ worker_connections 256; }}\n"
            f"http {{\n  access_log off;\n{temp}\n"
            f"  upstream doable {{\n{servers}\n  }}\n"
            f"  server {{\n    listen 127.0.0.1:{self.port};\n"
            "    location / {\n"
            "      proxy_pass http://doable;\n"
            "      proxy_http_version 1.1;\n"
            '      proxy_set_header Connection "";\n'
            "      proxy_set_header Host $host;\n"
            "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            "      proxy_set_header X-Forwarded-Proto $scheme;\n"
            "      proxy_next_upstream error timeout http_502 http_503;\n"
            "      proxy_next_upstream_tries 3;\n"
            "      proxy_connect_timeout 2s;\n"
            "    }\n  }\n}\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert NGINX is not None, "nginx is not installed (apt-get install nginx-light)"
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.root), "-c", str(self.root / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=(self.root / "stderr").open("wb"),
        )
        deadline = time.monotonic() + 10
        while True:
            assert self.process.poll() is None, (self.root / "stderr").read_text()
            try:
                httpx.get(f"{self.url}/healthz", timeout=2)
                return
            except httpx.TransportError:
                assert time.monotonic() < deadline, (self.root / "error.log").read_text()
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class ReplicaSet:
    """`count` replicas of `doable serve` on `database_url`, started at once, behind nginx."""

    def __init__(
        self,
        tmp_path: Path,
        database_url: str,
        *,
        count: int = REPLICAS,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.tmp_path = tmp_path
        self.servers: list[Server] = []
        for n in range(count):
            home = tmp_path / f"home{n}"
            home.mkdir(parents=True)
            env = server_env(
                tmp_path / f"data{n}",
                home,
                DATABASE_URL=database_url,
                SECRET_KEY=TEST_SECRET.decode(),
                DB_POOL_SIZE="2",
                **(settings or {}),
            )
            self.servers.append(Server(env, logs_dir=tmp_path, name=f"replica{n}", cwd=home))
        self.nginx = Nginx(tmp_path / "nginx", [s.port for s in self.servers])
        self.ready_after: list[float] = []

    @property
    def url(self) -> str:
        return self.nginx.url

    def client(self, timeout: float = 15.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    def start(self) -> ReplicaSet:
        for server in self.servers:  # all at once: none waits for another to be ready
            server.start()
        self.ready_after = [server.wait_ready(READY_TIMEOUT) for server in self.servers]
        self.nginx.start()
        return self

    def kill(self, n: int) -> None:
        """SIGKILL replica `n`: no shutdown, no goodbye to its database connections."""
        server = self.servers[n]
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        server.killed = True

    def stop(self) -> None:
        self.nginx.stop()
        for server in self.servers:
            server.stop()

    def output(self) -> str:
        return "\n".join(f"=== {s.stderr_path.name}\n{s.stderr}" for s in self.servers)

    def __enter__(self) -> ReplicaSet:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@pytest.fixture(scope="module")
def replica_settings() -> dict[str, str]:
    """Settings every replica gets (override in a module for other ones)."""
    return {"AUTH_IP_RATE_LIMIT": "100000/minute"}


@pytest.fixture(scope="module")
async def replicas(
    database: Database,
    tmp_path_factory: pytest.TempPathFactory,
    replica_settings: dict[str, str],
) -> AsyncIterator[ReplicaSet]:
    """Three replicas behind nginx on the session's PostgreSQL, emptied before they start
    (they migrate it together); the session's schema is rebuilt afterwards."""
    if database.config.backend != "postgresql":
        pytest.skip("the replica harness runs on PostgreSQL")
    if NGINX is None:
        pytest.fail("nginx is not installed (apt-get install nginx-light)")
    await drop_everything(database.engine)
    tmp_path = tmp_path_factory.mktemp("replicas")
    try:
        with ReplicaSet(
            tmp_path, os.environ[BACKEND_ENV["postgresql"]], settings=replica_settings
        ) as replica_set:
            yield replica_set
    finally:
        await database.engine.dispose()
        await drop_everything(database.engine)
        await upgrade(database.engine)
        assert await missing_schema(database.engine) == []


def paged_titles(client: httpx.Client, headers: Mapping[str, str]) -> Iterator[str]:
    """Every task title the account holds, page by page (keyset cursor)."""
    params: dict[str, str | int] = {"limit": 100, "sort": "created", "order": "asc"}
    while True:
        r = client.get("/api/v1/tasks", params=params, headers=dict(headers))
        assert r.status_code == 200, r.text
        body = r.json()
        yield from (task["title"] for task in body["items"])
        cursor = body.get("next_cursor")
        if not cursor:
            return
        params["cursor"] = cursor
