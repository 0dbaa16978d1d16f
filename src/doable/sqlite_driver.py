"""SQLAlchemy's aiosqlite adapter, changed to make one trip to aiosqlite's thread per statement.

aiosqlite runs every call on a thread of its own: each `await` is a hand-off there and back,
which costs more than a small indexed query itself (about 50-90 µs on a 2-core VM). The stock
adapter makes four per statement (open a cursor, execute, fetch the rows, close it) and one
for `BEGIN`, so a GET of one task made ten. Here a statement is one trip: the cursor is
opened, run, read and closed on the thread. `BEGIN` waits for the transaction's first
statement and travels with it, and ending a transaction that ran nothing, or statements run
in autocommit (a GET's reads), costs no trip. A GET now makes two (see docs/performance.md).

Plugged in with `create_async_engine(..., module=dbapi())` (public); everything else (the
dialect, type handling, errors) is SQLAlchemy's own.

Neither library has a public way to do this, so it leans on private names, and pyproject pins
the ranges it was tried on (`.ci/run` installs both ends of each range and runs a smoke subset):
- SQLAlchemy 2.1 (`>=2.1.0,<2.2`): the aiosqlite adapter classes and their `_cursor_cls`,
  `_connection`, `_handle_exception`, `_soft_closed_memoized` and `_async_soft_close`;
  `connectors.asyncio.AsyncIODBAPIConnection` (2.0.42+); `util.await_` and `util.EMPTY_DICT`
  (2.1; 2.0 calls the first `await_only`).
- aiosqlite (`>=0.20,<0.23`): `Connection._execute(fn, *args)`, which runs `fn` on the
  connection's thread, and `Connection._conn`, the sqlite3 connection `fn` is given. Whether a
  transaction is open, or the connection closed, comes from the public `in_transaction`.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection, AsyncIODBAPIConnection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT, await_

# What a statement sends back from the thread: description, rows, rowcount, lastrowid.
_Outcome = tuple[Any, list[Any] | None, int, int | None]


def _begin(conn: sqlite3.Connection, begin: str) -> None:
    conn.execute(begin).close()


def _run(
    conn: sqlite3.Connection, begin: str | None, operation: str, parameters: Any, many: bool
) -> _Outcome:
    """On aiosqlite's thread: the pending BEGIN, then the statement, its rows and the close."""
    if begin is not None:
        _begin(conn, begin)
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor that holds a finished statement's outcome; no aiosqlite cursor behind it."""

    __slots__ = ("_outcome",)

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        # The base class would open an aiosqlite cursor here, a trip of its own.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._outcome: _Outcome = (None, None, -1, None)

    @property
    def description(self) -> Any:
        return self._outcome[0]

    @property
    def rowcount(self) -> int:
        return self._outcome[2]

    @property
    def lastrowid(self) -> Any:
        return self._outcome[3]

    @property
    def arraysize(self) -> int:
        return 1  # the rows are all here already; fetchmany() without a size takes one

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._send(operation, () if parameters is None else parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        self._send(operation, seq_of_parameters, many=True)

    def _send(self, operation: str, parameters: Any, *, many: bool) -> None:
        connection: OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        begin, connection.pending_begin = connection.pending_begin, None
        try:
            self._outcome = await_(
                self._connection._execute(
                    _run, self._connection._conn, begin, operation, parameters, many
                )
            )
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        rows = self._outcome[1]
        self._rows = collections.deque(rows) if rows else collections.deque()

    async def _async_soft_close(self) -> None:
        return None  # the statement's cursor was closed on the thread

    def close(self) -> None:
        self._rows.clear()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("pending_begin",)

    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: AsyncIODBAPIConnection) -> None:
        super().__init__(dbapi, connection)
        # "BEGIN DEFERRED" or "BEGIN IMMEDIATE", sent with the next statement.
        self.pending_begin: str | None = None

    def cursor(self, server_side: bool = False) -> Any:
        if server_side and self.pending_begin is not None:
            # A streaming cursor is the stock one: its statement cannot carry the BEGIN.
            begin, self.pending_begin = self.pending_begin, None
            try:
                await_(self._connection._execute(_begin, self._connection._conn, begin))
            except Exception as error:
                self._handle_exception(error)
        return super().cursor(server_side)

    def begin(self, mode: str) -> None:
        """Start a transaction with the next statement (`_run` sends both in one trip)."""
        self.pending_begin = f"BEGIN {mode}"

    def _in_transaction(self) -> bool:
        """Whether a transaction is open; clears a BEGIN that never went out (nothing ran)."""
        if self.pending_begin is not None:
            self.pending_begin = None
            return False
        try:
            return bool(self._connection.in_transaction)
        except ValueError:  # closed ("no active connection"): nothing to end, no trip to make
            return False

    def commit(self) -> None:
        # No trip when there is nothing to end: a transaction that ran nothing, or statements
        # that ran in autocommit (a GET's reads).
        if self._in_transaction():
            super().commit()

    def rollback(self) -> None:
        if self._in_transaction():
            super().rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        stock = super().connect(*arg, **kw)
        return OneTripConnection(self, stock._connection)


def dbapi() -> OneTripDBAPI:
    """The module to hand to `create_async_engine(module=...)` for sqlite+aiosqlite URLs."""
    return OneTripDBAPI(aiosqlite, sqlite3)
