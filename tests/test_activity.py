"""The activity log over HTTP: what is recorded, by whom, in which project, paged newest first;
who may read it (any member; a non-member gets 404)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from doable.db import Database
from doable.projects.access import Role
from tests.conftest import make_client
from tests.factories import PASSWORD, assert_problem, make_account
from tests.test_sharing_core import PROJECTS, TASKS, share
from tests.webclient import WebClient


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


async def test_membership_changes_are_logged_and_paged(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    olive = await make_account(client, name="Olive")
    ed = await make_account(client, name="Ed")
    val = await make_account(client, name="Val")
    project = (await client.post(PROJECTS, json={"name": "Home"}, headers=olive.headers)).json()
    base = f"{PROJECTS}/{project['id']}"
    made = {}
    for who, role in ((ed, "editor"), (val, "viewer")):
        r = await client.post(
            f"{base}/invitations", json={"email": who.email, "role": role}, headers=olive.headers
        )
        assert r.status_code == 201, r.text
        made[who.id] = r.json()
    # Ed follows the link; Val accepts in the app.
    r = await client.post(
        "/api/v1/invitations/accept", json={"token": made[ed.id]["token"]}, headers=ed.headers
    )
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/invitations/{made[val.id]['id']}/accept", headers=val.headers)
    assert r.status_code == 200, r.text
    r = await client.patch(f"{base}/members/{ed.id}", json={"role": "admin"}, headers=olive.headers)
    assert r.status_code == 200, r.text
    # Refused changes log nothing: their transaction rolls back.
    r = await client.patch(
        f"{base}/members/{olive.id}", json={"role": "viewer"}, headers=ed.headers
    )
    assert_problem(r, 409)
    r = await client.patch(f"{base}/members/{val.id}", json={"role": "boss"}, headers=ed.headers)
    assert_problem(r, 422)
    # The same role again is no change.
    r = await client.patch(f"{base}/members/{ed.id}", json={"role": "admin"}, headers=olive.headers)
    assert r.status_code == 200, r.text
    r = await client.delete(f"{base}/members/{val.id}", headers=ed.headers)
    assert r.status_code == 204, r.text
    r = await client.post(f"{base}/owner", json={"user_id": ed.id}, headers=olive.headers)
    assert r.status_code == 200, r.text
    r = await client.delete(f"{base}/members/me", headers=olive.headers)
    assert r.status_code == 204, r.text

    expected = [
        ("member_left", "Olive", "left the project"),
        ("owner_changed", "Olive", "handed the project over to Ed"),
        ("member_removed", "Ed", "removed Val"),
        ("role_changed", "Olive", "made Ed admin (was editor)"),
        ("member_added", "Val", "joined as viewer"),
        ("member_added", "Ed", "joined as editor"),
        ("project_created", "Olive", "created the project “Home”"),
    ]
    items = await _activity(client, f"{base}/activity", ed.headers)
    assert [(i["kind"], i["actor"]["name"], i["summary"]) for i in items] == expected
    assert items[1]["detail"] == {"user_id": ed.id, "name": "Ed", "from_user_id": olive.id}
    assert items[3]["detail"] == {
        "user_id": ed.id,
        "name": "Ed",
        "role": "admin",
        "from_role": "editor",
    }
    assert all(i["task_id"] is None for i in items)
    assert "@example.com" not in str(items)  # names, never emails
    # Keyset pages of two give the same entries, in the same order.
    paged: list[dict] = []  # type: ignore[type-arg]
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get(f"{base}/activity", params=params, headers=ed.headers)
        assert r.status_code == 200, r.text
        paged += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert [i["id"] for i in paged] == [i["id"] for i in items]
    # Those who left no longer read it.
    for gone in (olive, val):
        r = await client.get(f"{base}/activity", headers=gone.headers)
        assert_problem(r, 404)

    # The web app shows the same entries.
    async with make_client(app) as http:
        web = WebClient(http)
        await web.get("/login")
        r = await web.post("/login", {"email": ed.email, "password": PASSWORD})
        assert r.status_code == 303, r.text
        page = await web.get(f"/projects/{project['id']}/activity")
        assert page.status_code == 200, page.text
        for _, actor, summary in expected:
            line = f"<strong>{actor}</strong> {summary}"
            assert line in page.text.replace("&#34;", '"'), line
