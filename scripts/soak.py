"""Soak test (not in CI): mixed load on a real `doable serve` for N minutes, from this process.

    uv run python scripts/soak.py                 # 10 minutes on SQLite, 16 clients
    uv run python scripts/soak.py --minutes 1     # a quick look
    uv run python scripts/soak.py --database-url postgresql://postgres@127.0.0.1/doable_soak

Every minute it prints the p50 and p99 latency, the error count and the server's RSS. It fails
(exit 1) on any 5xx or transport error, or when RSS grows more than 10 % after the first
minute. Only loopback is used, and the load stops by itself at the end of the run.
"""

# ruff: noqa: S311 - the random numbers pick the next request of the mix, nothing secret

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
DOABLE = Path(sys.executable).parent / "doable"
PASSWORD = "soak horse battery staple"  # noqa: S105 - the soak's throwaway accounts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@dataclass
class Minute:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: int = 0  # transport errors


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Soak:
    def __init__(self, base_url: str, deadline: float, started: float) -> None:
        self.base_url = base_url
        self.deadline = deadline
        self.started = started
        self.minutes: dict[int, Minute] = {}

    def minute(self) -> Minute:
        # Requests that end after the deadline count in the last minute.
        last = max(0, int((self.deadline - self.started - 1e-9) // 60))
        index = min(int((time.monotonic() - self.started) // 60), last)
        return self.minutes.setdefault(index, Minute())

    async def request(
        self, client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
    ) -> httpx.Response | None:
        began = time.perf_counter()
        try:
            r = await client.request(method, url, **kwargs)
        except httpx.TransportError:
            self.minute().failures += 1
            return None
        bucket = self.minute()
        bucket.latencies.append(time.perf_counter() - began)
        bucket.statuses[r.status_code] += 1
        return r

    async def user(self, client: httpx.AsyncClient, n: int) -> None:
        """One client: signs up, then lists, creates, edits, completes and deletes its tasks."""
        email = f"soak-{n}-{uuid.uuid4().hex[:6]}@example.com"
        r = await self.request(
            client, "POST", "/api/v1/auth/signup", json={"email": email, "password": PASSWORD}
        )
        if r is None or r.status_code != 201:
            return
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        refresh = r.json()["refresh_token"]
        mine: list[str] = []
        while time.monotonic() < self.deadline:
            roll = random.random()
            if roll < 0.35:
                await self.request(
                    client, "GET", "/api/v1/tasks", params={"limit": 20}, headers=auth
                )
            elif roll < 0.55 or not mine:
                r = await self.request(
                    client,
                    "POST",
                    "/api/v1/tasks",
                    json={"title": f"soak {n}", "tags": [f"t{random.randint(1, 5)}"]},
                    headers=auth,
                )
                if r is not None and r.status_code == 201:
                    mine.append(r.json()["id"])
            elif roll < 0.7:
                task = random.choice(mine)
                await self.request(
                    client,
                    "PATCH",
                    f"/api/v1/tasks/{task}",
                    json={"priority": "high"},
                    headers=auth,
                )
            elif roll < 0.8:
                task = random.choice(mine)
                await self.request(client, "POST", f"/api/v1/tasks/{task}/complete", headers=auth)
            elif roll < 0.88:
                await self.request(client, "GET", "/api/v1/tags", headers=auth)
            elif roll < 0.95 and len(mine) > 20:
                task = mine.pop(0)
                await self.request(client, "DELETE", f"/api/v1/tasks/{task}", headers=auth)
            elif roll < 0.97:
                await self.request(
                    client, "GET", "/api/v1/tasks", params={"q": "soak"}, headers=auth
                )
            else:
                r = await self.request(
                    client, "POST", "/api/v1/auth/refresh", json={"refresh_token": refresh}
                )
                if r is not None and r.status_code == 200:
                    refresh = r.json()["refresh_token"]
                    auth = {"Authorization": f"Bearer {r.json()['access_token']}"}


async def run_load(base_url: str, minutes: float, clients: int, pid: int) -> dict[str, Any]:
    started = time.monotonic()
    soak = Soak(base_url, started + minutes * 60, started)
    rss: dict[int, int] = {}

    async def sample_rss() -> None:
        while time.monotonic() < soak.deadline:
            await asyncio.sleep(5)
            rss[int((time.monotonic() - started) // 60)] = rss_kib(pid)

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        await asyncio.gather(sample_rss(), *(soak.user(client, n) for n in range(clients)))

    rows = []
    for index in sorted(soak.minutes):
        bucket = soak.minutes[index]
        rows.append(
            {
                "minute": index + 1,
                "requests": len(bucket.latencies),
                "p50_ms": round(percentile(bucket.latencies, 0.50) * 1000, 2),
                "p99_ms": round(percentile(bucket.latencies, 0.99) * 1000, 2),
                "mean_ms": round(statistics.fmean(bucket.latencies) * 1000, 2)
                if bucket.latencies
                else 0,
                "statuses": {str(k): v for k, v in sorted(bucket.statuses.items())},
                "transport_errors": bucket.failures,
                "rss_mib": round(rss.get(index, rss_kib(pid)) / 1024, 1),
            }
        )
        row = rows[-1]
        print(
            f"minute {row['minute']:>2}: {row['requests']:>6} req  p50 {row['p50_ms']:>7} ms"
            f"  p99 {row['p99_ms']:>7} ms  errors {row['transport_errors']}"
            f"  statuses {row['statuses']}  rss {row['rss_mib']} MiB",
            flush=True,
        )
    return {"minutes": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--out", type=Path, default=ROOT / "test-artifacts" / "soak.json")
    args = parser.parse_args()
    if not 0 < args.minutes <= 60:
        parser.error("--minutes must be between 0 and 60")

    workdir = Path(tempfile.mkdtemp(prefix="doable-soak-"))
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "DOABLE_DATA_DIR": str(workdir / "data"),
        "LOG_LEVEL": os.environ.get("SOAK_LOG_LEVEL", "WARNING"),
        # Generous limits: 16 clients sign up from one address at the start.
        "AUTH_IP_RATE_LIMIT": "1000/minute",
        "AUTH_ACCOUNT_RATE_LIMIT": "1000/minute",
    }
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    log = (workdir / "server.log").open("wb")
    server = subprocess.Popen(  # noqa: S603 - our own `doable` executable
        [str(DOABLE), "serve", "--port", str(port)],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                print((workdir / "server.log").read_text(), file=sys.stderr)
                return 2
            time.sleep(0.1)
        print(f"soak: {args.minutes:g} min, {args.clients} clients, {base_url}", flush=True)
        result = asyncio.run(run_load(base_url, args.minutes, args.clients, server.pid))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()

    rows = result["minutes"]
    errors_5xx = sum(v for row in rows for k, v in row["statuses"].items() if k.startswith("5"))
    transport = sum(row["transport_errors"] for row in rows)
    # Growth after the first minute: from the end of minute 1 to the end of the run.
    first, last = rows[0]["rss_mib"], rows[-1]["rss_mib"]
    growth = (last - first) / first if first else 0.0
    summary = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "minutes": args.minutes,
        "clients": args.clients,
        "database": "sqlite" if not args.database_url else args.database_url.split(":")[0],
        "requests": sum(row["requests"] for row in rows),
        "responses_5xx": errors_5xx,
        "transport_errors": transport,
        "rss_growth_after_first_minute": round(growth, 4),
        "per_minute": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "per_minute"}, indent=2))
    ok = errors_5xx == 0 and transport == 0 and growth <= 0.10
    if not ok:
        print(f"server log: {workdir / 'server.log'}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
