"""Prometheus metrics: off unless METRICS_TOKEN is set, then only for that bearer token, with
requests labelled by route template; and prometheus_client stays unloaded while they are off."""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from doable import events
from doable.app import create_app
from doable.config import ConfigError, resolve
from doable.db import Database
from doable.reminders.models import Reminder
from doable.webhooks.models import WebhookDelivery
from tests.conftest import fast_settings, make_client, runtime_for, truncate_all
from tests.factories import assert_problem, make_account, make_task
from tests.server import DOABLE, server_env

TOKEN = "metrics-token-for-tests-0123456789-abcdefgh"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def metered(database: Database, data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime_for(database, data_dir, METRICS_TOKEN=TOKEN), database)
    try:
        async with make_client(app) as c:
            yield c
    finally:
        await truncate_all(database.engine)


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = await client.get("/metrics", headers=SCRAPE)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def sample(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_are_off_by_default(client: httpx.AsyncClient) -> None:
    r = await client.get("/metrics", headers=SCRAPE)
    assert r.status_code == 404
    assert "doable_http_requests" not in r.text


def test_prometheus_client_is_not_loaded_while_metrics_are_off(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from doable.app import create_app\n"
        "create_app()\n"
        "print('prometheus_client' in sys.modules)\n"
    )
    env = {**os.environ, "DOABLE_DATA_DIR": str(tmp_path), "METRICS_TOKEN": ""}
    env.pop("DATABASE_URL", None)
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token-0123456789-0123456789-0123", f"Basic {TOKEN}", f"Bearer {TOKEN}x"],
)
async def test_metrics_refuse_a_missing_or_wrong_token(
    metered: httpx.AsyncClient, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    r = await metered.get("/metrics", headers=headers)
    assert_problem(r, 401)
    assert r.headers["www-authenticate"] == 'Bearer realm="metrics"'
    assert "doable_" not in r.text


async def test_requests_are_counted_by_route_template(metered: httpx.AsyncClient) -> None:
    acct = await make_account(metered)
    first = await make_task(metered, acct, title="one")
    second = await make_task(metered, acct, title="two")
    before = await scrape(metered)
    for task in (first, second, first):
        r = await metered.get(f"/api/v1/tasks/{task['id']}", headers=acct.headers)
        assert r.status_code == 200
    missing = await metered.get(f"/api/v1/tasks/{uuid.uuid4()}", headers=acct.headers)
    assert missing.status_code == 404
    assert (await metered.get("/no/such/page/at/all")).status_code == 404
    r = await metered.get("/metrics", headers=SCRAPE)
    after = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }
    template = "/api/v1/tasks/{task_id}"
    counted = "doable_http_requests_total"

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta(counted, method="GET", route=template, status="200") == 3
    assert delta(counted, method="GET", route=template, status="404") == 1
    assert delta(counted, method="GET", route="<unmatched>", status="404") == 1
    assert delta("doable_http_request_duration_seconds_count", method="GET", route=template) == 4
    # Raw paths never become labels: the task ids appear nowhere.
    assert first["id"] not in r.text and second["id"] not in r.text
    assert "/no/such/page" not in r.text


async def test_gauges_read_at_scrape_time(metered: httpx.AsyncClient, database: Database) -> None:
    gc.collect()  # streams of earlier tests that only the collector still holds
    samples = await scrape(metered)
    assert sample(samples, "doable_scheduler_lag_seconds") == 0.0
    # Streams earlier tests may have left open stay counted: this test adds one.
    streams_before = sample(samples, "doable_event_streams_open")
    assert ("doable_db_pool_checked_out", frozenset()) in samples
    assert ("doable_db_pool_size", frozenset()) in samples
    assert ("process_resident_memory_bytes", frozenset()) in samples

    acct = await make_account(metered)
    task = await make_task(metered, acct)
    at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = await metered.post(
        f"/api/v1/tasks/{task['id']}/reminders", json={"at": at}, headers=acct.headers
    )
    assert r.status_code == 201
    # The reminder fell due an hour ago and no scheduler runs here: it waits, and that shows.
    async with database.write_sessions() as s:
        await s.execute(update(Reminder).values(fire_at=datetime.now(UTC) - timedelta(hours=1)))
        await s.commit()
    subscription = events.bus.subscribe(uuid.uuid4(), limit=5)
    try:
        samples = await scrape(metered)
    finally:
        events.bus.unsubscribe(subscription)
    lag = sample(samples, "doable_scheduler_lag_seconds")
    assert 3600 <= lag < 3600 + 600
    assert sample(samples, "doable_event_streams_open") == streams_before + 1


async def test_the_webhook_queue_is_counted_at_scrape_time(
    metered: httpx.AsyncClient, database: Database
) -> None:
    """Every pending delivery counts, due or waiting for its retry; delivered and failed ones
    do not. No worker runs here: the deliveries wait, and the queue shows them."""
    assert sample(await scrape(metered), "doable_webhook_queue_depth") == 0.0
    acct = await make_account(metered)
    r = await metered.post(
        "/api/v1/webhooks",
        json={"url": "https://hooks.example.com/doable", "event_types": ["task.created"]},
        headers=acct.headers,
    )
    assert r.status_code == 201, r.text
    for n in range(3):
        await make_task(metered, acct, title=f"queued {n}")
    assert sample(await scrape(metered), "doable_webhook_queue_depth") == 3.0
    async with database.write_sessions() as s:
        first, second, _ = (await s.execute(select(WebhookDelivery.id))).scalars()
        await s.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == first).values(status="delivered")
        )
        await s.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == second)
            .values(next_attempt_at=datetime.now(UTC) + timedelta(hours=1), attempts=1)
        )
        await s.commit()
    assert sample(await scrape(metered), "doable_webhook_queue_depth") == 2.0


async def test_hooks_for_other_modules_feed_the_same_metrics(metered: httpx.AsyncClient) -> None:
    from doable.ops import metrics

    before = await scrape(metered)
    metrics.count_webhook_delivery("failed")
    metrics.observe_event_bus_lag(0.02)
    after = await scrape(metered)
    failed = "doable_webhook_deliveries_total"
    assert sample(after, failed, outcome="failed") - sample(before, failed, outcome="failed") == 1
    lag_count = "doable_event_bus_lag_seconds_count"
    assert sample(after, lag_count) - sample(before, lag_count) == 1


def test_a_short_metrics_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="METRICS_TOKEN is too short") as caught:
        resolve(fast_settings(tmp_path, METRICS_TOKEN="short-token"))
    assert "short-token" not in str(caught.value)


def test_doable_check_never_prints_the_token(tmp_path: Path) -> None:
    env = server_env(tmp_path, tmp_path, METRICS_TOKEN=TOKEN)
    done = subprocess.run(
        [str(DOABLE), "check"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert TOKEN not in done.stdout + done.stderr
    assert re.search(r"METRICS_TOKEN\s.*\bset\b", done.stdout)
