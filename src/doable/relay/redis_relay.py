"""Redis pub/sub (REDIS_URL): one subscribed connection per process, plus a client that
publishes. redis-py is imported only when REDIS_URL is set."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from doable.relay.transport import Transport

TIMEOUT_SECONDS = 1.0


class RedisTransport(Transport):
    name = "Redis"

    def __init__(
        self,
        url: str,
        channel: str,
        on_envelope: Callable[[str | bytes], None],
        on_gap: Callable[[], None],
    ) -> None:
        super().__init__(on_envelope, on_gap)
        import redis.asyncio as aioredis  # only with REDIS_URL

        self._channel = channel
        # Short timeouts: a send that cannot reach Redis falls back to the database at once
        # rather than holding back every event behind it.
        self._client: Any = aioredis.from_url(
            url,
            socket_connect_timeout=TIMEOUT_SECONDS,
            socket_timeout=TIMEOUT_SECONDS,
            health_check_interval=10,
        )
        self._subscriber: Any = aioredis.from_url(
            url, socket_connect_timeout=TIMEOUT_SECONDS, health_check_interval=10
        )
        self._pubsub: Any = None

    async def listen(self, *, first: bool) -> None:
        pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
        self._pubsub = pubsub
        await pubsub.subscribe(self._channel)
        self._now_connected(first)
        while True:
            # get_message with a timeout also runs the health check on an idle connection.
            message = await pubsub.get_message(timeout=5.0)
            if message is not None and message.get("type") == "message":
                self.on_envelope(message["data"])

    async def send(self, payload: str) -> None:
        await asyncio.wait_for(self._client.publish(self._channel, payload), TIMEOUT_SECONDS * 2)

    async def close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):  # a broken connection is what is dropped
                await pubsub.aclose()

    async def stop(self) -> None:
        await super().stop()
        for client in (self._client, self._subscriber):
            with contextlib.suppress(Exception):  # closing what may already be broken
                await client.aclose()
