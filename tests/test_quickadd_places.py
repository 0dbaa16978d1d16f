"""Quick add aims at projects and sections (issue 15): `#Project`, `/Section`, `@label` and
Todoist's `p1`-`p4`, in the parser with a catalog of places and over HTTP."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import httpx
import pytest

from doable.db import Database
from doable.tasks.quickadd import parse
from doable.tasks.quickplaces import Catalog, ProjectPlace, SectionPlace
from tests.factories import assert_problem, make_account
from tests.organise import inbox_of, make_project, set_archived
from tests.test_query_counts import count_statements
from tests.test_quickadd import BERLIN, NOW, PARSE, QUICK, TASKS, _check_tokens


def _section(name: str) -> SectionPlace:
    return SectionPlace(uuid.uuid4(), name)


INBOX = ProjectPlace(uuid.uuid4(), "Inbox", inbox=True, sections=(_section("Later"),))
WORK = ProjectPlace(uuid.uuid4(), "Work", sections=(_section("Meetings"), _section("Two words")))
HOME = ProjectPlace(uuid.uuid4(), "Home")
HOME_IMPROVEMENT = ProjectPlace(uuid.uuid4(), "Home improvement")
CPP = ProjectPlace(uuid.uuid4(), "C++")
TWO = ProjectPlace(uuid.uuid4(), "Two  Words")  # runs of spaces match one space
SAME_NAME = ProjectPlace(uuid.uuid4(), "work")  # after WORK: the first one wins
CATALOG = Catalog([INBOX, WORK, HOME, HOME_IMPROVEMENT, CPP, TWO, SAME_NAME])


@dataclass(frozen=True)
class P:
    text: str
    title: str
    project: str = "Inbox"
    section: str | None = None
    tags: tuple[str, ...] = ()
    priority: str = "none"
    warnings: tuple[str, ...] = ()


PHRASES = [
    P("Plan sprint #Work", "Plan sprint", "Work"),
    P("Plan sprint #work", "Plan sprint", "Work"),  # any case; the first "work" wins
    P("Buy milk #errands", "Buy milk", tags=("errands",)),  # no such project: a tag
    P("Buy milk @errands", "Buy milk", tags=("errands",)),
    P("Buy milk @work", "Buy milk", tags=("work",)),  # @ is always a tag
    P("Buy milk #a/b", "Buy milk", tags=("a/b",)),
    P("Agenda #Work /Meetings", "Agenda", "Work", "Meetings"),
    P("Agenda /meetings #Work", "Agenda", "Work", "Meetings"),  # the project may come later
    P("Agenda #Work /Two words", "Agenda", "Work", "Two words"),
    P('Agenda #Work /"Two words"', "Agenda", "Work", "Two words"),
    P("Agenda #Work /Two_words", "Agenda", "Work", "Two words"),
    P("Someday /Later", "Someday", "Inbox", "Later"),
    P("Someday #Inbox /Later", "Someday", "Inbox", "Later"),
    P(
        "Agenda /Meetings",
        "Agenda /Meetings",
        warnings=("There is no section Meetings in Inbox; it stays in the title",),
    ),
    P("Check /etc/hosts", "Check /etc/hosts"),  # not a section name: no warning
    P("Paint #Home improvement ideas", "Paint ideas", "Home improvement"),  # the longest name
    P("Paint #Home walls", "Paint walls", "Home"),
    P("Paint #Home_improvement", "Paint", "Home improvement"),
    P("Learn #C++", "Learn", "C++"),
    P('Plan #"Two words" now', "Plan now", "Two  Words"),
    P("Plan #two words", "Plan", "Two  Words"),
    P(
        'Plan #"No such" thing',
        'Plan #"No such" thing',
        warnings=('There is no project "No such"; it stays in the title',),
    ),
    P(
        "Plan #Work #Home",
        "Plan #Home",
        "Work",
        warnings=("Only the first project is used; “#Home” stays in the title",),
    ),
    P(
        "Plan #Work /Meetings /Two words",
        "Plan /Two words",
        "Work",
        "Meetings",
        warnings=("Only the first section is used; “/Two words” stays in the title",),
    ),
    # Todoist's priorities: p1 is urgent, p4 is none.
    P("Ship it p1", "Ship it", priority="urgent"),
    P("Ship it P2", "Ship it", priority="high"),
    P("Ship it p3", "Ship it", priority="medium"),
    P("Ship it p4", "Ship it", priority="none"),
    P("Ship it p5", "Ship it p5"),
    P("Ship it p1.", "Ship it p1."),
    P(
        "Ship it !low p1",
        "Ship it p1",
        priority="low",
        warnings=("Only the first priority is used; “p1” stays in the title",),
    ),
    P(
        "Deploy #Work /Meetings @ops p2 tomorrow",
        "Deploy",
        "Work",
        "Meetings",
        tags=("ops",),
        priority="high",
    ),
    P("Tag @12 and @", "Tag @12 and @"),
    P(
        "Tag @home.",
        "Tag @home.",
        warnings=("“@home.” is not a tag: a tag is @ and a word with a letter",),
    ),
]


@pytest.mark.parametrize("p", PHRASES, ids=[p.text for p in PHRASES])
def test_places(p: P) -> None:
    parsed = parse(p.text, zone=BERLIN, now=NOW, catalog=CATALOG)
    got = (
        parsed.title,
        parsed.project.name if parsed.project else None,
        parsed.section.name if parsed.section else None,
        tuple(parsed.tags),
        parsed.priority,
        tuple(parsed.warnings),
    )
    assert got == (p.title, p.project, p.section, p.tags, p.priority, p.warnings)
    _check_tokens(p.text, parsed)


def test_the_first_of_two_projects_with_one_name_wins() -> None:
    assert parse("x #WORK", zone=BERLIN, now=NOW, catalog=CATALOG).project == WORK


def test_token_kinds() -> None:
    parsed = parse("Agenda #Work /Two words p1", zone=BERLIN, now=NOW, catalog=CATALOG)
    assert [(t.kind, t.text) for t in parsed.tokens] == [
        ("project", "#Work"),
        ("section", "/Two words"),
        ("priority", "p1"),
    ]


def test_without_a_catalog_hash_is_a_tag_as_before() -> None:
    parsed = parse("x #Work /Meetings p1 @home", zone=BERLIN, now=NOW)
    assert (parsed.title, parsed.tags, parsed.priority) == (
        "x /Meetings",
        ["Work", "home"],
        "urgent",
    )
    assert parsed.project is None and parsed.section is None and parsed.warnings == []


# A catalog built to be slow: names of many words that share their beginnings.
_LONG = " ".join(["a"] * 59)
SLOW = Catalog(
    [
        INBOX,
        ProjectPlace(uuid.uuid4(), _LONG + " b", sections=(_section(_LONG + " b"),)),
        ProjectPlace(uuid.uuid4(), _LONG + " c"),
    ]
)


@pytest.mark.parametrize(
    "text",
    ["#a " * 3400, "/a " * 3400, '#"a ' * 2500, "p1 " * 3400, "@a " * 3400, "#" + _LONG + " b "],
    ids=lambda t: f"{t[:6]!r}x{len(t)}",
)
def test_names_parse_quickly(text: str) -> None:
    text = text[:10_000]
    started = time.perf_counter()
    parsed = parse(text, zone=BERLIN, now=NOW, catalog=SLOW)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, elapsed  # a guard against quadratic work, not a benchmark
    _check_tokens(text, parsed)


# HTTP


async def test_parse_shows_where_the_task_goes(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client, timezone="Europe/Berlin")
    work = await make_project(database, acct, "Work", sections=["Meetings"])
    inbox = await inbox_of(database, acct)
    r = await client.post(PARSE, json={"text": "Agenda #work /Meetings p1"}, headers=acct.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["title"], body["priority"], body["tags"]) == ("Agenda", "urgent", [])
    assert body["project"] == {"id": work.id, "name": "Work"}
    assert body["section"] == {"id": work.sections["Meetings"], "name": "Meetings"}
    assert [(t["kind"], t["text"]) for t in body["tokens"]] == [
        ("project", "#work"),
        ("section", "/Meetings"),
        ("priority", "p1"),
    ]
    r = await client.post(PARSE, json={"text": "Buy milk #errands"}, headers=acct.headers)
    assert r.json()["project"] == {"id": inbox, "name": "Inbox"}
    assert (r.json()["tags"], r.json()["section"]) == (["errands"], None)


async def test_quick_creates_the_task_in_the_project_and_section(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    work = await make_project(database, acct, "Work", sections=["Meetings"])
    r = await client.post(
        QUICK, json={"text": "Agenda #Work /Meetings @prep p2"}, headers=acct.headers
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["title"], body["priority"], body["tags"]) == ("Agenda", "high", ["prep"])
    assert (body["project_id"], body["section_id"]) == (work.id, work.sections["Meetings"])
    listed = await client.get(TASKS, params={"project_id": work.id}, headers=acct.headers)
    assert [t["id"] for t in listed.json()["items"]] == [body["id"]]

    r = await client.post(QUICK, json={"text": "Buy milk #errands"}, headers=acct.headers)
    assert r.json()["project_id"] == await inbox_of(database, acct)
    assert r.json()["tags"] == ["errands"]


async def test_archived_and_other_users_projects_are_tags(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await make_account(client)
    bob = await make_account(client)
    old = await make_project(database, alice, "Old", sections=["Part"])
    await make_project(database, bob, "Secret")
    await set_archived(database, alice, old.id, True)
    r = await client.post(QUICK, json={"text": "x #Old #Secret"}, headers=alice.headers)
    assert r.status_code == 201, r.text
    assert r.json()["project_id"] == await inbox_of(database, alice)
    assert r.json()["tags"] == ["Old", "Secret"]
    # Unarchived, the name aims at the project again.
    await set_archived(database, alice, old.id, False)
    r = await client.post(QUICK, json={"text": "y #Old /Part"}, headers=alice.headers)
    assert (r.json()["project_id"], r.json()["section_id"]) == (old.id, old.sections["Part"])


async def test_only_places_left_is_no_title(client: httpx.AsyncClient, database: Database) -> None:
    acct = await make_account(client)
    await make_project(database, acct, "Work")
    assert_problem(await client.post(QUICK, json={"text": "#Work p1"}, headers=acct.headers), 422)
    assert (await client.get(TASKS, headers=acct.headers)).json()["items"] == []


async def test_parse_reads_the_places_in_two_statements(
    client: httpx.AsyncClient, database: Database
) -> None:
    """The user, then their active projects and their sections: as many statements for
    twelve projects with sections as for the Inbox alone (no query per project)."""
    acct = await make_account(client)
    text = {"text": "Agenda #Project 7 /Part 2"}
    with count_statements(database) as alone:
        r = await client.post(PARSE, json=text, headers=acct.headers)
    assert r.json()["project"]["name"] == "Inbox"
    for i in range(12):
        await make_project(database, acct, f"Project {i}", sections=["Part 1", "Part 2"])
    with count_statements(database) as many:
        r = await client.post(PARSE, json=text, headers=acct.headers)
    assert (r.json()["project"]["name"], r.json()["section"]["name"]) == ("Project 7", "Part 2")
    assert len(many) == len(alone) == 3, many
