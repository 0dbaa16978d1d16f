"""The migrations build the same schema as the models on every backend, and run both ways."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi import FastAPI
from sqlalchemy import inspect, text

import doable.migrations
from doable.app import create_app
from doable.config import normalize_database_url
from doable.db import Base, Database
from doable.migrations import (
    HEAD,
    current_revision,
    downgrade,
    head_revision,
    migration_lock,
    missing_schema,
    required_columns,
    upgrade,
)
from doable.tasks import search
from tests.conftest import BACKEND_ENV, drop_everything, make_client, runtime_for
from tests.factories import assert_problem, make_account, make_task
from tests.server import run_serve, server_env
from tests.test_query_counts import count_statements
from tests.test_web_sidebar import NOW, TODAY, add, counts, sidebar, signed_in_pair

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
    # Migration 0026's table, on MariaDB only (not on MySQL: see _expected_search_objects).
    "mysql": {"task_grams"},
}


def _expected_search_objects(database: Database) -> set[str]:
    if getattr(database.engine.dialect, "is_mariadb", True):
        return SEARCH_OBJECTS[database.config.backend]
    return set()


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
    *("calendar_feeds", "reminders", "notifications", "projects", "sections"),
    *("rate_limit_hits", "schema_window"),
    *("event_relay", "stream_leases"),
    *("webhook_endpoints", "webhook_deliveries"),
    *("project_members", "project_invitations"),
    *("comments", "project_mutes"),
    *("activity", "trash"),
    *("app_secrets", "push_subscriptions", "notification_channels"),
    *("task_views",),
}


async def _alembic_current(database: Database) -> str | None:
    async with database.engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def test_upgrade_matches_models_and_round_trips(database: Database) -> None:
    assert await current_revision(database.engine) == head_revision() == HEAD == "0026"
    assert await _diff(database) == []
    assert await _tables(database) == {*TABLES, "alembic_version"}
    assert await _search_objects(database) == _expected_search_objects(database)

    await downgrade(database.engine, "base")
    assert await _tables(database) <= {"alembic_version"}
    assert await current_revision(database.engine) is None

    await upgrade(database.engine)
    assert await _tables(database) == {*TABLES, "alembic_version"}
    assert await _search_objects(database) == _expected_search_objects(database)
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
    assert {r[0] for r in rows} == TABLES | _expected_search_objects(database)


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


# A database that reads as HEAD but lacks what this build needs (a migration edited after it
# landed): `doable serve` refuses it with one line, and /readyz says 503.

DAMAGES = {
    # Built while 0006 had another parent: the revision says HEAD, the later tables are absent.
    "tables": (
        f"UPDATE alembic_version SET version_num = '{HEAD}'",
        "activity, app_secrets, calendar_feeds, comments, event_relay, external_identities, "
        "notification_channels, notifications and 25 more",
    ),
    "column": ("ALTER TABLE api_tokens DROP COLUMN last_used_at", "api_tokens.last_used_at"),
}


@pytest.mark.slow
@pytest.mark.parametrize("damage", list(DAMAGES))
async def test_serve_refuses_a_schema_at_head_that_lacks_tables_or_columns(
    database: Database, tmp_path: Path, damage: str
) -> None:
    backend = database.config.backend
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'damaged.db'}"
    else:
        url = os.environ[BACKEND_ENV["postgresql" if backend == "postgresql" else "mariadb"]]
    target = Database(normalize_database_url(url, tmp_path))
    statement, missing = DAMAGES[damage]
    try:
        await upgrade(target.engine)
        if damage == "tables":
            await downgrade(target.engine, "0005")
        async with target.engine.begin() as conn:
            await conn.execute(text(statement))
        assert await current_revision(target.engine) == HEAD
        line = (
            f"error: the database schema lacks {missing}, which this version needs, although "
            f"it reads as revision {HEAD} (a migration changed after it was released); see "
            '"Never edit a landed migration" in docs/architecture.md'
        )

        home = tmp_path / "home"
        home.mkdir()
        (tmp_path / "data").mkdir()
        env = server_env(tmp_path / "data", home, DATABASE_URL=url)
        result = run_serve(env, cwd=home, timeout=30)
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stderr.strip().splitlines()[-1] == line
        assert [x for x in result.stderr.splitlines() if x.startswith("error:")] == [line]
        assert "Traceback" not in result.stderr + result.stdout

        data_dir = tmp_path / "app-data"
        data_dir.mkdir()
        async with make_client(create_app(runtime_for(target, data_dir), target)) as client:
            r = await client.get("/readyz")
        assert assert_problem(r, 503)["detail"] == line.removeprefix("error: ")
    finally:
        await target.dispose()
        if backend != "sqlite":  # rebuild the session's database as the other tests expect
            await drop_everything(database.engine)
            await upgrade(database.engine)
            assert await missing_schema(database.engine) == []


async def test_a_schema_at_head_holds_everything_the_models_need(database: Database) -> None:
    """The check itself on the real schema: nothing missing, and it knows every table."""
    assert await missing_schema(database.engine) == []
    assert set(required_columns()) == TABLES
    assert required_columns()["api_tokens"] >= {"id", "user_id", "last_used_at"}


# Never edit a landed migration (docs/architecture.md): each file in versions/ is pinned by its
# SHA-256. A new migration lands with its line added (`sha256sum` in versions/).
LANDED = Path(__file__).parent / "data" / "landed_migrations.sha256"


def test_landed_migrations_are_unchanged() -> None:
    versions = Path(doable.migrations.__file__).parent / "versions"
    pinned = dict(
        reversed(line.split(maxsplit=1)) for line in LANDED.read_text().splitlines() if line
    )
    actual = {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(versions.glob("[0-9]*_*.py"))
    }
    changed = sorted(name for name in pinned if actual.get(name) != pinned[name])
    assert changed == [], (
        f"landed migrations changed or removed: {changed}; never edit a landed migration, "
        "add a new one (docs/architecture.md)"
    )
    unpinned = sorted(set(actual) - set(pinned))
    assert unpinned == [], f"pin the new migrations in {LANDED.name}: {unpinned}"
    assert max(actual).partition("_")[0] == HEAD


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


async def test_0010_runs_on_a_populated_database(
    client: httpx.AsyncClient, database: Database
) -> None:
    """0010 gives every existing user an Inbox and moves every task into it, in creation
    order, with distinct positions; tags, due dates and completion are untouched."""
    accounts = [await make_account(client) for _ in range(2)]
    titles: dict[str, list[str]] = {}
    for n, acct in enumerate(accounts):
        titles[acct.email] = []
        for i in range(4):
            title = f"user {n} task {i}"
            await make_task(client, acct, title=title, tags=[f"t{i}"], completed=i == 2)
            titles[acct.email].append(title)
    await downgrade(database.engine, "0009")
    async with database.engine.connect() as conn:
        columns = {
            c["name"] for c in await conn.run_sync(lambda c: inspect(c).get_columns("tasks"))
        }
    assert "project_id" not in columns
    await upgrade(database.engine)
    assert await _diff(database) == []
    async with database.engine.connect() as conn:
        inboxes = (
            await conn.execute(
                text("SELECT owner_id, id, name FROM projects WHERE inbox_owner_id = owner_id")
            )
        ).all()
        assert len(inboxes) == 2 and {row[2] for row in inboxes} == {"Inbox"}
        per_owner = (await conn.execute(text("SELECT count(*) FROM projects"))).scalar()
        assert per_owner == 2
    for acct in accounts:
        r = await client.get(
            "/api/v1/tasks", params={"sort": "created", "order": "asc"}, headers=acct.headers
        )
        items = r.json()["items"]
        assert [t["title"] for t in items] == titles[acct.email]
        assert [t["tags"] for t in items] == [[f"t{i}"] for i in range(4)]
        assert [t["completed"] for t in items] == [False, False, True, False]
        assert len({t["project_id"] for t in items}) == 1 and items[0]["project_id"]
        keys = [t["position"] for t in items]
        assert keys == sorted(keys) and len(set(keys)) == 4
        # A task added after the migration goes last in the Inbox.
        new = await make_task(client, acct, title="after 0010")
        assert new["project_id"] == items[0]["project_id"] and new["position"] > keys[-1]


async def test_0013_runs_on_a_populated_database(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Adding `calendar_feeds.project_id` keeps every feed publishing every project (NULL)."""
    acct = await make_account(client)
    await make_task(client, acct, title="before 0013", due="2031-01-02")
    r = await client.post("/api/v1/feeds", json={"name": "All"}, headers=acct.headers)
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    await downgrade(database.engine, "0012")
    await upgrade(database.engine)
    assert await _diff(database) == []
    listed = await client.get("/api/v1/feeds", headers=acct.headers)
    assert [(f["name"], f["project_id"]) for f in listed.json()] == [("All", None)]
    feed = await client.get(url)
    assert feed.status_code == 200 and "SUMMARY:before 0013" in feed.text


async def test_0014_runs_on_a_populated_database(
    client: httpx.AsyncClient, database: Database
) -> None:
    """The webhook tables arrive beside existing data, and leave without touching it."""
    acct = await make_account(client)
    await make_task(client, acct, title="before 0014")
    await downgrade(database.engine, "0013")
    assert "webhook_endpoints" not in await _tables(database)
    await upgrade(database.engine)
    r = await client.get("/api/v1/tasks", headers=acct.headers)
    assert [t["title"] for t in r.json()["items"]] == ["before 0014"]
    hook = {"url": "https://example.com/h", "event_types": ["task.created"]}
    r = await client.post("/api/v1/webhooks", json=hook, headers=acct.headers)
    assert r.status_code == 201, r.text
    await make_task(client, acct, title="after 0014")
    r = await client.get(f"/api/v1/webhooks/{r.json()['id']}/deliveries", headers=acct.headers)
    assert [d["payload"]["data"]["title"] for d in r.json()["items"]] == ["after 0014"]
    assert await _diff(database) == []


async def test_0016_runs_on_a_populated_database(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Existing accounts become enabled non-admins, and keep signing in, both ways."""
    acct = await make_account(client)
    await make_task(client, acct, title="before 0016")
    await downgrade(database.engine, "0015")
    async with database.engine.connect() as conn:
        columns = {
            c["name"] for c in await conn.run_sync(lambda c: inspect(c).get_columns("users"))
        }
    assert {"is_admin", "disabled_at"} & columns == set()
    await upgrade(database.engine)
    assert await _diff(database) == []
    async with database.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT is_admin, disabled_at FROM users"))).all()
    assert [(bool(r[0]), r[1]) for r in rows] == [(False, None)]
    r = await client.post(
        "/api/v1/auth/login", json={"email": acct.email, "password": acct.password}
    )
    assert r.status_code == 200, r.text
    r = await client.get("/api/v1/tasks", headers=acct.headers)
    assert [t["title"] for t in r.json()["items"]] == ["before 0016"]


async def test_0015_to_head_run_on_a_populated_database(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Sharing, admins, invitations, comments, activity and trash, push and preferences
    (0015-0021) go down and come back over a populated database, which keeps its rows; the
    shared project, the comment, the trashed task and the remembered sort then work as new."""
    owner, member = await make_account(client), await make_account(client)
    r = await client.post("/api/v1/projects", json={"name": "Home"}, headers=owner.headers)
    project = r.json()
    await make_task(client, owner, title="kept", project_id=project["id"])
    await downgrade(database.engine, "0014")
    assert "project_members" not in await _tables(database)
    await upgrade(database.engine)
    assert await _diff(database) == []
    r = await client.get("/api/v1/tasks", headers=owner.headers)
    assert [t["title"] for t in r.json()["items"]] == ["kept"]
    task_id = r.json()["items"][0]["id"]
    invite = {"email": member.email, "role": "editor"}
    r = await client.post(
        f"/api/v1/projects/{project['id']}/invitations", json=invite, headers=owner.headers
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/api/v1/invitations/accept", json={"token": r.json()["token"]}, headers=member.headers
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/api/v1/tasks/{task_id}/comments", json={"body": "after"}, headers=member.headers
    )
    assert r.status_code == 201, r.text
    assert (
        await client.delete(f"/api/v1/tasks/{task_id}", headers=member.headers)
    ).status_code == 204
    r = await client.get("/api/v1/trash", headers=owner.headers)
    assert [i["title"] for i in r.json()["items"]] == ["kept"]


TASK_VIEW_TRIGGERS = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'task_views%'",
    "postgresql": "SELECT DISTINCT trigger_name FROM information_schema.triggers "
    "WHERE trigger_name LIKE 'task_views%'",
    "mariadb": "SELECT trigger_name FROM information_schema.triggers "
    "WHERE trigger_schema = DATABASE() AND trigger_name LIKE 'task_views%'",
}
EXPECTED_TRIGGERS = {
    "sqlite": {
        *("task_views_task_insert", "task_views_task_move", "task_views_task_keys"),
        *("task_views_task_delete", "task_views_member_insert", "task_views_member_delete"),
        "task_views_member_update",
    },
    "postgresql": {"task_views_task", "task_views_member"},
    "mariadb": {
        *("task_views_task_insert", "task_views_task_update", "task_views_member_insert"),
        *("task_views_member_delete", "task_views_member_update"),
    },
}


async def _triggers(database: Database) -> set[str]:
    async with database.engine.connect() as conn:
        rows = await conn.execute(text(TASK_VIEW_TRIGGERS[_kind(database)]))
        return {str(name) for (name,) in rows.all()}


async def test_0022_indexes_the_memberships_it_finds(
    client: httpx.AsyncClient, database: Database
) -> None:
    """task_views (0022) comes up over existing memberships: the member's list across their
    projects (read through it) holds the shared task, and its triggers are all in place (a
    later migration that rebuilt `tasks` would drop them silently)."""
    owner, member = await make_account(client), await make_account(client)
    r = await client.post("/api/v1/projects", json={"name": "Home"}, headers=owner.headers)
    project = r.json()
    await make_task(client, owner, title="shared before 0022", project_id=project["id"])
    invite = {"email": member.email, "role": "viewer"}
    r = await client.post(
        f"/api/v1/projects/{project['id']}/invitations", json=invite, headers=owner.headers
    )
    r = await client.post(
        "/api/v1/invitations/accept", json={"token": r.json()["token"]}, headers=member.headers
    )
    assert r.status_code == 200, r.text
    assert await _triggers(database) == EXPECTED_TRIGGERS[_kind(database)]
    await downgrade(database.engine, "0021")
    assert "task_views" not in await _tables(database)
    assert await _triggers(database) == set()
    await upgrade(database.engine)
    assert await _triggers(database) == EXPECTED_TRIGGERS[_kind(database)]
    r = await client.get("/api/v1/tasks", headers=member.headers)
    assert [t["title"] for t in r.json()["items"]] == ["shared before 0022"]
    await make_task(client, owner, title="shared after", project_id=project["id"])
    r = await client.get("/api/v1/tasks", headers=member.headers)
    assert [t["title"] for t in r.json()["items"]] == ["shared after", "shared before 0022"]


def _kind(database: Database) -> str:
    backend = database.config.backend
    return backend if backend in ("sqlite", "postgresql") else "mariadb"


async def test_the_mariadb_migration_lock_is_the_databases_own(database: Database) -> None:
    """Named locks on MariaDB are server-wide: a lock named for this database, not one name
    that made migrations of every other database on the server wait (seen: a 33-minute
    backfill in one database held up the test databases of another)."""
    if database.config.backend != "mysql":
        pytest.skip("PostgreSQL's advisory locks and SQLite's lock file are per database")
    async with migration_lock(database.engine), database.engine.connect() as other:
        ours = (
            await other.execute(text("SELECT IS_USED_LOCK(CONCAT('doable_migrate:', DATABASE()))"))
        ).scalar()
        shared = (await other.execute(text("SELECT IS_USED_LOCK('doable_migrate')"))).scalar()
    assert ours is not None and shared is None


async def _task_indexes(database: Database) -> set[str]:
    async with database.engine.connect() as conn:
        found = await conn.run_sync(lambda c: inspect(c).get_indexes("tasks"))
    return {i["name"] for i in found if i["name"]}


async def test_0024_runs_on_a_populated_database(
    client: httpx.AsyncClient, database: Database
) -> None:
    """The siblings' index comes and goes over existing lists (the Inbox, a section, a
    parent's subtasks), which keep their order; appends still go last, and the triggers of
    0022 are still in place."""
    acct = await make_account(client)
    r = await client.post("/api/v1/projects", json={"name": "P"}, headers=acct.headers)
    project = r.json()["id"]
    r = await client.post(
        f"/api/v1/projects/{project}/sections", json={"name": "S"}, headers=acct.headers
    )
    section = r.json()["id"]
    parent = await make_task(client, acct, title="inbox 1")
    await make_task(client, acct, title="inbox 2")
    await make_task(client, acct, title="sub 1", parent_id=parent["id"])
    await make_task(client, acct, title="section 1", project_id=project, section_id=section)
    assert "ix_tasks_siblings_position" in await _task_indexes(database)
    await downgrade(database.engine, "0023")
    assert "ix_tasks_siblings_position" not in await _task_indexes(database)
    await upgrade(database.engine)
    assert "ix_tasks_siblings_position" in await _task_indexes(database)
    assert await _diff(database) == []
    assert await _triggers(database) == EXPECTED_TRIGGERS[_kind(database)]
    await make_task(client, acct, title="inbox 3")
    await make_task(client, acct, title="sub 2", parent_id=parent["id"])
    await make_task(client, acct, title="section 2", project_id=project, section_id=section)

    async def titles(**params: str) -> list[str]:
        r = await client.get(
            "/api/v1/tasks", params={"sort": "position", **params}, headers=acct.headers
        )
        assert r.status_code == 200, r.text
        return [t["title"] for t in r.json()["items"]]

    assert await titles(section_id=section) == ["section 1", "section 2"]
    assert await titles(parent_id=parent["id"]) == ["sub 1", "sub 2"]


async def test_0025_runs_on_a_populated_database(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    """The sidebar's covering index replaces (owner_id, completed) over existing tasks, both
    ways, and the sidebar counts the same on either index."""
    app.state.doable.clock = lambda: NOW
    web, acct = await signed_in_pair(client)
    r = await client.post("/api/v1/projects", json={"name": "Home"}, headers=acct.headers)
    home = r.json()["id"]
    await add(client, acct, due=TODAY - timedelta(days=1), tags=["work"])
    await add(client, acct, due=TODAY, project_id=home)
    await add(client, acct, due=TODAY + timedelta(days=1), project_id=home)
    done = await add(client, acct)
    r = await client.post(f"/api/v1/tasks/{done}/complete", headers=acct.headers)
    assert r.status_code == 200, r.text

    async def shown() -> dict[str, Any]:
        page = await web.get("/tasks")
        assert page.status_code == 200, page.text
        return sidebar(page.text)

    expected = await shown()
    assert expected["counts"] == counts(open_=3, today=2, overdue=1, done=1)
    assert expected["projects"][home] == "2"
    assert {"ix_tasks_owner_counts"} <= await _task_indexes(database)
    assert "ix_tasks_owner_completed" not in await _task_indexes(database)
    await downgrade(database.engine, "0024")
    found = await _task_indexes(database)
    assert "ix_tasks_owner_completed" in found and "ix_tasks_owner_counts" not in found
    assert await shown() == expected
    await upgrade(database.engine)
    found = await _task_indexes(database)
    assert "ix_tasks_owner_counts" in found and "ix_tasks_owner_completed" not in found
    assert await _diff(database) == []
    assert await _triggers(database) == EXPECTED_TRIGGERS[_kind(database)]
    assert await shown() == expected
    await add(client, acct, due=TODAY, project_id=home)
    after = await shown()
    assert after["counts"] == counts(open_=4, today=3, overdue=1, done=1)
    assert after["projects"][home] == "3"


async def test_0026_runs_on_a_populated_database(
    client: httpx.AsyncClient, database: Database
) -> None:
    """MariaDB's task_grams comes up over existing tasks (the backfill), both ways; a search
    answers the same without it (scanning) and with it (through the index); the triggers are
    in place for tasks written after. Elsewhere the migration does nothing."""
    acct = await make_account(client)
    await make_task(client, acct, title="Backfilled narwhal", description="old text")
    await make_task(client, acct, title="Other", description="a NARWHAL in the description")
    await make_task(client, acct, title="Unrelated")

    async def found(q: str) -> list[str]:
        r = await client.get("/api/v1/tasks", params={"q": q}, headers=acct.headers)
        assert r.status_code == 200, r.text
        return sorted(t["title"] for t in r.json()["items"])

    mariadb = bool(getattr(database.engine.dialect, "is_mariadb", False))
    expected = ["Backfilled narwhal", "Other"]
    assert await found("narwhal") == expected
    await downgrade(database.engine, "0025")
    left = SEARCH_OBJECTS[database.config.backend] - {"task_grams"}
    assert await _search_objects(database) == left
    search._grams_ready_by_engine.clear()  # asked once per engine: this one just lost it
    assert await found("narwhal") == expected
    await upgrade(database.engine)
    search._grams_ready_by_engine.clear()
    assert await _search_objects(database) == _expected_search_objects(database)
    assert await _diff(database) == []
    assert await _triggers(database) == EXPECTED_TRIGGERS[_kind(database)]
    with count_statements(database) as statements:
        assert await found("narwhal") == expected
    assert any("task_grams" in s for s in statements) == mariadb, statements
    if mariadb:
        async with database.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT trigger_name FROM information_schema.triggers "
                    "WHERE trigger_schema = DATABASE() AND trigger_name LIKE 'task_grams%'"
                )
            )
            assert {name for (name,) in rows.all()} == {"task_grams_insert", "task_grams_update"}
    await make_task(client, acct, title="New narwhal")
    assert await found("narwhal") == ["Backfilled narwhal", "New narwhal", "Other"]
