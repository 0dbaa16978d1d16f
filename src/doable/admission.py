"""Admission: at most so many requests at work at once, the rest queued fairly, and a request
that would wait too long answered 503 with `Retry-After` instead (load shedding).

Without it, every request the server accepts starts at once and then queues for one of the
pool's connections, in no particular order; under overload the waits grow until clients time
out (issue 19 measured p99 4.4 s, 117 requests over 5 s, at 256 connections). Here a request
takes a slot before any of its work: slots are as many as the pool has connections
(`DB_POOL_SIZE` x 3), so an admitted request never waits inside
the pool. The others wait in arrival order, for at most `ADMISSION_WAIT_MS`; past that, or
when `ADMISSION_QUEUE` are already waiting, they get a 503 problem at once. The bound on the
wait is what a client sees as the worst latency under overload (2 s by default, the target
for p99), not a guess at throughput.

A request whose slow part holds no connection gives its slot back for that part and takes one
again after, ahead of the queue (`slot_given_back`): a login waiting for a hashing thread
would otherwise keep a slot from the requests that need the database (issue 19's login
storm: list p99 98x with 15 slots held by logins, 1.8x with them free).

Left out: the event streams (long-lived, and capped per account on their own), health and
readiness probes, metrics and static files, none of which holds a database connection for
long.
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from doable.context import request_id_var
from doable.errors import TYPE_BASE

EXEMPT_PREFIXES = ("/static/", "/healthz", "/readyz", "/metrics")
STREAM_PATHS = frozenset({"/events", "/api/v1/events"})


class _Ticket:
    """The current request's admission: its gate, and whether it holds a slot right now."""

    __slots__ = ("gate", "held")

    def __init__(self, gate: AdmissionMiddleware) -> None:
        self.gate = gate
        self.held = True


_ticket: ContextVar[_Ticket | None] = ContextVar("admission_ticket", default=None)


@asynccontextmanager
async def slot_given_back() -> AsyncIterator[None]:
    """Run the body without the request's admission slot, then take one again, ahead of new
    arrivals (and behind requests that stepped out before it).

    Only for work that holds no database connection (a password hash in its own threads):
    slots are as many as the pool's connections, so a request that gave its slot back while
    holding one could make an admitted request wait inside the pool. At most as many requests
    as there are slots are out at once; past that one keeps its slot, so a flood of logins is
    still bounded by admission and shed by it. If the body raises, the request ends without a
    slot; it is on its way out. Outside admission, a no-op.
    """
    ticket = _ticket.get()
    if ticket is None or not ticket.held or ticket.gate.out >= ticket.gate.slots:
        yield
        return
    gate = ticket.gate
    ticket.held = False
    gate.out += 1
    gate._release()
    try:
        yield
    finally:
        gate.out -= 1
    await gate._readmit()
    ticket.held = True


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, *, slots: int, wait_ms: int, queue: int) -> None:
        self.app = app
        self.slots = slots
        self.wait = wait_ms / 1000
        self.queue = queue
        self.busy = 0
        self.waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        # Requests that gave their slot back (slot_given_back): how many are out, and those
        # waiting to come back in, who are served before `waiting`.
        self.out = 0
        self.returning: collections.deque[asyncio.Future[None]] = collections.deque()

    def _exempt(self, scope: Scope) -> bool:
        path: str = scope["path"]
        if path in STREAM_PATHS or path.startswith(EXEMPT_PREFIXES):
            return True
        # The MCP server's GET opens its stream of server messages.
        return scope["method"] == "GET" and path.rstrip("/") == "/mcp"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._exempt(scope):
            await self.app(scope, receive, send)
            return
        if not await self._admit():
            await _overloaded(send)
            return
        ticket = _Ticket(self)
        token = _ticket.set(ticket)
        try:
            await self.app(scope, receive, send)
        finally:
            _ticket.reset(token)
            if ticket.held:
                # Not held any more: a task started by the request (which inherits its
                # context) must not give the slot back a second time.
                ticket.held = False
                self._release()

    async def _admit(self) -> bool:
        if self.busy < self.slots and not self.waiting and not self.returning:
            self.busy += 1
            return True
        if len(self.waiting) >= self.queue:
            return False
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(turn)
        try:
            await asyncio.wait_for(asyncio.shield(turn), self.wait)
        except TimeoutError:
            if turn.done():  # handed a slot just as the wait ran out: use it
                return True
            self.waiting.remove(turn)
            return False
        except BaseException:
            self._abandon(turn, self.waiting)
            raise
        return True

    async def _readmit(self) -> None:
        """A slot for a request that gave its own back (slot_given_back): in the order they
        come back, ahead of new arrivals, and never shed, since the work it stepped out for is
        done and would be lost."""
        if self.busy < self.slots and not self.returning:
            self.busy += 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.returning.append(turn)
        try:
            await asyncio.shield(turn)
        except BaseException:
            self._abandon(turn, self.returning)
            raise

    def _abandon(self, turn: asyncio.Future[None], queue: collections.deque[Any]) -> None:
        """A waiter went away (cancelled): pass on a slot handed to it meanwhile."""
        if turn.done() and not turn.cancelled():
            self._release()
        elif turn in queue:
            queue.remove(turn)

    def _release(self) -> None:
        """Hand the slot to the longest waiter still waiting (those coming back first), else
        free it."""
        for queue in (self.returning, self.waiting):
            while queue:
                turn = queue.popleft()
                if not turn.done():
                    turn.set_result(None)
                    return
        self.busy -= 1


async def _overloaded(send: Send) -> None:
    body: dict[str, Any] = {
        "type": TYPE_BASE + "overloaded",
        "title": "Service unavailable",
        "status": 503,
        "detail": "The server is busy; try again in a moment",
    }
    rid = request_id_var.get()
    if rid:
        body["request_id"] = rid
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(payload)).encode()),
                (b"retry-after", b"1"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
