"""Process-wide objects the app builds once and hands to routes through dependencies."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import limits
from fastapi import Depends, Request
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from doable.auth.external import ExternalVerifier
from doable.auth.security import PasswordHasher, TokenSigner
from doable.config import RuntimeConfig, external_auth
from doable.db import utcnow
from doable.errors import RateLimited
from doable.feeds.cache import RenderCache


class AuthRateLimiter:
    """Per-IP and per-account limits for every password check (in memory, per process).

    An account's limit counts every guess at its password, whichever route makes it: login
    (API and web), the password change and the account deletion (API and web). Each account
    also has at most one check in flight: a guess that arrives while another is being hashed
    is refused at once, so guesses never pile up in the hashing threads, where every other
    user's login would wait behind them.
    """

    def __init__(self, per_ip: str, per_account: str) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_ip = limits.parse(per_ip)
        self._per_account = limits.parse(per_account)
        self._checking: set[str] = set()

    def _hit(self, item: limits.RateLimitItem, key: str) -> None:
        if not self._limiter.hit(item, key):
            stats = self._limiter.get_window_stats(item, key)
            raise RateLimited(max(1, math.ceil(stats.reset_time - time.time())))

    def check_ip(self, ip: str) -> None:
        self._hit(self._per_ip, f"ip:{ip}")

    @contextmanager
    def password_check(self, email: str) -> Iterator[None]:
        """Hold the account's one slot for checking a password (RateLimited when it is
        taken), then count the guess against the account's limit (RateLimited over it).
        Both refusals come before any hashing."""
        key = f"account:{email}"
        if key in self._checking:
            raise RateLimited(1)
        self._checking.add(key)
        try:
            self._hit(self._per_account, key)
            yield
        finally:
            self._checking.discard(key)


@dataclass
class AppState:
    runtime: RuntimeConfig
    hasher: PasswordHasher
    signer: TokenSigner
    rate_limiter: AuthRateLimiter
    # Checks an external issuer's tokens (AUTH_JWKS_URL or AUTH_JWT_SECRET); None when unset.
    external: ExternalVerifier | None
    # Rendered feed components, shared by every feed request of this process (FEED_CACHE_BYTES).
    feed_cache: RenderCache
    # "Now" for what a request shows and reads by the calendar (today, overdue, a time without
    # a date); tests set it to a fixed instant instead of waiting for a time of day.
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def build(cls, runtime: RuntimeConfig) -> AppState:
        settings = runtime.settings
        external = external_auth(settings)
        return cls(
            runtime=runtime,
            hasher=PasswordHasher(settings),
            signer=TokenSigner(runtime.secret_key, settings),
            rate_limiter=AuthRateLimiter(
                settings.auth_ip_rate_limit, settings.auth_account_rate_limit
            ),
            external=ExternalVerifier(external) if external is not None else None,
            feed_cache=RenderCache(settings.feed_cache_bytes),
        )


async def get_state(request: Request) -> AppState:  # async: no thread hop per request
    state: AppState = request.app.state.doable
    return state


StateDep = Annotated[AppState, Depends(get_state)]
