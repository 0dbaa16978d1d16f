"""Web Push by hand: VAPID (RFC 8292) and the aes128gcm payload encryption (RFC 8291, RFC
8188), with `cryptography`, sent with httpx. No thread: the encryption is a few
microseconds of C, and the request is async. `cryptography` is imported on first use, not
at start-up."""

from __future__ import annotations

import base64
import json
import os
import struct
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# A push service must accept 4096 bytes of payload (RFC 8030 §7.2); one record, less the
# 16-byte tag, the delimiter and the 86-byte header.
RECORD_SIZE = 4096
MAX_PLAINTEXT = RECORD_SIZE - 16 - 1 - 86
TTL_SECONDS = 24 * 3600


class BadKey(ValueError):
    """A VAPID key or a subscription key that cannot be read."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise BadKey("not base64url") from None


@dataclass(frozen=True)
class VapidKeys:
    private: str  # base64url of the 32-byte scalar
    public: str  # base64url of the 65-byte uncompressed point

    @staticmethod
    def generate() -> VapidKeys:
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        return VapidKeys(
            b64url(key.private_numbers().private_value.to_bytes(32, "big")), _public_of(key)
        )

    @staticmethod
    def from_private(private: str) -> VapidKeys:
        return VapidKeys(private, _public_of(_private_key(private)))


def _private_key(private: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    raw = unb64url(private)
    if len(raw) != 32:
        raise BadKey("a VAPID private key is 32 bytes, base64url")
    try:
        return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    except ValueError:
        raise BadKey("not a P-256 private key") from None


def _public_of(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return b64url(
        key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )


def check_subscription_keys(p256dh: str, auth: str) -> None:
    """A browser's keys: a P-256 point and a 16-byte secret; else BadKey."""
    from cryptography.hazmat.primitives.asymmetric import ec

    point = unb64url(p256dh)
    if len(point) != 65 or point[0] != 4:
        raise BadKey("p256dh must be an uncompressed P-256 point (65 bytes), base64url")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise BadKey("p256dh is not a point on P-256") from None
    if len(unb64url(auth)) != 16:
        raise BadKey("auth must be 16 bytes, base64url")


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def encrypt(plaintext: bytes, p256dh: str, auth: str) -> bytes:
    """RFC 8291: the body of a push message for this subscription (aes128gcm, one record)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(plaintext) > MAX_PLAINTEXT:
        raise ValueError(f"a push payload holds at most {MAX_PLAINTEXT} bytes")
    ua_public = unb64url(p256dh)
    auth_secret = unb64url(auth)
    receiver = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ua_public)
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    as_public = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    shared = ephemeral.exchange(ec.ECDH(), receiver)
    ikm = _hkdf(auth_secret, shared, b"WebPush: info\x00" + ua_public + as_public, 32)
    salt = os.urandom(16)
    cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    cipher = AESGCM(cek).encrypt(nonce, plaintext + b"\x02", None)
    header = salt + struct.pack("!IB", RECORD_SIZE, len(as_public)) + as_public
    return header + cipher


def vapid_authorization(endpoint: str, keys: VapidKeys, subject: str, *, now: float) -> str:
    """The Authorization header (RFC 8292): a JWT for the endpoint's origin, signed ES256."""
    import jwt

    parts = urlsplit(endpoint)
    claims = {"aud": f"{parts.scheme}://{parts.netloc}", "exp": int(now) + 12 * 3600}
    claims["sub"] = subject
    token = jwt.encode(claims, _private_key(keys.private), algorithm="ES256")
    return f"vapid t={token}, k={keys.public}"


def push_request(
    endpoint: str, p256dh: str, auth: str, payload: dict[str, Any], keys: VapidKeys, subject: str
) -> tuple[dict[str, str], bytes]:
    """Headers and body of the POST to a subscription's endpoint."""
    body = encrypt(json.dumps(payload, separators=(",", ":")).encode(), p256dh, auth)
    headers = {
        "content-type": "application/octet-stream",
        "content-encoding": "aes128gcm",
        "ttl": str(TTL_SECONDS),
        "urgency": "high",
        "authorization": vapid_authorization(endpoint, keys, subject, now=time.time()),
    }
    return headers, body
