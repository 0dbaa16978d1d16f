"""SQL statements per request for the requests the benchmarks drive, beyond tests/test_tasks.py.

tests/test_tasks.py already pins list (first page), get, create and complete. These pin the
rest: a deep page, the tag and status filter, PATCH with If-Match, login, and search, whose
count depends on the backend's search index. A count that grows is an N+1 or a lost index.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import aiosqlite
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from doable.auth.callers import CallerCache
from doable.db import Database
from doable.tasks import search as task_search
from tests.factories import make_account, make_task

TASKS = "/api/v1/tasks"


@contextmanager
def count_statements(database: Database) -> Iterator[list[str]]:
    """The statements sent to the database, without transaction control."""
    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        keyword = statement.lstrip().upper()
        if not keyword.startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", before)


async def test_deep_page_and_filters_use_a_fixed_number_of_queries(
    client: httpx.AsyncClient, database: Database, long_memory: CallerCache
) -> None:
    acct = await make_account(client)
    for i in range(12):
        await make_task(client, acct, tags=["work"] if i % 2 else ["home", "work"])
    first = (await client.get(TASKS, params={"limit": 5}, headers=acct.headers)).json()
    with count_statements(database) as deep:
        r = await client.get(
            TASKS, params={"limit": 5, "cursor": first["next_cursor"]}, headers=acct.headers
        )
    assert r.status_code == 200 and len(r.json()["items"]) == 5
    with count_statements(database) as filtered:
        r = await client.get(
            TASKS, params={"tag": "work", "status": "pending"}, headers=acct.headers
        )
    assert r.status_code == 200 and len(r.json()["items"]) == 12
    # The page (with its tags) alone: the user's row is remembered from the first page's read
    # (doable.auth.callers). The tag filter is a subquery of the page query.
    assert len(deep) == 1, deep
    assert len(filtered) == 1, filtered


async def test_update_with_if_match_and_login(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, tags=["a"])
    with count_statements(database) as update:
        r = await client.patch(
            f"{TASKS}/{task['id']}",
            json={"title": "renamed", "priority": "high"},
            headers={**acct.headers, "If-Match": '"1"'},
        )
    assert (r.status_code, r.headers["etag"]) == (200, '"2"')
    with count_statements(database) as login:
        r = await client.post(
            "/api/v1/auth/login", json={"email": acct.email, "password": acct.password}
        )
    assert r.status_code == 200
    # user (with whether they have webhooks: the outbox looks for subscribers only then),
    # task (locked), its tags, update, the activity log's one insert (activity/recorder.py),
    # and its subtasks' progress for the response
    assert len(update) == 6, update
    assert sum("INSERT INTO activity" in s for s in update) == 1, update
    # user by email; the same user again after the hash, which runs outside any transaction;
    # insert the refresh token. PostgreSQL and MariaDB also count the login limits in the
    # database: an upsert and a read for the IP's counter and the account's.
    assert len(login) == (3 if database.config.backend == "sqlite" else 7), login


async def test_search_statements_per_backend(
    client: httpx.AsyncClient, database: Database, backend: str, long_memory: CallerCache
) -> None:
    acct = await make_account(client)
    await make_task(client, acct, title="Call the plumber")
    await make_task(client, acct, title="Pay the bill")
    # MariaDB asks once per engine whether its trigram index is there (tasks.search).
    await client.get(TASKS, params={"q": "bill"}, headers=acct.headers)
    with count_statements(database) as search:
        r = await client.get(TASKS, params={"q": "PLUMB"}, headers=acct.headers)
    assert [t["title"] for t in r.json()["items"]] == ["Call the plumber"]
    with count_statements(database) as short:
        r = await client.get(TASKS, params={"q": "pa"}, headers=acct.headers)
    assert [t["title"] for t in r.json()["items"]] == ["Pay the bill"]
    # SQLite and MariaDB first ask their trigram index which rows match (texts of 3+
    # characters). The user's row is remembered from the first search (doable.auth.callers).
    # PostgreSQL sets and resets custom plans around the read (db.read_rows): two more.
    plans = 2 if backend == "postgresql" else 0
    indexed = backend == "sqlite" or getattr(database.engine.dialect, "is_mariadb", False)
    assert len(search) == (2 if indexed else 1) + plans, search
    if indexed:
        assert any("tasks_fts" in s or "task_grams" in s for s in search), search
    assert len(short) == 1 + plans, short
    if plans:
        assert [s for s in short if "plan_cache_mode" in s] == [
            "SET plan_cache_mode = force_custom_plan",
            "RESET plan_cache_mode",
        ], short


@pytest.mark.parametrize("limit", [0, task_search.FTS_MAX_CANDIDATES])
async def test_search_results_do_not_depend_on_the_index(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    """With the limit at 0 every search scans (as on MySQL); the answers are the same."""
    if limit == 0:

        async def no_candidates(*args: object) -> None:
            return None

        monkeypatch.setattr(task_search, "candidates", no_candidates)
    acct = await make_account(client)
    titles = ["Ünïcode Straße", "100% done_ish", 'say "hi"', "plain words", "Grüße"]
    for title in titles:
        await make_task(client, acct, title=title, description=title.upper())
    cases = {
        "straße": ["Ünïcode Straße"],
        "100%": ["100% done_ish"],
        "e_i": ["100% done_ish"],
        '"hi"': ['say "hi"'],
        "WORDS": ["plain words"],
        "üße": ["Grüße"],
        "nothing here": [],
    }
    for q, expected in cases.items():
        r = await client.get(TASKS, params={"q": q}, headers=acct.headers)
        assert [t["title"] for t in r.json()["items"]] == expected, q


@contextmanager
def count_sqlite_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Each hand-off to aiosqlite's thread (doable.sqlite_driver makes one per statement)."""
    trips: list[str] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await real(self, fn, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(aiosqlite.Connection, "_execute", counted)
        yield trips


async def test_sqlite_makes_one_trip_to_its_thread_per_statement(
    client: httpx.AsyncClient,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
    long_memory: CallerCache,
) -> None:
    """A statement is one trip (execute, fetch and close together) and a GET's reads run in
    autocommit: a get is user and task; a page right after it is the page alone (its tags ride
    on it, and the user's row is remembered: doable.auth.callers). A write's
    BEGIN travels with its first statement. The stock adapter made ten trips for a get."""
    if backend != "sqlite":
        pytest.skip("aiosqlite is the SQLite driver")
    acct = await make_account(client)
    task = await make_task(client, acct, tags=["a", "b"])
    await make_task(client, acct)
    with count_sqlite_trips(monkeypatch) as get:
        r = await client.get(f"{TASKS}/{task['id']}", headers=acct.headers)
    assert r.status_code == 200 and r.json()["tags"] == ["a", "b"]
    with count_sqlite_trips(monkeypatch) as page:
        r = await client.get(TASKS, headers=acct.headers)
    assert r.status_code == 200 and len(r.json()["items"]) == 2
    with count_sqlite_trips(monkeypatch) as create:
        r = await client.post(TASKS, json={"title": "new", "tags": ["a"]}, headers=acct.headers)
    assert r.status_code == 201
    assert get == ["_run", "_run"], get
    assert page == ["_run"], page  # the user's row is remembered from the get
    assert create.count("commit") == 1 and set(create) == {"_run", "commit"}, create


async def test_postgresql_reads_a_get_without_begin_and_commit(
    client: httpx.AsyncClient, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GET runs its statements in autocommit on PostgreSQL (READ COMMITTED gives each one a
    fresh snapshot either way): two round trips fewer. Writes keep their transaction."""
    if backend != "postgresql":
        pytest.skip("only PostgreSQL reads in autocommit")
    import asyncpg

    sent: list[str] = []
    real = asyncpg.Connection.execute

    async def execute(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(query.strip().rstrip(";").split()[0].upper())
        return await real(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "execute", execute)
    acct = await make_account(client)
    task = await make_task(client, acct)
    sent.clear()
    assert (await client.get(f"{TASKS}/{task['id']}", headers=acct.headers)).status_code == 200
    assert (await client.get(TASKS, headers=acct.headers)).status_code == 200
    assert sent == [], sent
    r = await client.patch(f"{TASKS}/{task['id']}", json={"title": "x"}, headers=acct.headers)
    assert r.status_code == 200
    assert sent == ["BEGIN", "COMMIT"], sent


async def test_sqlite_streaming_reads_run_inside_the_transaction(
    database: Database, backend: str
) -> None:
    """A streaming (server-side) cursor is aiosqlite's own and cannot carry the pending BEGIN,
    so the BEGIN goes first on its own: what is streamed is read inside the transaction."""
    if backend != "sqlite":
        pytest.skip("aiosqlite is the SQLite driver")
    from sqlalchemy import literal, select

    async with database.write_sessions() as session:
        result = await session.stream(select(literal(7)))
        assert [row[0] async for row in result] == [7]
        raw = await (await session.connection()).get_raw_connection()
        assert raw.driver_connection.in_transaction
        await session.rollback()


def _sync_dependencies(app: FastAPI) -> dict[str, set[str]]:
    """The dependencies FastAPI would run in its thread pool, by name, with their routes."""
    found: dict[str, set[str]] = {}

    def walk(dependant: Any, path: str) -> None:
        for sub in dependant.dependencies:
            call = sub.call
            runs_on_loop = (
                inspect.iscoroutinefunction(call)
                or inspect.isasyncgenfunction(call)
                or inspect.iscoroutinefunction(type(call).__call__)  # HTTPBearer and the like
            )
            if call is not None and not runs_on_loop:
                found.setdefault(getattr(call, "__qualname__", repr(call)), set()).add(path)
            walk(sub, path)

    def routes(items: Any) -> Iterator[Any]:
        for route in items:
            if hasattr(route, "dependant"):
                yield route
            for child in (getattr(route, "routes", None), getattr(route, "original_router", None)):
                if child is not None:
                    yield from routes(getattr(child, "routes", child))

    seen = 0
    for route in routes(app.routes):
        seen += 1
        walk(route.dependant, route.path)
    assert seen > 50, "the walk found too few routes to mean anything"
    return found


async def test_no_dependency_hops_to_a_thread(app: FastAPI) -> None:
    """A plain `def` dependency costs every request a trip through the thread pool (and a slot
    of its 40); ours are all `async def`, since none of them blocks."""
    assert _sync_dependencies(app) == {}


async def test_today_and_upcoming_are_one_query_with_progress_and_tags(
    client: httpx.AsyncClient, database: Database, long_memory: CallerCache
) -> None:
    """Besides the user's row: the page, with its tags and subtask counts, in one query."""
    acct = await make_account(client)
    today = date.today()
    for day in range(0, 12, 2):
        parent = await make_task(
            client, acct, tags=["a", "b"], due=(today + timedelta(days=day)).isoformat()
        )
        await make_task(client, acct, parent_id=parent["id"], completed=True)
        await make_task(client, acct, parent_id=parent["id"])
    with count_statements(database) as today_view:
        r = await client.get(TASKS, params={"when": "today"}, headers=acct.headers)
    assert [(t["tags"], t["subtasks"]) for t in r.json()["items"]] == [
        (["a", "b"], {"done": 1, "total": 2})
    ]
    with count_statements(database) as upcoming:
        r = await client.get(TASKS, params={"when": "upcoming", "days": 14}, headers=acct.headers)
    assert [t["subtasks"] for t in r.json()["items"]] == [{"done": 1, "total": 2}] * 5
    assert len(today_view) == 2, today_view  # user, page with tags and progress
    assert len(upcoming) == 1, upcoming  # the user's row is remembered (doable.auth.callers)


def _writes(statements: list[str], table: str) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith(f"UPDATE {table.upper()}")]


async def test_a_move_writes_one_row(client: httpx.AsyncClient, database: Database) -> None:
    """Moving a task, a project or a section among 30 siblings updates its own row only."""
    acct = await make_account(client)
    r = await client.post("/api/v1/projects", json={"name": "P"}, headers=acct.headers)
    project = r.json()
    tasks = [await make_task(client, acct, project_id=project["id"]) for _ in range(30)]
    others = [
        (
            await client.post("/api/v1/projects", json={"name": f"p{i}"}, headers=acct.headers)
        ).json()["id"]
        for i in range(5)
    ]
    sections = [
        (
            await client.post(
                f"/api/v1/projects/{project['id']}/sections",
                json={"name": f"s{i}"},
                headers=acct.headers,
            )
        ).json()["id"]
        for i in range(5)
    ]
    moves = [
        (f"{TASKS}/{tasks[29]['id']}", {"after": tasks[3]["id"]}, "tasks"),
        (f"{TASKS}/{tasks[0]['id']}", {"before": tasks[20]["id"]}, "tasks"),
        (f"{TASKS}/{tasks[5]['id']}", {"at": "first"}, "tasks"),
        (f"/api/v1/projects/{others[4]}", {"after": others[0]}, "projects"),
        (f"/api/v1/sections/{sections[0]}", {"at": "last", "name": "renamed"}, "sections"),
        (f"/api/v1/projects/{others[1]}", {"at": "first", "name": "renamed"}, "projects"),
    ]
    for url, body, table in moves:
        with count_statements(database) as statements:
            r = await client.patch(url, json=body, headers=acct.headers)
        assert r.status_code == 200, r.text
        updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
        assert len(updates) == 1 and _writes(updates, table) == updates, statements


async def test_the_outbox_looks_for_subscribers_only_of_users_with_webhooks(
    client: httpx.AsyncClient, database: Database
) -> None:
    """A task change reads the owner's endpoints only when the owner's row, read first in the
    same transaction, says there are some; then that one statement more, and the rows."""
    acct = await make_account(client)
    task = await make_task(client, acct)
    with count_statements(database) as without:
        r = await client.patch(f"{TASKS}/{task['id']}", json={"title": "a"}, headers=acct.headers)
    assert r.status_code == 200, r.text
    r = await client.post(
        "/api/v1/webhooks",
        json={"url": "https://hooks.example.com/h", "event_types": ["task.updated"]},
        headers=acct.headers,
    )
    assert r.status_code == 201, r.text
    with count_statements(database) as hooked:
        r = await client.patch(f"{TASKS}/{task['id']}", json={"title": "b"}, headers=acct.headers)
    assert r.status_code == 200, r.text

    def endpoint_reads(statements: list[str]) -> int:
        return sum(s.lstrip().startswith("SELECT webhook_endpoints.id") for s in statements)

    assert endpoint_reads(without) == 0, without
    assert endpoint_reads(hooked) == 1, hooked
    # the endpoints, the task as GET returns it (the payload), the delivery row
    assert len(hooked) == len(without) + 3 == 9, hooked


def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _plan_nodes(child)


@pytest.mark.parametrize("where", ["inbox", "section"])
async def test_placing_a_task_reads_one_entry_of_its_list(
    client: httpx.AsyncClient, database: Database, backend: str, where: str
) -> None:
    """An append reads its list's last key from `ix_tasks_siblings_position`, backwards and
    stopping at the first entry, whatever PostgreSQL's statistics say (this machine's CI runs
    it without autovacuum, so they are as stale as after a big import). Before, the plan
    read and aggregated every task of the list: 10 ms per create at 30,000 tasks."""
    if backend == "sqlite":
        pytest.skip("the plans are PostgreSQL's and MariaDB's")
    acct = await make_account(client)
    body: dict[str, Any] = {"title": "first"}
    if where == "section":
        r = await client.post("/api/v1/projects", json={"name": "P"}, headers=acct.headers)
        project = r.json()["id"]
        r = await client.post(
            f"/api/v1/projects/{project}/sections", json={"name": "S"}, headers=acct.headers
        )
        assert r.status_code == 201, r.text
        body = {"title": "first", "project_id": project, "section_id": r.json()["id"]}
    first = await make_task(client, acct, **body)
    async with database.engine.begin() as conn:  # a long list, in one statement
        if backend == "postgresql":
            await conn.exec_driver_sql(
                "INSERT INTO tasks (id, owner_id, title, description, completed, priority,"
                " due_sort, version, created_at, updated_at, project_id, section_id, position,"
                " created_by)"
                " SELECT gen_random_uuid(), owner_id, 'n' || g, '', false, 0, due_sort, 1,"
                " created_at, updated_at, project_id, section_id,"
                " position || lpad(g::text, 5, '0') || '5', owner_id"
                " FROM tasks, generate_series(1, 3000) g WHERE tasks.id = $1",
                (first["id"],),
            )
        else:
            await conn.exec_driver_sql(
                "INSERT INTO tasks (id, owner_id, title, description, completed, priority,"
                " due_sort, version, created_at, updated_at, project_id, section_id, position,"
                " created_by)"
                " SELECT UUID(), owner_id, CONCAT('n', g.seq), '', false, 0, due_sort, 1,"
                " created_at, updated_at, project_id, section_id,"
                " CONCAT(position, LPAD(g.seq, 5, '0'), '5'), owner_id"
                " FROM tasks, seq_1_to_3000 g WHERE tasks.id = %s",
                (first["id"],),
            )
    sent: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        listed = "tasks.position" in statement or "tasks.`position`" in statement
        if "ORDER BY" in statement and "LIMIT" in statement and listed:
            sent.append((statement, parameters))

    event.listen(database.engine.sync_engine, "before_cursor_execute", before)
    try:
        last = await make_task(client, acct, **{**body, "title": "last"})
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", before)
    assert len(sent) == 1, sent
    statement, parameters = sent[0]
    if backend != "postgresql":
        # MariaDB: the index, and no sort (it sorted the whole list when the statement also
        # ordered by the IS NULL columns: 300 ms at 25,000 tasks).
        async with database.engine.connect() as conn:
            rows = (await conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)).mappings()
            steps = [dict(row) for row in rows]
        assert len(steps) == 1 and steps[0]["key"] == "ix_tasks_siblings_position", steps
        assert "filesort" not in str(steps[0]["Extra"]), steps
        r = await client.get("/api/v1/tasks", params={"limit": 200}, headers=acct.headers)
        assert last["id"] in [t["id"] for t in r.json()["items"]]
        return
    async with database.engine.connect() as conn:
        explained = await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
        plan = explained.scalar_one()[0]["Plan"]
    nodes = list(_plan_nodes(plan))
    assert plan["Node Type"] == "Limit", plan
    assert [n["Node Type"] for n in nodes if "Sort" in n["Node Type"]] == [], plan
    scans = [n for n in nodes if n.get("Index Name") == "ix_tasks_siblings_position"]
    assert scans and scans[0]["Scan Direction"] == "Backward", plan
    r = await client.get("/api/v1/tasks", params={"limit": 200}, headers=acct.headers)
    assert last["id"] in [t["id"] for t in r.json()["items"]]
