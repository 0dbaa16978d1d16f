"""A tiny HTTP/1.1 server on a random loopback port that records what webhooks send it.

Each request gets the next planned reply (status, headers, body, delay), or 204 when the plan
runs out. It runs on the test's own event loop, so a test sends and receives in one process
without mocks. With `tls` it serves HTTPS under a host name of the test's choosing (which the
test's resolver maps to loopback) and records the name each client asked for (SNI); with
`keep_alive` it answers several requests on one connection, as most servers do."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class Reply:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds before the reply starts (a slow receiver)
    trickle: bool = False  # send the body a byte at a time, slowly


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(
        self, *, host: str = "127.0.0.1", tls: bool = False, keep_alive: bool = False
    ) -> None:
        self.requests: list[Received] = []
        self.plan: list[Reply] = []
        self.port = 0
        self.host = host
        self.tls = tls
        self.keep_alive = keep_alive
        self.server_names: list[str | None] = []  # SNI of each TLS handshake
        self.connections = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}/hook"

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await self._answer(reader, writer) and self.keep_alive:
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read one request and answer it; False at the end of the connection."""
        if reader.at_eof():
            return False
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Received(method, path, headers, body))
            reply = self.plan.pop(0) if self.plan else Reply()
            if reply.delay:
                await asyncio.sleep(reply.delay)
            extra = "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
            close = "" if self.keep_alive else "connection: close\r\n"
            writer.write(
                f"HTTP/1.1 {reply.status} X\r\ncontent-length: {len(reply.body)}\r\n"
                f"{close}{extra}\r\n".encode()
            )
            if reply.trickle:
                for i in range(len(reply.body)):
                    writer.write(reply.body[i : i + 1])
                    await writer.drain()
                    await asyncio.sleep(0.05)
            else:
                writer.write(reply.body)
            await writer.drain()
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise
            return False  # the client closed between requests
        return True


@contextlib.asynccontextmanager
async def receiver(
    *, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1", keep_alive: bool = False
) -> AsyncIterator[Receiver]:
    """A receiver on a loopback port; with `tls` (a server context holding a certificate), an
    HTTPS one whose URL names `host`."""
    r = Receiver(host=host, tls=tls is not None, keep_alive=keep_alive)
    if tls is not None:

        def note_name(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            r.server_names.append(name)

        tls.sni_callback = note_name
    server = await asyncio.start_server(r._handle, "127.0.0.1", 0, ssl=tls)
    r.port = server.sockets[0].getsockname()[1]
    try:
        yield r
    finally:
        server.close()
        await server.wait_closed()
