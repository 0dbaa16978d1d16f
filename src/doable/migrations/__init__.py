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
HEAD = max(path.name.partition("_")[0] for path in (HERE / "versions").glob("[0-9]*_*.py"))
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
    import doable.auth.models
    import doable.feeds.models
    import doable.idempotency.models
    import doable.reminders.models
    import doable.tasks.models
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


async def _run(engine: AsyncEngine, fn: Any, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync_conn: fn(alembic_config(sync_conn), revision))


async def upgrade(engine: AsyncEngine, revision: str = "head") -> str | None:
    """Upgrade to `revision` and return the revision the database is at; at `HEAD` already,
    nothing is imported or run."""
    if revision == "head" and await current_revision(engine) == HEAD:
        return HEAD
    from alembic import command

    await _run(engine, command.upgrade, revision)
    return await current_revision(engine)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    from alembic import command

    await _run(engine, command.downgrade, revision)
