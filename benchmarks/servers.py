"""Start Doable (`doable serve`, its production setup) or the baseline, pinned to one core."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from benchmarks.common import PROJECT, SECRET_KEY, SERVER_CPU, backend_dir, database_url, doable_bin

READY_TIMEOUT = 60.0


# BENCH_PORTS="8720-8739" keeps the servers in a range of ports (a machine shared by several
# runs); without it the system picks any free one.
_next_port = 0


def free_port() -> int:
    global _next_port
    span = os.environ.get("BENCH_PORTS", "")
    if not span:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
            return port
    first, last = (int(p) for p in span.split("-"))
    # In turn, not the first free one: two servers made before either binds get two ports.
    for _ in range(last - first + 1):
        port = first + _next_port % (last - first + 1)
        _next_port += 1
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit(f"no free port in BENCH_PORTS={span}")


def doable_env(backend: str, **extra: str) -> dict[str, str]:
    """Production settings, except rate limits high enough that login is measured, not 429s."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "DATABASE_URL": database_url(backend),
        "SECRET_KEY": SECRET_KEY,
        "DOABLE_DATA_DIR": str(backend_dir(backend) / "data"),
        "AUTH_IP_RATE_LIMIT": "1000000/minute",
        "AUTH_ACCOUNT_RATE_LIMIT": "1000000/minute",
        **extra,
    }


class Process:
    """A server process pinned with taskset; stopped with SIGTERM on exit."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.port = free_port()
        self.command = ["taskset", "-c", SERVER_CPU, *command, "--port", str(self.port)]
        self.env = env
        self.logs = logs
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.ready_after = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> Process:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (
            (self.logs / f"{self.name}.stdout").open("ab") as out,
            (self.logs / f"{self.name}.stderr").open("ab") as err,
        ):
            self.started = time.monotonic()
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=PROJECT,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        """Poll /readyz every 10 ms; return the seconds from Popen to the first 200."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited; see {self.logs}/{self.name}.stderr")
                try:
                    if client.get("/readyz").status_code == 200:
                        self.ready_after = time.monotonic() - self.started
                        return self.ready_after
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not ready after {timeout:g} s")
                time.sleep(0.01)

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process (all its threads) has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> tuple[float, float]:
        """(current RSS, peak RSS) in MB, from /proc."""
        fields = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def __enter__(self) -> Process:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def doable(backend: str, logs: Path, name: str = "doable", **extra: str) -> Process:
    """`doable serve` as recommended for a small box: one worker, uvloop and httptools
    (uvicorn picks both when installed, and `uvicorn[standard]` installs them), no reload."""
    return Process(
        name, [str(doable_bin()), "serve", "--workers", "1"], doable_env(backend, **extra), logs
    )


def baseline(backend: str, logs: Path) -> Process:
    url = database_url(backend)
    dsn = url.removeprefix("sqlite:///") if backend == "sqlite" else url
    if backend == "mariadb":
        dsn = dsn.replace("mysql://", "mysql://", 1)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(PROJECT),
        "BASELINE_BACKEND": backend,
        "BASELINE_DSN": dsn,
        "SECRET_KEY": SECRET_KEY,
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.baseline.app:create_app",
        "--factory",
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return Process("baseline", command, env, logs)
