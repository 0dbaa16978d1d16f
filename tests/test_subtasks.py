"""Subtasks over HTTP: depth, cycles, the subtree following its root, cascades on complete and
delete, progress, and the parent and subtree filters."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import Account, assert_problem, make_account, make_task
from tests.test_projects import PROJECTS, TASKS, make_project, make_section, titles


async def chain(client: httpx.AsyncClient, acct: Account, depth: int, **fields: Any) -> list[str]:
    """A task with subtasks `depth` levels deep (the root is level 1); their ids, root first."""
    ids: list[str] = []
    for level in range(depth):
        parent = {"parent_id": ids[-1]} if ids else fields
        ids.append((await make_task(client, acct, title=f"level {level + 1}", **parent))["id"])
    return ids


async def get(client: httpx.AsyncClient, acct: Account, task_id: str) -> dict[str, Any]:
    r = await client.get(f"{TASKS}/{task_id}", headers=acct.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_four_levels_deep_and_no_deeper(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    ids = await chain(client, acct, 4)
    deepest = await get(client, acct, ids[3])
    assert deepest["parent_id"] == ids[2]
    r = await client.post(TASKS, json={"title": "5", "parent_id": ids[3]}, headers=acct.headers)
    assert_problem(r, 422)
    # Moving a two-level subtree under level 3 would make five levels.
    other = await chain(client, acct, 2)
    r = await client.patch(f"{TASKS}/{other[0]}", json={"parent_id": ids[2]}, headers=acct.headers)
    assert_problem(r, 422)
    r = await client.patch(f"{TASKS}/{other[0]}", json={"parent_id": ids[1]}, headers=acct.headers)
    assert r.status_code == 200 and r.json()["parent_id"] == ids[1]
    assert (await get(client, acct, other[1]))["parent_id"] == other[0]


async def test_cycles_are_refused(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    ids = await chain(client, acct, 3)
    for parent in (ids[0], ids[1], ids[2]):
        r = await client.patch(
            f"{TASKS}/{ids[0]}", json={"parent_id": parent}, headers=acct.headers
        )
        assert_problem(r, 422)
    r = await client.patch(f"{TASKS}/{ids[1]}", json={"parent_id": ids[2]}, headers=acct.headers)
    assert_problem(r, 422)
    assert [(await get(client, acct, i))["parent_id"] for i in ids] == [None, ids[0], ids[1]]


async def test_parents_sections_and_neighbours_from_elsewhere_are_422(
    client: httpx.AsyncClient,
) -> None:
    acct = await make_account(client)
    p1 = await make_project(client, acct)
    p2 = await make_project(client, acct)
    s2 = await make_section(client, acct, p2["id"])
    parent = await make_task(client, acct, project_id=p1["id"])
    task = await make_task(client, acct, project_id=p1["id"])
    elsewhere = await make_task(client, acct, project_id=p2["id"])
    bad = [
        {"project_id": p2["id"], "parent_id": parent["id"]},  # parent in another project
        {"project_id": p1["id"], "section_id": s2["id"]},  # section of another project
        {"after": "00000000-0000-4000-8000-000000000000"},  # unknown neighbour
        {"before": parent["id"], "project_id": p2["id"]},  # neighbour in another project
        {"after": elsewhere["id"], "parent_id": parent["id"]},
        {"after": parent["id"], "at": "first"},
    ]
    for body in bad:
        r = await client.post(TASKS, json={"title": "x", **body}, headers=acct.headers)
        assert_problem(r, 422)
        r = await client.patch(f"{TASKS}/{task['id']}", json=body, headers=acct.headers)
        assert_problem(r, 422)
    assert await titles(client, acct, project_id=p1["id"]) == [parent["title"], task["title"]]
    assert await titles(client, acct, project_id=p2["id"]) == [elsewhere["title"]]
    r = await client.get(f"{TASKS}/{task['id']}", headers=acct.headers)
    assert (r.json()["project_id"], r.json()["parent_id"]) == (p1["id"], None)
    assert r.headers["etag"] == '"1"'


async def test_a_subtree_follows_its_root_to_another_project_and_section(
    client: httpx.AsyncClient,
) -> None:
    acct = await make_account(client)
    p1 = await make_project(client, acct)
    p2 = await make_project(client, acct)
    section = await make_section(client, acct, p2["id"])
    ids = await chain(client, acct, 3, project_id=p1["id"])
    r = await client.patch(f"{TASKS}/{ids[0]}", json={"project_id": p2["id"]}, headers=acct.headers)
    assert r.status_code == 200
    for task_id in ids:
        task = await get(client, acct, task_id)
        assert (task["project_id"], task["section_id"]) == (p2["id"], None)
    r = await client.patch(
        f"{TASKS}/{ids[0]}", json={"section_id": section["id"]}, headers=acct.headers
    )
    assert r.status_code == 200
    placed = [await get(client, acct, task_id) for task_id in ids]
    assert [(t["project_id"], t["section_id"]) for t in placed] == [(p2["id"], section["id"])] * 3
    assert [t["parent_id"] for t in placed] == [None, ids[0], ids[1]]
    assert await titles(client, acct, project_id=p1["id"]) == []
    # Out of its parent: a subtask becomes a top-level task with its own subtree.
    r = await client.patch(f"{TASKS}/{ids[1]}", json={"parent_id": None}, headers=acct.headers)
    assert r.json()["parent_id"] is None and r.json()["section_id"] == section["id"]
    assert (await get(client, acct, ids[2]))["parent_id"] == ids[1]


async def test_deleting_a_parent_deletes_its_subtree(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    ids = await chain(client, acct, 4)
    sibling = await make_task(client, acct, parent_id=ids[0], title="sibling")
    kept = await make_task(client, acct, title="kept")
    r = await client.delete(f"{TASKS}/{ids[1]}", headers=acct.headers)
    assert r.status_code == 204
    for task_id in ids[1:]:
        assert_problem(await client.get(f"{TASKS}/{task_id}", headers=acct.headers), 404)
    assert sorted(await titles(client, acct)) == sorted(["level 1", "sibling", "kept"])
    assert (await get(client, acct, ids[0]))["subtasks"] == {"done": 0, "total": 1}
    assert (await get(client, acct, sibling["id"]))["parent_id"] == ids[0]
    assert kept["parent_id"] is None


async def test_completing_a_parent_completes_open_subtasks_and_reopening_does_not(
    client: httpx.AsyncClient,
) -> None:
    acct = await make_account(client)
    ids = await chain(client, acct, 3)
    other = await make_task(client, acct, parent_id=ids[0])
    r = await client.post(f"{TASKS}/{ids[0]}/complete", headers=acct.headers)
    assert r.status_code == 200 and r.json()["subtasks"] == {"done": 2, "total": 2}
    assert all([(await get(client, acct, i))["completed"] for i in [*ids, other["id"]]])
    r = await client.post(f"{TASKS}/{ids[0]}/reopen", headers=acct.headers)
    assert r.status_code == 200 and r.json()["completed"] is False
    assert r.json()["subtasks"] == {"done": 2, "total": 2}
    assert [(await get(client, acct, i))["completed"] for i in ids] == [False, True, True]
    # PATCH completed: true cascades too.
    await client.post(f"{TASKS}/{ids[1]}/reopen", headers=acct.headers)
    r = await client.patch(f"{TASKS}/{ids[0]}", json={"completed": True}, headers=acct.headers)
    assert r.status_code == 200 and r.json()["subtasks"] == {"done": 2, "total": 2}


async def test_a_repeating_parents_next_occurrence_reopens_its_subtasks(
    client: httpx.AsyncClient,
) -> None:
    acct = await make_account(client)
    parent = await make_task(
        client, acct, title="weekly review", due="2030-01-07", recurrence={"rule": "FREQ=WEEKLY"}
    )
    children = [await make_task(client, acct, parent_id=parent["id"]) for _ in range(3)]
    await client.post(f"{TASKS}/{children[0]['id']}/complete", headers=acct.headers)
    r = await client.post(f"{TASKS}/{parent['id']}/complete", headers=acct.headers)
    assert r.status_code == 200
    body = r.json()
    assert (body["completed"], body["due"]) == (False, "2030-01-14")
    assert body["subtasks"] == {"done": 0, "total": 3}
    assert [(await get(client, acct, c["id"]))["completed"] for c in children] == [False] * 3


async def test_progress_shows_in_lists_gets_and_writes(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    parent = await make_task(client, acct, title="parent")
    assert parent["subtasks"] == {"done": 0, "total": 0}
    children = [await make_task(client, acct, parent_id=parent["id"]) for _ in range(5)]
    await make_task(client, acct, parent_id=children[0]["id"])  # a grandchild: not direct
    for child in children[:2]:
        r = await client.post(f"{TASKS}/{child['id']}/complete", headers=acct.headers)
        assert r.status_code == 200
    progress = {"done": 2, "total": 5}
    assert (await get(client, acct, parent["id"]))["subtasks"] == progress
    r = await client.get(TASKS, params={"parent_id": "none"}, headers=acct.headers)
    assert [(t["title"], t["subtasks"]) for t in r.json()["items"]] == [("parent", progress)]
    r = await client.patch(f"{TASKS}/{parent['id']}", json={"title": "p"}, headers=acct.headers)
    assert r.json()["subtasks"] == progress
    r = await client.get(TASKS, params={"parent_id": parent["id"]}, headers=acct.headers)
    assert [t["subtasks"]["total"] for t in r.json()["items"]] == [1, 0, 0, 0, 0]


async def test_parent_section_and_subtree_filters(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    project = await make_project(client, acct)
    section = await make_section(client, acct, project["id"])
    ids = await chain(client, acct, 3, project_id=project["id"])
    in_section = await make_task(client, acct, title="in section", section_id=section["id"])
    second = await make_task(client, acct, title="second child", parent_id=ids[0])
    pid = project["id"]
    assert sorted(await titles(client, acct, project_id=pid, parent_id="none")) == [
        "in section",
        "level 1",
    ]
    assert await titles(client, acct, parent_id=ids[0]) == ["level 2", "second child"]
    assert await titles(client, acct, subtree=ids[0], sort="title") == [
        "level 2",
        "level 3",
        "second child",
    ]
    assert await titles(client, acct, section_id=section["id"]) == ["in section"]
    assert sorted(await titles(client, acct, project_id=pid, section_id="none")) == sorted(
        ["level 1", "level 2", "level 3", "second child"]
    )
    assert in_section["project_id"] == pid and second["project_id"] == pid
    # Paging a subtree by its keys.
    r = await client.get(
        TASKS, params={"subtree": ids[0], "limit": 1, "sort": "title"}, headers=acct.headers
    )
    page = r.json()
    assert [t["title"] for t in page["items"]] == ["level 2"]
    r = await client.get(
        TASKS,
        params={"subtree": ids[0], "limit": 5, "sort": "title", "cursor": page["next_cursor"]},
        headers=acct.headers,
    )
    assert [t["title"] for t in r.json()["items"]] == ["level 3", "second child"]


@pytest.mark.parametrize(
    "params",
    [
        {"section_id": "nothing"},
        {"parent_id": "all"},
        {"subtree": "none"},
        {"project_id": "none"},
    ],
)
async def test_bad_place_filters_are_422(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    acct = await make_account(client)
    assert_problem(await client.get(TASKS, params=params, headers=acct.headers), 422)


async def test_a_task_moved_between_projects_keeps_its_tags_and_lands_last(
    client: httpx.AsyncClient,
) -> None:
    acct = await make_account(client)
    target = await make_project(client, acct)
    first = await make_task(client, acct, title="already there", project_id=target["id"])
    task = await make_task(client, acct, title="moved", tags=["x"])
    r = await client.patch(
        f"{TASKS}/{task['id']}", json={"project_id": target["id"]}, headers=acct.headers
    )
    assert r.status_code == 200 and r.json()["tags"] == ["x"]
    assert await titles(client, acct, project_id=target["id"]) == ["already there", "moved"]
    r = await client.patch(
        f"{TASKS}/{task['id']}", json={"before": first["id"]}, headers=acct.headers
    )
    assert await titles(client, acct, project_id=target["id"]) == ["moved", "already there"]
    r = await client.get(f"{PROJECTS}/{target['id']}", headers=acct.headers)
    assert r.json()["open_count"] == 2
