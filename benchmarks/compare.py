"""Before and after in one run: the same loads against two builds of Doable, back to back.

    uv run --group bench python -m benchmarks compare --before /other/checkout/.venv/bin/doable

`--after` defaults to this environment's `doable`. Both builds use the seeded database as it is
(run `python -m benchmarks run` once first), so a build whose migrations differ is compared on
the schema the database has. It first starts each build 5 times in turn (cold start to the first
/readyz 200, and idle RSS); `--cold-only` stops there.
"""

from __future__ import annotations

import json
import os
import time
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks import plan as plans
from benchmarks import seed, servers
from benchmarks.common import RAW, doable_bin
from benchmarks.load import finish, wrk
from benchmarks.run import cold_start, log, measured, median, ratio, summarize, wait_idle

SCALE = {
    "list_first": plans.list_first,
    "list_deep": plans.list_deep,
    "tag_status": plans.filtered,
    "search": plans.search,
    "search_common": plans.search_common,
}


def _runs(
    server: servers.Process, requests: Any, folder: Path, *, connections: int, duration: int
) -> dict[str, Any]:
    wrk(server.base_url, requests, folder=folder, duration=2, connections=connections)
    runs = []
    for _ in range(3):
        wait_idle(server)
        url = server.base_url
        run = partial(wrk, url, requests, folder=folder, duration=duration, connections=connections)
        runs.append(measured(server, run))
    wait_idle(server)
    result = summarize(runs)
    result.pop("runs")
    return result


def _storm(server: servers.Process, plan: plans.Plan, folder: Path) -> dict[str, Any]:
    alone, stormy, logins = [], [], []
    for _ in range(3):
        wait_idle(server)
        alone.append(
            wrk(server.base_url, plans.list_first(plan), folder=folder, duration=10, connections=4)
        )
        wait_idle(server)
        background = wrk(
            server.base_url,
            plans.login(plan),
            folder=folder,
            duration=12,
            connections=20,
            background=True,
        )
        time.sleep(1.0)
        stormy.append(
            wrk(server.base_url, plans.list_first(plan), folder=folder, duration=10, connections=4)
        )
        logins.append(finish(background, 12))
    a, s, lg = summarize(alone), summarize(stormy), summarize(logins)
    return {
        "alone_p99_ms": a["p99_ms"],
        "storm_p99_ms": s["p99_ms"],
        "ratio": ratio(s["p99_ms"], a["p99_ms"]),
        "logins_rps": lg["rps"],
        "login_errors": lg["errors"],
    }


def _cold_starts(backend: str, builds: dict[str, str], logs: Path) -> dict[str, Any]:
    """Start each build in turn, 5 times: the time to its first /readyz 200, and RSS 1 s later.
    Alternating keeps a machine whose speed drifts from favouring either build."""
    starts: dict[str, list[float]] = {name: [] for name in builds}
    idle: dict[str, list[float]] = {name: [] for name in builds}
    for i in range(COLD_ROUNDS):
        for name, binary in builds.items():
            os.environ["DOABLE_BIN"] = binary
            ready, rss, _ = cold_start(backend, logs, f"cold-{name}-{i}")
            starts[name].append(ready)
            idle[name].append(rss)
    return {
        name: {
            "cold_start_s": {"median": median(starts[name]), "runs": starts[name]},
            "idle_rss_mb": {"median": median(idle[name]), "runs": idle[name]},
        }
        for name in builds
    }


COLD_ROUNDS = 5


def compare(backend: str, builds: dict[str, str], *, loads: bool = True) -> dict[str, Any]:
    spec = seed.saved_spec(backend)
    if spec is None:
        raise SystemExit(f"{backend} is not seeded: run `python -m benchmarks run` first")
    plan = plans.build(backend, spec)
    largest = max(spec.sizes)
    logs = RAW / "compare" / backend
    folder = logs / "requests"
    out: dict[str, Any] = {name: {"doable": binary} for name, binary in builds.items()}
    for name, footprint in _cold_starts(backend, builds, logs).items():
        out[name].update(footprint)
        log(
            f"{backend} {name}: cold start {footprint['cold_start_s']['median']:.2f} s, "
            f"idle RSS {footprint['idle_rss_mb']['median']:.0f} MB"
        )
    for name, binary in builds.items():
        if not loads:
            break
        os.environ["DOABLE_BIN"] = binary
        result = out[name]
        with servers.doable(backend, logs, name=name) as server:
            result["list_first"] = _runs(
                server, plans.list_first(plan), folder, connections=16, duration=10
            )
            result["get"] = _runs(server, plans.get_one(plan), folder, connections=16, duration=10)
            for query, make in SCALE.items():
                result[f"{query}@{largest}"] = _runs(
                    server, make(plan, largest), folder, connections=1, duration=5
                )
            result["login_storm"] = _storm(server, plan, folder)
        log(f"{backend} {name}: {json.dumps(result, default=str)}")
    return out


def main(backends: list[str], before: str, after: str | None, *, loads: bool = True) -> None:
    builds = {"before": before, "after": after or str(doable_bin())}
    for backend in backends:
        result = compare(backend, builds, loads=loads)
        path = RAW / f"compare-{backend}.json"
        path.write_text(json.dumps(result, indent=1, default=str))
        log(f"wrote {path}")
