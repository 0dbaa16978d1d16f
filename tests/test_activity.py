"""The activity log over HTTP: what is recorded, by whom, in which project, paged newest first;
who may read it (any member; a non-member gets 404)."""

from __future__ import annotations

import httpx

from doable.db import Database
from doable.projects.access import Role
from tests.factories import assert_problem, make_account
from tests.test_sharing_core import PROJECTS, TASKS, share


async def _activity(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> list[dict]:  # type: ignore[type-arg]
    r = await client.get(path, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def test_members_actions_are_logged_per_project_and_task(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner = await make_account(client, name="Olive")
    editor = await make_account(client, name="Ed")
    viewer = await make_account(client)
    stranger = await make_account(client)
    home = (await client.post(PROJECTS, json={"name": "Home"}, headers=owner.headers)).json()
    work = (await client.post(PROJECTS, json={"name": "Work"}, headers=owner.headers)).json()
    await share(database, owner, home["id"], editor, Role.EDITOR)
    await share(database, owner, work["id"], editor, Role.EDITOR)
    await share(database, owner, home["id"], viewer, Role.VIEWER)

    r = await client.post(
        TASKS, json={"title": "Paint", "project_id": home["id"]}, headers=editor.headers
    )
    task = r.json()
    url = f"{TASKS}/{task['id']}"
    r = await client.patch(
        url, json={"title": "Paint fence", "priority": "high"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    await client.patch(url, json={"completed": True}, headers=editor.headers)
    await client.patch(url, json={"completed": False}, headers=editor.headers)
    r = await client.patch(url, json={"project_id": work["id"]}, headers=editor.headers)
    assert r.status_code == 200, r.text

    items = await _activity(client, f"{PROJECTS}/{home['id']}/activity", viewer.headers)
    kinds = [(i["kind"], i["actor"]["name"]) for i in items]
    assert kinds[-1] == ("project_created", "Olive")
    assert ("created", "Ed") in kinds and ("completed", "Ed") in kinds
    assert ("reopened", "Ed") in kinds and ("moved", "Ed") in kinds
    edited = next(i for i in items if i["kind"] == "edited")
    assert edited["detail"]["fields"] == ["title", "priority"]
    assert edited["actor"] == {"id": owner.id, "name": "Olive"}
    moved = items[0]
    assert moved["kind"] == "moved" and moved["detail"]["from_project"] == "Home"
    assert moved["detail"]["to_project"] == "Work"
    assert "email" not in str(items)

    # The task's own log is that of the project it is in now.
    items = await _activity(client, f"{url}/activity", editor.headers)
    assert [i["kind"] for i in items] == ["moved"]

    # Paging: newest first, by keyset.
    path = f"{PROJECTS}/{home['id']}/activity"
    r = await client.get(path, params={"limit": 2}, headers=owner.headers)
    first = r.json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    r = await client.get(
        path, params={"limit": 50, "cursor": first["next_cursor"]}, headers=owner.headers
    )
    rest = r.json()["items"]
    ids = [i["id"] for i in first["items"] + rest]
    assert len(ids) == len(set(ids)) == len(await _activity(client, path, owner.headers))
    r = await client.get(path, params={"cursor": "forged"}, headers=owner.headers)
    assert r.status_code in {400, 422}

    # A stranger sees none of it.
    assert_problem(await client.get(path, headers=stranger.headers), 404)
    assert_problem(await client.get(f"{url}/activity", headers=stranger.headers), 404)
    assert_problem(await client.get(f"{url}/activity", headers=viewer.headers), 404)  # not in Work


async def test_a_deleted_task_and_its_restore_are_logged(client: httpx.AsyncClient) -> None:
    owner = await make_account(client, name="Olive")
    project = (await client.post(PROJECTS, json={"name": "P"}, headers=owner.headers)).json()
    r = await client.post(
        TASKS, json={"title": "Gone", "project_id": project["id"]}, headers=owner.headers
    )
    task = r.json()
    assert (await client.delete(f"{TASKS}/{task['id']}", headers=owner.headers)).status_code == 204
    path = f"{PROJECTS}/{project['id']}/activity"
    items = await _activity(client, path, owner.headers)
    assert (items[0]["kind"], items[0]["detail"], items[0]["task_id"]) == (
        "deleted",
        {"title": "Gone"},
        task["id"],
    )
    trash = (await client.get("/api/v1/trash", headers=owner.headers)).json()["items"]
    r = await client.post(f"/api/v1/trash/{trash[0]['id']}/restore", headers=owner.headers)
    assert r.status_code == 200, r.text
    items = await _activity(client, path, owner.headers)
    assert items[0]["kind"] == "restored" and items[0]["summary"] == "restored “Gone”"
    # A rolled-back change logs nothing: a refused edit leaves the log as it was.
    r = await client.patch(f"{TASKS}/{task['id']}", json={"title": ""}, headers=owner.headers)
    assert r.status_code == 422
    assert len(await _activity(client, path, owner.headers)) == len(items)
