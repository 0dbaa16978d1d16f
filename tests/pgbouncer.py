"""A real PgBouncer (Debian's `pgbouncer`) in transaction mode, for tests and benchmarks.

It starts on a free loopback port with a configuration generated in a fresh temporary folder,
in front of the PostgreSQL of a URL. PgBouncer refuses to run as root, so when we are root
(CI) it runs as the `postgres` user, and the folder is made readable to it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from sqlalchemy.engine import make_url

from tests.server import free_port

PGBOUNCER = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
)


class PgBouncer:
    """PgBouncer in transaction mode in front of `postgres_url`'s server. `url` is the same
    URL through PgBouncer. `pool_size` server connections per database and user: fewer than
    the app's clients, so that transactions of different clients share server connections."""

    def __init__(self, postgres_url: str, *, pool_size: int = 3) -> None:
        target = make_url(postgres_url)
        self.port = free_port()
        self.url = target.set(host="127.0.0.1", port=self.port).render_as_string(
            hide_password=False
        )
        self.root = Path(tempfile.mkdtemp(prefix="doable-pgbouncer-"))
        self.root.chmod(0o755)
        user = target.username or "postgres"
        (self.root / "users.txt").write_text(f'"{user}" "{target.password or ""}"\n')
        (self.root / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={target.host or '127.0.0.1'} port={target.port or 5432}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.root / 'users.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {pool_size}\nmax_client_conn = 200\n"
            # Doable sends its timeouts as startup parameters, which PgBouncer 1.18 refuses;
            # the role (or connect_query) carries them behind a pooler (docs/operations.md).
            "ignore_startup_parameters = statement_timeout,lock_timeout\n"
            f"logfile = {self.root / 'pgbouncer.log'}\n"
        )
        if os.geteuid() == 0:
            for path in (self.root, *self.root.iterdir()):
                shutil.chown(path, "postgres")
        self.process: subprocess.Popen[bytes] | None = None

    def log(self) -> str:
        paths = (self.root / "pgbouncer.out", self.root / "pgbouncer.log")
        return "".join(p.read_text(errors="replace") for p in paths if p.exists())

    def start(self) -> PgBouncer:
        assert PGBOUNCER is not None, "pgbouncer is not installed (apt-get install pgbouncer)"
        command = [PGBOUNCER, str(self.root / "pgbouncer.ini")]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        with (self.root / "pgbouncer.out").open("wb") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, cwd=self.root
            )
        deadline = time.monotonic() + 10
        while True:
            assert self.process.poll() is None, self.log()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                assert time.monotonic() < deadline, self.log()
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
