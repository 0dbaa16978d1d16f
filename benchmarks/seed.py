"""Seed a benchmark database with bulk SQL (not through HTTP), after `doable migrate`.

Every scale user holds one of `Spec.sizes` tasks; 100 other users hold data too, so each query
has to pick its owner's rows out of a shared table; one more user's tasks are changed by the
write scenarios.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.engine import make_url

from benchmarks.common import (
    COMMON_WORD,
    LOAD_EMAIL,
    PASSWORD,
    RARE_COUNT,
    RARE_WORD,
    SECRET_KEY,
    TAGS,
    Spec,
    backend_dir,
    database_url,
    doable_bin,
    other_email,
    scale_email,
)

NO_DUE = datetime(9999, 12, 31)
TASK_COLUMNS = (
    "id",
    "owner_id",
    "title",
    "description",
    "completed",
    "completed_at",
    "priority",
    "due_date",
    "due_at",
    "due_sort",
    "version",
    "created_at",
    "updated_at",
)
CHUNK = 20_000
# Syllables without z, q or x, so no generated word contains the search markers by chance.
_ONSETS = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "oo"]


def _vocabulary(rng: random.Random, n: int = 1500) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        words.add(
            "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.randint(1, 3)))
        )
    return sorted(words)


@dataclass
class Owner:
    id: uuid.UUID
    email: str
    tasks: int
    tag_ids: dict[str, uuid.UUID]


def owners(spec: Spec, rng: random.Random) -> list[Owner]:
    def make(email: str, tasks: int) -> Owner:
        return Owner(
            uuid.UUID(int=rng.getrandbits(128), version=4),
            email,
            tasks,
            {t: uuid.UUID(int=rng.getrandbits(128), version=4) for t in TAGS},
        )

    result = [make(scale_email(n), n) for n in spec.sizes]
    result.append(make(LOAD_EMAIL, spec.load_tasks))
    result += [make(other_email(i), spec.other_tasks) for i in range(spec.others)]
    return result


def task_rows(
    owner: Owner, rng: random.Random, words: list[str], now: datetime
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[uuid.UUID, uuid.UUID]]]]:
    """Chunks of (task rows, task-tag links) for one owner, oldest first, 2 years of history."""
    n = owner.tasks
    start = now - timedelta(days=730)
    step = timedelta(days=730) / n
    rare = {round((k + 0.5) * n / RARE_COUNT) for k in range(RARE_COUNT)}
    tag_names = list(owner.tag_ids)
    tasks: list[tuple[Any, ...]] = []
    links: list[tuple[uuid.UUID, uuid.UUID]] = []
    for i in range(n):
        task_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        created = start + step * i + timedelta(microseconds=rng.randint(1, 999))
        updated = created + timedelta(seconds=rng.randint(0, 86_400))
        title_words = rng.choices(words, k=rng.randint(3, 6))
        if i in rare:
            title_words.insert(1, RARE_WORD)
        title = " ".join(title_words).capitalize()
        description = ""
        if rng.random() < 0.5:
            desc_words = rng.choices(words, k=rng.randint(8, 20))
            if i % 100 == 37:
                desc_words.insert(3, COMMON_WORD)
            description = " ".join(desc_words).capitalize() + "."
        elif i % 100 == 37:
            description = f"Ask about the {COMMON_WORD}."
        completed = rng.random() < 0.3
        roll = rng.random()
        due_date, due_at, due_sort = None, None, NO_DUE
        if roll < 0.4:
            due_date = (created + timedelta(days=rng.randint(0, 60))).date()
            due_sort = datetime.combine(due_date, datetime.min.time())
        elif roll < 0.6:
            due_at = (created + timedelta(hours=rng.randint(1, 1000))).replace(microsecond=0)
            due_sort = due_at
        tasks.append(
            (
                task_id,
                owner.id,
                title[:200],
                description,
                completed,
                updated if completed else None,
                rng.randint(0, 4),
                due_date,
                due_at,
                due_sort,
                1,
                created,
                updated,
            )
        )
        # "work" on ~40 % of tasks, then 0-2 more tags.
        chosen = {"work"} if rng.random() < 0.4 else set()
        chosen.update(rng.sample(tag_names[1:], rng.randint(0, 2)))
        links += [(task_id, owner.tag_ids[name]) for name in sorted(chosen)]
        if len(tasks) >= CHUNK:
            yield tasks, links
            tasks, links = [], []
    if tasks:
        yield tasks, links


def password_hash() -> str:
    """One argon2id hash with Doable's default parameters, shared by every seeded user."""
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    from doable.config import Settings

    s = Settings(_env_file=None)  # type: ignore[call-arg]
    hasher = Argon2Hasher(
        time_cost=s.argon2_time_cost,
        memory_cost=s.argon2_memory_kib,
        parallelism=s.argon2_parallelism,
    )
    return PasswordHash((hasher,)).hash(PASSWORD)


# Writers: one per backend, each taking canonical rows (UUIDs, naive UTC datetimes, dates).


def _sqlite_dt(value: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DATETIME storage format: always six fractional digits.
    if value is None:
        return None
    return f"{value:%Y-%m-%d %H:%M:%S}.{value.microsecond:06d}"


class SqliteWriter:
    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("PRAGMA cache_size=-1000000")
        self.conn.execute("BEGIN")

    async def users(self, rows: list[tuple[Any, ...]]) -> None:
        self.conn.executemany(
            "INSERT INTO users (id, email, name, password_hash, timezone, token_version, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(r[0].hex, *r[1:6], _sqlite_dt(r[6]), _sqlite_dt(r[7])) for r in rows],
        )

    async def tags(self, rows: list[tuple[Any, ...]]) -> None:
        self.conn.executemany(
            "INSERT INTO tags (id, owner_id, name, name_key, color, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(r[0].hex, r[1].hex, *r[2:5], _sqlite_dt(r[5])) for r in rows],
        )

    async def tasks(self, rows: list[tuple[Any, ...]], links: list[tuple[Any, ...]]) -> None:
        self.conn.executemany(
            f"INSERT INTO tasks ({', '.join(TASK_COLUMNS)}) VALUES ({', '.join('?' * 13)})",
            [
                (
                    r[0].hex,
                    r[1].hex,
                    r[2],
                    r[3],
                    int(r[4]),
                    _sqlite_dt(r[5]),
                    r[6],
                    r[7].isoformat() if r[7] else None,
                    _sqlite_dt(r[8]),
                    _sqlite_dt(r[9]),
                    r[10],
                    _sqlite_dt(r[11]),
                    _sqlite_dt(r[12]),
                )
                for r in rows
            ],
        )
        self.conn.executemany(
            "INSERT INTO task_tags (task_id, tag_id) VALUES (?, ?)",
            [(a.hex, b.hex) for a, b in links],
        )

    async def close(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()


class PostgresWriter:
    """COPY through asyncpg: the fastest way in, and the types are native."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, url: str) -> PostgresWriter:
        import asyncpg

        u = make_url(url)
        conn = await asyncpg.connect(
            host=u.host, port=u.port, user=u.username, password=u.password, database=u.database
        )
        return cls(conn)

    async def users(self, rows: list[tuple[Any, ...]]) -> None:
        cols = [
            "id",
            "email",
            "name",
            "password_hash",
            "timezone",
            "token_version",
            "created_at",
            "updated_at",
        ]
        await self.conn.copy_records_to_table("users", records=rows, columns=cols)

    async def tags(self, rows: list[tuple[Any, ...]]) -> None:
        cols = ["id", "owner_id", "name", "name_key", "color", "created_at"]
        await self.conn.copy_records_to_table("tags", records=rows, columns=cols)

    async def tasks(self, rows: list[tuple[Any, ...]], links: list[tuple[Any, ...]]) -> None:
        await self.conn.copy_records_to_table("tasks", records=rows, columns=list(TASK_COLUMNS))
        await self.conn.copy_records_to_table(
            "task_tags", records=links, columns=["task_id", "tag_id"]
        )

    async def close(self) -> None:
        await self.conn.execute("ANALYZE")  # what autovacuum would have done by now
        await self.conn.close()


class MysqlWriter:
    """Multi-row INSERTs through asyncmy (its executemany batches VALUES lists)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, url: str) -> MysqlWriter:
        import asyncmy

        u = make_url(url)
        conn = await asyncmy.connect(
            host=u.host or "127.0.0.1",
            port=u.port or 3306,
            user=u.username or "root",
            password=u.password or "",
            database=u.database,
            charset="utf8mb4",
            autocommit=False,
        )
        async with conn.cursor() as cur:
            await cur.execute("SET unique_checks=0")
            await cur.execute("SET foreign_key_checks=0")
        return cls(conn)

    async def _many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        async with self.conn.cursor() as cur:
            for i in range(0, len(rows), 2000):
                await cur.executemany(sql, rows[i : i + 2000])
        await self.conn.commit()

    async def users(self, rows: list[tuple[Any, ...]]) -> None:
        await self._many(
            "INSERT INTO users (id, email, name, password_hash, timezone, token_version, "
            "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [(r[0].hex, *r[1:]) for r in rows],
        )

    async def tags(self, rows: list[tuple[Any, ...]]) -> None:
        await self._many(
            "INSERT INTO tags (id, owner_id, name, name_key, color, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [(r[0].hex, r[1].hex, *r[2:]) for r in rows],
        )

    async def tasks(self, rows: list[tuple[Any, ...]], links: list[tuple[Any, ...]]) -> None:
        await self._many(
            f"INSERT INTO tasks ({', '.join(TASK_COLUMNS)}) VALUES ({', '.join(['%s'] * 13)})",
            [(r[0].hex, r[1].hex, *r[2:]) for r in rows],
        )
        await self._many(
            "INSERT INTO task_tags (task_id, tag_id) VALUES (%s, %s)",
            [(a.hex, b.hex) for a, b in links],
        )

    async def close(self) -> None:
        async with self.conn.cursor() as cur:
            await cur.execute("SET unique_checks=1")
            await cur.execute("SET foreign_key_checks=1")
        self.conn.close()


# Schema


def _drop_tables(backend: str, url: str) -> None:
    """Empty the benchmark database so `doable migrate` builds the schema from nothing."""
    if backend == "sqlite":
        path = make_url(url).database or ""
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        return

    async def drop() -> None:
        from sqlalchemy import inspect, text

        from doable.config import normalize_database_url
        from doable.db import create_engine

        engine = create_engine(normalize_database_url(url, backend_dir(backend)))

        def _drop(sync_conn: Any) -> None:
            names = inspect(sync_conn).get_table_names()
            if backend == "mariadb":
                sync_conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
                for name in names:
                    sync_conn.execute(text(f"DROP TABLE IF EXISTS `{name}`"))
            else:
                for name in names:
                    sync_conn.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))

        async with engine.begin() as conn:
            await conn.run_sync(_drop)
        await engine.dispose()

    asyncio.run(drop())


def migrate(backend: str, url: str) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET_KEY,
        "DOABLE_DATA_DIR": str(backend_dir(backend) / "data"),
    }
    subprocess.run([str(doable_bin()), "migrate"], env=env, check=True, capture_output=True)


def saved_spec(backend: str) -> Spec | None:
    marker = backend_dir(backend) / "seed.json"
    if not marker.exists():
        return None
    saved = json.loads(marker.read_text())
    if saved.get("url") != database_url(backend):
        return None
    values = saved["spec"]
    return Spec(**{**values, "sizes": tuple(values["sizes"])})


def is_seeded(backend: str, spec: Spec) -> bool:
    return saved_spec(backend) == spec


async def _fill(backend: str, url: str, spec: Spec) -> dict[str, Any]:
    rng = random.Random(spec.seed)
    words = _vocabulary(rng)
    now = datetime.now(UTC).replace(tzinfo=None)
    people = owners(spec, rng)
    hashed = password_hash()
    writer: Any
    if backend == "sqlite":
        writer = SqliteWriter(make_url(url).database or "")
    elif backend == "postgresql":
        writer = await PostgresWriter.connect(url)
    else:
        writer = await MysqlWriter.connect(url)
    await writer.users(
        [(o.id, o.email, "", hashed, "UTC", 0, now, now) for o in people],
    )
    await writer.tags(
        [(tid, o.id, name, name, None, now) for o in people for name, tid in o.tag_ids.items()]
    )
    total = sum(o.tasks for o in people)
    columns = (
        TextColumn(f"seeding {backend}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns) as progress:
        bar = progress.add_task("tasks", total=total)
        for owner in people:
            for rows, links in task_rows(owner, rng, words, now):
                await writer.tasks(rows, links)
                progress.advance(bar, len(rows))
    await writer.close()
    return {"users": len(people), "tasks": total}


def seed(backend: str, spec: Spec, *, force: bool = False) -> bool:
    """Build and fill the database unless it already holds this spec. True if it seeded."""
    if not force and is_seeded(backend, spec):
        return False
    url = database_url(backend)
    marker = backend_dir(backend) / "seed.json"
    marker.unlink(missing_ok=True)
    _drop_tables(backend, url)
    migrate(backend, url)
    started = datetime.now(UTC)
    counts = asyncio.run(_fill(backend, url, spec))
    seconds = (datetime.now(UTC) - started).total_seconds()
    marker.write_text(
        json.dumps(
            {"spec": spec.asdict(), "url": url, "seconds": round(seconds, 1), **counts}, indent=2
        )
    )
    return True
