"""Password hashing (argon2id, off the event loop) and access-token signing."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any, Literal, TypeVar, get_args

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from doable.auth import hs256
from doable.config import Settings
from doable.errors import Unauthorized

T = TypeVar("T")
JWT_ALGORITHM = hs256.ALGORITHM
# The password hash of accounts that have no password (provisioned by an external issuer):
# no argon2 hash starts with "!", so no password ever matches it.
UNUSABLE_PASSWORD = "!external"  # noqa: S105 - a marker, not a secret
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud"]


# Hashing threads run at a low priority (HASH_NICENESS, 19 by default): argon2id is CPU-bound
# for ~150 ms per hash (its lane threads inherit the priority), so at normal priority a burst
# of logins takes the CPU from the event loop and every other request waits behind it
# (docs/performance.md, the login storm). At nice 19 a hash gets the CPU that requests leave,
# and all of it when the server is otherwise idle.


def _lower_priority(niceness: int) -> None:
    """A hashing thread's initializer: nice itself (Linux, where a thread has its own)."""
    with contextlib.suppress(AttributeError, OSError):  # no setpriority, or not permitted
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


class PasswordHasher:
    """argon2id via pwdlib, off the event loop: in `hash_concurrency` threads of its own at
    `hash_niceness` (a request waits for a free one), never in the shared worker threads."""

    def __init__(self, settings: Settings) -> None:
        self._hash = PasswordHash(
            (
                Argon2Hasher(
                    time_cost=settings.argon2_time_cost,
                    memory_cost=settings.argon2_memory_kib,
                    parallelism=settings.argon2_parallelism,
                ),
            )
        )
        self._pool = ThreadPoolExecutor(
            max_workers=settings.hash_concurrency,
            thread_name_prefix="doable-hash",
            initializer=_lower_priority,
            initargs=(settings.hash_niceness,),
        )
        # Verified against when the email is unknown, so timing does not reveal accounts.
        # Hashed in the pool, in the background: at start it would cost a hash's time (a
        # tenth of the cold start). It is first in the pool's queue, so a check against it
        # (also in the pool) waits at most for the rest of it.
        self._dummy: Future[str] = self._pool.submit(self._hash.hash, secrets.token_urlsafe(16))

    def _verify_dummy(self, password: str) -> tuple[bool, str | None]:
        # In a pool thread: waiting here, not on the event loop, means a cancelled request
        # cannot cancel the shared future.
        return self._hash.verify_and_update(password, self._dummy.result())

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def hash(self, password: str) -> str:
        return await self._run(self._hash.hash, password)

    async def verify(self, password: str, stored: str | None) -> tuple[bool, str | None]:
        """Return (valid, new_hash_or_None). Always spends one hash's time."""
        if stored is None or stored.startswith("!"):
            # The same call as below (verify_and_update), so both take the same time.
            await self._run(self._verify_dummy, password)
            return False, None
        return await self._run(self._hash.verify_and_update, password, stored)


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    token_version: int
    # The refresh-token family the token was issued with (None in tokens from before the
    # claim), and its expiry (Unix time): an event stream opened with it ends at either's end.
    family_id: uuid.UUID | None = None
    expires_at: float | None = None


class TokenSigner:
    """Issues and checks HS256 access tokens with pinned algorithm and required claims."""

    # Tokens already verified, with their expiry, so a client's next requests skip the check
    # (tens of µs each). A token cannot change, and its signature,
    # issuer, audience and type were checked the first time; a remembered one stops counting
    # at its `exp`. Whether it was revoked is not cached: the caller compares its version with
    # the user's on every request. The oldest entries make room.
    REMEMBERED = 4096

    def __init__(
        self, key: bytes, settings: Settings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = key
        self.issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self.lifetime = timedelta(minutes=settings.access_token_minutes)
        self.leeway = 5
        # Seconds since the epoch: what `exp` is checked against (tests move it forward).
        self._clock = clock
        self._verified: dict[str, tuple[AccessClaims, float]] = {}

    def issue(
        self,
        user_id: uuid.UUID,
        token_version: int,
        now: datetime,
        family_id: uuid.UUID | None = None,
    ) -> str:
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + self.lifetime).timestamp()),
            "iss": self.issuer,
            "aud": self._audience,
            "typ": "access",
            "ver": token_version,
            "jti": secrets.token_urlsafe(8),
        }
        if family_id is not None:
            claims["fam"] = str(family_id)
        return hs256.encode(claims, self._key)

    def verify(self, token: str) -> AccessClaims:
        now = self._clock()
        remembered = self._verified.get(token)
        if remembered is not None:
            if now < remembered[1]:
                return remembered[0]
            del self._verified[token]
        try:
            claims = hs256.decode(
                token,
                self._key,
                now=now,
                leeway=self.leeway,
                require=REQUIRED_CLAIMS,
                issuer=self.issuer,
                audience=self._audience,
            )
            expires = int(claims["exp"])
            if expires <= now - self.leeway:
                raise Unauthorized("The access token has expired")
            if claims.get("typ") != "access":
                raise Unauthorized("Not an access token")
            family = claims.get("fam")
            access = AccessClaims(
                uuid.UUID(str(claims["sub"])),
                int(claims.get("ver", -1)),
                uuid.UUID(str(family)) if family is not None else None,
                float(claims["exp"]),
            )
            if len(self._verified) >= self.REMEMBERED:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = (access, float(expires))
            return access
        except (ValueError, TypeError):  # hs256.InvalidToken is a ValueError
            raise Unauthorized("The access token is invalid") from None


# What an API token may be allowed to do. Access tokens from a login carry every scope.
Scope = Literal["tasks:read", "tasks:write", "account:read"]
ALL_SCOPES: frozenset[str] = frozenset(get_args(Scope))
API_TOKEN_PREFIX = "dbl_pat_"  # noqa: S105 - a prefix, not a secret
API_TOKEN_HINT_CHARS = 4


def new_api_token() -> str:
    """A personal API token: a recognisable prefix (secret scanners can match it) and 256
    random bits."""
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def is_api_token(credential: str) -> bool:
    return credential.startswith(API_TOKEN_PREFIX)


def new_refresh_token() -> str:
    return "dr_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Refresh tokens, API tokens and session ids are stored as SHA-256: they are random, so
    no slow hash is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


def load_common_passwords() -> frozenset[str]:
    text = resources.files("doable.auth").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


COMMON_PASSWORDS = load_common_passwords()
