"""The benchmark's same-SQL ceiling (benchmarks/baseline) answers Doable's bytes.

The throughput benchmark refuses to run when the two differ (benchmarks/run.py `same_bodies`),
but only on the seeded data, whose tasks have no project, section, parent or assignee. Here the
tasks have all of those, so a field Doable gains fails this test rather than the next benchmark.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest
from benchmarks.baseline.app import create_app as create_baseline

from doable.db import Database
from tests.conftest import BACKEND_ENV, TEST_SECRET
from tests.factories import make_account, make_task

API = "/api/v1"


@pytest.fixture
async def baseline(
    database: Database, backend: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    name = "mariadb" if backend == "mysql" else backend
    dsn = str(database.engine.url.database) if name == "sqlite" else os.environ[BACKEND_ENV[name]]
    monkeypatch.setenv("BASELINE_BACKEND", name)
    monkeypatch.setenv("BASELINE_DSN", dsn)
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET.decode())
    app = create_baseline()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://baseline") as c:
            yield c


async def test_baseline_answers_doables_bytes(
    client: httpx.AsyncClient, baseline: httpx.AsyncClient
) -> None:
    me = await make_account(client)
    r = await client.post(f"{API}/projects", json={"name": "Home"}, headers=me.headers)
    assert r.status_code == 201, r.text
    project = r.json()["id"]
    r = await client.post(
        f"{API}/projects/{project}/sections", json={"name": "Kitchen"}, headers=me.headers
    )
    assert r.status_code == 201, r.text
    section = r.json()["id"]
    parent = await make_task(
        client,
        me,
        project_id=project,
        section_id=section,
        tags=["b", "a"],
        priority="high",
        due="2030-01-02T03:04:05Z",
        assignee_id=me.id,
    )
    await make_task(client, me, project_id=project, parent_id=parent["id"], completed=True)
    await make_task(client, me, project_id=project, parent_id=parent["id"], due="2030-01-03")
    await make_task(client, me, title="In the Inbox", description="with words")
    # An archived project's tasks are left out of the list, by both.
    r = await client.post(f"{API}/projects", json={"name": "Old"}, headers=me.headers)
    old = r.json()["id"]
    await make_task(client, me, project_id=old, title="archived")
    r = await client.patch(f"{API}/projects/{old}", json={"archived": True}, headers=me.headers)
    assert r.status_code == 200, r.text

    paths = [f"{API}/tasks", f"{API}/tasks?limit=2"]
    second = (await client.get(paths[1], headers=me.headers)).json()["next_cursor"]
    assert second is not None
    paths.append(f"{API}/tasks?limit=2&cursor={second}")
    items = (await client.get(paths[0], headers=me.headers)).json()["items"]
    assert len(items) == 4
    assert {t["subtasks"]["total"] for t in items} == {0, 2}
    paths += [f"{API}/tasks/{t['id']}" for t in items]
    for path in paths:
        ours = await client.get(path, headers=me.headers)
        theirs = await baseline.get(path, headers=me.headers)
        assert (ours.status_code, ours.content) == (theirs.status_code, theirs.content), path
        assert ours.status_code == 200, path
