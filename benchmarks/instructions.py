"""Instructions per request, counted by callgrind: a measure the machine's load does not move.

    uv run --group bench python -m benchmarks.instructions                  # SQLite, this tree
    uv run --group bench python -m benchmarks.instructions \\
        --database-url postgresql://postgres@127.0.0.1:5432/doable_instr \\
        --before /other/checkout/.venv/bin/python

On a shared or virtual machine req/s and even CPU time per request drift by a third within
minutes (docs/performance.md, round 7), which hides a 10 % change. `valgrind --tool=callgrind`
counts the instructions the process executes instead. Each build runs in a process of its own
under callgrind with instrumentation off (`--instr-atstart=no`, so starting and seeding run at
valgrind's plain speed); for each workload this script switches it on (`callgrind_control -i
on`), lets the child send `--requests` requests, switches it off and dumps the count. The
child drives the app in process over ASGI with hand-made scopes (no HTTP server, no client
library): one new user with 60 tasks, 20 requests of warm-up per workload, then

- `get`: `GET /api/v1/tasks/{id}`, the 60 ids in turn;
- `list`: `GET /api/v1/tasks?limit=50`;
- `create`: `POST /api/v1/tasks` with a title;
- `page`: the web app's task list, `GET /tasks`, signed in by the session cookie.

`--before PYTHON` runs another build (the Python of its virtualenv, whose `doable` is that
checkout's) the same way, after this one. Each build migrates the database with its own
`doable migrate` first, so two builds at different migration heads need a database each (give
`--before-database-url`). Two runs of one build agree within about 7 %. Prints JSON: millions
of instructions per request per build, and after ÷ before.

valgrind is a Debian package (`apt-get install -y valgrind`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import pyprofile
from benchmarks.common import PASSWORD, PROJECT, SECRET_KEY

WORKLOADS = ("get", "list", "create", "page")
WARM_UP = 20
TASKS = 60


def _env(database_url: str, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DOABLE_DATA_DIR=str(data_dir),
        SECRET_KEY=SECRET_KEY,
        ARGON2_TIME_COST="1",
        ARGON2_MEMORY_KIB="1024",
        ARGON2_PARALLELISM="1",
        AUTH_IP_RATE_LIMIT="1000000/minute",
        AUTH_ACCOUNT_RATE_LIMIT="1000000/minute",
        SCHEDULER_ENABLED="false",
        # The webhook worker polls once a second whatever the traffic. Under callgrind a
        # request takes 50 to 100 times as long, so its polls were counted as 0.05 (get) to 0.33
        # (create) M instructions per request, against about 0.02 M served at full load: it is
        # left out (issue 19, round 9).
        WEBHOOK_WORKER_ENABLED="false",
        LOG_LEVEL="WARNING",
    )
    return env


def count(
    python: str, database_url: str, requests: int, workloads: list[str], profile: int = 0
) -> dict[str, float]:
    """Millions of instructions per request for each workload, for the build `python` runs;
    with `profile`, the workload's `profile` costliest Python functions are printed to stderr
    (benchmarks/pyprofile.py: `python` must be 3.12 or later)."""
    with tempfile.TemporaryDirectory(prefix="doable-instr-") as folder:
        work = Path(folder)
        env = _env(database_url, work / "data")
        doable = Path(python).parent / "doable"
        subprocess.run([str(doable), "migrate"], env=env, check=True, capture_output=True)
        if profile:
            env["PYTHONPERFSUPPORT"] = "1"  # the child's functions in /tmp/perf-<pid>.map
        child = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={work}/callgrind.%p",
                python,
                "-m",
                "benchmarks.instructions",
                "--child",
                ",".join(workloads),
                "--requests",
                str(requests),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=PROJECT,
        )
        assert child.stdin is not None and child.stdout is not None
        counts: dict[str, float] = {}
        dumps: dict[str, Path] = {}

        def control(*args: str) -> None:
            subprocess.run(["callgrind_control", *args, str(child.pid)], capture_output=True)

        for line in child.stdout:
            word, _, name = line.strip().partition(" ")
            if word == "READY":
                control("-i", "on")
            elif word == "DONE":
                control("-i", "off")
                control("-d", name)
                total, dumps[name] = _dumped(work, name)
                counts[name] = total / requests / 1e6
            elif word == "END":
                break
            else:
                continue
            child.stdin.write("\n")
            child.stdin.flush()
        child.wait(timeout=60)
        perf_map = Path(f"/tmp/perf-{child.pid}.map")
        try:
            if set(counts) != set(workloads):
                raise SystemExit(f"{python}: the child stopped early ({sorted(counts)})")
            if profile and not perf_map.exists():
                raise SystemExit(f"{python}: no {perf_map}; --profile needs Python 3.12+")
            for name, dump in dumps.items() if profile else ():
                print(pyprofile.report(name, dump, perf_map, requests, profile), file=sys.stderr)
        finally:
            perf_map.unlink(missing_ok=True)
        return counts


def _dumped(folder: Path, name: str) -> tuple[int, Path]:
    """The instruction count of the dump named `name` (callgrind writes it asynchronously),
    and its file."""
    for _ in range(100):
        for path in folder.glob("callgrind.*"):
            text = path.read_text(errors="replace")
            if f"desc: Trigger: dump {name}\n" in text:
                found = re.search(r"^totals: (\d+)", text, re.M)
                if found:
                    return int(found[1]), path
        time.sleep(0.2)
    raise SystemExit(f"no callgrind dump for {name}")


# --- the child, under callgrind ---


async def _call(app: Any, method: str, path: str, headers: list[Any], body: bytes = b"") -> Any:
    route, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [
            *headers,
            (b"host", b"bench"),
            (b"content-length", str(len(body)).encode()),
            *([(b"content-type", b"application/json")] if body else []),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    sent = False
    answer: dict[str, Any] = {"status": 0, "body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.get_running_loop().create_future()  # never: the client stays
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer["body"]


async def _child(workloads: list[str], requests: int) -> None:
    import httpx

    from doable.app import create_app

    app = create_app()
    loop = asyncio.get_running_loop()
    async with app.router.lifespan_context(app):
        email = f"instr-{time.time_ns()}@bench.example"
        account = json.dumps({"email": email, "password": PASSWORD, "name": "Bench"})
        status, body = await _call(app, "POST", "/api/v1/auth/signup", [], account.encode())
        assert status == 201, body
        bearer = [(b"authorization", f"Bearer {json.loads(body)['access_token']}".encode())]
        ids = []
        for i in range(TASKS):
            status, body = await _call(
                app, "POST", "/api/v1/tasks", bearer, json.dumps({"title": f"t{i}"}).encode()
            )
            assert status == 201, body
            ids.append(json.loads(body)["id"])
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as web:
            form = (await web.get("/login")).text
            token = re.search(r'name="csrf_token" value="([^"]+)"', form)
            assert token is not None
            signed_in = await web.post(
                "/login",
                data={"email": email, "password": PASSWORD, "csrf_token": token[1], "next": "/"},
            )
            assert signed_in.status_code == 303, signed_in.text[:300]
            cookie = [(b"cookie", f"doable_session={web.cookies['doable_session']}".encode())]
        run = {
            "get": lambda i: _call(app, "GET", f"/api/v1/tasks/{ids[i % TASKS]}", bearer),
            "list": lambda i: _call(app, "GET", "/api/v1/tasks?limit=50", bearer),
            "create": lambda i: _call(
                app, "POST", "/api/v1/tasks", bearer, json.dumps({"title": f"n{i}"}).encode()
            ),
            "page": lambda i: _call(app, "GET", "/tasks", cookie),
        }
        for name in workloads:
            for i in range(WARM_UP):
                status, body = await run[name](i)
                assert status in (200, 201), (name, status, body[:300])
        for name in workloads:
            print(f"READY {name}", flush=True)
            await loop.run_in_executor(None, sys.stdin.readline)
            for i in range(requests):
                status, _ = await run[name](i)
                assert status in (200, 201), (name, status)
            print(f"DONE {name}", flush=True)
            await loop.run_in_executor(None, sys.stdin.readline)
        print("END", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    parser.add_argument("--before", help="another build's Python (its virtualenv's)")
    parser.add_argument("--before-database-url", help="default: --database-url")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also print each workload's N costliest Python functions (Python 3.12+)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import uvloop

        uvloop.run(_child(args.child.split(","), args.requests))
        return
    workloads = [w for w in args.workloads.split(",") if w]
    unknown = set(workloads) - set(WORKLOADS)
    if unknown:
        raise SystemExit(f"unknown workloads: {sorted(unknown)}")
    with tempfile.TemporaryDirectory(prefix="doable-instr-db-") as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'after.db'}"
        results = {"after": count(sys.executable, url, args.requests, workloads, args.profile)}
        if args.before:
            before_url = (
                args.before_database_url
                or args.database_url
                or f"sqlite:///{Path(folder) / 'before.db'}"
            )
            results["before"] = count(
                args.before, before_url, args.requests, workloads, args.profile
            )
    report: dict[str, Any] = {
        "requests": args.requests,
        # Perf trampolines add about a tenth: quote counts from runs without --profile.
        "profiled": bool(args.profile),
        "minstructions_per_request": {
            build: {name: round(value, 3) for name, value in counts.items()}
            for build, counts in results.items()
        },
    }
    if "before" in results:
        report["after_over_before"] = {
            name: round(results["after"][name] / results["before"][name], 3) for name in workloads
        }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
