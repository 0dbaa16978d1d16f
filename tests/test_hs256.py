"""Doable's own HS256 tokens (doable.auth.hs256) against PyJWT, both ways, and the tokens it must
refuse. The access tokens and links built on it are tested through the API in test_auth.py and
test_accounts.py."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest

from doable.auth import hs256

KEY = b"a-test-key-of-sixty-four-bytes-so-that-hs512-is-fine-too-0123456"
NOW = 1_800_000_000
CLAIMS: dict[str, Any] = {
    "sub": "8e0c3f0e-5b1d-4a55-9d3e-0d5b8e0f7a11",
    "iat": NOW,
    "nbf": NOW,
    "exp": NOW + 900,
    "iss": "doable",
    "aud": "doable-api",
    "typ": "access",
    "ver": 3,
    "jti": "x1y2z3",
    "name": "Zoë 🦊",
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode(token: str, **kw: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"now": NOW, "issuer": "doable", "audience": "doable-api"}
    options.update(kw)
    return hs256.decode(token, KEY, **options)


def test_pyjwt_reads_ours_and_we_read_pyjwts() -> None:
    ours = hs256.encode(CLAIMS, KEY)
    assert jwt.get_unverified_header(ours) == {"alg": "HS256", "typ": "JWT"}
    assert (
        jwt.decode(
            ours,
            KEY,
            algorithms=["HS256"],
            audience="doable-api",
            issuer="doable",
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
        == CLAIMS
    )
    theirs = jwt.encode(CLAIMS, KEY, algorithm="HS256", headers={"kid": "k1"})
    assert decode(theirs) == CLAIMS
    assert hs256.unverified_claims(theirs) == CLAIMS


def test_the_claims_are_checked() -> None:
    token = hs256.encode(CLAIMS, KEY)
    assert decode(token, require=("exp", "iat", "sub", "iss", "aud"))["ver"] == 3
    assert decode(hs256.encode({**CLAIMS, "aud": ["x", "doable-api"]}, KEY))["sub"]
    refused = [
        {**CLAIMS, "iss": "someone-else"},
        {**CLAIMS, "aud": "another-api"},
        {**CLAIMS, "aud": ["x", "y"]},
        {k: v for k, v in CLAIMS.items() if k != "aud"},
        {**CLAIMS, "nbf": NOW + 60},
        {**CLAIMS, "iat": NOW + 60},
        {**CLAIMS, "exp": "tomorrow"},
        {**CLAIMS, "exp": True},
        {**CLAIMS, "nbf": None},
        {**CLAIMS, "iat": [NOW]},
        {**CLAIMS, "sub": 42},
        {**CLAIMS, "jti": {"a": 1}},
    ]
    for claims in refused:
        with pytest.raises(hs256.InvalidToken):
            decode(hs256.encode(claims, KEY))
    # Within the leeway, and `iat` unchecked when asked.
    assert decode(hs256.encode({**CLAIMS, "nbf": NOW + 4}, KEY), leeway=5)
    assert decode(hs256.encode({**CLAIMS, "iat": NOW + 60}, KEY), check_iat=False)
    with pytest.raises(hs256.InvalidToken):
        decode(hs256.encode({**CLAIMS, "aud": None}, KEY), require=("aud",))
    # No audience expected: a token that names one is not for us.
    with pytest.raises(hs256.InvalidToken):
        hs256.decode(token, KEY, now=NOW)


def _forged() -> dict[str, str]:
    good = hs256.encode(CLAIMS, KEY)
    header, payload, signature = good.split(".")
    other = hs256.encode({**CLAIMS, "sub": "someone"}, KEY).split(".")[1]

    def signed(head: dict[str, Any] | bytes, body: bytes | None = None) -> str:
        raw = head if isinstance(head, bytes) else json.dumps(head).encode()
        segment = b64(raw) + "." + (b64(body) if body is not None else payload)
        return segment + "." + hs256._signature(KEY, segment.encode()).decode()

    return {
        "another key": hs256.encode(CLAIMS, b"another-key-that-is-long-enough-0123456789"),
        "payload swapped": f"{header}.{other}.{signature}",
        "signature cut": good[:-2],
        "signature padded": good + "=",
        "no signature": f"{header}.{payload}.",
        "alg none": jwt.encode(CLAIMS, None, algorithm="none"),
        "HS512": jwt.encode(CLAIMS, KEY, algorithm="HS512"),
        "HS384 header, HS256 signature": signed({"alg": "HS384", "typ": "JWT"}),
        "lower-case alg": signed({"alg": "hs256"}),
        "crit": signed({"alg": "HS256", "crit": ["exp"]}),
        "header not JSON": signed(b"{alg: HS256}"),
        "header a list": signed(b'["HS256"]'),
        "payload a list": signed({"alg": "HS256"}, b"[1, 2]"),
        "payload not JSON": signed({"alg": "HS256"}, b"\xff\xfe"),
        "payload huge number": signed({"alg": "HS256"}, b'{"exp": 1' + b"0" * 400 + b"}"),
        "two segments": f"{header}.{payload}",
        "four segments": f"{header}.{payload}.{signature}.{signature}",
        "padding in a segment": f"{header}=.{payload}.{signature}",
        "standard base64": good.replace("-", "+").replace("_", "/") + "+/",
        "non-ASCII": good + "é",
        "spaces": f" {good}",
        "empty": "",
        "dots": "..",
        "too long": hs256.encode({**CLAIMS, "pad": "x" * hs256.MAX_TOKEN}, KEY),
    }


@pytest.mark.parametrize("name", sorted(_forged()))
def test_a_forged_or_broken_token_is_refused(name: str) -> None:
    token = _forged()[name]
    with pytest.raises(hs256.InvalidToken):
        decode(token)


@pytest.mark.parametrize("value", [None, 42, b"bytes", ["a.b.c"]])
def test_a_token_that_is_not_a_string_is_refused(value: Any) -> None:
    with pytest.raises(hs256.InvalidToken):
        hs256.decode(value, KEY, now=NOW)
    with pytest.raises(hs256.InvalidToken):
        hs256.unverified_claims(value)


def test_the_peek_at_another_issuers_claims_allows_padding() -> None:
    # Only to route a token to its verifier: PyJWT reads padded segments, so the peek does too.
    header, payload, signature = jwt.encode(CLAIMS, KEY, algorithm="HS256").split(".")
    padded = f"{header}.{payload}{'=' * (-len(payload) % 4)}.{signature}"
    assert hs256.unverified_claims(padded) == CLAIMS
    with pytest.raises(hs256.InvalidToken):
        decode(padded)
