"""Claiming a key, storing the first response, replaying it. Never commits.

A key is claimed by inserting its row in the request's own transaction, and the response is
written into that row before the transaction commits. So the effect of a request and its
stored response commit together or not at all. A second request with the same key blocks on
the unique (user_id, key) index until the first transaction ends (on SQLite, writers are
already serialised by `BEGIN IMMEDIATE`). Then it either finds the stored response and
replays it, or, if the first request failed and rolled back, claims the key itself.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from doable.errors import Conflict, DoableError
from doable.idempotency.models import IdempotencyKey

TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255
# Response headers replayed with the body; the rest (request id, security headers, dates)
# belong to the response that carries them.
STORED_HEADERS = ("content-type", "location", "etag")
# Deadlock and lock-wait timeout (MySQL/MariaDB), deadlock and serialization failure (PG).
_LOCK_ERRORS = {1205, 1213, "40P01", "40001"}


class IdempotencyKeyMismatch(DoableError):
    status, title, slug = 422, "Idempotency key reused", "idempotency-key-mismatch"

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was already used with a different request; use a new key"
        )


class IdempotencyKeyInUse(Conflict):
    slug = "idempotency-key-in-use"

    def __init__(self) -> None:
        DoableError.__init__(
            self,
            "Another request with this Idempotency-Key is still running; retry shortly",
            headers={"Retry-After": "1"},
        )


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    headers: dict[str, str]
    body: bytes


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode()):
        digest.update(part + b"\n")
    digest.update(body)
    return digest.hexdigest()


def _is_lock_error(exc: BaseException) -> bool:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        codes = {getattr(item, "sqlstate", None), getattr(item, "pgcode", None)}
        args = getattr(item, "args", ())
        if args and isinstance(args[0], int):
            codes.add(args[0])
        if codes & _LOCK_ERRORS:
            return True
        todo.extend([getattr(item, "orig", None), item.__cause__, item.__context__])
    return False


async def claim(
    session: AsyncSession, user_id: uuid.UUID, key: str, request_fingerprint: str, *, now: datetime
) -> IdempotencyKey | StoredResponse:
    """Claim `key` for this request, or return the response stored for it.

    Raises IdempotencyKeyMismatch when the key was used for another request, and
    IdempotencyKeyInUse when the database gave up waiting for the request holding it."""
    for _ in range(3):
        row = IdempotencyKey(
            user_id=user_id,
            key=key,
            fingerprint=request_fingerprint,
            created_at=now,
            expires_at=now + TTL,
        )
        try:
            async with session.begin_nested():
                session.add(row)
            return row
        except IntegrityError:
            pass
        except DBAPIError as exc:
            if _is_lock_error(exc):
                raise IdempotencyKeyInUse() from None
            raise
        # A locking read sees the winner's committed row even under MySQL's REPEATABLE READ.
        existing = (
            await session.execute(
                select(IdempotencyKey)
                .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
                .with_for_update(read=True)
            )
        ).scalar_one_or_none()
        if existing is None:  # swept between our insert and our read: try again
            continue
        if existing.expires_at <= now:
            try:
                await session.execute(
                    delete(IdempotencyKey).where(IdempotencyKey.id == existing.id)
                )
            except DBAPIError as exc:
                if _is_lock_error(exc):
                    raise IdempotencyKeyInUse() from None
                raise
            continue
        if existing.fingerprint != request_fingerprint:
            raise IdempotencyKeyMismatch()
        if existing.status_code is None:  # pragma: no cover - rows commit with their response
            raise IdempotencyKeyInUse()
        return StoredResponse(
            status_code=existing.status_code,
            headers=json.loads(existing.headers or "{}"),
            body=existing.body or b"",
        )
    raise IdempotencyKeyInUse()


async def store(
    session: AsyncSession,
    row: IdempotencyKey,
    status_code: int,
    headers: dict[str, str],
    body: bytes,
) -> None:
    row.status_code = status_code
    row.headers = json.dumps({k: v for k, v in headers.items() if k in STORED_HEADERS})
    row.body = body
    await session.flush()


SWEEP_BATCH = 500


async def sweep(session: AsyncSession, *, now: datetime) -> int:
    """Delete up to SWEEP_BATCH expired keys (of all users); returns how many.

    They are found by a plain read and deleted by primary key: a range DELETE would take gap
    locks on MySQL/MariaDB that block, and can deadlock with, concurrent claims."""
    ids = list(
        (
            await session.execute(
                select(IdempotencyKey.id).where(IdempotencyKey.expires_at <= now).limit(SWEEP_BATCH)
            )
        ).scalars()
    )
    if ids:
        await session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.id.in_(ids), IdempotencyKey.expires_at <= now
            )
        )
    return len(ids)


async def delete_for_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.user_id == user_id))
