"""Hostile and malformed input: always a 4xx problem, never a 500, and nothing stored changes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import Account, assert_problem, make_account, make_task

TASKS = "/api/v1/tasks"


async def _snapshot(client: httpx.AsyncClient, acct: Account) -> Any:
    r = await client.get(TASKS, params={"limit": 200}, headers=acct.headers)
    tags = await client.get("/api/v1/tags", headers=acct.headers)
    return r.json(), tags.json()


BAD_BODIES: list[tuple[str, Any]] = [
    ("empty title", {"title": ""}),
    ("whitespace title", {"title": "   \t\n "}),
    ("201-char title", {"title": "x" * 201}),
    ("500-char title", {"title": "x" * 500}),
    ("10001-char description", {"title": "ok", "description": "d" * 10_001}),
    ("title wrong type", {"title": 5}),
    ("title list", {"title": ["a"]}),
    ("completed wrong type", {"title": "ok", "completed": "maybe"}),
    ("priority unknown", {"title": "ok", "priority": "extreme"}),
    ("tags not a list", {"title": "ok", "tags": "a,b"}),
    ("tag wrong type", {"title": "ok", "tags": [1]}),
    ("unknown field", {"title": "ok", "colour": "red"}),
    ("id", {"title": "ok", "id": "00000000-0000-4000-8000-000000000000"}),
    ("owner_id", {"title": "ok", "owner_id": "00000000-0000-4000-8000-000000000000"}),
    ("created_at", {"title": "ok", "created_at": "2020-01-01T00:00:00Z"}),
    ("NUL in title", {"title": "a\x00b"}),
    ("NUL in description", {"title": "ok", "description": "a\x00b"}),
    ("NUL in tag", {"title": "ok", "tags": ["a\x00"]}),
    ("bad due", {"title": "ok", "due": "tomorrow"}),
    ("bad due date", {"title": "ok", "due": "2026-02-30"}),
    ("due year 1", {"title": "ok", "due": "0001-01-01T00:00:00+05:00"}),
    ("due number", {"title": "ok", "due": 1700000000}),
    ("body is a list", [{"title": "ok"}]),
    ("body is a string", "title"),
    ("body is null", None),
]


@pytest.mark.parametrize(("name", "body"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
async def test_bad_create_and_update_bodies(
    client: httpx.AsyncClient, name: str, body: Any
) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, title="keep me", tags=["keep"])
    before = await _snapshot(client, acct)
    assert_problem(await client.post(TASKS, json=body, headers=acct.headers), 422)
    url = f"{TASKS}/{task['id']}"
    assert_problem(await client.put(url, json=body, headers=acct.headers), 422)
    assert_problem(await client.patch(url, json=body, headers=acct.headers), 422)
    assert await _snapshot(client, acct) == before


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"title": "ok"', "application/json"),
        (b"{'title': 'ok'}", "application/json"),
        (b'{"title": "ok"}', "text/plain"),
        (b"title=ok", "application/x-www-form-urlencoded"),
        (b'{"title": "ok"}', None),
        (b"\xff\xfe\x00garbage", "application/json"),
        (b"", "application/json"),
    ],
)
async def test_malformed_or_mistyped_bodies(
    client: httpx.AsyncClient, content: bytes, content_type: str | None
) -> None:
    acct = await make_account(client)
    headers = dict(acct.headers)
    if content_type:
        headers["content-type"] = content_type
    r = await client.post(TASKS, content=content, headers=headers)
    assert_problem(r, 422)
    assert (await _snapshot(client, acct))[0]["items"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "1e6"},
        {"limit": "-1"},
        {"limit": "abc"},
        {"status": "done"},
        {"sort": "owner_id"},
        {"order": "sideways"},
        {"priority": "extreme"},
        {"due_before": "soon"},
        {"q": "a\x00"},
        {"q": "x" * 201},
        {"tag": "a\x00"},
        {"cursor": "\x00"},
        {"cursor": "x" * 1001},
    ],
)
async def test_bad_query_parameters(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    acct = await make_account(client)
    assert_problem(await client.get(TASKS, params=params, headers=acct.headers), 422)


@pytest.mark.parametrize(
    "task_id", ["1", "99999999999999999999999999999999999999", "not-an-id", "%00", "' OR 1=1 --"]
)
async def test_bad_path_ids(client: httpx.AsyncClient, task_id: str) -> None:
    acct = await make_account(client)
    r = await client.get(f"{TASKS}/{task_id}", headers=acct.headers)
    assert r.status_code in {404, 422}, r.text
    assert_problem(r, r.status_code)


async def test_body_over_one_mib_is_413(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    big = b'{"title": "ok", "description": "' + b"x" * (1024 * 1024) + b'"}'
    assert_problem(
        await client.post(
            TASKS, content=big, headers={**acct.headers, "content-type": "application/json"}
        ),
        413,
    )

    async def chunks() -> Any:
        yield b'{"title": "ok", "description": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    # Streamed without Content-Length: counted as it arrives.
    r = await client.post(
        TASKS, content=chunks(), headers={**acct.headers, "content-type": "application/json"}
    )
    assert_problem(r, 413)
    assert (await _snapshot(client, acct))[0]["items"] == []


LITERALS = [
    "🎉🚀 emoji 👩‍👩‍👧",
    "Robert'); DROP TABLE tasks;--",
    "%_\\ like wildcards",
    "\"quotes\" and 'single' and `back`",
    "日本語のタスク",
    "<script>alert(1)</script>",
    "e\u0301 combining",
]


@pytest.mark.parametrize("text", LITERALS)
async def test_literals_round_trip(client: httpx.AsyncClient, text: str) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, title=text, description=text, tags=[text[:50]])
    got = (await client.get(f"{TASKS}/{task['id']}", headers=acct.headers)).json()
    assert (got["title"], got["description"], got["tags"]) == (text, text, [text[:50]])
    found = (await client.get(TASKS, params={"q": text}, headers=acct.headers)).json()["items"]
    assert [t["id"] for t in found] == [task["id"]]
    by_tag = (await client.get(TASKS, params={"tag": text[:50]}, headers=acct.headers)).json()[
        "items"
    ]
    assert [t["id"] for t in by_tag] == [task["id"]]


async def test_emoji_tags_stay_distinct(client: httpx.AsyncClient) -> None:
    # utf8mb4_unicode_ci would call these equal; tag keys use a binary collation.
    acct = await make_account(client)
    task = await make_task(client, acct, tags=["🍎", "🍏", "cafe", "café"])
    assert sorted(task["tags"]) == sorted(["🍎", "🍏", "cafe", "café"])


async def test_duplicate_signup_and_weak_password_change_nothing(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    assert_problem(
        await client.post(
            "/api/v1/auth/signup",
            json={"email": acct.email.upper(), "password": "another-good-one"},
        ),
        409,
    )
    r = await client.post(
        "/api/v1/auth/login", json={"email": acct.email, "password": acct.password}
    )
    assert r.status_code == 200
