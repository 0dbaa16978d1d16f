"""Forged credentials: every way an attacker might try to pass a bearer token off as valid."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt

from tests.conftest import TEST_SECRET
from tests.factories import Account

OTHER_KEY = b"another-secret-key-that-is-long-enough!"


def forge(claims: dict[str, object], key: bytes = TEST_SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg)


def claims_for(acct: Account, **overrides: object) -> dict[str, object]:
    """The claims Doable issues for `acct`; an override of None leaves that claim out."""
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": acct.id,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "iss": "doable",
        "aud": "doable-api",
        "typ": "access",
        "ver": 0,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def hs256_empty_key(claims: dict[str, object]) -> str:
    # PyJWT refuses to sign with an empty key, so sign by hand as an attacker would.
    signing_input = b64({"alg": "HS256", "typ": "JWT"}) + "." + b64(claims)
    sig = hmac.new(b"", signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(sig).decode().rstrip("=")


def forged_tokens(acct: Account) -> dict[str, str]:
    """Bearer tokens that must all get 401, by name: none is a valid access token for `acct`."""
    header, payload, sig = acct.access_token.split(".")
    tampered_payload = b64(
        {
            **json.loads(base64.urlsafe_b64decode(payload + "==")),
            "sub": "00000000-0000-0000-0000-000000000000",
        }
    )
    an_hour_ago = int(time.time()) - 3600
    return {
        "alg none": b64({"alg": "none", "typ": "JWT"}) + "." + b64(claims_for(acct)) + ".",
        "empty key": hs256_empty_key(claims_for(acct)),
        "other key": forge(claims_for(acct), key=OTHER_KEY),
        "tampered": f"{header}.{tampered_payload}.{sig}",
        "expired": forge(
            claims_for(acct, iat=an_hour_ago - 3600, nbf=an_hour_ago - 3600, exp=an_hour_ago)
        ),
        "not yet valid": forge(claims_for(acct, nbf=int(time.time()) + 3600)),
        "wrong iss": forge(claims_for(acct, iss="evil")),
        "wrong aud": forge(claims_for(acct, aud="other")),
        "no exp": forge(claims_for(acct, exp=None)),
        "no iat": forge(claims_for(acct, iat=None)),
        "no aud": forge(claims_for(acct, aud=None)),
        "no iss": forge(claims_for(acct, iss=None)),
        "no sub": forge(claims_for(acct, sub=None)),
        "sub not uuid": forge(claims_for(acct, sub="1 OR 1=1")),
        "refresh typ": forge(claims_for(acct, typ="refresh")),
        "old version": forge(claims_for(acct, ver=-1)),
        "refresh token": acct.refresh_token,
        "garbage": "abc.def",
        "empty": "",
    }
