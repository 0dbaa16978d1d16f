"""What counting the login limits outside memory costs on SQLite (issue 17): a login whose two
hits (per IP, per account) go to this process's memory, to the counter file beside the database
(`SqliteFileCounter`, what SQLite uses so that `--workers N` share the limits), or to the
database's own `rate_limit_hits` table (`DatabaseCounter`, what PostgreSQL and MariaDB use).

    uv run python -m benchmarks.login_counter [--logins 300] [--hits 2000]

In one process, on one fresh SQLite database, over in-process HTTP (ASGI) with cheap argon2
(time cost 1, 1 MiB: the hash would otherwise hide the counter): a successful login
(`POST /api/v1/auth/login`, which also writes a refresh token) timed for each counter in turn,
round after round, so a shared machine's load weighs the same on all three. Then the same while
four clients keep creating tasks, so the database's one write lock is busy; and each counter's
hit alone. Figures are medians and 90th percentiles in milliseconds (hits in microseconds).
Writes benchmarks/results/login-counter.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import limits

from benchmarks.common import RESULTS
from doable.app import create_app
from doable.config import RuntimeConfig, Settings, normalize_database_url
from doable.db import Database
from doable.migrations import upgrade
from doable.ratelimit.counters import (
    Counter,
    DatabaseCounter,
    MemoryCounter,
    SqliteFileCounter,
    sqlite_counter_path,
)
from doable.ratelimit.limiter import AuthRateLimiter

SECRET = "benchmark-secret-key-that-is-long-enough-0123456789"
PASSWORD = "a benchmark phrase"
LIMIT = "1000000/minute"  # never reached: the cost of counting is what is measured
WRITERS = 4


def _settings(data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,
        DOABLE_DATA_DIR=str(data_dir),
        SECRET_KEY=SECRET,
        ARGON2_TIME_COST=1,
        ARGON2_MEMORY_KIB=1024,
        ARGON2_PARALLELISM=1,
        AUTH_IP_RATE_LIMIT=LIMIT,
        AUTH_ACCOUNT_RATE_LIMIT=LIMIT,
        SCHEDULER_ENABLED=False,
        WEBHOOK_WORKER_ENABLED=False,
    )


def _summary(samples: list[float], scale: float = 1000) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median": round(statistics.median(ordered) * scale, 3),
        "p90": round(ordered[int(len(ordered) * 0.9)] * scale, 3),
    }


async def _logins(
    client: httpx.AsyncClient,
    app: Any,
    counters: dict[str, Counter],
    logins: int,
    email: str,
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in counters}
    limiters = {name: AuthRateLimiter(LIMIT, LIMIT, c) for name, c in counters.items()}
    for n in range(logins + 10):  # the first 10 rounds warm up and are not counted
        for name, limiter in limiters.items():
            app.state.doable.rate_limiter = limiter
            t0 = time.perf_counter()
            r = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
            elapsed = time.perf_counter() - t0
            assert r.status_code == 200, r.text
            if n >= 10:
                samples[name].append(elapsed)
    return samples


async def _writer(client: httpx.AsyncClient, auth: dict[str, str], stop: asyncio.Event) -> int:
    made = 0
    while not stop.is_set():
        r = await client.post("/api/v1/tasks", json={"title": "busy"}, headers=auth)
        assert r.status_code == 201, r.text
        made += 1
    return made


async def _hits(counters: dict[str, Counter], hits: int) -> dict[str, list[float]]:
    item = limits.parse(LIMIT)
    samples: dict[str, list[float]] = {name: [] for name in counters}
    for n in range(hits):
        for name, counter in counters.items():
            t0 = time.perf_counter()
            await counter.hit(item, f"account:{n % 50}@example.com")
            samples[name].append(time.perf_counter() - t0)
    return samples


async def run(logins: int, hits: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        config = normalize_database_url(f"sqlite:///{data / 'doable.db'}", data)
        database = Database(config)
        await upgrade(database.engine)
        app = create_app(RuntimeConfig(_settings(data), data, config, SECRET.encode()), database)
        counters: dict[str, Counter] = {
            "memory": MemoryCounter(),
            "counter file beside the database": SqliteFileCounter(sqlite_counter_path(config)),
            "the database's rate_limit_hits table": DatabaseCounter(database),
        }
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            email = "bench-login@example.com"
            r = await client.post(
                "/api/v1/auth/signup", json={"email": email, "password": PASSWORD}
            )
            auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
            quiet = await _logins(client, app, counters, logins, email)
            stop = asyncio.Event()
            writers = [asyncio.create_task(_writer(client, auth, stop)) for _ in range(WRITERS)]
            busy = await _logins(client, app, counters, logins // 2, email)
            stop.set()
            made = sum(await asyncio.gather(*writers))
        alone = await _hits(counters, hits)
        await database.dispose()
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "logins_per_counter": logins,
        "login_ms": {name: _summary(values) for name, values in quiet.items()},
        f"login_ms_with_{WRITERS}_task_writers": {
            name: _summary(values) for name, values in busy.items()
        },
        "tasks_written_meanwhile": made,
        "hit_us": {name: _summary(values, 1e6) for name, values in alone.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=300)
    parser.add_argument("--hits", type=int, default=2000)
    args = parser.parse_args()
    start_load = os.getloadavg()[0]
    result = asyncio.run(run(args.logins, args.hits))
    result = {
        "load_average_at_start": start_load,
        **result,
        "load_average_at_end": os.getloadavg()[0],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "login-counter.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
