"""`doable backup`: a consistent copy of the database and the data folder's keys.

SQLite is copied with its online backup API, which reads one consistent snapshot while the
server keeps writing (a plain `cp` of a live WAL database can miss committed writes that are
still only in the `-wal` file). PostgreSQL and MariaDB are dumped with their own tools
(`pg_dump`, `mariadb-dump`) when they are installed; otherwise the command to run is printed.
Files in the data folder other than the SQLite database (the generated `secret_key`) are
copied alongside, since tokens, sessions and cursors are signed with it.

The copy is synchronous: the CLI runs it outside any event loop. Anything async that wants a
backup runs `backup` in a thread.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from doable import __version__
from doable.config import RuntimeConfig

SQLITE_FILE = "doable.db"
PG_FILE = "doable.pgdump"
MARIADB_FILE = "doable.sql"
MANIFEST = "manifest.json"
# What lives beside a SQLite database and is part of it, not a key to copy: SQLite's own files,
# the migration lock's (migrations.migration_lock), which holds no data, and the login limits'
# counter file with SQLite's files of its own (ratelimit.counters), which holds recent counts.
_SQLITE_SIDECARS = (
    "-wal",
    "-shm",
    "-journal",
    ".migrate-lock",
    *(f"-ratelimit{s}" for s in ("", "-wal", "-shm", "-journal")),
)
BUSY_TIMEOUT_S = 30.0


class BackupError(Exception):
    """The backup could not be made. The message is one line, free of secrets."""


@dataclass
class Backup:
    """What a backup holds, and the command still to run when a dump tool is missing."""

    path: Path
    backend: str
    files: dict[str, str] = field(default_factory=dict)  # name → sha256
    pending_command: str | None = None
    schema_revision: str | None = None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _prepare(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} already exists and is not an empty folder")
    try:
        dest.mkdir(mode=0o700, parents=True, exist_ok=True)
        dest.chmod(0o700)  # it holds the secret key
    except OSError as exc:
        raise BackupError(f"cannot create {dest}: {exc.strerror}") from None


def copy_sqlite(source: Path, target: Path) -> str | None:
    """Copy a live SQLite database through the online backup API, check the copy, and
    return its schema revision. One step (`pages=-1`): one consistent snapshot."""
    if not source.exists():
        raise BackupError(f"the SQLite database {source} does not exist")
    partial = target.with_name(target.name + ".partial")
    src = sqlite3.connect(source, timeout=BUSY_TIMEOUT_S)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            (check,) = dst.execute("PRAGMA integrity_check").fetchone()
            if check != "ok":
                raise BackupError(f"the copy failed its integrity check: {check}")
            revision = None
            if dst.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'"
            ).fetchone():
                row = dst.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = row[0] if row else None
        finally:
            dst.close()
    finally:
        src.close()
    partial.replace(target)
    return revision


def _pg_command(runtime: RuntimeConfig, target: Path) -> tuple[list[str], dict[str, str]]:
    url = runtime.database.url
    env = {
        "PGHOST": url.host or "localhost",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "",
        "PGDATABASE": url.database or "",
    }
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    if runtime.database.connect_args.get("ssl") and "PGSSLMODE" not in os.environ:
        env["PGSSLMODE"] = "require"
    return ["pg_dump", "--format=custom", "--no-owner", f"--file={target}"], env


def _mariadb_command(runtime: RuntimeConfig, target: Path) -> list[str]:
    url = runtime.database.url
    return [
        "mariadb-dump",
        f"--host={url.host or 'localhost'}",
        f"--port={url.port or 3306}",
        f"--user={url.username or ''}",
        "--single-transaction",
        "--quick",
        "--routines",
        "--triggers",
        "--default-character-set=utf8mb4",
        f"--result-file={target}",
        url.database or "",
    ]


def _shown(command: list[str], env: dict[str, str]) -> str:
    """The command as a person would type it, with the password left to them."""
    shown_env = {k: ("…" if k == "PGPASSWORD" else v) for k, v in env.items()}
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in shown_env.items())
    return (prefix + " " if prefix else "") + shlex.join(command)


def _run_dump(command: list[str], env: dict[str, str], what: str) -> None:
    try:
        done = subprocess.run(  # noqa: S603 (a fixed tool, arguments from our settings)
            command,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except OSError as exc:
        raise BackupError(f"{what} could not start: {exc.strerror}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupError(f"{what} failed ({done.returncode}): {last}")


def _dump_mariadb(runtime: RuntimeConfig, target: Path, tool: str) -> None:
    command = _mariadb_command(runtime, target)
    command[0] = tool
    password = runtime.database.url.password
    with tempfile.NamedTemporaryFile("w", prefix="doable-dump-", suffix=".cnf") as cnf:
        # The password goes in an option file only we can read, never on the command line.
        os.chmod(cnf.name, 0o600)
        cnf.write("[client]\n")
        if password:
            cnf.write(f"password={password}\n")
        cnf.flush()
        _run_dump([tool, f"--defaults-extra-file={cnf.name}", *command[1:]], {}, "mariadb-dump")


def _copy_keys(runtime: RuntimeConfig, dest: Path, database_file: Path | None) -> list[str]:
    """Every plain file of the data folder but the database itself: the keys."""
    copied: list[str] = []
    skip: set[str] = set()
    if database_file is not None:
        skip = {database_file.name + s for s in ("", *_SQLITE_SIDECARS)}
    if not runtime.data_dir.is_dir():
        return copied
    for item in sorted(runtime.data_dir.iterdir()):
        if item.is_file() and not item.is_symlink() and item.name not in skip:
            target = dest / "data" / item.name
            target.parent.mkdir(mode=0o700, exist_ok=True)
            shutil.copy2(item, target)
            target.chmod(0o600)
            copied.append(f"data/{item.name}")
    return copied


def backup(
    runtime: RuntimeConfig,
    dest: Path,
    *,
    run_tools: bool = True,
    which: Callable[[str], str | None] = shutil.which,
) -> Backup:
    """Back up the database and the data folder's keys into the new folder `dest`."""
    _prepare(dest)
    backend = runtime.database.backend
    result = Backup(dest, backend)
    database_file: Path | None = None
    if backend == "sqlite":
        database_file = Path(runtime.database.url.database or "").resolve()
        try:
            result.schema_revision = copy_sqlite(database_file, dest / SQLITE_FILE)
        except sqlite3.Error as exc:
            raise BackupError(f"the SQLite backup failed: {exc}") from None
        result.files[SQLITE_FILE] = ""
    elif backend == "postgresql":
        command, env = _pg_command(runtime, dest / PG_FILE)
        tool = which("pg_dump")
        if run_tools and tool:
            _run_dump([tool, *command[1:]], env, "pg_dump")
            result.files[PG_FILE] = ""
        else:
            result.pending_command = _shown(command, env)
    else:
        tool = which("mariadb-dump") or which("mysqldump")
        if run_tools and tool:
            _dump_mariadb(runtime, dest / MARIADB_FILE, tool)
            result.files[MARIADB_FILE] = ""
        else:
            pwd = {"MYSQL_PWD": "…"} if runtime.database.url.password else {}
            result.pending_command = _shown(_mariadb_command(runtime, dest / MARIADB_FILE), pwd)
    for name in _copy_keys(runtime, dest, database_file):
        result.files[name] = ""
    for name in result.files:
        result.files[name] = _sha256(dest / name)
    manifest = {
        "doable_version": __version__,
        "backend": backend,
        "created_at": datetime.now(UTC).isoformat(),
        "schema_revision": result.schema_revision,
        "secret_key_from_environment": runtime.settings.secret_key is not None,
        "files": result.files,
        "pending_command": result.pending_command,
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return result
