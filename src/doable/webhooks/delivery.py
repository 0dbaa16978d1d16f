"""The delivery worker: claims due deliveries, sends them signed, records each attempt.

Each process running `doable serve` runs one; several may share a database. A batch is
claimed in one short transaction (`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL and
MariaDB; on SQLite the writer's `BEGIN IMMEDIATE` serialises it) by setting a lease
(`claimed_until`) and a claim token, then sent outside any transaction, then recorded under
that token. No two workers hold the same row at once, so nothing is sent twice unless a worker
stalls past its lease (longer than the timeout, by design) or dies between sending and
recording: then the row is sent again once the lease ends. Delivery is at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update

from doable.config import Settings
from doable.db import Database, utcnow
from doable.errors import is_db_unavailable, loggable_error
from doable.ops import metrics
from doable.reminders.scheduler import is_transient
from doable.webhooks import signing, ssrf
from doable.webhooks.models import WebhookDelivery, WebhookEndpoint

if TYPE_CHECKING:  # httpx is imported on the first delivery, not at start
    import httpx

log = logging.getLogger("doable.webhooks")

USER_AGENT = "Doable-Webhooks/1"
MAX_BACKOFF_SECONDS = 60.0


@dataclass(frozen=True)
class DeliveryConfig:
    secret_key: bytes
    allow_private: bool = False
    timeout: float = 10.0
    max_response_bytes: int = 64 * 1024
    max_age: timedelta = timedelta(hours=24)
    retry_base: timedelta = timedelta(seconds=10)
    retry_max: timedelta = timedelta(hours=1)
    batch_size: int = 50
    concurrency: int = 10
    poll_seconds: float = 1.0
    # Not settings: what tests hand in to reach a receiver of their own. How host names
    # resolve (None: the system's resolver), and the CAs an https endpoint's certificate must
    # chain to (None: certifi's bundle, as httpx does). The certificate is always checked
    # against the URL's host name, whichever address the connection goes to.
    resolver: ssrf.Resolver | None = None
    tls_context: ssl.SSLContext | None = None

    @property
    def lease(self) -> timedelta:
        # Longer than any attempt can take (its whole timeout), with room to record it.
        return timedelta(seconds=self.timeout * 2 + 30)

    @classmethod
    def from_settings(cls, settings: Settings, secret_key: bytes) -> DeliveryConfig:
        return cls(
            secret_key=secret_key,
            allow_private=settings.webhook_allow_private_targets,
            timeout=settings.webhook_timeout_seconds,
            max_response_bytes=settings.webhook_max_response_bytes,
            max_age=timedelta(seconds=settings.webhook_max_age_seconds),
            retry_base=timedelta(seconds=settings.webhook_retry_base_seconds),
            poll_seconds=settings.webhook_poll_seconds,
        )

    def next_attempt(self, attempts: int, now: datetime) -> datetime:
        """After the `attempts`-th failed attempt: base, twice base, four times… up to
        retry_max (no jitter: the claim lease already spreads workers out)."""
        delay: timedelta = min(self.retry_base * 2 ** min(attempts - 1, 20), self.retry_max)
        return now + delay


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    message_id: uuid.UUID
    payload: str
    created_at: datetime
    attempts: int
    url: str
    secret_encrypted: str


@dataclass(frozen=True)
class Outcome:
    status_code: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


async def _read_committed(session: Any, database: Database) -> None:
    # As the scheduler does: REPEATABLE READ's gap locks make concurrent claims deadlock.
    if database.config.backend == "mysql":
        await session.connection(execution_options={"isolation_level": "READ COMMITTED"})


async def claim(
    database: Database, config: DeliveryConfig, now: datetime, token: uuid.UUID
) -> list[Claimed]:
    """Claim a batch of due deliveries for `token`; give up on those past the maximum age."""
    async with database.write_sessions() as session:
        await _read_committed(session, database)
        due = (
            await session.execute(
                select(
                    WebhookDelivery.id,
                    WebhookDelivery.message_id,
                    WebhookDelivery.payload,
                    WebhookDelivery.created_at,
                    WebhookDelivery.attempts,
                    WebhookDelivery.endpoint_id,
                )
                .where(
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                    or_(
                        WebhookDelivery.claimed_until.is_(None),
                        WebhookDelivery.claimed_until < now,
                    ),
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(config.batch_size)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not due:
            await session.commit()
            return []
        endpoint_ids = list({row.endpoint_id for row in due})
        endpoints = {
            row.id: row
            for row in (
                await session.execute(
                    select(
                        WebhookEndpoint.id,
                        WebhookEndpoint.url,
                        WebhookEndpoint.secret_encrypted,
                        WebhookEndpoint.enabled,
                    ).where(WebhookEndpoint.id.in_(endpoint_ids))
                )
            ).all()
        }
        expired: list[uuid.UUID] = []
        disabled: list[uuid.UUID] = []
        claimed: list[Claimed] = []
        for row in due:
            endpoint = endpoints.get(row.endpoint_id)
            if now - row.created_at > config.max_age:
                expired.append(row.id)
            elif endpoint is None or not endpoint.enabled:
                disabled.append(row.id)
            else:
                claimed.append(
                    Claimed(
                        row.id,
                        row.message_id,
                        row.payload,
                        row.created_at,
                        row.attempts,
                        endpoint.url,
                        endpoint.secret_encrypted,
                    )
                )
        for _ in expired:
            metrics.count_webhook_delivery("expired")
        for ids, reason in (
            (expired, "gave up: older than the maximum age"),
            (disabled, "not sent: the webhook is disabled"),
        ):
            if ids:
                await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id.in_(ids))
                    .values(status="failed", last_error=reason, claimed_until=None)
                    .execution_options(synchronize_session=False)
                )
        if claimed:
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_([c.id for c in claimed]))
                .values(claimed_until=now + config.lease, claim_token=token)
                .execution_options(synchronize_session=False)
            )
        await session.commit()
    return claimed


async def send(client: httpx.AsyncClient, config: DeliveryConfig, item: Claimed) -> Outcome:
    """One attempt: resolve and check the target, POST the signed body to the checked
    address, never follow a redirect, read at most max_response_bytes, within the timeout."""
    import httpx

    try:
        secret = signing.unseal(item.secret_encrypted, config.secret_key)
    except signing.SecretUnreadable:
        return Outcome(error="the signing secret cannot be read (SECRET_KEY changed)")
    body = item.payload.encode()
    timestamp = int(utcnow().timestamp())
    message_id = str(item.message_id)
    headers = {
        "content-type": "application/cloudevents+json; charset=utf-8",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.sign(secret, message_id, timestamp, body),
    }
    try:
        async with asyncio.timeout(config.timeout):
            target = await ssrf.resolve(
                item.url, allow_private=config.allow_private, resolver=config.resolver
            )
            headers["host"] = target.host_header
            # The connection goes to the checked address; TLS still names the URL's host, for
            # SNI and for checking the certificate (httpcore's server_hostname).
            extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
            request = client.build_request(
                "POST",
                target.url_for(item.url),
                content=body,
                headers=headers,
                extensions=extensions,
            )
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read >= config.max_response_bytes:
                        break  # the rest is not read: the connection is closed
            finally:
                await response.aclose()
    except ssrf.TargetRefused as exc:
        return Outcome(error=f"refused: {exc}")
    except TimeoutError:
        return Outcome(error="timed out")
    except httpx.HTTPError as exc:
        return Outcome(error=f"request failed: {type(exc).__name__}")
    code = response.status_code
    if 300 <= code < 400:
        return Outcome(code, "redirect (not followed)")
    if not 200 <= code < 300:
        return Outcome(code, f"HTTP {code}")
    return Outcome(code)


async def record(
    database: Database,
    config: DeliveryConfig,
    item: Claimed,
    outcome: Outcome,
    now: datetime,
    token: uuid.UUID,
) -> None:
    attempts = item.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_attempt_at": now,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error[:200] if outcome.error else None,
        "claimed_until": None,
        "claim_token": None,
    }
    if outcome.ok:
        values.update(status="delivered", delivered_at=now)
    else:
        retry_at = config.next_attempt(attempts, now)
        if retry_at - item.created_at > config.max_age:
            values.update(status="failed")
        else:
            values.update(next_attempt_at=retry_at)
    async with database.write_sessions() as session:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == item.id, WebhookDelivery.claim_token == token)
            .values(values)
            .execution_options(synchronize_session=False)
        )
        await session.commit()
    if values.get("status") in ("delivered", "failed"):
        metrics.count_webhook_delivery(values["status"])


async def deliver_due(
    database: Database,
    config: DeliveryConfig,
    client: httpx.AsyncClient | Callable[[], httpx.AsyncClient],
    *,
    now: datetime | None = None,
) -> int:
    """Send every delivery due at `now` (default: the clock), a batch at a time; returns
    how many attempts were made. `client` may be a function that makes it, called only when
    something is due (most processes never send, and httpx was a tenth of a cold start)."""
    made = 0
    gate = asyncio.Semaphore(config.concurrency)

    async def attempt(item: Claimed, token: uuid.UUID) -> None:
        async with gate:
            http = client() if callable(client) else client
            outcome = await send(http, config, item)
        await record(database, config, item, outcome, now or utcnow(), token)
        if not outcome.ok:
            log.info("webhook delivery %s failed: %s", item.id, outcome.error)

    while True:
        at = now or utcnow()
        token = uuid.uuid4()
        batch = await claim(database, config, at, token)
        if not batch:
            return made
        await asyncio.gather(*(attempt(item, token) for item in batch))
        made += len(batch)
        if len(batch) < config.batch_size:
            return made


def new_client(config: DeliveryConfig) -> httpx.AsyncClient:
    import httpx

    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,  # no proxy from the environment: the guard checks the real target
        timeout=httpx.Timeout(config.timeout),
        verify=config.tls_context if config.tls_context is not None else True,
        # No connection is kept for another delivery: requests go to an address, so the pool
        # would hand a connection made (and its certificate checked) for one host name to
        # another name on the same address and port.
        limits=httpx.Limits(max_connections=config.concurrency * 2, max_keepalive_connections=0),
    )


class Worker:
    """The loop: deliver what is due, sleep poll_seconds, repeat."""

    def __init__(self, database: Database, config: DeliveryConfig) -> None:
        self.database = database
        self.config = config
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:  # made on first use: most processes never send one
            self._client = new_client(self.config)
        return self._client

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="doable-webhooks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()

    async def run_once(self) -> int:
        return await deliver_due(self.database, self.config, lambda: self.client)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_transient(exc):
                    await asyncio.sleep(random.uniform(0.01, 0.1))  # noqa: S311 (jitter)
                    continue
                failures += 1
                delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** min(failures, 10))
                if is_db_unavailable(exc):
                    log.warning("webhooks: database unavailable; retrying in %.1f s", delay)
                else:
                    log.error(
                        "webhooks: delivery failed; retrying in %.1f s\n%s",
                        delay,
                        loggable_error(exc),
                    )
                await asyncio.sleep(delay)
                continue
            failures = 0
            await asyncio.sleep(self.config.poll_seconds)
