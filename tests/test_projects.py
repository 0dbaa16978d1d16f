"""Projects and sections over HTTP: the Inbox, CRUD, manual order, archive, ETags, bad input,
and two clients reordering one list at once."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from doable.db import Database
from doable.projects import service as projects_service
from doable.tasks.models import Task
from tests.conftest import make_client
from tests.factories import Account, assert_problem, make_account, make_task

PROJECTS = "/api/v1/projects"
SECTIONS = "/api/v1/sections"
TASKS = "/api/v1/tasks"


async def make_project(client: httpx.AsyncClient, acct: Account, **fields: Any) -> dict[str, Any]:
    fields.setdefault("name", f"project {uuid.uuid4().hex[:6]}")
    r = await client.post(PROJECTS, json=fields, headers=acct.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def make_section(
    client: httpx.AsyncClient, acct: Account, project_id: str, **fields: Any
) -> dict[str, Any]:
    fields.setdefault("name", f"section {uuid.uuid4().hex[:6]}")
    r = await client.post(f"{PROJECTS}/{project_id}/sections", json=fields, headers=acct.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def names(client: httpx.AsyncClient, acct: Account, **params: Any) -> list[str]:
    r = await client.get(PROJECTS, params=params, headers=acct.headers)
    assert r.status_code == 200, r.text
    return [p["name"] for p in r.json()]


async def titles(client: httpx.AsyncClient, acct: Account, **params: Any) -> list[str]:
    r = await client.get(TASKS, params=params, headers=acct.headers)
    assert r.status_code == 200, r.text
    return [t["title"] for t in r.json()["items"]]


async def inbox_of(client: httpx.AsyncClient, acct: Account) -> dict[str, Any]:
    (inbox,) = [p for p in (await client.get(PROJECTS, headers=acct.headers)).json() if p["inbox"]]
    return inbox


async def test_a_new_account_has_an_inbox_that_new_tasks_go_to(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    r = await client.get(PROJECTS, headers=acct.headers)
    assert r.status_code == 200
    (inbox,) = r.json()
    assert (inbox["name"], inbox["inbox"], inbox["archived"], inbox["open_count"]) == (
        "Inbox",
        True,
        False,
        0,
    )
    task = await make_task(client, acct)
    assert (task["project_id"], task["section_id"], task["parent_id"]) == (inbox["id"], None, None)
    await make_task(client, acct, completed=True)
    assert (await inbox_of(client, acct))["open_count"] == 1


async def test_the_inbox_cannot_be_deleted_archived_renamed_or_moved(
    client: httpx.AsyncClient,
) -> None:
    acct = await make_account(client)
    other = await make_project(client, acct, name="Work")
    inbox = await inbox_of(client, acct)
    url = f"{PROJECTS}/{inbox['id']}"
    assert_problem(await client.delete(url, headers=acct.headers), 409)
    for body in ({"archived": True}, {"name": "Not the inbox"}, {"after": other["id"]}):
        assert_problem(await client.patch(url, json=body, headers=acct.headers), 409)
    r = await client.get(url, headers=acct.headers)
    assert (r.json()["name"], r.json()["archived"], r.headers["etag"]) == ("Inbox", False, '"1"')
    assert await names(client, acct) == ["Inbox", "Work"]
    # What an Inbox may change: its colour and the favourite flag.
    r = await client.patch(url, json={"color": "blue", "favorite": True}, headers=acct.headers)
    assert r.status_code == 200 and (r.json()["color"], r.json()["favorite"]) == ("blue", True)


async def test_project_crud_and_manual_order(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    a = await make_project(client, acct, name="A", color="red")
    b = await make_project(client, acct, name="B")
    c = await make_project(client, acct, name="C", favorite=True)
    assert (a["color"], a["favorite"], c["favorite"], a["inbox"]) == ("red", False, True, False)
    assert await names(client, acct) == ["Inbox", "A", "B", "C"]
    first = await make_project(client, acct, name="First", at="first")
    assert await names(client, acct) == ["Inbox", "First", "A", "B", "C"]

    async def move(project: dict[str, Any], **where: Any) -> None:
        r = await client.patch(f"{PROJECTS}/{project['id']}", json=where, headers=acct.headers)
        assert r.status_code == 200, r.text

    await move(c, before=a["id"])
    assert await names(client, acct) == ["Inbox", "First", "C", "A", "B"]
    await move(first, after=b["id"])
    assert await names(client, acct) == ["Inbox", "C", "A", "B", "First"]
    await move(b, at="first")
    assert await names(client, acct) == ["Inbox", "B", "C", "A", "First"]
    await move(b, at="last")
    assert await names(client, acct) == ["Inbox", "C", "A", "First", "B"]

    r = await client.patch(
        f"{PROJECTS}/{a['id']}",
        json={"name": "  Renamed  ", "color": "teal", "favorite": True},
        headers=acct.headers,
    )
    assert r.status_code == 200
    assert (r.json()["name"], r.json()["color"], r.json()["favorite"]) == ("Renamed", "teal", True)
    r = await client.get(f"{PROJECTS}/{a['id']}", headers=acct.headers)
    assert r.json()["name"] == "Renamed" and r.headers["etag"] == '"2"'

    # Deleting a project deletes what it holds.
    kept = await make_task(client, acct, title="kept")
    gone = await make_task(client, acct, title="gone", project_id=b["id"])
    section = await make_section(client, acct, b["id"])
    in_section = await make_task(client, acct, section_id=section["id"])
    assert (await client.get(f"{PROJECTS}/{b['id']}", headers=acct.headers)).json()[
        "open_count"
    ] == 2
    r = await client.delete(f"{PROJECTS}/{b['id']}", headers=acct.headers)
    assert r.status_code == 204
    for task in (gone, in_section):
        assert_problem(await client.get(f"{TASKS}/{task['id']}", headers=acct.headers), 404)
    assert_problem(await client.get(f"{SECTIONS}/{section['id']}", headers=acct.headers), 404)
    assert_problem(await client.get(f"{PROJECTS}/{b['id']}", headers=acct.headers), 404)
    assert await titles(client, acct) == [kept["title"]]
    assert await names(client, acct) == ["Inbox", "C", "Renamed", "First"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 121},
        {"name": "a\x00b"},
        {"name": "two\nlines"},
        {"name": "ok", "color": "black"},
        {"name": "ok", "favorite": "yes"},
        {"name": "ok", "at": "middle"},
        {"name": "ok", "after": str(uuid.uuid4())},
        {"name": "ok", "at": "first", "after": str(uuid.uuid4())},
        {"name": "ok", "inbox": True},
    ],
)
async def test_bad_project_input_is_422_and_stores_nothing(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    acct = await make_account(client)
    await make_project(client, acct, name="Kept")
    assert_problem(await client.post(PROJECTS, json=body, headers=acct.headers), 422)
    assert await names(client, acct, archived="all") == ["Inbox", "Kept"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "x" * 121},
        {"name": "a\x00b"},
        {"name": None},
        {"color": None},
        {"archived": None},
        {"color": "black"},
        {"after": "00000000-0000-4000-8000-000000000000"},
    ],
)
async def test_bad_project_patch_is_422_and_changes_nothing(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    acct = await make_account(client)
    project = await make_project(client, acct, name="Kept")
    r = await client.patch(f"{PROJECTS}/{project['id']}", json=body, headers=acct.headers)
    assert_problem(r, 422)
    r = await client.get(f"{PROJECTS}/{project['id']}", headers=acct.headers)
    assert (r.json()["name"], r.json()["color"], r.headers["etag"]) == ("Kept", "grey", '"1"')


async def test_a_name_of_120_characters_is_fine(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    project = await make_project(client, acct, name="é" * 120)
    section = await make_section(client, acct, project["id"], name="s" * 120)
    assert (len(project["name"]), len(section["name"])) == (120, 120)
    r = await client.post(
        f"{PROJECTS}/{project['id']}/sections", json={"name": "s" * 121}, headers=acct.headers
    )
    assert_problem(r, 422)


async def test_etag_and_if_match_on_projects_and_sections(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    r = await client.post(PROJECTS, json={"name": "P"}, headers=acct.headers)
    project, etag = r.json(), r.headers["etag"]
    assert r.headers["location"] == f"{PROJECTS}/{project['id']}"
    url = f"{PROJECTS}/{project['id']}"
    r = await client.patch(url, json={"name": "P2"}, headers={**acct.headers, "If-Match": etag})
    assert r.status_code == 200 and r.headers["etag"] != etag
    fresh = r.headers["etag"]
    stale = {**acct.headers, "If-Match": etag}
    assert_problem(await client.patch(url, json={"name": "P3"}, headers=stale), 412)
    assert_problem(await client.delete(url, headers=stale), 412)
    r = await client.get(url, headers=acct.headers)
    assert (r.json()["name"], r.headers["etag"]) == ("P2", fresh)

    r = await client.post(f"{url}/sections", json={"name": "S"}, headers=acct.headers)
    section, s_etag = r.json(), r.headers["etag"]
    s_url = f"{SECTIONS}/{section['id']}"
    assert r.headers["location"] == s_url
    r = await client.patch(s_url, json={"name": "S2"}, headers={**acct.headers, "If-Match": s_etag})
    assert r.status_code == 200
    s_stale = {**acct.headers, "If-Match": s_etag}
    assert_problem(await client.patch(s_url, json={"name": "S3"}, headers=s_stale), 412)
    assert_problem(await client.delete(s_url, headers=s_stale), 412)
    assert (await client.get(s_url, headers=acct.headers)).json()["name"] == "S2"
    r = await client.delete(url, headers={**acct.headers, "If-Match": fresh})
    assert r.status_code == 204


async def test_sections_order_rename_and_delete(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    project = await make_project(client, acct)
    sections_url = f"{PROJECTS}/{project['id']}/sections"
    s1 = await make_section(client, acct, project["id"], name="One")
    s2 = await make_section(client, acct, project["id"], name="Two")
    s0 = await make_section(client, acct, project["id"], name="Zero", before=s1["id"])

    async def section_names() -> list[str]:
        r = await client.get(sections_url, headers=acct.headers)
        assert r.status_code == 200
        return [s["name"] for s in r.json()]

    assert await section_names() == ["Zero", "One", "Two"]
    r = await client.patch(
        f"{SECTIONS}/{s2['id']}", json={"name": "Deux", "at": "first"}, headers=acct.headers
    )
    assert r.status_code == 200 and r.json()["project_id"] == project["id"]
    assert await section_names() == ["Deux", "Zero", "One"]
    r = await client.patch(f"{SECTIONS}/{s2['id']}", json={"after": s1["id"]}, headers=acct.headers)
    assert await section_names() == ["Zero", "One", "Deux"]
    # A neighbour from another project's sections is no neighbour.
    elsewhere = await make_section(client, acct, (await make_project(client, acct))["id"])
    r = await client.patch(
        f"{SECTIONS}/{s0['id']}", json={"after": elsewhere["id"]}, headers=acct.headers
    )
    assert_problem(r, 422)

    loose = await make_task(client, acct, title="loose", project_id=project["id"])
    kept = [await make_task(client, acct, title=f"kept {i}", section_id=s1["id"]) for i in range(2)]
    doomed = await make_task(client, acct, title="doomed", section_id=s0["id"])
    assert kept[0]["project_id"] == project["id"]  # the section names the project
    r = await client.delete(f"{SECTIONS}/{s1['id']}", headers=acct.headers)
    assert r.status_code == 204
    # Its tasks keep their order, after the ones outside any section.
    r = await client.get(
        TASKS, params={"project_id": project["id"], "section_id": "none"}, headers=acct.headers
    )
    listed = {t["title"]: t for t in r.json()["items"]}
    assert [t for t in listed] == ["loose", "kept 0", "kept 1"]
    assert listed["kept 0"]["section_id"] is None and listed["loose"]["id"] == loose["id"]
    assert await titles(client, acct, section_id=s0["id"]) == ["doomed"]
    r = await client.delete(
        f"{SECTIONS}/{s0['id']}", params={"with_tasks": "true"}, headers=acct.headers
    )
    assert r.status_code == 204
    assert_problem(await client.get(f"{TASKS}/{doomed['id']}", headers=acct.headers), 404)
    assert await section_names() == ["Deux"]
    assert await titles(client, acct, project_id=project["id"]) == ["loose", "kept 0", "kept 1"]


async def test_archived_projects_leave_every_list_but_their_own(
    client: httpx.AsyncClient,
) -> None:
    acct = await make_account(client)
    project = await make_project(client, acct, name="Someday")
    today = date.today().isoformat()
    soon = (date.today() + timedelta(days=3)).isoformat()
    await make_task(client, acct, title="inbox findme", due=today)
    await make_task(client, acct, title="hidden findme today", due=today, project_id=project["id"])
    await make_task(client, acct, title="hidden findme soon", due=soon, project_id=project["id"])
    url = f"{PROJECTS}/{project['id']}"

    async def views() -> dict[str, list[str]]:
        return {
            "all": sorted(await titles(client, acct)),
            "today": sorted(await titles(client, acct, when="today")),
            "upcoming": sorted(await titles(client, acct, when="upcoming", days=14)),
            "search": sorted(await titles(client, acct, q="findme")),
        }

    before = await views()
    assert before == {
        "all": ["hidden findme soon", "hidden findme today", "inbox findme"],
        "today": ["hidden findme today", "inbox findme"],
        "upcoming": ["hidden findme soon"],
        "search": ["hidden findme soon", "hidden findme today", "inbox findme"],
    }
    r = await client.patch(url, json={"archived": True}, headers=acct.headers)
    assert r.status_code == 200 and r.json()["archived"] is True
    assert await views() == {
        "all": ["inbox findme"],
        "today": ["inbox findme"],
        "upcoming": [],
        "search": ["inbox findme"],
    }
    # Its own view still shows them; the project lists say where it went.
    assert sorted(await titles(client, acct, project_id=project["id"])) == [
        "hidden findme soon",
        "hidden findme today",
    ]
    assert await names(client, acct) == ["Inbox"]
    assert await names(client, acct, archived="true") == ["Someday"]
    assert await names(client, acct, archived="all") == ["Inbox", "Someday"]
    r = await client.patch(url, json={"archived": False}, headers=acct.headers)
    assert r.status_code == 200 and r.json()["archived"] is False
    assert await views() == before
    assert await names(client, acct) == ["Inbox", "Someday"]


async def test_another_users_projects_and_sections_are_404(client: httpx.AsyncClient) -> None:
    owner = await make_account(client)
    intruder = await make_account(client)
    project = await make_project(client, owner)
    section = await make_section(client, owner, project["id"])
    parent = await make_task(client, owner, project_id=project["id"])
    for body in (
        {"title": "x", "project_id": project["id"]},
        {"title": "x", "section_id": section["id"]},
        {"title": "x", "parent_id": parent["id"]},
    ):
        assert_problem(await client.post(TASKS, json=body, headers=intruder.headers), 404)
    mine = await make_task(client, intruder)
    for body in (
        {"project_id": project["id"]},
        {"section_id": section["id"]},
        {"parent_id": parent["id"]},
    ):
        r = await client.patch(f"{TASKS}/{mine['id']}", json=body, headers=intruder.headers)
        assert_problem(r, 404)
    # A neighbour of another user's is no neighbour of yours (422, as for an unknown one).
    r = await client.patch(
        f"{TASKS}/{mine['id']}", json={"after": parent["id"]}, headers=intruder.headers
    )
    assert_problem(r, 422)
    for params in (
        {"project_id": project["id"]},
        {"section_id": section["id"]},
        {"parent_id": parent["id"]},
        {"subtree": parent["id"]},
    ):
        r = await client.get(TASKS, params=params, headers=intruder.headers)
        assert_problem(r, 404)
    r = await client.post(
        PROJECTS, json={"name": "x", "after": project["id"]}, headers=intruder.headers
    )
    assert_problem(r, 422)
    assert await names(client, intruder) == ["Inbox"]
    r = await client.get(f"{TASKS}/{parent['id']}", headers=owner.headers)
    assert r.json()["project_id"] == project["id"] and r.headers["etag"] == '"1"'


async def _reorder_concurrently(
    app_client: httpx.AsyncClient, acct: Account, project_id: str, ids: list[str], moves: int
) -> None:
    rng = random.Random(15)
    # Two clients (two connection pools' worth of requests), each moving tasks at once.
    async with make_client(app_client._transport.app) as other:  # type: ignore[attr-defined]
        requests = []
        for n in range(moves):
            client = app_client if n % 2 else other
            task, neighbour = rng.sample(ids, 2)
            where = rng.choice(
                [{"after": neighbour}, {"before": neighbour}, {"at": "first"}, {"at": "last"}]
            )
            requests.append(client.patch(f"{TASKS}/{task}", json=where, headers=acct.headers))
        responses = await asyncio.gather(*requests)
    assert [r.status_code for r in responses] == [200] * moves, [
        r.text for r in responses if r.status_code != 200
    ]


async def test_two_clients_reordering_one_list_keep_it_consistent(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    project = await make_project(client, acct)
    ids = [
        (await make_task(client, acct, title=f"t{i}", project_id=project["id"]))["id"]
        for i in range(8)
    ]
    await _reorder_concurrently(client, acct, project["id"], ids, 24)
    r = await client.get(
        TASKS, params={"project_id": project["id"], "limit": 50}, headers=acct.headers
    )
    listed = r.json()["items"]
    keys = [t["position"] for t in listed]
    assert sorted(t["id"] for t in listed) == sorted(ids)
    assert len(set(keys)) == len(keys), keys  # no duplicate positions
    assert keys == sorted(keys)  # the list is in key order, so every reader sees one order
    async with database.read_sessions() as s:
        stored = (
            await s.execute(
                select(Task.position).where(Task.project_id == uuid.UUID(project["id"]))
            )
        ).scalars()
        assert sorted(stored) == keys


async def test_creates_beside_moves_append_last_with_distinct_keys(
    client: httpx.AsyncClient,
) -> None:
    # Creates into one list run side by side (a shared lock); moves still hold it alone.
    acct = await make_account(client)
    project = await make_project(client, acct)
    old = [
        (await make_task(client, acct, title=f"old {i}", project_id=project["id"]))["id"]
        for i in range(4)
    ]
    async with make_client(client._transport.app) as other:  # type: ignore[attr-defined]
        requests = []
        for n in range(24):
            c = client if n % 2 else other
            if n % 4 == 3:
                moving, anchor = old[(n // 4) % 4], old[(n // 4 + 1) % 4]
                where = {"at": "first"} if n % 8 == 3 else {"after": anchor}
                requests.append(c.patch(f"{TASKS}/{moving}", json=where, headers=acct.headers))
            else:
                task = {"title": f"new {n}", "project_id": project["id"]}
                requests.append(c.post(TASKS, json=task, headers=acct.headers))
        responses = await asyncio.gather(*requests)
    assert [r.status_code for r in responses] == [200 if n % 4 == 3 else 201 for n in range(24)], [
        r.text for r in responses if r.status_code >= 300
    ]
    r = await client.get(
        TASKS, params={"project_id": project["id"], "limit": 50}, headers=acct.headers
    )
    listed = r.json()["items"]
    keys = [t["position"] for t in listed]
    assert len(set(keys)) == len(keys) == 22, keys
    assert keys == sorted(keys)
    # Every new task went after the old ones (which only moved among themselves).
    assert [t["title"].split()[0] for t in listed] == ["old"] * 4 + ["new"] * 18


async def test_an_append_waits_for_no_other_append_but_a_move_waits(
    client: httpx.AsyncClient, database: Database, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite has no row locks: its writers take turns on the database's lock")
    acct = await make_account(client)
    project = await make_project(client, acct)
    first = await make_task(client, acct, title="first", project_id=project["id"])
    pid = uuid.UUID(project["id"])
    async with database.unit_of_work(write=True) as held:
        # An append in progress: its transaction holds the list the way an append does.
        await projects_service.lock(held, pid, shared=True)
        another = client.post(
            TASKS, json={"title": "beside it", "project_id": project["id"]}, headers=acct.headers
        )
        r = await asyncio.wait_for(another, timeout=10)
        assert r.status_code == 201, r.text
        move = asyncio.ensure_future(
            client.patch(f"{TASKS}/{first['id']}", json={"at": "last"}, headers=acct.headers)
        )
        done, _ = await asyncio.wait({move}, timeout=1.5)
        assert not done  # a move holds the list alone: it waits for the append to end
    r = await asyncio.wait_for(move, timeout=10)
    assert r.status_code == 200, r.text
    assert await titles(client, acct, project_id=project["id"]) == ["beside it", "first"]


async def test_an_inbox_append_takes_its_shared_lock_as_it_finds_the_inbox(
    client: httpx.AsyncClient, database: Database, backend: str
) -> None:
    """A create with no place asked for finds the Inbox and locks it in one statement (one
    trip fewer): the lock is the append's shared one, which another append passes and a move
    waits for."""
    if backend == "sqlite":
        pytest.skip("SQLite has no row locks: its writers take turns on the database's lock")
    acct = await make_account(client)
    first = await make_task(client, acct, title="first")
    async with database.unit_of_work(write=True) as held:
        await projects_service.inbox_id(held, uuid.UUID(acct.id), lock_shared=True)
        another = client.post(TASKS, json={"title": "beside it"}, headers=acct.headers)
        r = await asyncio.wait_for(another, timeout=10)
        assert r.status_code == 201, r.text
        move = asyncio.ensure_future(
            client.patch(f"{TASKS}/{first['id']}", json={"at": "last"}, headers=acct.headers)
        )
        done, _ = await asyncio.wait({move}, timeout=1.5)
        assert not done  # the Inbox is held: the move waits for the append to end
    r = await asyncio.wait_for(move, timeout=10)
    assert r.status_code == 200, r.text


async def test_positions_are_per_list_and_paging_keeps_the_manual_order(
    client: httpx.AsyncClient,
) -> None:
    acct = await make_account(client)
    project = await make_project(client, acct)
    made = [
        await make_task(client, acct, title=f"t{i}", project_id=project["id"]) for i in range(5)
    ]
    await client.patch(f"{TASKS}/{made[4]['id']}", json={"at": "first"}, headers=acct.headers)
    await client.patch(
        f"{TASKS}/{made[0]['id']}", json={"after": made[2]["id"]}, headers=acct.headers
    )
    expected = ["t4", "t1", "t2", "t0", "t3"]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"project_id": project["id"], "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(TASKS, params=params, headers=acct.headers)).json()
        seen += [t["title"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    # An explicit sort still wins over the manual order.
    assert await titles(client, acct, project_id=project["id"], sort="title") == sorted(expected)


async def test_project_id_null_means_the_inbox(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    inbox = await inbox_of(client, acct)
    project = await make_project(client, acct)
    r = await client.post(TASKS, json={"title": "x", "project_id": None}, headers=acct.headers)
    assert r.status_code == 201 and r.json()["project_id"] == inbox["id"]
    task = await make_task(client, acct, project_id=project["id"])
    r = await client.patch(f"{TASKS}/{task['id']}", json={"project_id": None}, headers=acct.headers)
    assert r.status_code == 200 and r.json()["project_id"] == inbox["id"]
