"""The compat routes with shared projects: `{user_id}` is always the caller; the list holds the
caller's own projects' tasks plus those assigned to them in shared projects; by id, get, update,
complete and delete follow the caller's role (viewer: 403 on writes; removed or stranger: 404).

Assignment is set in the database here (the assignee API is built elsewhere)."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import update

from doable.db import Database
from doable.projects.access import Role
from doable.tasks.models import Task
from tests.factories import Account, assert_problem
from tests.test_sharing_core import add, setup, share, unshare


def compat(who: Account, task_id: str | None = None) -> str:
    base = f"/api/{who.id}/tasks"
    return base if task_id is None else f"{base}/{task_id}"


async def assign(database: Database, task_id: str, who: Account) -> None:
    async with database.unit_of_work(write=True) as session:
        await session.execute(
            update(Task).where(Task.id == uuid.UUID(task_id)).values(assignee_id=uuid.UUID(who.id))
        )


async def listed(client: httpx.AsyncClient, who: Account, **params: str) -> list[str]:
    r = await client.get(compat(who), params=params, headers=who.headers)
    assert r.status_code == 200, r.text
    titles = [t["title"] for t in r.json()]
    assert r.headers["X-Total-Count"] == str(len(titles))
    assert all(t["user_id"] == who.id for t in r.json())
    return sorted(titles)


async def test_compat_list_is_own_plus_assigned_and_by_id_follows_the_role(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, member, stranger, project = await setup(client)
    mine = (await add(client, member, title="Member's own")).json()
    shared = (await add(client, owner, title="Shared", project_id=project["id"])).json()
    theirs = (await add(client, owner, title="Assigned", project_id=project["id"])).json()
    await share(database, owner, project["id"], member, Role.VIEWER)
    await assign(database, theirs["id"], member)

    assert await listed(client, member) == ["Assigned", "Member's own"]
    assert await listed(client, owner) == ["Assigned", "Shared"]
    # {user_id} is the caller: naming the owner is 403, whatever the membership.
    r = await client.get(compat(owner), headers=member.headers)
    assert_problem(r, 403)

    # By id, as a viewer: reads work for any task of the project; writes are 403.
    for task in (shared, theirs):
        r = await client.get(compat(member, task["id"]), headers=member.headers)
        assert r.status_code == 200, r.text
        assert r.json()["user_id"] == member.id
        r = await client.put(
            compat(member, task["id"]), json={"title": "x"}, headers=member.headers
        )
        assert_problem(r, 403)
        r = await client.patch(f"{compat(member, task['id'])}/complete", headers=member.headers)
        assert_problem(r, 403)
        assert_problem(await client.delete(compat(member, task["id"]), headers=member.headers), 403)

    # As an editor: changes work, and the task stays in the owner's project.
    await unshare(database, owner, project["id"], member)
    await share(database, owner, project["id"], member, Role.EDITOR)
    await assign(database, theirs["id"], member)
    r = await client.put(
        compat(member, shared["id"]), json={"title": "Shared, edited"}, headers=member.headers
    )
    assert r.status_code == 200, r.text
    r = await client.patch(f"{compat(member, theirs['id'])}/complete", headers=member.headers)
    assert r.status_code == 200 and r.json()["completed"] is True
    assert await listed(client, owner) == ["Assigned", "Shared, edited"]
    assert await listed(client, member, status="completed") == ["Assigned"]

    # Removed (their assignment goes with them) or a stranger: not listed, and 404 by id.
    await unshare(database, owner, project["id"], member)
    assert await listed(client, member) == ["Member's own"]
    for who in (member, stranger):
        for task in (shared, theirs):
            assert_problem(await client.get(compat(who, task["id"]), headers=who.headers), 404)
            r = await client.put(compat(who, task["id"]), json={"title": "x"}, headers=who.headers)
            assert_problem(r, 404)
            assert_problem(await client.delete(compat(who, task["id"]), headers=who.headers), 404)
    assert (await client.get(compat(member, mine["id"]), headers=member.headers)).status_code == 200
