"""The importer under load: note threads, memory for a big file, and what other users feel.

    uv run python -m benchmarks.importer notes            # 200k note rows: parse time
    uv run python -m benchmarks.importer rss [--mb 20] [--format todoist|json]
        # RSS over idle for a Todoist CSV or a Doable JSON export
    uv run python -m benchmarks.importer lock [--tasks 100000]
        # another user's writes and /healthz while a big import runs (SQLite)
    uv run python -m benchmarks.importer hostile [--mb 10]
        # the same probes (and another user's GET) while a 10 MB file of never-occurring
        # repeat rules is imported (issue 14 item 11)

Each runs in-process against a fresh SQLite database under results/raw/importer (the app over
httpx's ASGI transport), prints its figures and appends them as one JSON line to
results/raw/importer/results.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from benchmarks.common import RAW, SECRET_KEY, git_revision

FOLDER = RAW / "importer"
TODOIST_HEADER = (
    "TYPE,CONTENT,DESCRIPTION,PRIORITY,INDENT,AUTHOR,RESPONSIBLE,DATE,DATE_LANG,TIMEZONE"
)


def todoist_notes(rows: int) -> bytes:
    """One task followed by `rows` short note rows (a long comment thread)."""
    lines = [TODOIST_HEADER, "task,Thread,,4,1,A (1),,,en,UTC"]
    lines += [f"note,comment number {n} on the thread,,,,A (1),,,," for n in range(rows)]
    return ("\r\n".join(lines) + "\r\n").encode()


def todoist_tasks(megabytes: float) -> tuple[bytes, int]:
    """A Todoist CSV of about `megabytes` MB: plain tasks with a label, a description, a date,
    and a section every 100 tasks."""
    lines = [TODOIST_HEADER]
    size, n = 0, 0
    limit = int(megabytes * 1024 * 1024)
    while size < limit:
        if n % 100 == 0:
            lines.append(f"section,Section {n // 100},,,,,,,,")
        line = (
            f"task,Task number {n} with a few words @label{n % 40},"
            f'"A description, with a comma, for task {n}: long enough that twenty megabytes '
            'hold fewer than the hundred thousand tasks one import takes",'
            f"{1 + n % 4},1,A (1),,2027-01-{1 + n % 28:02d},en,Europe/Berlin"
        )
        lines.append(line)
        size += len(line) + 2
        n += 1
    return ("\r\n".join(lines) + "\r\n").encode(), n


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def record(entry: dict[str, Any]) -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    entry = {"revision": git_revision(), "at": time.strftime("%Y-%m-%dT%H:%M:%S"), **entry}
    with open(FOLDER / "results.jsonl", "a") as out:
        out.write(json.dumps(entry) + "\n")
    print(json.dumps(entry, indent=1))


def bench_notes(rows: int, runs: int) -> None:
    from doable.transfer import parse

    def read(body: bytes) -> None:
        """The whole parse: every chunk of a stream (an older build parsed in one call)."""
        opened = getattr(parse, "open_upload", None)
        if opened is None:
            parse.parse_upload(body, "text/csv")  # type: ignore[attr-defined]
            return
        stream = opened(body, "text/csv")
        for _chunk in stream.chunks:
            pass
        stream.check()

    body = todoist_notes(rows)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        try:
            read(body)
        except Exception as exc:  # the old parser refuses the file at the end
            outcome = f"refused: {type(exc).__name__}"
        else:
            outcome = "parsed"
        times.append(time.perf_counter() - start)
    record(
        {
            "bench": "notes",
            "rows": rows,
            "runs": runs,
            "median_s": round(statistics.median(times), 3),
            "times_s": [round(t, 3) for t in times],
            "outcome": outcome,
        }
    )


@asynccontextmanager
async def app_client(name: str) -> AsyncIterator[httpx.AsyncClient]:
    from doable.app import create_app
    from doable.config import RuntimeConfig, Settings, normalize_database_url
    from doable.db import Database
    from doable.migrations import upgrade

    folder = FOLDER / name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("doable.db*"):
        old.unlink()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        DOABLE_DATA_DIR=str(folder),
        SECRET_KEY=SECRET_KEY,
        ARGON2_TIME_COST=1,
        ARGON2_MEMORY_KIB=1024,
        ARGON2_PARALLELISM=1,
        AUTH_IP_RATE_LIMIT="100000/minute",
        AUTH_ACCOUNT_RATE_LIMIT="100000/minute",
        IMPORT_MAX_BYTES=64 * 1024 * 1024,
    )
    config = normalize_database_url(f"sqlite:///{folder / 'doable.db'}", folder)
    database = Database(config)
    await upgrade(database.engine)
    app = create_app(RuntimeConfig(settings, folder, config, SECRET_KEY.encode()), database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as client,
    ):
        yield client
    await database.dispose()


async def signup(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    r = await client.post(
        "/api/v1/auth/signup", json={"email": email, "password": "correct horse battery"}
    )
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def doable_json_tasks(megabytes: float) -> tuple[bytes, int]:
    """A Doable JSON export of about `megabytes` MB, tasks like todoist_tasks' ones."""
    tasks, size, n = [], 0, 0
    while size < int(megabytes * 1024 * 1024):
        task = {
            "title": f"Task number {n} with a few words",
            "description": f"A description, with a comma, for task {n}: long enough that "
            "twenty megabytes hold fewer than the hundred thousand tasks one import takes",
            "priority": ["none", "low", "medium", "high"][n % 4],
            "tags": [f"label{n % 40}"],
            "due": f"2027-01-{1 + n % 28:02d}",
        }
        tasks.append(task)
        size += len(json.dumps(task)) + 2
        n += 1
    return json.dumps({"format": "doable.export", "version": 1, "tasks": tasks}).encode(), n


async def _rss(megabytes: float, fmt: str = "todoist") -> None:
    make = doable_json_tasks if fmt == "json" else todoist_tasks
    kind = {"Content-Type": "application/json" if fmt == "json" else "text/csv"}
    body, tasks = make(megabytes)
    async with app_client("rss") as client:
        headers = await signup(client, "rss@example.com")
        warm, _ = make(0.05)
        r = await client.post("/api/v1/import", content=warm, headers={**headers, **kind})
        r.raise_for_status()
        idle = rss_mb()
        peak = [idle]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], rss_mb())
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        start = time.perf_counter()
        r = await client.post("/api/v1/import", content=body, headers={**headers, **kind})
        took = time.perf_counter() - start
        done.set()
        sampler.join()
        record(
            {
                "bench": "rss",
                "format": fmt,
                "file_mb": round(len(body) / 1024 / 1024, 1),
                "tasks": tasks,
                "status": r.status_code,
                "idle_mb": round(idle, 1),
                "peak_mb": round(peak[0], 1),
                "over_idle_mb": round(peak[0] - idle, 1),
                "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "import_s": round(took, 2),
            }
        )


CSV = {"Content-Type": "text/csv"}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def hostile_doc(megabytes: float) -> tuple[bytes, int]:
    """A Doable JSON file of about `megabytes` MB in which every task repeats by a rule that
    never occurs (issue 14 item 11): before the budget, each cost ~68 ms of searching."""
    never = "FREQ=DAILY;INTERVAL=7;BYMONTH=2;BYMONTHDAY=29;BYDAY=TU"
    task = {"title": "x", "due": "2026-01-05", "recurrence": {"rule": never, "mode": "from_due"}}
    one = len(json.dumps(task)) + 2
    count = int(megabytes * 1024 * 1024 / one)
    doc = {"format": "doable.export", "version": 1, "tasks": [task] * count}
    return json.dumps(doc).encode(), count


async def _under_import(name: str, body: bytes, count: int, content_type: str) -> None:
    """Another user's write and read, and /healthz, probed every 50 ms while one import runs."""
    async with app_client(name) as client:
        big = await signup(client, "big@example.com")
        other = await signup(client, "other@example.com")
        await client.post("/api/v1/tasks", json={"title": "one"}, headers=other)
        writes: list[float] = []
        reads: list[float] = []
        health: list[float] = []
        statuses: dict[int, int] = {}
        running = True

        async def probe(call: Callable[[], Any], into: list[float]) -> None:
            while running:
                start = time.perf_counter()
                r = await call()
                into.append(time.perf_counter() - start)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                await asyncio.sleep(0.05)

        def write() -> Any:
            return client.post("/api/v1/tasks", json={"title": "small write"}, headers=other)

        def read() -> Any:
            return client.get("/api/v1/tasks", headers=other)

        def healthz() -> Any:
            return client.get("/healthz")

        probes = [
            asyncio.create_task(probe(write, writes)),
            asyncio.create_task(probe(read, reads)),
            asyncio.create_task(probe(healthz, health)),
        ]
        await asyncio.sleep(0.5)
        start = time.perf_counter()
        headers = {**big, "Content-Type": content_type}
        r = await client.post("/api/v1/import", content=body, headers=headers)
        took = time.perf_counter() - start
        running = False
        await asyncio.gather(*probes)
        record(
            {
                "bench": name,
                "tasks": count,
                "bytes": len(body),
                "import_status": r.status_code,
                "import_s": round(took, 2),
                "other_write_max_ms": round(max(writes) * 1000, 1),
                "other_write_p99_ms": round(percentile(writes, 99) * 1000, 1),
                "other_write_median_ms": round(statistics.median(writes) * 1000, 1),
                "other_get_p99_ms": round(percentile(reads, 99) * 1000, 1),
                "other_get_median_ms": round(statistics.median(reads) * 1000, 1),
                "healthz_p99_ms": round(percentile(health, 99) * 1000, 1),
                "healthz_max_ms": round(max(health) * 1000, 1),
                "probe_statuses": statuses,
            }
        )


async def _lock(tasks: int) -> None:
    body, count = todoist_tasks(tasks / 10_000 * 1.35)
    await _under_import("lock", body, count, "text/csv")


async def _hostile(megabytes: float) -> None:
    body, count = hostile_doc(megabytes)
    await _under_import("hostile", body, count, "application/json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.importer")
    sub = parser.add_subparsers(dest="bench", required=True)
    notes = sub.add_parser("notes")
    notes.add_argument("--rows", type=int, default=200_000)
    notes.add_argument("--runs", type=int, default=5)
    rss = sub.add_parser("rss")
    rss.add_argument("--mb", type=float, default=20)
    rss.add_argument("--format", choices=["todoist", "json"], default="todoist")
    lock = sub.add_parser("lock")
    lock.add_argument("--tasks", type=int, default=100_000)
    hostile = sub.add_parser("hostile")
    hostile.add_argument("--mb", type=float, default=10)
    args = parser.parse_args(argv)
    if args.bench == "notes":
        bench_notes(args.rows, args.runs)
    elif args.bench == "rss":
        asyncio.run(_rss(args.mb, args.format))
    elif args.bench == "hostile":
        asyncio.run(_hostile(args.mb))
    else:
        asyncio.run(_lock(args.tasks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
