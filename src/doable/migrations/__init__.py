"""Alembic migrations shipped in the package, and helpers to run them on an async engine.

Alembic is imported only to migrate. Serving a database that is already at `HEAD` (every
start but the first after an upgrade) and answering /readyz read the stored revision with one
plain query: importing Alembic and loading the migration scripts was a tenth of a cold start.

The stored revision alone is not proof: a migration edited after it landed (docs/architecture.md,
"Never edit a landed migration") leaves databases that read as `HEAD` but lack tables. So
`missing_schema` also compares the tables and columns this build's models need with what the
database has, in one query.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

HERE = Path(__file__).parent
# The newest revision: versions/ names each file after its revision ("0008_calendar_feeds.py"
# holds revision "0008"), so a new migration moves HEAD by itself. tests/test_migrations.py
# checks it against the head Alembic finds.
KNOWN = frozenset(path.name.partition("_")[0] for path in (HERE / "versions").glob("[0-9]*_*.py"))
HEAD = max(KNOWN)
VERSION_TABLE = "alembic_version"
_READ_VERSION = text("SELECT version_num FROM alembic_version")


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@cache
def head_revision() -> str | None:
    """The head as Alembic finds it by reading versions/ (for tests and `doable check`)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current(connection: Connection) -> str | None:
    """What Alembic's MigrationContext.get_current_revision answers, without Alembic: None
    when the version table is missing or empty."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(_READ_VERSION).scalars().all()
    if len(rows) > 1:
        raise RuntimeError(f"{VERSION_TABLE} holds {len(rows)} revisions; expected one")
    return rows[0] if rows else None


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


# Every (table, column) of the current schema, in one statement per backend. Tables and columns
# this build does not know are fine (a newer schema); only missing ones count.
_COLUMNS = {
    "sqlite": text(
        "SELECT m.name, p.name FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p "
        "WHERE m.type = 'table'"
    ),
    "postgresql": text(
        "SELECT c.relname, a.attname FROM pg_catalog.pg_attribute AS a "
        "JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid "
        "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') "
        "AND a.attnum > 0 AND NOT a.attisdropped"
    ),
    "mysql": text(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = DATABASE()"
    ),
}


@cache
def required_columns() -> dict[str, frozenset[str]]:
    """Each table this build's models use, with its columns (Base.metadata)."""
    import doable.activity.models
    import doable.auth.models
    import doable.comments.models
    import doable.feeds.models
    import doable.idempotency.models
    import doable.notify.models
    import doable.ops.models
    import doable.projects.models
    import doable.ratelimit.models
    import doable.relay.models
    import doable.reminders.models
    import doable.tasks.models
    import doable.trash.models
    import doable.webhooks.models  # noqa: F401  (registers the tables)
    from doable.db import Base

    return {
        name: frozenset(column.name for column in table.columns)
        for name, table in Base.metadata.tables.items()
    }


async def missing_schema(engine: AsyncEngine) -> list[str]:
    """What this build needs that the database lacks: `table` for a missing table,
    `table.column` for a missing column; empty when the schema holds everything."""
    dialect = "mysql" if engine.dialect.name in {"mysql", "mariadb"} else engine.dialect.name
    async with engine.connect() as conn:
        rows = (await conn.execute(_COLUMNS[dialect])).all()
    present: dict[str, set[str]] = {}
    for table, column in rows:
        present.setdefault(str(table), set()).add(str(column))
    missing: list[str] = []
    for table, columns in sorted(required_columns().items()):
        if table not in present:
            missing.append(table)
        else:
            missing.extend(f"{table}.{column}" for column in sorted(columns - present[table]))
    return missing


def describe_missing(revision: str | None, missing: list[str]) -> str:
    """One line for the operator: what is missing, why, and where the remedy is."""
    shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
    return (
        f"the database schema lacks {shown}, which this version needs, although it reads as "
        f"revision {revision or 'none'} (a migration changed after it was released); see "
        '"Never edit a landed migration" in docs/architecture.md'
    )


_WINDOW = text("SELECT oldest_compatible FROM schema_window WHERE id = 1")


async def window_of(engine: AsyncEngine) -> str | None:
    """The oldest revision whose release can serve the database's schema, as the release that
    migrated it wrote (doable.migrations.window); None when nothing says."""
    async with engine.connect() as conn:
        try:
            return (await conn.execute(_WINDOW)).scalar_one_or_none()
        except Exception:  # no such table: a schema from before the window existed
            return None


async def servable(engine: AsyncEngine) -> tuple[bool, str]:
    """Whether this build can serve the database's schema, and if not, one line saying why.

    At `HEAD`: when nothing this build needs is missing. Older: no (migrate it). Newer (a
    revision this build does not ship): when the newer release declared this build's `HEAD`
    inside its compatible window, and the schema still holds what this build needs.
    """
    current = await current_revision(engine)
    if current is not None and current not in KNOWN:
        oldest = await window_of(engine)
        if oldest not in KNOWN:
            since = f"from revision {oldest} on" if oldest else "of its own revision only"
            return False, (
                f"the database schema is at revision {current}, newer than this version's "
                f"{HEAD}, and serves releases {since}: run a newer release "
                "(docs/operations.md, rolling upgrades)"
            )
    elif current != HEAD:
        return False, f"database schema at {current or 'nothing'}, expected {HEAD}"
    missing = await missing_schema(engine)
    if missing:
        return False, describe_missing(current, missing)
    return True, "ok"


MIGRATION_LOCK_KEY = 0x646F61626C65  # "doable": PostgreSQL's advisory lock key
MIGRATION_LOCK_WAIT_S = 600
# MariaDB's named locks are server-wide: the name carries the database's (64 characters at
# most), so migrating one database does not make every other database on the server wait.
MARIADB_LOCK_NAME = "LEFT(CONCAT('doable_migrate:', DATABASE()), 64)"


@asynccontextmanager
async def migration_lock(engine: AsyncEngine) -> AsyncIterator[Any]:
    """A connection, in a transaction, holding the database's migration lock: processes that
    start together migrate one after the other, and the later ones find nothing to do.

    PostgreSQL: `pg_advisory_xact_lock`, released with the transaction, so it also works
    through PgBouncer in transaction mode. MariaDB: `GET_LOCK` (its DDL commits as it goes, so
    no transaction could hold a lock), named for the database. SQLite: an exclusive `flock` on
    a file beside the database.
    """
    backend = engine.dialect.name
    if backend == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
            yield conn
    elif backend in {"mysql", "mariadb"}:
        async with engine.connect() as conn:
            got = (
                await conn.execute(
                    text(f"SELECT GET_LOCK({MARIADB_LOCK_NAME}, :wait)"),
                    {"wait": MIGRATION_LOCK_WAIT_S},
                )
            ).scalar()
            await conn.commit()
            if got != 1:
                raise RuntimeError(
                    f"another process held the migration lock for {MIGRATION_LOCK_WAIT_S} s"
                )
            try:
                async with conn.begin():
                    yield conn
            finally:
                await conn.execute(text(f"SELECT RELEASE_LOCK({MARIADB_LOCK_NAME})"))
                await conn.commit()
    else:
        import fcntl

        path = f"{engine.url.database}.migrate-lock"
        with open(path, "a+b") as lock_file:  # noqa: ASYNC230  (opening is not the wait)
            await asyncio.to_thread(fcntl.flock, lock_file.fileno(), fcntl.LOCK_EX)
            try:
                async with engine.begin() as conn:
                    yield conn
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)


async def _run(engine: AsyncEngine, fn: Any, revision: str) -> None:
    from doable.migrations.window import write_window

    def migrate(sync_conn: Connection) -> None:
        fn(alembic_config(sync_conn), revision)
        write_window(sync_conn, _current(sync_conn))

    async with migration_lock(engine) as conn:
        await conn.run_sync(migrate)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> str | None:
    """Upgrade to `revision` under the migration lock and return the revision the database is
    at; at `HEAD` already, nothing is imported or run. A schema newer than this build is left
    as it is (`servable` says whether this build can run on it)."""
    current = await current_revision(engine)
    if revision == "head" and (current == HEAD or (current is not None and current not in KNOWN)):
        return current
    from alembic import command

    await _run(engine, command.upgrade, revision)
    if not gc.isenabled():
        # `doable serve` starts with the collector off and freezes what it finds once the app
        # has started, without looking for garbage (doable.app). A migration from scratch
        # leaves 16,000 garbage objects (2.4 MB): collect them here, where it costs 0.1 s on a
        # start that migrates, not on every start.
        gc.collect()
    return await current_revision(engine)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    from alembic import command

    await _run(engine, command.downgrade, revision)
