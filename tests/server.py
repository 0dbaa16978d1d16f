"""A real `doable serve` process for tests: free port, bounded wait for /readyz, SIGTERM to stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import httpx

VENV_BIN = Path(sys.executable).parent
DOABLE = VENV_BIN / "doable"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
CHEAP_ARGON2 = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "1024", "ARGON2_PARALLELISM": "1"}
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    """A loopback port nobody listens on right now (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(data_dir: Path, home: Path, **settings: str) -> dict[str, str]:
    """A clean environment: nothing from ours leaks in (no DATABASE_URL, no SECRET_KEY)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "DOABLE_DATA_DIR": str(data_dir),
        **CHEAP_ARGON2,
        **settings,
    }


class Server:
    """One `doable serve` process. Use as a context manager: it is always stopped on exit.

    stdout and stderr go to `<logs_dir>/<name>.stdout` and `.stderr`; `cwd` is where `.env`
    would be read from, so it should be a fresh directory.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        logs_dir: Path,
        name: str = "server",
        cwd: Path | None = None,
        prefix: Sequence[str] = (),
        doable: Path = DOABLE,
        port: int | None = None,
    ) -> None:
        self.env = dict(env)
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.command = [*prefix, str(doable), "serve", "--port", str(self.port)]
        self.cwd = cwd or logs_dir
        self.stdout_path = logs_dir / f"{name}.stdout"
        self.stderr_path = logs_dir / f"{name}.stderr"
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.returncode: int | None = None
        self.killed = False

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def output(self) -> str:
        return f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"

    def start(self) -> Server:
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT, interval: float = 0.02) -> float:
        """Poll GET /readyz until 200; return seconds since Popen. Fails fast if it exits."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while True:
                code = self.process.poll()
                if code is not None:
                    raise AssertionError(f"doable serve exited with {code}\n{self.output()}")
                try:
                    if client.get("/readyz").status_code == 200:
                        return time.monotonic() - self.started_at
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"not ready after {timeout:g} s\n{self.output()}")
                time.sleep(interval)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, wait; SIGKILL if it does not stop in time. Returns the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.killed = True
                self.process.kill()
                self.process.wait(5)
        self.returncode = self.process.returncode
        return self.returncode

    @property
    def stopped_cleanly(self) -> bool:
        """Stopped by SIGTERM without needing SIGKILL. Uvicorn shuts down gracefully, then
        re-raises the signal, so the exit status is either 0 or "killed by SIGTERM"."""
        return not self.killed and self.returncode in (0, -signal.SIGTERM)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10.0)

    def __enter__(self) -> Server:
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


def run_serve(
    env: Mapping[str, str], *, cwd: Path, timeout: float, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run `doable serve` expecting it to exit on its own (bad settings); killed after `timeout`."""
    return subprocess.run(
        [*prefix, str(DOABLE), "serve", "--port", str(free_port())],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
