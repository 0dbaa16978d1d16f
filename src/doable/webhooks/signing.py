"""Webhook secrets: generated and checked in the Standard Webhooks `whsec_` form, stored
encrypted under a key derived from SECRET_KEY, and used to sign messages (HMAC-SHA256, the
`v1` scheme of https://www.standardwebhooks.com)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets

PREFIX = "whsec_"
# A generated secret's bytes (256 bits); a user's own must decode to between these.
GENERATED_BYTES = 32
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
HINT_CHARS = 4
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_NONCE_BYTES = 12


class SecretError(ValueError):
    """A secret a user sent is unusable; the message never repeats the secret."""


class SecretUnreadable(Exception):
    """A stored secret no longer decrypts (SECRET_KEY changed since it was stored)."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(GENERATED_BYTES)).decode()


def key_of(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret (SecretError unless well formed and long enough)."""
    if not secret.startswith(PREFIX):
        raise SecretError("must start with whsec_ followed by base64")
    body = secret[len(PREFIX) :]
    if not _BASE64.fullmatch(body):
        raise SecretError("must be whsec_ followed by standard base64")
    try:
        key = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise SecretError("must be whsec_ followed by standard base64") from None
    if len(key) < MIN_SECRET_BYTES:
        raise SecretError(
            f"is too short: its base64 must decode to at least {MIN_SECRET_BYTES} bytes"
        )
    if len(key) > MAX_SECRET_BYTES:
        raise SecretError(
            f"is too long: its base64 must decode to at most {MAX_SECRET_BYTES} bytes"
        )
    if len(set(key)) < MIN_SECRET_BYTES // 3:
        # 24 bytes drawn at random almost always hold 20 or more distinct values; a key such as
        # 24 zero bytes is long, not secret.
        raise SecretError("does not look random: generate it with a secure random generator")
    return key


def hint_of(secret: str) -> str:
    return secret[len(PREFIX) : len(PREFIX) + HINT_CHARS]


def _sealing_key(secret_key: bytes) -> bytes:
    # A key of its own, so no other use of SECRET_KEY can be made to reveal webhook secrets.
    return hmac.new(secret_key, b"doable webhook secrets v1", hashlib.sha256).digest()


# `cryptography` is imported on first use (sealing or reading a secret), not at start: it is
# 10 MB of an idle server's memory, and most servers have no webhooks.


def seal(secret: str, secret_key: bytes) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(_sealing_key(secret_key)).encrypt(nonce, secret.encode(), b"whsec")
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(stored: str, secret_key: bytes) -> str:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    raw = base64.urlsafe_b64decode(stored.encode())
    try:
        plain = AESGCM(_sealing_key(secret_key)).decrypt(
            raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], b"whsec"
        )
    except InvalidTag:
        raise SecretUnreadable() from None
    return plain.decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header's value: `v1,` and the base64 HMAC-SHA256 of
    `{id}.{timestamp}.{body}` under the secret's key."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_of(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
