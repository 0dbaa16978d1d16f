"""Verifying an external issuer's JWTs (Better Auth and the like): JWKS keys by kid, or HS256.

The algorithm comes from the key, never from the token: an RSA key verifies RS256 only, an EC
P-256 key ES256 only, an Ed25519 key EdDSA only, and HS256 is accepted only in shared-secret
mode (AUTH_JWT_SECRET), where no public key is ever loaded. A token whose header names another
algorithm is refused before any signature is checked.

PyJWT, and with it `cryptography`, is imported when the verifier is built (at start, never on
the event loop in a first request): most servers have no external issuer, and the two are 10 MB
of an idle server's memory.

Keys are fetched lazily (never at start, so a JWKS that is down cannot stop the app) and
cached by kid. An unknown kid triggers one refetch, at most once per AUTH_JWKS_REFETCH_SECONDS;
a failed fetch keeps the keys already cached, so signed-in users keep working while the
issuer's endpoint is down.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from doable.config import ExternalAuthConfig
from doable.errors import Unauthorized

log = logging.getLogger("doable.auth.external")

FETCH_TIMEOUT = 5.0
MAX_JWKS_BYTES = 256 * 1024
MAX_KEYS = 100
MAX_KID_LENGTH = 256
MAX_SUBJECT_LENGTH = 255
MIN_RSA_BITS = 2048
SHARED_SECRET_ALGORITHM = "HS256"  # noqa: S105 - an algorithm name, not a secret


# Claims by which an issuer says the email was verified: OpenID Connect's, and the name Better
# Auth's JWT plugin uses (its default payload is the session's user).
EMAIL_VERIFIED_CLAIMS = ("email_verified", "emailVerified")


@dataclass(frozen=True)
class ExternalClaims:
    """Who an external token names: the issuer's id for them, and what we keep on first use."""

    issuer: str
    subject: str
    # Only an address the issuer marks verified (`email_verified`, or Better Auth's
    # `emailVerified`, is JSON true): an unverified one could be anyone's, and taking it would
    # make the real owner's own signup fail with 409.
    email: str | None
    name: str


@dataclass(frozen=True)
class VerificationKey:
    algorithm: str
    key: Any


class JwksUnusable(Exception):
    """The JWKS could not be fetched or is not a JWKS; the message is safe to log."""


def _invalid() -> Unauthorized:
    return Unauthorized("The access token is invalid")


def pinned_algorithm(jwk: dict[str, Any]) -> str | None:
    """The one algorithm a JWK may verify, from its key type and curve (None: unsupported)."""
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "RSA":
        return "RS256"
    if kty == "EC" and crv == "P-256":
        return "ES256"
    if kty == "OKP" and crv == "Ed25519":
        return "EdDSA"
    return None


def parse_jwk(jwk: Any) -> tuple[str, VerificationKey] | None:
    """(kid, key) for a usable signing key; None for anything else (skipped, not fatal)."""
    if not isinstance(jwk, dict):
        return None
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
        return None
    if jwk.get("use", "sig") != "sig":
        return None
    algorithm = pinned_algorithm(jwk)
    if algorithm is None:
        return None
    declared = jwk.get("alg")
    if declared is not None and declared != algorithm:
        return None  # e.g. an RSA key published for PS256 or RS512: not one we pin
    # Only the public members: a JWKS that leaks a private key still yields a verifying key.
    public = {k: jwk[k] for k in ("kty", "crv", "x", "y", "n", "e") if k in jwk}
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = jwt.PyJWK(public, algorithm=algorithm).key
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return None
    return kid, VerificationKey(algorithm, key)


def parse_jwks(document: bytes) -> dict[str, VerificationKey]:
    """The usable keys of a JWKS document; JwksUnusable when it is not one at all."""
    try:
        data = json.loads(document)
    except (ValueError, UnicodeDecodeError):
        raise JwksUnusable("the response is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise JwksUnusable('the response has no "keys" list')
    keys: dict[str, VerificationKey] = {}
    for jwk in data["keys"][:MAX_KEYS]:
        parsed = parse_jwk(jwk)
        if parsed is not None:
            keys.setdefault(*parsed)
    return keys


def _safe_url(url: str) -> str:
    """The URL without credentials or query, fit for logs."""
    import httpx  # imported on use: most servers have no external issuer

    parsed = httpx.URL(url)
    return str(parsed.copy_with(userinfo=b"", query=None, fragment=None))


class ExternalVerifier:
    """Checks one external issuer's tokens. One per app; the key cache lives as long."""

    def __init__(
        self, config: ExternalAuthConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        import jwt  # noqa: F401  (see the module's docstring)

        self.config = config
        self._clock = clock
        self._keys: dict[str, VerificationKey] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch, successful or not
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> ExternalClaims:
        """The claims of a valid token, else Unauthorized (401)."""
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _invalid() from None
        alg = header.get("alg")
        key: Any
        if self.config.secret is not None:
            if alg != SHARED_SECRET_ALGORITHM:
                raise _invalid()
            key, algorithm = self.config.secret, SHARED_SECRET_ALGORITHM
        else:
            kid = header.get("kid")
            if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
                raise _invalid()
            entry = await self.key_for(kid)
            if entry is None:
                raise Unauthorized("The access token is signed with an unknown key")
            if alg != entry.algorithm:
                raise _invalid()
            key, algorithm = entry.key, entry.algorithm
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway,
                # The user-id claim is checked below, where a numeric `sub` (a serial
                # primary key, as some issuers send) is accepted as its decimal string; PyJWT
                # would refuse any `sub` that is not a string.
                options={"require": ["exp", "iss", "aud"], "verify_sub": False},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The access token has expired") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise _invalid() from None
        return self._claims(claims)

    def _claims(self, claims: dict[str, Any]) -> ExternalClaims:
        subject = claims.get(self.config.user_id_claim)
        if isinstance(subject, int) and not isinstance(subject, bool):
            subject = str(subject)  # numeric user ids (serial primary keys)
        if (
            not isinstance(subject, str)
            or not 0 < len(subject) <= MAX_SUBJECT_LENGTH
            or not subject.isprintable()
            or subject != subject.strip()
        ):
            raise Unauthorized(f"The access token has no usable {self.config.user_id_claim} claim")
        email = claims.get(self.config.email_claim)
        verified = any(claims.get(c) is True for c in EMAIL_VERIFIED_CLAIMS)
        name = claims.get("name")
        return ExternalClaims(
            issuer=self.config.issuer,
            subject=subject,
            email=email if isinstance(email, str) and verified else None,
            name=name.strip()[:100] if isinstance(name, str) and name.isprintable() else "",
        )

    async def key_for(self, kid: str) -> VerificationKey | None:
        """The cached key for `kid`, refetching the JWKS when the kid is unknown or the cache
        is older than AUTH_JWKS_CACHE_SECONDS (both rate-limited)."""
        entry = self._keys.get(kid)
        fresh = (
            self._fetched_at is not None
            and self._clock() - self._fetched_at < self.config.cache_seconds
        )
        if entry is not None and fresh:
            return entry
        await self._refresh()
        return self._keys.get(kid)

    def _may_fetch(self) -> bool:
        return (
            self._attempted_at is None
            or self._clock() - self._attempted_at >= self.config.refetch_seconds
        )

    async def _refresh(self) -> None:
        # Requests that arrive during a fetch wait for it and use its keys (one fetch for all).
        async with self._lock:
            if not self._may_fetch():
                return
            self._attempted_at = self._clock()
            try:
                keys = await self._fetch()
            except JwksUnusable as exc:
                log.warning(
                    "could not use the JWKS at %s: %s; keeping %d cached key(s)",
                    _safe_url(self._url),
                    exc,
                    len(self._keys),
                )
                return
            self._keys = keys
            self._fetched_at = self._clock()
            log.info("loaded %d signing key(s) from %s", len(keys), _safe_url(self._url))

    @property
    def _url(self) -> str:
        assert self.config.jwks_url is not None
        return self.config.jwks_url

    async def _fetch(self) -> dict[str, VerificationKey]:
        import httpx

        body = bytearray()
        try:
            async with (
                httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=False) as client,
                client.stream("GET", self._url, headers={"Accept": "application/json"}) as r,
            ):
                if r.status_code != 200:
                    raise JwksUnusable(f"HTTP status {r.status_code}")
                async for chunk in r.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise JwksUnusable(f"the response is larger than {MAX_JWKS_BYTES} bytes")
        except httpx.HTTPError as exc:
            raise JwksUnusable(f"{type(exc).__name__}") from None
        return parse_jwks(bytes(body))
