"""What turning asyncpg's statement cache off costs (DATABASE_STATEMENT_CACHE=false), directly
on PostgreSQL and through PgBouncer in transaction mode, where it must be off.

Three `doable serve` processes in turn on one PostgreSQL database: the cache on (the default),
the cache off, and the cache off behind Debian's PgBouncer (tests/pgbouncer.py). Each serves
one account with 50 tasks to one client, which sends, in rounds, a list of 50 tasks, a read of
one task, and a create; the figures are each request's latency as the client sees it (median
and 90th percentile, in milliseconds) and the rounds' throughput.

    uv run python -m benchmarks.statement_cache [--rounds 300]

Writes benchmarks/results/statement-cache.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from tests.pgbouncer import PgBouncer
from tests.server import Server, server_env

from benchmarks.common import DEFAULT_URLS, RESULTS, URL_ENV

PASSWORD = "correct horse battery staple"


def _measure(base_url: str, rounds: int) -> dict[str, object]:
    timings: dict[str, list[float]] = {"list 50": [], "get one": [], "create": []}
    with httpx.Client(base_url=base_url, timeout=30) as c:
        email = f"bench-{time.time_ns()}@example.com"
        r = c.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        ids = [
            c.post("/api/v1/tasks", json={"title": f"task {n}"}, headers=auth).json()["id"]
            for n in range(50)
        ]
        for _ in range(20):  # warm up: connections, caches
            c.get("/api/v1/tasks", params={"limit": 50}, headers=auth)
        started = time.perf_counter()
        for n in range(rounds):
            for name, send in (
                ("list 50", lambda: c.get("/api/v1/tasks", params={"limit": 50}, headers=auth)),
                ("get one", lambda n=n: c.get(f"/api/v1/tasks/{ids[n % 50]}", headers=auth)),
                ("create", lambda: c.post("/api/v1/tasks", json={"title": "x"}, headers=auth)),
            ):
                t0 = time.perf_counter()
                response = send()
                timings[name].append((time.perf_counter() - t0) * 1000)
                assert response.status_code in (200, 201), response.text
        elapsed = time.perf_counter() - started
    result: dict[str, object] = {"requests_per_s": round(3 * rounds / elapsed, 1)}
    for name, values in timings.items():
        values.sort()
        result[name] = {
            "median_ms": round(statistics.median(values), 2),
            "p90_ms": round(values[int(len(values) * 0.9)], 2),
        }
    return result


def _serve(url: str, settings: dict[str, str], rounds: int, name: str) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix=f"doable-bench-{name}-"))
    home = folder / "home"
    home.mkdir()
    env = server_env(folder / "data", home, DATABASE_URL=url, **settings)
    server = Server(env, logs_dir=folder, name=name, cwd=home).start()
    try:
        server.wait_ready(180)
        return _measure(server.base_url, rounds)
    finally:
        server.stop()


async def _statements(
    urls: dict[str, tuple[str, bool]], batches: int, per_batch: int
) -> dict[str, float]:
    """Per-statement cost of a page read (50 rows) in each setup, in microseconds: batches run
    in turn, setup after setup, and each setup's fastest batch counts, so the load of a shared
    machine, which comes and goes, weighs the same on all of them."""
    from sqlalchemy import text

    from doable.config import normalize_database_url, without_statement_cache
    from doable.db import Database

    query = text(
        "SELECT id, title, description, due_at, priority, completed_at, created_at, updated_at "
        "FROM tasks WHERE owner_id = :owner ORDER BY created_at DESC LIMIT 50"
    )
    databases = {}
    for name, (url, cache) in urls.items():
        config = normalize_database_url(url, Path("."))
        databases[name] = Database(config if cache else without_statement_cache(config))
    best = {name: float("inf") for name in databases}
    try:
        owner = None
        async with databases[next(iter(databases))].engine.connect() as conn:
            owner = (await conn.execute(text("SELECT id FROM users LIMIT 1"))).scalar()
        for _ in range(batches):
            for name, db in databases.items():
                async with db.engine.connect() as conn:
                    await conn.execute(query, {"owner": owner})
                    t0 = time.perf_counter()
                    for _ in range(per_batch):
                        (await conn.execute(query, {"owner": owner})).all()
                    best[name] = min(best[name], (time.perf_counter() - t0) / per_batch)
                    await conn.rollback()
    finally:
        for db in databases.values():
            await db.dispose()
    return {name: round(seconds * 1e6, 1) for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--batches", type=int, default=15)
    parser.add_argument("--statements-only", action="store_true")
    args = parser.parse_args()
    url = os.environ.get(URL_ENV["postgresql"], DEFAULT_URLS["postgresql"])
    results: dict[str, object] = {
        "rounds": args.rounds,
        "load_average_at_start": os.getloadavg()[0],
    }
    if not args.statements_only:
        results["cache on, direct"] = _serve(url, {}, args.rounds, "cache-on")
        results["cache off, direct"] = _serve(
            url, {"DATABASE_STATEMENT_CACHE": "false"}, args.rounds, "cache-off"
        )
    with PgBouncer(url, pool_size=5) as bouncer:
        if not args.statements_only:
            results["cache off, PgBouncer (transaction mode)"] = _serve(
                bouncer.url, {"DATABASE_STATEMENT_CACHE": "false"}, args.rounds, "pgbouncer"
            )
        results["statement_microseconds"] = asyncio.run(
            _statements(
                {
                    "cache on, direct": (url, True),
                    "cache off, direct": (url, False),
                    "cache off, PgBouncer (transaction mode)": (bouncer.url, False),
                },
                batches=args.batches,
                per_batch=200,
            )
        )
    results["load_average_at_end"] = os.getloadavg()[0]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / (
        "statement-cache-statements.json" if args.statements_only else "statement-cache.json"
    )
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
