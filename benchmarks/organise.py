"""Issue 15's speed goals, measured in-process over HTTP (ASGI) on SQLite (PostgreSQL with
--postgres URL): listing a project from 1k to 1M tasks per user, and a reorder's rows written
and latency.

    uv run python -m benchmarks.organise                      # 1k and 1M tasks, SQLite
    uv run python -m benchmarks.organise --sizes 1000,100000 --requests 100

For each size a fresh database is migrated, one user signs up through the API (so the Inbox
is made as for anyone), makes 10 projects, and then holds `size` tasks written in bulk: half
in the measured project (in position order), the rest spread over the others. The reads are
the project's first page, a page 10 pages deep (by cursor) and one section-less list; the
writes move a task after a random neighbour among the project's first 200. Statements and
rows written per move are counted by an engine listener. Results print as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, text

from doable import positions
from doable.app import create_app
from doable.config import RuntimeConfig, Settings, normalize_database_url
from doable.db import Database
from doable.migrations import upgrade

SECRET = b"benchmark-secret-key-that-is-long-enough-0123456789"
TASKS = "/api/v1/tasks"


def _settings(data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,
        DOABLE_DATA_DIR=str(data_dir),
        SECRET_KEY=SECRET.decode(),
        ARGON2_TIME_COST=1,
        ARGON2_MEMORY_KIB=1024,
        ARGON2_PARALLELISM=1,
        AUTH_IP_RATE_LIMIT="100000/minute",
        AUTH_ACCOUNT_RATE_LIMIT="100000/minute",
        SCHEDULER_ENABLED=False,
    )


def _dt(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}.{value.microsecond:06d}"


def _seed_sqlite(path: Path, owner: str, projects: list[str], size: int) -> None:
    """`size` tasks: half in projects[0], the rest round-robin over the others."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    # Search is not measured here: its triggers would triple the seeding time.
    for name in ("tasks_fts_insert", "tasks_fts_delete", "tasks_fts_update"):
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    conn.execute("BEGIN")
    start = datetime(2025, 1, 1)
    main = size // 2
    per_other = (size - main) // (len(projects) - 1) + 1
    keys = {p: positions.spread(main if i == 0 else per_other) for i, p in enumerate(projects)}
    owner_hex = uuid.UUID(owner).hex
    rows: list[tuple[Any, ...]] = []
    for i in range(size):
        project = projects[0] if i < main else projects[1 + i % (len(projects) - 1)]
        created = _dt(start + timedelta(seconds=i))
        rows.append(
            (
                uuid.uuid4().hex,
                owner_hex,
                f"task {i}",
                "",
                0,
                None,
                0,
                None,
                None,
                "9999-12-31 00:00:00.000000",
                1,
                created,
                created,
                uuid.UUID(project).hex,
                next(keys[project]),
            )
        )
        if len(rows) == 20_000:
            _insert(conn, rows)
            rows = []
    _insert(conn, rows)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def _insert(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    conn.executemany(
        "INSERT INTO tasks (id, owner_id, title, description, completed, completed_at, priority,"
        " due_date, due_at, due_sort, version, created_at, updated_at, project_id, position)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


async def _timed(client: httpx.AsyncClient, n: int, **request: Any) -> dict[str, float]:
    samples, cpu = [], []
    for i in range(n + 10):  # the first 10 warm the caches and are not counted
        t0, c0 = time.perf_counter(), time.process_time()
        r = await client.request(**request)
        if i >= 10:
            samples.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        assert r.status_code == 200, r.text
    # CPU time (this process: app and SQLite) moves far less than wall time when other
    # processes share the machine.
    return {"p50_ms": _p(samples, 0.5), "p95_ms": _p(samples, 0.95), "cpu_p50_ms": _p(cpu, 0.5)}


async def run_size(size: int, requests: int, postgres: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        url = postgres or f"sqlite:///{data / 'bench.db'}"
        config = normalize_database_url(url, data)
        database = Database(config)
        if postgres:
            async with database.engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        await upgrade(database.engine)
        app = create_app(RuntimeConfig(_settings(data), data, config, SECRET), database)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            r = await client.post(
                "/api/v1/auth/signup",
                json={"email": f"bench-{size}@example.com", "password": "a benchmark phrase"},
            )
            auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
            owner = r.json()["user"]["id"]
            projects = [
                (
                    await client.post("/api/v1/projects", json={"name": f"P{i}"}, headers=auth)
                ).json()["id"]
                for i in range(10)
            ]
            t0 = time.perf_counter()
            if postgres:
                await _seed_postgres(database, owner, projects, size)
            else:
                await database.dispose()
                _seed_sqlite(data / "bench.db", owner, projects, size)
            seeded = round(time.perf_counter() - t0, 1)
            listing = {"params": {"project_id": projects[0], "limit": 50}, "headers": auth}
            first = await _timed(client, requests, method="GET", url=TASKS, **listing)
            cursor = None
            for _ in range(10):
                page = (
                    await client.get(
                        TASKS,
                        params={**listing["params"], **({"cursor": cursor} if cursor else {})},
                        headers=auth,
                    )
                ).json()
                cursor = page["next_cursor"]
            deep = await _timed(
                client,
                requests,
                method="GET",
                url=TASKS,
                params={**listing["params"], "cursor": cursor},
                headers=auth,
            )
            top = await _timed(
                client,
                requests,
                method="GET",
                url=TASKS,
                params={**listing["params"], "section_id": "none", "parent_id": "none"},
                headers=auth,
            )
            ids = [
                t["id"]
                for t in (
                    await client.get(
                        TASKS, params={"project_id": projects[0], "limit": 200}, headers=auth
                    )
                ).json()["items"]
            ]
            moves = await _moves(client, database, auth, ids, requests)
            plan = None if postgres else await _sqlite_plan(client, database, listing)
        await database.dispose()
    return {
        "tasks": size,
        "seed_s": seeded,
        "project_first_page": first,
        "project_page_10_deep": deep,
        "project_top_level": top,
        "move": moves,
        "page_plan": plan,
    }


async def _sqlite_plan(
    client: httpx.AsyncClient, database: Database, listing: dict[str, Any]
) -> list[str]:
    """SQLite's plan for the project page's query: an index walk in page order (no sort step)
    is what keeps it flat."""
    seen: list[tuple[str, Any]] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "ORDER BY tasks.position" in statement:
            seen.append((statement, parameters))

    event.listen(database.engine.sync_engine, "before_cursor_execute", before)
    try:
        await client.get(TASKS, **listing)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", before)
    statement, parameters = seen[0]
    async with database.engine.connect() as conn:
        rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return [str(row[-1]) for row in rows]


async def _moves(
    client: httpx.AsyncClient, database: Database, auth: dict[str, str], ids: list[str], n: int
) -> dict[str, Any]:
    rng = random.Random(15)
    written: list[int] = []
    updates: list[int] = []
    samples: list[float] = []

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            updates[-1] += 1
            written[-1] += max(cursor.rowcount, 0)

    event.listen(database.engine.sync_engine, "after_cursor_execute", after)
    try:
        for _ in range(n):
            task, neighbour = rng.sample(ids, 2)
            written.append(0)
            updates.append(0)
            t0 = time.perf_counter()
            r = await client.patch(f"{TASKS}/{task}", json={"after": neighbour}, headers=auth)
            samples.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
    finally:
        event.remove(database.engine.sync_engine, "after_cursor_execute", after)
    return {
        "p50_ms": _p(samples, 0.5),
        "p95_ms": _p(samples, 0.95),
        "rows_written_max": max(written),
        "rows_written_mean": round(statistics.mean(written), 3),
        "update_statements_max": max(updates),
    }


async def _seed_postgres(database: Database, owner: str, projects: list[str], size: int) -> None:
    """The same rows as `_seed_sqlite`, by INSERT … SELECT generate_series (one statement per
    project)."""
    main = size // 2
    others = projects[1:]
    per_other = (size - main) // len(others) + 1
    async with database.engine.begin() as conn:
        for project, count in [(projects[0], main)] + [(p, per_other) for p in others]:
            keys = list(positions.spread(count))
            await conn.execute(
                text(
                    "INSERT INTO tasks (id, owner_id, title, description, completed, priority,"
                    " due_sort, version, created_at, updated_at, project_id, position)"
                    " SELECT gen_random_uuid(), :owner, 'task ' || k.n, '', false, 0,"
                    " '9999-12-31', 1, now() + k.n * interval '1 second',"
                    " now() + k.n * interval '1 second', :project, k.key"
                    " FROM unnest(CAST(:keys AS text[])) WITH ORDINALITY AS k(key, n)"
                ),
                {"owner": uuid.UUID(owner), "project": uuid.UUID(project), "keys": keys},
            )
        await conn.execute(text("ANALYZE tasks"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--postgres", help="a PostgreSQL URL whose database this may wipe")
    args = parser.parse_args()
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        result = asyncio.run(run_size(size, args.requests, args.postgres))
        print(json.dumps(result), flush=True)
        results.append(result)
    if len(results) > 1:
        small, large = results[0], results[-1]
        first = "project_first_page"
        ratio = large[first]["p50_ms"] / small[first]["p50_ms"]
        cpu_ratio = large[first]["cpu_p50_ms"] / small[first]["cpu_p50_ms"]
        print(
            json.dumps(
                {
                    "backend": "postgresql" if args.postgres else "sqlite",
                    "first_page_p50_ratio": round(ratio, 2),
                    "first_page_cpu_p50_ratio": round(cpu_ratio, 2),
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            )
        )


if __name__ == "__main__":
    main()
