"""Web Push over HTTP: the VAPID key kept in the database, subscriptions and their bad input
(private endpoints, bad keys, oversized bodies), and pushing a fired reminder to a loopback
push service that decrypts it per RFC 8291 (with http_ece, an independent implementation),
then the notification's Complete and Snooze buttons, and a gone subscription cleaned up."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import http_ece
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from sqlalchemy import func, select, update

from doable.app import create_app
from doable.db import Database
from doable.notify import service as push_service
from doable.notify.delivery import PushConfig, Pusher
from doable.notify.models import AppSecret, PushSubscription
from doable.reminders.models import Reminder
from doable.reminders.scheduler import fire_due
from tests.conftest import TEST_SECRET, fast_settings, make_client, runtime_for
from tests.factories import Account, assert_problem, make_account, make_task
from tests.webclient import WebClient
from tests.webhook_receiver import Receiver, Reply, receiver


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Browser:
    """A browser's side of a subscription: its P-256 key pair and auth secret."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = uuid.uuid4().bytes

    @property
    def p256dh(self) -> str:
        return b64(
            self.key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )

    def subscription(self, endpoint: str) -> dict[str, Any]:
        return {
            "endpoint": endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": b64(self.auth)},
        }

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(
            body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"
        )
        result: dict[str, Any] = json.loads(plain)
        return result


@pytest.fixture
async def loopback_client(
    app: FastAPI, database: Database, data_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app that lets push endpoints point at loopback (the test's service)."""
    runtime = runtime_for(database, data_dir, WEBHOOK_ALLOW_PRIVATE_TARGETS="true")
    async with make_client(create_app(runtime, database)) as c:
        yield c


def push_config(data_dir: Path, **overrides: Any) -> PushConfig:
    settings = fast_settings(data_dir, WEBHOOK_ALLOW_PRIVATE_TARGETS="true", **overrides)
    return PushConfig(settings, TEST_SECRET, True, retry_base_seconds=0.01)


async def test_vapid_key_is_made_once_and_shared(
    client: httpx.AsyncClient, database: Database, data_dir: Path
) -> None:
    acct = await make_account(client)
    push_service._cached.clear()
    first = (await client.get("/api/v1/push/key", headers=acct.headers)).json()["public_key"]
    push_service._cached.clear()  # another process: it reads the row, never makes a new pair
    again = (await client.get("/api/v1/push/key", headers=acct.headers)).json()["public_key"]
    assert first == again and len(base64.urlsafe_b64decode(first + "=")) == 65
    async with database.read_sessions() as s:
        assert await s.scalar(select(func.count()).select_from(AppSecret)) == 1
    # Given in the settings: that pair, whatever the database holds.
    pair = push_service.VapidKeys.generate()
    settings = fast_settings(data_dir, VAPID_PRIVATE_KEY=pair.private)
    assert await push_service.vapid_keys(database, settings) == pair
    assert (await client.get("/api/v1/push/key")).status_code == 401
    push_service._cached.clear()


async def test_two_processes_racing_for_the_key_agree(database: Database, data_dir: Path) -> None:
    settings = fast_settings(data_dir)
    push_service._cached.clear()
    results = []
    for _ in range(2):
        push_service._cached.clear()
        results.append(await push_service.vapid_keys(database, settings))
    # The loser of an insert race reads the winner's row (IntegrityError path).
    push_service._cached.clear()
    async with database.write_sessions() as s:
        await s.execute(update(AppSecret).values(created_at=datetime.now(UTC)))
        await s.commit()
    assert results[0] == results[1] == await push_service.vapid_keys(database, settings)
    push_service._cached.clear()


@pytest.mark.parametrize(
    ("endpoint", "detail"),
    [
        ("https://127.0.0.1/push", "loopback"),
        ("https://10.1.2.3/push", "loopback"),
        ("https://[::1]/push", "loopback"),
        ("http://push.example.com/x", "https"),
        ("ftp://push.example.com/x", "http"),
        ("https://user:pw@push.example.com/x", "user name"),
    ],
)
async def test_private_or_odd_endpoints_are_refused(
    client: httpx.AsyncClient, endpoint: str, detail: str
) -> None:
    acct = await make_account(client)
    r = await client.post(
        "/api/v1/push/subscriptions", json=Browser().subscription(endpoint), headers=acct.headers
    )
    assert detail in assert_problem(r, 422)["detail"]


async def test_bad_keys_oversized_and_other_users(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await make_account(client)
    bob = await make_account(client)
    url = "/api/v1/push/subscriptions"
    good = Browser().subscription("https://push.example.com/send/abc")
    bad_point = {**good, "keys": {"p256dh": b64(b"\x04" + b"\x01" * 64), "auth": b64(b"x" * 16)}}
    assert (
        "P-256"
        in assert_problem(await client.post(url, json=bad_point, headers=alice.headers), 422)[
            "detail"
        ]
    )
    short_auth = {**good, "keys": {**good["keys"], "auth": b64(b"x" * 8)}}
    assert_problem(await client.post(url, json=short_auth, headers=alice.headers), 422)
    huge = {**good, "endpoint": "https://push.example.com/" + "a" * 3000}
    assert_problem(await client.post(url, json=huge, headers=alice.headers), 422)
    extra = {**good, "junk": "x"}
    assert_problem(await client.post(url, json=extra, headers=alice.headers), 422)

    r = await client.post(url, json=good, headers=alice.headers)
    assert r.status_code == 201, r.text
    sub_id = r.json()["id"]
    assert [s["id"] for s in (await client.get(url, headers=alice.headers)).json()] == [sub_id]
    assert (await client.get(url, headers=bob.headers)).json() == []
    assert_problem(await client.delete(f"{url}/{sub_id}", headers=bob.headers), 404)
    # The same browser endpoint subscribing for Bob moves to Bob (one row per endpoint).
    r = await client.post(url, json=good, headers=bob.headers)
    assert r.status_code == 201
    assert (await client.get(url, headers=alice.headers)).json() == []
    async with database.read_sessions() as s:
        owners = (await s.execute(select(PushSubscription.owner_id))).scalars().all()
    assert [str(o) for o in owners] == [bob.id]
    r = await client.delete(f"{url}/{r.json()['id']}", headers=bob.headers)
    assert r.status_code == 204


async def fire(database: Database, client: httpx.AsyncClient, acct: Account, title: str) -> str:
    task = await make_task(client, acct, title=title, due="2030-06-01T10:00:00Z")
    r = await client.post(
        f"/api/v1/tasks/{task['id']}/reminders", json={"before": "PT5M"}, headers=acct.headers
    )
    async with database.write_sessions() as s:
        await s.execute(
            update(Reminder)
            .where(Reminder.id == uuid.UUID(r.json()["id"]))
            .values(fire_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await s.commit()
    return str(task["id"])


async def wait_for(rx: Receiver, count: int) -> None:
    for _ in range(500):
        if len(rx.requests) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the push service got {len(rx.requests)} requests, not {count}")


async def test_a_fired_reminder_is_pushed_encrypted_and_its_buttons_work(
    loopback_client: httpx.AsyncClient, database: Database, data_dir: Path
) -> None:
    client = loopback_client
    acct = await make_account(client, timezone="Europe/Paris")
    browser = Browser()
    async with receiver() as rx:
        r = await client.post(
            "/api/v1/push/subscriptions",
            json=browser.subscription(rx.url),
            headers=acct.headers,
        )
        assert r.status_code == 201, r.text
        key = (await client.get("/api/v1/push/key", headers=acct.headers)).json()["public_key"]
        task_id = await fire(database, client, acct, "Water plants")
        fired = await fire_due(database)
        assert len(fired.notification_ids) == 1
        pusher = Pusher(database, push_config(data_dir))
        pusher.start()
        try:
            pusher.enqueue(fired.notification_ids)  # what the scheduler does after firing
            await wait_for(rx, 1)
        finally:
            await pusher.stop()
        [sent] = rx.requests
        assert (sent.method, sent.path) == ("POST", "/hook")
        assert sent.headers["content-encoding"] == "aes128gcm"
        assert sent.headers["ttl"] == "86400"
        scheme, _, params = sent.headers["authorization"].partition(" ")
        fields = dict(p.strip().split("=", 1) for p in params.split(","))
        assert scheme == "vapid" and fields["k"] == key
        public = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), base64.urlsafe_b64decode(key + "=")
        )
        claims = jwt.decode(
            fields["t"], public, algorithms=["ES256"], audience=f"http://127.0.0.1:{rx.port}"
        )
        assert claims["sub"] == "mailto:doable@localhost"
        payload = browser.decrypt(sent.body)
        assert payload["title"] == "Water plants"
        assert payload["body"] == "Due Sat 1 Jun, 12:00"
        assert payload["task_id"] == task_id and payload["url"] == "/notifications"

    # The notification's buttons, as the service worker sends them: no cookie, no bearer.
    token = payload["token"]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    r = await client.post("/api/v1/push/actions", json={"token": forged, "action": "complete"})
    assert_problem(r, 401)
    r = await client.post("/api/v1/push/actions", json={"token": token, "action": "snooze"})
    assert r.status_code == 204, r.text
    reminders = (
        await client.get(f"/api/v1/tasks/{task_id}/reminders", headers=acct.headers)
    ).json()
    fire_at = datetime.fromisoformat(reminders[0]["fire_at"])
    assert timedelta(minutes=59) < fire_at - datetime.now(UTC) <= timedelta(hours=1)
    r = await client.post("/api/v1/push/actions", json={"token": token, "action": "complete"})
    assert r.status_code == 204, r.text
    task = (await client.get(f"/api/v1/tasks/{task_id}", headers=acct.headers)).json()
    assert task["completed"] is True
    page = (await client.get("/api/v1/notifications", headers=acct.headers)).json()
    assert page["unread_count"] == 0
    # Another account's token cannot be made from this one.
    expired = push_service.action_token(
        TEST_SECRET, uuid.UUID(acct.id), uuid.UUID(payload["id"]), now=0
    )
    r = await client.post("/api/v1/push/actions", json={"token": expired, "action": "complete"})
    assert_problem(r, 401)


async def test_gone_subscriptions_are_deleted_and_busy_ones_retried(
    loopback_client: httpx.AsyncClient, database: Database, data_dir: Path
) -> None:
    client = loopback_client
    acct = await make_account(client)
    async with receiver() as gone, receiver() as busy:
        for rx in (gone, busy):
            r = await client.post(
                "/api/v1/push/subscriptions",
                json=Browser().subscription(rx.url),
                headers=acct.headers,
            )
            assert r.status_code == 201
        gone.plan = [Reply(410)]
        busy.plan = [Reply(503), Reply(429), Reply(201)]
        await fire(database, client, acct, "Call")
        fired = await fire_due(database)
        async with httpx.AsyncClient() as http:
            from doable.notify.delivery import push_notifications

            report = await push_notifications(
                database, push_config(data_dir), fired.notification_ids, http
            )
        assert (report.sent, report.removed, report.failed) == (1, 1, 0)
        assert (len(gone.requests), len(busy.requests)) == (1, 3)
    subs = (await client.get("/api/v1/push/subscriptions", headers=acct.headers)).json()
    assert [s["endpoint"] for s in subs] == [busy.url]


async def test_web_subscribe_checks_csrf_size_and_endpoint(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    web = WebClient(client)
    await web.signup()
    sw = await client.get("/sw.js")
    assert sw.status_code == 200 and sw.headers["content-type"].startswith("text/javascript")
    assert "showNotification" in sw.text and sw.headers["service-worker-allowed"] == "/"
    body = Browser().subscription("https://push.example.com/send/xyz")
    headers = {"Sec-Fetch-Site": "same-origin", "X-CSRF-Token": web.token}
    r = await client.post("/push/subscribe", json=body, headers={"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 403  # no CSRF token
    r = await client.post("/push/subscribe", json=body, headers=headers)
    assert r.status_code == 201, r.text
    loop = Browser().subscription("https://127.0.0.1/x")
    assert (await client.post("/push/subscribe", json=loop, headers=headers)).status_code == 422
    big = {**body, "endpoint": "https://push.example.com/" + "a" * 5000}
    assert (await client.post("/push/subscribe", json=big, headers=headers)).status_code == 413
    r = await client.post("/push/unsubscribe", json={"endpoint": body["endpoint"]}, headers=headers)
    assert r.status_code == 204
    async with database.read_sessions() as s:
        assert await s.scalar(select(func.count()).select_from(PushSubscription)) == 0
