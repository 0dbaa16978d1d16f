"""The core of sharing (projects/access.py) over HTTP: what each role sees and may change,
that a project's tasks stay its owner's, and that removal takes effect on the next request.

Membership is set up through `projects.members` (the invitation routes build on it and have
their own tests); everything asserted goes through the API."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import select

from doable.auth.models import User
from doable.db import Database
from doable.projects import members
from doable.projects import service as projects
from doable.projects.access import Role, Someone
from doable.tasks.models import Task
from tests.factories import Account, assert_problem, make_account

PROJECTS = "/api/v1/projects"
TASKS = "/api/v1/tasks"


async def share(
    database: Database, owner: Account, project_id: str, member: Account, role: Role
) -> None:
    async with database.unit_of_work(write=True) as session:
        project = await projects.get_project(
            session, Someone(uuid.UUID(owner.id)), uuid.UUID(project_id)
        )
        await members.add_member(session, project, uuid.UUID(member.id), role)


async def unshare(database: Database, owner: Account, project_id: str, member: Account) -> None:
    async with database.unit_of_work(write=True) as session:
        project = await projects.get_project(
            session, Someone(uuid.UUID(owner.id)), uuid.UUID(project_id)
        )
        await members.remove_member(session, project, uuid.UUID(member.id))


async def counter(database: Database, account: Account) -> int:
    async with database.read_sessions() as session:
        value = await session.scalar(
            select(User.shared_projects).where(User.id == uuid.UUID(account.id))
        )
        return int(value or 0)


async def setup(client: httpx.AsyncClient) -> tuple[Account, Account, Account, dict[str, Any]]:
    owner = await make_account(client)
    member = await make_account(client)
    stranger = await make_account(client)
    r = await client.post(PROJECTS, json={"name": "Household"}, headers=owner.headers)
    assert r.status_code == 201, r.text
    return owner, member, stranger, r.json()


async def add(client: httpx.AsyncClient, who: Account, **fields: Any) -> httpx.Response:
    return await client.post(TASKS, json=fields, headers=who.headers)


async def test_a_viewer_reads_and_cannot_write(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, viewer, stranger, project = await setup(client)
    r = await add(client, owner, title="Buy milk", project_id=project["id"])
    task = r.json()
    await share(database, owner, project["id"], viewer, Role.VIEWER)
    assert await counter(database, viewer) == 1
    assert await counter(database, owner) == 0

    # The viewer sees the project and its task, in lists and by id.
    listed = (await client.get(PROJECTS, headers=viewer.headers)).json()
    assert project["id"] in [p["id"] for p in listed]
    r = await client.get(TASKS, params={"project_id": project["id"]}, headers=viewer.headers)
    assert [t["id"] for t in r.json()["items"]] == [task["id"]]
    assert task["id"] in [
        t["id"] for t in (await client.get(TASKS, headers=viewer.headers)).json()["items"]
    ]
    assert (await client.get(f"{TASKS}/{task['id']}", headers=viewer.headers)).status_code == 200

    # Writing is refused with 403 (the viewer knows the task exists), and nothing changes.
    r = await client.patch(f"{TASKS}/{task['id']}", json={"title": "x"}, headers=viewer.headers)
    assert_problem(r, 403)
    r = await client.delete(f"{TASKS}/{task['id']}", headers=viewer.headers)
    assert_problem(r, 403)
    assert_problem(await add(client, viewer, title="mine", project_id=project["id"]), 403)
    r = await client.post(
        f"{PROJECTS}/{project['id']}/sections", json={"name": "s"}, headers=viewer.headers
    )
    assert_problem(r, 403)
    r = await client.patch(
        f"{PROJECTS}/{project['id']}", json={"name": "x"}, headers=viewer.headers
    )
    assert_problem(r, 403)
    r = await client.get(f"{TASKS}/{task['id']}", headers=owner.headers)
    assert r.json()["title"] == "Buy milk"

    # A stranger sees nothing of it: 404 everywhere.
    for path in (f"{TASKS}/{task['id']}", f"{PROJECTS}/{project['id']}"):
        assert_problem(await client.get(path, headers=stranger.headers), 404)
    r = await client.patch(f"{TASKS}/{task['id']}", json={"title": "x"}, headers=stranger.headers)
    assert_problem(r, 404)
    r = await client.get(TASKS, params={"project_id": project["id"]}, headers=stranger.headers)
    assert_problem(r, 404)
    assert (await client.get(TASKS, headers=stranger.headers)).json()["items"] == []


async def test_an_editor_changes_tasks_that_stay_the_owners(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, editor, _, project = await setup(client)
    await share(database, owner, project["id"], editor, Role.EDITOR)
    r = await add(client, editor, title="Mow the lawn", project_id=project["id"], tags=["garden"])
    assert r.status_code == 201, r.text
    made = r.json()
    r = await client.patch(
        f"{TASKS}/{made['id']}", json={"priority": "high"}, headers=editor.headers
    )
    assert r.status_code == 200, r.text
    # The owner sees it, filed under their own tag, and it counts as theirs.
    r = await client.get(TASKS, params={"tag": "garden"}, headers=owner.headers)
    assert [t["id"] for t in r.json()["items"]] == [made["id"]]
    async with database.read_sessions() as session:
        row = (
            await session.execute(select(Task).where(Task.id == uuid.UUID(made["id"])))
        ).scalar_one()
        assert str(row.owner_id) == owner.id
        assert str(row.created_by) == editor.id
    # Editors cannot manage the project itself.
    r = await client.patch(
        f"{PROJECTS}/{project['id']}", json={"name": "x"}, headers=editor.headers
    )
    assert_problem(r, 403)
    assert_problem(await client.delete(f"{PROJECTS}/{project['id']}", headers=editor.headers), 403)
    # Moving the task to the editor's own Inbox takes it out of the shared project: it is now
    # the editor's, and the owner no longer sees it.
    r = await client.patch(
        f"{TASKS}/{made['id']}", json={"project_id": None}, headers=editor.headers
    )
    assert r.status_code == 200, r.text
    assert_problem(await client.get(f"{TASKS}/{made['id']}", headers=owner.headers), 404)
    r = await client.get(f"{TASKS}/{made['id']}", headers=editor.headers)
    assert r.json()["tags"] == ["garden"]


async def test_admins_manage_the_project_and_only_the_owner_deletes_it(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, admin, _, project = await setup(client)
    await share(database, owner, project["id"], admin, Role.ADMIN)
    r = await client.patch(
        f"{PROJECTS}/{project['id']}", json={"name": "Home"}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    assert_problem(await client.delete(f"{PROJECTS}/{project['id']}", headers=admin.headers), 403)
    assert (
        await client.delete(f"{PROJECTS}/{project['id']}", headers=owner.headers)
    ).status_code == 204
    # The project's deletion recounts its members: the admin is back on the fast path.
    assert await counter(database, admin) == 0


async def test_removal_takes_effect_on_the_next_request(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, member, _, project = await setup(client)
    task = (await add(client, owner, title="Shared", project_id=project["id"])).json()
    await share(database, owner, project["id"], member, Role.EDITOR)
    assert (await client.get(f"{TASKS}/{task['id']}", headers=member.headers)).status_code == 200
    await unshare(database, owner, project["id"], member)
    assert await counter(database, member) == 0
    assert_problem(await client.get(f"{TASKS}/{task['id']}", headers=member.headers), 404)
    assert_problem(await client.get(f"{PROJECTS}/{project['id']}", headers=member.headers), 404)
    assert (await client.get(TASKS, headers=member.headers)).json()["items"] == []


async def test_the_inbox_cannot_be_shared(client: httpx.AsyncClient, database: Database) -> None:
    owner, member, _, _ = await setup(client)
    inbox = next(
        p for p in (await client.get(PROJECTS, headers=owner.headers)).json() if p["inbox"]
    )
    try:
        await share(database, owner, inbox["id"], member, Role.VIEWER)
    except members.InboxIsPersonal:
        pass
    else:  # pragma: no cover - the assertion that fails
        raise AssertionError("the Inbox was shared")
    assert await counter(database, member) == 0


async def test_reminders_stay_personal(client: httpx.AsyncClient, database: Database) -> None:
    owner, viewer, _, project = await setup(client)
    task = (
        await add(
            client, owner, title="Bins out", project_id=project["id"], due="2099-05-01T18:00:00Z"
        )
    ).json()
    await share(database, owner, project["id"], viewer, Role.VIEWER)
    path = f"{TASKS}/{task['id']}/reminders"
    # A viewer may set a reminder of their own: it changes nothing of the task.
    r = await client.post(path, json={"before": "PT30M"}, headers=viewer.headers)
    assert r.status_code == 201, r.text
    mine = r.json()
    assert [x["id"] for x in (await client.get(path, headers=viewer.headers)).json()] == [
        mine["id"]
    ]
    assert (await client.get(path, headers=owner.headers)).json() == []
    # The owner cannot delete it (not theirs: 404); moving the due moves it.
    r = await client.delete(f"{path}/{mine['id']}", headers=owner.headers)
    assert_problem(r, 404)
    r = await client.patch(
        f"{TASKS}/{task['id']}", json={"due": "2099-05-02T18:00:00Z"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    (moved,) = (await client.get(path, headers=viewer.headers)).json()
    assert moved["fire_at"].startswith("2099-05-02T17:30")
    # Leaving the project takes them along.
    await unshare(database, owner, project["id"], viewer)
    await share(database, owner, project["id"], viewer, Role.VIEWER)
    assert (await client.get(path, headers=viewer.headers)).json() == []


async def test_two_members_with_the_same_if_match_one_wins(
    client: httpx.AsyncClient, database: Database
) -> None:
    """The owner and an editor change the same task at once, each from the version they read:
    one change lands (200), the other is refused (412) and overwrites nothing."""
    owner, editor, _, project = await setup(client)
    await share(database, owner, project["id"], editor, Role.EDITOR)
    for round_ in range(3):
        task = (await add(client, owner, title=f"race {round_}", project_id=project["id"])).json()
        url = f"{TASKS}/{task['id']}"
        etags = [
            (await client.get(url, headers=who.headers)).headers["etag"] for who in (owner, editor)
        ]
        assert etags == ['"1"', '"1"']
        first, second = await asyncio.gather(
            *(
                client.patch(url, json={"title": name}, headers={**who.headers, "If-Match": etag})
                for who, name, etag in (
                    (owner, "owner's", etags[0]),
                    (editor, "editor's", etags[1]),
                )
            )
        )
        assert sorted([first.status_code, second.status_code]) == [200, 412]
        winner = first if first.status_code == 200 else second
        loser = second if winner is first else first
        assert_problem(loser, 412)
        for who in (owner, editor):
            r = await client.get(url, headers=who.headers)
            assert (r.headers["etag"], r.json()["title"]) == ('"2"', winner.json()["title"])
