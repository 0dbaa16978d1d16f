"""The MCP server at /mcp, driven by the SDK's own client over streamable HTTP: in process on
every backend (tools, dry runs, scopes, isolation, bad input), and against a real server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from fastapi import FastAPI
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent

from doable.db import Database
from tests.conftest import BACKEND_ENV, truncate_all
from tests.factories import (
    Account,
    assert_problem,
    bearer,
    make_account,
    make_api_token,
    make_task,
)
from tests.server import Server, server_env

TOOL_NAMES = [
    "add_task",
    "list_tasks",
    "get_task",
    "update_task",
    "complete_task",
    "reopen_task",
    "delete_task",
    "list_tags",
    "parse_quick_add",
    "list_projects",
    "move_task",
    "list_comments",
    "add_comment",
]
WRITE_TOOLS = [
    "add_task",
    "update_task",
    "complete_task",
    "reopen_task",
    "delete_task",
    "move_task",
    "add_comment",
]
NOBODY = "00000000-0000-4000-8000-000000000000"
NOT_FOUND = "No task with this id"
LACKS_WRITE = "This API token lacks the tasks:write scope"


# Helpers


@pytest.fixture
async def running_app(app: FastAPI) -> AsyncIterator[FastAPI]:
    """The app with its lifespan entered, as uvicorn runs it (the MCP transport needs it).

    The lifespan runs in a task of its own: its task group must be entered and left by one
    task, and a fixture's setup and teardown may run in different ones."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def serve() -> None:
        async with app.router.lifespan_context(app):
            started.set()
            await stop.wait()

    task = asyncio.create_task(serve())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # raises what went wrong
    yield app
    stop.set()
    await task


@asynccontextmanager
async def connect(
    target: FastAPI | str, token: str | None, *, mode: str = "auto"
) -> AsyncIterator[Client]:
    """The SDK's Client over streamable HTTP: in process (an app) or to a URL."""
    headers = bearer(token) if token else {}
    if isinstance(target, str):
        http = httpx2.AsyncClient(headers=headers, timeout=30)
        url = f"{target}/mcp"
    else:
        transport = httpx2.ASGITransport(app=target)
        http = httpx2.AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers
        )
        url = "http://testserver/mcp"
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        yield client


async def call(client: Client, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call a tool that must succeed; its structured result."""
    result = await client.call_tool(name, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def fail(client: Client, name: str, arguments: dict[str, Any]) -> str:
    """Call a tool that must fail with a tool error; its message."""
    result = await client.call_tool(name, arguments)
    return error_text(result)


def error_text(result: CallToolResult) -> str:
    assert result.is_error, result
    assert result.structured_content is None
    (content,) = result.content
    assert isinstance(content, TextContent)
    assert "Traceback" not in content.text
    return content.text


def task_shape(task: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The TaskOut a tool should return: `fields` over the defaults, ids and times as given."""
    return {
        "id": task["id"],
        "title": "",
        "description": "",
        "completed": False,
        "completed_at": None,
        "priority": "none",
        "due": None,
        "recurrence": None,
        "tags": [],
        "created_at": task["created_at"],
        "updated_at": task["updated_at"],
        # Where it sits (issue 15): the Inbox unless a test moves it.
        "project_id": task["project_id"],
        "section_id": None,
        "parent_id": None,
        "position": task["position"],
        "subtasks": {"done": 0, "total": 0},
        "assignee_id": None,
        **fields,
    }


async def rest_task(client: httpx.AsyncClient, account: Account, task_id: str) -> httpx.Response:
    return await client.get(f"/api/v1/tasks/{task_id}", headers=account.headers)


# Listing


async def test_tools_are_listed_with_descriptions_and_schemas(
    running_app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await make_account(client)
    async with connect(running_app, alice.access_token) as mcp:
        tools = (await mcp.list_tools()).tools
    assert [t.name for t in tools] == TOOL_NAMES
    for t in tools:
        assert t.description and len(t.description) > 40, t.name
        assert t.title
        schema = t.input_schema
        assert schema["type"] == "object" and schema["additionalProperties"] is False, t.name
        for name, prop in schema["properties"].items():
            assert prop.get("description"), (t.name, name)
        assert t.output_schema is not None and t.output_schema["type"] == "object"
        assert t.annotations is not None
        assert t.annotations.read_only_hint is (t.name not in WRITE_TOOLS)
    by_name = {t.name: t for t in tools}
    add = by_name["add_task"].input_schema
    assert add["required"] == ["title"]
    assert (add["properties"]["title"]["minLength"], add["properties"]["title"]["maxLength"]) == (
        1,
        200,
    )
    assert add["properties"]["description"]["maxLength"] == 10_000
    assert add["properties"]["priority"]["enum"] == ["none", "low", "medium", "high", "urgent"]
    assert [b.get("format") for b in add["properties"]["due"]["anyOf"]] == [
        "date",
        "date-time",
        "date-time-local",
        None,
    ]
    assert add["properties"]["tags"]["maxItems"] == 30
    listing = by_name["list_tasks"].input_schema["properties"]
    assert listing["status"]["enum"] == ["all", "pending", "completed"]
    assert (listing["limit"]["minimum"], listing["limit"]["maximum"]) == (1, 200)
    assert set(listing) == {
        "status",
        "q",
        "tag",
        "priority",
        "due_after",
        "due_before",
        "sort",
        "order",
        "limit",
        "cursor",
        "project_id",
        "assignee",
    }
    for name in ("get_task", "complete_task", "reopen_task"):
        assert by_name[name].input_schema["required"] == ["task_id"]
        assert by_name[name].input_schema["properties"]["task_id"]["format"] == "uuid"
    assert set(by_name["delete_task"].input_schema["properties"]) == {"task_id", "dry_run"}
    assert by_name["update_task"].input_schema["properties"]["dry_run"]["type"] == "boolean"
    assert by_name["list_tags"].input_schema["properties"] == {}


# Every tool, on every backend


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_every_tool(running_app: FastAPI, client: httpx.AsyncClient, mode: str) -> None:
    """`auto` negotiates the SDK's newest protocol; `legacy` is the initialize handshake that
    older clients (Claude Desktop and friends) use."""
    alice = await make_account(client)
    async with connect(running_app, alice.access_token, mode=mode) as mcp:
        added = await call(
            mcp,
            "add_task",
            {
                "title": "  Write report ",
                "description": "Quarterly numbers",
                "priority": "high",
                "due": "2031-05-17",
                "tags": ["Work", "urgent"],
            },
        )
        task = added["task"]
        assert added == {
            "task_id": task["id"],
            "status": "created",
            "title": "Write report",
            "task": task_shape(
                task,
                title="Write report",
                description="Quarterly numbers",
                priority="high",
                due="2031-05-17",
                tags=["urgent", "Work"],
            ),
        }
        assert task["created_at"] == task["updated_at"]
        r = await rest_task(client, alice, task["id"])
        assert r.json() == added["task"]
        milk = await call(
            mcp, "add_task", {"title": "Buy milk", "due": "2031-05-18T09:30:00+02:00"}
        )
        assert milk["task"]["due"] == "2031-05-18T07:30:00Z"

        got = await call(mcp, "get_task", {"task_id": task["id"]})
        assert got == {**added, "status": "pending"}

        updated = await call(
            mcp, "update_task", {"task_id": task["id"], "title": "Write the report", "due": None}
        )
        assert updated["status"] == "updated"
        assert updated["title"] == "Write the report"
        assert updated["before"] is None
        assert updated["changes"] == {
            "title": {"before": "Write report", "after": "Write the report"},
            "due": {"before": "2031-05-17", "after": None},
        }
        assert updated["task"] == task_shape(
            task,
            title="Write the report",
            description="Quarterly numbers",
            priority="high",
            tags=["urgent", "Work"],
            updated_at=updated["task"]["updated_at"],
        )
        r = await rest_task(client, alice, task["id"])
        assert (r.json(), r.headers["etag"]) == (updated["task"], '"2"')

        done = await call(mcp, "complete_task", {"task_id": task["id"]})
        assert (done["status"], done["task"]["completed"]) == ("completed", True)
        assert done["task"]["completed_at"] is not None
        again = await call(mcp, "complete_task", {"task_id": task["id"]})
        assert again == done  # completing twice changes nothing
        assert (await call(mcp, "get_task", {"task_id": task["id"]}))["status"] == "completed"

        pending = await call(mcp, "list_tasks", {"status": "pending"})
        assert [t["id"] for t in pending["items"]] == [milk["task_id"]]
        assert pending["next_cursor"] is None
        completed = await call(mcp, "list_tasks", {"status": "completed", "tag": "work"})
        assert completed == {"items": [done["task"]], "next_cursor": None}
        found = await call(mcp, "list_tasks", {"q": "QUARTERLY"})
        assert [t["id"] for t in found["items"]] == [task["id"]]
        dated = await call(
            mcp, "list_tasks", {"due_after": "2031-05-18", "due_before": "2031-05-19"}
        )
        assert [t["id"] for t in dated["items"]] == [milk["task_id"]]
        assert (await call(mcp, "list_tasks", {"due_before": "2031-05-01"}))["items"] == []

        first = await call(mcp, "list_tasks", {"limit": 1, "sort": "title"})
        assert [t["title"] for t in first["items"]] == ["Buy milk"]
        assert first["next_cursor"] is not None
        second = await call(
            mcp, "list_tasks", {"limit": 1, "sort": "title", "cursor": first["next_cursor"]}
        )
        assert [t["title"] for t in second["items"]] == ["Write the report"]
        assert second["next_cursor"] is None

        reopened = await call(mcp, "reopen_task", {"task_id": task["id"]})
        assert reopened["status"] == "reopened"
        assert (reopened["task"]["completed"], reopened["task"]["completed_at"]) == (False, None)

        tags = await call(mcp, "list_tags", {})
        assert [(t["name"], t["task_count"], t["color"]) for t in tags["tags"]] == [
            ("urgent", 1, None),
            ("Work", 1, None),
        ]

        deleted = await call(mcp, "delete_task", {"task_id": task["id"]})
        assert deleted == {
            "task_id": task["id"],
            "status": "deleted",
            "title": "Write the report",
            "task": reopened["task"],
        }
        assert_problem(await rest_task(client, alice, task["id"]), 404)
        assert await fail(mcp, "get_task", {"task_id": task["id"]}) == NOT_FOUND
        assert await fail(mcp, "delete_task", {"task_id": task["id"]}) == NOT_FOUND
        remaining = await call(mcp, "list_tasks", {})
        assert [t["id"] for t in remaining["items"]] == [milk["task_id"]]

        parsed = await call(mcp, "parse_quick_add", {"text": "Water plants every 3 days #home"})
        assert (parsed["title"], parsed["tags"], parsed["priority"]) == (
            "Water plants",
            ["home"],
            "none",
        )
        assert parsed["recurrence"] == {
            "rule": "FREQ=DAILY;INTERVAL=3",
            "mode": "from_due",
            "text": "every 3 days",
        }
        assert [(t["kind"], t["text"]) for t in parsed["tokens"]] == [
            ("recurrence", "every 3 days"),
            ("tag", "#home"),
        ]
        assert [t["id"] for t in (await call(mcp, "list_tasks", {}))["items"]] == [
            milk["task_id"]
        ]  # parsing created nothing
        repeating = await call(
            mcp,
            "add_task",
            {
                "title": parsed["title"],
                "due": "2031-05-17",
                "recurrence": {"rule": parsed["recurrence"]["rule"], "mode": "from_due"},
            },
        )
        done = await call(mcp, "complete_task", {"task_id": repeating["task_id"]})
        # A repeating task records the completion and moves on, still open.
        assert (done["task"]["completed"], done["task"]["due"]) == (False, "2031-05-20")


async def test_text_content_carries_the_same_json(
    running_app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Clients that ignore structured content read the same result as JSON text."""
    alice = await make_account(client)
    async with connect(running_app, alice.access_token) as mcp:
        result = await mcp.call_tool("add_task", {"title": "Plain ✓"})
    (content,) = result.content
    assert isinstance(content, TextContent)
    assert json.loads(content.text) == result.structured_content
    assert "Plain ✓" in content.text


# Dry runs


async def test_dry_runs_change_nothing(running_app: FastAPI, client: httpx.AsyncClient) -> None:
    alice = await make_account(client)
    task = await make_task(client, alice, title="Keep me", tags=["home"], priority="low")
    before = await rest_task(client, alice, task["id"])
    tags_before = (await client.get("/api/v1/tags", headers=alice.headers)).json()
    async with connect(running_app, alice.access_token) as mcp:
        preview = await call(
            mcp,
            "update_task",
            {
                "task_id": task["id"],
                "dry_run": True,
                "title": "Changed",
                "tags": ["home", "brand-new"],
                "completed": True,
                "priority": "low",
            },
        )
        assert preview["status"] == "would_update"
        assert preview["title"] == "Changed"
        assert preview["before"] == before.json()
        after = preview["task"]
        assert (after["title"], after["tags"], after["completed"]) == (
            "Changed",
            ["brand-new", "home"],
            True,
        )
        assert preview["changes"] == {
            "title": {"before": "Keep me", "after": "Changed"},
            "tags": {"before": ["home"], "after": ["brand-new", "home"]},
            "completed": {"before": False, "after": True},
            "completed_at": {"before": None, "after": after["completed_at"]},
        }
        gone = await call(mcp, "delete_task", {"task_id": task["id"], "dry_run": True})
        assert gone == {
            "task_id": task["id"],
            "status": "would_delete",
            "title": "Keep me",
            "task": before.json(),
        }
        # A dry run of an unknown task is an error like the real thing.
        assert await fail(mcp, "delete_task", {"task_id": NOBODY, "dry_run": True}) == NOT_FOUND
    now = await rest_task(client, alice, task["id"])
    assert (now.status_code, now.json(), now.headers["etag"]) == (200, before.json(), '"1"')
    assert (await client.get("/api/v1/tags", headers=alice.headers)).json() == tags_before


# Scopes and isolation


async def test_read_only_token_can_read_but_not_write(
    running_app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await make_account(client)
    task = await make_task(client, alice, title="Mine")
    token = (await make_api_token(client, alice, "tasks:read"))["token"]
    async with connect(running_app, token) as mcp:
        listed = await call(mcp, "list_tasks", {})
        assert [t["id"] for t in listed["items"]] == [task["id"]]
        assert (await call(mcp, "get_task", {"task_id": task["id"]}))["title"] == "Mine"
        assert (await call(mcp, "list_tags", {}))["tags"] == []
        writes = {
            "add_task": {"title": "nope"},
            "update_task": {"task_id": task["id"], "title": "nope"},
            "complete_task": {"task_id": task["id"]},
            "reopen_task": {"task_id": task["id"]},
            "delete_task": {"task_id": task["id"], "dry_run": True},
            "move_task": {"task_id": task["id"], "at": "first"},
            "add_comment": {"task_id": task["id"], "body": "nope"},
        }
        assert set(writes) == set(WRITE_TOOLS)
        for name, arguments in writes.items():
            assert await fail(mcp, name, arguments) == LACKS_WRITE, name
    r = await rest_task(client, alice, task["id"])
    assert (r.json()["title"], r.headers["etag"]) == ("Mine", '"1"')
    listed_rest = await client.get("/api/v1/tasks", headers=alice.headers)
    assert [t["id"] for t in listed_rest.json()["items"]] == [task["id"]]


async def test_token_scopes(running_app: FastAPI, client: httpx.AsyncClient) -> None:
    alice = await make_account(client)
    account_only = (await make_api_token(client, alice, "account:read"))["token"]
    write_only = (await make_api_token(client, alice, "tasks:write"))["token"]
    async with connect(running_app, account_only) as mcp:
        assert await fail(mcp, "list_tasks", {}) == "This API token lacks the tasks:read scope"
        assert await fail(mcp, "add_task", {"title": "x"}) == LACKS_WRITE
    async with connect(running_app, write_only) as mcp:
        added = await call(mcp, "add_task", {"title": "Written"})
        assert await fail(mcp, "get_task", {"task_id": added["task_id"]}) == (
            "This API token lacks the tasks:read scope"
        )


async def test_other_users_tasks_are_not_found(
    running_app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await make_account(client)
    bob = await make_account(client)
    task = await make_task(client, alice, title="Alice's", tags=["secret"])
    bob_token = (await make_api_token(client, bob, "tasks:read", "tasks:write"))["token"]
    async with connect(running_app, bob_token) as mcp:
        for name, extra in [
            ("get_task", {}),
            ("update_task", {"title": "Bob's now"}),
            ("update_task", {"title": "Bob's now", "dry_run": True}),
            ("complete_task", {}),
            ("reopen_task", {}),
            ("delete_task", {}),
            ("delete_task", {"dry_run": True}),
        ]:
            assert await fail(mcp, name, {"task_id": task["id"], **extra}) == NOT_FOUND
            # Exactly what a task that does not exist gets.
            assert await fail(mcp, name, {"task_id": NOBODY, **extra}) == NOT_FOUND
        assert await call(mcp, "list_tasks", {}) == {"items": [], "next_cursor": None}
        assert await call(mcp, "list_tasks", {"tag": "secret"}) == {
            "items": [],
            "next_cursor": None,
        }
        assert await call(mcp, "list_tags", {}) == {"tags": []}
    r = await rest_task(client, alice, task["id"])
    assert (r.json()["title"], r.json()["completed"], r.headers["etag"]) == (
        "Alice's",
        False,
        '"1"',
    )


# Bad input: a tool error the model can read, never a crash

TITLE_201 = "x" * 201
DUE_ERROR = (
    "Invalid arguments: due: Value error, must be a date (YYYY-MM-DD) or an RFC 3339 datetime"
    " (YYYY-MM-DDTHH:MM[:SS][±HH:MM|Z])"
)
BAD_INPUT: list[tuple[str, dict[str, Any], str]] = [
    ("add_task", {}, "Invalid arguments: title: Field required"),
    ("add_task", {"title": 5}, "Invalid arguments: title: Input should be a valid string"),
    (
        "add_task",
        {"title": TITLE_201},
        "Invalid arguments: title: String should have at most 200 characters",
    ),
    (
        "add_task",
        {"title": "   "},
        "Invalid arguments: title: String should have at least 1 character",
    ),
    (
        "add_task",
        {"title": "a\x00b"},
        "Invalid arguments: title: Value error, must not contain NUL characters",
    ),
    (
        "add_task",
        {"title": "ok", "priority": "highest"},
        "Invalid arguments: priority: Input should be 'none', 'low', 'medium', 'high' or 'urgent'",
    ),
    (
        "add_task",
        {"title": "ok", "due": "tomorrow"},
        DUE_ERROR,
    ),
    (
        "add_task",
        {"title": "ok", "due": "2031-02-30"},
        DUE_ERROR,
    ),
    (
        "add_task",
        {"title": "ok", "tags": "home"},
        "Invalid arguments: tags: Input should be a valid list",
    ),
    (
        "add_task",
        {"title": "ok", "tags": [""]},
        "Invalid arguments: tags.0: String should have at least 1 character",
    ),
    (
        "add_task",
        {"title": "ok", "completed": "yes"},
        "Invalid arguments: completed: Input should be a valid boolean",
    ),
    (
        "add_task",
        {"title": "ok", "colour": "red"},
        "Invalid arguments: colour: Extra inputs are not permitted",
    ),
    ("get_task", {}, "Invalid arguments: task_id: Field required"),
    (
        "get_task",
        {"task_id": 42},
        "Invalid arguments: task_id: UUID input should be a string, bytes or UUID object",
    ),
    (
        "get_task",
        {"task_id": "not-a-uuid"},
        "Invalid arguments: task_id: Input should be a valid UUID, invalid character: found `n`"
        " at 0",
    ),
    ("get_task", {"task_id": NOBODY}, NOT_FOUND),
    ("complete_task", {"task_id": NOBODY}, NOT_FOUND),
    (
        "reopen_task",
        {"task_id": None},
        "Invalid arguments: task_id: UUID input should be a string, bytes or UUID object",
    ),
    (
        "delete_task",
        {"task_id": NOBODY, "dry_run": "yes"},
        "Invalid arguments: dry_run: Input should be a valid boolean",
    ),
    ("update_task", {"title": "x"}, "Invalid arguments: task_id: Field required"),
    (
        "update_task",
        {"task_id": NOBODY},
        "Give at least one field to change: title, description, priority, due, tags, completed or"
        " assignee_id",
    ),
    ("update_task", {"task_id": NOBODY, "title": "x"}, NOT_FOUND),
    (
        "update_task",
        {"task_id": NOBODY, "title": TITLE_201},
        "Invalid arguments: title: String should have at most 200 characters",
    ),
    (
        "list_tasks",
        {"status": "done"},
        "Invalid arguments: status: Input should be 'all', 'pending' or 'completed'",
    ),
    ("list_tasks", {"limit": "ten"}, "Invalid arguments: limit: Input should be a valid integer"),
    ("list_tasks", {"limit": "10"}, "Invalid arguments: limit: Input should be a valid integer"),
    (
        "list_tasks",
        {"limit": 0},
        "Invalid arguments: limit: Input should be greater than or equal to 1",
    ),
    (
        "list_tasks",
        {"limit": 201},
        "Invalid arguments: limit: Input should be less than or equal to 200",
    ),
    ("list_tasks", {"cursor": "garbage"}, "The cursor is invalid; start again without it"),
    (
        "list_tasks",
        {"q": "x" * 201},
        "Invalid arguments: q: String should have at most 200 characters",
    ),
    (
        "list_tasks",
        {"tag": ["a"] * 31},
        "Invalid arguments: tag: List should have at most 30 items after validation, not 31",
    ),
    ("list_tags", {"anything": 1}, "Invalid arguments: anything: Extra inputs are not permitted"),
]


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    BAD_INPUT,
    ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(BAD_INPUT)],
)
async def test_bad_input_is_a_readable_tool_error(
    running_app: FastAPI,
    client: httpx.AsyncClient,
    name: str,
    arguments: dict[str, Any],
    message: str,
) -> None:
    alice = await make_account(client)
    async with connect(running_app, alice.access_token) as mcp:
        assert await fail(mcp, name, arguments) == message
        # The session is still usable, and nothing was written.
        assert await call(mcp, "list_tasks", {}) == {"items": [], "next_cursor": None}


async def test_null_for_a_field_that_cannot_be_null(
    running_app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await make_account(client)
    task = await make_task(client, alice, title="Keep")
    async with connect(running_app, alice.access_token) as mcp:
        for field in ("title", "description", "priority", "tags", "completed"):
            message = await fail(mcp, "update_task", {"task_id": task["id"], field: None})
            assert message == f"{field} cannot be null"
    r = await rest_task(client, alice, task["id"])
    assert (r.json()["title"], r.headers["etag"]) == ("Keep", '"1"')


async def test_unknown_tool_is_a_protocol_error(
    running_app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await make_account(client)
    async with connect(running_app, alice.access_token) as mcp:
        with pytest.raises(MCPError) as raised:
            await mcp.call_tool("drop_tables", {})
        assert raised.value.error.message == (
            "Unknown tool 'drop_tables'; the tools are " + ", ".join(TOOL_NAMES)
        )
        assert (await call(mcp, "list_tags", {})) == {"tags": []}


# HTTP: credentials, errors, headers

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "curl", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


async def test_no_or_bad_credentials_get_401_before_mcp(
    running_app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await make_account(client)
    token = await make_api_token(client, alice, "tasks:read")
    revoked = await make_api_token(client, alice, "tasks:read")
    r = await client.delete(f"/api/v1/tokens/{revoked['id']}", headers=alice.headers)
    assert r.status_code == 204
    cases = {
        "none": ({}, "A Bearer access token or API token is required"),
        "basic": (
            {"Authorization": "Basic YTpi"},
            "A Bearer access token or API token is required",
        ),
        "garbage": (bearer("garbage"), "The access token is invalid"),
        "unknown api token": (bearer("dbl_pat_" + "x" * 43), "The API token is invalid"),
        "revoked": (bearer(revoked["token"]), "The API token was revoked"),
    }
    for method in ("POST", "GET", "DELETE"):
        for label, (headers, detail) in cases.items():
            r = await client.request(
                method, "/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **headers}
            )
            body = assert_problem(r, 401)
            assert body["detail"] == detail, (method, label)
            assert r.headers["www-authenticate"] == "Bearer"
            assert r.headers["x-content-type-options"] == "nosniff"
    r = await client.post(
        "/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **bearer(token["token"])}
    )
    assert r.status_code == 200, r.text
    assert r.json()["result"]["serverInfo"]["name"] == "doable"
    # The SDK client gives up on a 401 with an error, not a hang.
    with pytest.raises(BaseExceptionGroup) as raised:
        async with connect(running_app, revoked["token"]) as mcp:
            await mcp.list_tools()
    assert [type(e) for e in leaves(raised.value)] == [MCPError]


def leaves(group: BaseException) -> list[BaseException]:
    if isinstance(group, BaseExceptionGroup):
        return [leaf for e in group.exceptions for leaf in leaves(e)]
    return [group]


async def test_transport_errors_are_sane(running_app: FastAPI, client: httpx.AsyncClient) -> None:
    alice = await make_account(client)
    auth = {**MCP_HEADERS, **alice.headers}
    r = await client.post(
        "/mcp", content=b"{not json", headers={**auth, "Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == -32700, r.text
    r = await client.post("/mcp", json=[1, 2], headers=auth)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32602, r.text
    r = await client.post("/mcp", content=b"{}", headers={**auth, "Content-Type": "text/plain"})
    assert r.status_code in {400, 415}, r.text
    r = await client.post("/mcp", json=INITIALIZE, headers={**alice.headers, "Accept": "text/html"})
    assert r.status_code == 406, r.text
    for method in ("GET", "DELETE", "PUT"):
        r = await client.request(method, "/mcp", headers=auth)
        assert_problem(r, 405)
        assert r.headers["allow"] == "POST"
    r = await client.post(
        "/mcp", content=b"x" * 2_000_000, headers={**auth, "Content-Type": "application/json"}
    )
    assert_problem(r, 413)
    r = await client.post("/mcp", json=INITIALIZE, headers=auth)
    assert r.status_code == 200
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-request-id"]
    assert r.headers["content-type"] == "application/json"


async def test_not_running_is_503(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Outside the app's lifespan (never under uvicorn) the endpoint says so instead of
    crashing."""
    alice = await make_account(client)
    r = await client.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **alice.headers})
    assert_problem(r, 503)
    assert r.headers["retry-after"] == "5"


async def test_lifespan_can_run_again(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Test clients enter an app's lifespan once per client; each run gets a fresh transport."""
    alice = await make_account(client)
    for _ in range(2):
        async with app.router.lifespan_context(app), connect(app, alice.access_token) as mcp:
            assert await call(mcp, "list_tags", {}) == {"tags": []}
        r = await client.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **alice.headers})
        assert_problem(r, 503)


# A real server process, on each backend

URL_ENV = {"postgresql": BACKEND_ENV["postgresql"], "mysql": BACKEND_ENV["mariadb"]}


@pytest.fixture
async def server_database_url(database: Database) -> AsyncIterator[str | None]:
    backend = database.config.backend
    url = None if backend == "sqlite" else os.environ[URL_ENV[backend]]
    try:
        yield url
    finally:
        await truncate_all(database.engine)


@pytest.mark.slow
async def test_real_server(server_database_url: str | None, tmp_path: Path) -> None:
    data_dir, home = tmp_path / "data", tmp_path / "home"
    data_dir.mkdir()
    home.mkdir()
    settings = {"DATABASE_URL": server_database_url} if server_database_url else {}
    with Server(server_env(data_dir, home, **settings), logs_dir=tmp_path, cwd=home) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            alice = await make_account(http)
            bob = await make_account(http)
            alice_rw = (await make_api_token(http, alice, "tasks:read", "tasks:write"))["token"]
            alice_ro = (await make_api_token(http, alice, "tasks:read"))["token"]
            bob_rw = await make_api_token(http, bob, "tasks:read", "tasks:write")

            async with connect(server.base_url, alice_rw) as mcp:
                assert [t.name for t in (await mcp.list_tools()).tools] == TOOL_NAMES
                added = await call(mcp, "add_task", {"title": "Ship it", "tags": ["work"]})
                task_id = added["task_id"]
                assert (added["status"], added["title"]) == ("created", "Ship it")
                assert (await call(mcp, "get_task", {"task_id": task_id}))["status"] == "pending"
                preview = await call(
                    mcp, "update_task", {"task_id": task_id, "title": "Ship", "dry_run": True}
                )
                assert (preview["status"], preview["task"]["title"]) == ("would_update", "Ship")
                updated = await call(mcp, "update_task", {"task_id": task_id, "priority": "high"})
                assert updated["changes"] == {"priority": {"before": "none", "after": "high"}}
                assert (await call(mcp, "complete_task", {"task_id": task_id}))["status"] == (
                    "completed"
                )
                assert (await call(mcp, "reopen_task", {"task_id": task_id}))["status"] == (
                    "reopened"
                )
                listed = await call(mcp, "list_tasks", {"tag": ["work"], "status": "pending"})
                assert [t["id"] for t in listed["items"]] == [task_id]
                tags = await call(mcp, "list_tags", {})
                assert [(t["name"], t["task_count"]) for t in tags["tags"]] == [("work", 1)]
                gone = await call(mcp, "delete_task", {"task_id": task_id, "dry_run": True})
                assert gone["status"] == "would_delete"
                kept = await call(mcp, "add_task", {"title": "Keep"})
                assert await fail(mcp, "get_task", {"task_id": "nope"}) == (
                    "Invalid arguments: task_id: Input should be a valid UUID, invalid character:"
                    " found `n` at 0"
                )
                deleted = await call(mcp, "delete_task", {"task_id": task_id})
                assert deleted["status"] == "deleted"
                assert await fail(mcp, "get_task", {"task_id": task_id}) == NOT_FOUND

            async with connect(server.base_url, bob_rw["token"]) as mcp:
                for name, extra in [
                    ("get_task", {}),
                    ("update_task", {"title": "Bob's"}),
                    ("complete_task", {}),
                    ("delete_task", {}),
                ]:
                    assert await fail(mcp, name, {"task_id": kept["task_id"], **extra}) == NOT_FOUND
                assert await call(mcp, "list_tasks", {}) == {"items": [], "next_cursor": None}

            async with connect(server.base_url, alice_ro) as mcp:
                listed = await call(mcp, "list_tasks", {})
                assert [t["id"] for t in listed["items"]] == [kept["task_id"]]
                assert (await call(mcp, "get_task", {"task_id": kept["task_id"]}))[
                    "title"
                ] == "Keep"
                for name in WRITE_TOOLS:
                    arguments = (
                        {"title": "x"} if name == "add_task" else {"task_id": kept["task_id"]}
                    )
                    if name == "update_task":
                        arguments["title"] = "x"
                    if name == "add_comment":
                        arguments["body"] = "x"
                    assert await fail(mcp, name, arguments) == LACKS_WRITE

            r = await http.get(f"/api/v1/tasks/{kept['task_id']}", headers=alice.headers)
            assert (r.json()["title"], r.json()["completed"], r.headers["etag"]) == (
                "Keep",
                False,
                '"1"',
            )

            # No token, and a revoked one: 401 before any MCP processing.
            r = await http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
            assert_problem(r, 401)
            assert r.headers["www-authenticate"] == "Bearer"
            r = await http.delete(f"/api/v1/tokens/{bob_rw['id']}", headers=bob.headers)
            assert r.status_code == 204
            r = await http.post(
                "/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **bearer(bob_rw["token"])}
            )
            assert assert_problem(r, 401)["detail"] == "The API token was revoked"
    assert server.stopped_cleanly, server.output()
    # A 500 status in the access log ("POST /mcp 500 12.3ms"), not a slow request's duration
    # ("201 500.46ms", as on a loaded machine).
    assert not re.search(r" 500 [0-9.]+ms", server.stderr), server.stderr
    assert "Traceback" not in server.stderr, server.stderr


def test_the_sdk_loads_on_the_first_mcp_request_not_at_start(tmp_path: Path) -> None:
    # The SDK costs ~0.4 s and ~27 MB to import (docs/performance.md: cold start, idle RSS),
    # so a server that has not been asked for MCP has not loaded it.
    script = (
        "import sys, asyncio\n"
        "from doable.app import create_app\n"
        "app = create_app()\n"
        "async def main():\n"
        "    async with app.router.lifespan_context(app):\n"
        "        await asyncio.sleep(0.1)\n"
        "        assert 'mcp' not in sys.modules, 'loaded at start'\n"
        "asyncio.run(main())\n"
        "print('lazy')\n"
    )
    env = {
        **os.environ,
        "SECRET_KEY": "k" * 40,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'lazy.db'}",
        "DOABLE_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "lazy", done.stderr[-2000:]


async def test_a_hostile_rule_in_a_dry_run_is_a_tool_error(
    running_app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Issue 14 items 11 and 15: a rule that never occurs, or that dateutil tripped on (a 500
    before), is refused with the API's message; nothing is saved."""
    alice = await make_account(client)
    task = await make_task(client, alice, title="Keep me", due="2026-01-05")  # a Monday
    async with connect(running_app, alice.access_token) as mcp:
        for rule, message in [
            (
                "FREQ=DAILY;INTERVAL=7;BYMONTH=2;BYMONTHDAY=29;BYDAY=TU",
                "This rule has no occurrence within 100 years of the due date",
            ),
            (
                "FREQ=YEARLY;BYMONTH=12;BYDAY=8FR",
                "Invalid arguments: recurrence.rule: Value error, BYDAY=8FR: the number must be"
                " 1..5 or -5..-1",
            ),
        ]:
            arguments = {"task_id": task["id"], "dry_run": True, "recurrence": {"rule": rule}}
            assert await fail(mcp, "update_task", arguments) == message
    r = await rest_task(client, alice, task["id"])
    assert (r.json()["recurrence"], r.headers["etag"]) == (None, '"1"')
