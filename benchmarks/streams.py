"""What 1,000 idle event streams cost one `doable serve` process (issue 19, target 6).

    uv run python -m benchmarks.streams                          # this tree, SQLite
    uv run python -m benchmarks.streams --src /tmp/old/src --label before

Starts a real server (one worker, pinned to SERVER_CPU, SQLite in a fresh folder), signs up
enough users for `--streams` streams at the per-account cap, and gives a `load` user 1,000
tasks. Then, in one run:

1. wrk (pinned to LOAD_CPU) drives `list 50` and `create` with no stream open, `--repeats`
   times each, and RSS is read from /proc once the server is idle again;
2. `--streams` event streams (`GET /api/v1/events`) are opened from a raw asyncio client on
   LOAD_CPU and left idle for `--settle` seconds (past a poll, a ping and a lease renewal),
   and RSS is read again: the difference is the streams' cost;
3. the same wrk runs, with the streams open; and one task change after another is timed from
   its POST to its `task` event on one of the open streams;
4. the streams are closed, and the runs without streams are done once more, so that a drift
   in the machine's load shows.

The server's CPU time is read around each idle period, so the cost of idle streams' timers
shows too. `--src` serves another source tree (e.g. `git archive <commit> src | tar -x -C
/tmp/old`) with this environment's packages. Prints and writes JSON (`--out`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import LOAD_CPU, PASSWORD, RAW, RESULTS, SECRET_KEY
from benchmarks.load import Requests, wrk
from benchmarks.servers import Process

API = "/api/v1"
STREAMS_PER_USER = 5  # doable.reminders.stream.MAX_STREAMS_PER_USER


def serve(data: Path, src: Path | None) -> Process:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "DATABASE_URL": f"sqlite:///{data / 'doable.db'}",
        "SECRET_KEY": SECRET_KEY,
        "DOABLE_DATA_DIR": str(data),
        "AUTH_IP_RATE_LIMIT": "1000000/minute",
        "AUTH_ACCOUNT_RATE_LIMIT": "1000000/minute",
        # Hundreds of signups: cheap hashes (login is not what is measured here).
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
        "ARGON2_PARALLELISM": "1",
        # A stream ends when its access token expires; the run outlasts the 15-minute default.
        "ACCESS_TOKEN_MINUTES": "120",
    }
    if src is not None:  # ahead of the editable install's path
        env["PYTHONPATH"] = str(src)
    command = [sys.executable, "-m", "doable", "serve", "--workers", "1"]
    return Process("streams", command, env, RAW / "streams")  # logs kept


def signup(client: httpx.Client, email: str) -> str:
    r = client.post(f"{API}/auth/signup", json={"email": email, "password": PASSWORD})
    r.raise_for_status()
    token: str = r.json()["access_token"]
    return token


def seed(base_url: str, users: int) -> tuple[str, list[str]]:
    """The load user (1,000 tasks) and `users` stream users; their tokens."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        load = signup(client, "load@streams.example")
        rows = ["title"] + [f"Task {n}" for n in range(1000)]
        r = client.post(
            f"{API}/import",
            content="\r\n".join(rows).encode(),
            headers={"Authorization": f"Bearer {load}", "Content-Type": "text/csv"},
        )
        r.raise_for_status()
        tokens = [signup(client, f"stream{u}@streams.example") for u in range(users)]
    return load, tokens


class Stream:
    """One open event stream over a raw socket; notes when each `task` event arrives."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.arrivals: dict[str, float] = {}
        self.events = 0
        self.pings = 0
        self.writer: asyncio.StreamWriter | None = None
        self.reader_task: asyncio.Task[None] | None = None
        self.ended = False

    async def open(self, host: str, port: int) -> None:
        reader, self.writer = await asyncio.open_connection(host, port)
        self.writer.write(
            (
                f"GET {API}/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n"
            ).encode()
        )
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"stream refused: {status!r} {(await reader.read(3000))[-400:]!r}")
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        # The body is chunked; SSE lines are read as they come, chunk sizes skipped.
        while True:
            line = await reader.readline()
            if line.startswith(b"event: ready"):
                break
            if not line:
                raise RuntimeError("stream ended before `ready`")
        self.reader_task = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        event = b""
        while line := await reader.readline():
            if line.startswith(b": ping"):
                self.pings += 1
            elif line.startswith(b"event: "):
                event = line[7:].strip()
            elif line.startswith(b"data: ") and event == b"task":
                self.events += 1
                data = json.loads(line[6:])
                self.arrivals[data["id"]] = time.monotonic()
        self.ended = True

    def close(self) -> None:
        if self.reader_task is not None:
            self.reader_task.cancel()
        if self.writer is not None:
            self.writer.close()


async def open_streams(
    base_url: str, tokens: list[str], count: int, concurrency: int
) -> list[Stream]:
    url = httpx.URL(base_url)
    streams = [Stream(tokens[n // STREAMS_PER_USER]) for n in range(count)]
    gate = asyncio.Semaphore(concurrency)

    async def one(s: Stream) -> None:
        async with gate:
            await s.open(url.host, url.port or 80)

    await asyncio.gather(*(one(s) for s in streams))
    return streams


async def event_latency(base_url: str, streams: list[Stream], changes: int) -> dict[str, Any]:
    """POST a task as one stream user after another; time each to its event on the stream."""
    latencies: list[float] = []
    lost = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for n in range(changes):
            s = streams[(n * 97) % len(streams)]
            sent = time.monotonic()
            r = await client.post(
                f"{API}/tasks",
                json={"title": f"change {n}"},
                headers={"Authorization": f"Bearer {s.token}"},
            )
            r.raise_for_status()
            task_id = r.json()["id"]
            deadline = sent + 10
            while task_id not in s.arrivals and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            if task_id in s.arrivals:
                latencies.append((s.arrivals[task_id] - sent) * 1000)
            else:
                lost += 1
            await asyncio.sleep(0.1)
    return {
        "changes": changes,
        "lost": lost,
        "event_median_ms": round(statistics.median(latencies), 1) if latencies else None,
        "event_max_ms": round(max(latencies), 1) if latencies else None,
    }


def load_runs(
    server: Process, load: str, folder: Path, duration: int, repeats: int, connections: int
) -> dict[str, Any]:
    """p50/p99 and req/s of `list 50` and `create`, median of `repeats` wrk runs each."""
    workloads = {
        "list": Requests("list", [("GET", f"{API}/tasks?limit=50", "-", "-")], load),
        "create": Requests(
            "create", [("POST", f"{API}/tasks", "-", json.dumps({"title": "load"}))], load
        ),
    }
    out: dict[str, Any] = {}
    for name, requests in workloads.items():
        runs = [
            wrk(
                server.base_url,
                requests,
                folder=folder,
                duration=duration,
                connections=connections,
            )
            for _ in range(repeats)
        ]
        errors = sum(r["errors"] for r in runs)
        out[name] = {
            "rps": round(statistics.median(r["rps"] for r in runs), 1),
            "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 2),
            "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 2),
            "p99_runs_ms": [round(r["p99_ms"], 2) for r in runs],
            "errors": errors,
        }
    return out


def idle(server: Process, seconds: float) -> dict[str, float]:
    """Wait `seconds`; the server's RSS after, and the CPU it used meanwhile (% of a core)."""
    cpu = server.cpu_seconds()
    time.sleep(seconds)
    rss, peak = server.rss_mb()
    return {
        "rss_mb": round(rss, 1),
        "peak_rss_mb": round(peak, 1),
        "idle_cpu_pct": round(100 * (server.cpu_seconds() - cpu) / seconds, 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    # 1,000 client sockets here and as many in the server (which inherits this limit).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * args.streams + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    users = -(-args.streams // STREAMS_PER_USER)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="streams-") as tmp:
        data = Path(tmp)
        with serve(data, args.src) as server:
            result: dict[str, Any] = {
                "label": args.label,
                "streams": args.streams,
                "users": users,
                "uptime_before": uptime,
                "rss_mb_started": round(server.rss_mb()[0], 1),
            }
            load, tokens = seed(server.base_url, users)
            folder = data / "wrk"
            # Warm every path once, so the first measured run is not the one that imports.
            load_runs(server, load, folder, 2, 1, args.connections)
            without = load_runs(server, load, folder, args.duration, args.repeats, args.connections)
            result["idle_without"] = idle(server, args.settle)
            loop = asyncio.new_event_loop()
            os.sched_setaffinity(0, {int(LOAD_CPU)})
            try:
                started = time.monotonic()
                streams = loop.run_until_complete(
                    open_streams(server.base_url, tokens, args.streams, args.open_concurrency)
                )
                result["open_seconds"] = round(time.monotonic() - started, 1)

                # The streams stay idle while the client's loop is parked; the kernel buffers
                # the odd ping. Run the loop in the background from here on.
                import threading

                thread = threading.Thread(target=loop.run_forever, daemon=True)
                thread.start()
                result["idle_with"] = idle(server, args.settle)
                with_ = load_runs(
                    server, load, folder, args.duration, args.repeats, args.connections
                )
                result["events"] = asyncio.run_coroutine_threadsafe(
                    event_latency(server.base_url, streams, args.changes), loop
                ).result()
                result["streams_ended_early"] = sum(s.ended for s in streams)
                result["pings_seen"] = sum(s.pings for s in streams)
                result["rss_mb_after_load_with"] = round(server.rss_mb()[0], 1)
                for s in streams:
                    loop.call_soon_threadsafe(s.close)
                time.sleep(2)
                loop.call_soon_threadsafe(loop.stop)
                thread.join(5)
            finally:
                os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
            result["idle_closed"] = idle(server, args.settle)
            again = load_runs(server, load, folder, args.duration, args.repeats, args.connections)
    result["uptime_after"] = subprocess.run(
        ["uptime"], capture_output=True, text=True
    ).stdout.strip()
    result["load"] = {"without": without, "with_streams": with_, "without_again": again}
    result["mb_per_1000_streams"] = round(
        (result["idle_with"]["rss_mb"] - result["idle_without"]["rss_mb"]) * 1000 / args.streams,
        1,
    )
    result["p99_ratio"] = {
        name: round(with_[name]["p99_ms"] / without[name]["p99_ms"], 2) for name in without
    }
    result["p99_ratio_vs_after"] = {
        name: round(with_[name]["p99_ms"] / again[name]["p99_ms"], 2) for name in again
    }
    result["rps_ratio"] = {
        name: round(with_[name]["rps"] / without[name]["rps"], 2) for name in without
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--settle", type=float, default=20.0, help="idle seconds before RSS")
    parser.add_argument("--changes", type=int, default=30, help="events timed to a stream")
    parser.add_argument("--open-concurrency", type=int, default=32, help="streams opening at once")
    parser.add_argument("--src", type=Path, default=None, help="serve this source tree")
    parser.add_argument("--label", default="current")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    out = args.out or RESULTS / "experiments" / f"streams-{args.label}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
