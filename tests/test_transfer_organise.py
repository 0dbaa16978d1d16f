"""Import and export with projects, sections, subtasks and order (issue 15): a Todoist project
CSV becomes a project, version 2 round-trips, version 1 still lands in the Inbox, and bad
outlines are refused with nothing stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from doable.db import Database
from tests.factories import Account, assert_problem, make_account, make_task
from tests.test_limits import QUOTA, quota_client  # noqa: F401 (a fixture)
from tests.test_security import snapshot
from tests.test_transfer import _cli, comparable, export, import_file

TASKS = "/api/v1/tasks"
HEADER = "TYPE,CONTENT,DESCRIPTION,PRIORITY,INDENT,AUTHOR,RESPONSIBLE,DATE,DATE_LANG,TIMEZONE"


def todoist(*rows: str) -> bytes:
    return ("\r\n".join([HEADER, *rows]) + "\r\n").encode()


async def api_tasks(client: httpx.AsyncClient, acct: Account) -> list[dict[str, Any]]:
    r = await client.get(TASKS, params={"limit": 200, "status": "all"}, headers=acct.headers)
    assert r.status_code == 200, r.text
    assert r.json()["next_cursor"] is None
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def outline(client: httpx.AsyncClient, acct: Account, *, show: str = "") -> list[str]:
    """The account as a user sees it: each project, its tasks and sections in their order,
    subtasks indented under their parent (from the export, which holds archived projects too;
    the tasks API, checked to agree, leaves them out). `show` adds fields of each task: "p"
    its priority, "r" its repeat rule."""
    document = (await export(client, acct)).json()
    tasks = document["tasks"]
    placed = {
        t["id"]: (t["project_id"], t["section_id"], t["parent_id"], t["position"])
        for t in await api_tasks(client, acct)
    }
    archived = {p["id"] for p in document["projects"] if p["archived"]}
    assert placed == {
        t["id"]: (t["project"], t["section"], t["parent"], t["position"])
        for t in tasks
        if t["project"] not in archived
    }
    children: dict[tuple[str | None, str | None, str | None], list[dict[str, Any]]] = {}
    for task in tasks:
        parent = task["parent"]
        place = (None, None, parent) if parent else (task["project"], task["section"], None)
        children.setdefault(place, []).append(task)
    lines: list[str] = []

    def walk(place: tuple[str | None, str | None, str | None], depth: int) -> None:
        for task in sorted(children.get(place, []), key=lambda t: (t["position"], t["id"])):
            extra = ""
            if "p" in show:
                extra += f" [{task['priority']}]"
            if "r" in show and task["recurrence"]:
                extra += f" ({task['recurrence']['rule']})"
            lines.append("  " * depth + task["title"] + extra)
            walk((None, None, task["id"]), depth + 1)

    for project in document["projects"]:
        flags = "".join(f" {flag}" for flag in ("favorite", "archived") if project[flag]) + (
            "" if project["color"] == "grey" else f" {project['color']}"
        )
        lines.append(f"#{project['name']}{flags}")
        walk((project["id"], None, None), 1)
        for section in project["sections"]:
            lines.append(f"  /{section['name']}")
            walk((project["id"], section["id"], None), 2)
    return lines


# A Todoist project CSV


PROJECT_CSV = todoist(
    "task,Plan the trip @travel,,1,1,,,,,",
    "task,Book flights,,2,2,,,2027-03-01,en,UTC",
    "task,Compare airlines,,3,3,,,,,",
    "task,Check baggage rules,,4,3,,,,,",
    "task,Renew passport,,,2,,,,,",
    "section,Groceries,,,,,,,,",
    "task,Buy oat milk,,4,1,,,every monday,en,UTC",
    "note,the barista kind,,,,,,,,",
    "task,Oats,,2,2,,,,,",
    "section,Work,,,,,,,,",
    "task,Weekly report,,1,1,,,every friday at 9am,en,Europe/Paris",
    "task,Collect figures,,3,2,,,,,",
    "task,Ask finance,,,3,,,,,",
    "task,Send it,,2,2,,,,,",
    "task,Inbox zero,,,1,,,,,",
)
PROJECT_OUTLINE = [
    "#Inbox",
    "#Trip",
    "  Plan the trip [urgent]",
    "    Book flights [high]",
    "      Compare airlines [medium]",
    "      Check baggage rules [none]",
    "    Renew passport [none]",
    "  /Groceries",
    "    Buy oat milk [none] (FREQ=WEEKLY;BYDAY=MO)",
    "      Oats [high]",
    "  /Work",
    "    Weekly report [urgent] (FREQ=WEEKLY;BYDAY=FR)",
    "      Collect figures [medium]",
    "        Ask finance [none]",
    "      Send it [high]",
    "    Inbox zero [none]",
]


async def test_a_todoist_csv_becomes_a_project_that_looks_like_the_original(
    client: httpx.AsyncClient,
) -> None:
    acct = await make_account(client)
    # A real tag named like a section stays a tag of its own, untouched.
    await make_task(client, acct, title="before", tags=["Work"])
    r = await import_file(client, acct, PROJECT_CSV, "text/csv", project_name="Trip")
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["imported"] == {"tasks": 12, "tags": 1, "projects": 1, "sections": 2}
    assert [p["name"] for p in result["projects"]] == ["Trip"]
    assert result["warnings"] == []
    got = await outline(client, acct, show="pr")
    assert got == [PROJECT_OUTLINE[0], "  before [none]", *PROJECT_OUTLINE[1:]]
    tasks = {t["title"]: t for t in await api_tasks(client, acct)}
    assert tasks["Plan the trip"]["tags"] == ["travel"]
    # A note row is a comment on the task above it (issue 16).
    assert tasks["Buy oat milk"]["description"] == ""
    r = await client.get(
        f"/api/v1/tasks/{tasks['Buy oat milk']['id']}/comments", headers=acct.headers
    )
    assert [c["body"] for c in r.json()["items"]] == ["the barista kind"]
    assert tasks["Book flights"]["due"] == "2027-03-01"
    assert tasks["Plan the trip"]["project_id"] == result["projects"][0]["id"]
    assert all(
        t["tags"] == [] for t in tasks.values() if t["title"] not in {"Plan the trip", "before"}
    )
    tags = (await client.get("/api/v1/tags", headers=acct.headers)).json()
    assert {t["name"] for t in tags} == {"travel", "Work"}
    # A parent shows its progress.
    assert tasks["Book flights"]["subtasks"] == {"done": 0, "total": 2}


async def test_the_same_name_again_makes_name_2(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    for expected in ("trip", "trip (2)", "trip (3)"):
        r = await import_file(client, acct, PROJECT_CSV, "text/csv", project_name="trip")
        assert r.status_code == 200, r.text
        assert [p["name"] for p in r.json()["projects"]] == [expected]
    r = await import_file(client, acct, PROJECT_CSV, "text/csv", project_name="TRIP (2)")
    assert [p["name"] for p in r.json()["projects"]] == ["TRIP (2) (2)"]
    long = "x" * 120
    r = await import_file(client, acct, PROJECT_CSV, "text/csv", project_name=long)
    r = await import_file(client, acct, PROJECT_CSV, "text/csv", project_name=long)
    assert [p["name"] for p in r.json()["projects"]] == ["x" * 116 + " (2)"]


async def test_without_a_name_the_project_is_called_imported(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    r = await import_file(client, acct, todoist("task,One,,,1,,,,,"), "text/csv")
    assert r.status_code == 200, r.text
    assert [p["name"] for p in r.json()["projects"]] == ["Imported"]
    assert await outline(client, acct) == ["#Inbox", "#Imported", "  One"]


async def test_indent_past_four_attaches_to_level_four_with_a_note_per_line(
    client: httpx.AsyncClient,
) -> None:
    acct = await make_account(client)
    body = todoist(
        "task,L1,,,1,,,,,",
        "task,L2,,,2,,,,,",
        "task,L3,,,3,,,,,",
        "task,L4,,,4,,,,,",
        "task,L6,,,6,,,,,",
        "task,L5,,,5,,,,,",
        "task,Top,,,1,,,,,",
        "task,Jump,,,3,,,,,",
        "task,Odd,,,x,,,,,",
    )
    r = await import_file(client, acct, body, "text/csv", project_name="Deep")
    assert r.status_code == 200, r.text
    assert [(w["line"], w["msg"]) for w in r.json()["warnings"]] == [
        (6, "INDENT 6: subtasks go at most 4 levels deep, so the task is at level 4"),
        (7, "INDENT 5: subtasks go at most 4 levels deep, so the task is at level 4"),
        (9, "INDENT 3: the task above it is at level 1, so the task is at level 2"),
        (10, "INDENT 'x' is not a number; the task is at the top level"),
    ]
    assert await outline(client, acct) == [
        "#Inbox",
        "#Deep",
        "  L1",
        "    L2",
        "      L3",
        "        L4",
        "        L6",
        "        L5",
        "  Top",
        "    Jump",
        "  Odd",
    ]


async def test_a_todoist_file_that_fails_leaves_no_project(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    before = await snapshot(database)
    body = todoist("section,S,,,,,,,,", "task,Fine,,1,1,,,,,", "task,Bad,,7,2,,,,,")
    r = await import_file(client, acct, body, "text/csv", project_name="Never")
    assert_problem(r, 422)
    assert await snapshot(database) == before


async def test_an_import_past_the_task_quota_leaves_no_project(
    quota_client: httpx.AsyncClient,  # noqa: F811 (the fixture imported above)
    database: Database,
) -> None:
    acct = await make_account(quota_client)
    await make_task(quota_client, acct, title="kept")
    before = await snapshot(database)
    r = await import_file(quota_client, acct, PROJECT_CSV, "text/csv", project_name="Trip")
    assert assert_problem(r, 409)["detail"] == QUOTA
    assert await snapshot(database) == before
    body = todoist("section,S,,,,,,,,", "task,One,,,1,,,,,", "task,Two,,,2,,,,,")
    r = await import_file(quota_client, acct, body, "text/csv", project_name="Small")
    assert r.status_code == 200, r.text
    assert await outline(quota_client, acct) == [
        "#Inbox",
        "  kept",
        "#Small",
        "  /S",
        "    One",
        "      Two",
    ]


@pytest.mark.parametrize(
    ("name", "msg"),
    [
        ("", "String should have at least 1 character"),
        ("   ", "String should have at least 1 character"),
        ("x" * 121, "String should have at most 120 characters"),
        ("a\x00b", "Value error, must not contain NUL characters"),
    ],
)
async def test_a_bad_project_name_is_422(
    client: httpx.AsyncClient, database: Database, name: str, msg: str
) -> None:
    acct = await make_account(client)
    before = await snapshot(database)
    r = await import_file(client, acct, PROJECT_CSV, "text/csv", project_name=name)
    problem = assert_problem(r, 422)
    assert [(e["loc"], e["msg"]) for e in problem["errors"]] == [(["query", "project_name"], msg)]
    assert await snapshot(database) == before


async def test_project_name_for_another_kind_of_file_is_reported_unused(
    client: httpx.AsyncClient,
) -> None:
    acct = await make_account(client)
    doc = {"format": "doable.export", "version": 1, "tasks": [{"title": "one"}]}
    r = await import_file(client, acct, json.dumps(doc).encode(), project_name="Mine")
    assert r.status_code == 200, r.text
    assert r.json()["projects"] == []
    assert [(w["loc"], w["msg"]) for w in r.json()["warnings"]] == [
        (
            ["query", "project_name"],
            "project_name names the project a Todoist CSV becomes; this file is not one, so "
            "it was not used",
        )
    ]


# Version 1 files and our CSV go to the Inbox, after what is there


async def test_a_version_1_file_goes_to_the_end_of_the_inbox(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    await make_task(client, acct, title="already here")
    doc = {
        "format": "doable.export",
        "version": 1,
        "tasks": [{"title": "first"}, {"title": "second"}, {"title": "third"}],
    }
    r = await import_file(client, acct, json.dumps(doc).encode())
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == {"tasks": 3, "tags": 0, "projects": 0, "sections": 0}
    r = await import_file(client, acct, b"title\r\nfrom csv\r\n", "text/csv")
    assert r.status_code == 200, r.text
    # A task added afterwards comes last, as in any list.
    await make_task(client, acct, title="afterwards")
    assert await outline(client, acct) == [
        "#Inbox",
        "  already here",
        "  first",
        "  second",
        "  third",
        "  from csv",
        "  afterwards",
    ]


# Version 2: projects, sections, hierarchy and order round-trip

V2 = {
    "format": "doable.export",
    "version": 2,
    "projects": [
        {"id": "in", "name": "Inbox", "inbox": True, "sections": [{"id": "in-s", "name": "Later"}]},
        {
            "id": "home",
            "name": "Home",
            "color": "teal",
            "favorite": True,
            "sections": [{"id": "h1", "name": "Kitchen"}, {"id": "h2", "name": "Garden"}],
        },
        {"id": "old", "name": "Old stuff", "archived": True},
    ],
    "tasks": [
        # Listed out of order on purpose: positions decide, and a parent may come after.
        {"id": "t4", "title": "Level 4", "parent": "t3", "position": "a"},
        {"id": "t1", "title": "Level 1", "project": "home", "section": "h1", "position": "b"},
        {"id": "t2", "title": "Level 2", "parent": "t1", "position": "a"},
        {"id": "t3", "title": "Level 3", "parent": "t2", "position": "a"},
        {"id": "k0", "title": "Kitchen first", "project": "home", "section": "h1", "position": "a"},
        {"id": "g", "title": "Garden", "section": "h2", "position": "z"},
        {"id": "h", "title": "Home loose", "project": "home", "position": "m"},
        {"id": "i2", "title": "Inbox B", "position": "c"},
        {"id": "i1", "title": "Inbox A", "project": "in", "position": "b"},
        {"id": "i3", "title": "Inbox no position"},
        {"id": "later", "title": "Later one", "section": "in-s"},
        {"id": "o", "title": "Old task", "project": "old", "completed": True},
        {"title": "Sub of Inbox A", "parent": "i1", "project": "in"},
    ],
}
V2_OUTLINE = [
    "#Inbox",
    "  Inbox A",
    "    Sub of Inbox A",
    "  Inbox B",
    "  Inbox no position",
    "  /Later",
    "    Later one",
    "#Home favorite teal",
    "  Home loose",
    "  /Kitchen",
    "    Kitchen first",
    "    Level 1",
    "      Level 2",
    "        Level 3",
    "          Level 4",
    "  /Garden",
    "    Garden",
    "#Old stuff archived",
    "  Old task",
]


async def test_version_2_round_trips_into_a_fresh_account(client: httpx.AsyncClient) -> None:
    source = await make_account(client)
    r = await import_file(client, source, json.dumps(V2).encode())
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == {"tasks": 13, "tags": 0, "projects": 2, "sections": 3}
    assert [p["name"] for p in r.json()["projects"]] == ["Home", "Old stuff"]
    assert await outline(client, source) == V2_OUTLINE
    # Reorder by hand through the API: the export carries the new order.
    tasks = {t["title"]: t for t in await api_tasks(client, source)}
    r = await client.patch(
        f"{TASKS}/{tasks['Inbox no position']['id']}", json={"at": "first"}, headers=source.headers
    )
    assert r.status_code == 200, r.text
    expected = [V2_OUTLINE[0], "  Inbox no position", *V2_OUTLINE[1:4], *V2_OUTLINE[5:]]
    assert await outline(client, source) == expected

    first = (await export(client, source)).json()
    assert first["version"] == 2
    target = await make_account(client)
    r = await import_file(client, target, json.dumps(first).encode())
    assert r.status_code == 200, r.text
    assert await outline(client, target) == expected
    second = (await export(client, target)).json()
    assert comparable(second) == comparable(first)
    # Importing it again beside it: new projects get free names, the Inbox fills after.
    r = await import_file(client, target, json.dumps(first).encode())
    assert [p["name"] for p in r.json()["projects"]] == ["Home (2)", "Old stuff (2)"]
    again = await outline(client, target)
    assert again[:9] == [
        "#Inbox",
        "  Inbox no position",
        "  Inbox A",
        "    Sub of Inbox A",
        "  Inbox B",
        "  Inbox no position",
        "  Inbox A",
        "    Sub of Inbox A",
        "  Inbox B",
    ]
    assert again[9:13] == ["  /Later", "    Later one", "  /Later", "    Later one"]


def _v2(*tasks: dict[str, Any], projects: list[dict[str, Any]] | None = None) -> bytes:
    doc = {"format": "doable.export", "version": 2, "tasks": list(tasks)}
    doc["projects"] = projects if projects is not None else V2["projects"]
    return json.dumps(doc).encode()


BAD_OUTLINES: dict[str, tuple[bytes, list[tuple[str, str]]]] = {
    "a cycle": (
        _v2(
            {"id": "a", "title": "A", "parent": "b"},
            {"id": "b", "title": "B", "parent": "a"},
            {"id": "c", "title": "C", "parent": "c"},
        ),
        [
            ("/tasks/0/parent", "the parents form a cycle"),
            ("/tasks/1/parent", "the parents form a cycle"),
            ("/tasks/2/parent", "the parents form a cycle"),
        ],
    ),
    "an unknown parent": (
        _v2({"id": "a", "title": "A", "parent": "nobody"}),
        [("/tasks/0/parent", "no task in the file has the id 'nobody'")],
    ),
    "an unknown section": (
        _v2({"title": "A", "section": "nowhere"}),
        [("/tasks/0/section", "no section has the id 'nowhere'")],
    ),
    "an unknown project": (
        _v2({"title": "A", "project": "nowhere"}),
        [("/tasks/0/project", "no project has the id 'nowhere'")],
    ),
    "a section of another project": (
        _v2({"title": "A", "project": "old", "section": "h1"}),
        [("/tasks/0/section", "the section belongs to another project")],
    ),
    "a subtask elsewhere than its parent": (
        _v2({"id": "a", "title": "A"}, {"title": "B", "parent": "a", "project": "home"}),
        [
            (
                "/tasks/1/parent",
                "a subtask is in its parent's project and section; this one names others",
            )
        ],
    ),
    "depth past four": (
        _v2(
            {"id": "1", "title": "1"},
            {"id": "2", "title": "2", "parent": "1"},
            {"id": "3", "title": "3", "parent": "2"},
            {"id": "4", "title": "4", "parent": "3"},
            {"id": "5", "title": "5", "parent": "4"},
            {"id": "6", "title": "6", "parent": "5"},
        ),
        [("/tasks/4/parent", "subtasks go at most 4 levels deep; this one is at level 5")],
    ),
    "duplicate ids": (
        _v2({"id": "a", "title": "A"}, {"id": "a", "title": "B"}),
        [("/tasks/1/id", "duplicates the id of /tasks/0")],
    ),
    "two inboxes": (
        _v2({"title": "A"}, projects=[{"name": "Inbox", "inbox": True}] * 2),
        [("/projects/1/inbox", "/projects/0 is the Inbox already")],
    ),
    "a bad colour and an empty name": (
        _v2({"title": "A"}, projects=[{"name": " ", "color": "mauve"}]),
        [
            ("/projects/0/name", "String should have at least 1 character"),
            (
                "/projects/0/color",
                "Input should be 'grey', 'red', 'orange', 'yellow', 'olive', 'green', 'teal', "
                "'blue', 'indigo', 'purple', 'pink' or 'brown'",
            ),
        ],
    ),
    "version 2 fields in version 1": (
        json.dumps(
            {
                "format": "doable.export",
                "version": 1,
                "projects": [],
                "tasks": [{"title": "A", "parent": "x"}],
            }
        ).encode(),
        [
            ("/projects", "projects are part of version 2; this document is version 1"),
            ("/tasks/0/parent", "parent is part of version 2, not version 1"),
            ("/tasks/0/parent", "Extra inputs are not permitted"),
        ],
    ),
}


@pytest.mark.parametrize("case", list(BAD_OUTLINES))
async def test_bad_outlines_are_422_and_store_nothing(
    client: httpx.AsyncClient, database: Database, case: str
) -> None:
    acct = await make_account(client)
    await make_task(client, acct, title="kept")
    before = await snapshot(database)
    body, errors = BAD_OUTLINES[case]
    r = await import_file(client, acct, body)
    problem = assert_problem(r, 422)
    assert [(e["pointer"], e["msg"]) for e in problem["errors"]] == errors
    assert await snapshot(database) == before


# The CLI


async def test_cli_imports_a_todoist_file_into_a_project(
    client: httpx.AsyncClient, database: Database, data_dir: Path, tmp_path: Path
) -> None:
    acct = await make_account(client)
    path = tmp_path / "Weekend plans.csv"
    path.write_bytes(PROJECT_CSV)
    result = _cli(database, data_dir, "import", "--user", acct.email, str(path))
    assert result.returncode == 0, result.stderr
    made = (await outline(client, acct))[1]
    assert made == "#Weekend plans"
    result = _cli(
        database, data_dir, "import", "--user", acct.email, "--project", "Trip", str(path)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines()[0] == (
        f"imported 12 tasks and 0 new tags into {acct.email}"
    )
    assert result.stdout.decode().splitlines()[1].startswith("created project 'Trip' (")
    got = await outline(client, acct, show="pr")
    assert got[got.index("#Trip") :] == PROJECT_OUTLINE[1:]
    bad = _cli(database, data_dir, "import", "--user", acct.email, "--project", "", str(path))
    assert bad.returncode == 1
    assert bad.stderr.decode().strip() == (
        "error: --project: String should have at least 1 character"
    )
