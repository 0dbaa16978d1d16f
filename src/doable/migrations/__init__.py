"""Alembic migrations shipped in the package, and helpers to run them on an async engine.

Alembic is imported only to migrate. Serving a database that is already at `HEAD` (every
start but the first after an upgrade) and answering /readyz read the stored revision with one
plain query: importing Alembic and loading the migration scripts was a tenth of a cold start.
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
