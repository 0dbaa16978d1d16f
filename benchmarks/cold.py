"""Cold start and idle RSS of `doable serve` on a migrated database, with a baseline measured
in the same run.

    uv run --group bench python -m benchmarks.cold                       # 7 rounds, SQLite
    uv run --group bench python -m benchmarks.cold --rounds 9 --before /other/.venv/bin/doable
    uv run --group bench python -m benchmarks.cold --backend postgresql  # the benchmark database

Each round starts every build in turn (alternating, so a machine whose speed drifts favours
none): the seconds from Popen to its first /readyz 200, then its RSS after `--idle` seconds
without requests. The baseline is a bare interpreter, `python -c pass` (Popen to exit), in the
same round: what any Python process costs on this machine at that moment. With `--before`,
another build of Doable (e.g. the previous commit's `doable`) joins each round too.

On SQLite the database is made once, in a temporary folder, by `doable migrate`, so every start
finds it at HEAD (the common case: every start but the first after an upgrade). On PostgreSQL
and MariaDB it is the benchmark database (`benchmarks seed`), migrated the same way first.
Medians print as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import servers
from benchmarks.common import SECRET_KEY, SERVER_CPU, doable_bin


def _env(folder: Path, backend: str) -> dict[str, str]:
    env = servers.doable_env(backend)
    if backend == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{folder / 'doable.db'}"
    env["DOABLE_DATA_DIR"] = str(folder / "data")
    env["SECRET_KEY"] = SECRET_KEY
    return env


def bare_python() -> float:
    """Seconds for `python -c pass`, pinned to the server's core like the servers."""
    started = time.monotonic()
    subprocess.run(["taskset", "-c", SERVER_CPU, sys.executable, "-c", "pass"], check=True)
    return time.monotonic() - started


def one_start(
    binary: str, env: dict[str, str], logs: Path, name: str, idle: float
) -> dict[str, float]:
    process = servers.Process(name, [binary, "serve", "--workers", "1"], env, logs)
    with process:
        ready = process.ready_after
        cpu = process.cpu_seconds()  # CPU time to ready: less swayed by other processes
        time.sleep(idle)
        rss, peak = process.rss_mb()
    return {"ready_s": ready, "cpu_s": cpu, "rss_mb": rss, "peak_mb": peak}


def measure(
    builds: dict[str, str], *, rounds: int, idle: float, backend: str = "sqlite"
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="doable-cold-") as tmp:
        folder = Path(tmp)
        env = _env(folder, backend)
        # Migrated once, by the newest build: each `serve` then finds nothing to migrate.
        subprocess.run(
            [builds[list(builds)[-1]], "migrate"], env=env, check=True, capture_output=True
        )
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in builds}
        bare: list[float] = []
        for i in range(rounds):
            bare.append(bare_python())
            for name, binary in builds.items():
                runs[name].append(one_start(binary, env, folder / "logs", f"{name}-{i}", idle))
        load = os.getloadavg()
    out: dict[str, Any] = {
        "backend": backend,
        "rounds": rounds,
        "idle_s": idle,
        "loadavg": load,
        "bare_python_s": {"median": statistics.median(bare), "runs": bare},
    }
    for name, results in runs.items():
        out[name] = {
            key: {
                "median": statistics.median(r[key] for r in results),
                "runs": [round(r[key], 3) for r in results],
            }
            for key in ("ready_s", "cpu_s", "rss_mb", "peak_mb")
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cold", description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--idle", type=float, default=2.0, help="seconds idle before RSS")
    parser.add_argument("--before", help="another build's `doable` script, measured alongside")
    parser.add_argument("--after", default=str(doable_bin()), help="default: this environment's")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "mariadb"], default="sqlite")
    args = parser.parse_args(argv)
    builds = {"before": args.before} if args.before else {}
    builds["after" if args.before else "doable"] = args.after
    result = measure(builds, rounds=args.rounds, idle=args.idle, backend=args.backend)
    print(json.dumps(result, indent=1))
    bare = result["bare_python_s"]["median"]
    for name in builds:
        r = result[name]
        ready, cpu, rss = (r[k]["median"] for k in ("ready_s", "cpu_s", "rss_mb"))
        print(
            f"{name} ({args.backend}): cold start {ready:.3f} s ({cpu:.2f} s CPU), "
            f"idle RSS {rss:.1f} MB (bare python {bare:.3f} s, load {result['loadavg'][0]:.2f})",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
