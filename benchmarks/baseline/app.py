"""The ceiling for Doable's list and get requests: bare Starlette, the same driver and SQL.

It decodes the JWT with the same call as Doable (doable.auth.hs256, remembered until its exp),
runs the statements Doable emits (the user, then the task page and the tags of those tasks, or
one task joined with its tags; in autocommit on SQLite and PostgreSQL, in one transaction on
MariaDB, as Doable runs a GET) straight on the driver, and answers the same JSON, byte for byte
(tests/test_bench_baseline.py). Only for users nothing is shared with (the seeded ones): for a
member of shared projects Doable runs other statements, and the baseline answers 501. There
is no FastAPI, no ORM, no validation and no middleware. Configured by the environment:
BASELINE_BACKEND (sqlite, postgresql, mariadb), BASELINE_DSN, SECRET_KEY.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from doable.auth import hs256

PRIORITY_NAMES = {0: "none", 1: "low", 2: "medium", 3: "high", 4: "urgent"}
# The statements below are Doable's as its dialects print them (tasks/service.py `_ONE_TASK`,
# tasks/listing.py `list_tasks` and `_TAG_NAMES`, the user of auth/service.py); a driver fills
# the dialect's words: {true}, {hint} (SQLite's index hint for the subtask counts), {position}
# (a reserved word on MariaDB), {join} and {limit}.
USER_SQL = (
    "SELECT EXISTS (SELECT * \nFROM webhook_endpoints \n"
    "WHERE webhook_endpoints.owner_id = users.id) AS anon_1, users.id, users.email, users.name, "
    "users.password_hash, users.timezone, users.token_version, users.shared_projects, "
    "users.preferences, users.is_admin, users.disabled_at, users.created_at, users.updated_at "
    "\nFROM users \nWHERE users.id = {u}"
)
USER_VERSION, USER_SHARED, USER_DISABLED = 6, 7, 10  # columns of USER_SQL's row
TASK_SELECT = (
    "SELECT tasks.id, tasks.title, tasks.description, tasks.completed, tasks.completed_at, "
    "tasks.priority, tasks.due_date, tasks.due_at, tasks.due_sort, tasks.rrule, "
    "tasks.recurrence_mode, tasks.version, tasks.created_at, tasks.updated_at, "
    "tasks.project_id, tasks.section_id, tasks.parent_id, tasks.{position}, tasks.assignee_id, "
    # Direct subtasks, in all and done (tasks/tree.py PROGRESS_COLUMNS).
    "(SELECT count(*) AS count_1 \nFROM tasks AS child{hint} \n"
    "WHERE child.parent_id = tasks.id AND child.import_batch_id IS NULL) AS subtasks_total, "
    "(SELECT count(*) AS count_2 \nFROM tasks AS child{hint} \n"
    "WHERE child.parent_id = tasks.id AND child.import_batch_id IS NULL "
    "AND child.completed IS {true}) AS subtasks_done"
)
PAGE_SQL = TASK_SELECT + (
    " \nFROM tasks \nWHERE tasks.owner_id = {u} AND tasks.import_batch_id IS NULL AND "
    "(tasks.project_id NOT IN (SELECT projects.id \nFROM projects \n"
    "WHERE projects.owner_id = {u} AND projects.archived IS {true})){keyset} "
    "ORDER BY tasks.created_at DESC, tasks.id DESC{limit}"
)
KEYSET_SQL = (
    " AND tasks.created_at <= {t}"
    " AND (tasks.created_at < {t} OR tasks.created_at = {t} AND tasks.id < {u})"
)
# One task and its tag names in one statement, a row per tag (as Doable reads it).
ONE_SQL = TASK_SELECT + (
    ", tags.name \nFROM tasks LEFT OUTER JOIN task_tags ON task_tags.task_id = tasks.id "
    "LEFT OUTER JOIN tags ON tags.id = task_tags.tag_id \n"
    "WHERE tasks.import_batch_id IS NULL AND tasks.owner_id = {u} AND tasks.id = {u} "
    "ORDER BY tags.name_key"
)
TAGS_SQL = (
    "SELECT task_tags.task_id, tags.name \n"
    "FROM task_tags {join} tags ON tags.id = task_tags.tag_id \n"
    "WHERE task_tags.task_id IN ({ids}) ORDER BY tags.name_key"
)
# Columns of a task row (PAGE_SQL's, ONE_SQL's before its tag name).
CREATED, VERSION, PROGRESS = 12, 11, 19


class Driver:
    """Placeholders, the dialect's words, id and datetime conversions, and the reads of one
    request."""

    # The words the dialect prints differently (see the statements above).
    words = {
        "true": "true",
        "hint": "",
        "position": "position",
        "join": "JOIN",
        "limit": " \n LIMIT {i}",
    }
    # Parameters after the page's limit (SQLite's OFFSET 0).
    after_limit: tuple[Any, ...] = ()

    def param(self, n: int, kind: str) -> str:
        return "?"

    def sql(self, template: str, *, keyset: bool = False, ids: int = 0) -> str:
        """Fill placeholders: {u} a uuid, {i} an integer, {t} a timestamp."""
        text = template.replace("{keyset}", KEYSET_SQL if keyset else "")
        for word, value in self.words.items():
            text = text.replace("{" + word + "}", value)
        text = text.replace("{ids}", ", ".join(["{u}"] * ids))
        parts = re.split(r"\{([uit])\}", text)
        out = [parts[0]]
        for n, i in enumerate(range(1, len(parts), 2), start=1):
            out += [self.param(n, parts[i]), parts[i + 1]]
        return "".join(out)

    def bind_id(self, value: uuid.UUID) -> Any:
        return value.hex

    def read_id(self, value: Any) -> uuid.UUID:
        return uuid.UUID(hex=value) if isinstance(value, str) else value  # type: ignore[no-any-return]

    def bind_dt(self, value: datetime) -> Any:
        return value

    def read_dt(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.isoformat() + "Z"  # type: ignore[no-any-return]

    def read_date(self, value: Any) -> str | None:
        if value is None:
            return None
        return value if isinstance(value, str) else value.isoformat()  # type: ignore[no-any-return]

    def transaction(self) -> Any:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class SqliteDriver(Driver):
    """aiosqlite, five connections with Doable's pragmas; reads run in autocommit, as Doable's
    GETs do, each statement in one trip to aiosqlite's thread (`execute_fetchall`)."""

    words = {
        **Driver.words,
        "true": "1",
        "hint": " INDEXED BY ix_tasks_parent_position",
        "limit": "\n LIMIT {i} OFFSET {i}",
    }
    after_limit = (0,)

    def __init__(self, path: str, size: int = 5) -> None:
        self.path, self.size = path, size
        self.pool: asyncio.Queue[Any] = asyncio.Queue()

    async def open(self) -> None:
        import aiosqlite

        for _ in range(self.size):
            conn = await aiosqlite.connect(self.path, isolation_level=None)
            for pragma in (
                "journal_mode=WAL",
                "foreign_keys=ON",
                "busy_timeout=10000",
                "synchronous=NORMAL",
            ):
                await conn.execute(f"PRAGMA {pragma}")
            self.pool.put_nowait(conn)

    def bind_dt(self, value: datetime) -> Any:
        return f"{value:%Y-%m-%d %H:%M:%S}.{value.microsecond:06d}"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        conn = await self.pool.get()
        try:

            async def fetch(sql: str, *args: Any) -> Sequence[Any]:
                return list(await conn.execute_fetchall(sql, args))

            yield fetch
        finally:
            self.pool.put_nowait(conn)

    async def close(self) -> None:
        while not self.pool.empty():
            await self.pool.get_nowait().close()


class PostgresDriver(Driver):
    """asyncpg pool; native uuid and timestamp types, statements prepared and cached; reads
    run in autocommit, as Doable's GETs do."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.pool: Any = None

    CASTS = {"u": "UUID", "i": "INTEGER", "t": "TIMESTAMP WITHOUT TIME ZONE"}

    def param(self, n: int, kind: str) -> str:
        # Doable's asyncpg dialect casts every parameter the same way.
        return f"${n}::{self.CASTS[kind]}"

    def bind_id(self, value: uuid.UUID) -> Any:
        return value

    async def open(self) -> None:
        import asyncpg

        self.pool = await asyncpg.create_pool(self.dsn, min_size=5, max_size=15)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        async with self.pool.acquire() as conn:

            async def fetch(sql: str, *args: Any) -> Sequence[Any]:
                return list(await conn.fetch(sql, *args))

            yield fetch

    async def close(self) -> None:
        await self.pool.close()


class MysqlDriver(Driver):
    """asyncmy pool; ids are CHAR(32) hex, as Doable's Uuid type stores them there; reads run in
    one transaction, as Doable's GETs do on MariaDB."""

    words = {**Driver.words, "position": "`position`", "join": "INNER JOIN"}

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.pool: Any = None

    def param(self, n: int, kind: str) -> str:
        return "%s"

    async def open(self) -> None:
        import asyncmy

        u = urlsplit(self.dsn)
        self.pool = await asyncmy.create_pool(
            host=u.hostname or "127.0.0.1",
            port=u.port or 3306,
            user=unquote(u.username or "root"),
            password=unquote(u.password or ""),
            db=u.path.lstrip("/"),
            charset="utf8mb4",
            autocommit=False,
            minsize=5,
            maxsize=15,
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        async with self.pool.acquire() as conn:

            async def fetch(sql: str, *args: Any) -> Sequence[Any]:
                async with conn.cursor() as cursor:
                    await cursor.execute(sql, args)
                    return list(await cursor.fetchall())

            try:
                yield fetch
                await conn.commit()
            except BaseException:
                await conn.rollback()
                raise

    async def close(self) -> None:
        self.pool.close()
        await self.pool.wait_closed()


# Cursors: the same format and signature as doable.tasks.cursor, re-implemented here.


def _sign(key: bytes, payload: bytes) -> str:
    digest = hmac.new(key, b"cursor:" + payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def encode_cursor(key: bytes, created_at: datetime, task_id: uuid.UUID) -> str:
    payload = json.dumps(
        ["created", "desc", created_at.isoformat() + "+00:00", task_id.hex], separators=(",", ":")
    ).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + _sign(key, payload)


def decode_cursor(key: bytes, text: str) -> tuple[datetime, uuid.UUID] | None:
    try:
        body, sig = text.split(".", 1)
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        if not hmac.compare_digest(sig, _sign(key, payload)):
            return None
        _sort, _order, value, id_hex = json.loads(payload)
        return datetime.fromisoformat(value).replace(tzinfo=None), uuid.UUID(hex=id_hex)
    except (ValueError, TypeError):
        return None


def problem(status: int, title: str) -> Response:
    return JSONResponse(
        {"title": title, "status": status}, status, media_type="application/problem+json"
    )


def create_app() -> Starlette:
    backend = os.environ["BASELINE_BACKEND"]
    dsn = os.environ["BASELINE_DSN"]
    key = os.environ["SECRET_KEY"].encode()
    issuer = os.environ.get("JWT_ISSUER", "doable")
    audience = os.environ.get("JWT_AUDIENCE", "doable-api")
    db: Any = {
        "sqlite": SqliteDriver,
        "postgresql": PostgresDriver,
        "mariadb": MysqlDriver,
    }[backend](dsn)
    user_sql = db.sql(USER_SQL)
    one_sql = db.sql(ONE_SQL)
    page_sql = db.sql(PAGE_SQL)
    keyset_sql = db.sql(PAGE_SQL, keyset=True)
    tags_sql: dict[int, str] = {}

    # Verified tokens until their exp, as Doable's TokenSigner remembers them.
    verified: dict[str, tuple[tuple[uuid.UUID, int], float]] = {}

    def claims_user(request: Request) -> tuple[uuid.UUID, int] | None:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        remembered = verified.get(token)
        if remembered is not None and time.time() < remembered[1]:
            return remembered[0]
        try:
            now = time.time()
            claims = hs256.decode(
                token,
                key,
                now=now,
                leeway=5,
                require=["exp", "iat", "sub", "iss", "aud"],
                issuer=issuer,
                audience=audience,
            )
            if claims.get("typ") != "access" or int(claims["exp"]) <= now - 5:
                return None
            found = uuid.UUID(str(claims["sub"])), int(claims.get("ver", -1))
            verified[token] = (found, float(claims["exp"]))
            return found
        except (ValueError, TypeError):
            return None

    async def load_user(fetch: Any, claims: tuple[uuid.UUID, int]) -> Any:
        rows = await fetch(user_sql, db.bind_id(claims[0]))
        if not rows or rows[0][USER_VERSION] != claims[1] or rows[0][USER_DISABLED] is not None:
            return None
        return rows[0]

    def shared(user: Any) -> Response | None:
        """Doable reads other statements for a member of shared projects (their own tasks
        merged with `task_views`); the seeded users are not, and the baseline does not try."""
        if user[USER_SHARED]:
            return problem(501, "The baseline serves only users nothing is shared with")
        return None

    async def with_tags(fetch: Any, rows: Sequence[Any]) -> list[dict[str, Any]]:
        if not rows:
            return []
        n = len(rows)
        if n not in tags_sql:
            tags_sql[n] = db.sql(TAGS_SQL, ids=n)
        links = await fetch(tags_sql[n], *[row[0] for row in rows])
        names: dict[Any, list[str]] = {}
        for link in links:
            names.setdefault(link[0], []).append(link[1])
        return [task_json(row, names.get(row[0], [])) for row in rows]

    def some_id(value: Any) -> str | None:
        return None if value is None else str(db.read_id(value))

    def task_json(row: Sequence[Any], tags: list[str]) -> dict[str, Any]:
        """Doable's TaskOut, its fields in its order."""
        due: str | None = db.read_date(row[6])
        if row[7] is not None:
            due = db.read_dt(row[7])
        return {
            "id": str(db.read_id(row[0])),
            "title": row[1],
            "description": row[2],
            "completed": bool(row[3]),
            "completed_at": db.read_dt(row[4]),
            "priority": PRIORITY_NAMES.get(row[5], "none"),
            "due": due,
            "tags": tags,
            # The seeded tasks do not repeat; Doable would also describe the rule in words.
            "recurrence": None if row[9] is None else {"rule": row[9], "mode": row[10]},
            "created_at": db.read_dt(row[CREATED]),
            "updated_at": db.read_dt(row[13]),
            "project_id": some_id(row[14]),
            "section_id": some_id(row[15]),
            "parent_id": some_id(row[16]),
            "position": row[17],
            "subtasks": {"done": int(row[PROGRESS + 1] or 0), "total": int(row[PROGRESS] or 0)},
            "assignee_id": some_id(row[18]),
        }

    async def list_tasks(request: Request) -> Response:
        claims = claims_user(request)
        if claims is None:
            return problem(401, "Unauthorized")
        limit = int(request.query_params.get("limit", "50"))
        cursor_text = request.query_params.get("cursor")
        keyset = decode_cursor(key, cursor_text) if cursor_text else None
        if cursor_text and keyset is None:
            return problem(422, "Invalid cursor")
        async with db.transaction() as fetch:
            user = await load_user(fetch, claims)
            if user is None:
                return problem(401, "Unauthorized")
            if (refused := shared(user)) is not None:
                return refused
            owner = db.bind_id(claims[0])
            if keyset is None:
                rows = await fetch(page_sql, owner, owner, limit + 1, *db.after_limit)
            else:
                when, last_id = db.bind_dt(keyset[0]), db.bind_id(keyset[1])
                rows = await fetch(
                    keyset_sql, owner, owner, when, when, when, last_id, limit + 1, *db.after_limit
                )
            items = await with_tags(fetch, rows)
        next_cursor = None
        if len(rows) > limit:
            items, last = items[:limit], rows[limit - 1]
            created = last[CREATED]
            if isinstance(created, str):
                created = datetime.fromisoformat(created)
            next_cursor = encode_cursor(key, created, db.read_id(last[0]))
        return JSONResponse({"items": items, "next_cursor": next_cursor})

    async def get_task(request: Request) -> Response:
        claims = claims_user(request)
        if claims is None:
            return problem(401, "Unauthorized")
        try:
            task_id = uuid.UUID(request.path_params["task_id"])
        except ValueError:
            return problem(422, "Invalid id")
        async with db.transaction() as fetch:
            user = await load_user(fetch, claims)
            if user is None:
                return problem(401, "Unauthorized")
            if (refused := shared(user)) is not None:
                return refused
            rows = await fetch(one_sql, db.bind_id(claims[0]), db.bind_id(task_id))
        if not rows:
            return problem(404, "Not found")
        tag = PROGRESS + 2
        item = task_json(rows[0], [row[tag] for row in rows if row[tag] is not None])
        return JSONResponse(item, headers={"ETag": f'"{rows[0][VERSION]}"'})

    async def readyz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await db.open()
        yield
        await db.close()

    return Starlette(
        routes=[
            Route("/api/v1/tasks", list_tasks),
            Route("/api/v1/tasks/{task_id}", get_task),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )
