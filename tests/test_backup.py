"""`doable backup`: SQLite backed up while a real server takes writes, then restored the way
docs/operations.md says, holding every acknowledged write; the dump commands for PostgreSQL
and MariaDB; and refusals."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL

from doable.db import Database
from tests.conftest import IN_CI
from tests.factories import make_account, make_task
from tests.server import DOABLE, Server, server_env

PASSWORD = "correct horse battery"
WRITERS = 4


def run_backup(env: dict[str, str], dest: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DOABLE), "backup", str(dest), *args],
        env=env,
        cwd=dest.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def titles_in(database: Path) -> set[str]:
    with sqlite3.connect(database) as conn:
        return {row[0] for row in conn.execute("SELECT title FROM tasks")}


class Writers:
    """Threads creating tasks until told to stop; a title counts once the server said 201."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.acked: dict[str, float] = {}  # title → monotonic time of its 201
        self.sent: set[str] = set()
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._write, args=(n,)) for n in range(WRITERS)]

    def _write(self, n: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30.0, headers=self.headers) as c:
            i = 0
            while not self.stop.is_set():
                title = f"w{n}-{i}"
                i += 1
                with self.lock:
                    self.sent.add(title)
                r = c.post("/api/v1/tasks", json={"title": title})
                if r.status_code == 201:
                    with self.lock:
                        self.acked[title] = time.monotonic()
                else:
                    self.errors.append(f"{r.status_code} {r.text[:200]}")

    def wait_for(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < count:
            assert time.monotonic() < deadline, f"only {len(self.acked)} writes in {timeout} s"
            assert not self.errors, self.errors[:3]
            time.sleep(0.01)

    def __enter__(self) -> Writers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)


def all_titles(client: httpx.Client, headers: dict[str, str]) -> set[str]:
    titles: set[str] = set()
    params: dict[str, str] = {"limit": "100"}
    while True:
        r = client.get("/api/v1/tasks", params=params, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        titles.update(item["title"] for item in body["items"])
        if not body.get("next_cursor"):
            return titles
        params["cursor"] = body["next_cursor"]


@pytest.mark.slow
def test_sqlite_backup_under_writers_restores_every_acknowledged_write(tmp_path: Path) -> None:
    data, home, restored = tmp_path / "data", tmp_path / "home", tmp_path / "restored"
    for folder in (data, home, restored):
        folder.mkdir()
    env = server_env(data, home)
    during, after = tmp_path / "backup-during", tmp_path / "backup-after"
    with Server(env, logs_dir=tmp_path, cwd=home) as server:
        with server.client() as c:
            r = c.post(
                "/api/v1/auth/signup", json={"email": "ops@example.com", "password": PASSWORD}
            )
            assert r.status_code == 201, r.text
            token = r.json()["access_token"]
        with Writers(server.base_url, token) as writers:
            writers.wait_for(60)
            started = time.monotonic()
            made = run_backup(env, during)
            assert made.returncode == 0, made.stderr
            writers.wait_for(len(writers.acked) + 30)
        assert writers.errors == []
        # The writers have stopped and every answer is in: this one must hold them all.
        made = run_backup(env, after)
        assert made.returncode == 0, made.stderr

    # Taken mid-load: every write acknowledged before it started, and nothing never sent.
    before_start = {t for t, at in writers.acked.items() if at < started}
    copied = titles_in(during / "doable.db")
    assert before_start <= copied
    assert copied <= writers.sent
    assert titles_in(after / "doable.db") == set(writers.acked)

    manifest = json.loads((after / "manifest.json").read_text())
    assert manifest["backend"] == "sqlite"
    assert set(manifest["files"]) == {"doable.db", "data/secret_key"}
    assert (after / "data" / "secret_key").read_bytes() == (data / "secret_key").read_bytes()
    assert stat.S_IMODE((after / "data" / "secret_key").stat().st_mode) == 0o600
    assert stat.S_IMODE(after.stat().st_mode) == 0o700

    # The restore in docs/operations.md: the database and the keys into an empty data folder.
    shutil.copy2(after / "doable.db", restored / "doable.db")
    shutil.copy2(after / "data" / "secret_key", restored / "secret_key")
    second = Server(server_env(restored, home), logs_dir=tmp_path, name="restored", cwd=home)
    with second, second.client() as c:
        # The same key: the access token issued before the backup still signs in.
        headers = {"Authorization": f"Bearer {token}"}
        assert c.get("/api/v1/me", headers=headers).status_code == 200
        assert all_titles(c, headers) == set(writers.acked)


def test_backup_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    data, dest = tmp_path / "data", tmp_path / "dest"
    data.mkdir()
    dest.mkdir()
    (dest / "something").write_text("x")
    done = run_backup(server_env(data, tmp_path), dest)
    assert done.returncode == 1
    assert "already exists and is not an empty folder" in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["something"]


def _admin(url: URL, backend: str) -> tuple[list[str], dict[str, str]]:
    """psql or mariadb connected as the test database's user, password in the environment."""
    password = str(url.password or "")
    if backend == "postgresql":
        command = ["psql", "-h", url.host or "localhost", "-p", str(url.port or 5432)]
        return [*command, "-U", url.username or "", "-v", "ON_ERROR_STOP=1", "-At"], {
            "PGPASSWORD": password
        }
    command = ["mariadb", "-h", url.host or "localhost", "-P", str(url.port or 3306)]
    return [*command, "-u", url.username or "", "-N"], {"MYSQL_PWD": password}


def _sql(url: URL, backend: str, database: str, sql: str, stdin: Path | None = None) -> str:
    command, env = _admin(url, backend)
    command = [*command, "-d", database] if backend == "postgresql" else [*command, database]
    done = subprocess.run(
        [*command, "-c" if backend == "postgresql" else "-e", sql] if sql else command,
        env={**os.environ, **env},
        stdin=stdin.open("rb") if stdin else subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


async def test_server_databases_are_dumped_and_restored(
    tmp_path: Path, database: Database, backend: str, client: httpx.AsyncClient
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite is copied, not dumped (the test above)")
    acct = await make_account(client)
    titles = {f"kept {n}" for n in range(3)}
    for title in titles:
        await make_task(client, acct, title=title)
    url = database.config.url.set(drivername=database.config.url.get_backend_name())
    data = tmp_path / "cli-data"
    data.mkdir()
    env = server_env(data, tmp_path, DATABASE_URL=url.render_as_string(hide_password=False))

    printed = run_backup(env, tmp_path / "printed", "--print-only")
    assert printed.returncode == 0, printed.stderr
    tool = "pg_dump" if backend == "postgresql" else "mariadb-dump"
    assert tool in printed.stdout
    assert not (tmp_path / "printed" / "doable.pgdump").exists()

    if shutil.which(tool) is None:
        assert not IN_CI, f"{tool} is missing"
        pytest.skip(f"{tool} is not installed")
    dumped = run_backup(env, tmp_path / "dumped")
    assert dumped.returncode == 0, dumped.stderr
    name = "doable.pgdump" if backend == "postgresql" else "doable.sql"
    dump = tmp_path / "dumped" / name
    manifest = json.loads((tmp_path / "dumped" / "manifest.json").read_text())
    assert set(manifest["files"]) == {name, "data/secret_key"}

    # The restore in docs/operations.md, into a fresh database.
    target = f"{url.database}_restored"
    admin_db = "postgres" if backend == "postgresql" else ""
    _sql(url, backend, admin_db, f"DROP DATABASE IF EXISTS {target}")
    _sql(url, backend, admin_db, f"CREATE DATABASE {target}")
    try:
        if backend == "postgresql":
            restored = subprocess.run(
                [
                    "pg_restore",
                    "--no-owner",
                    "--dbname",
                    url.set(database=target).render_as_string(hide_password=False),
                    str(dump),
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert restored.returncode == 0, restored.stderr
        else:
            _sql(url, backend, target, "", stdin=dump)
        got = _sql(url, backend, target, "SELECT title FROM tasks").splitlines()
        assert sorted(got) == sorted(titles)
    finally:
        _sql(url, backend, admin_db, f"DROP DATABASE IF EXISTS {target}")
