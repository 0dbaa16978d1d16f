"""External JWT issuers (Better Auth): a JWKS served on loopback by this test, real keys, HTTP.

The JWKS server is a small threaded http.server whose answer each test sets (keys, an error
status, garbage) and which counts the requests it gets, so refetching can be asserted exactly.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from sqlalchemy import func, select

from doable.app import create_app
from doable.auth.models import ExternalIdentity, User
from doable.config import (
    ConfigError,
    RuntimeConfig,
    Settings,
    external_auth,
    normalize_database_url,
)
from doable.db import Database
from tests.conftest import TEST_SECRET, fast_settings, make_client, runtime_for, truncate_all
from tests.factories import PASSWORD, assert_problem, bearer, make_account
from tests.server import DOABLE, Server, server_env

ISSUER = "https://app.example.com"
AUDIENCE = "https://app.example.com"
SHARED_SECRET = "better-auth-secret-0123456789abcdef-XYZ"


# Keys and tokens


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        to_jwk: Callable[..., Any] = {
            "RS256": RSAAlgorithm.to_jwk,
            "ES256": ECAlgorithm.to_jwk,
            "EdDSA": OKPAlgorithm.to_jwk,
        }[self.algorithm]
        data: dict[str, Any] = to_jwk(public, as_dict=True)
        return {**data, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        headers = {"kid": self.kid, **header}
        return jwt.encode(claims, self.private, algorithm=self.algorithm, headers=headers)


_KEYS: dict[str, Any] = {}


def private_key(kind: str, n: int = 0) -> Any:
    """Generated once per test session (RSA generation is slow)."""
    name = f"{kind}-{n}"
    if name not in _KEYS:
        if kind == "rsa":
            _KEYS[name] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif kind == "ec":
            _KEYS[name] = ec.generate_private_key(ec.SECP256R1())
        else:
            _KEYS[name] = ed25519.Ed25519PrivateKey.generate()
    return _KEYS[name]


ALGORITHMS = {"rsa": "RS256", "ec": "ES256", "ed25519": "EdDSA"}


def signing_key(kind: str, n: int = 0) -> SigningKey:
    return SigningKey(f"{kind}-key-{n}", ALGORITHMS[kind], private_key(kind, n))


def claims(sub: str | None = None, **extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "sub": sub or f"u_{uuid.uuid4().hex[:20]}",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=15)).timestamp()),
    }
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], signature: bytes | None = None) -> str:
    """A token built by hand, as an attacker would: any header, any signature."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    if signature is None:
        return signing_input + "."
    return f"{signing_input}.{b64(signature)}"


def forge_hs256(header: dict[str, Any], payload: dict[str, Any], key: bytes) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


# The JWKS server


class JwksServer:
    """Serves `body` with `status` at /jwks on a free loopback port and counts the requests."""

    def __init__(self) -> None:
        self.status = 200
        self.body = b'{"keys": []}'
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.running = True

    def publish(self, *keys: SigningKey) -> None:
        self.status = 200
        self.body = json.dumps({"keys": [k.jwk() for k in keys]}).encode()

    def stop(self) -> None:
        if self.running:
            self.server.shutdown()
            self.server.server_close()
            self.running = False


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    server = JwksServer()
    try:
        yield server
    finally:
        server.stop()


def external_settings(jwks: JwksServer | None = None, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"AUTH_JWT_ISSUER": ISSUER, "AUTH_JWT_AUDIENCE": AUDIENCE}
    if jwks is not None:
        values["AUTH_JWKS_URL"] = jwks.url
    values.update(overrides)
    return values


@pytest.fixture
def external_client(database: Database, data_dir: Path) -> Callable[..., Any]:
    """Build the app with external-issuer settings; yields an HTTP client to it."""

    @asynccontextmanager
    async def build(**settings: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(runtime_for(database, data_dir, **settings), database)
        try:
            async with make_client(app) as client:
                yield client
        finally:
            await truncate_all(database.engine)

    return build


async def count_rows(database: Database, model: Any, *where: Any) -> int:
    async with database.read_sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# A valid token, for each key type


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519"])
async def test_a_valid_token_provisions_the_user_and_works_everywhere(
    kind: str, jwks: JwksServer, external_client: Any, database: Database
) -> None:
    key = signing_key(kind)
    jwks.publish(key)
    sub = f"u_9xYz{kind}"
    token = key.sign(claims(sub, email="Ada@Example.com", email_verified=True, name="Ada Lovelace"))
    async with external_client(**external_settings(jwks)) as client:
        r = await client.get("/api/v1/tasks", headers=bearer(token))
        assert r.status_code == 200, r.text
        assert r.json() == {"items": [], "next_cursor": None}
        r = await client.post("/api/v1/tasks", json={"title": "from v1"}, headers=bearer(token))
        assert r.status_code == 201, r.text

        # The spec's routes, addressed by the issuer's id for the user.
        r = await client.post(
            f"/api/{sub}/tasks",
            json={"title": "Buy groceries", "description": "Milk"},
            headers=bearer(token),
        )
        assert r.status_code == 201, r.text
        created = r.json()
        assert (created["user_id"], created["title"], created["completed"]) == (
            sub,
            "Buy groceries",
            False,
        )
        assert r.headers["location"] == f"/api/{sub}/tasks/{created['id']}"
        r = await client.get(f"/api/{sub}/tasks", params={"sort": "title"}, headers=bearer(token))
        assert r.status_code == 200
        assert [(t["title"], t["user_id"]) for t in r.json()] == [
            ("Buy groceries", sub),
            ("from v1", sub),
        ]
        r = await client.patch(f"/api/{sub}/tasks/{created['id']}/complete", headers=bearer(token))
        assert r.status_code == 200 and r.json()["completed"] is True

        r = await client.get("/api/v1/me", headers=bearer(token))
        assert r.status_code == 200
        me = r.json()
        assert (me["email"], me["name"]) == ("ada@example.com", "Ada Lovelace")
        # Provisioning made the user's Inbox, where both tasks went.
        r = await client.get("/api/v1/projects", headers=bearer(token))
        assert [(p["name"], p["inbox"], p["open_count"]) for p in r.json()] == [("Inbox", True, 1)]
        # Our UUID names the same user on the compat routes too.
        r = await client.get(f"/api/{me['id']}/tasks", headers=bearer(token))
        assert r.status_code == 200 and len(r.json()) == 2

        assert await count_rows(database, User) == 1
        assert await count_rows(database, ExternalIdentity, ExternalIdentity.subject == sub) == 1
        async with database.read_sessions() as session:
            user = await session.scalar(select(User))
            assert user is not None
            assert (str(user.id), user.password_hash) == (me["id"], "!external")
    assert jwks.requests == 1


async def test_our_own_access_tokens_still_work_beside_the_external_issuer(
    jwks: JwksServer, external_client: Any
) -> None:
    jwks.publish(signing_key("ed25519"))
    async with external_client(**external_settings(jwks)) as client:
        acct = await make_account(client)
        r = await client.post(f"/api/{acct.id}/tasks", json={"title": "x"}, headers=acct.headers)
        assert r.status_code == 201 and r.json()["user_id"] == acct.id
        r = await client.get("/api/v1/tasks", headers=acct.headers)
        assert [t["title"] for t in r.json()["items"]] == ["x"]
    assert jwks.requests == 0  # our tokens never reach the JWKS


async def test_first_requests_at_once_make_one_user(
    jwks: JwksServer, external_client: Any, database: Database
) -> None:
    key = signing_key("ed25519")
    jwks.publish(key)
    token = key.sign(claims("u_race", email="race@example.com"))
    async with external_client(**external_settings(jwks)) as client:
        responses = await asyncio.gather(
            *[
                client.post("/api/v1/tasks", json={"title": f"t{i}"}, headers=bearer(token))
                for i in range(4)
            ],
            *[client.get("/api/v1/me", headers=bearer(token)) for _ in range(4)],
        )
        assert [r.status_code for r in responses] == [201] * 4 + [200] * 4
        assert len({r.json()["id"] for r in responses[4:]}) == 1
        assert await count_rows(database, User) == 1
        assert await count_rows(database, ExternalIdentity) == 1
        r = await client.get("/api/u_race/tasks", headers=bearer(token))
        assert sorted(t["title"] for t in r.json()) == ["t0", "t1", "t2", "t3"]


async def test_an_external_token_never_takes_over_a_local_account_by_email(
    jwks: JwksServer, external_client: Any, database: Database
) -> None:
    key = signing_key("ec")
    jwks.publish(key)
    async with external_client(**external_settings(jwks)) as client:
        local = await make_account(client, email="owner@example.com")
        await client.post("/api/v1/tasks", json={"title": "local secret"}, headers=local.headers)
        # Even an address the issuer says is verified.
        token = key.sign(claims("u_intruder", email="OWNER@example.com", email_verified=True))
        r = await client.get("/api/v1/me", headers=bearer(token))
        assert r.status_code == 200
        me = r.json()
        assert me["id"] != local.id
        assert me["email"] == f"{uuid.UUID(me['id']).hex}@external.invalid"
        r = await client.get("/api/v1/tasks", headers=bearer(token))
        assert r.json()["items"] == []
        assert_problem(await client.get(f"/api/{local.id}/tasks", headers=bearer(token)), 403)
        # The local account is untouched and still signs in with its password.
        r = await client.post(
            "/api/v1/auth/login", json={"email": "owner@example.com", "password": local.password}
        )
        assert r.status_code == 200 and r.json()["user"]["id"] == local.id
        # No email claim at all: a placeholder address too.
        r = await client.get("/api/v1/me", headers=bearer(key.sign(claims("u_noemail"))))
        assert r.json()["email"].endswith("@external.invalid")
        assert await count_rows(database, User) == 3


@pytest.mark.parametrize(
    ("verification", "bound"),
    [
        ({}, False),
        ({"email_verified": False}, False),
        ({"email_verified": "true"}, False),  # a string is not the JSON true the claim means
        ({"email_verified": 1}, False),
        ({"email_verified": True}, True),
        ({"emailVerified": True}, True),  # Better Auth's JWT plugin, default payload
        ({"emailVerified": False, "email_verified": False}, False),
    ],
)
async def test_only_a_verified_email_is_bound(
    verification: dict[str, Any], bound: bool, jwks: JwksServer, external_client: Any
) -> None:
    """An unverified address could be anyone's: taking it would make its real owner's own
    signup fail with 409. It is bound only when the issuer marks it verified."""
    key = signing_key("ec")
    jwks.publish(key)
    async with external_client(**external_settings(jwks)) as client:
        token = key.sign(claims("u_claims", email="Grace@Example.com", **verification))
        me = (await client.get("/api/v1/me", headers=bearer(token))).json()
        placeholder = f"{uuid.UUID(me['id']).hex}@external.invalid"
        assert me["email"] == ("grace@example.com" if bound else placeholder)
        r = await client.post(
            "/api/v1/auth/signup", json={"email": "grace@example.com", "password": PASSWORD}
        )
        assert r.status_code == (409 if bound else 201)


async def test_a_numeric_sub_names_the_same_user_as_its_string(
    jwks: JwksServer, external_client: Any, database: Database
) -> None:
    """RFC 7519 wants a string, but issuers keyed by a serial id send a number: it is taken
    as its decimal string (PyJWT would refuse it)."""
    key = signing_key("ed25519")
    jwks.publish(key)
    async with external_client(**external_settings(jwks)) as client:
        numeric = bearer(key.sign({**claims(), "sub": 4242}))
        r = await client.post("/api/4242/tasks", json={"title": "n"}, headers=numeric)
        assert r.status_code == 201, r.text
        assert r.json()["user_id"] == "4242"
        as_string = bearer(key.sign(claims("4242")))
        r = await client.get("/api/v1/tasks", headers=as_string)
        assert [t["title"] for t in r.json()["items"]] == ["n"]
        assert await count_rows(database, ExternalIdentity, ExternalIdentity.subject == "4242") == 1
        # A float is refused rather than guessed at.
        assert_problem(
            await client.get("/api/v1/me", headers=bearer(key.sign({**claims(), "sub": 1.5}))), 401
        )


async def test_a_provisioned_user_has_no_password(jwks: JwksServer, external_client: Any) -> None:
    key = signing_key("rsa")
    jwks.publish(key)
    async with external_client(**external_settings(jwks)) as client:
        token = key.sign(claims("u_nopass", email="nopass@example.com"))
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200
        for password in ["!external", "external", "correct horse battery"]:
            r = await client.post(
                "/api/v1/auth/login", json={"email": "nopass@example.com", "password": password}
            )
            assert assert_problem(r, 401)["detail"] == "Email or password is incorrect"


async def test_an_external_token_cannot_manage_credentials_or_the_account(
    jwks: JwksServer, external_client: Any, database: Database
) -> None:
    key = signing_key("ed25519")
    jwks.publish(key)
    token = key.sign(claims("u_limited", email="limited@example.com"))
    detail = (
        "Tokens from the external sign-in provider cannot be used here; manage the account there"
    )
    async with external_client(**external_settings(jwks)) as client:
        for method, url, body in [
            ("POST", "/api/v1/tokens", {"name": "sneaky", "scopes": ["tasks:read"]}),
            ("GET", "/api/v1/tokens", None),
            ("DELETE", f"/api/v1/tokens/{uuid.uuid4()}", None),
            (
                "POST",
                "/api/v1/me/password",
                {"current_password": "x" * 12, "new_password": "a brand new password"},
            ),
            ("DELETE", "/api/v1/me", {"password": "x" * 12}),
        ]:
            r = await client.request(method, url, json=body, headers=bearer(token))
            assert assert_problem(r, 403)["detail"] == detail, (method, url)
        # The name and time zone are not credentials: those it may change.
        r = await client.patch(
            "/api/v1/me", json={"timezone": "Europe/Paris"}, headers=bearer(token)
        )
        assert r.status_code == 200 and r.json()["timezone"] == "Europe/Paris"
        assert await count_rows(database, User) == 1


# Keys: rotation, unknown kids, an endpoint that is down or broken


async def test_key_rotation_picks_up_the_new_key_and_drops_the_old(
    jwks: JwksServer, external_client: Any
) -> None:
    old, new = signing_key("ed25519", 0), signing_key("ed25519", 1)
    jwks.publish(old)
    sub = "u_rotate"
    async with external_client(**external_settings(jwks, AUTH_JWKS_REFETCH_SECONDS=0)) as client:
        r = await client.get(f"/api/{sub}/tasks", headers=bearer(old.sign(claims(sub))))
        assert r.status_code == 200
        jwks.publish(new)  # the issuer rotates: the new kid appears, the old one is gone
        r = await client.get(f"/api/{sub}/tasks", headers=bearer(new.sign(claims(sub))))
        assert r.status_code == 200
        assert jwks.requests == 2
        r = await client.get(f"/api/{sub}/tasks", headers=bearer(old.sign(claims(sub))))
        problem = assert_problem(r, 401)
        assert problem["detail"] == "The access token is signed with an unknown key"
        assert jwks.requests == 3


async def test_an_unknown_kid_refetches_once_and_is_rate_limited(
    jwks: JwksServer, external_client: Any
) -> None:
    known, stranger = signing_key("ec", 0), signing_key("ec", 1)
    jwks.publish(known)
    settings = external_settings(jwks, AUTH_JWKS_REFETCH_SECONDS=1)
    async with external_client(**settings) as client:
        ok = bearer(known.sign(claims("u_rl")))
        unknown = bearer(stranger.sign(claims("u_rl")))
        assert (await client.get("/api/v1/tasks", headers=ok)).status_code == 200
        assert jwks.requests == 1
        assert_problem(await client.get("/api/v1/tasks", headers=unknown), 401)
        assert jwks.requests == 1  # within a second of the last fetch: no refetch
        await asyncio.sleep(1.05)
        assert_problem(await client.get("/api/v1/tasks", headers=unknown), 401)
        assert jwks.requests == 2  # one refetch, still unknown
        for _ in range(5):
            assert_problem(await client.get("/api/v1/tasks", headers=unknown), 401)
            assert (await client.get("/api/v1/tasks", headers=ok)).status_code == 200
        assert jwks.requests == 2


async def test_cached_keys_keep_working_while_the_jwks_is_down(
    jwks: JwksServer, external_client: Any
) -> None:
    cached, later = signing_key("rsa", 0), signing_key("rsa", 1)
    jwks.publish(cached)
    settings = external_settings(jwks, AUTH_JWKS_REFETCH_SECONDS=0, AUTH_JWKS_CACHE_SECONDS=1)
    async with external_client(**settings) as client:
        token = bearer(cached.sign(claims("u_down")))
        assert (await client.get("/api/v1/tasks", headers=token)).status_code == 200
        jwks.stop()
        await asyncio.sleep(1.05)  # the cache is stale: the refetch fails, the key stays
        assert (await client.get("/api/v1/tasks", headers=token)).status_code == 200
        r = await client.get("/api/v1/tasks", headers=bearer(later.sign(claims("u_down"))))
        assert assert_problem(r, 401)["detail"] == "The access token is signed with an unknown key"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b"<html>not json</html>"),
        (200, b'{"keys": "nope"}'),
        (200, b"[1, 2, 3]"),
        (500, b'{"keys": []}'),
        (200, b'{"keys": [], "pad": "' + b"x" * (300 * 1024) + b'"}'),
    ],
    ids=["html", "keys-not-a-list", "not-an-object", "http-500", "too-large"],
)
async def test_a_broken_jwks_means_401_for_unknown_keys_only(
    jwks: JwksServer, external_client: Any, status: int, body: bytes
) -> None:
    cached, other = signing_key("ed25519", 0), signing_key("ed25519", 1)
    jwks.publish(cached)
    async with external_client(**external_settings(jwks, AUTH_JWKS_REFETCH_SECONDS=0)) as client:
        ok = bearer(cached.sign(claims("u_garbage")))
        assert (await client.get("/api/v1/tasks", headers=ok)).status_code == 200
        jwks.status, jwks.body = status, body
        r = await client.get("/api/v1/tasks", headers=bearer(other.sign(claims("u_garbage"))))
        assert_problem(r, 401)
        assert jwks.requests == 2
        assert (await client.get("/api/v1/tasks", headers=ok)).status_code == 200


async def test_a_jwks_that_is_down_from_the_start_does_not_stop_the_app(
    jwks: JwksServer, external_client: Any
) -> None:
    key = signing_key("ec")
    jwks.stop()
    async with external_client(**external_settings(jwks)) as client:
        assert (await client.get("/healthz")).status_code == 200
        acct = await make_account(client)
        assert (await client.get("/api/v1/tasks", headers=acct.headers)).status_code == 200
        r = await client.get("/api/v1/tasks", headers=bearer(key.sign(claims())))
        assert_problem(r, 401)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_unusable_keys_in_the_jwks_are_skipped(
    jwks: JwksServer, external_client: Any
) -> None:
    good = signing_key("ed25519")
    weak = SigningKey("weak-rsa", "RS256", rsa.generate_private_key(65537, 1024))
    rsa_as_ps256 = {**signing_key("rsa").jwk(), "kid": "ps256", "alg": "PS256"}
    p384 = ec.generate_private_key(ec.SECP384R1())
    jwks.body = json.dumps(
        {
            "keys": [
                weak.jwk(),
                rsa_as_ps256,
                {**ECAlgorithm.to_jwk(p384.public_key(), as_dict=True), "kid": "p384"},
                {**good.jwk(), "use": "enc", "kid": "enc-only"},
                {"kid": "broken", "kty": "OKP", "crv": "Ed25519", "x": "!!"},
                "not a key",
                good.jwk(),
            ]
        }
    ).encode()
    async with external_client(**external_settings(jwks, AUTH_JWKS_REFETCH_SECONDS=0)) as client:
        assert (
            await client.get("/api/v1/tasks", headers=bearer(good.sign(claims())))
        ).status_code == 200
        r = await client.get("/api/v1/tasks", headers=bearer(weak.sign(claims())))
        assert_problem(r, 401)
        rsa_key = signing_key("rsa")
        r = await client.get(
            "/api/v1/tasks",
            headers=bearer(jwt.encode(claims(), rsa_key.private, "PS256", {"kid": "ps256"})),
        )
        assert_problem(r, 401)
        r = await client.get(
            "/api/v1/tasks", headers=bearer(jwt.encode(claims(), p384, "ES384", {"kid": "p384"}))
        )
        assert_problem(r, 401)


# Forged and invalid tokens


def _rsa_public_pem() -> bytes:
    public: bytes = (
        private_key("rsa")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return public


FORGERIES: dict[str, Callable[[], str]] = {
    # The classic: HS256 keyed with the RSA public key, which anyone can download.
    "hs256-with-rsa-public-pem": lambda: forge_hs256(
        {"alg": "HS256", "typ": "JWT", "kid": "rsa-key-0"}, claims("u_forged"), _rsa_public_pem()
    ),
    "hs256-with-rsa-jwk-json": lambda: forge_hs256(
        {"alg": "HS256", "kid": "rsa-key-0"},
        claims("u_forged"),
        json.dumps(signing_key("rsa").jwk()).encode(),
    ),
    "alg-none": lambda: forge({"alg": "none", "kid": "rsa-key-0"}, claims("u_forged")),
    "alg-none-with-signature": lambda: forge(
        {"alg": "none", "kid": "rsa-key-0"}, claims("u_forged"), b"x"
    ),
    # The kid names the RSA key, but the token is ES256, signed by an EC key.
    "es256-under-rsa-kid": lambda: jwt.encode(
        claims("u_forged"), private_key("ec"), "ES256", {"kid": "rsa-key-0"}
    ),
    "eddsa-under-ec-kid": lambda: jwt.encode(
        claims("u_forged"), private_key("ed25519"), "EdDSA", {"kid": "ec-key-0"}
    ),
    "rs512-with-the-rsa-key": lambda: jwt.encode(
        claims("u_forged"), private_key("rsa"), "RS512", {"kid": "rsa-key-0"}
    ),
    "no-kid": lambda: jwt.encode(claims("u_forged"), private_key("rsa"), "RS256"),
    "signed-by-another-rsa-key": lambda: jwt.encode(
        claims("u_forged"), private_key("rsa", 1), "RS256", {"kid": "rsa-key-0"}
    ),
    "tampered-payload": lambda: (
        lambda t: ".".join(
            [
                t.split(".")[0],
                b64(json.dumps(claims("u_someone_else")).encode()),
                t.split(".")[2],
            ]
        )
    )(signing_key("rsa").sign(claims("u_forged"))),
    "not-a-jwt": lambda: "definitely.not.a-jwt",
}


@pytest.mark.parametrize("name", list(FORGERIES))
async def test_forged_tokens_are_401(
    name: str, jwks: JwksServer, external_client: Any, database: Database
) -> None:
    jwks.publish(signing_key("rsa"), signing_key("ec"), signing_key("ed25519"))
    async with external_client(**external_settings(jwks)) as client:
        token = FORGERIES[name]()
        for url in ["/api/v1/tasks", "/api/u_forged/tasks"]:
            r = await client.get(url, headers=bearer(token))
            assert_problem(r, 401)
            assert r.headers["www-authenticate"] == "Bearer"
        assert await count_rows(database, User) == 0


def _in(seconds: int) -> int:
    return int((datetime.now(UTC) + timedelta(seconds=seconds)).timestamp())


# Times are offsets from the moment the test runs (a module-level timestamp would go stale).
INVALID_CLAIMS: dict[str, tuple[dict[str, Any], str]] = {
    "expired": ({"exp": -120}, "The access token has expired"),
    "not-yet-valid": ({"nbf": 300}, "The access token is invalid"),
    "issued-in-the-future": ({"iat": 300}, "The access token is invalid"),
    "wrong-audience": ({"aud": "https://other.example.com"}, "The access token is invalid"),
    "wrong-issuer": ({"iss": "https://evil.example.com"}, "The access token is invalid"),
    "no-exp": ({"exp": None}, "The access token is invalid"),
    "no-aud": ({"aud": None}, "The access token is invalid"),
    "no-user-id": ({"sub": None}, "The access token has no usable sub claim"),
    "empty-user-id": ({"sub": ""}, "The access token has no usable sub claim"),
    "user-id-not-a-string": ({"sub": ["u_1"]}, "The access token has no usable sub claim"),
    "user-id-a-boolean": ({"sub": True}, "The access token has no usable sub claim"),
    "too-long-user-id": ({"sub": "u" * 256}, "The access token has no usable sub claim"),
}


@pytest.mark.parametrize("name", list(INVALID_CLAIMS))
async def test_invalid_claims_are_401(
    name: str, jwks: JwksServer, external_client: Any, database: Database
) -> None:
    key = signing_key("ed25519")
    jwks.publish(key)
    changes, detail = INVALID_CLAIMS[name]
    times = {k: _in(v) for k, v in changes.items() if k in {"exp", "nbf", "iat"} and v is not None}
    body = {**claims("u_claims"), **changes, **times}
    token = key.sign({k: v for k, v in body.items() if v is not None})
    async with external_client(**external_settings(jwks)) as client:
        r = await client.get("/api/v1/tasks", headers=bearer(token))
        assert assert_problem(r, 401)["detail"] == detail
        assert await count_rows(database, User) == 0


async def test_clock_skew_within_the_leeway_is_accepted(
    jwks: JwksServer, external_client: Any
) -> None:
    key = signing_key("ec")
    jwks.publish(key)
    token = key.sign(claims("u_skew", exp=_in(-10), nbf=_in(10), iat=_in(10)))
    async with external_client(**external_settings(jwks)) as client:
        assert (await client.get("/api/v1/tasks", headers=bearer(token))).status_code == 200
    async with external_client(**external_settings(jwks, AUTH_JWT_LEEWAY_SECONDS=0)) as client:
        r = await client.get("/api/v1/tasks", headers=bearer(token))
        assert assert_problem(r, 401)["detail"] == "The access token is invalid"  # iat ahead
        late = key.sign(claims("u_skew", exp=_in(-10)))
        r = await client.get("/api/v1/tasks", headers=bearer(late))
        assert assert_problem(r, 401)["detail"] == "The access token has expired"


async def test_custom_user_id_and_email_claims(jwks: JwksServer, external_client: Any) -> None:
    key = signing_key("ed25519")
    jwks.publish(key)
    settings = external_settings(
        jwks, AUTH_JWT_USER_ID_CLAIM="user_id", AUTH_JWT_EMAIL_CLAIM="mail"
    )
    token = key.sign(
        claims("ignored-sub", user_id=4242, mail="num@example.com", email_verified=True)
    )
    async with external_client(**settings) as client:
        r = await client.get("/api/v1/me", headers=bearer(token))
        assert r.status_code == 200 and r.json()["email"] == "num@example.com"
        r = await client.post("/api/4242/tasks", json={"title": "n"}, headers=bearer(token))
        assert r.status_code == 201 and r.json()["user_id"] == "4242"
        assert_problem(await client.get("/api/ignored-sub/tasks", headers=bearer(token)), 403)


# Shared-secret (HS256) mode


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_shared_secret_mode(external_client: Any, database: Database) -> None:
    settings = external_settings(AUTH_JWT_SECRET=SHARED_SECRET)
    async with external_client(**settings) as client:
        token = jwt.encode(claims("u_hs", email="hs@example.com"), SHARED_SECRET, "HS256")
        r = await client.post("/api/u_hs/tasks", json={"title": "shared"}, headers=bearer(token))
        assert r.status_code == 201 and r.json()["user_id"] == "u_hs"
        r = await client.get("/api/v1/tasks", headers=bearer(token))
        assert [t["title"] for t in r.json()["items"]] == ["shared"]
        refused = [
            jwt.encode(claims("u_hs"), "another-secret-that-is-long-enough-123", "HS256"),
            jwt.encode(claims("u_hs"), SHARED_SECRET, "HS384"),
            signing_key("rsa").sign(claims("u_hs")),
            forge({"alg": "none"}, claims("u_hs")),
            jwt.encode(claims("u_hs", aud="elsewhere"), SHARED_SECRET, "HS256"),
        ]
        for bad in refused:
            assert_problem(await client.get("/api/v1/tasks", headers=bearer(bad)), 401)
        assert await count_rows(database, User) == 1


# {user_id} in the compat routes


async def test_compat_user_id_must_be_the_callers(jwks: JwksServer, external_client: Any) -> None:
    key = signing_key("ed25519")
    jwks.publish(key)
    alice, bob = bearer(key.sign(claims("u_alice"))), bearer(key.sign(claims("u_bob")))
    async with external_client(**external_settings(jwks)) as client:
        r = await client.post("/api/u_alice/tasks", json={"title": "alice's"}, headers=alice)
        task = r.json()
        local = await make_account(client)
        for method, url in [
            ("GET", "/api/u_alice/tasks"),
            ("POST", "/api/u_alice/tasks"),
            ("GET", f"/api/u_alice/tasks/{task['id']}"),
            ("PUT", f"/api/u_alice/tasks/{task['id']}"),
            ("DELETE", f"/api/u_alice/tasks/{task['id']}"),
            ("PATCH", f"/api/u_alice/tasks/{task['id']}/complete"),
        ]:
            r = await client.request(method, url, json={"title": "x"}, headers=bob)
            problem = assert_problem(r, 403)
            assert problem["detail"] == "The credential belongs to another user than {user_id}"
            r = await client.request(method, url, json={"title": "x"}, headers=local.headers)
            assert_problem(r, 403)
            r = await client.request(method, url, json={"title": "x"})
            assert_problem(r, 401)
        # Bob's own path does not reach Alice's task either: 404, not 403.
        r = await client.get(f"/api/u_bob/tasks/{task['id']}", headers=bob)
        assert_problem(r, 404)
        assert_problem(await client.get(f"/api/{local.id}/tasks", headers=alice), 403)
        r = await client.get("/api/u_alice/tasks", headers=alice)
        assert [(t["title"], t["completed"]) for t in r.json()] == [("alice's", False)]


@pytest.mark.parametrize(
    "user_id", ["v2", "v10", "-leading-dash", "a%20b", "a%2Fb", "%00", "x" * 256, "a%0Ab", "é"]
)
async def test_garbage_user_ids_are_unknown_routes(
    user_id: str, jwks: JwksServer, external_client: Any
) -> None:
    key = signing_key("ed25519")
    jwks.publish(key)
    async with external_client(**external_settings(jwks)) as client:
        for headers in ({}, bearer(key.sign(claims(user_id)))):
            r = await client.get(f"/api/{user_id}/tasks", headers=headers)
            assert_problem(r, 404)
            r = await client.post(f"/api/{user_id}/tasks", json={"title": "x"}, headers=headers)
            assert_problem(r, 404)


async def test_v1_routes_are_never_shadowed(jwks: JwksServer, external_client: Any) -> None:
    key = signing_key("ed25519")
    jwks.publish(key)
    token = bearer(key.sign(claims("v1")))  # a provider id that collides with our prefix
    async with external_client(**external_settings(jwks)) as client:
        r = await client.post("/api/v1/tasks", json={"title": "t"}, headers=token)
        assert r.status_code == 201
        r = await client.get("/api/v1/tasks", headers=token)
        assert r.status_code == 200 and [t["title"] for t in r.json()["items"]] == ["t"]
        r = await client.patch(
            f"/api/v1/tasks/{r.json()['items'][0]['id']}/complete", headers=token
        )
        assert_problem(r, 405)
        r = await client.put("/api/v1/tasks", json={"title": "x"}, headers=token)
        assert_problem(r, 405)


# Settings


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return fast_settings(tmp_path, **values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"AUTH_JWKS_URL": "https://a.example/jwks", "AUTH_JWT_SECRET": SHARED_SECRET},
            "AUTH_JWKS_URL and AUTH_JWT_SECRET are mutually exclusive",
        ),
        ({"AUTH_JWKS_URL": "https://a.example/jwks"}, "AUTH_JWT_ISSUER is required"),
        (
            {"AUTH_JWKS_URL": "https://a.example/jwks", "AUTH_JWT_ISSUER": ISSUER},
            "AUTH_JWT_AUDIENCE is required",
        ),
        ({"AUTH_JWT_ISSUER": ISSUER}, "AUTH_JWT_ISSUER set without AUTH_JWKS_URL"),
        (
            {**external_settings(), "AUTH_JWT_SECRET": "short-secret-value"},
            "AUTH_JWT_SECRET is too short",
        ),
        (
            {**external_settings(), "AUTH_JWKS_URL": "ftp://a.example/jwks"},
            "AUTH_JWKS_URL must be an http:// or https:// URL",
        ),
        (
            {**external_settings(), "AUTH_JWKS_URL": "not a url"},
            "AUTH_JWKS_URL must be an http:// or https:// URL",
        ),
        (
            {**external_settings(), "AUTH_JWKS_URL": "https://a/j", "AUTH_JWT_ISSUER": "doable"},
            "AUTH_JWT_ISSUER must differ from JWT_ISSUER",
        ),
    ],
)
def test_unusable_settings_stop_the_start_with_one_clear_line(
    tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    settings = _settings(tmp_path, **values)
    with pytest.raises(ConfigError) as caught:
        external_auth(settings)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
    assert "short-secret-value" not in str(caught.value)
    with pytest.raises(ConfigError):  # create_app refuses too, before serving anything
        create_app(
            runtime_for_settings(settings, tmp_path),
        )


def runtime_for_settings(settings: Settings, tmp_path: Path) -> RuntimeConfig:
    return RuntimeConfig(settings, tmp_path, normalize_database_url(None, tmp_path), TEST_SECRET)


def test_the_secret_is_never_shown(tmp_path: Path) -> None:
    settings = _settings(tmp_path, **external_settings(AUTH_JWT_SECRET=SHARED_SECRET))
    config = external_auth(settings)
    assert config is not None and config.secret == SHARED_SECRET.encode()
    assert SHARED_SECRET not in repr(settings)
    assert SHARED_SECRET not in repr(config)


def test_no_external_settings_means_no_external_issuer(tmp_path: Path) -> None:
    assert external_auth(_settings(tmp_path)) is None


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "DATABASE_URL"))}
    return subprocess.run(
        [str(DOABLE), *args],
        env={**base, "ARGON2_MEMORY_KIB": "1024", "ARGON2_TIME_COST": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", ["serve", "check"])
def test_the_cli_refuses_bad_external_settings_in_one_line(tmp_path: Path, command: str) -> None:
    env = {
        "DOABLE_DATA_DIR": str(tmp_path),
        "AUTH_JWKS_URL": "https://app.example.com/api/auth/jwks",
        "AUTH_JWT_SECRET": SHARED_SECRET,
        **external_settings(),
    }
    result = _cli(command, env=env)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "AUTH_JWKS_URL and AUTH_JWT_SECRET are mutually exclusive" in lines[0]
    assert SHARED_SECRET not in result.stderr + result.stdout


def test_doable_check_masks_the_shared_secret(tmp_path: Path) -> None:
    env = {
        "DOABLE_DATA_DIR": str(tmp_path),
        "AUTH_JWT_SECRET": SHARED_SECRET,
        "COLUMNS": "200",
        **external_settings(),
    }
    result = _cli("check", env=env)
    assert result.returncode == 0, result.stderr
    assert SHARED_SECRET not in result.stdout + result.stderr
    assert re.search(r"AUTH_JWT_SECRET\s*│\s*set\s", result.stdout), result.stdout
    assert re.search(r"AUTH_JWT_ISSUER\s*│\s*https://app.example.com", result.stdout)


# A real server process, as the issue's "done when" says


@pytest.mark.slow
def test_a_real_server_takes_jwts_signed_by_a_loopback_jwks(tmp_path: Path) -> None:
    key = signing_key("ed25519")
    jwks = JwksServer()
    try:
        jwks.publish(key)
        (tmp_path / "home").mkdir()
        env = server_env(
            tmp_path / "data",
            tmp_path / "home",
            AUTH_JWKS_URL=jwks.url,
            AUTH_JWT_ISSUER=ISSUER,
            AUTH_JWT_AUDIENCE=AUDIENCE,
        )
        sub = "u_9xYzBetterAuth"
        token = bearer(key.sign(claims(sub, email="ba@example.com", name="Better Auth user")))
        with Server(env, logs_dir=tmp_path) as server, server.client() as client:
            r = client.post(
                f"/api/{sub}/tasks",
                json={"title": "Buy groceries", "description": "Milk, eggs, bread"},
                headers=token,
            )
            assert r.status_code == 201, r.text
            task = r.json()
            assert (task["user_id"], task["title"]) == (sub, "Buy groceries")
            r = client.get(f"/api/{sub}/tasks", params={"status": "pending"}, headers=token)
            assert [t["id"] for t in r.json()] == [task["id"]]
            r = client.patch(f"/api/{sub}/tasks/{task['id']}/complete", headers=token)
            assert r.json()["completed"] is True
            r = client.put(f"/api/{sub}/tasks/{task['id']}", json={"title": "Buy"}, headers=token)
            assert r.json()["title"] == "Buy"
            assert client.delete(f"/api/{sub}/tasks/{task['id']}", headers=token).status_code == 204
            assert client.get(f"/api/{sub}/tasks", headers=token).json() == []
            r = client.get("/api/u_other/tasks", headers=token)
            assert r.status_code == 403
            assert client.get(f"/api/{sub}/tasks").status_code == 401
            r = client.post("/api/v1/tokens", json={"name": "t", "scopes": []}, headers=token)
            assert r.status_code == 403
        assert jwks.requests == 1
        logs = server.output()
        assert "loaded 1 signing key(s) from " + jwks.url in logs
    finally:
        jwks.stop()
