"""How long an event takes to cross from one `doable serve` process to another's stream.

`python -m benchmarks.event_crossing [--changes 60] [--backend sqlite,postgresql]
[--redis-url redis://127.0.0.1:6379/0] [--output PATH]`

For each configuration, starts two real server processes A and B on one database (SQLite: one
file in a shared data folder, as with `doable serve --workers N`; PostgreSQL: BENCH_POSTGRES_URL,
default postgresql://postgres@127.0.0.1:5432/doable_bench, whose tables it leaves in place), opens
an event stream on B, then creates tasks through A one at a time, 100 ms apart. The crossing
latency of a change is from just before A is sent the POST to the moment B's stream delivers
the task's `task` event; the POST's own round trip is reported beside it. With `--redis-url`,
each backend also runs with REDIS_URL set. Prints a table of medians and writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

DOABLE = Path(sys.executable).parent / "doable"
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/doable_bench")
PASSWORD = "correct horse battery"
READY_TIMEOUT = 90.0
EVENT_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(DOABLE), "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"doable serve exited: see {log}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"doable serve not ready after {READY_TIMEOUT:g} s: see {log}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def read_stream(base: str, token: str, arrivals: queue.Queue[tuple[str, float]]) -> None:
    """Put (task id, arrival time) for each `task` event of B's stream."""
    headers = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(base_url=base, timeout=httpx.Timeout(5, read=None)) as c,
        c.stream("GET", "/api/v1/events", headers=headers) as r,
    ):
        event = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                if event == "ready":
                    arrivals.put(("ready", time.monotonic()))
                elif event == "task" and data.get("action") == "created":
                    arrivals.put((data["id"], time.monotonic()))


def measure(name: str, env: dict[str, str], changes: int, logs: Path) -> dict[str, Any]:
    a, base_a = start(env, logs / f"{name}-a.log")
    try:
        b, base_b = start(env, logs / f"{name}-b.log")
        try:
            with httpx.Client(base_url=base_a, timeout=10) as c:
                email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
                r = c.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
                r.raise_for_status()
                token = r.json()["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                arrivals: queue.Queue[tuple[str, float]] = queue.Queue()
                reader = threading.Thread(
                    target=read_stream, args=(base_b, token, arrivals), daemon=True
                )
                reader.start()
                assert arrivals.get(timeout=EVENT_TIMEOUT)[0] == "ready"
                crossing: list[float] = []
                posts: list[float] = []
                lost = 0
                for n in range(changes):
                    sent = time.monotonic()
                    r = c.post("/api/v1/tasks", json={"title": f"change {n}"}, headers=headers)
                    answered = time.monotonic()
                    r.raise_for_status()
                    task_id = r.json()["id"]
                    posts.append(answered - sent)
                    try:
                        while True:
                            got, at = arrivals.get(timeout=EVENT_TIMEOUT)
                            if got == task_id:
                                crossing.append(at - sent)
                                break
                    except queue.Empty:
                        lost += 1
                    time.sleep(0.1)
        finally:
            stop(b)
    finally:
        stop(a)
    ms = sorted(x * 1000 for x in crossing)
    return {
        "configuration": name,
        "changes": changes,
        "delivered": len(crossing),
        "lost": lost,
        "crossing_median_ms": round(statistics.median(ms), 1),
        "crossing_p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1),
        "crossing_max_ms": round(ms[-1], 1),
        "post_median_ms": round(statistics.median(posts) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=60)
    parser.add_argument("--backend", default="sqlite,postgresql")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="doable-crossing-") as tmp:
        root = Path(tmp)
        for backend in args.backend.split(","):
            variants = [("", {})]
            if args.redis_url:
                variants.append(("+redis", {"REDIS_URL": args.redis_url}))
            for suffix, extra in variants:
                name = backend + suffix
                data = root / name / "data"
                data.mkdir(parents=True)
                env = {
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "HOME": str(root),
                    "LANG": "C.UTF-8",
                    "DOABLE_DATA_DIR": str(data),
                    "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
                    "AUTH_IP_RATE_LIMIT": "1000000/minute",
                    "AUTH_ACCOUNT_RATE_LIMIT": "1000000/minute",
                    "ARGON2_TIME_COST": "1",
                    "ARGON2_MEMORY_KIB": "1024",
                    "ARGON2_PARALLELISM": "1",
                    **extra,
                }
                if backend == "postgresql":
                    env["DATABASE_URL"] = POSTGRES
                elif backend != "sqlite":
                    raise SystemExit(f"unknown backend {backend!r}")
                result = measure(name, env, args.changes, root)
                results.append(result)
                print(
                    f"{name:<18} crossing median {result['crossing_median_ms']:>7} ms, "
                    f"p95 {result['crossing_p95_ms']:>7} ms, max {result['crossing_max_ms']:>7}"
                    f" ms; POST median {result['post_median_ms']} ms; "
                    f"{result['delivered']}/{result['changes']} delivered",
                    flush=True,
                )
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
