"""/mcp with the MCP SDK loaded on the first request, not at start.

Importing the SDK (and with it its client, transports and models) takes about 0.4 s and 27 MB
of memory, which a server that never sees an MCP client should not pay: it counted against the
cold start and idle memory targets (docs/performance.md). The first request to /mcp starts the
transport in a task that lives as long as the app's lifespan (the SDK's task group must be
entered and left by the same task) and waits for it; every later request goes straight to it.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from doable.auth.dependencies import authenticate, bearer
from doable.db import Database
from doable.errors import ServiceUnavailable
from doable.state import AppState

if TYPE_CHECKING:
    from doable.mcp_server.server import McpEndpoint

log = logging.getLogger("doable.mcp")

START_TIMEOUT_S = 30


class _Lifespan:
    """One run of the app's lifespan: the task that owns the transport, and its events."""

    def __init__(self) -> None:
        self.wanted = asyncio.Event()
        self.stopping = asyncio.Event()
        self.ready = asyncio.Event()
        self.endpoint: McpEndpoint | None = None


class LazyMcpEndpoint:
    """The ASGI app mounted at /mcp. `run()` must wrap the app's lifespan."""

    def __init__(self, *, database: Database, state: AppState, max_body_bytes: int) -> None:
        self.database = database
        self.state = state
        self.max_body_bytes = max_body_bytes
        self._current: _Lifespan | None = None

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """Own the transport for the app's lifespan, started on the first request. A lifespan
        may be entered again (test clients do), so each run starts afresh."""
        current = _Lifespan()
        self._current = current
        task = asyncio.create_task(self._serve(current), name="doable-mcp")
        try:
            yield
        finally:
            self._current = None
            current.stopping.set()
            current.wanted.set()  # wakes a task that was never needed, so it ends
            await task

    async def _serve(self, current: _Lifespan) -> None:
        await current.wanted.wait()
        if current.stopping.is_set():
            return
        try:
            # In a worker thread: the import would otherwise hold the event loop for ~0.4 s.
            module = await asyncio.to_thread(importlib.import_module, "doable.mcp_server.server")
            endpoint: McpEndpoint = module.McpEndpoint(
                database=self.database, state=self.state, max_body_bytes=self.max_body_bytes
            )
            async with endpoint.run():
                current.endpoint = endpoint
                current.ready.set()
                await current.stopping.wait()
        except Exception:
            log.exception("the MCP server could not start")
        finally:
            current.endpoint = None
            current.ready.set()  # waiting requests get a 503 instead of waiting on

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Before anything else: no credential, no MCP (and no SDK loaded for it). A DoableError
        # raised here is rendered as problem+json by the app's handlers (401 with
        # WWW-Authenticate).
        async with self.database.unit_of_work(write=False) as session:
            principal = await authenticate(
                session, self.state, self.database, await bearer(Request(scope)), read_only=True
            )
        current = self._current
        if current is not None and current.endpoint is None:
            current.wanted.set()
            with suppress(TimeoutError):
                await asyncio.wait_for(current.ready.wait(), START_TIMEOUT_S)
        endpoint = current.endpoint if current is not None else None
        if endpoint is None:
            raise ServiceUnavailable(
                "The MCP server is starting or stopping; try again shortly.",
                headers={"Retry-After": "5"},
            )
        await endpoint.handle(scope, receive, send, principal)
