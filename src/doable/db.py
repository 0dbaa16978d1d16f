"""Engines, sessions, the per-request unit of work, SQLite pragmas and shared column types."""

# No `from __future__ import annotations`: FastAPI reads the signatures of this module's
# dependencies once for every route that uses them, and evaluates string annotations anew each
# time (thousands of evals at startup).
import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import (
    DateTime,
    Executable,
    LargeBinary,
    MetaData,
    Select,
    String,
    Text,
    bindparam,
    event,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import Dialect, Row
from sqlalchemy.exc import DisconnectionError, InvalidatePoolError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, ORMExecuteState, Session
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_

from doable import sqlite_driver
from doable.config import DatabaseConfig
from doable.errors import DoableError, PreconditionFailed, ServiceUnavailable

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The models carry no MySQL table options (InnoDB, utf8mb4): the migrations make every table
# with them, and naming any `mysql_` option in a model loads MySQL's dialect into every server
# (docs/performance.md, round 14).

SQLITE_BUSY_TIMEOUT_MS = 10_000


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC (microsecond precision everywhere), returns aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in {"mysql", "mariadb"}:
            from sqlalchemy.dialects import mysql  # loaded already, on MySQL (see _OnMySQL)

            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=False))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            if self.load_dialect_impl(dialect).result_processor(dialect, coltype) is not None:
                return super().result_processor(dialect, coltype)

            # The driver hands back a naive datetime: made aware in one call per value, not
            # two (TypeDecorator's processor calls `process_result_value` for each).
            def aware(value: datetime | None) -> datetime | None:
                return None if value is None else value.replace(tzinfo=UTC)

            return aware

        # SQLite keeps the text "YYYY-MM-DD HH:MM:SS.ffffff". Parsed in one step to an aware
        # datetime it costs a sixth of the stock two (SQLAlchemy's parse, then `replace`), and
        # a page of tasks reads 250 of them.
        def parse_utc(value: str | None) -> datetime | None:
            return None if value is None else datetime.fromisoformat(value + "+00:00")

        return parse_utc


class _OnMySQL(TypeDecorator[Any]):
    """`impl` on SQLite and PostgreSQL, and on MySQL and MariaDB the type `on_mysql` makes,
    from a dialect imported only there: `with_variant(mysql.…)` in a model would load MySQL's
    dialect, and its eight drivers' modules, into every SQLite and PostgreSQL server (1.5 MB
    of its idle memory; docs/performance.md, round 14). Values pass through as `impl`'s do.
    SQLAlchemy reads `cache_ok` from each class's own body, so every subclass sets it."""

    cache_ok = True

    def on_mysql(self) -> Any:
        raise NotImplementedError

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        # The types themselves, as TypeDecorator's own answer is: SQLAlchemy adapts them to the
        # dialect afterwards (`dialect.type_descriptor` here would turn PostgreSQL's TEXT into
        # VARCHAR).
        if dialect.name in {"mysql", "mariadb"}:
            return self.on_mysql()
        return self.impl_instance


class KeyString(_OnMySQL):
    """A string column compared byte-for-byte (binary collation on MySQL), for unique keys."""

    impl = String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length

    def on_mysql(self) -> Any:
        from sqlalchemy.dialects import mysql

        return mysql.VARCHAR(self.length, charset="utf8mb4", collation="utf8mb4_bin")


class MediumText(_OnMySQL):
    """Text, as MEDIUMTEXT (16 MB) on MySQL, whose TEXT holds 64 KB."""

    impl = Text
    cache_ok = True

    def on_mysql(self) -> Any:
        from sqlalchemy.dialects import mysql

        return mysql.MEDIUMTEXT()


class MediumBlob(_OnMySQL):
    """Bytes, as MEDIUMBLOB (16 MB) on MySQL, whose BLOB holds 64 KB."""

    impl = LargeBinary
    cache_ok = True

    def on_mysql(self) -> Any:
        from sqlalchemy.dialects import mysql

        return mysql.MEDIUMBLOB()


def key_string(length: int) -> Any:
    """A string column compared byte-for-byte (binary collation on MySQL), for unique keys."""
    return KeyString(length)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def _sqlite_from_hint(_compiler: Any, _table: Any, text: str | None) -> str | None:
    if text and text.startswith(("INDEXED BY ", "NOT INDEXED")):
        return text
    return None  # another dialect's hint given for every dialect: not SQLite's to render


# SQLAlchemy's SQLite compiler drops FROM hints; render them as written, so a query can say
# `INDEXED BY` where SQLite's planner would otherwise pick a scan (tasks/tree.py).
SQLiteCompiler.get_from_hint_text = _sqlite_from_hint  # type: ignore[method-assign,assignment]


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy's begin event own transaction control (pysqlite's own is broken for this).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    # Writers take the write lock up front, so concurrent writers wait (busy_timeout)
    # instead of failing with "database is locked" when a read upgrades to a write.
    options = conn.get_execution_options()
    mode = options.get("sqlite_begin", "DEFERRED")
    if mode is None:
        return  # autocommit: each statement is its own transaction (Database.request_reads)
    gate: asyncio.Lock | None = options.get("sqlite_write_gate")
    if gate is not None:
        # Writers of this process queue here in arrival order. Left to SQLite's busy handler,
        # which polls, an unlucky writer can lose every poll under load until its busy timeout
        # runs out ("database is locked", a 500).
        try:
            await_(asyncio.wait_for(gate.acquire(), SQLITE_BUSY_TIMEOUT_MS / 1000))
        except TimeoutError:
            raise ServiceUnavailable(
                "The database is busy; try again shortly.", headers={"Retry-After": "5"}
            ) from None
        conn.info[_GATE] = gate
    # Sent with the transaction's first statement, in the same trip to aiosqlite's thread
    # (sqlite_driver). A BEGIN that fails there ends in a rollback, which opens the gate.
    conn.connection.dbapi_connection.begin(mode)


_GATE = "doable_sqlite_write_gate"


def _open_gate(info: dict[str, Any]) -> None:
    gate = info.pop(_GATE, None)
    if gate is not None:
        gate.release()


def _sqlite_on_end(conn: Any) -> None:
    # Fired as COMMIT or ROLLBACK is sent; the next writer's BEGIN IMMEDIATE waits out the
    # rest of it in the busy handler, which is short. An invalidated connection (its query
    # was cancelled) has no info to read: its gate was opened by _sqlite_on_invalidate.
    if not conn.invalidated:
        _open_gate(conn.info)


def _sqlite_on_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    # A connection back in the pool (or thrown away) never keeps the gate.
    _open_gate(record.info)


def _sqlite_on_invalidate(
    _dbapi_connection: Any, record: ConnectionPoolEntry, _exception: BaseException | None
) -> None:
    # A connection thrown away (a cancelled query, a dropped client) never keeps the gate.
    _open_gate(record.info)


def _sqlite_on_reset(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
    # The pool's rollback when a connection comes back, only when a transaction is still open:
    # after a commit there is nothing to undo, and each call costs a trip to aiosqlite's thread.
    if not state.asyncio_safe or state.terminate_only:
        return
    if (
        dbapi_connection.pending_begin is not None
        or dbapi_connection.driver_connection.in_transaction
    ):
        dbapi_connection.rollback()


@dataclass(frozen=True)
class Timeouts:
    """How long a request may wait on the database before it is answered 503 instead.

    `pool_s`: for a pooled connection. `statement_ms` and `lock_ms` (0: none), PostgreSQL and
    MariaDB only: for one statement, and for a row lock. Migrations run without them."""

    pool_s: float = 30.0
    statement_ms: int = 0
    lock_ms: int = 0


def _timeout_settings(config: DatabaseConfig, timeouts: Timeouts) -> None:
    args = config.connect_args
    if config.backend == "postgresql":
        # Startup parameters: no round trip per connection. PgBouncer must be told to ignore
        # them (docs/operations.md, PgBouncer), and the role then carries them.
        settings = {
            "statement_timeout": str(timeouts.statement_ms),
            "lock_timeout": str(timeouts.lock_ms),
        }
        args["server_settings"] = {
            "application_name": "doable",
            **settings,
            **args.get("server_settings", {}),
        }
    elif config.backend == "mysql":
        # MariaDB's max_statement_time is in seconds (fractions allowed); its lock wait in
        # whole seconds, at least 1 (its ceiling is a year).
        lock_s = max(1, -(-timeouts.lock_ms // 1000)) if timeouts.lock_ms else 31_536_000
        args["init_command"] = (
            f"SET SESSION max_statement_time = {timeouts.statement_ms / 1000:g}, "
            f"innodb_lock_wait_timeout = {lock_s}"
        )


def create_engine(
    config: DatabaseConfig, *, pool_size: int = 5, timeouts: Timeouts | None = None
) -> AsyncEngine:
    """Build the async engine for a normalised database target."""
    # An error's text never carries the values bound to its statement: they hold users' text,
    # password hashes and token hashes, and errors end up in logs.
    timeouts = timeouts or Timeouts()
    kwargs: dict[str, Any] = {
        "connect_args": dict(config.connect_args),
        "hide_parameters": True,
        "pool_timeout": timeouts.pool_s,
    }
    if timeouts.statement_ms or timeouts.lock_ms:
        config = DatabaseConfig(
            config.url, kwargs["connect_args"], transaction_pooler=config.transaction_pooler
        )
        _timeout_settings(config, timeouts)
    if config.backend == "sqlite":
        kwargs["connect_args"].setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        kwargs["pool_reset_on_return"] = None  # _sqlite_on_reset does it
        kwargs["module"] = sqlite_driver.dbapi()
    else:
        # Up to three times DB_POOL_SIZE connections, each kept once opened (the admission
        # control lets that many requests work at once). With an overflow above a smaller
        # pool, a connection came back to a full pool and was closed whenever the number at
        # work dipped, and opened again a moment later: at 32 clients about one request in
        # ten paid for a new connection (its TCP and TLS handshakes, the sign-in and the
        # driver's type introspection), on both sides.
        kwargs.update(pool_size=pool_size * 3, max_overflow=0, pool_recycle=1800)
    if config.backend == "postgresql":
        kwargs["connect_args"].setdefault("timeout", 10)
        kwargs["connect_args"].setdefault("server_settings", {"application_name": "doable"})
    if config.backend == "mysql":
        kwargs["connect_args"].setdefault("connect_timeout", 10)
    engine = create_async_engine(config.url, **kwargs)
    if config.backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
        event.listen(engine.sync_engine, "commit", _sqlite_on_end)
        event.listen(engine.sync_engine, "rollback", _sqlite_on_end)
        event.listen(engine.sync_engine.pool, "checkin", _sqlite_on_checkin)
        event.listen(engine.sync_engine.pool, "invalidate", _sqlite_on_invalidate)
        event.listen(engine.sync_engine.pool, "reset", _sqlite_on_reset)
    else:
        if config.backend == "postgresql":
            event.listen(engine.sync_engine, "connect", _postgresql_on_connect)
        event.listen(engine.sync_engine.pool, "checkin", _note_idle_since)
        event.listen(engine.sync_engine.pool, "checkout", _pinger(engine.sync_engine.dialect))
    return engine


# A pooled connection idle this long is pinged before use. SQLAlchemy's pool_pre_ping pings on
# every checkout, which on PostgreSQL is three round trips (BEGIN, ";", ROLLBACK): more than
# the GET it guards. A connection in steady use needs none: if the server went away under it,
# the statement fails as a disconnect, SQLAlchemy renews the whole pool, and that request
# gets a 503 like any other while the database is unreachable.
PING_AFTER_IDLE_SECONDS = 5.0
_IDLE_SINCE = "doable_idle_since"


def _note_idle_since(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _postgresql_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    """No JIT compilation: PostgreSQL compiles a statement whose estimated cost passes
    `jit_above_cost`, and for this app's statements that costs more than it saves. The sidebar's
    counts at 10,000 tasks ran in 7 ms without it and 58 ms with it, 30 ms of which compiling,
    on every page (docs/performance.md, round 12). Set once per connection by a plain SET, not
    as a startup parameter, which PgBouncer would refuse unless told to ignore it."""
    dbapi_connection.run_async(lambda connection: connection.execute("SET jit = off"))


# In a pooled PostgreSQL connection's info while a read has custom plans forced on it
# (`read_rows`): a request that went away before the reset leaves it set, and the next checkout
# discards that connection rather than have every later statement on it planned anew.
_CUSTOM_PLANS = "doable.custom_plans"


def _pinger(dialect: Dialect) -> Any:
    def ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        if record.info.pop(_CUSTOM_PLANS, False):
            raise DisconnectionError()  # the pool closes it and checks out another
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return  # new, or in steady use
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool renews every connection from before now and retries the checkout.
            raise InvalidatePoolError() from error

    return ping_if_idle


TASK_QUOTA = "doable.task_quota"  # key in a write session's info
TRASH_DAYS = "doable.trash_days"  # likewise: how long the trash keeps what was deleted
DEFAULT_TRASH_DAYS = 30
# Likewise: what hands the ids of notifications a transaction wrote to this process's sender
# (notify/delivery.py), once it commits; absent while nothing sends them.
ON_NOTIFIED = "doable.on_notified"
# Who the session acts for (a user's id), set by the authenticating dependencies and the MCP
# tool runner: the activity log (activity/recorder.py) and the trash record it.
ACTOR = "doable.actor"


def set_actor(session: AsyncSession | Session, user_id: uuid.UUID) -> None:
    session.info[ACTOR] = user_id


def actor_of(session: AsyncSession | Session) -> uuid.UUID | None:
    found = session.info.get(ACTOR)
    return found if isinstance(found, uuid.UUID) else None


class Database:
    """Owns the engine and the session factories: reads, writes, and the reads of a request."""

    def __init__(
        self, config: DatabaseConfig, *, pool_size: int = 5, timeouts: Timeouts | None = None
    ) -> None:
        self.config = config
        self.engine = create_engine(config, pool_size=pool_size, timeouts=timeouts)
        write_engine = self.engine
        if config.backend == "mysql":
            # Writes read what was committed before each statement, as on PostgreSQL. Under
            # MariaDB's default REPEATABLE READ, a read after waiting for a lock still sees the
            # snapshot of the request's first read, from before the wait: two clients moving
            # tasks in one list (each after the project's row lock) picked the same position.
            write_engine = self.engine.execution_options(isolation_level="READ COMMITTED")
        if config.backend == "sqlite":
            write_engine = self.engine.execution_options(
                sqlite_begin="IMMEDIATE", sqlite_write_gate=asyncio.Lock()
            )
        # Copied into each write session's `info` as it opens: limits that services enforce.
        self._write_info: dict[str, Any] = {}
        self.read_sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.write_sessions = async_sessionmaker(
            write_engine, expire_on_commit=False, info=self._write_info
        )
        self._side_writes: set[Hashable] = set()  # see side_write
        # What a GET or a read-only tool call runs in: statements in autocommit, each seeing
        # what was committed before it, as PostgreSQL's READ COMMITTED does inside a
        # transaction too. That saves BEGIN and COMMIT, two of the four round trips of a GET on
        # PostgreSQL and the COMMIT trip to aiosqlite's thread on SQLite. An export, which
        # needs one snapshot, opens `snapshot()`. MariaDB keeps its
        # transaction: switching autocommit there costs round trips of its own.
        self.request_reads = self.read_sessions
        # Not through PgBouncer in transaction mode: outside a transaction, a statement's
        # prepare and its execution may reach different server connections.
        if config.backend in {"postgresql", "sqlite"} and not config.transaction_pooler:
            autocommit: dict[str, Any] = (
                {"isolation_level": "AUTOCOMMIT"}
                if config.backend == "postgresql"
                else {"sqlite_begin": None}
            )
            self.request_reads = async_sessionmaker(
                self.engine.execution_options(**autocommit), expire_on_commit=False
            )

    async def side_write(
        self, key: Hashable, write: Callable[[AsyncSession], Awaitable[object]]
    ) -> bool:
        """Run `write` in a short write transaction of its own, beside a request's (a read
        request's stays read-only), once per `key` at a time in this process: False, without
        writing, while another request writes it.

        The request holds its connection meanwhile, so this takes a second one. Records that
        come due for many requests at once (an API token's use, a remembered layout, a feed's
        fetch) had each of a burst take a second connection while holding one; with every
        connection of the pool held so, none could go on until the pool's timeout (503s)."""
        if key in self._side_writes:
            return False
        self._side_writes.add(key)
        try:
            async with self.write_sessions() as side:
                await write(side)
                await side.commit()
        finally:
            self._side_writes.discard(key)
        return True

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncSession]:
        """A session whose reads all see one snapshot, for reads that span statements and must
        agree (an export, a page and its total count). MariaDB's default isolation and SQLite's
        read transaction give one already; PostgreSQL's default (READ COMMITTED) does not."""
        async with self.read_sessions() as session:
            if self.config.backend == "postgresql":
                await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            yield session

    @asynccontextmanager
    async def unit_of_work(self, *, write: bool) -> AsyncIterator[AsyncSession]:
        """One session that commits when the block ends, or rolls back if it raised.

        A `DoableError` marked `commit_session` commits before it propagates. HTTP requests
        get theirs through `SessionDep`; MCP tool calls open one per call."""
        factory = self.write_sessions if write else self.request_reads
        async with factory() as session:
            try:
                yield session
            except DoableError as exc:
                if exc.commit_session:
                    await session.commit()
                else:
                    await session.rollback()
                raise
            except BaseException:
                await session.rollback()
                raise
            else:
                if write or has_written(session):
                    await session.commit()
                # A read that wrote nothing just closes (ending its transaction, if it had one,
                # with nothing to undo): a commit ran the ORM's bookkeeping and every commit
                # listener for no change, a twentieth of a task's GET. So a read session writes
                # through `Session.execute` or a flush, which `has_written` sees, never
                # through its connection.

    def set_task_quota(self, quota: int) -> None:
        """MAX_TASKS_PER_ACCOUNT (0: none), read by tasks.service.ensure_room."""
        self._write_info[TASK_QUOTA] = quota

    def set_trash_days(self, days: int) -> None:
        """TRASH_DAYS, read by trash.service when something is deleted."""
        self._write_info[TRASH_DAYS] = days

    def set_on_notified(self, callback: Any) -> None:
        """ON_NOTIFIED: the sender of this process's notifications (None: there is none)."""
        if callback is None:
            self._write_info.pop(ON_NOTIFIED, None)
        else:
            self._write_info[ON_NOTIFIED] = callback

    async def dispose(self) -> None:
        await self.engine.dispose()


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Set in a session's info once its transaction has written (a flush, or an INSERT, UPDATE or
# DELETE statement), until it ends: what `has_written` reads.
_WROTE = "doable_wrote"


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _context: Any) -> None:
    session.info[_WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_transaction_end")
def _forget_writes(session: Session, transaction: Any) -> None:
    # Only when the outermost transaction ends: "after_commit" fires for a savepoint's
    # release too.
    if transaction.parent is None:
        session.info.pop(_WROTE, None)


def has_written(session: AsyncSession) -> bool:
    """Whether the session's transaction has written anything yet (an idempotency key's
    claim, a "last seen" touch, pending or flushed changes)."""
    return bool(
        session.new or session.dirty or session.deleted or session.sync_session.info.get(_WROTE)
    )


async def end_read_transaction(session: AsyncSession) -> None:
    """End a transaction that has only read, before slow work such as password hashing.

    On SQLite a write session holds the database-wide write lock (BEGIN IMMEDIATE) from its
    first statement, so a hash computed inside it makes every other writer wait, and past the
    busy timeout fail with "database is locked". The next statement begins a new transaction;
    objects read before are expired, so read again what is still needed.
    """
    if has_written(session):
        raise RuntimeError("end_read_transaction() would discard changes")
    await session.rollback()


async def release_connection(session: AsyncSession) -> None:
    """Commit what the request's session has done so far (an authentication's "last used"
    touch) and give its connection back to the pool, for a request that goes on for long
    without it: an event stream. Otherwise each stream being opened holds one connection while
    it waits for another (its lease), and as many concurrent opens as the pool holds wait on
    each other until the pool's timeout."""
    await session.commit()


async def read_rows(
    session: AsyncSession,
    statement: Executable,
    params: Mapping[str, Any] | None = None,
    *,
    custom_plans: bool = False,
) -> Sequence[Row[*tuple[Any, ...]]]:
    """The rows of a SELECT of plain columns, run through Core on the session's connection.

    The ORM's execution path adds about 70 µs a statement (a fifth of a small read) and gives
    plain columns nothing. Pending changes are flushed first, as the ORM's autoflush would.

    Read the rows by position or by name: a statement built per request reuses a cached
    compilation, and SQLAlchemy would otherwise rebuild the result's key map for each one so
    that the new statement's column objects work as keys too. The ORM turns that off the
    same way; it was an eighth of a task list's CPU."""
    if not getattr(statement, "is_select", False):
        # A write here would escape `has_written`, and a read session that wrote nothing
        # closes without committing (`Database.unit_of_work`).
        raise TypeError("read_rows runs SELECTs only")
    if session.new or session.dirty or session.deleted:
        await session.flush()
    connection = await session.connection()
    if custom_plans and connection.dialect.name == "postgresql":
        async with _custom_plans(connection):
            return await _read(connection, statement, params)
    return await _read(connection, statement, params)


async def _read(
    connection: AsyncConnection, statement: Executable, params: Mapping[str, Any] | None
) -> Sequence[Row[*tuple[Any, ...]]]:
    result = await connection.execute(statement, params, execution_options=_NO_REKEYING)
    return result.all()


@asynccontextmanager
async def _custom_plans(connection: AsyncConnection) -> AsyncIterator[None]:
    """PostgreSQL: the reads inside get a plan made for their parameters' values (`read_rows`).

    asyncpg prepares a statement once per connection, and after five executions PostgreSQL
    may switch it to one generic plan. For a search that plan assumes an owner with an average
    number of tasks: for one with a million it read a whole index, 88 ms against 11 ms
    (docs/performance.md, round 12). The setting is the session's, so it is set and reset
    around the read, or set for the rest of the transaction when there is one."""
    sync = connection.sync_connection
    if sync is None or sync.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        await connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
        yield
        return
    # Should the read be cancelled, or the reset fail, the mark stays and the connection is
    # discarded at its next checkout: a reset after a cancellation could meet it mid-query.
    connection.info[_CUSTOM_PLANS] = True
    await connection.exec_driver_sql("SET plan_cache_mode = force_custom_plan")
    try:
        yield
    except Exception:
        with suppress(Exception):
            await _reset_plans(connection)
        raise
    await _reset_plans(connection)


async def _reset_plans(connection: AsyncConnection) -> None:
    await connection.exec_driver_sql("RESET plan_cache_mode")
    connection.info.pop(_CUSTOM_PLANS, None)


# What the ORM passes for the same reason (sqlalchemy/orm/context.py). A private option:
# pyproject bounds SQLAlchemy below 2.2 (sqlite_driver.py relies on its private names too).
_NO_REKEYING = {"_result_disable_adapt_to_context": True}


async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; commits when the route returns, rolls back on error."""
    database: Database = request.app.state.database
    async with database.unit_of_work(write=request.method not in SAFE_METHODS) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]


async def count_locked(session: AsyncSession, rows: Select[Any]) -> int:
    """How many rows `rows` (a SELECT of a key column) finds, read with FOR UPDATE: the count a
    cap checks before an insert.

    Call it after locking the row that serialises the capped inserts (the owner, the task).
    A plain count would read MariaDB's REPEATABLE READ snapshot, taken by the request's first
    read, before it waited for that lock, and so miss rows that requests ahead of it committed;
    a locking read sees the latest committed rows. PostgreSQL refuses FOR UPDATE with an
    aggregate, hence counting the rows here (a cap is small). SQLite has no FOR UPDATE and
    needs none: its writers run one at a time.
    """
    return len((await session.execute(rows.with_for_update())).all())


# lock_row's statements, one per key column and lock mode: building one costs more than running
# it.
_LOCKS: dict[tuple[Any, str, bool], Select[Any]] = {}


async def lock_row(
    session: AsyncSession, column: InstrumentedAttribute[Any], key: Any, *, shared: bool = False
) -> None:
    """SELECT … FOR UPDATE the row whose `column` (a primary key) is `key`, until commit; with
    `shared`, FOR SHARE (MariaDB: LOCK IN SHARE MODE), which other shared holders pass."""
    stmt = _LOCKS.get((column.class_, column.key, shared))
    if stmt is None:
        stmt = _LOCKS[column.class_, column.key, shared] = (
            select(column).where(column == bindparam("lock_key")).with_for_update(read=shared)
        )
    await session.execute(stmt, {"lock_key": key})


async def touch_at_most_every(
    session: AsyncSession,
    column: InstrumentedAttribute[datetime | None],
    row_id: uuid.UUID,
    now: datetime,
    interval: timedelta,
) -> None:
    """Set a "last used" `column` of the row `row_id` to `now`, unless it was set less than
    `interval` ago: of concurrent requests only one row update lands, and a busy row is written
    at most once per interval."""
    model = column.class_
    await session.execute(
        update(model)
        .where(model.id == row_id, or_(column.is_(None), column <= now - interval))
        .values({column.key: now})
        .execution_options(synchronize_session=False)
    )


# Optimistic concurrency for rows with a version column (tasks, projects, sections): the
# ETag is the version, `If-Match` is checked against it, and a flush that finds the row at
# another version is a 412. `what` names the row in the message ("The task", "It").


def version_etag(version: int) -> str:
    return f'"{version}"'


def check_if_match(version: int, if_match: str | None, what: str) -> None:
    """412 unless `If-Match` is absent, `*`, or lists the row's current ETag."""
    if if_match is None:
        return
    tags = [t.strip().removeprefix("W/") for t in if_match.split(",")]
    if "*" in tags or version_etag(version) in tags:
        return
    raise PreconditionFailed(f"{what} changed since you read it; fetch it again")


async def flush_versioned(session: AsyncSession, what: str) -> None:
    try:
        await session.flush()
    except StaleDataError:
        raise PreconditionFailed(f"{what} was changed by another request; fetch it again") from None
