"""MCP tools on shared projects: list_projects lists the projects shared with the user with
their role; members read and (editors) change the project's tasks; a viewer's write is a
clear tool error (not a crash), and a removed member's or a stranger's call finds nothing."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from doable.db import Database
from doable.projects.access import Role
from tests.test_mcp import NOT_FOUND, call, connect, fail, running_app  # noqa: F401
from tests.test_sharing_core import TASKS, add, setup, share, unshare

VIEWER_REFUSED = (
    "You are a viewer of this project; only an editor or above can change its tasks and sections"
)


async def test_members_use_shared_projects_through_mcp_by_role(
    running_app: FastAPI,  # noqa: F811
    client: httpx.AsyncClient,
    database: Database,
) -> None:
    owner, member, stranger, project = await setup(client)
    task = (await add(client, owner, title="Shared", project_id=project["id"])).json()
    await share(database, owner, project["id"], member, Role.VIEWER)
    ref = {"task_id": task["id"]}
    async with connect(running_app, member.access_token) as mcp:
        listed = await call(mcp, "list_projects", {})
        assert [(p["name"], p["role"], p["open_tasks"]) for p in listed["projects"]] == [
            ("Inbox", "owner", 0),
            ("Household", "viewer", 1),
        ]
        got = await call(mcp, "get_task", ref)
        assert got["task"]["title"] == "Shared"
        page = await call(mcp, "list_tasks", {"project_id": project["id"]})
        assert [t["id"] for t in page["items"]] == [task["id"]]

        # A viewer's writes are tool errors that say why; nothing changes.
        for name, arguments in (
            ("update_task", {**ref, "title": "x"}),
            ("complete_task", ref),
            ("reopen_task", ref),
            ("delete_task", ref),
            ("move_task", {**ref, "at": "first"}),
        ):
            assert await fail(mcp, name, arguments) == VIEWER_REFUSED, name
        text = await fail(mcp, "add_task", {"title": "Mine", "project_id": project["id"]})
        assert "viewer" in text
        r = await client.get(f"{TASKS}/{task['id']}", headers=owner.headers)
        assert (r.json()["title"], r.json()["completed"]) == ("Shared", False)

    # As an editor: the same calls work, and the tasks stay the owner's.
    await unshare(database, owner, project["id"], member)
    await share(database, owner, project["id"], member, Role.EDITOR)
    async with connect(running_app, member.access_token) as mcp:
        listed = await call(mcp, "list_projects", {})
        assert [p["role"] for p in listed["projects"]] == ["owner", "editor"]
        changed = await call(mcp, "update_task", {**ref, "title": "Edited"})
        assert changed["status"] == "updated"
        assert (await call(mcp, "complete_task", ref))["status"] == "completed"
        made = await call(mcp, "add_task", {"title": "By member", "project_id": project["id"]})
        assert made["task"]["project_id"] == project["id"]
    r = await client.get(TASKS, params={"project_id": project["id"]}, headers=owner.headers)
    assert {t["title"] for t in r.json()["items"]} == {"Edited", "By member"}

    # Removed, or never a member: not found, and the project is not listed.
    await unshare(database, owner, project["id"], member)
    for who in (member, stranger):
        async with connect(running_app, who.access_token) as mcp:
            assert await fail(mcp, "get_task", ref) == NOT_FOUND
            assert await fail(mcp, "update_task", {**ref, "title": "x"}) == NOT_FOUND
            listed = await call(mcp, "list_projects", {})
            assert [p["name"] for p in listed["projects"]] == ["Inbox"]
            page = await call(mcp, "list_tasks", {})
            assert task["id"] not in [t["id"] for t in page["items"]]
