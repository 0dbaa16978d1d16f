"""The JSON Web Tokens Doable signs itself (access tokens, signed links): HS256 only.

RFC 7515's compact form with one algorithm, pinned by construction: a token whose header names
any other (`none`, RS256, HS512, ...) or carries `crit` is refused, and so is one that is not
exactly three unpadded base64url segments. The signature is checked before anything in the
token is parsed, in constant time, against the segment this key would write (so it must be
written exactly so).

Not PyJWT, which Doable still uses for external issuers' tokens (auth/external.py, imported
only when one is configured): importing PyJWT imports `cryptography`, 10 MB of an idle
server's memory (docs/performance.md, round 14) that HMAC-SHA256 does not need.
tests/test_hs256.py checks both ways against PyJWT.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

ALGORITHM = "HS256"
# Longer than any token Doable makes (about 400 characters), and short enough that refusing a
# longer one costs nothing.
MAX_TOKEN = 8192
_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")


class InvalidToken(ValueError):
    """Not a token this key signed, or one whose claims do not hold; never says which."""


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(segment: bytes) -> bytes:
    if b"=" in segment:
        raise InvalidToken("padded segment")
    try:
        return base64.b64decode(segment + b"=" * (-len(segment) % 4), b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidToken("not base64url") from None


def _signature(key: bytes, signing_input: bytes) -> bytes:
    return _b64(hmac.new(key, signing_input, hashlib.sha256).digest())


def encode(claims: Mapping[str, Any], key: bytes) -> str:
    signing_input = _HEADER + b"." + _b64(orjson.dumps(claims))
    return (signing_input + b"." + _signature(key, signing_input)).decode("ascii")


def _parts(token: str) -> tuple[bytes, bytes, bytes]:
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN or not token.isascii():
        raise InvalidToken("not a token")
    parts = token.encode("ascii").split(b".")
    if len(parts) != 3:
        raise InvalidToken("not three segments")
    return parts[0], parts[1], parts[2]


def _object(segment: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(_unb64(segment))
    except orjson.JSONDecodeError:
        raise InvalidToken("not JSON") from None
    if not isinstance(value, dict):
        raise InvalidToken("not a JSON object")
    return value


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims, signature unchecked: only to choose which verifier checks the token. Padding
    is allowed here, as PyJWT allows it, since the token may be another issuer's."""
    return _object(_parts(token)[1].rstrip(b"="))


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken("a time claim is not a number")
    return int(value)


def decode(
    token: str,
    key: bytes,
    *,
    now: float,
    leeway: float = 0,
    require: Iterable[str] = (),
    issuer: str | None = None,
    audience: str | None = None,
    check_iat: bool = True,
) -> dict[str, Any]:
    """The claims of a token signed with `key`, checked as RFC 7519 says; InvalidToken if not.

    Present time claims must be numbers: `nbf` (and `iat`, unless `check_iat` is off) must not
    be later than `now + leeway`. `exp` is the caller's to check (each has its own answer for an
    expired token). With `issuer` or `audience`, the claim must match (`aud` may be a list);
    without `audience`, a token that names one is refused. `sub` and `jti`, when present, are
    strings.
    """
    header, payload, signature = _parts(token)
    if not hmac.compare_digest(_signature(key, header + b"." + payload), signature):
        raise InvalidToken("bad signature")
    fields = _object(header)
    if fields.get("alg") != ALGORITHM or "crit" in fields:
        raise InvalidToken("not HS256")
    claims = _object(payload)
    for name in require:
        if claims.get(name) is None:
            raise InvalidToken("a required claim is missing")
    if "exp" in claims:
        _integer(claims["exp"])
    if "nbf" in claims and _integer(claims["nbf"]) > now + leeway:
        raise InvalidToken("not yet valid")
    if check_iat and "iat" in claims and _integer(claims["iat"]) > now + leeway:
        raise InvalidToken("issued in the future")
    if issuer is not None and claims.get("iss") != issuer:
        raise InvalidToken("another issuer")
    aud = claims.get("aud")
    if audience is None:
        if aud:
            raise InvalidToken("meant for an audience")
    elif not (aud == audience or (isinstance(aud, list) and audience in aud)):
        raise InvalidToken("another audience")
    for name in ("sub", "jti"):
        if name in claims and not isinstance(claims[name], str):
            raise InvalidToken("a string claim is not a string")
    return claims
