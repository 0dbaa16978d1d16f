"""Issue 16's speed goals: a user who belongs to 500 projects of others, with 100k visible
tasks, against a user with one project of their own and 100k tasks; and what a member's
membership check costs per request.

    uv run python -m benchmarks.sharing                          # SQLite
    uv run python -m benchmarks.sharing --postgres URL           # PostgreSQL (wipes it)
    uv run python -m benchmarks.sharing --tasks 20000 --requests 50

One fresh database: 50 owners sign up through the API and each makes 10 projects (500), all
shared with the member (project_members rows, and `users.shared_projects` recounted, as
`projects.members` does); the owners' tasks are written in bulk, 200 per project (100k). The
solo user signs up too and holds 100k tasks in one project. A tenth of every user's tasks are
due over the next 14 days, a tenth are overdue, the rest have no date. Both users then get,
over in-process HTTP, `requests` requests (after 10 unmeasured) of each view: the default list
(`GET /api/v1/tasks`, newest first, 50), Today and Upcoming (open tasks by due, as the web app
asks; and again newest first, the API's default order), and a project's first page
(`project_id=…`, its manual order). p50 wall and CPU time are printed as JSON, with the ratio
member ÷ solo (target ≤ 1.5). Then the statements one GET and one PATCH of a shared task cost
the member, against the owner, are counted by an engine listener. Last, what migration 0022's
triggers cost writes: creates and edits (title and due) by the solo user and by the member in a
shared project, with the triggers and then without them (dropped), after a warm-up round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
from sqlalchemy import Table, event, insert, text, update

from benchmarks.organise import SECRET, _settings
from doable import positions
from doable.app import create_app
from doable.auth.models import User
from doable.config import RuntimeConfig, normalize_database_url
from doable.db import Database
from doable.migrations import upgrade
from doable.projects.models import ProjectMember
from doable.tasks.models import Task

TASKS = "/api/v1/tasks"
NO_DUE = datetime(9999, 12, 31, tzinfo=UTC)
OWNERS = 50
PER_OWNER = 10
TABLE = cast(Table, Task.__table__)


async def _signup(client: httpx.AsyncClient, email: str) -> tuple[str, dict[str, str]]:
    r = await client.post(
        "/api/v1/auth/signup", json={"email": email, "password": "a benchmark phrase"}
    )
    assert r.status_code == 201, r.text
    return r.json()["user"]["id"], {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _project(client: httpx.AsyncClient, auth: dict[str, str], name: str) -> str:
    r = await client.post("/api/v1/projects", json={"name": name}, headers=auth)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _rows(
    owner: str, project: str, count: int, now: datetime, rng: random.Random
) -> list[dict[str, Any]]:
    keys = positions.spread(count)
    out = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.1:
            due = now + timedelta(minutes=rng.randrange(14 * 24 * 60))
        elif roll < 0.2:
            due = now - timedelta(minutes=rng.randrange(1, 60 * 24 * 60))
        else:
            due = None
        created = now - timedelta(seconds=rng.randrange(10_000_000))
        out.append(
            {
                "id": uuid.uuid4(),
                "owner_id": uuid.UUID(owner),
                "title": f"task {i}",
                "description": "",
                "completed": False,
                "priority": 0,
                "due_at": due,
                "due_sort": due or NO_DUE,
                "version": 1,
                "created_at": created,
                "updated_at": created,
                "project_id": uuid.UUID(project),
                "position": next(keys),
            }
        )
    return out


async def _insert(database: Database, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 5000):
        async with database.engine.begin() as conn:
            await conn.execute(insert(TABLE), rows[start : start + 5000])


def _p50(samples: list[float]) -> float:
    ordered = sorted(samples)
    return round(ordered[len(ordered) // 2] * 1000, 2)


async def _timed(
    client: httpx.AsyncClient, n: int, auth: dict[str, str], params: dict[str, Any]
) -> dict[str, float]:
    wall, cpu = [], []
    for i in range(n + 10):
        t0, c0 = time.perf_counter(), time.process_time()
        r = await client.get(TASKS, params=params, headers=auth)
        if i >= 10:
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        assert r.status_code == 200, r.text
        assert r.json()["items"], params
    return {"p50_ms": _p50(wall), "cpu_p50_ms": _p50(cpu)}


DROP_TRIGGERS = {
    "sqlite": [
        f"DROP TRIGGER task_views_{name}"
        for name in ("task_insert", "task_move", "task_keys", "task_delete")
    ],
    "postgresql": ["DROP TRIGGER task_views_task ON tasks"],
}


async def _writes(
    client: httpx.AsyncClient,
    n: int,
    auth: dict[str, str],
    method: str,
    url: str,
    fields: dict[str, Any],
) -> dict[str, float]:
    """p50 of `n` writes (after 5 unmeasured): creates, or edits of title and due."""
    wall = []
    for i in range(n + 5):
        body = {"title": f"write {i}", "due": f"2027-01-{1 + i % 28:02d}", **fields}
        t0 = time.perf_counter()
        r = await client.request(method, url, json=body, headers=auth)
        if i >= 5:
            wall.append(time.perf_counter() - t0)
        assert r.status_code in (200, 201), r.text
    return {"p50_ms": _p50(wall)}


class Counter:
    def __init__(self, database: Database) -> None:
        self.statements: list[str] = []
        event.listen(database.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements.append(statement.split()[0].upper())

    def take(self) -> list[str]:
        out, self.statements = self.statements, []
        return out


async def run(tasks: int, requests: int, postgres: str | None, explain: bool) -> dict[str, Any]:
    rng = random.Random(16)
    started = time.perf_counter()

    def say(what: str) -> None:
        print(f"{time.perf_counter() - started:7.1f}s {what}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        url = postgres or f"sqlite:///{data / 'bench.db'}"
        config = normalize_database_url(url, data)
        database = Database(config)
        if postgres:
            async with database.engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        await upgrade(database.engine)
        app = create_app(RuntimeConfig(_settings(data), data, config, SECRET), database)
        transport = httpx.ASGITransport(app=app)
        now = datetime.now(UTC)
        out: dict[str, Any] = {"backend": config.backend, "tasks": tasks}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            t0 = time.perf_counter()
            member, member_auth = await _signup(client, "member@example.com")
            solo, solo_auth = await _signup(client, "solo@example.com")
            solo_project = await _project(client, solo_auth, "Mine")
            shared: list[tuple[str, str]] = []
            for o in range(OWNERS):
                owner, auth = await _signup(client, f"owner{o}@example.com")
                for p in range(PER_OWNER):
                    shared.append((owner, await _project(client, auth, f"O{o}P{p}")))
            say("accounts and projects made")
            per_project = tasks // len(shared)
            for owner, project in shared:
                await _insert(database, _rows(owner, project, per_project, now, rng))
            await _insert(database, _rows(solo, solo_project, tasks, now, rng))
            async with database.engine.begin() as conn:
                await conn.execute(
                    insert(cast(Table, ProjectMember.__table__)),
                    [
                        {
                            "project_id": uuid.UUID(p),
                            "user_id": uuid.UUID(member),
                            "role": "editor",
                            "created_at": now,
                        }
                        for _, p in shared
                    ],
                )
                await conn.execute(
                    update(User)
                    .where(User.id == uuid.UUID(member))
                    .values(shared_projects=len(shared))
                )
                await conn.execute(text("ANALYZE"))
            out["seed_s"] = round(time.perf_counter() - t0, 1)
            say("seeded")
            views = {
                "default list": {"limit": 50},
                # Today and Upcoming as the web app and the agenda ask for them.
                "today": {"when": "today", "status": "pending", "sort": "due", "limit": 50},
                "upcoming": {"when": "upcoming", "status": "pending", "sort": "due", "limit": 50},
                # And with the API's default order (newest first) instead.
                "today, newest first": {"when": "today", "limit": 50},
                "upcoming, newest first": {"when": "upcoming", "limit": 50},
                "project page": {"limit": 50, "sort": "position"},
            }
            results: dict[str, Any] = {}
            for name, params in views.items():
                row: dict[str, Any] = {}
                for who, auth, project in (
                    ("solo", solo_auth, solo_project),
                    ("member", member_auth, shared[len(shared) // 2][1]),
                ):
                    query = dict(params)
                    if name == "project page":
                        query["project_id"] = project
                    row[who] = await _timed(client, requests, auth, query)
                    say(f"{name}, {who}: {row[who]}")
                row["ratio_wall"] = round(row["member"]["p50_ms"] / row["solo"]["p50_ms"], 2)
                row["ratio_cpu"] = round(
                    row["member"]["cpu_p50_ms"] / max(row["solo"]["cpu_p50_ms"], 0.01), 2
                )
                results[name] = row
            out["views"] = results

            # The membership check: statements of a member's GET and PATCH of a shared task.
            _, project0 = shared[0]
            r = await client.get(
                TASKS, params={"project_id": project0, "limit": 1}, headers=member_auth
            )
            task_id = r.json()["items"][0]["id"]
            counter = Counter(database)
            counts: dict[str, Any] = {}
            await client.get(f"{TASKS}/{task_id}", headers=member_auth)
            counts["member GET"] = counter.take()
            await client.patch(f"{TASKS}/{task_id}", json={"title": "x"}, headers=member_auth)
            counts["member PATCH"] = counter.take()
            mine = (await client.get(TASKS, params={"limit": 1}, headers=solo_auth)).json()
            solo_task = mine["items"][0]["id"]
            counter.take()  # the list above is not the GET being counted
            await client.get(f"{TASKS}/{solo_task}", headers=solo_auth)
            counts["owner GET"] = counter.take()
            await client.patch(f"{TASKS}/{solo_task}", json={"title": "x"}, headers=solo_auth)
            counts["owner PATCH"] = counter.take()
            out["statements"] = {k: {"count": len(v), "kinds": v} for k, v in counts.items()}

            # What keeping task_views costs writes: the same writes with the triggers of
            # migration 0022 and without them (dropped at the end of this run).
            writes: dict[str, Any] = {}
            # The first round warms up (and checkpoints the seed's WAL on SQLite); not reported.
            for label in ("warm-up", "with triggers", "without"):
                if label == "without":
                    async with database.engine.begin() as conn:
                        for statement in DROP_TRIGGERS[config.backend]:
                            await conn.execute(text(statement))
                writes[label] = {
                    "solo create": await _writes(
                        client, requests, solo_auth, "POST", TASKS, {"project_id": solo_project}
                    ),
                    "solo edit": await _writes(
                        client, requests, solo_auth, "PATCH", f"{TASKS}/{solo_task}", {}
                    ),
                    "member create in a shared project": await _writes(
                        client, requests, member_auth, "POST", TASKS, {"project_id": project0}
                    ),
                    "member edit of a shared task": await _writes(
                        client, requests, member_auth, "PATCH", f"{TASKS}/{task_id}", {}
                    ),
                }
                say(f"writes, {label}: {writes[label]}")
            writes.pop("warm-up")
            writes["ratio"] = {
                k: round(v["p50_ms"] / writes["without"][k]["p50_ms"], 2)
                for k, v in writes["with triggers"].items()
            }
            out["writes"] = writes
        await database.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    print(
        json.dumps(
            asyncio.run(run(args.tasks, args.requests, args.postgres, args.explain)), indent=1
        )
    )


if __name__ == "__main__":
    main()
