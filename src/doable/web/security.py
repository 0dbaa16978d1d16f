"""Security headers for every response, and the CSRF token scheme of the web app."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "doable_csrf"
SESSION_COOKIE = "doable_session"
HF_ORIGIN = "https://huggingface.co"


def frame_ancestors(embedded: bool) -> str:
    return f"'self' {HF_ORIGIN}" if embedded else "'self'"


def content_security_policy(embedded: bool) -> str:
    """No inline script anywhere. (The docs pages set their own policy, with script hashes.)"""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
        f"form-action 'self'; frame-ancestors {frame_ancestors(embedded)}"
    )


class SecurityHeadersMiddleware:
    """Adds CSP, nosniff, Referrer-Policy and (over HTTPS) HSTS to every HTTP response."""

    def __init__(self, app: ASGIApp, *, embedded: bool) -> None:
        self.app = app
        self.extra = self._headers(content_security_policy(embedded))

    @staticmethod
    def _headers(csp: str) -> list[tuple[bytes, bytes]]:
        return [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.extra
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend((k, v) for k, v in extra if k not in present)
                if https:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def new_csrf_nonce() -> str:
    return secrets.token_urlsafe(24)


def csrf_token_for(secret: bytes, nonce: str) -> str:
    """Signed double-submit: the page carries HMAC(secret, cookie nonce), which a site that
    can plant cookies still cannot compute."""
    return hmac.new(secret, b"csrf:" + nonce.encode(), hashlib.sha256).hexdigest()


def csrf_token_valid(secret: bytes, nonce: str | None, token: str | None) -> bool:
    if not nonce or not token:
        return False
    return hmac.compare_digest(csrf_token_for(secret, nonce), token)
