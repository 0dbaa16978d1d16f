"""MCP tools for projects (issue 15): list_projects, move_task, and add_task and list_tasks with
a project, driven by the SDK's client over streamable HTTP as in tests/test_mcp.py."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from doable.db import Database
from tests.factories import make_account, make_api_token
from tests.organise import inbox_of, make_project, set_archived
from tests.test_mcp import NOBODY, NOT_FOUND, call, connect, fail, running_app  # noqa: F401

NO_PROJECT = "No such project"


async def test_projects_and_moves(
    running_app: FastAPI,  # noqa: F811
    client: httpx.AsyncClient,
    database: Database,
) -> None:
    alice = await make_account(client)
    inbox = await inbox_of(database, alice)
    work = await make_project(database, alice, "Work", sections=["Meetings", "Later"])
    old = await make_project(database, alice, "Old")
    async with connect(running_app, alice.access_token) as mcp:
        loose = await call(mcp, "add_task", {"title": "Loose"})
        assert loose["task"]["project_id"] == inbox
        agenda = await call(
            mcp,
            "add_task",
            {"title": "Agenda", "project_id": work.id, "section_id": work.sections["Meetings"]},
        )
        assert (agenda["task"]["project_id"], agenda["task"]["section_id"]) == (
            work.id,
            work.sections["Meetings"],
        )
        stale = await call(mcp, "add_task", {"title": "Stale", "project_id": old.id})
        await set_archived(database, alice, old.id, True)

        listed = await call(mcp, "list_projects", {})
        assert listed == {
            "projects": [
                {
                    "id": inbox,
                    "name": "Inbox",
                    "color": "grey",
                    "favorite": False,
                    "archived": False,
                    "inbox": True,
                    "open_tasks": 1,
                    "sections": [],
                    "role": "owner",
                },
                {
                    "id": work.id,
                    "name": "Work",
                    "color": "grey",
                    "favorite": False,
                    "archived": False,
                    "inbox": False,
                    "open_tasks": 1,
                    "sections": [
                        {"id": work.sections["Meetings"], "name": "Meetings"},
                        {"id": work.sections["Later"], "name": "Later"},
                    ],
                    "role": "owner",
                },
            ]
        }
        everything = await call(mcp, "list_projects", {"archived": True})
        assert [(p["name"], p["archived"]) for p in everything["projects"]] == [
            ("Inbox", False),
            ("Work", False),
            ("Old", True),
        ]

        # Archived projects leave list_tasks, unless the project is named.
        ids = {t["id"] for t in (await call(mcp, "list_tasks", {}))["items"]}
        assert ids == {loose["task_id"], agenda["task_id"]}
        in_old = await call(mcp, "list_tasks", {"project_id": old.id})
        assert [t["id"] for t in in_old["items"]] == [stale["task_id"]]
        in_work = await call(mcp, "list_tasks", {"project_id": work.id, "sort": "position"})
        assert [t["id"] for t in in_work["items"]] == [agenda["task_id"]]

        moved = await call(mcp, "move_task", {"task_id": loose["task_id"], "project_id": work.id})
        assert moved["status"] == "moved"
        assert (moved["project"], moved["section"]) == ({"id": work.id, "name": "Work"}, None)
        assert (moved["task"]["project_id"], moved["task"]["section_id"]) == (work.id, None)
        moved = await call(
            mcp,
            "move_task",
            {"task_id": loose["task_id"], "section_id": work.sections["Later"]},
        )
        assert moved["section"] == {"id": work.sections["Later"], "name": "Later"}
        under = await call(
            mcp, "move_task", {"task_id": loose["task_id"], "parent_id": agenda["task_id"]}
        )
        assert under["task"]["parent_id"] == agenda["task_id"]
        assert under["section"] == {"id": work.sections["Meetings"], "name": "Meetings"}
        back = await call(mcp, "move_task", {"task_id": loose["task_id"], "project_id": inbox})
        assert (back["project"]["name"], back["task"]["parent_id"], back["section"]) == (
            "Inbox",
            None,
            None,
        )
        r = await client.get(f"/api/v1/tasks/{loose['task_id']}", headers=alice.headers)
        assert (r.json()["project_id"], r.json()["section_id"]) == (inbox, None)

        parsed = await call(mcp, "parse_quick_add", {"text": "Agenda #work /Later p1"})
        assert (parsed["title"], parsed["priority"]) == ("Agenda", "urgent")
        assert parsed["project"] == {"id": work.id, "name": "Work"}
        assert parsed["section"] == {"id": work.sections["Later"], "name": "Later"}

        assert await fail(mcp, "move_task", {"task_id": loose["task_id"]}) == (
            "Give where to move it: project_id, section_id, parent_id, after, before or at"
        )
        assert await fail(mcp, "move_task", {"task_id": NOBODY, "at": "first"}) == NOT_FOUND
        assert (
            await fail(mcp, "move_task", {"task_id": loose["task_id"], "project_id": NOBODY})
            == NO_PROJECT
        )
        assert await fail(mcp, "list_tasks", {"project_id": NOBODY}) == NO_PROJECT
        assert await fail(mcp, "add_task", {"title": "x", "project_id": NOBODY}) == NO_PROJECT


async def test_other_users_projects_are_not_found(
    running_app: FastAPI,  # noqa: F811
    client: httpx.AsyncClient,
    database: Database,
) -> None:
    alice = await make_account(client)
    bob = await make_account(client)
    work = await make_project(database, alice, "Work", sections=["Meetings"])
    token = (await make_api_token(client, bob, "tasks:read", "tasks:write"))["token"]
    async with connect(running_app, token) as mcp:
        mine = await call(mcp, "add_task", {"title": "Bob's"})
        names = [
            p["name"] for p in (await call(mcp, "list_projects", {"archived": True}))["projects"]
        ]
        assert names == ["Inbox"]
        assert await fail(mcp, "list_tasks", {"project_id": work.id}) == NO_PROJECT
        assert await fail(mcp, "add_task", {"title": "x", "project_id": work.id}) == NO_PROJECT
        assert (
            await fail(mcp, "move_task", {"task_id": mine["task_id"], "project_id": work.id})
            == NO_PROJECT
        )
        assert (
            await fail(
                mcp,
                "move_task",
                {"task_id": mine["task_id"], "section_id": work.sections["Meetings"]},
            )
            == "No such section"
        )
    r = await client.get("/api/v1/tasks", params={"project_id": work.id}, headers=alice.headers)
    assert r.json()["items"] == []
