"""The original spec's API under /api/{user_id}/tasks, called with the spec's request shapes."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from doable.compat import router as compat_router
from doable.db import Database
from tests.factories import (
    Account,
    assert_problem,
    bearer,
    make_account,
    make_api_token,
    make_task,
)
from tests.organise import inbox_of, make_project, set_archived

FIELDS = {"id", "user_id", "title", "description", "completed", "created_at", "updated_at"}


def tasks_url(acct: Account, task_id: str | None = None) -> str:
    base = f"/api/{acct.id}/tasks"
    return f"{base}/{task_id}" if task_id else base


async def create(client: httpx.AsyncClient, acct: Account, **body: Any) -> dict[str, Any]:
    r = await client.post(tasks_url(acct), json=body, headers=acct.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def test_spec_walkthrough(client: httpx.AsyncClient) -> None:
    """Create, list, read, update, toggle and delete, exactly as the spec's frontend does."""
    acct = await make_account(client)
    r = await client.post(
        f"/api/{acct.id}/tasks",
        json={"title": "Buy groceries", "description": "Milk, eggs, bread"},
        headers=acct.headers,
    )
    assert r.status_code == 201
    task = r.json()
    assert set(task) == FIELDS
    assert task["user_id"] == acct.id
    assert (task["title"], task["description"], task["completed"]) == (
        "Buy groceries",
        "Milk, eggs, bread",
        False,
    )
    assert r.headers["location"] == f"/api/{acct.id}/tasks/{task['id']}"

    r = await client.get(f"/api/{acct.id}/tasks", headers=acct.headers)
    assert r.status_code == 200 and r.json() == [task]

    r = await client.get(f"/api/{acct.id}/tasks/{task['id']}", headers=acct.headers)
    assert r.status_code == 200 and r.json() == task

    r = await client.put(
        f"/api/{acct.id}/tasks/{task['id']}",
        json={"title": "Buy groceries today", "description": "Milk, eggs", "completed": False},
        headers=acct.headers,
    )
    assert r.status_code == 200
    updated = r.json()
    assert (updated["title"], updated["description"]) == ("Buy groceries today", "Milk, eggs")
    assert updated["created_at"] == task["created_at"]
    assert updated["updated_at"] > task["updated_at"]

    r = await client.patch(f"/api/{acct.id}/tasks/{task['id']}/complete", headers=acct.headers)
    assert r.status_code == 200 and r.json()["completed"] is True
    r = await client.patch(f"/api/{acct.id}/tasks/{task['id']}/complete", headers=acct.headers)
    assert r.status_code == 200 and r.json()["completed"] is False

    r = await client.delete(f"/api/{acct.id}/tasks/{task['id']}", headers=acct.headers)
    assert r.status_code == 204 and r.content == b""
    r = await client.get(f"/api/{acct.id}/tasks/{task['id']}", headers=acct.headers)
    assert_problem(r, 404)
    assert (await client.get(f"/api/{acct.id}/tasks", headers=acct.headers)).json() == []


async def test_compat_and_v1_see_the_same_tasks(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    v1 = await make_task(
        client, acct, title="from v1", priority="high", tags=["x"], due="2030-01-01"
    )
    r = await client.put(tasks_url(acct, v1["id"]), json={"completed": True}, headers=acct.headers)
    assert r.json()["completed"] is True
    # A compat update leaves what compat cannot see alone.
    after = (await client.get(f"/api/v1/tasks/{v1['id']}", headers=acct.headers)).json()
    assert (after["priority"], after["tags"], after["due"], after["completed"]) == (
        "high",
        ["x"],
        "2030-01-01",
        True,
    )
    compat = await create(client, acct, title="from compat")
    r = await client.get(f"/api/v1/tasks/{compat['id']}", headers=acct.headers)
    assert r.json()["title"] == "from compat" and r.json()["priority"] == "none"


async def test_put_is_partial_and_ignores_fields_a_client_cannot_set(
    client: httpx.AsyncClient,
) -> None:
    acct = await make_account(client)
    other = await make_account(client)
    task = await create(client, acct, title="keep", description="keep this too")
    sent_back = {
        **task,
        "completed": True,
        "id": str(uuid.uuid4()),
        "user_id": other.id,
        "created_at": "2000-01-01T00:00:00Z",
    }
    r = await client.put(tasks_url(acct, task["id"]), json=sent_back, headers=acct.headers)
    assert r.status_code == 200
    body = r.json()
    assert (body["id"], body["user_id"], body["created_at"]) == (
        task["id"],
        acct.id,
        task["created_at"],
    )
    assert (body["title"], body["description"], body["completed"]) == (
        "keep",
        "keep this too",
        True,
    )
    r = await client.put(tasks_url(acct, task["id"]), json={}, headers=acct.headers)
    assert r.status_code == 200 and r.json()["title"] == "keep"


async def test_list_filters_by_status_and_sorts(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    banana = await make_task(client, acct, title="banana", due="2030-03-01")
    apple = await make_task(client, acct, title="apple")
    cherry = await make_task(client, acct, title="cherry", due="2030-01-01")
    await client.patch(tasks_url(acct, apple["id"]) + "/complete", headers=acct.headers)

    async def titles(**params: str) -> list[str]:
        r = await client.get(tasks_url(acct), params=params, headers=acct.headers)
        assert r.status_code == 200, r.text
        return [t["title"] for t in r.json()]

    assert await titles() == ["cherry", "apple", "banana"]  # newest first
    assert await titles(status="all", sort="created") == ["cherry", "apple", "banana"]
    assert await titles(status="pending") == ["cherry", "banana"]
    assert await titles(status="completed") == ["apple"]
    assert await titles(sort="title") == ["apple", "banana", "cherry"]
    assert await titles(sort="due_date") == ["cherry", "banana", "apple"]  # undated last
    assert await titles(status="pending", sort="due_date") == ["cherry", "banana"]
    ids = {banana["id"], apple["id"], cherry["id"]}
    r = await client.get(tasks_url(acct), headers=acct.headers)
    assert {t["id"] for t in r.json()} == ids


async def test_list_pages_by_limit_and_offset_and_says_when_it_is_cut(
    client: httpx.AsyncClient,
) -> None:
    acct = await make_account(client)
    for i in range(5):
        await make_task(client, acct, title=f"t{i}")

    async def page(**params: Any) -> httpx.Response:
        r = await client.get(tasks_url(acct), params=params, headers=acct.headers)
        assert r.status_code == 200, r.text
        return r

    r = await page(sort="title")
    assert [t["title"] for t in r.json()] == ["t0", "t1", "t2", "t3", "t4"]
    assert (r.headers["x-total-count"], r.headers.get("link")) == ("5", None)

    r = await page(sort="title", limit=2)
    assert [t["title"] for t in r.json()] == ["t0", "t1"]
    assert r.headers["x-total-count"] == "5"
    assert r.headers["link"] == f'<{tasks_url(acct)}?sort=title&limit=2&offset=2>; rel="next"'

    r = await page(sort="title", limit=2, offset=2)
    assert [t["title"] for t in r.json()] == ["t2", "t3"]
    assert r.headers["x-total-count"] == "5"
    assert r.headers["link"] == f'<{tasks_url(acct)}?sort=title&limit=2&offset=4>; rel="next"'

    r = await page(sort="title", limit=2, offset=4)
    assert [t["title"] for t in r.json()] == ["t4"]
    assert (r.headers["x-total-count"], r.headers.get("link")) == ("5", None)

    r = await page(sort="title", offset=9)
    assert r.json() == []
    assert (r.headers["x-total-count"], r.headers.get("link")) == ("5", None)

    r = await page(status="pending", limit=1, offset=3)
    assert [t["title"] for t in r.json()] == ["t1"]  # newest first
    assert r.headers["x-total-count"] == "5"
    assert r.headers["link"] == (f'<{tasks_url(acct)}?status=pending&limit=1&offset=4>; rel="next"')


async def test_list_is_cut_at_the_maximum_page_and_says_so(client: httpx.AsyncClient) -> None:
    """Without a limit the list stops at MAX_PAGE tasks; the headers say there are more."""
    acct = await make_account(client)
    r = await client.post(
        "/api/v1/import",
        content="title\n" + "".join(f"t{i:04}\n" for i in range(compat_router.MAX_PAGE + 1)),
        headers={**acct.headers, "content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    r = await client.get(tasks_url(acct), params={"sort": "title"}, headers=acct.headers)
    assert r.status_code == 200
    assert len(r.json()) == compat_router.MAX_PAGE == 1000
    assert r.json()[-1]["title"] == "t0999"
    assert r.headers["x-total-count"] == "1001"
    assert r.headers["link"] == f'<{tasks_url(acct)}?sort=title&limit=1000&offset=1000>; rel="next"'
    r = await client.get(r.headers["link"][1:].split(">")[0], headers=acct.headers)
    assert [t["title"] for t in r.json()] == ["t1000"]
    assert (r.headers["x-total-count"], r.headers.get("link")) == ("1001", None)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "done"}, "status"),
        ({"sort": "priority"}, "sort"),
        ({"sort": "due"}, "sort"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": str(2**31)}, "offset"),
        ({"offset": "1e3"}, "offset"),
    ],
)
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    acct = await make_account(client)
    r = await client.get(tasks_url(acct), params=params, headers=acct.headers)
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["query", field]


# Who may call what


async def test_no_credential_is_401(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await create(client, acct, title="mine")
    for method, url in [
        ("GET", tasks_url(acct)),
        ("POST", tasks_url(acct)),
        ("GET", tasks_url(acct, task["id"])),
        ("PUT", tasks_url(acct, task["id"])),
        ("DELETE", tasks_url(acct, task["id"])),
        ("PATCH", tasks_url(acct, task["id"]) + "/complete"),
    ]:
        r = await client.request(method, url, json={"title": "x"})
        assert_problem(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("kind", ["access token", "api token"])
async def test_another_users_id_in_the_path_is_403(client: httpx.AsyncClient, kind: str) -> None:
    alice = await make_account(client)
    bob = await make_account(client)
    task = await create(client, alice, title="alice's")
    if kind == "access token":
        creds = bob.headers
    else:
        creds = bearer((await make_api_token(client, bob, "tasks:read", "tasks:write"))["token"])
    for method, url, body in [
        ("GET", tasks_url(alice), None),
        ("POST", tasks_url(alice), {"title": "planted"}),
        ("GET", tasks_url(alice, task["id"]), None),
        ("PUT", tasks_url(alice, task["id"]), {"title": "hijacked"}),
        ("DELETE", tasks_url(alice, task["id"]), None),
        ("PATCH", tasks_url(alice, task["id"]) + "/complete", None),
        # Even a task id that does not exist: the user id is checked first.
        ("GET", tasks_url(alice, str(uuid.uuid4())), None),
    ]:
        r = await client.request(method, url, json=body, headers=creds)
        problem = assert_problem(r, 403)
        assert problem["detail"] == "The credential belongs to another user than {user_id}"
    r = await client.get(tasks_url(alice), headers=alice.headers)
    assert [(t["title"], t["completed"]) for t in r.json()] == [("alice's", False)]


async def test_another_users_task_under_your_own_id_is_404(client: httpx.AsyncClient) -> None:
    alice = await make_account(client)
    bob = await make_account(client)
    task = await create(client, alice, title="alice's")
    missing = str(uuid.uuid4())
    for method, body in [("GET", None), ("PUT", {"title": "x"}), ("DELETE", None)]:
        r = await client.request(method, tasks_url(bob, task["id"]), json=body, headers=bob.headers)
        r_missing = await client.request(
            method, tasks_url(bob, missing), json=body, headers=bob.headers
        )
        assert assert_problem(r, 404)["detail"] == assert_problem(r_missing, 404)["detail"]
    r = await client.patch(tasks_url(bob, task["id"]) + "/complete", headers=bob.headers)
    assert_problem(r, 404)
    r = await client.get(tasks_url(alice, task["id"]), headers=alice.headers)
    assert r.json() == task


@pytest.mark.parametrize("user_id", ["not-a-uuid", "1", "v2", "0000-0000", "%00", "me", "null"])
async def test_a_user_id_that_is_not_a_uuid_is_an_unknown_route(
    client: httpx.AsyncClient, user_id: str
) -> None:
    acct = await make_account(client)
    for headers in ({}, acct.headers):
        r = await client.get(f"/api/{user_id}/tasks", headers=headers)
        assert_problem(r, 404)
        r = await client.post(f"/api/{user_id}/tasks", json={"title": "x"}, headers=headers)
        assert_problem(r, 404)
    assert (await client.get(tasks_url(acct), headers=acct.headers)).json() == []


async def test_a_task_id_that_is_not_a_uuid_is_422(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    r = await client.get(tasks_url(acct, "42"), headers=acct.headers)
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["path", "task_id"]


async def test_v1_routes_are_not_shadowed(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct)
    r = await client.patch(f"/api/v1/tasks/{task['id']}/complete", headers=acct.headers)
    assert_problem(r, 405)
    r = await client.get("/api/v1/tasks", headers=acct.headers)
    assert r.status_code == 200 and "items" in r.json()


async def test_api_token_scopes_apply(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await create(client, acct, title="mine")
    reader = bearer((await make_api_token(client, acct, "tasks:read"))["token"])
    writer = bearer((await make_api_token(client, acct, "tasks:write"))["token"])
    assert (await client.get(tasks_url(acct), headers=reader)).status_code == 200
    assert_problem(await client.get(tasks_url(acct), headers=writer), 403)
    assert_problem(await client.post(tasks_url(acct), json={"title": "x"}, headers=reader), 403)
    r = await client.patch(tasks_url(acct, task["id"]) + "/complete", headers=reader)
    assert_problem(r, 403)
    r = await client.post(tasks_url(acct), json={"title": "by token"}, headers=writer)
    assert r.status_code == 201 and r.json()["user_id"] == acct.id


# Bad bodies: 422, nothing stored

BAD_BODIES: list[tuple[str, Any]] = [
    ("201-char title", {"title": "x" * 201}),
    ("1001-char description", {"title": "ok", "description": "d" * 1001}),
    ("empty title", {"title": ""}),
    ("blank title", {"title": "   "}),
    ("NUL in title", {"title": "a\x00b"}),
    ("NUL in description", {"title": "ok", "description": "a\x00b"}),
    ("title wrong type", {"title": 5}),
    ("completed wrong type", {"title": "ok", "completed": "maybe"}),
    ("body is a list", [{"title": "ok"}]),
    ("body is null", None),
]


@pytest.mark.parametrize(("name", "body"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
async def test_bad_bodies_are_422(client: httpx.AsyncClient, name: str, body: Any) -> None:
    acct = await make_account(client)
    task = await create(client, acct, title="keep me", description="as is")
    assert_problem(await client.post(tasks_url(acct), json=body, headers=acct.headers), 422)
    url = tasks_url(acct, task["id"])
    if name != "body is null":  # PUT with an empty body changes nothing and is allowed
        assert_problem(await client.put(url, json=body, headers=acct.headers), 422)
    assert (await client.get(tasks_url(acct), headers=acct.headers)).json() == [task]


async def test_complete_with_a_body_sets_that_state(client: httpx.AsyncClient) -> None:
    """A spec frontend sends `{"completed": …}`: a double click or a second tab must not flip
    the task back. Without a body the route still toggles."""
    acct = await make_account(client)
    task = await create(client, acct, title="pay rent")
    url = tasks_url(acct, task["id"]) + "/complete"
    states = []
    for body in (True, True, False, False, None, None):
        kwargs: dict[str, Any] = {} if body is None else {"json": {"completed": body}}
        r = await client.patch(url, headers=acct.headers, **kwargs)
        assert r.status_code == 200, r.text
        states.append(r.json()["completed"])
    assert states == [True, True, False, False, True, False]
    # The whole task sent back, as some frontends do: extra fields are ignored.
    r = await client.patch(url, json={**task, "completed": True}, headers=acct.headers)
    assert (r.status_code, r.json()["completed"], r.json()["title"]) == (200, True, "pay rent")


BAD_COMPLETE_BODIES: list[tuple[str, bytes]] = [
    ("no completed", b"{}"),
    ("misspelt", b'{"done": true}'),
    ("null", b'{"completed": null}'),
    ("string", b'{"completed": "true"}'),
    ("number", b'{"completed": 1}'),
    ("list", b"[true]"),
    ("bare true", b"true"),
    ("not JSON", b"{completed: true"),
]


@pytest.mark.parametrize(
    ("name", "body"), BAD_COMPLETE_BODIES, ids=[b[0] for b in BAD_COMPLETE_BODIES]
)
async def test_bad_complete_bodies_are_422(
    client: httpx.AsyncClient, name: str, body: bytes
) -> None:
    acct = await make_account(client)
    task = await create(client, acct, title="keep me")
    r = await client.patch(
        tasks_url(acct, task["id"]) + "/complete",
        content=body,
        headers={**acct.headers, "content-type": "application/json"},
    )
    assert assert_problem(r, 422)["errors"][0]["loc"][0] == "body"
    assert (await client.get(tasks_url(acct), headers=acct.headers)).json() == [task]


async def test_missing_title_on_create_and_null_title_on_put_are_422(
    client: httpx.AsyncClient,
) -> None:
    acct = await make_account(client)
    task = await create(client, acct, title="keep me")
    r = await client.post(tasks_url(acct), json={"description": "no title"}, headers=acct.headers)
    assert_problem(r, 422)
    for field in ("title", "description", "completed"):
        r = await client.put(tasks_url(acct, task["id"]), json={field: None}, headers=acct.headers)
        assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", field]
    assert (await client.get(tasks_url(acct), headers=acct.headers)).json() == [task]


async def test_the_limits_themselves_are_fine(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await create(client, acct, title="t" * 200, description="d" * 1000)
    assert (len(task["title"]), len(task["description"])) == (200, 1000)
    r = await client.put(
        tasks_url(acct, task["id"]),
        json={"title": "🙂" * 200, "description": "é" * 1000},
        headers=acct.headers,
    )
    assert r.status_code == 200 and r.json()["title"] == "🙂" * 200


async def test_compat_routes_are_tagged_compat(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    compat = {p: ops for p, ops in paths.items() if not p.startswith(("/api/v1", "/healthz"))}
    compat = {p: ops for p, ops in compat.items() if p not in {"/readyz", "/ical/{secret}.ics"}}
    assert set(compat) == {
        "/api/{user_id}/tasks",
        "/api/{user_id}/tasks/{task_id}",
        "/api/{user_id}/tasks/{task_id}/complete",
    }
    for ops in compat.values():
        for op in ops.values():
            assert op["tags"] == ["compat"]
    schema = app.openapi()["components"]["schemas"]["CompatTaskOut"]
    assert set(schema["properties"]) == FIELDS


async def test_new_tasks_go_to_the_inbox_and_the_list_leaves_archived_projects_out(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Issue 15: the spec's shapes stay; the list covers every project but archived ones."""
    acct = await make_account(client)
    inbox = await inbox_of(database, acct)
    work = await make_project(database, acct, "Work")
    old = await make_project(database, acct, "Old")
    loose = await create(client, acct, title="Loose")
    assert set(loose) == FIELDS
    r = await client.get(f"/api/v1/tasks/{loose['id']}", headers=acct.headers)
    assert r.json()["project_id"] == inbox
    at_work = await make_task(client, acct, title="At work", project_id=work.id)
    stale = await make_task(client, acct, title="Stale", project_id=old.id)
    await set_archived(database, acct, old.id, True)

    r = await client.get(tasks_url(acct), params={"sort": "title"}, headers=acct.headers)
    assert [t["title"] for t in r.json()] == ["At work", "Loose"]
    assert all(set(t) == FIELDS for t in r.json())
    assert r.headers["x-total-count"] == "2"
    r = await client.get(tasks_url(acct), params={"limit": 1}, headers=acct.headers)
    assert (len(r.json()), r.headers["x-total-count"]) == (1, "2")
    # A task of an archived project is still there by id, as in its own project's view.
    r = await client.get(tasks_url(acct, stale["id"]), headers=acct.headers)
    assert (r.status_code, r.json()["title"]) == (200, "Stale")

    await set_archived(database, acct, old.id, False)
    r = await client.get(tasks_url(acct), params={"sort": "title"}, headers=acct.headers)
    assert [t["id"] for t in r.json()] == [at_work["id"], loose["id"], stale["id"]]
    assert r.headers["x-total-count"] == "3"
