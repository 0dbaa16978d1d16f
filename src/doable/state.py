"""Process-wide objects the app builds once and hands to routes through dependencies."""

# No `from __future__ import annotations`: FastAPI reads the signatures of this module's
# dependencies once for every route that uses them, and evaluates string annotations anew each
# time (thousands of evals at startup).
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from doable.auth.callers import CallerCache
from doable.auth.external import ExternalVerifier
from doable.auth.security import PasswordHasher, TokenSigner
from doable.config import RuntimeConfig, external_auth
from doable.db import utcnow
from doable.feeds.cache import RenderCache
from doable.notify.email import Mailer
from doable.ratelimit.counters import build_counter
from doable.ratelimit.limiter import AuthRateLimiter

if TYPE_CHECKING:
    from doable.db import Database


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
    # Mail a request asks for (a password-reset link), made and sent off the request's path.
    mailer: Mailer
    # The rows of users whose reads came lately (CALLER_CACHE_SECONDS).
    callers: CallerCache
    # "Now" for what a request shows and reads by the calendar (today, overdue, a time without
    # a date); tests set it to a fixed instant instead of waiting for a time of day.
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def build(cls, runtime: RuntimeConfig, database: "Database | None" = None) -> "AppState":
        """The state for an app on `database`, whose rate limits it shares with every other
        process on it (REDIS_URL, or its tables); without one (a CLI command), in memory."""
        settings = runtime.settings
        external = external_auth(settings)
        return cls(
            runtime=runtime,
            hasher=PasswordHasher(settings),
            signer=TokenSigner(runtime.secret_key, settings),
            rate_limiter=AuthRateLimiter(
                settings.auth_ip_rate_limit,
                settings.auth_account_rate_limit,
                build_counter(settings.redis_url, database),
            ),
            external=ExternalVerifier(external) if external is not None else None,
            feed_cache=RenderCache(settings.feed_cache_bytes),
            mailer=Mailer(settings),
            callers=CallerCache(settings.caller_cache_seconds),
        )


async def get_state(request: Request) -> AppState:  # async: no thread hop per request
    state: AppState = request.app.state.doable
    return state


StateDep = Annotated[AppState, Depends(get_state)]
