"""What the load runs ask for: tokens, task ids and cursors, looked up in the seeded database."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import false, select, update

from benchmarks.common import (
    COMMON_WORD,
    LOAD_EMAIL,
    PASSWORD,
    RARE_WORD,
    SECRET_KEY,
    THROUGHPUT_SIZE,
    Spec,
    backend_dir,
    database_url,
    other_email,
    scale_email,
)
from benchmarks.load import Requests

API = "/api/v1"
UPDATE_TASKS = 2_000


@dataclass
class Plan:
    """Everything the scenarios need for one backend."""

    tokens: dict[str, str]  # email -> access token
    get_ids: list[str]  # tasks of the throughput user
    deep_cursors: dict[int, str]  # size -> cursor of the next-to-last page
    update_ids: list[tuple[str, int]]  # load user's tasks for PATCH, with their versions
    complete_ids: list[str]  # load user's other tasks, set pending before each complete run
    load_user: str
    login_emails: list[str]


def _engine(backend: str) -> Any:
    from doable.config import normalize_database_url
    from doable.db import create_engine

    return create_engine(normalize_database_url(database_url(backend), backend_dir(backend)))


def _signer() -> Any:
    from doable.auth.security import TokenSigner
    from doable.config import Settings

    # A day-long lifetime: the tokens are minted once and outlive a full run.
    settings = Settings(_env_file=None, SECRET_KEY=SECRET_KEY, ACCESS_TOKEN_MINUTES=1440)  # type: ignore[call-arg]
    return TokenSigner(SECRET_KEY.encode(), settings)


async def _build(backend: str, spec: Spec) -> Plan:
    from doable.auth.models import User
    from doable.tasks import cursor as cursors
    from doable.tasks.models import Task

    engine = _engine(backend)
    signer = _signer()
    rng = random.Random(spec.seed)
    now = datetime.now(UTC)
    try:
        async with engine.connect() as conn:
            users = {
                email: (uid, version)
                for uid, email, version in (
                    await conn.execute(select(User.id, User.email, User.token_version))
                ).all()
            }
            tokens = {
                email: signer.issue(uid, version, now)
                for email, (uid, version) in users.items()
                if not email.startswith("other-")
            }
            throughput_user = users[scale_email(THROUGHPUT_SIZE)][0]
            some = (
                await conn.execute(
                    select(Task.id).where(Task.owner_id == throughput_user).limit(5000)
                )
            ).scalars()
            get_ids = [str(t) for t in rng.sample(list(some), 1000)]
            deep: dict[int, str] = {}
            for size in spec.sizes:
                owner = users[scale_email(size)][0]
                row = (
                    await conn.execute(
                        select(Task.created_at, Task.id)
                        .where(Task.owner_id == owner)
                        .order_by(Task.created_at.desc(), Task.id.desc())
                        .offset(size - 101)  # setup only: the measured requests use the cursor
                        .limit(1)
                    )
                ).one()
                deep[size] = cursors.encode(
                    SECRET_KEY.encode(), cursors.CursorKey("created", "desc", row[0], row[1])
                )
            load_id = users[LOAD_EMAIL][0]
            load_rows = (
                await conn.execute(
                    select(Task.id, Task.version)
                    .where(Task.owner_id == load_id)
                    .order_by(Task.created_at)
                    .limit(spec.load_tasks)
                )
            ).all()
    finally:
        await engine.dispose()
    return Plan(
        tokens=tokens,
        get_ids=get_ids,
        deep_cursors=deep,
        update_ids=[(str(t), v) for t, v in load_rows[:UPDATE_TASKS]],
        complete_ids=[str(t) for t, _ in load_rows[UPDATE_TASKS:]],
        load_user=str(load_id),
        login_emails=[other_email(i) for i in range(spec.others)],
    )


def build(backend: str, spec: Spec) -> Plan:
    return asyncio.run(_build(backend, spec))


async def _versions(backend: str, ids: list[str]) -> dict[str, int]:
    from doable.tasks.models import Task

    engine = _engine(backend)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(Task.id, Task.version).where(Task.id.in_([uuid.UUID(i) for i in ids]))
                )
            ).all()
    finally:
        await engine.dispose()
    return {str(t): v for t, v in rows}


async def _reset_pending(backend: str, owner: str) -> None:
    from doable.tasks.models import Task

    engine = _engine(backend)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                update(Task)
                .where(Task.owner_id == uuid.UUID(owner))
                .values(completed=false(), completed_at=None)
            )
    finally:
        await engine.dispose()


def reset_pending(backend: str, plan: Plan) -> None:
    """Make the load user's tasks pending again, so every complete request is a real write."""
    asyncio.run(_reset_pending(backend, plan.load_user))


# Request files, one per scenario.


def _get(path: str) -> tuple[str, str, str, str]:
    return ("GET", path, "-", "-")


def floor() -> Requests:
    """`GET /healthz`: FastAPI, the middleware and the access log, with no token and no query."""
    return Requests("floor", [_get("/healthz")])


def list_first(plan: Plan, size: int = THROUGHPUT_SIZE) -> Requests:
    return Requests("list_first", [_get(f"{API}/tasks")], plan.tokens[scale_email(size)])


def list_deep(plan: Plan, size: int = THROUGHPUT_SIZE) -> Requests:
    path = f"{API}/tasks?cursor={plan.deep_cursors[size]}"
    return Requests("list_deep", [_get(path)], plan.tokens[scale_email(size)])


def get_one(plan: Plan) -> Requests:
    rows = [_get(f"{API}/tasks/{t}") for t in plan.get_ids]
    return Requests("get", rows, plan.tokens[scale_email(THROUGHPUT_SIZE)])


def filtered(plan: Plan, size: int = THROUGHPUT_SIZE) -> Requests:
    path = f"{API}/tasks?tag=work&status=pending"
    return Requests("tag_status", [_get(path)], plan.tokens[scale_email(size)])


def search(plan: Plan, size: int = THROUGHPUT_SIZE, word: str = RARE_WORD) -> Requests:
    name = "search" if word == RARE_WORD else "search_common"
    return Requests(name, [_get(f"{API}/tasks?q={word}")], plan.tokens[scale_email(size)])


def search_common(plan: Plan, size: int = THROUGHPUT_SIZE) -> Requests:
    return search(plan, size, COMMON_WORD)


CREATE_BODY = json.dumps(
    {
        "title": "Benchmark task",
        "description": "Created by the load generator",
        "priority": "medium",
        "due": "2030-01-01",
        "tags": ["work", "home"],
    },
    separators=(",", ":"),
)
PATCH_BODY = json.dumps({"title": "Renamed by the load generator", "priority": "high"})


def create(plan: Plan) -> Requests:
    return Requests("create", [("POST", f"{API}/tasks", "-", CREATE_BODY)], plan.tokens[LOAD_EMAIL])


def update_if_match(plan: Plan, versions: dict[str, int]) -> Requests:
    rows = [
        ("PATCH", f"{API}/tasks/{t}", f'"{versions[t]}"', PATCH_BODY) for t, _ in plan.update_ids
    ]
    return Requests("update", rows, plan.tokens[LOAD_EMAIL], track_etags=True)


def complete(plan: Plan) -> Requests:
    rows = [("POST", f"{API}/tasks/{t}/complete", "-", "-") for t in plan.complete_ids]
    return Requests("complete", rows, plan.tokens[LOAD_EMAIL])


def login(plan: Plan) -> Requests:
    rows = [
        ("POST", f"{API}/auth/login", "-", json.dumps({"email": e, "password": PASSWORD}))
        for e in plan.login_emails
    ]
    return Requests("login", rows)


def mixed_writes(plan: Plan) -> Requests:
    """Create, complete and PATCH (If-Match: *) in turn: 64 of these at once on one SQLite file."""
    rows: list[tuple[str, str, str, str]] = []
    for i, task in enumerate(plan.complete_ids):
        target = plan.update_ids[i % len(plan.update_ids)][0]
        rows += [
            ("POST", f"{API}/tasks", "-", CREATE_BODY),
            ("POST", f"{API}/tasks/{task}/complete", "-", "-"),
            ("PATCH", f"{API}/tasks/{target}", "*", PATCH_BODY),
        ]
    return Requests("writers", rows, plan.tokens[LOAD_EMAIL])


def versions(backend: str, plan: Plan) -> dict[str, int]:
    return asyncio.run(_versions(backend, [t for t, _ in plan.update_ids]))
