"""`CompressionMiddleware`, a pure ASGI middleware: gzip for JSON, CSS, JavaScript and SVG above
a minimum size, when the client accepts it.

What it leaves alone, and why:
- HTML. Pages carry the CSRF token next to text the request reflects (search, quick add), which
  is what BREACH needs to read a secret out of compressed lengths. Pages are small; they stay
  uncompressed rather than carry a per-response masked token (SECURITY.md).
- Event streams (`text/event-stream`): each event must reach the client when it is sent, and a
  compressor holds bytes back.
- A response that already has a `Content-Encoding`, a partial (206) or bodiless one (204, 304).

A streamed body (an export) is compressed chunk by chunk, each chunk flushed, so nothing waits
for the end. Brotli is not used: no wheel of it is in uv.lock, and gzip gets most of the gain.
"""

from __future__ import annotations

import gzip
import zlib

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MINIMUM_SIZE = 1024  # below this, the gzip header and the CPU cost more than they save
LEVEL = 6
COMPRESSIBLE = frozenset(
    {
        "application/json",
        "application/problem+json",
        "application/manifest+json",
        "application/x-ndjson",
        "application/javascript",
        "text/javascript",
        "text/css",
        "text/csv",
        "image/svg+xml",
    }
)


def accepts_gzip(headers: Headers) -> bool:
    """Whether Accept-Encoding allows gzip (`gzip;q=0` refuses it)."""
    for item in headers.get("accept-encoding", "").lower().split(","):
        name, _, params = item.strip().partition(";")
        if name.strip() in {"gzip", "*"}:
            q = params.strip().removeprefix("q=")
            try:
                return float(q) > 0 if params.strip().startswith("q=") else True
            except ValueError:
                return False
    return False


class CompressionMiddleware:
    def __init__(self, app: ASGIApp, *, minimum_size: int = MINIMUM_SIZE) -> None:
        self.app = app
        self.minimum_size = minimum_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        responder = _Responder(send, self.minimum_size, accepts_gzip(Headers(scope=scope)))
        await self.app(scope, receive, responder.send)


class _Responder:
    def __init__(self, send: Send, minimum_size: int, gzip_ok: bool) -> None:
        self._send = send
        self.minimum_size = minimum_size
        self.gzip_ok = gzip_ok
        self.start: Message | None = None
        self.compressing = False
        self.stream: zlib._Compress | None = None

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            headers = Headers(raw=message.get("headers", []))
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            if (
                media in COMPRESSIBLE
                and message["status"] not in {204, 206, 304}
                and "content-encoding" not in headers
                and "content-range" not in headers
            ):
                MutableHeaders(raw=message.setdefault("headers", [])).add_vary_header(
                    "Accept-Encoding"
                )
                if self.gzip_ok:
                    self.start = message  # held until the first body says how big
                    return
            await self._send(message)
            return
        if kind != "http.response.body":
            await self._send(message)
            return
        if self.start is not None:
            await self._first_body(self.start, message)
            self.start = None
            return
        if self.stream is not None:
            body = self.stream.compress(message.get("body", b""))
            more = message.get("more_body", False)
            body += self.stream.flush(zlib.Z_SYNC_FLUSH if more else zlib.Z_FINISH)
            await self._send({"type": "http.response.body", "body": body, "more_body": more})
            return
        await self._send(message)

    async def _first_body(self, start: Message, message: Message) -> None:
        body: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        if not more and len(body) < self.minimum_size:
            await self._send(start)
            await self._send(message)
            return
        headers = MutableHeaders(raw=start["headers"])
        headers["Content-Encoding"] = "gzip"
        if not more:
            compressed = gzip.compress(body, compresslevel=LEVEL, mtime=0)
            headers["Content-Length"] = str(len(compressed))
            await self._send(start)
            await self._send({"type": "http.response.body", "body": compressed})
            return
        del headers["Content-Length"]
        self.stream = zlib.compressobj(LEVEL, zlib.DEFLATED, 31)  # 31: a gzip wrapper
        await self._send(start)
        chunk = self.stream.compress(body) + self.stream.flush(zlib.Z_SYNC_FLUSH)
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})
