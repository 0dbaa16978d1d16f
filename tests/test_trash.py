"""The trash over HTTP: deleting a task, a section or a project keeps it restorable with what it
held; who may see and restore it; bad input; the quota; and the purge, run by two at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from doable.app import create_app
from doable.config import normalize_database_url
from doable.db import Database, utcnow
from doable.projects.access import Role
from doable.trash import purge
from doable.trash.models import TrashItem
from tests.conftest import make_client, runtime_for, truncate_all
from tests.factories import assert_problem, make_account, make_task
from tests.test_sharing_core import PROJECTS, TASKS, share, unshare
from tests.test_web import WebClient, make_project

TRASH = "/api/v1/trash"


async def _trash(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict]:  # type: ignore[type-arg]
    r = await client.get(TRASH, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def test_a_task_comes_back_with_subtasks_tags_reminders_and_completions(
    client: httpx.AsyncClient,
) -> None:
    owner = await make_account(client)
    project = (await client.post(PROJECTS, json={"name": "P"}, headers=owner.headers)).json()
    section = (
        await client.post(
            f"{PROJECTS}/{project['id']}/sections", json={"name": "S"}, headers=owner.headers
        )
    ).json()
    body = {
        "title": "Water plants",
        "project_id": project["id"],
        "section_id": section["id"],
        "tags": ["home"],
        "due": "2030-01-06",
        "recurrence": {"rule": "FREQ=WEEKLY"},
    }
    parent = (await client.post(TASKS, json=body, headers=owner.headers)).json()
    child = (
        await client.post(
            TASKS, json={"title": "Fern", "parent_id": parent["id"]}, headers=owner.headers
        )
    ).json()
    r = await client.post(f"{TASKS}/{parent['id']}/complete", headers=owner.headers)
    assert r.status_code == 200, r.text
    r = await client.post(
        f"{TASKS}/{parent['id']}/reminders", json={"before": "PT1H"}, headers=owner.headers
    )
    assert r.status_code == 201, r.text
    before = (await client.get(f"{TASKS}/{parent['id']}", headers=owner.headers)).json()

    assert (
        await client.delete(f"{TASKS}/{parent['id']}", headers=owner.headers)
    ).status_code == 204
    assert_problem(await client.get(f"{TASKS}/{child['id']}", headers=owner.headers), 404)
    (item,) = await _trash(client, owner.headers)
    assert (item["kind"], item["title"], item["tasks"]) == ("task", "Water plants", 2)
    assert item["project_id"] == project["id"]

    r = await client.post(f"{TRASH}/{item['id']}/restore", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"kind": "task", "id": parent["id"], "project_id": project["id"], "tasks": 2}
    after = (await client.get(f"{TASKS}/{parent['id']}", headers=owner.headers)).json()
    for key in ("title", "tags", "due", "recurrence", "section_id", "created_at", "subtasks"):
        assert after[key] == before[key], key
    r = await client.get(f"{TASKS}/{parent['id']}/completions", headers=owner.headers)
    assert len(r.json()["items"]) == 1
    r = await client.get(f"{TASKS}/{parent['id']}/reminders", headers=owner.headers)
    assert len(r.json()["items"] if isinstance(r.json(), dict) else r.json()) == 1
    restored_child = (await client.get(f"{TASKS}/{child['id']}", headers=owner.headers)).json()
    assert restored_child["parent_id"] == parent["id"]
    assert await _trash(client, owner.headers) == []

    # Restoring again, or something that never was: 404.
    assert_problem(await client.post(f"{TRASH}/{item['id']}/restore", headers=owner.headers), 404)
    assert_problem(await client.post(f"{TRASH}/{uuid.uuid4()}/restore", headers=owner.headers), 404)
    assert_problem(await client.post(f"{TRASH}/nope/restore", headers=owner.headers), 422)


async def test_a_section_and_a_project_come_back_whole(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner = await make_account(client)
    member = await make_account(client)
    project = (await client.post(PROJECTS, json={"name": "Trip"}, headers=owner.headers)).json()
    await share(database, owner, project["id"], member, Role.EDITOR)
    section = (
        await client.post(
            f"{PROJECTS}/{project['id']}/sections", json={"name": "Pack"}, headers=owner.headers
        )
    ).json()
    task = (
        await client.post(
            TASKS,
            json={"title": "Socks", "project_id": project["id"], "section_id": section["id"]},
            headers=member.headers,
        )
    ).json()
    r = await client.delete(
        f"/api/v1/sections/{section['id']}", params={"with_tasks": "true"}, headers=member.headers
    )
    assert r.status_code == 204, r.text
    assert_problem(await client.get(f"{TASKS}/{task['id']}", headers=owner.headers), 404)
    # The member (an editor) sees the deletion and restores it.
    (item,) = await _trash(client, member.headers)
    assert (item["kind"], item["title"], item["tasks"], item["deleted_by"]) == (
        "section",
        "Pack",
        1,
        member.id,
    )
    r = await client.post(f"{TRASH}/{item['id']}/restore", headers=member.headers)
    assert r.status_code == 200, r.text
    got = (await client.get(f"{TASKS}/{task['id']}", headers=owner.headers)).json()
    assert got["section_id"] == section["id"]

    # The project: only its owner deletes and restores it; members and activity come back.
    assert_problem(await client.delete(f"{PROJECTS}/{project['id']}", headers=member.headers), 403)
    r = await client.delete(f"{PROJECTS}/{project['id']}", headers=owner.headers)
    assert r.status_code == 204, r.text
    assert await _trash(client, member.headers) == []
    (item,) = await _trash(client, owner.headers)
    assert (item["kind"], item["tasks"]) == ("project", 1)
    assert_problem(await client.post(f"{TRASH}/{item['id']}/restore", headers=member.headers), 404)
    r = await client.post(f"{TRASH}/{item['id']}/restore", headers=owner.headers)
    assert r.status_code == 200, r.text
    got = (await client.get(f"{TASKS}/{task['id']}", headers=member.headers)).json()
    assert (got["project_id"], got["section_id"]) == (project["id"], section["id"])
    log = (await client.get(f"{PROJECTS}/{project['id']}/activity", headers=member.headers)).json()[
        "items"
    ]
    assert [i["kind"] for i in log][:2] == ["restored", "restored"]
    assert "created" in [i["kind"] for i in log]


async def test_who_may_see_and_restore(client: httpx.AsyncClient, database: Database) -> None:
    owner = await make_account(client)
    viewer = await make_account(client)
    editor = await make_account(client)
    stranger = await make_account(client)
    project = (await client.post(PROJECTS, json={"name": "Shared"}, headers=owner.headers)).json()
    await share(database, owner, project["id"], viewer, Role.VIEWER)
    await share(database, owner, project["id"], editor, Role.EDITOR)
    task = (
        await client.post(
            TASKS, json={"title": "t", "project_id": project["id"]}, headers=owner.headers
        )
    ).json()
    await client.delete(f"{TASKS}/{task['id']}", headers=editor.headers)
    (item,) = await _trash(client, owner.headers)
    assert [i["id"] for i in await _trash(client, editor.headers)] == [item["id"]]
    for who in (viewer, stranger):
        assert await _trash(client, who.headers) == []
        assert_problem(await client.post(f"{TRASH}/{item['id']}/restore", headers=who.headers), 404)
        assert_problem(await client.delete(f"{TRASH}/{item['id']}", headers=who.headers), 404)
    # A removed editor loses it at once.
    await unshare(database, owner, project["id"], editor)
    assert_problem(await client.post(f"{TRASH}/{item['id']}/restore", headers=editor.headers), 404)
    # Emptying one, then everything the owner owns.
    assert (await client.delete(f"{TRASH}/{item['id']}", headers=owner.headers)).status_code == 204
    assert_problem(await client.delete(f"{TRASH}/{item['id']}", headers=owner.headers), 404)
    for title in ("a", "b"):
        t = (await client.post(TASKS, json={"title": title}, headers=owner.headers)).json()
        await client.delete(f"{TASKS}/{t['id']}", headers=owner.headers)
    assert len(await _trash(client, owner.headers)) == 2
    assert (await client.delete(TRASH, headers=owner.headers)).status_code == 204
    assert await _trash(client, owner.headers) == []


async def test_restore_when_its_place_is_gone_or_taken(client: httpx.AsyncClient) -> None:
    owner = await make_account(client)
    project = (await client.post(PROJECTS, json={"name": "Old"}, headers=owner.headers)).json()
    task = (
        await client.post(
            TASKS, json={"title": "t", "project_id": project["id"]}, headers=owner.headers
        )
    ).json()
    await client.delete(f"{TASKS}/{task['id']}", headers=owner.headers)
    await client.delete(f"{PROJECTS}/{project['id']}", headers=owner.headers)
    items = await _trash(client, owner.headers)
    task_item = next(i for i in items if i["kind"] == "task")
    project_item = next(i for i in items if i["kind"] == "project")
    # The project is gone: the task lands in the Inbox.
    r = await client.post(f"{TRASH}/{task_item['id']}/restore", headers=owner.headers)
    assert r.status_code == 200, r.text
    me = (await client.get(f"{TASKS}/{task['id']}", headers=owner.headers)).json()
    inbox = next(
        p for p in (await client.get(PROJECTS, headers=owner.headers)).json() if p["inbox"]
    )
    assert me["project_id"] == inbox["id"]
    # The project itself comes back too.
    r = await client.post(f"{TRASH}/{project_item['id']}/restore", headers=owner.headers)
    assert r.status_code == 200, r.text


async def test_restoring_checks_the_quota(database: Database, data_dir: Path) -> None:
    app = create_app(runtime_for(database, data_dir, max_tasks_per_account=2), database)
    try:
        async with make_client(app) as client:
            owner = await make_account(client)
            first = (await client.post(TASKS, json={"title": "1"}, headers=owner.headers)).json()
            await client.post(TASKS, json={"title": "2"}, headers=owner.headers)
            await client.delete(f"{TASKS}/{first['id']}", headers=owner.headers)
            # The trashed task does not count: there is room for another.
            r = await client.post(TASKS, json={"title": "3"}, headers=owner.headers)
            assert r.status_code == 201
            (item,) = await _trash(client, owner.headers)
            r = await client.post(f"{TRASH}/{item['id']}/restore", headers=owner.headers)
            assert_problem(r, 409)
            assert len(await _trash(client, owner.headers)) == 1
    finally:
        database.set_task_quota(0)  # the database outlives this app
        await truncate_all(database.engine)


@pytest.mark.parametrize("purgers", [2])
async def test_two_purgers_remove_each_expired_item_once(
    client: httpx.AsyncClient, database: Database, purgers: int
) -> None:
    owner = await make_account(client)
    for i in range(7):
        t = (await client.post(TASKS, json={"title": f"t{i}"}, headers=owner.headers)).json()
        await client.delete(f"{TASKS}/{t['id']}", headers=owner.headers)
    keep = (await client.post(TASKS, json={"title": "fresh"}, headers=owner.headers)).json()
    await client.delete(f"{TASKS}/{keep['id']}", headers=owner.headers)
    async with database.unit_of_work(write=True) as session:
        await session.execute(
            update(TrashItem)
            .where(TrashItem.owner_id == uuid.UUID(owner.id), TrashItem.title != "fresh")
            .values(purge_after=utcnow() - timedelta(seconds=1))
        )
    counts = await asyncio.gather(*(purge.purge_once(database) for _ in range(purgers)))
    assert sum(counts) == 7
    assert await purge.purge_once(database) == 0
    async with database.read_sessions() as session:
        left = await session.scalar(
            select(func.count())
            .select_from(TrashItem)
            .where(TrashItem.owner_id == uuid.UUID(owner.id))
        )
    assert left == 1
    assert [i["title"] for i in await _trash(client, owner.headers)] == ["fresh"]


async def test_web_undo_of_a_move_and_an_edit_and_its_refusals(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    web = WebClient(client)
    await web.signup()
    task_id = await web.add("Call Sam")
    project_id, _ = await make_project(web, "Calls")
    r = await web.post(f"/tasks/{task_id}/move", {"op": f"project:{project_id}"}, htmx=True)
    assert r.status_code == 200 and "Undo" in r.text and 'data-timeout="8000"' in r.text
    token = re.search(r'name="undo" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    # A forged or another user's token: 400; nothing moves.
    assert (await web.post("/undo", {"undo": token[:-4] + "0000"}, htmx=True)).status_code == 400
    other = WebClient(make_client(app))
    await other.signup()
    assert (await other.post("/undo", {"undo": token}, htmx=True)).status_code == 400
    await other.http.aclose()
    r = await web.post("/undo", {"undo": token}, htmx=True)
    assert r.status_code == 200, r.text
    assert "Moved “Call Sam” back." in r.text
    r = await client.get(f"/projects/{project_id}")
    assert "Call Sam" not in r.text

    # An edit's undo, after someone else's change, is refused and their change stays.
    r = await web.post(f"/tasks/{task_id}", {"title": "Call Sam today"}, htmx=True)
    assert r.status_code == 200 and "Saved “Call Sam today”." in r.text
    token = re.search(r'name="undo" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    r = await web.post(f"/tasks/{task_id}", {"title": "Call Sam tomorrow"}, htmx=True)
    r = await web.post("/undo", {"undo": token}, htmx=True)
    assert r.status_code == 409
    assert "changed this task after you did, so your undo was not applied" in r.text
    assert "Call Sam tomorrow" in (await web.get("/tasks")).text
    # Undone right away, it applies.
    r = await web.post(f"/tasks/{task_id}", {"title": "Ring Sam"}, htmx=True)
    token = re.search(r'name="undo" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    r = await web.post("/undo", {"undo": token}, htmx=True)
    assert r.status_code == 200 and "Call Sam tomorrow" in r.text


async def test_a_restored_task_brings_its_comments_back(client: httpx.AsyncClient) -> None:
    owner = await make_account(client)
    task = await make_task(client, owner, title="with a thread")
    path = f"/api/v1/tasks/{task['id']}/comments"
    r = await client.post(path, json={"body": "first"}, headers=owner.headers)
    assert r.status_code == 201, r.text
    assert (
        await client.delete(f"/api/v1/tasks/{task['id']}", headers=owner.headers)
    ).status_code == 204
    (item,) = (await client.get("/api/v1/trash", headers=owner.headers)).json()["items"]
    r = await client.post(f"/api/v1/trash/{item['id']}/restore", headers=owner.headers)
    assert r.status_code in {200, 201}, r.text
    bodies = [c["body"] for c in (await client.get(path, headers=owner.headers)).json()["items"]]
    assert bodies == ["first"]


async def test_the_purge_waits_out_an_unreachable_database_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on port 1: every connection is refused, as in an outage.
    gone = Database(normalize_database_url("postgresql://doable@127.0.0.1:1/doable", tmp_path))
    caplog.set_level(logging.WARNING, logger="doable.trash")
    job = asyncio.create_task(purge.run(gone, interval=3600, first_delay=0))
    try:
        for _ in range(200):
            if caplog.records:
                break
            await asyncio.sleep(0.05)
    finally:
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
        await gone.dispose()
    assert [r.getMessage() for r in caplog.records] == [
        f"trash purge: database unavailable; trying again in {purge.RETRY_SECONDS:.0f} s"
    ]
    assert "Traceback" not in caplog.text
    assert not any(r.exc_info for r in caplog.records)
