"""Settings: database URLs, secret keys, data folders, and the CLI one-line errors."""

from __future__ import annotations

import os
import sqlite3
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from doable.config import ConfigError, Settings, normalize_database_url, resolve
from doable.migrations import head_revision
from tests.conftest import fast_settings

DOABLE = str(Path(sys.executable).parent / "doable")


@pytest.mark.parametrize(
    ("raw", "driver", "connect_args"),
    [
        ("postgres://u:p@db.example.com/app", "postgresql+asyncpg", {}),
        ("postgresql://u:p@db.example.com:5433/app", "postgresql+asyncpg", {}),
        ("postgresql+psycopg://u:p@db.example.com/app", "postgresql+asyncpg", {}),
        ("postgresql+psycopg2://u:p@db.example.com/app", "postgresql+asyncpg", {}),
        (
            "postgresql://u:p@ep-x.neon.tech/app?sslmode=require&channel_binding=require",
            "postgresql+asyncpg",
            {"ssl": "require"},
        ),
        (
            "postgresql://u:p@h/app?sslmode=verify-full",
            "postgresql+asyncpg",
            {"ssl": "verify-full"},
        ),
        ("mysql://u:p@db.example.com/app", "mysql+asyncmy", {}),
        ("mariadb://u:p@db.example.com:3307/app", "mysql+asyncmy", {}),
        ("mysql+pymysql://u:p@db.example.com/app", "mysql+asyncmy", {}),
        ("sqlite:////tmp/x/doable.db", "sqlite+aiosqlite", {}),
        ("sqlite:///relative.db", "sqlite+aiosqlite", {}),
    ],
)
def test_database_urls_users_paste(
    raw: str, driver: str, connect_args: dict[str, object], tmp_path: Path
) -> None:
    config = normalize_database_url(raw, tmp_path)
    assert config.url.drivername == driver
    assert config.connect_args == connect_args
    assert "sslmode" not in config.url.query and "channel_binding" not in config.url.query
    if driver == "mysql+asyncmy":
        assert config.url.query["charset"] == "utf8mb4"
    if "u:p@" in raw:
        assert config.safe().count("***") == 1 and ":p@" not in config.safe()


def test_mysql_ssl_mode_required_builds_a_tls_context(tmp_path: Path) -> None:
    config = normalize_database_url("mysql://u:p@h/app?ssl-mode=REQUIRED", tmp_path)
    assert isinstance(config.connect_args["ssl"], ssl.SSLContext)
    assert "ssl-mode" not in config.url.query


@pytest.mark.parametrize(
    "raw",
    [
        "garbage",
        "postgresql://bob:hunter2secret@host:notaport/db",
        "postgresql://bob:hunter2secret@host:99999/db",
        "oracle://bob:hunter2secret@host/db",
        "postgresql://bob:hunter2secret@/db",
        "postgresql://bob:hunter2secret@h/db?sslmode=sometimes",
        "mysql://bob:hunter2secret@/db",
        "sqlite://",
        "://bob:hunter2secret@host",
    ],
)
def test_malformed_database_url_names_the_setting_and_hides_the_password(
    raw: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as info:
        normalize_database_url(raw, tmp_path)
    message = str(info.value)
    assert message.startswith("DATABASE_URL is malformed")
    assert "hunter2secret" not in message and "\n" not in message


def test_empty_database_url_means_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    runtime = resolve(fast_settings(tmp_path / "d", DATABASE_URL="  "))
    assert runtime.database.url.drivername == "sqlite+aiosqlite"
    assert runtime.database.url.database == str((tmp_path / "d" / "doable.db").resolve())


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, SECRET_KEY="")
    first = resolve(settings).secret_key
    path = tmp_path / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert resolve(settings).secret_key == first
    other = resolve(fast_settings(tmp_path / "elsewhere", SECRET_KEY="")).secret_key
    assert other != first


def test_short_secret_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY is too short"):
        resolve(fast_settings(tmp_path, SECRET_KEY="x" * 31))
    assert resolve(fast_settings(tmp_path, SECRET_KEY="x" * 32)).secret_key == b"x" * 32


def test_cors_origins_split(tmp_path: Path) -> None:
    s = fast_settings(tmp_path, CORS_ORIGINS=" https://a.example , https://b.example/ ,")
    assert s.cors_origins == ["https://a.example", "https://b.example"]
    assert fast_settings(tmp_path, CORS_ORIGINS="").cors_origins == []


def test_settings_have_no_default_secret() -> None:
    assert Settings.model_fields["secret_key"].default is None


def _cli(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    return subprocess.run(
        [DOABLE, *args],
        env={**base, "ARGON2_MEMORY_KIB": "1024", "ARGON2_TIME_COST": "1", **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        (
            {"DATABASE_URL": "postgresql://bob:hunter2secret@host:notaport/db"},
            "DATABASE_URL is malformed",
        ),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL is malformed"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY is too short"),
        ({"PORT": "eighty"}, "PORT is invalid"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT is invalid"),
        ({"REDIS_URL": "http://bob:hunter2secret@host/0"}, "REDIS_URL must be a redis://"),
        (
            {"EVENTS_DATABASE_URL": "postgresql://bob:hunter2secret@host/db"},
            "EVENTS_DATABASE_URL only applies when DATABASE_URL is PostgreSQL",
        ),
        (
            {
                "DATABASE_URL": "postgresql://bob:hunter2secret@host/db",
                "EVENTS_DATABASE_URL": "postgresql://bob:hunter2secret@host:notaport/db",
            },
            "EVENTS_DATABASE_URL is malformed",
        ),
        (
            {
                "DATABASE_URL": "postgresql://bob:hunter2secret@host/db",
                "EVENTS_DATABASE_URL": "mysql://bob:hunter2secret@host/db",
            },
            "EVENTS_DATABASE_URL must be a postgresql:// URL",
        ),
    ],
)
@pytest.mark.parametrize("command", ["serve", "check", "migrate"])
def test_cli_config_errors_are_one_line(
    tmp_path: Path, env: dict[str, str], fragment: str, command: str
) -> None:
    result = _cli(command, env={"DOABLE_DATA_DIR": str(tmp_path), **env})
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]
    assert "hunter2secret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


# What `doable serve` does before its first /readyz 200, on a database already at head.
_START = """
import asyncio, gc, sys
gc.disable()  # as `doable serve` does (one worker)
from doable.cli import load_runtime, migrate_with_retry
from doable.app import FULL_PASS_AFTER, create_app
from doable.ops.service import readiness

runtime = load_runtime()
print(asyncio.run(migrate_with_retry(runtime)))
app = create_app(runtime)


async def started() -> object:
    async with app.router.lifespan_context(app):  # the scheduler, pusher and workers start
        await asyncio.sleep(0.2)
        # The collector runs, skips what startup built, and seldom walks everything else.
        frozen = gc.get_freeze_count() > 50_000
        rare = sys.version_info >= (3, 14) or gc.get_threshold()[2] == FULL_PASS_AFTER > 10
        print(gc.isenabled(), frozen, rare)
        return await readiness(app.state.database)


print(asyncio.run(started()))
print(sorted(m for m in {LAZY} if m in sys.modules))
"""
# Imported on first use, not at start: each was a slice of the cold start (docs/performance.md).
LAZY = ["alembic", "httpx", "icalendar", "redis", "rich", "mcp", "prometheus_client"]


def test_start_at_head_imports_only_what_serving_needs(tmp_path: Path) -> None:
    env = {"DOABLE_DATA_DIR": str(tmp_path)}
    assert _cli("migrate", env=env).returncode == 0
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    started = subprocess.run(
        [sys.executable, "-c", _START.replace("{LAZY}", repr(LAZY))],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    assert started.stdout.splitlines() == [
        head_revision(),
        "True True True",
        "(True, 'ok')",
        "[]",
    ]


# `doable serve` migrates with the collector off, and the app freezes what it finds then.
_MIGRATE_COLLECTOR_OFF = """
import asyncio, gc
gc.disable()
from doable.cli import load_runtime, migrate_with_retry

runtime = load_runtime()
gc.collect()
asyncio.run(migrate_with_retry(runtime))
print(gc.collect())
"""


def test_a_start_that_migrates_leaves_no_garbage_to_freeze(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    migrated = subprocess.run(
        [sys.executable, "-c", _MIGRATE_COLLECTOR_OFF],
        env={**base, "DOABLE_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    # A run from scratch left 16,000 objects in cycles before the upgrade collected them; what
    # is found now (3,000 here, 180 on a start at head) comes from the checks after it.
    assert int(migrated.stdout.split()[-1]) < 6_000


def test_events_database_defaults_to_the_database_on_postgresql(tmp_path: Path) -> None:
    pg = "postgresql://app@db.internal:6432/doable"
    runtime = resolve(fast_settings(tmp_path, DATABASE_URL=pg))
    assert runtime.events_database == runtime.database
    direct = "postgresql://app@db.internal:5432/doable?sslmode=require"
    runtime = resolve(fast_settings(tmp_path, DATABASE_URL=pg, EVENTS_DATABASE_URL=direct))
    assert runtime.events_database is not None
    assert runtime.events_database.url.port == 5432
    assert runtime.events_database.connect_args == {"ssl": "require"}
    assert resolve(fast_settings(tmp_path)).events_database is None  # SQLite: a polled table


def test_cli_version_migrate_check_and_users(tmp_path: Path) -> None:
    env = {"DOABLE_DATA_DIR": str(tmp_path)}
    version = _cli("--version", env=env)
    assert version.returncode == 0 and version.stdout.startswith("doable ")
    migrated = _cli("migrate", env=env)
    assert migrated.returncode == 0 and f"revision {head_revision()}" in migrated.stdout
    check = _cli("check", env={**env, "DATABASE_URL": f"sqlite:///{tmp_path / 'doable.db'}"})
    assert check.returncode == 0, check.stderr
    assert f"reachable, revision {head_revision()}, at head" in check.stdout
    created = _cli(
        "users", "create", "Zoe@Example.com", "--password-stdin", env=env, stdin="a long password\n"
    )
    assert created.returncode == 0, created.stderr
    assert "created zoe@example.com" in created.stdout
    with sqlite3.connect(tmp_path / "doable.db") as db:
        inboxes = db.execute(
            "SELECT users.email, projects.name FROM projects"
            " JOIN users ON users.id = projects.inbox_owner_id"
        ).fetchall()
    assert inboxes == [("zoe@example.com", "Inbox")]
    dup = _cli(
        "users", "create", "zoe@example.com", "--password-stdin", env=env, stdin="a long password\n"
    )
    assert dup.returncode == 1 and "already exists" in dup.stderr
    weak = _cli("users", "create", "y@example.com", "--password-stdin", env=env, stdin="password\n")
    assert weak.returncode == 1 and "too common" in weak.stderr
    listed = _cli("users", "list", env=env)
    assert "zoe@example.com" in listed.stdout and "y@example.com" not in listed.stdout
    changed = _cli(
        "users",
        "set-password",
        "zoe@example.com",
        "--password-stdin",
        env=env,
        stdin="another long one\n",
    )
    assert changed.returncode == 0, changed.stderr
    missing = _cli("users", "delete", "nobody@example.com", "--yes", env=env)
    assert missing.returncode == 1 and "no account" in missing.stderr
    deleted = _cli("users", "delete", "zoe@example.com", "--yes", env=env)
    assert deleted.returncode == 0
    assert "zoe@example.com" not in _cli("users", "list", env=env).stdout


def test_cli_check_reports_unreachable_database_without_password(tmp_path: Path) -> None:
    result = _cli(
        "check",
        env={
            "DOABLE_DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgresql://u:hunter2secret@127.0.0.1:1/x",
        },
    )
    assert result.returncode == 1
    assert "database unreachable" in result.stderr
    assert "hunter2secret" not in result.stdout + result.stderr
    assert "u:***@127.0.0.1:1/x" in result.stdout
