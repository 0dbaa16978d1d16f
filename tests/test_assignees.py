"""Assignees over HTTP: a task is assigned to one person of its project, the assignee is
told, "assigned to me" lists it, and removal or a move drops the assignment."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from doable.db import Database
from doable.projects.access import Role
from tests.conftest import make_client
from tests.factories import PASSWORD, Account, assert_problem, make_account
from tests.test_sharing_core import share, unshare
from tests.webclient import WebClient

PROJECTS = "/api/v1/projects"
TASKS = "/api/v1/tasks"


async def setup(
    client: httpx.AsyncClient, database: Database, role: Role = Role.EDITOR
) -> tuple[Account, Account, Account, dict[str, Any]]:
    owner = await make_account(client, name="Olive")
    member = await make_account(client, name="Max")
    stranger = await make_account(client, name="Stan")
    project = (
        await client.post(PROJECTS, json={"name": "Household"}, headers=owner.headers)
    ).json()
    await share(database, owner, project["id"], member, role)
    return owner, member, stranger, project


async def add(client: httpx.AsyncClient, who: Account, **fields: Any) -> httpx.Response:
    fields.setdefault("title", "Take out the bins")
    return await client.post(TASKS, json=fields, headers=who.headers)


async def kinds(client: httpx.AsyncClient, who: Account) -> list[tuple[str, str]]:
    items = (await client.get("/api/v1/notifications", headers=who.headers)).json()["items"]
    return [(n["kind"], n["title"]) for n in items]


async def listed(client: httpx.AsyncClient, who: Account, **params: Any) -> list[str]:
    r = await client.get(TASKS, params=params, headers=who.headers)
    assert r.status_code == 200, r.text
    return [t["title"] for t in r.json()["items"]]


async def test_assigning_a_member_tells_them_and_lists_it_as_theirs(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, member, _, project = await setup(client, database)
    r = await add(client, owner, project_id=project["id"], assignee_id=member.id)
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["assignee_id"] == member.id
    assert await kinds(client, member) == [("assigned", "Take out the bins")]
    await add(client, owner, title="Unassigned", project_id=project["id"])
    assert await listed(client, member, assignee="me") == ["Take out the bins"]
    assert await listed(client, owner, assignee="me") == []
    assert await listed(client, owner, assignee="none") == ["Unassigned"]
    assert await listed(client, owner, assignee=member.id) == ["Take out the bins"]
    r = await client.get(f"{TASKS}/{task['id']}", headers=member.headers)
    assert r.json()["assignee_id"] == member.id
    # Reassigning to the owner tells the owner; unassigning tells nobody.
    r = await client.patch(
        f"{TASKS}/{task['id']}", json={"assignee_id": owner.id}, headers=member.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["assignee_id"] == owner.id
    assert await kinds(client, owner) == [("assigned", "Take out the bins")]
    r = await client.patch(
        f"{TASKS}/{task['id']}", json={"assignee_id": None}, headers=owner.headers
    )
    assert r.json()["assignee_id"] is None
    assert await listed(client, owner, assignee="me") == []
    assert len(await kinds(client, owner)) == 1
    # A PATCH that says nothing of the assignee keeps it.
    await client.patch(
        f"{TASKS}/{task['id']}", json={"assignee_id": member.id}, headers=owner.headers
    )
    r = await client.patch(f"{TASKS}/{task['id']}", json={"title": "Bins"}, headers=owner.headers)
    assert r.json()["assignee_id"] == member.id
    assert r.json()["title"] == "Bins"


async def test_assigning_yourself_says_nothing_and_works_in_an_unshared_project(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, _, stranger, _ = await setup(client, database)
    r = await add(client, owner, assignee_id=owner.id)  # the Inbox
    assert r.status_code == 201, r.text
    assert r.json()["assignee_id"] == owner.id
    assert await kinds(client, owner) == []
    assert await listed(client, owner, assignee="me") == ["Take out the bins"]
    r = await add(client, owner, assignee_id=stranger.id)
    assert_problem(r, 422)


@pytest.mark.parametrize("who", ["stranger", "unknown", "removed", "not-a-uuid", "number"], ids=str)
async def test_assigning_someone_outside_the_project_is_refused(
    client: httpx.AsyncClient, database: Database, who: str
) -> None:
    owner, member, stranger, project = await setup(client, database)
    task = (await add(client, owner, project_id=project["id"], assignee_id=member.id)).json()
    removed = await make_account(client)
    await share(database, owner, project["id"], removed, Role.EDITOR)
    await unshare(database, owner, project["id"], removed)
    value: Any = {
        "stranger": stranger.id,
        "unknown": str(uuid.uuid4()),
        "removed": removed.id,
        "not-a-uuid": "max",
        "number": 7,
    }[who]
    r = await client.patch(
        f"{TASKS}/{task['id']}", json={"assignee_id": value}, headers=owner.headers
    )
    body = assert_problem(r, 422)
    assert body["errors"][0]["loc"][-1] == "assignee_id"
    assert_problem(await add(client, owner, project_id=project["id"], assignee_id=value), 422)
    r = await client.get(f"{TASKS}/{task['id']}", headers=owner.headers)
    assert r.json()["assignee_id"] == member.id
    assert await kinds(client, stranger) == []


async def test_a_viewer_cannot_assign_but_can_be_assigned(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, viewer, _, project = await setup(client, database, Role.VIEWER)
    task = (await add(client, owner, project_id=project["id"], assignee_id=viewer.id)).json()
    assert task["assignee_id"] == viewer.id
    r = await client.patch(
        f"{TASKS}/{task['id']}", json={"assignee_id": None}, headers=viewer.headers
    )
    assert_problem(r, 403)
    assert await listed(client, viewer, assignee="me") == ["Take out the bins"]


async def test_removal_and_moves_drop_the_assignment(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, member, _, project = await setup(client, database)
    task = (await add(client, owner, project_id=project["id"], assignee_id=member.id)).json()
    # A move to a project the assignee is not in drops it.
    private = (await client.post(PROJECTS, json={"name": "Mine"}, headers=owner.headers)).json()
    r = await client.patch(
        f"{TASKS}/{task['id']}", json={"project_id": private["id"]}, headers=owner.headers
    )
    assert r.json()["assignee_id"] is None
    # ... and assigning in the same PATCH is checked against the project it moves to.
    r = await client.patch(
        f"{TASKS}/{task['id']}",
        json={"project_id": project["id"], "assignee_id": member.id},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["assignee_id"] == member.id
    r = await client.patch(
        f"{TASKS}/{task['id']}",
        json={"project_id": private["id"], "assignee_id": member.id},
        headers=owner.headers,
    )
    assert_problem(r, 422)
    # Removing the member drops their assignments.
    await unshare(database, owner, project["id"], member)
    r = await client.get(f"{TASKS}/{task['id']}", headers=owner.headers)
    assert r.json()["assignee_id"] is None
    assert await listed(client, member, assignee="me") == []


async def test_put_without_an_assignee_unassigns(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, member, _, project = await setup(client, database)
    task = (await add(client, owner, project_id=project["id"], assignee_id=member.id)).json()
    r = await client.put(f"{TASKS}/{task['id']}", json={"title": "Replaced"}, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["assignee_id"] is None


async def test_muting_the_project_silences_assignments(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, member, _, project = await setup(client, database)
    r = await client.put(
        f"{PROJECTS}/{project['id']}/mute", json={"muted": True}, headers=member.headers
    )
    assert r.status_code == 200, r.text
    await add(client, owner, project_id=project["id"], assignee_id=member.id)
    assert await kinds(client, member) == []
    assert await listed(client, member, assignee="me") == ["Take out the bins"]


@pytest.mark.parametrize("value", ["you", "", "me,none"])
async def test_a_bad_assignee_filter_is_refused(
    client: httpx.AsyncClient, database: Database, value: str
) -> None:
    owner, _, _, _ = await setup(client, database)
    assert_problem(await client.get(TASKS, params={"assignee": value}, headers=owner.headers), 422)


async def notices(client: httpx.AsyncClient, who: Account) -> list[tuple[str, str, str]]:
    items = (await client.get("/api/v1/notifications", headers=who.headers)).json()["items"]
    return [(n["kind"], n["title"], n["body"]) for n in items]


async def test_the_assignee_hears_when_someone_else_completes_their_task(
    client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    owner, member, _, project = await setup(client, database)
    task = (await add(client, owner, project_id=project["id"], assignee_id=member.id)).json()
    assigned = ("assigned", "Take out the bins", "Olive assigned this task to you")
    assert await notices(client, member) == [assigned]
    r = await client.post(f"{TASKS}/{task['id']}/complete", headers=owner.headers)
    assert r.status_code == 200, r.text
    done = ("completed", "Take out the bins", "Olive completed this task")
    assert await notices(client, member) == [done, assigned]
    # Completing it again changes nothing, and tells nobody again.
    r = await client.post(f"{TASKS}/{task['id']}/complete", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert len(await notices(client, member)) == 2
    # The assignee completing their own task hears nothing; nor does the owner.
    await client.post(f"{TASKS}/{task['id']}/reopen", headers=member.headers)
    r = await client.post(f"{TASKS}/{task['id']}/complete", headers=member.headers)
    assert r.status_code == 200, r.text
    assert len(await notices(client, member)) == 2
    assert await notices(client, owner) == []
    # The web app's checkbox tells them too (the same hook, another surface).
    await client.post(f"{TASKS}/{task['id']}/reopen", headers=member.headers)
    async with make_client(app) as http:
        web = WebClient(http)
        await web.get("/login")
        r = await web.post("/login", {"email": owner.email, "password": PASSWORD})
        assert r.status_code == 303, r.text
        r = await web.post(f"/tasks/{task['id']}/toggle", {})
        assert r.status_code == 303, r.text
    assert await notices(client, member) == [done, done, assigned]


async def test_completing_an_occurrence_or_a_parent_tells_each_assignee(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, member, _, project = await setup(client, database)
    repeating = (
        await add(
            client,
            owner,
            title="Water plants",
            project_id=project["id"],
            assignee_id=member.id,
            due="2030-06-01",
            recurrence={"rule": "FREQ=DAILY"},
        )
    ).json()
    r = await client.post(f"{TASKS}/{repeating['id']}/complete", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["completed"] is False
    got = await notices(client, member)
    assert got[0] == ("completed", "Water plants", "Olive completed an occurrence of this task")
    # A parent completed by its owner completes its subtasks: the subtask's assignee hears.
    parent = (await add(client, owner, title="Move out", project_id=project["id"])).json()
    sub = await add(client, owner, title="Pack", parent_id=parent["id"], assignee_id=member.id)
    assert sub.status_code == 201, sub.text
    r = await client.post(f"{TASKS}/{parent['id']}/complete", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert (await notices(client, member))[0] == ("completed", "Pack", "Olive completed this task")
    assert [n for n in await notices(client, member) if n[1] == "Move out"] == []


async def test_a_muted_project_or_a_removed_assignee_hears_no_completion(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, member, _, project = await setup(client, database)
    task = (await add(client, owner, project_id=project["id"], assignee_id=member.id)).json()
    r = await client.put(
        f"{PROJECTS}/{project['id']}/mute", json={"muted": True}, headers=member.headers
    )
    assert r.status_code == 200, r.text
    r = await client.post(f"{TASKS}/{task['id']}/complete", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert [n[0] for n in await notices(client, member)] == ["assigned"]
