"""A member's lists across all their projects (migration 0022's `task_views`, read by
tasks/listing.py): the pages hold exactly the tasks the member may see, in order, with no
duplicates, after every kind of write the triggers must follow."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from doable.db import Database
from doable.projects.access import Role
from doable.projects.models import TaskView
from tests.factories import Account, make_account
from tests.test_sharing_core import PROJECTS, TASKS, share, unshare

SORTS = [
    ("created", "desc"),
    ("created", "asc"),
    ("updated", "desc"),
    ("due", "asc"),
    ("due", "desc"),
    ("priority", "desc"),
    ("priority", "asc"),
]


async def _project(client: httpx.AsyncClient, who: Account, name: str) -> str:
    r = await client.post(PROJECTS, json={"name": name}, headers=who.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _task(client: httpx.AsyncClient, who: Account, **fields: Any) -> dict[str, Any]:
    r = await client.post(TASKS, json=fields, headers=who.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _walk(
    client: httpx.AsyncClient, who: Account, limit: int = 3, **params: Any
) -> list[dict[str, Any]]:
    """Every page of a list, by cursor."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        r = await client.get(TASKS, params=query, headers=who.headers)
        assert r.status_code == 200, r.text
        out.extend(r.json()["items"])
        cursor = r.json()["next_cursor"]
        if not cursor:
            return out


def _key(task: dict[str, Any], sort: str) -> Any:
    return {
        "created": task["created_at"],
        "updated": task["updated_at"],
        "due": task["due"] or "9999",
        "priority": ["none", "low", "medium", "high", "urgent"].index(task["priority"]),
    }[sort]


async def _visible(client: httpx.AsyncClient, who: Account, projects: list[str]) -> set[str]:
    """What the member may see, project by project (each a project page: not task_views)."""
    seen: set[str] = set()
    for project in projects:
        seen |= {t["id"] for t in await _walk(client, who, limit=100, project_id=project)}
    return seen


async def _check(
    client: httpx.AsyncClient, who: Account, projects: list[str], **params: Any
) -> list[dict[str, Any]]:
    expected = await _visible(client, who, projects)
    for sort, order in SORTS:
        items = await _walk(client, who, sort=sort, order=order, **params)
        ids = [t["id"] for t in items]
        assert len(ids) == len(set(ids)), (sort, order, "duplicates")
        if not params:
            assert set(ids) == expected, (sort, order)
        else:
            assert set(ids) <= expected, (sort, order)
        keys = [_key(t, sort) for t in items]
        assert keys == sorted(keys, reverse=order == "desc"), (sort, order)
    return await _walk(client, who, limit=100, **params)


async def test_a_members_pages_follow_every_write(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await make_account(client)
    bob = await make_account(client)
    member = await make_account(client)
    a1 = await _project(client, alice, "Alice one")
    a2 = await _project(client, alice, "Alice two")
    b1 = await _project(client, bob, "Bob one")
    private = await _project(client, alice, "Alice private")
    mine = await _project(client, member, "Mine")
    soon = datetime.now(UTC) + timedelta(hours=5)
    tasks: dict[str, dict[str, Any]] = {}
    for i, (who, project) in enumerate(
        [
            *((alice, a1), (alice, a1), (alice, a2), (bob, b1), (bob, b1), (alice, private)),
            *((member, mine), (member, mine)),
        ]
    ):
        fields: dict[str, Any] = {"title": f"t{i}", "project_id": project}
        if i % 2:
            fields["due"] = (soon + timedelta(days=i)).isoformat()
        if i % 3 == 0:
            fields["priority"] = "high"
        tasks[f"t{i}"] = await _task(client, who, **fields)
    for owner, project in ((alice, a1), (alice, a2), (bob, b1)):
        await share(database, owner, project, member, Role.EDITOR)
    shared = [a1, a2, b1, mine]

    seen = {t["title"] for t in await _check(client, member, shared)}
    assert seen == {"t0", "t1", "t2", "t3", "t4", "t6", "t7"}  # not Alice's private t5
    upcoming = await _check(client, member, shared, when="upcoming", days=30)
    assert {t["title"] for t in upcoming} == {"t1", "t3", "t7"}

    # The owner changes sort keys: the member's order follows.
    r = await client.patch(
        f"{TASKS}/{tasks['t0']['id']}",
        json={"priority": "urgent", "due": (soon - timedelta(days=3)).isoformat()},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text
    first = (await client.get(TASKS, params={"sort": "due"}, headers=member.headers)).json()
    assert first["items"][0]["title"] == "t0"
    first = (await client.get(TASKS, params={"sort": "priority"}, headers=member.headers)).json()
    assert first["items"][0]["title"] == "t0"
    first = (await client.get(TASKS, params={"sort": "updated"}, headers=member.headers)).json()
    assert first["items"][0]["title"] == "t0"

    # Moved out of a shared project: gone; moved into one: there.
    r = await client.patch(
        f"{TASKS}/{tasks['t2']['id']}", json={"project_id": private}, headers=alice.headers
    )
    assert r.status_code == 200, r.text
    r = await client.patch(
        f"{TASKS}/{tasks['t5']['id']}", json={"project_id": a1}, headers=alice.headers
    )
    assert r.status_code == 200, r.text
    seen = {t["title"] for t in await _check(client, member, shared)}
    assert seen == {"t0", "t1", "t3", "t4", "t5", "t6", "t7"}

    # A new task in a shared project, by its owner and by the member; a deleted one.
    await _task(client, bob, title="t8", project_id=b1)
    await _task(client, member, title="t9", project_id=a2)
    r = await client.delete(f"{TASKS}/{tasks['t4']['id']}", headers=bob.headers)
    assert r.status_code == 204
    seen = {t["title"] for t in await _check(client, member, shared)}
    assert seen == {"t0", "t1", "t3", "t5", "t6", "t7", "t8", "t9"}

    # Removed from Bob's project: its tasks leave the member's list on the next request.
    await unshare(database, bob, b1, member)
    seen = {t["title"] for t in await _check(client, member, [a1, a2, mine])}
    assert seen == {"t0", "t1", "t5", "t6", "t7", "t9"}
    # And back again.
    await share(database, bob, b1, member, Role.VIEWER)
    seen = {t["title"] for t in await _check(client, member, shared)}
    assert seen == {"t0", "t1", "t3", "t5", "t6", "t7", "t8", "t9"}

    # Handed over: the member owns a2 now (its tasks are theirs), Alice stays as an admin.
    r = await client.post(
        f"{PROJECTS}/{a2}/owner", json={"user_id": member.id}, headers=alice.headers
    )
    assert r.status_code in (200, 204), r.text
    seen = {t["title"] for t in await _check(client, member, shared)}
    assert seen == {"t0", "t1", "t3", "t5", "t6", "t7", "t8", "t9"}
    alice_sees = {t["title"] for t in await _check(client, alice, [a1, a2, private])}
    assert alice_sees == {"t0", "t1", "t2", "t5", "t9"}

    # The trash: a project deleted and restored comes back to its members' lists.
    r = await client.delete(f"{PROJECTS}/{b1}", headers=bob.headers)
    assert r.status_code == 204
    seen = {t["title"] for t in await _check(client, member, [a1, a2, mine])}
    assert seen == {"t0", "t1", "t5", "t6", "t7", "t9"}
    trash = (await client.get("/api/v1/trash", headers=bob.headers)).json()
    item = next(i for i in trash["items"] if i["kind"] == "project")
    r = await client.post(f"/api/v1/trash/{item['id']}/restore", headers=bob.headers)
    assert r.status_code in (200, 204), r.text
    seen = {t["title"] for t in await _check(client, member, shared)}
    assert seen == {"t0", "t1", "t3", "t5", "t6", "t7", "t8", "t9"}


async def test_a_wrong_index_row_shows_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    """task_views is an index, not the authority: a row for a project the user is not a
    member of (as a faulty trigger might leave) adds nothing to their list."""
    owner = await make_account(client)
    member = await make_account(client)
    shared = await _project(client, owner, "Shared")
    secret = await _project(client, owner, "Secret")
    await _task(client, owner, title="shared", project_id=shared)
    hidden = await _task(client, owner, title="secret", project_id=secret)
    await share(database, owner, shared, member, Role.VIEWER)
    async with database.unit_of_work(write=True) as session:
        now = datetime.now(UTC)
        await session.execute(
            insert(TaskView).values(
                user_id=uuid.UUID(member.id),
                task_id=uuid.UUID(hidden["id"]),
                project_id=uuid.UUID(secret),
                created_at=now,
                updated_at=now,
                due_sort=datetime(9999, 12, 31, tzinfo=UTC),
                priority=0,
            )
        )
    for sort in ("created", "due", "priority", "updated"):
        r = await client.get(TASKS, params={"sort": sort}, headers=member.headers)
        assert [t["title"] for t in r.json()["items"]] == ["shared"], sort
    # Nor does it stand in the way: sharing that project later brings the row up to date.
    await share(database, owner, secret, member, Role.VIEWER)
    r = await client.patch(
        f"{TASKS}/{hidden['id']}", json={"priority": "urgent"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    r = await client.get(TASKS, params={"sort": "priority"}, headers=member.headers)
    assert [t["title"] for t in r.json()["items"]] == ["secret", "shared"]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ADMIN])
async def test_the_index_holds_one_row_per_member_and_task(
    client: httpx.AsyncClient, database: Database, role: Role
) -> None:
    owner = await make_account(client)
    member = await make_account(client)
    project = await _project(client, owner, "Shared")
    first = await _task(client, owner, title="before sharing", project_id=project)
    await share(database, owner, project, member, role)
    second = await _task(client, owner, title="after sharing", project_id=project)
    await _task(client, owner, title="elsewhere")  # the owner's Inbox: never indexed
    async with database.read_sessions() as session:
        rows = (await session.execute(select(TaskView.user_id, TaskView.task_id))).all()
    assert sorted((str(u), str(t)) for u, t in rows) == sorted(
        [(member.id, first["id"]), (member.id, second["id"])]
    )


async def test_archived_projects_leave_a_members_list(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner = await make_account(client)
    member = await make_account(client)
    shared = await _project(client, owner, "Shared")
    mine = await _project(client, member, "Mine")
    await _task(client, owner, title="shared", project_id=shared)
    await _task(client, member, title="mine", project_id=mine)
    await share(database, owner, shared, member, Role.EDITOR)

    async def titles() -> set[str]:
        r = await client.get(TASKS, headers=member.headers)
        assert r.status_code == 200, r.text
        return {t["title"] for t in r.json()["items"]}

    assert await titles() == {"shared", "mine"}
    for who, project in ((owner, shared), (member, mine)):
        r = await client.patch(
            f"{PROJECTS}/{project}", json={"archived": True}, headers=who.headers
        )
        assert r.status_code == 200, r.text
    assert await titles() == set()
    r = await client.patch(f"{PROJECTS}/{shared}", json={"archived": False}, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert await titles() == {"shared"}
