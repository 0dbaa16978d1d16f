"""The per-IP and per-account limits on password checks, counted by a shared `Counter`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from doable.errors import RateLimited
from doable.ratelimit import rates
from doable.ratelimit.counters import Counter


class AuthRateLimiter:
    """Per-IP and per-account limits for every password check.

    An account's limit counts every guess at its password, whichever route makes it: login
    (API and web), the password change and the account deletion (API and web). The counts live
    in `counter` (Redis, the database or memory: doable.ratelimit.counters), so every worker and
    replica shares them. Each account also has at most one check in flight in this process: a
    guess that arrives while another is being hashed is refused at once, so guesses never pile
    up in the hashing threads, where every other user's login would wait behind them.
    """

    def __init__(self, per_ip: str, per_account: str, counter: Counter) -> None:
        self._counter = counter
        self._per_ip = rates.parse(per_ip)
        self._per_account = rates.parse(per_account)
        self._checking: set[str] = set()

    async def _hit(self, item: rates.Rate, key: str) -> None:
        retry_after = await self._counter.hit(item, key)
        if retry_after is not None:
            raise RateLimited(retry_after)

    async def allow(self, rate: str, key: str) -> bool:
        """Count one more under `key` against `rate` ("3/hour"); False once over it. For
        limits that are kept quietly (a reset email not sent), not answered with a 429."""
        return await self._counter.hit(rates.parse(rate), key) is None

    async def check_ip(self, ip: str) -> None:
        await self._hit(self._per_ip, f"ip:{ip}")

    @asynccontextmanager
    async def password_check(self, email: str) -> AsyncIterator[None]:
        """Hold the account's one slot for checking a password (RateLimited when it is
        taken), then count the guess against the account's limit (RateLimited over it).
        Both refusals come before any hashing."""
        key = f"account:{email}"
        if key in self._checking:
            raise RateLimited(1)
        self._checking.add(key)
        try:
            await self._hit(self._per_account, key)
            yield
        finally:
            self._checking.discard(key)
