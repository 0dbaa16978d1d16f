"""Honest-login latency while wrong current-password guesses are queued (issue 14, item 20).

`python -m benchmarks.guesses [--rounds N] [--guesses N] [--before SRC]`: starts `doable serve`
(SQLite in a scratch folder, production argon2 and rate limits, pinned to one core like the
other benchmarks), signs up a victim and honest users, then in each round fires `--guesses`
concurrent wrong `POST /me/password` guesses at the victim's account and, while they are
queued, times one honest login of another user; it also times a login with nothing queued.

With `--before SRC` (the `src` folder of another checkout, e.g. a `git worktree` of the
commit before a change) a second server runs that code, and the rounds alternate between the
two, so both see the same load on a shared machine. Prints medians and the worst.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks import servers
from benchmarks.common import PASSWORD

PRODUCTION_LIMITS = {"AUTH_IP_RATE_LIMIT": "30/minute", "AUTH_ACCOUNT_RATE_LIMIT": "10/minute"}


async def _login(client: httpx.AsyncClient, email: str) -> float:
    started = time.perf_counter()
    r = await client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        headers={"X-Forwarded-For": f"10.8.{len(email)}.1"},
    )
    elapsed = time.perf_counter() - started
    assert r.status_code == 200, r.text
    return elapsed


async def _stormy(client: httpx.AsyncClient, victim: str, honest: str, guesses: int) -> float:
    async def guess(i: int) -> int:
        r = await client.post(
            "/api/v1/me/password",
            json={"current_password": f"wrong guess {i}", "new_password": "x" * 16},
            headers={"Authorization": f"Bearer {victim}", "X-Forwarded-For": f"10.9.{i}.1"},
        )
        return r.status_code

    pending = [asyncio.create_task(guess(i)) for i in range(guesses)]
    await asyncio.sleep(0.2)  # the guesses reach the hashing queue first
    elapsed = await _login(client, honest)
    await asyncio.gather(*pending)
    return elapsed


async def _signup(client: httpx.AsyncClient, email: str, i: int) -> str:
    r = await client.post(
        "/api/v1/auth/signup",
        json={"email": email, "password": PASSWORD},
        headers={"X-Forwarded-For": f"10.7.{i // 200}.{i % 200}"},
    )
    r.raise_for_status()
    token: str = r.json()["access_token"]
    return token


async def main_async(rounds: int, guesses: int, before: Path | None) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        labels = ["after"] + (["before"] if before else [])
        procs = {}
        for label in labels:
            env = {
                "DATABASE_URL": f"sqlite:///{root / label}.db",
                "DOABLE_DATA_DIR": str(root / label),
                # Requests come from loopback; the header gives each its own address, so only
                # the per-account limits apply (the code before item 21 trusted it).
                "FORWARDED_ALLOW_IPS": "127.0.0.1",
                **PRODUCTION_LIMITS,
            }
            if label == "before" and before is not None:
                env["PYTHONPATH"] = str(before)
            procs[label] = servers.doable("sqlite", root, name=label, **env)
        results: dict[str, dict[str, list[float]]] = {}
        try:
            for proc in procs.values():
                proc.start()
                proc.wait_ready()
            clients = {
                label: httpx.AsyncClient(
                    base_url=proc.base_url,
                    timeout=120,
                    limits=httpx.Limits(max_connections=guesses + 8),
                )
                for label, proc in procs.items()
            }
            victims = {}
            for label, client in clients.items():
                victims[label] = await _signup(client, "victim@bench.example", 0)
                for r in range(rounds):
                    await _signup(client, f"alone-{r}@bench.example", 2 * r + 1)
                    await _signup(client, f"honest-{r}@bench.example", 2 * r + 2)
                results[label] = {"alone": [], "stormy": []}
            for r in range(rounds):
                for label, client in clients.items():
                    alone = await _login(client, f"alone-{r}@bench.example")
                    stormy = await _stormy(
                        client, victims[label], f"honest-{r}@bench.example", guesses
                    )
                    results[label]["alone"].append(alone)
                    results[label]["stormy"].append(stormy)
                    print(
                        f"round {r} {label:6}: login alone {alone * 1000:6.0f} ms, "
                        f"with {guesses} guesses {stormy * 1000:6.0f} ms",
                        flush=True,
                    )
            for client in clients.values():
                await client.aclose()
        finally:
            for proc in procs.values():
                proc.stop()
        for label, found in results.items():
            print(
                f"{label:6}: honest login alone median "
                f"{statistics.median(found['alone']) * 1000:.0f}"
                f" ms; with {guesses} queued guesses median "
                f"{statistics.median(found['stormy']) * 1000:.0f} ms, "
                f"max {max(found['stormy']) * 1000:.0f} ms"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--guesses", type=int, default=24)
    parser.add_argument("--before", type=Path, help="src folder of the code to compare with")
    args = parser.parse_args(argv)
    asyncio.run(main_async(args.rounds, args.guesses, args.before))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
