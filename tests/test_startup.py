"""Starting against a database that refuses us (wrong password, no such database) stops with one
line that names the problem and never the password, for `serve`, `migrate` and `check`."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from doable.config import normalize_database_url
from tests.conftest import BACKEND_ENV, IN_CI, TEST_SECRET
from tests.server import DOABLE, free_port, server_env

PASSWORD = "hunter2-do-not-print"  # the wrong password we send
COMMANDS = ["serve", "migrate", "check"]
REFUSED_PASSWORD = "the database server refused the password"
REFUSED_LOGIN = "the database server refused the user name or password"
NO_DATABASE = "the database does not exist"


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@pytest.fixture(scope="module")
def password_postgres() -> Iterator[str]:
    """A private PostgreSQL cluster that asks for a password (the shared one trusts loopback,
    so it accepts any): its URL with the right password."""
    bindir = _pg_bin()
    if bindir is None:
        if IN_CI:
            pytest.fail("PostgreSQL's server binaries are missing")
        pytest.skip("PostgreSQL's server binaries are not installed")
    root = Path(tempfile.mkdtemp(prefix="doable-pg-"))
    right = "the-right-password"
    (root / "pw").write_text(right)
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(root, "postgres")
        shutil.chown(root / "pw", "postgres")
    port = free_port()
    data = root / "data"
    subprocess.run(
        [*as_postgres, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
         "--auth=scram-sha-256", f"--pwfile={root / 'pw'}", "--no-sync"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    ctl = [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data)]
    subprocess.run(
        [*ctl, "-o", options, "-l", str(root / "log"), "-w", "-t", "60", "start"],
        check=True, capture_output=True, timeout=90,
    )  # fmt: skip
    try:
        yield f"postgresql://postgres:{right}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*ctl, "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def _shared(backend: str) -> str:
    url = os.environ.get(BACKEND_ENV[backend])
    if not url:
        if IN_CI:
            pytest.fail(f"{BACKEND_ENV[backend]} must be set in CI")
        pytest.skip(f"{BACKEND_ENV[backend]} is not set")
    return url


def _start(command: str, url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = server_env(
        tmp_path / "data",
        home,
        DATABASE_URL=url,
        SECRET_KEY=TEST_SECRET.decode(),
        DB_STARTUP_TIMEOUT="5",
        PORT=str(free_port()),
    )
    return subprocess.run(
        [str(DOABLE), command],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _check_refused(result: subprocess.CompletedProcess[str], url: str, problem: str) -> None:
    masked = normalize_database_url(url, Path("/unused")).safe()
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr == f"error: {problem} ({masked}); check DATABASE_URL\n"
    assert PASSWORD not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def _with(url: str, *, password: str | None = None, database: str | None = None) -> str:
    parsed = make_url(url)
    if password is not None:
        parsed = parsed.set(password=password)
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@pytest.mark.parametrize("command", COMMANDS)
def test_postgres_wrong_password(command: str, password_postgres: str, tmp_path: Path) -> None:
    url = _with(password_postgres, password=PASSWORD)
    _check_refused(_start(command, url, tmp_path), url, REFUSED_PASSWORD)


@pytest.mark.parametrize("command", COMMANDS)
def test_postgres_missing_database(command: str, tmp_path: Path) -> None:
    url = _with(_shared("postgresql"), password=PASSWORD, database="doable_no_such_database")
    _check_refused(_start(command, url, tmp_path), url, NO_DATABASE)


@pytest.mark.parametrize("command", COMMANDS)
def test_mariadb_wrong_password(command: str, tmp_path: Path) -> None:
    url = _with(_shared("mariadb"), password=PASSWORD)
    _check_refused(_start(command, url, tmp_path), url, REFUSED_LOGIN)


@pytest.mark.parametrize("command", COMMANDS)
def test_mariadb_missing_database(command: str, tmp_path: Path) -> None:
    url = _with(_shared("mariadb"), database="doable_no_such_database")
    _check_refused(_start(command, url, tmp_path), url, NO_DATABASE)
