"""The task list's two ways to build a page agree.

A plain list (no filter but the status, for a user nothing is shared with) runs a statement
built once per shape with its values as parameters (`listing._plain_page`); any other list
builds its statement per request. A filter that matches every task (all five priorities)
sends the same list down the per-request path, so the two must give the same pages and
cursors, archived projects' tasks left out of both."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from doable.tasks import listing, tree
from tests.factories import Account, make_account, make_task

TASKS = "/api/v1/tasks"
PRIORITIES = ["none", "low", "medium", "high", "urgent"]


async def _pages(
    client: httpx.AsyncClient, acct: Account, **params: Any
) -> list[tuple[list[str], str | None]]:
    """Every page of a list, as (its task ids, the cursor it gave for the next one)."""
    pages: list[tuple[list[str], str | None]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        r = await client.get(TASKS, params=query, headers=acct.headers)
        assert r.status_code == 200, r.text
        cursor = r.json()["next_cursor"]
        pages.append(([t["id"] for t in r.json()["items"]], cursor))
        if cursor is None:
            return pages


@pytest.fixture
async def account(client: httpx.AsyncClient) -> Account:
    acct = await make_account(client)
    archived = await client.post("/api/v1/projects", json={"name": "Old"}, headers=acct.headers)
    assert archived.status_code == 201, archived.text
    project_id = archived.json()["id"]
    for i in range(4):
        await make_task(client, acct, title=f"old {i}", project_id=project_id)
    r = await client.patch(
        f"/api/v1/projects/{project_id}", json={"archived": True}, headers=acct.headers
    )
    assert r.status_code == 200, r.text
    for i in range(14):
        fields: dict[str, Any] = {"title": f"t{i % 5}", "priority": PRIORITIES[i % 5]}
        if i % 3:
            fields["due"] = f"2026-12-{(i % 7) + 1:02d}"
        task = await make_task(client, acct, **fields)
        if i % 4 == 0:
            done = await client.post(f"{TASKS}/{task['id']}/complete", headers=acct.headers)
            assert done.status_code == 200, done.text
    return acct


@pytest.mark.parametrize("status", ["all", "pending", "completed"])
@pytest.mark.parametrize("sort", ["created", "updated", "due", "priority", "title", "position"])
@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_a_plain_list_pages_as_the_built_one_does(
    client: httpx.AsyncClient, account: Account, status: str, sort: str, order: str
) -> None:
    params = {"status": status, "sort": sort, "order": order, "limit": 3}
    listing._PLAIN_PAGES.clear()
    plain = await _pages(client, account, **params)
    # Both shapes (a first page, then pages after a cursor) ran from the cache.
    shapes = {(status, sort, order, after, False) for after in (False, True)}
    assert shapes <= set(listing._PLAIN_PAGES)
    listing._PLAIN_PAGES.clear()
    built = await _pages(client, account, **params, priority=PRIORITIES)
    assert not listing._PLAIN_PAGES  # a filter: the statement was built per request
    assert plain == built  # the same tasks on each page, and the same cursors
    seen = [task for ids, _ in plain for task in ids]
    assert len(seen) == len(set(seen)) == {"all": 14, "pending": 10, "completed": 4}[status]


async def test_a_plain_list_is_scoped_to_its_user(
    client: httpx.AsyncClient, account: Account
) -> None:
    other = await make_account(client)
    mine = await make_task(client, other, title="someone else's")
    r = await client.get(TASKS, headers=account.headers)
    assert mine["id"] not in {t["id"] for t in r.json()["items"]}
    r = await client.get(TASKS, headers=other.headers)
    assert [t["id"] for t in r.json()["items"]] == [mine["id"]]


async def test_instants_read_back_aware_in_utc(client: httpx.AsyncClient) -> None:
    """List and GET read instants through `utc_instant` (the driver makes them aware on
    PostgreSQL, Python elsewhere): the same instant, in UTC, as the write answered."""
    acct = await make_account(client)
    made = await make_task(client, acct, title="at ten in Paris", due="2026-12-03T10:00:00+01:00")
    done = await client.post(f"{TASKS}/{made['id']}/complete", headers=acct.headers)
    assert done.status_code == 200, done.text
    listed = (await client.get(TASKS, headers=acct.headers)).json()["items"]
    got = (await client.get(f"{TASKS}/{made['id']}", headers=acct.headers)).json()
    for task in (listed[0], got):
        assert task["due"] == "2026-12-03T09:00:00Z"
        assert task["created_at"] == made["created_at"]
        assert task["completed_at"] == done.json()["completed_at"]
        for field in ("created_at", "updated_at", "completed_at"):
            assert task[field].endswith("Z"), task[field]


@pytest.mark.parametrize("which", ["inbox", "archived"])
@pytest.mark.parametrize(("sort", "order"), [("position", "asc"), ("created", "desc")])
async def test_a_project_list_pages_as_the_built_one_does(
    client: httpx.AsyncClient, account: Account, which: str, sort: str, order: str
) -> None:
    """A project's own list is plain too, and shows the project's tasks even archived."""
    projects = (await client.get("/api/v1/projects?archived=all", headers=account.headers)).json()
    found = [p for p in projects if (p["inbox"] if which == "inbox" else p["archived"])]
    assert len(found) == 1, projects
    params = {"project_id": found[0]["id"], "sort": sort, "order": order, "limit": 3}
    listing._PLAIN_PAGES.clear()
    plain = await _pages(client, account, **params)
    assert ("all", sort, order, False, True) in listing._PLAIN_PAGES
    built = await _pages(client, account, **params, priority=PRIORITIES)
    assert plain == built
    seen = [task for ids, _ in plain for task in ids]
    assert len(seen) == len(set(seen)) == {"inbox": 14, "archived": 4}[which]


async def test_a_plain_project_list_checks_the_project_before_the_cursor(
    client: httpx.AsyncClient, account: Account
) -> None:
    other = await make_account(client)
    theirs = (await client.get("/api/v1/projects", headers=other.headers)).json()[0]["id"]
    for cursor in (None, "not-a-cursor"):
        params = {"project_id": theirs, **({"cursor": cursor} if cursor else {})}
        r = await client.get(TASKS, params=params, headers=account.headers)
        assert r.status_code == 404, r.text


def test_a_page_statement_is_compiled_once() -> None:
    """Every column of a page, the tag names' included, has a cache key: without one
    SQLAlchemy compiles the whole statement on every request (a list cost 2.8 times as many
    instructions when the tag names' column had none)."""
    assert select(*tree.DISPLAY_COLUMNS)._generate_cache_key() is not None


async def test_a_page_lists_tags_as_a_task_does(client: httpx.AsyncClient) -> None:
    """The page's tag names (one column, doable.tasks.tagnames) come in the order a task's
    own GET gives them, on every backend, and a task without tags has none."""
    acct = await make_account(client)
    await make_task(client, acct, title="many", tags=["zeta", "Alpha", "mid", "Émile", "b"])
    await make_task(client, acct, title="one", tags=["solo"])
    await make_task(client, acct, title="none")
    page = (await client.get("/api/v1/tasks", headers=acct.headers)).json()["items"]
    assert {t["title"]: len(t["tags"]) for t in page} == {"many": 5, "one": 1, "none": 0}
    for task in page:
        alone = (await client.get(f"/api/v1/tasks/{task['id']}", headers=acct.headers)).json()
        assert task["tags"] == alone["tags"], task["title"]
