"""MCP tools for working together (issue 16): list_comments and add_comment, assignee_id on
add_task and update_task, and list_tasks' "assigned to me", for members of a shared project,
driven by the SDK's client as in tests/test_mcp.py."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from doable.db import Database
from doable.projects.access import Role
from tests.factories import make_account, make_api_token
from tests.test_mcp import NOBODY, NOT_FOUND, call, connect, fail, running_app  # noqa: F401
from tests.test_sharing_core import share


async def test_members_comment_and_assign_through_mcp(
    running_app: FastAPI,  # noqa: F811
    client: httpx.AsyncClient,
    database: Database,
) -> None:
    owner = await make_account(client, name="Olive")
    viewer = await make_account(client, name="Vera")
    stranger = await make_account(client, name="Stan")
    project = (
        await client.post("/api/v1/projects", json={"name": "Home"}, headers=owner.headers)
    ).json()
    await share(database, owner, project["id"], viewer, Role.VIEWER)
    async with connect(running_app, owner.access_token) as mcp:
        added = await call(
            mcp,
            "add_task",
            {"title": "Water plants", "project_id": project["id"], "assignee_id": viewer.id},
        )
        task_id = added["task_id"]
        assert added["task"]["assignee_id"] == viewer.id
        await call(mcp, "add_task", {"title": "Mine", "project_id": project["id"]})
        refused = await fail(mcp, "update_task", {"task_id": task_id, "assignee_id": stranger.id})
        assert "assigned only to its project's owner or one of its members" in refused
        mine = await call(mcp, "list_tasks", {"assignee": "me"})
        assert mine["items"] == []
    async with connect(running_app, viewer.access_token) as mcp:
        mine = await call(mcp, "list_tasks", {"assignee": "me"})
        assert [t["title"] for t in mine["items"]] == ["Water plants"]
        made = await call(mcp, "add_comment", {"task_id": task_id, "body": "<b>Done</b> @Olive"})
        assert (made["body"], made["author"]) == (
            "<b>Done</b> @Olive",
            {"id": viewer.id, "name": "Vera"},
        )
        listed = await call(mcp, "list_comments", {"task_id": task_id, "limit": 1})
        assert [c["id"] for c in listed["items"]] == [made["id"]]
        assert listed["next_cursor"] is None
        assert "10000" in await fail(mcp, "add_comment", {"task_id": task_id, "body": "x" * 10_001})
        assert "Invalid arguments" in await fail(
            mcp, "add_comment", {"task_id": task_id, "body": " "}
        )
        # A viewer comments, but cannot change the task.
        assert "viewer" in await fail(mcp, "update_task", {"task_id": task_id, "title": "x"})
    r = await client.get("/api/v1/notifications", headers=owner.headers)
    assert [(n["kind"], n["body"]) for n in r.json()["items"]] == [
        ("mention", "Vera mentioned you: <b>Done</b> @Olive")
    ]
    async with connect(running_app, stranger.access_token) as mcp:
        assert await fail(mcp, "list_comments", {"task_id": task_id}) == NOT_FOUND
        assert await fail(mcp, "add_comment", {"task_id": task_id, "body": "hi"}) == NOT_FOUND
        assert await fail(mcp, "add_comment", {"task_id": NOBODY, "body": "hi"}) == NOT_FOUND
    token = (await make_api_token(client, viewer, "tasks:read"))["token"]
    async with connect(running_app, token) as mcp:
        assert (await call(mcp, "list_comments", {"task_id": task_id}))["items"][0]["id"] == made[
            "id"
        ]
        assert "tasks:write" in await fail(mcp, "add_comment", {"task_id": task_id, "body": "x"})
