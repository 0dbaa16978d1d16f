"""What every relay transport offers: send an envelope, hand received ones over, say when some
may have been missed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

log = logging.getLogger("doable.relay")

MAX_BACKOFF_SECONDS = 10.0


class Transport:
    """Listens in a background task that reconnects with backoff. `on_envelope` gets each
    envelope received; `on_gap` is called after a lost connection comes back (envelopes sent
    meanwhile are gone)."""

    name = "transport"

    def __init__(
        self, on_envelope: Callable[[str | bytes], None], on_gap: Callable[[], None]
    ) -> None:
        self.on_envelope = on_envelope
        self.on_gap = on_gap
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self, first_wait: float = 5.0) -> None:
        """Start listening; wait up to `first_wait` s for the first connection (so a process
        that says it is ready already hears the others), then carry on trying in the
        background."""
        self._task = asyncio.create_task(self._loop(), name=f"doable-relay-{self.name}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), first_wait)

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.close()

    async def _loop(self) -> None:
        failures = 0
        was_connected = False
        while not self._stopping:
            try:
                await self.listen(first=not was_connected)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.connected.is_set():
                    log.warning("relay: %s connection lost (%s)", self.name, type(exc).__name__)
                elif failures == 0:
                    log.warning("relay: cannot reach %s (%s)", self.name, type(exc).__name__)
                if self.connected.is_set():
                    was_connected = True
                    failures = 0
                self.connected.clear()
                await self.close()
            failures += 1
            delay = min(MAX_BACKOFF_SECONDS, 0.2 * 2 ** min(failures, 8))
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 (jitter)

    def _now_connected(self, first: bool) -> None:
        """Called by `listen` once it listens: after a loss, streams must fetch afresh."""
        self.connected.set()
        if not first:
            log.info("relay: %s connection back", self.name)
            self.on_gap()

    async def listen(self, *, first: bool) -> None:
        """Connect, call `_now_connected`, and deliver envelopes until the connection fails
        (raise) or the transport stops."""
        raise NotImplementedError

    async def send(self, payload: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Drop the connection (if any)."""
