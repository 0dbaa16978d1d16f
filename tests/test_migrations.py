"""The migrations build the same schema as the models on every backend, and run both ways."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from doable.db import Base, Database
from doable.migrations import HEAD, current_revision, downgrade, head_revision, upgrade
from tests.factories import make_account, make_task

# Search indexes that migration 0003 builds by hand, per backend, outside the models.
SEARCH_OBJECTS = {
    "sqlite": {
        "tasks_fts",
        "tasks_fts_config",
        "tasks_fts_data",
        "tasks_fts_docsize",
        "tasks_fts_idx",
    },
    "postgresql": {"ix_tasks_title_trgm", "ix_tasks_description_trgm"},
    "mysql": set(),
}


def _is_search_object(name: str | None) -> bool:
    return bool(name) and any(name in names for names in SEARCH_OBJECTS.values())


async def _diff(database: Database) -> list[Any]:
    def include_name(name: str | None, type_: str, parent: Any) -> bool:
        return not _is_search_object(name)

    def compare(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(
            sync_conn, opts={"compare_type": True, "include_name": include_name}
        )
        return list(compare_metadata(context, Base.metadata))

    async with database.engine.connect() as conn:
        return await conn.run_sync(compare)


async def _tables(database: Database) -> set[str]:
    async with database.engine.connect() as conn:
        names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    return {n for n in names if not _is_search_object(n)}


async def _search_objects(database: Database) -> set[str]:
    def find(sync_conn: Any) -> set[str]:
        found = set(inspect(sync_conn).get_table_names())
        found |= {i["name"] for i in inspect(sync_conn).get_indexes("tasks") if i["name"]}
        return found & SEARCH_OBJECTS[database.config.backend]

    async with database.engine.connect() as conn:
        return await conn.run_sync(find)


# Every table the migrations build, by name: a new table must be added here on purpose.
TABLES = {
    *("users", "refresh_tokens", "web_sessions", "tasks", "tags", "task_tags"),
    *("api_tokens", "idempotency_keys", "task_completions", "external_identities"),
    *("calendar_feeds", "reminders", "notifications"),
}


async def _alembic_current(database: Database) -> str | None:
    async with database.engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def test_upgrade_matches_models_and_round_trips(database: Database) -> None:
    assert await current_revision(database.engine) == head_revision() == HEAD == "0009"
    assert await _diff(database) == []
    assert await _tables(database) == {*TABLES, "alembic_version"}
    assert await _search_objects(database) == SEARCH_OBJECTS[database.config.backend]

    await downgrade(database.engine, "base")
    assert await _tables(database) <= {"alembic_version"}
    assert await current_revision(database.engine) is None

    await upgrade(database.engine)
    assert await _tables(database) == {*TABLES, "alembic_version"}
    assert await _search_objects(database) == SEARCH_OBJECTS[database.config.backend]
    assert await _diff(database) == []


async def test_mysql_tables_are_utf8mb4(database: Database) -> None:
    if database.config.backend != "mysql":
        pytest.skip("MySQL/MariaDB only")
    async with database.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT table_name, table_collation FROM information_schema.tables "
                    "WHERE table_schema = DATABASE() AND table_name <> 'alembic_version'"
                )
            )
        ).all()
    assert {r[1] for r in rows} == {"utf8mb4_unicode_ci"}
    assert {r[0] for r in rows} == TABLES


async def test_revision_read_without_alembic_agrees_with_alembic(database: Database) -> None:
    """`current_revision` (what `doable serve` and /readyz read, without importing Alembic)
    answers what Alembic answers: at head, part of the way, and with no schema at all; and
    `upgrade` from part of the way still runs the rest."""
    assert await current_revision(database.engine) == await _alembic_current(database) == HEAD
    await upgrade(database.engine)  # at head: a no-op
    assert await current_revision(database.engine) == HEAD
    await downgrade(database.engine, "0004")
    assert await current_revision(database.engine) == await _alembic_current(database) == "0004"
    await upgrade(database.engine)
    assert await current_revision(database.engine) == await _alembic_current(database) == HEAD
    assert await _diff(database) == []
    await downgrade(database.engine, "base")
    assert await current_revision(database.engine) is None
    assert await _alembic_current(database) is None
    await upgrade(database.engine)
    assert await current_revision(database.engine) == HEAD


async def test_0009_runs_on_a_populated_database(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Adding `tasks.import_batch_id` keeps every existing task visible (NULL), both ways."""
    acct = await make_account(client)
    await make_task(client, acct, title="before 0009")
    await downgrade(database.engine, "0008")
    await upgrade(database.engine)
    r = await client.get("/api/v1/tasks", headers=acct.headers)
    assert [t["title"] for t in r.json()["items"]] == ["before 0009"]
    assert await _diff(database) == []
