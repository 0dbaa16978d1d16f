"""Webhooks over HTTP, against a real receiver on a loopback port: registration and its 422s,
the outbox (one delivery per change, in the change's transaction), signed CloudEvents
deliveries, retries with backoff, the maximum age, two workers never sending one row twice,
the SSRF guard, the delivery log with replay, and HTTPS (a certificate authority made by the
test, host names only the delivery's resolver knows)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cloudevents.http import from_http
from fastapi import FastAPI
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from doable.app import create_app
from doable.db import Database
from doable.webhooks.delivery import DeliveryConfig, deliver_due, new_client
from doable.webhooks.models import WebhookDelivery
from tests.conftest import TEST_SECRET, make_client, runtime_for
from tests.factories import Account, assert_problem, make_account, make_task
from tests.webhook_receiver import Reply, receiver

HOOKS = "/api/v1/webhooks"
ALL_TYPES = ["task.created", "task.updated", "task.completed", "task.deleted"]
GOOD_SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()


def config(**overrides: Any) -> DeliveryConfig:
    values: dict[str, Any] = {"secret_key": TEST_SECRET, "allow_private": True, "timeout": 5.0}
    values.update(overrides)
    return DeliveryConfig(**values)


async def deliver(database: Database, cfg: DeliveryConfig, now: datetime | None = None) -> int:
    async with new_client(cfg) as client:
        return await deliver_due(database, cfg, client, now=now)


@pytest.fixture
async def open_client(
    app: FastAPI, database: Database, data_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app that lets webhooks point at loopback (the receiver's address).
    Depends on `app`, which empties the tables afterwards."""
    runtime = runtime_for(database, data_dir, WEBHOOK_ALLOW_PRIVATE_TARGETS="true")
    async with make_client(create_app(runtime, database)) as c:
        yield c


async def make_hook(
    client: httpx.AsyncClient, acct: Account, url: str, **fields: Any
) -> dict[str, Any]:
    fields.setdefault("event_types", ALL_TYPES)
    r = await client.post(HOOKS, json={"url": url, **fields}, headers=acct.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def deliveries(database: Database, **where: Any) -> list[WebhookDelivery]:
    async with database.read_sessions() as s:
        stmt = select(WebhookDelivery).order_by(WebhookDelivery.created_at, WebhookDelivery.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(WebhookDelivery, name) == value)
        return list((await s.execute(stmt)).scalars())


# Registration


async def test_create_list_update_delete(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    made = await make_hook(
        client, acct, "https://hooks.example.com/in", event_types=["task.created"]
    )
    assert made["secret"].startswith("whsec_")
    assert len(base64.b64decode(made["secret"][6:])) == 32
    assert made["secret_hint"] == made["secret"][6:10]
    assert made["event_types"] == ["task.created"] and made["enabled"] is True
    listed = (await client.get(HOOKS, headers=acct.headers)).json()
    assert [h["id"] for h in listed] == [made["id"]]
    assert "secret" not in listed[0]
    r = await client.patch(
        f"{HOOKS}/{made['id']}",
        json={"event_types": ["task.deleted", "task.created"], "enabled": False},
        headers=acct.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["event_types"] == ["task.created", "task.deleted"]
    assert r.json()["enabled"] is False
    got = await client.get(f"{HOOKS}/{made['id']}", headers=acct.headers)
    assert got.json() == r.json()
    r = await client.delete(f"{HOOKS}/{made['id']}", headers=acct.headers)
    assert r.status_code == 204
    assert_problem(await client.get(f"{HOOKS}/{made['id']}", headers=acct.headers), 404)


async def test_own_secret_is_kept(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    made = await make_hook(client, acct, "https://example.com/h", secret=GOOD_SECRET)
    assert made["secret"] == GOOD_SECRET and made["secret_hint"] == GOOD_SECRET[6:10]


async def test_another_users_webhook_is_404(client: httpx.AsyncClient) -> None:
    owner = await make_account(client)
    intruder = await make_account(client)
    made = await make_hook(client, owner, "https://example.com/h")
    for method, path, body in [
        ("GET", "", None),
        ("PATCH", "", {"enabled": False}),
        ("DELETE", "", None),
        ("GET", "/deliveries", None),
    ]:
        r = await client.request(
            method, f"{HOOKS}/{made['id']}{path}", json=body, headers=intruder.headers
        )
        assert_problem(r, 404)
    assert (await client.get(HOOKS, headers=intruder.headers)).json() == []
    got = await client.get(f"{HOOKS}/{made['id']}", headers=owner.headers)
    assert got.json()["enabled"] is True


SHORT = "whsec_" + base64.b64encode(bytes(range(23))).decode()
LONG = "whsec_" + base64.b64encode(bytes(range(65))).decode()
ZEROS = "whsec_" + base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"url": "ftp://example.com/h"}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "example.com/h"}, "url"),
        ({"url": "http:///nohost"}, "url"),
        ({"url": "https://user:pw@example.com/h"}, "url"),
        ({"url": "https://example.com/h\x00"}, "url"),
        ({"url": "https://example.com/h\nX: y"}, "url"),
        ({"url": "https://example.com/" + "a" * 2000}, "url"),
        ({"url": "http://127.0.0.1:8080/h"}, "url"),
        ({"url": "http://10.1.2.3/h"}, "url"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "url"),
        ({"url": "http://[::1]/h"}, "url"),
        ({"url": "http://[::ffff:127.0.0.1]/h"}, "url"),
        ({"url": "http://0.0.0.0/h"}, "url"),
        ({"url": "http://224.0.0.1/h"}, "url"),
        ({"event_types": ["task.exploded"]}, "event_types"),
        ({"event_types": []}, "event_types"),
        ({"event_types": "task.created"}, "event_types"),
        ({"secret": "short"}, "secret"),
        ({"secret": SHORT}, "secret"),
        ({"secret": LONG}, "secret"),
        ({"secret": ZEROS}, "secret"),
        ({"secret": "whsec_not base64!"}, "secret"),
        ({"secret": "a" * 40}, "secret"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_bad_input_is_422(client: httpx.AsyncClient, body: dict[str, Any], loc: str) -> None:
    acct = await make_account(client)
    data = {"url": "https://example.com/h", "event_types": ["task.created"], **body}
    problem = assert_problem(await client.post(HOOKS, json=data, headers=acct.headers), 422)
    assert any(loc in e["loc"] for e in problem["errors"]), problem
    if "secret" in body:
        assert body["secret"] not in json.dumps(problem)
    assert (await client.get(HOOKS, headers=acct.headers)).json() == []


async def test_lone_surrogate_is_422(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    raw = b'{"url": "https://example.com/\\ud800", "event_types": ["task.created"]}'
    r = await client.post(
        HOOKS, content=raw, headers={**acct.headers, "content-type": "application/json"}
    )
    assert_problem(r, 422)


async def test_patch_refuses_a_private_address(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    made = await make_hook(client, acct, "https://example.com/h")
    r = await client.patch(
        f"{HOOKS}/{made['id']}", json={"url": "http://192.168.1.1/"}, headers=acct.headers
    )
    assert_problem(r, 422)
    got = await client.get(f"{HOOKS}/{made['id']}", headers=acct.headers)
    assert got.json()["url"] == "https://example.com/h"


# The outbox


async def test_each_change_enqueues_once_with_the_task_as_get_returns_it(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    other = await make_account(client)
    hook = await make_hook(client, acct, "https://example.com/h")
    await make_task(client, other)  # another user's change: nothing for this hook

    task = await make_task(client, acct, title="Write", tags=["x"])
    got = (await client.get(f"/api/v1/tasks/{task['id']}", headers=acct.headers)).json()
    rows = await deliveries(database)
    assert [r.event_type for r in rows] == ["task.created"]
    body = json.loads(rows[0].payload)
    assert body["data"] == got
    assert body["specversion"] == "1.0" and body["type"] == "task.created"
    assert body["id"] == str(rows[0].message_id) and body["subject"] == task["id"]
    assert body["datacontenttype"] == "application/json"
    assert rows[0].endpoint_id == uuid.UUID(hook["id"]) and rows[0].status == "pending"

    path = f"/api/v1/tasks/{task['id']}"
    r = await client.patch(path, json={"title": "Write more"}, headers=acct.headers)
    assert r.status_code == 200
    r = await client.post(f"{path}/complete", headers=acct.headers)
    assert r.status_code == 200
    completed = (await client.get(path, headers=acct.headers)).json()
    # A refused change enqueues nothing.
    r = await client.patch(path, json={"title": ""}, headers=acct.headers)
    assert r.status_code == 422
    r = await client.delete(path, headers=acct.headers)
    assert r.status_code == 204

    rows = await deliveries(database)
    assert Counter(r.event_type for r in rows) == {
        "task.created": 1,
        "task.updated": 2,
        "task.completed": 1,
        "task.deleted": 1,
    }
    by_type = {r.event_type: json.loads(r.payload) for r in rows}
    assert by_type["task.completed"]["data"] == completed
    assert by_type["task.deleted"]["data"] == {"id": task["id"]}
    assert len({r.message_id for r in rows}) == 5


async def test_completing_a_repeating_task_sends_completed(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    await make_hook(client, acct, "https://example.com/h", event_types=["task.completed"])
    task = await make_task(client, acct, due="2030-01-06", recurrence={"rule": "FREQ=DAILY"})
    r = await client.post(f"/api/v1/tasks/{task['id']}/complete", headers=acct.headers)
    assert r.status_code == 200 and r.json()["completed"] is False
    rows = await deliveries(database)
    assert [r.event_type for r in rows] == ["task.completed"]
    assert json.loads(rows[0].payload)["data"]["due"] == "2030-01-07"


async def test_only_subscribed_and_enabled_endpoints_get_rows(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    created_only = await make_hook(
        client, acct, "https://a.example.com/h", event_types=["task.created"]
    )
    await make_hook(client, acct, "https://b.example.com/h", enabled=False)
    task = await make_task(client, acct)
    await client.delete(f"/api/v1/tasks/{task['id']}", headers=acct.headers)
    rows = await deliveries(database)
    assert [(r.endpoint_id, r.event_type) for r in rows] == [
        (uuid.UUID(created_only["id"]), "task.created")
    ]


# Delivery


async def test_delivery_is_signed_and_a_cloudevent(
    open_client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(open_client)
    async with receiver() as rx:
        hook = await make_hook(open_client, acct, rx.url)
        task = await make_task(open_client, acct, title="Signed")
        assert await deliver(database, config()) == 1
        (req,) = rx.requests
        assert req.method == "POST" and req.path == "/hook"
        assert req.headers["host"] == f"127.0.0.1:{rx.port}"
        payload = Webhook(hook["secret"]).verify(req.body, req.headers)
        assert payload["data"]["id"] == task["id"] and payload["data"]["title"] == "Signed"
        with pytest.raises(WebhookVerificationError):
            Webhook(GOOD_SECRET).verify(req.body, req.headers)
        event = from_http(req.headers, req.body)
        assert event["type"] == "task.created" and event["specversion"] == "1.0"
        assert event["source"] == "/api/v1/tasks" and event["id"] == req.headers["webhook-id"]
        assert event.data["title"] == "Signed"
        (row,) = await deliveries(database)
        assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 204)
        assert row.delivered_at is not None and row.claimed_until is None
        # Delivered: nothing more to send.
        assert await deliver(database, config()) == 0
        assert len(rx.requests) == 1


async def test_a_500_is_retried_with_backoff(
    open_client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(open_client)
    async with receiver() as rx:
        rx.plan = [Reply(500), Reply(503), Reply(200)]
        await make_hook(open_client, acct, rx.url)
        await make_task(open_client, acct)
        (row,) = await deliveries(database)
        t0 = row.created_at
        cfg = config(retry_base=timedelta(seconds=10))
        assert await deliver(database, cfg, now=t0) == 1
        (row,) = await deliveries(database)
        assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
        assert row.next_attempt_at == t0 + timedelta(seconds=10)
        assert row.last_error == "HTTP 500"
        assert await deliver(database, cfg, now=t0 + timedelta(seconds=9)) == 0
        t1 = t0 + timedelta(seconds=10)
        assert await deliver(database, cfg, now=t1) == 1
        (row,) = await deliveries(database)
        assert (row.status, row.attempts, row.last_status_code) == ("pending", 2, 503)
        assert row.next_attempt_at == t1 + timedelta(seconds=20)
        t2 = t1 + timedelta(seconds=20)
        assert await deliver(database, cfg, now=t2) == 1
        (row,) = await deliveries(database)
        assert (row.status, row.attempts, row.last_status_code) == ("delivered", 3, 200)
        assert row.last_error is None and row.delivered_at == t2
        ids = {r.headers["webhook-id"] for r in rx.requests}
        assert len(rx.requests) == 3 and ids == {str(row.message_id)}


async def test_max_age_gives_up(open_client: httpx.AsyncClient, database: Database) -> None:
    acct = await make_account(open_client)
    async with receiver() as rx:
        rx.plan = [Reply(500)] * 5
        await make_hook(open_client, acct, rx.url)
        await make_task(open_client, acct)
        (first,) = await deliveries(database)
        cfg = config(retry_base=timedelta(seconds=10), max_age=timedelta(seconds=15))
        # The first try fails; the next (at +10 s) is inside the maximum age, the one after
        # (at +30 s) would not be: given up after two attempts.
        await deliver(database, cfg, now=first.created_at)
        await deliver(database, cfg, now=first.created_at + timedelta(seconds=10))
        row = (await deliveries(database, id=first.id))[0]
        assert (row.status, row.attempts, row.last_error) == ("failed", 2, "HTTP 500")
        assert len(rx.requests) == 2
        # Never tried within its age (no worker ran): given up without a request.
        await make_task(open_client, acct)
        (second,) = [r for r in await deliveries(database) if r.id != first.id]
        await deliver(database, cfg, now=second.created_at + timedelta(seconds=16))
        row = (await deliveries(database, id=second.id))[0]
        assert (row.status, row.attempts) == ("failed", 0)
        assert row.last_error == "gave up: older than the maximum age"
        assert len(rx.requests) == 2
        assert await deliver(database, cfg, now=first.created_at + timedelta(hours=1)) == 0


async def test_two_workers_never_send_a_row_twice(
    open_client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(open_client)
    async with receiver() as rx:
        rx.plan = [Reply(200, delay=0.01) for _ in range(40)]
        await make_hook(open_client, acct, rx.url, event_types=["task.created"])
        for i in range(40):
            await make_task(open_client, acct, title=f"t{i}")
        rows = await deliveries(database)
        assert len(rows) == 40
        # A second Database: its own engine and pool, as another replica would have.
        replica = Database(database.config)
        try:
            cfg = config(batch_size=4, concurrency=2)
            made = await asyncio.gather(
                deliver(database, cfg), deliver(replica, cfg), deliver(database, cfg)
            )
        finally:
            await replica.dispose()
        sent = Counter(r.headers["webhook-id"] for r in rx.requests)
        assert sum(made) == 40
        assert sent == Counter({str(r.message_id): 1 for r in rows})
        assert {r.status for r in await deliveries(database)} == {"delivered"}


# The SSRF guard


async def test_loopback_is_refused_when_private_targets_are_off(
    open_client: httpx.AsyncClient, client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    async with receiver() as rx:
        # Registered through an app that allows it, delivered by a worker that does not.
        await make_hook(open_client, acct, rx.url)
        # A name is only resolved at delivery: the strict app accepts it.
        await make_hook(client, acct, f"http://localhost:{rx.port}/by-name")
        await make_task(client, acct)
        assert await deliver(database, config(allow_private=False)) == 2
        rows = await deliveries(database)
        assert sorted(r.last_error or "" for r in rows) == [
            "refused: the host resolves to a loopback, private, link-local or reserved address",
            "refused: the host resolves to a loopback, private, link-local or reserved address",
        ]
        assert {(r.status, r.attempts) for r in rows} == {("pending", 1)}
        assert rx.requests == []
        # The same deliveries, allowed, arrive (by name too, at the checked address).
        later = max(r.next_attempt_at for r in rows)
        assert await deliver(database, config(), now=later) == 2
        assert sorted(rx.paths()) == ["/by-name", "/hook"]
        by_name = next(r for r in rx.requests if r.path == "/by-name")
        assert by_name.headers["host"] == f"localhost:{rx.port}"


async def test_a_redirect_is_not_followed(
    open_client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(open_client)
    async with receiver() as rx, receiver() as elsewhere:
        rx.plan = [Reply(307, headers={"location": elsewhere.url})]
        await make_hook(open_client, acct, rx.url)
        await make_task(open_client, acct)
        assert await deliver(database, config()) == 1
        (row,) = await deliveries(database)
        assert (row.status, row.last_status_code) == ("pending", 307)
        assert row.last_error == "redirect (not followed)"
        assert len(rx.requests) == 1 and elsewhere.requests == []


async def test_slow_and_huge_responses_are_cut_off(
    open_client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(open_client)
    async with receiver() as rx:
        rx.plan = [Reply(200, body=b"x" * 40, trickle=True), Reply(200, body=b"y" * 5_000_000)]
        await make_hook(open_client, acct, rx.url)
        await make_task(open_client, acct)
        (row,) = await deliveries(database)
        # 40 bytes at one per 50 ms take 2 s: past a 0.5 s timeout.
        assert await deliver(database, config(timeout=0.5)) == 1
        (row,) = await deliveries(database)
        assert (row.status, row.last_error) == ("pending", "timed out")
        # A 5 MB answer: read up to the first 1 KiB, then the connection is dropped.
        cfg = config(max_response_bytes=1024)
        assert await deliver(database, cfg, now=row.next_attempt_at) == 1
        (row,) = await deliveries(database)
        assert (row.status, row.last_status_code) == ("delivered", 200)


# The delivery log and replay


async def test_log_is_keyset_paged_and_replay_sends_again(
    open_client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(open_client)
    async with receiver() as rx:
        hook = await make_hook(open_client, acct, rx.url, event_types=["task.created"])
        for i in range(5):
            await make_task(open_client, acct, title=f"t{i}")
        await deliver(database, config())
        log_url = f"{HOOKS}/{hook['id']}/deliveries"
        seen: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await open_client.get(log_url, params=params, headers=acct.headers)).json()
            seen += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert [d["payload"]["data"]["title"] for d in seen] == [f"t{i}" for i in range(4, -1, -1)]
        assert {d["status"] for d in seen} == {"delivered"}
        assert all(d["next_attempt_at"] is None for d in seen)

        first = seen[-1]
        replay_url = f"{log_url}/{first['id']}/replay"
        r = await open_client.post(replay_url, headers=acct.headers)
        assert r.status_code == 202, r.text
        again = r.json()
        assert again["status"] == "pending" and again["message_id"] == first["message_id"]
        assert again["payload"] == first["payload"] and again["id"] != first["id"]
        assert await deliver(database, config()) == 1
        assert [q.headers["webhook-id"] for q in rx.requests].count(first["message_id"]) == 2

        other = await make_account(open_client)
        assert_problem(await open_client.post(replay_url, headers=other.headers), 404)
        bad = await open_client.get(log_url, params={"cursor": "x"}, headers=acct.headers)
        assert_problem(bad, 422)


async def test_deleting_the_account_removes_webhooks(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    await make_hook(client, acct, "https://example.com/h")
    await make_task(client, acct)
    r = await client.request(
        "DELETE", "/api/v1/me", json={"password": acct.password}, headers=acct.headers
    )
    assert r.status_code == 204, r.text
    assert await deliveries(database) == []


async def test_a_changed_secret_key_fails_the_delivery_without_sending(
    open_client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(open_client)
    async with receiver() as rx:
        await make_hook(open_client, acct, rx.url)
        await make_task(open_client, acct)
        await deliver(database, config(secret_key=b"another-key-entirely-0123456789abcdef"))
        (row,) = await deliveries(database)
        assert row.last_error == "the signing secret cannot be read (SECRET_KEY changed)"
        assert rx.requests == []


async def test_disabled_after_enqueue_is_not_sent(
    open_client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(open_client)
    async with receiver() as rx:
        hook = await make_hook(open_client, acct, rx.url)
        await make_task(open_client, acct)
        r = await open_client.patch(
            f"{HOOKS}/{hook['id']}", json={"enabled": False}, headers=acct.headers
        )
        assert r.status_code == 200
        assert await deliver(database, config()) == 0
        (row,) = await deliveries(database)
        assert (row.status, row.last_error) == ("failed", "not sent: the webhook is disabled")
        assert rx.requests == []


async def test_an_expired_lease_is_claimed_again(
    open_client: httpx.AsyncClient, database: Database
) -> None:
    """A worker that died holding a claim: once its lease ends, another sends the row."""
    acct = await make_account(open_client)
    async with receiver() as rx:
        await make_hook(open_client, acct, rx.url)
        await make_task(open_client, acct)
        now = datetime.now(UTC)
        async with database.write_sessions() as s:
            await s.execute(
                update(WebhookDelivery).values(
                    claimed_until=now + timedelta(minutes=1), claim_token=uuid.uuid4()
                )
            )
            await s.commit()
        assert await deliver(database, config(), now=now) == 0
        assert await deliver(database, config(), now=now + timedelta(minutes=2)) == 1
        assert len(rx.requests) == 1


async def test_at_most_ten_webhooks_and_an_idempotent_create_hides_the_secret(
    client: httpx.AsyncClient,
) -> None:
    acct = await make_account(client)
    body = {"url": "https://example.com/h", "event_types": ["task.created"]}
    headers = {**acct.headers, "Idempotency-Key": "hook-1"}
    first = await client.post(HOOKS, json=body, headers=headers)
    again = await client.post(HOOKS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["secret"].startswith("whsec_") and again.json()["secret"] is None
    assert again.json()["id"] == first.json()["id"]
    for _ in range(9):
        await make_hook(client, acct, "https://example.com/h")
    assert_problem(await client.post(HOOKS, json=body, headers=acct.headers), 409)
    assert len((await client.get(HOOKS, headers=acct.headers)).json()) == 10


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "localhost."])
async def test_other_spellings_of_loopback_are_refused_at_delivery(
    client: httpx.AsyncClient, database: Database, host: str
) -> None:
    acct = await make_account(client)
    async with receiver() as rx:
        await make_hook(client, acct, f"http://{host}:{rx.port}/h")
        await make_task(client, acct)
        assert await deliver(database, config(allow_private=False)) == 1
        (row,) = await deliveries(database)
        assert row.last_error is not None and row.last_error.startswith("refused: ")
        assert rx.requests == []


async def test_an_endpoint_registered_through_another_process_is_honoured_at_once(
    app: FastAPI, database: Database, data_dir: Path
) -> None:
    """The outbox skips its endpoint query for a user whose row, read in the change's own
    transaction, says they have none. Process A changes a task (no webhook: nothing queued),
    process B (another app, its own engine and pool, as another replica) registers an
    endpoint, and A's very next change is queued for it: nothing about the user is kept
    in A between transactions."""
    replica = Database(database.config)
    runtime = runtime_for(database, data_dir)
    try:
        async with (
            make_client(create_app(runtime, database)) as a,
            make_client(create_app(runtime, replica)) as b,
        ):
            acct = await make_account(a)
            task = await make_task(a, acct)
            r = await a.patch(
                f"/api/v1/tasks/{task['id']}", json={"title": "x"}, headers=acct.headers
            )
            assert r.status_code == 200, r.text
            assert await deliveries(database) == []
            hook = await make_hook(b, acct, "https://hooks.example.com/h")
            r = await a.patch(
                f"/api/v1/tasks/{task['id']}", json={"title": "y"}, headers=acct.headers
            )
            assert r.status_code == 200, r.text
            (row,) = await deliveries(database)
            assert (str(row.endpoint_id), row.event_type) == (hook["id"], "task.updated")
            assert json.loads(row.payload)["data"]["title"] == "y"
    finally:
        await replica.dispose()


# HTTPS: the guard pins the address, TLS still names the host


class Certificates:
    """A certificate authority made for one test, and certificates it signs for host names."""

    def __init__(self, folder: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Doable test CA")])
        now = datetime.now(UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )

    def client_context(self) -> ssl.SSLContext:
        """What a delivery trusts: this authority only, with the usual checks (host name)."""
        from cryptography.hazmat.primitives.serialization import Encoding

        return ssl.create_default_context(cadata=self.cert.public_bytes(Encoding.PEM).decode())

    def server_context(self, *names: str) -> ssl.SSLContext:
        """A server's context holding a certificate for `names`, signed by this authority."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
            .sign(self.key, hashes.SHA256())
        )
        chain = self.folder / f"{names[0]}.pem"
        chain.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            + cert.public_bytes(serialization.Encoding.PEM)
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain)
        return context


class Resolver:
    """Host names the test made up, all on loopback; it notes every question."""

    def __init__(self, *names: str) -> None:
        self.names = set(names)
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        if host not in self.names:
            raise OSError(f"{host} does not resolve here")
        return ["127.0.0.1"]


@pytest.fixture
def authority(tmp_path: Path) -> Certificates:
    return Certificates(tmp_path)


async def test_https_delivery_checks_the_named_certificate_on_the_checked_address(
    open_client: httpx.AsyncClient, database: Database, authority: Certificates
) -> None:
    """The URL names hooks.localtest, which only the delivery's resolver knows (127.0.0.1):
    the connection goes to that checked address, and the TLS handshake still names the host
    (SNI) and checks the certificate against it; Host carries the name too."""
    resolver = Resolver("hooks.localtest")
    cfg = config(resolver=resolver, tls_context=authority.client_context())
    acct = await make_account(open_client)
    tls = authority.server_context("hooks.localtest")
    async with receiver(tls=tls, host="hooks.localtest") as rx:
        hook = await make_hook(open_client, acct, rx.url)
        assert hook["url"] == f"https://hooks.localtest:{rx.port}/hook"
        task = await make_task(open_client, acct, title="Over TLS")
        assert await deliver(database, cfg) == 1
        (req,) = rx.requests
        assert rx.server_names == ["hooks.localtest"]
        assert resolver.asked == [("hooks.localtest", rx.port)]
        assert req.headers["host"] == f"hooks.localtest:{rx.port}"
        payload = Webhook(hook["secret"]).verify(req.body, req.headers)
        assert payload["data"]["id"] == task["id"]
        (row,) = await deliveries(database)
        assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 204)


async def test_https_to_a_name_on_a_private_address_is_refused_before_connecting(
    open_client: httpx.AsyncClient, database: Database, authority: Certificates
) -> None:
    """The guard judges the resolved address for https as for http: loopback is refused
    (private targets off) before any connection, whatever the certificate."""
    cfg = config(
        allow_private=False,
        resolver=Resolver("hooks.localtest"),
        tls_context=authority.client_context(),
    )
    acct = await make_account(open_client)
    tls = authority.server_context("hooks.localtest")
    async with receiver(tls=tls, host="hooks.localtest") as rx:
        await make_hook(open_client, acct, rx.url)
        await make_task(open_client, acct)
        assert await deliver(database, cfg) == 1
        (row,) = await deliveries(database)
        assert row.last_error is not None and row.last_error.startswith("refused: ")
        assert rx.connections == 0


async def test_https_with_a_certificate_for_another_name_fails_the_delivery(
    open_client: httpx.AsyncClient,
    database: Database,
    authority: Certificates,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A certificate (from a trusted authority) for other.localtest, served at the address
    hooks.localtest resolves to: the handshake is refused, nothing is sent, the attempt is
    recorded as failed and retried later, the log shows it without a 500, and no log line
    carries the signing secret."""
    cfg = config(resolver=Resolver("hooks.localtest"), tls_context=authority.client_context())
    acct = await make_account(open_client)
    tls = authority.server_context("other.localtest")
    with caplog.at_level(logging.DEBUG):
        async with receiver(tls=tls, host="hooks.localtest") as rx:
            hook = await make_hook(open_client, acct, rx.url)
            await make_task(open_client, acct)
            assert await deliver(database, cfg) == 1
            assert rx.requests == []
            assert rx.server_names == ["hooks.localtest"]
    (row,) = await deliveries(database)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, None)
    assert row.last_error == "request failed: ConnectError"
    r = await open_client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=acct.headers)
    assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    assert item["last_error"] == "request failed: ConnectError"
    secret = hook["secret"]
    assert secret not in caplog.text
    assert secret.removeprefix("whsec_") not in caplog.text
    assert f"webhook delivery {row.id} failed: request failed: ConnectError" in caplog.text


async def test_a_connection_made_for_one_name_never_carries_another_names_delivery(
    open_client: httpx.AsyncClient, database: Database, authority: Certificates
) -> None:
    """Two names on one address and port, a receiver that keeps connections open, and a
    certificate for the first name only. Deliveries go to an address, so a pooled connection
    (its certificate checked for the first name) would carry the second name's delivery
    unchecked; each delivery opens its own connection instead, and the second is refused."""
    cfg = config(
        resolver=Resolver("hooks.localtest", "other.localtest"),
        tls_context=authority.client_context(),
    )
    tls = authority.server_context("hooks.localtest")
    first, second = await make_account(open_client), await make_account(open_client)
    async with (
        receiver(tls=tls, host="hooks.localtest", keep_alive=True) as rx,
        new_client(cfg) as client,
    ):
        await make_hook(open_client, first, rx.url)
        await make_task(open_client, first)
        assert await deliver_due(database, cfg, client) == 1
        await make_hook(open_client, second, rx.url.replace("hooks.localtest", "other.localtest"))
        await make_task(open_client, second)
        assert await deliver_due(database, cfg, client) == 1
        assert len(rx.requests) == 1
        assert rx.server_names == ["hooks.localtest", "other.localtest"]
    statuses = {row.status for row in await deliveries(database, status="delivered")}
    assert statuses == {"delivered"}
    (failed,) = await deliveries(database, status="pending")
    assert failed.last_error == "request failed: ConnectError"
