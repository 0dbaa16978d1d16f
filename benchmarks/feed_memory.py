"""RSS of one `doable serve` process under a feed-heavy workload (issue 14, item 6).

Several users each hold many dated tasks with long descriptions and subscribe to two feeds
(VTODO and VEVENT); every feed is fetched a few rounds in a row, as calendar apps poll. The
render cache keeps rendered components between fetches, so its bound decides how far RSS grows.

    uv run python -m benchmarks.feed_memory                   # this tree
    uv run python -m benchmarks.feed_memory --src /tmp/old/src --label before

`--src` serves another source tree (e.g. `git archive <commit> src | tar -x -C /tmp/old`)
with this environment's packages, so a before and an after run see the same data and load.
Prints and writes (`--out`) JSON: RSS after start, after seeding and after each round, peak
RSS, and the median fetch time per round.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import PASSWORD, RESULTS, SECRET_KEY
from benchmarks.servers import Process


def serve(data: Path, src: Path | None, extra: dict[str, str]) -> Process:
    import os
    import sys

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "DATABASE_URL": f"sqlite:///{data / 'doable.db'}",
        "SECRET_KEY": SECRET_KEY,
        "DOABLE_DATA_DIR": str(data),
        "AUTH_IP_RATE_LIMIT": "1000000/minute",
        "AUTH_ACCOUNT_RATE_LIMIT": "1000000/minute",
        "SCHEDULER_ENABLED": "false",
        "IMPORT_MAX_BYTES": str(256 * 1024 * 1024),
        **extra,
    }
    if src is not None:  # ahead of the editable install's path
        env["PYTHONPATH"] = str(src)
    command = [sys.executable, "-m", "doable", "serve", "--workers", "1"]
    return Process("feed-memory", command, env, data / "logs")


def seed(base_url: str, users: int, tasks: int, description: int) -> list[str]:
    """The users, their tasks and two feeds each; returns the feed paths."""
    paths: list[str] = []
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for u in range(users):
            r = client.post(
                "/api/v1/auth/signup",
                json={"email": f"feeds{u}@example.com", "password": PASSWORD},
            )
            r.raise_for_status()
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

            # Imports of 250 tasks (CSV: title, description, due) seed in seconds, and each
            # is small enough that the import's own memory does not hide the feeds'.
            for first in range(0, tasks, 250):
                rows = ["title,description,due"]
                for n in range(first, min(first + 250, tasks)):
                    text = (f"{u}-{n} " + "lorem ipsum dolor sit amet " * 400)[:description]
                    due = f"2030-{1 + n // 28 % 12:02}-{1 + n % 28:02}"
                    rows.append(f"Task {u}-{n},{text},{due}")  # distinct, like real text
                r = client.post(
                    "/api/v1/import",
                    content="\r\n".join(rows).encode(),
                    headers={**headers, "Content-Type": "text/csv"},
                )
                r.raise_for_status()
            for kind in ("vtodo", "vevent"):
                r = client.post(
                    "/api/v1/feeds", json={"name": f"{kind} {u}", "kind": kind}, headers=headers
                )
                r.raise_for_status()
                paths.append(httpx.URL(r.json()["url"]).path)
    return paths


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="feed-memory-") as tmp:
        data = Path(tmp)
        extra = {"FEED_CACHE_BYTES": str(args.cache_bytes)} if args.cache_bytes is not None else {}
        with serve(data, args.src, extra) as server:
            result: dict[str, Any] = {
                "label": args.label,
                "users": args.users,
                "tasks_per_user": args.tasks,
                "description_chars": args.description,
                "feeds": args.users * 2,
                "cache_bytes_setting": args.cache_bytes,
                "rss_mb_started": round(server.rss_mb()[0], 1),
            }
            started = time.monotonic()
            paths = seed(server.base_url, args.users, args.tasks, args.description)
            result["seed_seconds"] = round(time.monotonic() - started, 1)
            result["rss_mb_seeded"] = round(server.rss_mb()[0], 1)
            rounds = []
            with httpx.Client(base_url=server.base_url, timeout=300) as client:
                for _ in range(args.rounds):
                    times, sizes = [], []
                    for path in paths:
                        t0 = time.perf_counter()
                        r = client.get(path)
                        times.append(time.perf_counter() - t0)
                        r.raise_for_status()
                        sizes.append(len(r.content))
                    rss, peak = server.rss_mb()
                    rounds.append(
                        {
                            "rss_mb": round(rss, 1),
                            "peak_rss_mb": round(peak, 1),
                            "median_fetch_s": round(statistics.median(times), 3),
                            "feed_mb": round(statistics.median(sizes) / 1e6, 2),
                        }
                    )
            result["rounds"] = rounds
            result["rss_mb_final"], result["peak_rss_mb"] = (round(v, 1) for v in server.rss_mb())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=2000, help="dated tasks per user")
    parser.add_argument("--description", type=int, default=10_000, help="characters per task")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--src", type=Path, default=None, help="serve this source tree")
    parser.add_argument("--cache-bytes", type=int, default=None, help="FEED_CACHE_BYTES")
    parser.add_argument("--label", default="current")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    out = args.out or RESULTS / "experiments" / f"feed-memory-{args.label}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
