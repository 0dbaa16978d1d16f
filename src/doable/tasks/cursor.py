"""Opaque keyset cursors: the last row's sort key, signed so a client cannot forge one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from doable.errors import InvalidInput

Row = TypeVar("Row")


@dataclass(frozen=True)
class CursorKey:
    sort: str
    order: str
    value: Any
    id: uuid.UUID


def _sign(key: bytes, payload: bytes) -> str:
    digest = hmac.new(key, b"cursor:" + payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(key: bytes, cursor: CursorKey) -> str:
    value = cursor.value.isoformat() if isinstance(cursor.value, datetime) else cursor.value
    payload = json.dumps(
        [cursor.sort, cursor.order, value, cursor.id.hex], separators=(",", ":")
    ).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + _sign(key, payload)


def _bad() -> InvalidInput:
    return InvalidInput("The cursor is invalid; start again without it", loc=["query", "cursor"])


def decode(key: bytes, text: str, *, sort: str, order: str, datetime_value: bool) -> CursorKey:
    try:
        body, sig = text.split(".", 1)
        payload = _b64decode(body)
        if not hmac.compare_digest(sig, _sign(key, payload)):
            raise _bad()
        c_sort, c_order, value, id_hex = json.loads(payload)
        if (c_sort, c_order) != (sort, order):
            raise InvalidInput(
                "The cursor belongs to another sort order; keep sort and order unchanged",
                loc=["query", "cursor"],
            )
        if datetime_value:
            value = datetime.fromisoformat(value)
        return CursorKey(c_sort, c_order, value, uuid.UUID(hex=id_hex))
    except InvalidInput:
        raise
    except (ValueError, TypeError, UnicodeDecodeError):
        raise _bad() from None


async def newest_first_page(
    session: AsyncSession,
    model: type[Row],
    *,
    time_column: InstrumentedAttribute[datetime],
    id_column: InstrumentedAttribute[uuid.UUID],
    conditions: list[ColumnElement[bool]],
    sort: str,
    limit: int,
    cursor: str | None,
    cursor_key: bytes,
) -> tuple[list[Row], str | None]:
    """One page of `model` rows, newest first by keyset on (time, id), and the next cursor.

    `conditions` must already scope the rows to their owner; `sort` names the cursor kind, so
    a cursor of one list is refused by another."""
    where = list(conditions)
    if cursor:
        key = decode(cursor_key, cursor, sort=sort, order="desc", datetime_value=True)
        where.append(time_column <= key.value)  # lets the index bound the scan
        where.append(
            or_(time_column < key.value, and_(time_column == key.value, id_column < key.id))
        )
    stmt = (
        select(model).where(*where).order_by(time_column.desc(), id_column.desc()).limit(limit + 1)
    )
    rows: list[Row] = list((await session.execute(stmt)).scalars())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    next_key = CursorKey(sort, "desc", getattr(last, time_column.key), getattr(last, id_column.key))
    return rows, encode(cursor_key, next_key)
