"""The sidebar's numbers (task counts, open tasks per project, tags with their counts) on the
task list page: exact after writes through the web app, the API, and another app on the same
database (another replica), with archived projects and an import's staged tasks left out as
the counts' rules say (tasks/listing.py `count_sidebar`, tasks/tags.py `task_count`)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select, update

from doable.app import create_app
from doable.db import Database
from doable.projects.access import Role
from doable.tasks.models import NO_DUE, Tag, Task, task_tags
from tests.conftest import make_client, runtime_for
from tests.factories import PASSWORD, Account, make_account
from tests.test_sharing_core import share, unshare
from tests.webclient import WebClient

TASKS = "/api/v1/tasks"
NOW = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)  # a Sunday afternoon, UTC (the user's zone)
TODAY = NOW.date()

_COUNTS = re.compile(r'<dl id="counts" class="counts">(.*?)</dl>', re.S)
_COUNT = re.compile(r"<dt>(\w+)</dt><dd>(\d+)</dd>")
_TAG = re.compile(r'#([^<\s]+) <span class="count">(\d+)</span>')
_PROJECT = re.compile(
    r'<li id="nav-project-([0-9a-f-]{36})".*?<span class="count">(\d+)<span', re.S
)


def sidebar(page: str) -> dict[str, Any]:
    """What the sidebar of a task list page says: counts, tags and open tasks per project."""
    found = _COUNTS.search(page)
    assert found, page
    return {
        "counts": dict(_COUNT.findall(found.group(1).replace("\n", "").replace(" ", ""))),
        "tags": dict(_TAG.findall(page)),
        "projects": dict(_PROJECT.findall(page)),
    }


def counts(open_: int, today: int, overdue: int, done: int) -> dict[str, str]:
    return {"Open": str(open_), "Today": str(today), "Overdue": str(overdue), "Done": str(done)}


@pytest.fixture
def fixed_now(app: FastAPI) -> None:
    app.state.doable.clock = lambda: NOW


async def signed_in_pair(client: httpx.AsyncClient) -> tuple[WebClient, Account]:
    """One user, signed in to the web app and holding an API token."""
    web = WebClient(client)
    await web.signup()
    r = await client.post("/api/v1/auth/login", json={"email": web.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    acct = Account(
        body["user"]["id"], web.email, PASSWORD, body["access_token"], body["refresh_token"]
    )
    return web, acct


async def add(
    client: httpx.AsyncClient, acct: Account, *, due: date | None = None, **fields: Any
) -> str:
    if due is not None:
        fields["due"] = due.isoformat()
    fields.setdefault("title", f"task {uuid.uuid4().hex[:6]}")
    r = await client.post(TASKS, json=fields, headers=acct.headers)
    assert r.status_code == 201, r.text
    task_id: str = r.json()["id"]
    return task_id


async def test_counts_tags_and_projects_follow_writes(
    app: FastAPI, client: httpx.AsyncClient, fixed_now: None
) -> None:
    web, acct = await signed_in_pair(client)
    yesterday, tomorrow = TODAY - timedelta(days=1), TODAY + timedelta(days=1)
    home = await client.post("/api/v1/projects", json={"name": "Home"}, headers=acct.headers)
    home_id = home.json()["id"]
    old = await client.post("/api/v1/projects", json={"name": "Old"}, headers=acct.headers)
    old_id = old.json()["id"]
    late = await add(client, acct, due=yesterday, tags=["Work"])
    await add(client, acct, due=TODAY, tags=["work", "home"])
    await add(client, acct, due=tomorrow, project_id=home_id, tags=["home"])
    done = await add(client, acct, due=yesterday, tags=["home"])
    await client.post(f"{TASKS}/{done}/complete", headers=acct.headers)
    await web.add("from the web", tags="home")
    # An archived project's tasks leave the totals, not the tags' counts.
    await add(client, acct, due=yesterday, project_id=old_id, tags=["work"])
    r = await client.patch(
        f"/api/v1/projects/{old_id}", json={"archived": True}, headers=acct.headers
    )
    assert r.status_code == 200, r.text

    page = sidebar((await web.get("/tasks")).text)
    assert page["counts"] == counts(open_=4, today=2, overdue=1, done=1)
    assert page["tags"] == {"home": "4", "Work": "3"}
    inbox = next(p for p in page["projects"] if p not in {home_id, old_id})
    assert page["projects"] == {inbox: "3", home_id: "1"}
    api_tags = (await client.get("/api/v1/tags", headers=acct.headers)).json()
    assert {t["name"]: t["task_count"] for t in api_tags} == {"home": 4, "Work": 3}

    # Writes through the API: complete the overdue task, move one to Home, delete a tag.
    await client.post(f"{TASKS}/{late}/complete", headers=acct.headers)
    work = next(t["id"] for t in api_tags if t["name"] == "Work")
    assert (await client.delete(f"/api/v1/tags/{work}", headers=acct.headers)).status_code == 204
    page = sidebar((await web.get("/tasks")).text)
    assert page["counts"] == counts(open_=3, today=1, overdue=0, done=2)
    assert page["tags"] == {"home": "4"}
    assert page["projects"] == {inbox: "2", home_id: "1"}

    # Unarchiving brings the project's overdue task back into the totals.
    await client.patch(f"/api/v1/projects/{old_id}", json={"archived": False}, headers=acct.headers)
    page = sidebar((await web.get("/tasks")).text)
    assert page["counts"] == counts(open_=4, today=2, overdue=1, done=2)
    assert page["projects"] == {inbox: "2", home_id: "1", old_id: "1"}


async def test_a_write_through_another_app_shows_at_once(
    app: FastAPI, client: httpx.AsyncClient, database: Database, data_dir: Path
) -> None:
    """Another replica: its own app and engine on the same database."""
    web, acct = await signed_in_pair(client)
    await add(client, acct, tags=["errands"])
    assert sidebar((await web.get("/tasks")).text)["counts"]["Open"] == "1"
    other_db = Database(database.config)
    other = create_app(runtime_for(database, data_dir), other_db)
    try:
        async with make_client(other) as replica:
            first = await add(replica, acct, tags=["errands"])
            await add(replica, acct, tags=["garden"])
            await replica.post(f"{TASKS}/{first}/complete", headers=acct.headers)
            page = sidebar((await web.get("/tasks")).text)
            assert page["counts"] == {"Open": "2", "Today": "0", "Overdue": "0", "Done": "1"}
            assert page["tags"] == {"errands": "2", "garden": "1"}
            await replica.delete(f"{TASKS}/{first}", headers=acct.headers)
            page = sidebar((await web.get("/tasks")).text)
            assert page["counts"] == {"Open": "2", "Today": "0", "Overdue": "0", "Done": "0"}
            assert page["tags"] == {"errands": "1", "garden": "1"}
    finally:
        await other_db.engine.dispose()


async def test_an_imports_staged_tasks_count_only_once_published(
    app: FastAPI, client: httpx.AsyncClient, database: Database, fixed_now: None
) -> None:
    """Staged rows as transfer/importer.py writes them: hidden from every count, the tags'
    included (which then read each linked task), until the batch id is cleared."""
    web, acct = await signed_in_pair(client)
    task_id = await add(client, acct, due=TODAY, tags=["work"])
    owner = uuid.UUID(acct.id)
    batch = uuid.uuid4()
    staged_ids = [uuid.uuid4() for _ in range(3)]
    async with database.write_sessions() as s:
        project_id, tag_id = (
            await s.execute(
                select(Task.project_id, task_tags.c.tag_id)
                .join(task_tags, task_tags.c.task_id == Task.id)
                .where(Task.id == uuid.UUID(task_id))
            )
        ).one()
        for staged in staged_ids:
            s.add(
                Task(
                    id=staged,
                    owner_id=owner,
                    title="staged",
                    due_sort=NO_DUE,
                    project_id=project_id,
                    import_batch_id=batch,
                )
            )
        await s.flush()
        await s.execute(insert(task_tags), [{"task_id": t, "tag_id": tag_id} for t in staged_ids])
        await s.commit()

    page = sidebar((await web.get("/tasks")).text)
    assert page["counts"] == counts(open_=1, today=1, overdue=0, done=0)
    assert page["tags"] == {"work": "1"}
    assert list(page["projects"].values()) == ["1"]
    api_tags = (await client.get("/api/v1/tags", headers=acct.headers)).json()
    assert [(t["name"], t["task_count"]) for t in api_tags] == [("work", 1)]

    async with database.write_sessions() as s:
        await s.execute(
            update(Task).where(Task.import_batch_id == batch).values(import_batch_id=None)
        )
        await s.commit()
    page = sidebar((await web.get("/tasks")).text)
    assert page["counts"] == counts(open_=4, today=1, overdue=0, done=0)
    assert page["tags"] == {"work": "4"}
    assert list(page["projects"].values()) == ["4"]
    async with database.read_sessions() as s:
        assert (await s.scalar(select(Tag.name).where(Tag.id == tag_id))) == "work"


async def test_a_members_sidebar_counts_the_shared_projects_tasks_not_their_tags(
    app: FastAPI, client: httpx.AsyncClient, database: Database, fixed_now: None
) -> None:
    """The statement for a user with shares: the shared project's tasks count in the totals
    and its own line, the owner's tags (which those tasks carry) are not the member's; an
    archived shared project leaves the totals; removal takes the tasks away at once."""
    web, member = await signed_in_pair(client)
    owner = await make_account(client)
    r = await client.post("/api/v1/projects", json={"name": "Shared"}, headers=owner.headers)
    shared_id = r.json()["id"]
    await add(client, owner, due=TODAY - timedelta(days=1), project_id=shared_id, tags=["o"])
    await add(client, owner, due=TODAY, project_id=shared_id, tags=["o"])
    await add(client, owner, tags=["o"])  # the owner's Inbox: not shared
    await add(client, member, tags=["mine"])
    await share(database, owner, shared_id, member, Role.EDITOR)

    page = sidebar((await web.get("/tasks")).text)
    assert page["counts"] == counts(open_=3, today=2, overdue=1, done=0)
    assert page["tags"] == {"mine": "1"}
    inbox = next(p for p in page["projects"] if p != shared_id)
    assert page["projects"] == {inbox: "1", shared_id: "2"}

    r = await client.patch(
        f"/api/v1/projects/{shared_id}", json={"archived": True}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    page = sidebar((await web.get("/tasks")).text)
    assert page["counts"] == counts(open_=1, today=0, overdue=0, done=0)
    await client.patch(
        f"/api/v1/projects/{shared_id}", json={"archived": False}, headers=owner.headers
    )

    await unshare(database, owner, shared_id, member)
    page = sidebar((await web.get("/tasks")).text)
    assert page["counts"] == counts(open_=1, today=0, overdue=0, done=0)
    assert page["projects"] == {inbox: "1"}
