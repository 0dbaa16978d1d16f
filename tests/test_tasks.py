"""Task CRUD, ETags, completion, due dates, filters, sorting, cursors and query counts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, event, select

from doable.db import Database
from doable.projects.models import Project
from tests.factories import Account, assert_problem, make_account, make_task

TASKS = "/api/v1/tasks"


async def test_create_returns_201_location_etag(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    r = await client.post(
        TASKS,
        json={
            "title": "  Write report  ",
            "description": "Q4",
            "priority": "high",
            "due": "2026-12-01",
            "tags": ["Work", "work", "urgent"],
        },
        headers=acct.headers,
    )
    assert r.status_code == 201
    body = r.json()
    assert r.headers["location"] == f"{TASKS}/{body['id']}"
    assert r.headers["etag"] == '"1"'
    assert body["title"] == "Write report"
    assert (body["description"], body["priority"], body["due"]) == ("Q4", "high", "2026-12-01")
    assert body["tags"] == ["urgent", "Work"]
    assert body["completed"] is False and body["completed_at"] is None
    assert body["created_at"] == body["updated_at"]
    got = await client.get(r.headers["location"], headers=acct.headers)
    assert got.status_code == 200 and got.json() == body and got.headers["etag"] == '"1"'


async def test_patch_put_and_if_match(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, title="one", tags=["a"], priority="low")
    url = f"{TASKS}/{task['id']}"
    r = await client.patch(url, json={"title": "two"}, headers={**acct.headers, "If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    assert (r.json()["title"], r.json()["tags"], r.json()["priority"]) == ("two", ["a"], "low")
    stale = await client.patch(
        url, json={"title": "three"}, headers={**acct.headers, "If-Match": '"1"'}
    )
    assert_problem(stale, 412)
    assert_problem(
        await client.put(url, json={"title": "x"}, headers={**acct.headers, "If-Match": '"1"'}), 412
    )
    assert_problem(await client.delete(url, headers={**acct.headers, "If-Match": '"1"'}), 412)
    assert (await client.get(url, headers=acct.headers)).json()["title"] == "two"
    # Weak and list forms, and `*`, are accepted.
    r = await client.patch(
        url, json={"priority": "urgent"}, headers={**acct.headers, "If-Match": 'W/"2", "9"'}
    )
    assert r.status_code == 200 and r.headers["etag"] == '"3"'
    # PUT replaces: fields not sent go back to their defaults.
    r = await client.put(url, json={"title": "replaced"}, headers={**acct.headers, "If-Match": "*"})
    assert r.status_code == 200
    body = r.json()
    assert (body["title"], body["priority"], body["tags"], body["description"], body["due"]) == (
        "replaced",
        "none",
        [],
        "",
        None,
    )
    # Without If-Match the write is accepted.
    r = await client.patch(url, json={"description": "d"}, headers=acct.headers)
    assert r.status_code == 200 and r.headers["etag"] == '"5"'
    # A tag-only change still bumps the version.
    r = await client.patch(url, json={"tags": ["b"]}, headers=acct.headers)
    assert r.headers["etag"] == '"6"' and r.json()["tags"] == ["b"]


async def test_patch_null_rules(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, title="t", due="2026-05-01")
    url = f"{TASKS}/{task['id']}"
    assert_problem(await client.patch(url, json={"title": None}, headers=acct.headers), 422)
    r = await client.patch(url, json={"due": None}, headers=acct.headers)
    assert r.status_code == 200 and r.json()["due"] is None
    r = await client.patch(url, json={}, headers=acct.headers)
    assert r.status_code == 200 and r.json()["title"] == "t"


async def test_complete_and_reopen_are_idempotent(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct)
    url = f"{TASKS}/{task['id']}"
    first = await client.post(f"{url}/complete", headers=acct.headers)
    assert first.status_code == 200 and first.json()["completed"] is True
    assert first.json()["completed_at"] is not None
    again = await client.post(f"{url}/complete", headers=acct.headers)
    assert again.json() == first.json() and again.headers["etag"] == first.headers["etag"]
    reopened = await client.post(f"{url}/reopen", headers=acct.headers)
    assert (reopened.json()["completed"], reopened.json()["completed_at"]) == (False, None)
    assert (await client.post(f"{url}/reopen", headers=acct.headers)).json() == reopened.json()


async def test_delete(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, tags=["x"])
    url = f"{TASKS}/{task['id']}"
    assert (await client.delete(url, headers=acct.headers)).status_code == 204
    assert_problem(await client.get(url, headers=acct.headers), 404)
    assert_problem(await client.delete(url, headers=acct.headers), 404)
    tags = (await client.get("/api/v1/tags", headers=acct.headers)).json()
    assert [(t["name"], t["task_count"]) for t in tags] == [("x", 0)]


@pytest.mark.parametrize(
    ("tz", "sent", "returned"),
    [
        ("UTC", "2026-12-01", "2026-12-01"),
        ("Europe/Paris", "2026-12-01", "2026-12-01"),
        ("UTC", "2026-12-01T09:30:00Z", "2026-12-01T09:30:00Z"),
        ("UTC", "2026-12-01T09:30:00+02:00", "2026-12-01T07:30:00Z"),
        # No offset: read in the user's zone (Paris is UTC+1 in winter, UTC+2 in summer).
        ("Europe/Paris", "2026-12-01T09:00:00", "2026-12-01T08:00:00Z"),
        ("Europe/Paris", "2026-07-01T09:00", "2026-07-01T07:00:00Z"),
        ("America/New_York", "2026-03-08T12:00:00", "2026-03-08T16:00:00Z"),
        ("UTC", "2026-12-01T09:30:00.123456Z", "2026-12-01T09:30:00.123456Z"),
    ],
)
async def test_due_round_trips(
    client: httpx.AsyncClient, tz: str, sent: str, returned: str
) -> None:
    acct = await make_account(client, timezone=tz)
    task = await make_task(client, acct, due=sent)
    assert task["due"] == returned
    assert (await client.get(f"{TASKS}/{task['id']}", headers=acct.headers)).json()[
        "due"
    ] == returned


async def _ids(client: httpx.AsyncClient, acct: Account, **params: Any) -> list[str]:
    r = await client.get(TASKS, params=params, headers=acct.headers)
    assert r.status_code == 200, r.text
    return [t["id"] for t in r.json()["items"]]


async def test_filters(client: httpx.AsyncClient) -> None:
    acct = await make_account(client, timezone="Europe/Paris")
    a = await make_task(
        client, acct, title="Buy MILK", priority="high", tags=["home", "shop"], due="2026-12-01"
    )
    b = await make_task(
        client,
        acct,
        title="Call bob",
        description="about the 100% discount",
        priority="low",
        tags=["home"],
        due="2026-12-03T10:00:00",
    )
    c = await make_task(client, acct, title="Write_report", priority="high", tags=["work"])
    await client.post(f"{TASKS}/{c['id']}/complete", headers=acct.headers)
    assert set(await _ids(client, acct)) == {a["id"], b["id"], c["id"]}
    assert set(await _ids(client, acct, status="pending")) == {a["id"], b["id"]}
    assert await _ids(client, acct, status="completed") == [c["id"]]
    assert await _ids(client, acct, q="milk") == [a["id"]]
    assert await _ids(client, acct, q="100%") == [b["id"]]
    assert await _ids(client, acct, q="e_r") == [c["id"]]
    assert await _ids(client, acct, q="%") == [b["id"]]
    assert await _ids(client, acct, q="nothing") == []
    assert set(await _ids(client, acct, priority="high")) == {a["id"], c["id"]}
    assert set(await _ids(client, acct, priority=["high", "low"])) == {a["id"], b["id"], c["id"]}
    assert set(await _ids(client, acct, tag="HOME")) == {a["id"], b["id"]}
    assert await _ids(client, acct, tag=["home", "shop"]) == [a["id"]]
    assert await _ids(client, acct, tag=["home", "nope"]) == []
    assert await _ids(client, acct, due_before="2026-12-02") == [a["id"]]
    assert await _ids(client, acct, due_after="2026-12-02") == [b["id"]]
    assert await _ids(
        client, acct, due_after="2026-12-03T10:00:00", due_before="2026-12-03T10:00:01"
    ) == [b["id"]]
    assert await _ids(client, acct, due_after="2026-12-03T09:00:00Z") == [b["id"]]
    assert await _ids(client, acct, due_after="2026-12-03T09:00:01Z") == []
    assert set(await _ids(client, acct, status="pending", tag="home", priority="low")) == {b["id"]}


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("created", "desc"),
        ("created", "asc"),
        ("updated", "desc"),
        ("due", "asc"),
        ("due", "desc"),
        ("priority", "desc"),
        ("priority", "asc"),
        ("title", "asc"),
        ("title", "desc"),
    ],
)
async def test_cursor_pagination_visits_every_task_once_in_order(
    client: httpx.AsyncClient, sort: str, order: str
) -> None:
    acct = await make_account(client)
    priorities = ["none", "low", "medium", "high", "urgent"]
    created = []
    for i in range(23):
        fields: dict[str, Any] = {"title": f"t{i % 7}", "priority": priorities[i % 5]}
        if i % 3:
            fields["due"] = f"2026-12-{(i % 9) + 1:02d}"
        created.append(await make_task(client, acct, **fields))
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"sort": sort, "order": order, "limit": 5}
        if cursor:
            params["cursor"] = cursor
        r = await client.get(TASKS, params=params, headers=acct.headers)
        assert r.status_code == 200, r.text
        seen.extend(r.json()["items"])
        cursor = r.json()["next_cursor"]
        pages += 1
        if cursor is None:
            break
    assert pages == 5
    assert sorted(t["id"] for t in seen) == sorted(t["id"] for t in created)
    key_of = {
        "created": lambda t: t["created_at"],
        "updated": lambda t: t["updated_at"],
        "priority": lambda t: priorities.index(t["priority"]),
        "title": lambda t: t["title"],
        "due": lambda t: t["due"] or "9999",
    }[sort]
    keys = [key_of(t) for t in seen]
    assert keys == sorted(keys, reverse=order == "desc")


async def test_bad_cursor_is_422(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    for _ in range(3):
        await make_task(client, acct)
    r = await client.get(TASKS, params={"limit": 1}, headers=acct.headers)
    cursor = r.json()["next_cursor"]
    body, sig = cursor.split(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + sig
    for bad in ["garbage", "a.b", forged, cursor + "x", "." * 5, "🙂"]:
        assert_problem(await client.get(TASKS, params={"cursor": bad}, headers=acct.headers), 422)
    assert_problem(
        await client.get(TASKS, params={"cursor": cursor, "sort": "title"}, headers=acct.headers),
        422,
    )


@contextmanager
def count_statements(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if (
            not statement.lstrip()
            .upper()
            .startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"))
        ):
            statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", before)


@pytest.mark.parametrize("n", [5, 50])
async def test_list_uses_a_fixed_number_of_queries(
    client: httpx.AsyncClient, database: Database, n: int
) -> None:
    acct = await make_account(client)
    for i in range(n):
        await make_task(client, acct, tags=[f"tag{i % 4}", f"other{i % 3}"])
    with count_statements(database) as statements:
        r = await client.get(TASKS, params={"limit": 50}, headers=acct.headers)
    assert r.status_code == 200 and len(r.json()["items"]) == n
    assert all(len(t["tags"]) == 2 for t in r.json()["items"])
    # user lookup + task page (with subtask progress and tag names)
    assert len(statements) == 2, statements


async def test_query_counts_per_request(client: httpx.AsyncClient, database: Database) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, tags=["a"])
    url = f"{TASKS}/{task['id']}"
    with count_statements(database) as get_stmts:
        await client.get(url, headers=acct.headers)
    with count_statements(database) as complete_stmts:
        await client.post(f"{url}/complete", headers=acct.headers)
    with count_statements(database) as create_stmts:
        await make_task(client, acct, tags=["a", "b"])
    assert len(get_stmts) == 2, get_stmts  # user, task joined with its tags
    # user (with whether they have webhooks: without, the outbox looks for no subscribers),
    # task, tags, subtasks, update, the activity log's insert, and the subtasks' progress for
    # the response
    assert len(complete_stmts) == 7, complete_stmts
    # user, Inbox (PostgreSQL and MariaDB lock its row, shared, in the same statement; SQLite's
    # writers already run one at a time), last position in it, tag lookup, insert new tag "b",
    # insert task, insert both links, the activity log's insert
    assert len(create_stmts) == 8, create_stmts
    inbox = next(s for s in create_stmts if "inbox_owner_id" in s)
    assert ("SHARE" in inbox.upper()) == (database.config.backend != "sqlite"), inbox


async def test_a_user_row_read_without_an_inbox_still_gets_one(
    client: httpx.AsyncClient, database: Database
) -> None:
    """The Inbox's id rides on the user's row; a user without one (missed by migration 0010)
    reads None there, and their first task makes the Inbox and lands in it."""
    acct = await make_account(client)
    owner = uuid.UUID(acct.id)
    async with database.engine.begin() as conn:
        await conn.execute(delete(Project).where(Project.inbox_owner_id == owner))
    task = await make_task(client, acct)
    again = await make_task(client, acct)
    async with database.engine.connect() as conn:
        inbox = (
            await conn.execute(select(Project.id).where(Project.inbox_owner_id == owner))
        ).scalar_one()
    assert task["project_id"] == again["project_id"] == str(inbox)


async def test_tags_list_rename_merge_recolour_delete(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    t1 = await make_task(client, acct, tags=["Work", "home"])
    t2 = await make_task(client, acct, tags=["job"])
    t3 = await make_task(client, acct, tags=["job", "work"])
    tags = {t["name"]: t for t in (await client.get("/api/v1/tags", headers=acct.headers)).json()}
    assert {n: t["task_count"] for n, t in tags.items()} == {"home": 1, "job": 2, "Work": 2}
    r = await client.patch(
        f"/api/v1/tags/{tags['home']['id']}",
        json={"name": "House", "color": "#AABBCC"},
        headers=acct.headers,
    )
    assert r.status_code == 200
    assert r.json() == {
        "id": tags["home"]["id"],
        "name": "House",
        "color": "#aabbcc",
        "task_count": 1,
    }
    # Renaming "job" onto "work" merges: t2 gains Work, t3 keeps one Work.
    r = await client.patch(
        f"/api/v1/tags/{tags['job']['id']}", json={"name": "WORK"}, headers=acct.headers
    )
    assert r.status_code == 200
    assert (r.json()["id"], r.json()["name"], r.json()["task_count"]) == (
        tags["Work"]["id"],
        "Work",
        3,
    )
    assert (await client.get(f"{TASKS}/{t2['id']}", headers=acct.headers)).json()["tags"] == [
        "Work"
    ]
    assert (await client.get(f"{TASKS}/{t3['id']}", headers=acct.headers)).json()["tags"] == [
        "Work"
    ]
    assert_problem(
        await client.patch(
            f"/api/v1/tags/{tags['job']['id']}", json={"name": "x"}, headers=acct.headers
        ),
        404,
    )
    assert (
        await client.delete(f"/api/v1/tags/{tags['Work']['id']}", headers=acct.headers)
    ).status_code == 204
    assert (await client.get(f"{TASKS}/{t1['id']}", headers=acct.headers)).json()["tags"] == [
        "House"
    ]
    names = [t["name"] for t in (await client.get("/api/v1/tags", headers=acct.headers)).json()]
    assert names == ["House"]
    for bad in [{"color": "red"}, {"name": ""}, {"name": "x" * 51}, {"other": 1}]:
        assert_problem(
            await client.patch(
                f"/api/v1/tags/{tags['home']['id']}", json=bad, headers=acct.headers
            ),
            422,
        )


async def test_tag_limits(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    ok = await make_task(client, acct, tags=[f"t{i}" for i in range(30)])
    assert len(ok["tags"]) == 30
    assert_problem(
        await client.post(
            TASKS, json={"title": "x", "tags": [f"t{i}" for i in range(31)]}, headers=acct.headers
        ),
        422,
    )
    assert_problem(
        await client.post(TASKS, json={"title": "x", "tags": ["x" * 51]}, headers=acct.headers), 422
    )
    assert_problem(
        await client.post(TASKS, json={"title": "x", "tags": ["  "]}, headers=acct.headers), 422
    )
