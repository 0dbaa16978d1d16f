"""`utc_instant`: a `UTCDateTime` column read so that the driver makes it aware where it can.

The columns store naive UTC, and `UTCDateTime` makes each value read aware in Python: one
call per value, 250 for a page of 50 tasks, about a sixteenth of the page's CPU on
PostgreSQL. There (through asyncpg, the driver Doable uses) the column is read `AT TIME ZONE
'UTC'` instead: a timestamptz, which asyncpg decodes in C to a datetime aware in UTC, so
nothing is left to do in Python. SQLite and MariaDB read the column itself, made aware as
`UTCDateTime` does.

For what a read shows (the task rows of lists and GETs); conditions and ordering keep using the
column, so the indexes serve them as before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from doable.db import UTCDateTime


class _DriverUTC(UTCDateTime):
    """`UTCDateTime`, passed through where the driver hands back an aware UTC datetime."""

    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if _driver_makes_aware(dialect):
            return None
        return super().result_processor(dialect, coltype)


class utc_instant(FunctionElement[datetime]):  # read as SQL, like func.x
    """`utc_instant(Task.created_at)`: the column's value as an aware datetime in UTC."""

    type = _DriverUTC()
    inherit_cache = True
    name = "utc_instant"


@compiles(utc_instant)
def _the_column(element: utc_instant, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(utc_instant, "postgresql")
def _at_utc(element: utc_instant, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    if not _driver_makes_aware(compiler.dialect):
        return str(column)  # another driver gives a timestamptz in the session's zone
    return f"({column} AT TIME ZONE 'UTC')"


def _driver_makes_aware(dialect: Dialect) -> bool:
    """Whether `utc_instant` reads a timestamptz that the driver hands back aware in UTC."""
    return dialect.name == "postgresql" and dialect.driver == "asyncpg"
