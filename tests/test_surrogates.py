"""Lone UTF-16 surrogates are refused at the edge with a 422 on every route, and database errors
reach the log without the values bound to their statement."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from doable.db import Database
from doable.surrogates import FORM_MESSAGE, MESSAGE, QUERY_MESSAGE
from tests.factories import Account, assert_problem, make_account, make_task
from tests.test_mcp import running_app  # noqa: F401  (a fixture: /mcp needs the lifespan)
from tests.webclient import WebClient

TASKS = "/api/v1/tasks"
LONE = b'"x\\ud800y"'  # JSON for a string holding a lone high surrogate
JSON = {"Content-Type": "application/json"}
MCP_HEADERS = {**JSON, "Accept": "application/json, text/event-stream"}


def refused(r: httpx.Response, message: str = MESSAGE, loc: str = "body") -> None:
    problem = assert_problem(r, 422)
    assert problem["title"] == "Invalid input"
    assert problem["detail"] == message
    assert problem["errors"] == [{"loc": [loc], "msg": message, "type": "string_unicode"}]


async def stored(client: httpx.AsyncClient, acct: Account) -> Any:
    tasks = (await client.get(TASKS, params={"limit": 200}, headers=acct.headers)).json()
    me = (await client.get("/api/v1/me", headers=acct.headers)).json()
    return tasks, me


def bodies(acct: Account, task_id: str) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """(method, path, body, headers) of requests whose one string holds a lone surrogate."""
    auth = {**JSON, **acct.headers}
    tool_call = (
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add_task", '
        b'"arguments": {"title": ' + LONE + b"}}}"
    )
    document = b'{"format": "doable.export", "version": 1, "tasks": [{"title": ' + LONE + b"}]}"
    return [
        ("POST", TASKS, b'{"title": "t", "description": ' + LONE + b"}", auth),
        ("PATCH", f"{TASKS}/{task_id}", b'{"description": ' + LONE + b"}", auth),
        ("POST", TASKS, b'{"title": "t", "tags": [' + LONE + b"]}", auth),
        ("POST", TASKS, b'{"title": "t", ' + LONE + b": 1}", auth),  # in a key
        (
            "POST",
            "/api/v1/auth/login",
            b'{"email": "' + acct.email.encode() + b'", "password": ' + LONE + b"}",
            JSON,
        ),
        (
            "POST",
            "/api/v1/auth/signup",
            b'{"email": "new@example.com", "password": ' + LONE + b"}",
            JSON,
        ),
        ("POST", "/api/v1/auth/refresh", b'{"refresh_token": ' + LONE + b"}", JSON),
        (
            "POST",
            "/api/v1/me/password",
            b'{"current_password": ' + LONE + b', "new_password": "another long password"}',
            auth,
        ),
        ("POST", "/api/v1/import", document, auth),
        ("POST", "/api/v1/import", document, {**acct.headers, "Content-Type": "text/plain"}),
        ("POST", f"/api/{acct.id}/tasks", b'{"title": "t", "description": ' + LONE + b"}", auth),
        ("POST", "/mcp", tool_call, {**MCP_HEADERS, **acct.headers}),
        ("POST", TASKS, b'{"title": "t", "description": "\\udc00"}', auth),  # a lone low half
        ("POST", TASKS, b'{"title": "t", "description": "\\ud800\\ud800\\udc00"}', auth),
        ("POST", TASKS, b'{"title": "t", "description": "\\ud800\\n"}', auth),
        ("POST", TASKS, b'{"title": "t", "description": "\\\\\\ud800"}', auth),
    ]


@pytest.mark.usefixtures("running_app")
async def test_lone_surrogates_in_json_are_refused_everywhere(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, title="keep", description="kept")
    before = await stored(client, acct)
    for method, path, body, headers in bodies(acct, task["id"]):
        r = await client.request(method, path, content=body, headers=headers)
        refused(r)
    assert await stored(client, acct) == before


async def test_a_surrogate_split_across_chunks_is_refused(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    raw = b'{"title": "t", "description": "ok \\ud83d\\ude00 then \\ud800 alone"}'
    cut = raw.index(b"d800") - 1  # inside the lone escape: "\u" | "d800"

    async def chunks() -> AsyncIterator[bytes]:
        for piece in (raw[:20], raw[20:cut], raw[cut:]):
            yield piece

    r = await client.post(TASKS, content=chunks(), headers={**JSON, **acct.headers})
    refused(r)
    assert (await client.get(TASKS, headers=acct.headers)).json()["items"] == []


async def test_pairs_and_escaped_backslashes_are_kept(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    raw = (
        b'{"title": "\\ud83d\\ude00 smile \\uD83D\\uDE00\\u0041", '
        b'"description": "line\\n\\\\ud800 is text \\\\\\\\"}'
    )
    for size in (1, 3, 5, 7, 64):  # pairs and escapes cut at every place

        async def chunks(size: int = size) -> AsyncIterator[bytes]:
            for at in range(0, len(raw), size):
                yield raw[at : at + size]

        r = await client.post(TASKS, content=chunks(), headers={**JSON, **acct.headers})
        assert r.status_code == 201, (size, r.text)
        assert (r.json()["title"], r.json()["description"]) == (
            "\U0001f600 smile \U0001f600A",
            "line\n\\ud800 is text \\\\",
        )


@pytest.mark.parametrize(
    "path",
    [
        f"{TASKS}?q=%ED%A0%80",
        "/api/v1/notifications?cursor=%ED%A0%80",
        f"{TASKS}/quick?x=%ff",
        "/tasks?q=%ED%A0%80",
    ],
)
async def test_query_strings_that_are_not_utf8_are_refused(
    client: httpx.AsyncClient, path: str
) -> None:
    acct = await make_account(client)
    refused(await client.get(path, headers=acct.headers), QUERY_MESSAGE, "query")


async def test_form_fields_that_are_not_utf8_are_refused(client: httpx.AsyncClient) -> None:
    web = WebClient(client)
    await web.signup()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Sec-Fetch-Site": "same-origin",
        "HX-Request": "true",
        "X-CSRF-Token": web.token,
    }
    body = f"csrf_token={web.token}&title=a%ED%A0%80b".encode()
    refused(await client.post("/tasks", content=body, headers=headers), FORM_MESSAGE)
    page = await web.get("/tasks")
    assert page.status_code == 200 and "a\ufffd" not in page.text
    ok = await client.post(
        "/tasks", content=f"csrf_token={web.token}&title=caf%C3%A9".encode(), headers=headers
    )
    assert ok.status_code == 200 and "café" in ok.text


# Database errors in the log


async def test_statement_errors_do_not_carry_their_parameters(database: Database) -> None:
    secret = f"secret-{uuid.uuid4().hex}"
    async with database.engine.connect() as conn:
        with pytest.raises(DBAPIError) as info:
            await conn.execute(text("INSERT INTO no_such_table (x) VALUES (:x)"), {"x": secret})
    assert secret not in str(info.value)
    assert "[SQL parameters hidden due to hide_parameters=True]" in str(info.value)


_FAIL_TRIGGER = {
    "sqlite": [
        "CREATE TRIGGER doable_test_fail BEFORE INSERT ON tasks "
        "BEGIN SELECT abs(-9223372036854775807 - 1); END"
    ],
    "postgresql": [
        "CREATE FUNCTION doable_test_fail() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'refused by a test trigger'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER doable_test_fail BEFORE INSERT ON tasks "
        "FOR EACH ROW EXECUTE FUNCTION doable_test_fail()",
    ],
    "mysql": [
        "CREATE TRIGGER doable_test_fail BEFORE INSERT ON tasks FOR EACH ROW "
        "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by a test trigger'"
    ],
}
_DROP_TRIGGER = {
    "sqlite": ["DROP TRIGGER IF EXISTS doable_test_fail"],
    "postgresql": [
        "DROP TRIGGER IF EXISTS doable_test_fail ON tasks",
        "DROP FUNCTION IF EXISTS doable_test_fail()",
    ],
    "mysql": ["DROP TRIGGER IF EXISTS doable_test_fail"],
}


async def _run(database: Database, statements: list[str]) -> None:
    async with database.engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def test_a_database_error_is_logged_without_task_text(
    client: httpx.AsyncClient,
    database: Database,
    backend: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    acct = await make_account(client)
    title, description = f"private-{uuid.uuid4().hex}", f"diary-{uuid.uuid4().hex}"
    await _run(database, _FAIL_TRIGGER[backend])
    try:
        with caplog.at_level(logging.INFO):
            r = await client.post(
                TASKS, json={"title": title, "description": description}, headers=acct.headers
            )
    finally:
        await _run(database, _DROP_TRIGGER[backend])
    assert_problem(r, 500)
    (record,) = [rec for rec in caplog.records if rec.name == "doable.errors"]
    assert record.levelno == logging.ERROR and record.exc_info is None
    logged = caplog.text
    assert title not in logged and description not in logged and acct.email not in logged
    assert "refused by a test trigger" not in logged and "integer overflow" not in logged
    assert record.getMessage().startswith("unhandled error in POST /api/v1/tasks\nTraceback")
    assert "sqlalchemy.exc." in record.getMessage()
    assert "(its text is not logged)" in record.getMessage()


@pytest.mark.usefixtures("running_app")
async def test_a_database_error_in_an_mcp_tool_is_logged_without_task_text(
    client: httpx.AsyncClient,
    database: Database,
    backend: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The MCP tool path logs its own failures (the SDK answers the request): the same rule
    as the middleware's, no driver text, which may quote what the user wrote."""
    acct = await make_account(client)
    title = f"private-{uuid.uuid4().hex}"
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "add_task", "arguments": {"title": title}},
    }
    await _run(database, _FAIL_TRIGGER[backend])
    try:
        with caplog.at_level(logging.INFO):
            r = await client.post("/mcp", json=call, headers={**MCP_HEADERS, **acct.headers})
    finally:
        await _run(database, _DROP_TRIGGER[backend])
    assert r.status_code == 200, r.text
    assert r.json()["result"]["isError"] is True
    (record,) = [rec for rec in caplog.records if rec.name.startswith("doable.mcp")]
    assert record.levelno == logging.ERROR and record.exc_info is None
    assert title not in caplog.text
    assert "refused by a test trigger" not in caplog.text
    assert "integer overflow" not in caplog.text
    assert "(its text is not logged)" in record.getMessage()
