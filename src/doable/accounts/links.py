"""Signed, expiring links (sign-up invitations, password resets, email unsubscribe links): no
table, nothing stored.

Each purpose signs with its own key, derived from SECRET_KEY, and names itself in `typ`, so a
reset link is never an invitation, and neither is an access token. Single use is stateless: an
invitation dies once an account has its email, a reset link once the password it was made
for changes (the link carries a digest of the password hash and the token version).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any, Literal

from doable.auth import hs256
from doable.errors import DoableError

Purpose = Literal["invite", "reset", "unsubscribe"]
# Far longer than any link we make (about 250 characters): longer input is not ours.
MAX_LINK_TOKEN = 2000


class LinkInvalid(DoableError):
    """Forged, altered, truncated, or made for something else: one answer for all of them."""

    status, title, slug = 400, "Invalid link", "invalid-link"

    def __init__(self, detail: str = "This link is not valid; check that it was copied whole"):
        super().__init__(detail)


class LinkExpired(DoableError):
    """Genuine, but expired or already used: ask for a new one."""

    status, title, slug = 410, "Link no longer valid", "link-expired"


def _key(secret: bytes, purpose: Purpose) -> bytes:
    return hmac.new(secret, b"doable-link:" + purpose.encode(), hashlib.sha256).digest()


def make(
    secret: bytes, purpose: Purpose, claims: dict[str, Any], *, now: datetime, ttl: timedelta
) -> tuple[str, datetime]:
    """A signed token for `purpose` carrying `claims`, and when it expires."""
    expires = now + ttl
    payload = {
        **claims,
        "typ": purpose,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    return hs256.encode(payload, _key(secret, purpose)), expires


def read(secret: bytes, purpose: Purpose, token: str, *, now: datetime) -> dict[str, Any]:
    """The claims of a token made by `make` for `purpose`; LinkInvalid or LinkExpired if not."""
    if not token or len(token) > MAX_LINK_TOKEN or not token.isascii():
        raise LinkInvalid()
    try:
        claims = hs256.decode(
            token,
            _key(secret, purpose),
            now=now.timestamp(),
            require=("exp", "typ"),
            # Expiry is checked below against the app's clock, which tests can move; `iat`
            # is not checked at all.
            check_iat=False,
        )
    except (ValueError, TypeError):  # hs256.InvalidToken is a ValueError
        raise LinkInvalid() from None
    if claims.get("typ") != purpose or not isinstance(claims.get("exp"), int):
        raise LinkInvalid()
    if claims["exp"] <= now.timestamp():
        raise LinkExpired("This link has expired; ask for a new one")
    return claims


def digest(secret: bytes, *parts: str) -> str:
    """A short keyed digest binding a link to the state it was made for. The link's payload is
    readable by whoever holds it, so the state (a password hash) goes in only this way."""
    message = "\x1f".join(parts).encode()
    return hmac.new(_key(secret, "reset"), message, hashlib.sha256).hexdigest()[:32]
