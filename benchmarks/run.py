"""Run every benchmark and write results, the Markdown table and the plots.

uv run --group bench python -m benchmarks run            # full: about 15 min per backend
uv run --group bench python -m benchmarks run --quick    # smoke check: small data, short runs
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from benchmarks import plan as plans
from benchmarks import report, seed, servers, views
from benchmarks.common import (
    BACKENDS,
    QUICK_SPEC,
    QUICK_TIMING,
    RAW,
    RESULTS,
    Spec,
    Timing,
    doable_bin,
    git_revision,
)
from benchmarks.load import Requests, finish, wrk

READ_SCENARIOS = ("list_first", "list_deep", "get", "search", "tag_status")
BASELINE_SCENARIOS = ("list_first", "list_deep", "get")
SCALE_QUERIES = ("list_first", "list_deep", "tag_status", "search", "search_common")
STORM_LIST_CONNECTIONS = 4
STORM_LOGIN_CONNECTIONS = 20
# Issue 19's overload check: list at 256 connections for 30 s, wrk giving up after 5 s.
OVERLOAD_CONNECTIONS = 256
OVERLOAD_SECONDS = 30
OVERLOAD_TIMEOUT = 5
WRITERS = 64


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def cold_start(backend: str, logs: Path, name: str) -> tuple[float, float, float]:
    """Start `doable serve` (the build DOABLE_BIN names): seconds to its first /readyz 200,
    then its RSS and peak RSS in MB 1 s later."""
    with servers.doable(backend, logs, name=name) as server:
        ready = server.ready_after
        time.sleep(1.0)
        rss, peak = server.rss_mb()
    return ready, rss, peak


def ms(value: float | None, width: int = 7) -> str:
    """A latency for the log: None (most runs finished no request; see summarize) is '-'."""
    return "-".rjust(width) if value is None else f"{value:{width}.1f}"


def ratio(numerator: float | None, denominator: float | None) -> float:
    """numerator ÷ denominator, NaN when either is missing (None) or zero."""
    return numerator / denominator if numerator and denominator else float("nan")


def wait_idle(server: servers.Process, timeout: float = 30.0) -> None:
    """Wait until the server has finished the requests still queued from the last run
    (SQLite writers wait for the lock, logins for a hashing thread), so they neither overlap
    the next run nor race its setup."""
    deadline = time.monotonic() + timeout
    last = server.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = server.cpu_seconds()
        if now - last < 0.05:  # under 10 % of a core
            return
        last = now


def measured(server: servers.Process, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One wrk run, plus the server's CPU time per request and the machine's load average:
    CPU per request does not change when other processes share the machine, req/s does."""
    before = server.cpu_seconds()
    result = run()
    cpu = server.cpu_seconds() - before
    result["cpu_ms_per_request"] = cpu * 1000 / result["requests"] if result["requests"] else 0
    result["loadavg_1m"] = os.getloadavg()[0]
    return result


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over repeated runs, plus every run's raw numbers. A run in which no request
    finished counts as slower than any that did; when most runs finished none, the latencies
    are None (the report shows the run's length as a lower bound)."""

    def latency(key: str) -> float | None:
        value = median([r[key] if r["requests"] else math.inf for r in runs])
        return value if math.isfinite(value) else None

    return {
        "cpu_ms_per_request": median([r.get("cpu_ms_per_request", float("nan")) for r in runs]),
        "loadavg_1m": median([r.get("loadavg_1m", float("nan")) for r in runs]),
        "rps": median([r["rps"] for r in runs]),
        "p50_ms": latency("p50_ms"),
        "p99_ms": latency("p99_ms"),
        "errors": sum(r["errors"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "runs": runs,
    }


def same_bodies(
    doable: servers.Process, baseline: servers.Process, scenarios: list[Requests]
) -> dict[str, bool]:
    """Whether Doable and the baseline answer each request of these scenarios (the first 20)
    with the same status and the same JSON: the ceiling must do the same work. Fails the run
    when they differ."""
    same: dict[str, bool] = {}
    for requests in scenarios:
        headers = {"Authorization": f"Bearer {requests.token}"} if requests.token else {}
        with (
            httpx.Client(base_url=doable.base_url, headers=headers) as ours,
            httpx.Client(base_url=baseline.base_url, headers=headers) as theirs,
        ):
            for _method, path, _if_match, _body in requests.rows[:20]:
                a, b = ours.get(path), theirs.get(path)
                if (a.status_code, a.json()) != (b.status_code, b.json()):
                    raise SystemExit(
                        f"{requests.name}: Doable and the baseline differ on {path}:\n"
                        f"{a.status_code} {a.text[:500]}\n{b.status_code} {b.text[:500]}"
                    )
        same[requests.name] = True
    log(f"Doable and the baseline answer the same JSON: {', '.join(same)}")
    return same


class Bench:
    def __init__(self, backend: str, spec: Spec, timing: Timing, stamp: str) -> None:
        self.backend = backend
        self.spec = spec
        self.timing = timing
        self.logs = RAW / backend / stamp
        self.logs.mkdir(parents=True, exist_ok=True)
        self.plan = plans.build(backend, spec)
        self.result: dict[str, Any] = {"backend": backend}

    def load(
        self,
        server: servers.Process,
        requests: Requests,
        *,
        connections: int | None = None,
        duration: int | None = None,
        before: Callable[[], None] | None = None,
        build: Callable[[], Requests] | None = None,
        repeats: int | None = None,
        warmup: bool = True,
    ) -> dict[str, Any]:
        """Warm up once, then `repeats` runs; `before` runs ahead of each (e.g. a reset)."""
        c = connections or self.timing.connections
        d = duration or self.timing.duration
        folder = self.logs / "requests"
        if warmup and self.timing.warmup:
            if before:
                before()
            wrk(
                server.base_url,
                build() if build else requests,
                folder=folder,
                duration=self.timing.warmup,
                connections=c,
            )
        runs = []
        for _ in range(repeats or self.timing.repeats):
            wait_idle(server)
            if before:
                before()
            payload = build() if build else requests
            run = partial(wrk, server.base_url, payload, folder=folder, duration=d, connections=c)
            runs.append(measured(server, run))
        wait_idle(server)
        return summarize(runs)

    # Phases

    def footprint_cold(self) -> None:
        starts, idle, idle_peak = [], [], []
        for i in range(max(2, self.timing.repeats * 2 + 1)):  # 7 in a full run
            ready, rss, peak = cold_start(self.backend, self.logs, f"cold-{i}")
            starts.append(ready)
            idle.append(rss)
            idle_peak.append(peak)
        self.result["cold_start_s"] = {"median": median(starts), "runs": starts}
        self.result["idle_rss_mb"] = {"median": median(idle), "runs": idle, "peak": idle_peak}
        log(f"cold start {median(starts):.2f} s, idle RSS {median(idle):.0f} MB")

    def throughput(self, doable: servers.Process, baseline: servers.Process) -> None:
        p = self.plan
        builders: dict[str, Callable[[], Requests]] = {
            "list_first": lambda: plans.list_first(p),
            "list_deep": lambda: plans.list_deep(p),
            "get": lambda: plans.get_one(p),
            "search": lambda: plans.search(p),
            "tag_status": lambda: plans.filtered(p),
            # No auth, no database: what the framework and our middleware cost by themselves.
            "floor": lambda: plans.floor(),
        }
        # The web app's pages, signed in by cookie (benchmarks/views.py).
        pages = views.prepare(doable.base_url)
        for name, page in views.PAGES.items():
            builders[name] = partial(page, pages)
        scenarios: dict[str, Any] = {}
        self.result["same_bodies"] = same_bodies(
            doable, baseline, [builders[name]() for name in BASELINE_SCENARIOS]
        )
        under_load = []
        for name, make in builders.items():
            entry: dict[str, Any] = {"doable": self.load(doable, make())}
            under_load.append(doable.rss_mb()[0])
            if name in BASELINE_SCENARIOS:
                entry["baseline"] = self.load(baseline, make())
                entry["ratio"] = entry["doable"]["rps"] / entry["baseline"]["rps"]
                entry["cpu_ratio"] = (
                    entry["baseline"]["cpu_ms_per_request"] / entry["doable"]["cpu_ms_per_request"]
                )
            scenarios[name] = entry
            log(self._line(name, entry))
        # The task list page against the JSON list: the same user's newest 50 tasks.
        self.result["html_over_json"] = ratio(
            scenarios["html_list"]["doable"]["rps"], scenarios["list_first"]["doable"]["rps"]
        )
        log(f"task list page ÷ JSON list: {self.result['html_over_json']:.2f}x")
        # Writes: each run starts from the database's current state.
        scenarios["create"] = {"doable": self.load(doable, plans.create(p))}
        log(self._line("create", scenarios["create"]))
        scenarios["update"] = {
            "doable": self.load(
                doable,
                plans.create(p),
                build=lambda: plans.update_if_match(p, plans.versions(self.backend, p)),
            )
        }
        log(self._line("update", scenarios["update"]))
        scenarios["complete"] = {
            "doable": self.load(
                doable, plans.complete(p), before=lambda: plans.reset_pending(self.backend, p)
            )
        }
        log(self._line("complete", scenarios["complete"]))
        scenarios["login"] = {"doable": self.load(doable, plans.login(p))}
        under_load.append(doable.rss_mb()[0])
        log(self._line("login", scenarios["login"]))
        self.result["scenarios"] = scenarios
        self.result["load_rss_mb"] = {"median": median(under_load), "peak": doable.rss_mb()[1]}

    def _line(self, name: str, entry: dict[str, Any]) -> str:
        d = entry["doable"]
        text = f"{name:<11} doable {d['rps']:7.0f} rps p50 {ms(d['p50_ms'])} ms"
        text += f" p99 {ms(d['p99_ms'])} ms errors {d['errors']}"
        if "baseline" in entry:
            text += f" | baseline {entry['baseline']['rps']:7.0f} rps → {entry['ratio']:.2f}x"
            text += f" (CPU per request: {entry['cpu_ratio']:.2f}x)"
        return text

    def login_storm(self, doable: servers.Process) -> None:
        p = self.plan
        alone, stormy, logins = [], [], []
        folder = self.logs / "requests"
        d = self.timing.duration
        for _ in range(self.timing.repeats):
            wait_idle(doable)
            run = partial(
                wrk,
                doable.base_url,
                plans.list_first(p),
                folder=folder,
                duration=d,
                connections=STORM_LIST_CONNECTIONS,
            )
            alone.append(measured(doable, run))
            wait_idle(doable)
            storm = wrk(
                doable.base_url,
                plans.login(p),
                folder=folder,
                duration=d + 2,
                connections=STORM_LOGIN_CONNECTIONS,
                background=True,
            )
            time.sleep(1.0)  # the logins are under way before the list requests start
            stormy.append(measured(doable, run))
            logins.append(finish(storm, d + 2))
        a, s = summarize(alone), summarize(stormy)
        self.result["login_storm"] = {
            "alone": a,
            "storm": s,
            "logins": summarize(logins),
            "ratio": ratio(s["p99_ms"], a["p99_ms"]),
        }
        log(
            f"login storm: list p99 {ms(a['p99_ms'], 0)} ms alone, {ms(s['p99_ms'], 0)} ms with"
            f" 20 clients logging in → {ratio(s['p99_ms'], a['p99_ms']):.2f}x"
        )

    def overload(self, doable: servers.Process) -> None:
        """Far more clients than slots (ADMISSION_SLOTS): is every request answered within
        wrk's 5 s, is p99 within 2 s, and are at most 5% shed (503 with Retry-After)?"""
        seconds = 5 if self.timing is QUICK_TIMING else OVERLOAD_SECONDS
        runs = []
        for _ in range(self.timing.repeats):
            wait_idle(doable)
            runs.append(
                measured(
                    doable,
                    partial(
                        wrk,
                        doable.base_url,
                        plans.list_first(self.plan),
                        folder=self.logs / "requests",
                        duration=seconds,
                        connections=OVERLOAD_CONNECTIONS,
                        timeout=OVERLOAD_TIMEOUT,
                    ),
                )
            )
        s = summarize(runs)
        # wrk counts every answer that is not 2xx or 3xx as a status error: here, the 503s.
        shed = [r["status_errors"] / max(r["requests"], 1) for r in runs]
        timeouts = [r["timeouts"] for r in runs]
        sockets = [r["connect_errors"] + r["read_errors"] + r["write_errors"] for r in runs]
        self.result["overload"] = {
            **s,
            "connections": OVERLOAD_CONNECTIONS,
            "seconds": seconds,
            "shed_share": statistics.median(shed),
            "timeouts": statistics.median(timeouts),
            "socket_errors": statistics.median(sockets),
        }
        log(
            f"overload c{OVERLOAD_CONNECTIONS}: {s['rps']:.0f} rps, p99 {ms(s['p99_ms'], 0)} ms"
            f" (target ≤ 2000), over {OVERLOAD_TIMEOUT} s {statistics.median(timeouts):.0f},"
            f" socket errors {statistics.median(sockets):.0f},"
            f" shed {statistics.median(shed):.1%} (target ≤ 5%)"
        )

    def scale(self, doable: servers.Process) -> None:
        p = self.plan
        makers = {
            "list_first": plans.list_first,
            "list_deep": plans.list_deep,
            "tag_status": plans.filtered,
            "search": plans.search,
            "search_common": plans.search_common,
        }
        curve: dict[str, dict[str, Any]] = {}
        for size in self.spec.sizes:
            for name in SCALE_QUERIES:
                s = self.load(
                    doable,
                    makers[name](p, size),
                    connections=1,
                    duration=self.timing.scale_duration,
                )
                curve.setdefault(name, {})[str(size)] = s
                log(
                    f"scale {size:>9,} {name:<13} p50 {ms(s['p50_ms'], 8)} ms  "
                    f"p99 {ms(s['p99_ms'], 8)} ms ({s['requests']} requests)"
                )
        largest = str(max(self.spec.sizes))
        self.result["scale"] = curve
        self.result["deep_over_first"] = ratio(
            curve["list_deep"][largest]["p50_ms"], curve["list_first"][largest]["p50_ms"]
        )

    def writers(self, doable: servers.Process) -> None:
        stderr = self.logs / f"{doable.name}.stderr"
        before = stderr.read_text(errors="replace").count("database is locked")
        s = self.load(
            doable,
            plans.mixed_writes(self.plan),
            connections=WRITERS,
            before=lambda: plans.reset_pending(self.backend, self.plan),
            warmup=False,
        )
        locked = stderr.read_text(errors="replace").count("database is locked") - before
        self.result["writers"] = {**s, "locked": locked, "connections": WRITERS}
        log(
            f"{WRITERS} writers: {s['rps']:.0f} rps, {s['errors']} errors, "
            f"{locked} 'database is locked'"
        )

    def run(self, phases: set[str]) -> dict[str, Any]:
        if "footprint" in phases:
            self.footprint_cold()
        with (
            servers.doable(self.backend, self.logs) as doable,
            servers.baseline(self.backend, self.logs) as baseline,
        ):
            if "throughput" in phases:
                self.throughput(doable, baseline)
            if "storm" in phases:
                self.login_storm(doable)
            if "scale" in phases:
                self.scale(doable)
            if "writers" in phases:
                self.writers(doable)
            if "overload" in phases:
                self.overload(doable)
        return self.result


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    versions = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    for name, cmd in {
        "postgresql": ["psql", "--version"],
        "mariadb": ["mariadb", "--version"],
        "wrk": ["wrk", "-v"],
    }.items():
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            versions[name] = (out.stdout or out.stderr).splitlines()[0].strip()
        except (OSError, IndexError):
            versions[name] = "not found"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "versions": versions,
    }


def package_size() -> dict[str, float]:
    """Size of the wheel, and of a fresh virtualenv with it installed (uv's cache, no network
    if the dependencies were installed here before)."""
    project = doable_bin().resolve().parents[2]
    out = RAW / "size"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    subprocess.run(
        ["uv", "build", "--wheel", "--out-dir", str(out / "dist")],
        cwd=project,
        check=True,
        capture_output=True,
    )
    (wheel,) = (out / "dist").glob("doable-*.whl")
    venv = out / "venv"
    subprocess.run(
        ["uv", "venv", "--python", sys.executable, str(venv)], check=True, capture_output=True
    )
    subprocess.run(
        ["uv", "pip", "install", "--python", str(venv / "bin" / "python"), str(wheel)],
        check=True,
        capture_output=True,
    )

    def du(path: Path) -> float:
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1024 / 1024

    (site,) = (venv / "lib").glob("python*/site-packages")
    return {
        "wheel_kb": wheel.stat().st_size / 1024,
        "installed_doable_mb": du(site / "doable"),
        "installed_total_mb": du(site),
    }


def merged(earlier: dict[str, Any], new: dict[str, Any], phases: set[str]) -> dict[str, Any]:
    """The earlier run's results with the figures of `phases` taken from the new one; each
    phase's revision and date are recorded under `phase_runs` (the report names them)."""
    out = {**earlier}
    runs = dict(earlier.get("phase_runs", {}))
    for phase in sorted(phases):
        for key in PHASE_KEYS.get(phase, ()):
            if key in new:
                out[key] = new[key]
        runs[phase] = {"revision": new["revision"], "date": new["date"]}
    out["phase_runs"] = runs
    return out


# The result keys each phase writes.
PHASE_KEYS = {
    "footprint": ("cold_start_s", "idle_rss_mb"),
    "throughput": ("same_bodies", "scenarios", "load_rss_mb", "html_over_json"),
    "storm": ("login_storm",),
    "scale": ("scale", "deep_over_first"),
    "writers": ("writers",),
    "size": ("package",),
    "overload": ("overload",),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="seed if needed, run the benchmarks, write results")
    run_p.add_argument("--quick", action="store_true", help="small data and short runs")
    run_p.add_argument(
        "--backend",
        default="sqlite,postgresql,mariadb",
        help="comma-separated: sqlite, postgresql, mariadb (default: %(default)s)",
    )
    run_p.add_argument(
        "--phases",
        default="footprint,throughput,storm,scale,writers,overload,size",
        help="comma-separated subset (default: %(default)s)",
    )
    run_p.add_argument("--reseed", action="store_true", help="rebuild the data even if present")
    run_p.add_argument(
        "--merge",
        action="store_true",
        help="keep the day's other figures: rerun only --phases and record their revision",
    )
    run_p.add_argument(
        "--sizes", default="", help="override the scale sizes, e.g. 1000,10000,100000"
    )
    sub.add_parser("report", help="redraw the table and plots from the saved results")
    compare_p = sub.add_parser("compare", help="the same loads against two builds, back to back")
    compare_p.add_argument("--before", required=True, help="the other build's `doable` script")
    compare_p.add_argument("--after", help="default: this environment's `doable`")
    compare_p.add_argument("--backend", default="sqlite", help="comma-separated backends")
    compare_p.add_argument(
        "--cold-only", action="store_true", help="only cold start and idle RSS, not the loads"
    )
    args = parser.parse_args(argv)

    if args.command == "report":
        report.write_all(RESULTS)
        return 0
    if args.command == "compare":
        from benchmarks import compare

        compare.main(args.backend.split(","), args.before, args.after, loads=not args.cold_only)
        return 0

    spec = QUICK_SPEC if args.quick else Spec()
    if args.sizes:
        spec = Spec(**{**spec.asdict(), "sizes": tuple(int(s) for s in args.sizes.split(","))})
    timing = QUICK_TIMING if args.quick else Timing()
    phases = set(args.phases.split(","))
    if phases - set(PHASE_KEYS):
        parser.error(f"unknown phases {sorted(phases - set(PHASE_KEYS))}")
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    for b in backends:
        if b not in BACKENDS:
            parser.error(f"unknown backend {b!r}")
    folder = RAW if args.quick else RESULTS
    suffix = "-quick" if args.quick else ""
    # --merge updates each backend's newest results (the ones the report shows), whatever day.
    into = {b: sorted(folder.glob(f"*-{b}{suffix}.json")) for b in backends}
    if args.merge and not all(into.values()):
        parser.error("--merge: no earlier results for " + ", ".join(b for b in into if not into[b]))
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed (apt-get install -y wrk util-linux)")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    common = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "revision": git_revision(),
        "quick": args.quick,
        "machine": machine(),
        "spec": spec.asdict(),
        "timing": {k: v for k, v in vars(timing).items() if k != "extra"},
    }
    if "size" in phases:
        log("building the wheel and a fresh install")
        common["package"] = package_size()
    for backend in backends:
        log(f"{backend}: seeding (skipped when the data is already there)")
        started = time.monotonic()
        backend_spec = spec
        saved = seed.saved_spec(backend)
        if args.quick and not args.reseed and saved is not None and saved.covers(spec):
            # Reuse the full data set rather than replace it with the small one.
            backend_spec = Spec(**{**saved.asdict(), "sizes": spec.sizes})
            seeded = False
        else:
            seeded = seed.seed(backend, spec, force=args.reseed)
        log(
            f"{backend}: data ready ({'seeded' if seeded else 'reused'}, "
            f"{time.monotonic() - started:.0f} s)"
        )
        bench = Bench(backend, backend_spec, timing, stamp)
        result = {**common, "spec": backend_spec.asdict(), **bench.run(phases)}
        path = folder / f"{stamp}-{backend}{suffix}.json"
        if args.merge:
            path = into[backend][-1]
            result = merged(json.loads(path.read_text()), result, phases)
        path.write_text(json.dumps(result, indent=1, default=str))
        log(f"{backend}: wrote {path}")
    report.write_all(RAW / "quick" if args.quick else RESULTS, quick=args.quick)
    return 0
