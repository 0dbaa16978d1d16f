"""Search answers the same with and without each backend's trigram index (tasks/search.py), and
MariaDB's task_grams (migration 0026) follows every write."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from doable.db import Database
from doable.projects.access import Role
from doable.tasks import search
from tests.factories import make_account, make_task
from tests.test_query_counts import count_statements
from tests.test_sharing_core import share

TASKS = "/api/v1/tasks"

# (title, description)
TEXTS = [
    ("Call the plumber", ""),
    ("Café au lait", "with CAFE crème"),
    ("İstanbul trip", "Ünïcode Straße"),
    ("100% done_ish", "back\\slash and 'quotes' and \"double\""),
    ("emoji 🎉 party", "combining e\u0301 accent"),
    ("the and for", "stopwords of InnoDB: are was www"),
    ("tiny", "x" * 600 + " needle hidden deep in a long description"),
    ("MiXeD CaSe QuOkKa", ""),
    ("numbers 2026-12-07", "version v10.11.19"),
    ("Ω omega", "中文 搜索 测试"),
]
QUERIES = [
    "plumb",
    "PLUMBER",
    "the plumber",
    "call the",
    "l t",
    "caf",
    "cafe",
    "café",
    "crème",
    "İstanbul",
    "istanbul",
    "straße",
    "strasse",
    "100%",
    "%",
    "_",
    "e_i",
    "\\",
    "back\\slash",
    "'quotes'",
    '"double"',
    "🎉",
    "emoji 🎉",
    "e\u0301",
    "the",
    "and for",
    "www",
    "needle",
    "needle hidden deep in a long description",
    "quokka",
    "okk",
    "2026-12",
    "10.11",
    "中文",
    "ω",
    "xx",
    "x",
    "zzz",
    "plumberx",
]


async def _titles(client: httpx.AsyncClient, headers: dict[str, str], q: str) -> list[str]:
    r = await client.get(TASKS, params={"q": q, "limit": 100}, headers=headers)
    assert r.status_code == 200, (q, r.text)
    return sorted(t["title"] for t in r.json()["items"])


async def test_odd_searches_answer_the_same_with_and_without_the_index(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    acct = await make_account(client)
    for title, description in TEXTS:
        await make_task(client, acct, title=title, description=description)
    with_index = {q: await _titles(client, acct.headers, q) for q in QUERIES}

    async def no_candidates(*args: object) -> None:
        return None

    monkeypatch.setattr(search, "candidates", no_candidates)
    scanned = {q: await _titles(client, acct.headers, q) for q in QUERIES}
    assert with_index == scanned
    # The same answers on every backend: case folded, accents and signs as they are.
    assert with_index["PLUMBER"] == with_index["the plumber"] == ["Call the plumber"]
    assert with_index["cafe"] == ["Café au lait"]  # its description's "CAFE"
    assert with_index["café"] == ["Café au lait"]
    assert with_index["strasse"] == []
    assert with_index["the"] == sorted(["Call the plumber", "the and for"])
    assert with_index["www"] == ["the and for"]
    assert with_index["needle hidden deep in a long description"] == ["tiny"]
    assert with_index["okk"] == ["MiXeD CaSe QuOkKa"]
    assert with_index["%"] == ["100% done_ish"]
    assert with_index["\\"] == ["100% done_ish"]
    assert with_index["中文"] == ["Ω omega"]
    assert with_index["zzz"] == with_index["plumberx"] == []
    assert with_index["2026-12"] == ["numbers 2026-12-07"]
    assert with_index["10.11"] == ["numbers 2026-12-07"]


def is_mariadb(database: Database) -> bool:
    return bool(getattr(database.engine.dialect, "is_mariadb", False))


async def _grams_rows(database: Database) -> int:
    async with database.engine.connect() as conn:
        return int((await conn.execute(text("SELECT COUNT(*) FROM task_grams"))).scalar_one())


async def test_mariadb_task_grams_follow_every_write(
    client: httpx.AsyncClient, database: Database
) -> None:
    """A search right after each write finds the task by its new text, through the index (the
    statements show the MATCH), and no longer by its old text; a deleted task leaves no row."""
    if not is_mariadb(database):
        pytest.skip("task_grams is MariaDB's (migration 0026)")
    acct = await make_account(client)
    task = await make_task(client, acct, title="Quarterly zebra report", description="draft")
    before = await _grams_rows(database)
    with count_statements(database) as statements:
        assert await _titles(client, acct.headers, "zebra") == ["Quarterly zebra report"]
    assert any("task_grams" in s and "MATCH" in s for s in statements), statements

    url = f"{TASKS}/{task['id']}"
    r = await client.patch(url, json={"title": "Quarterly okapi report"}, headers=acct.headers)
    assert r.status_code == 200, r.text
    assert await _titles(client, acct.headers, "okapi") == ["Quarterly okapi report"]
    assert await _titles(client, acct.headers, "zebra") == []
    r = await client.patch(url, json={"description": "giraffe notes"}, headers=acct.headers)
    assert r.status_code == 200, r.text
    assert await _titles(client, acct.headers, "giraffe") == ["Quarterly okapi report"]
    assert await _titles(client, acct.headers, "draft") == []
    # A change of case only is a change: the index holds the lowered text either way.
    r = await client.patch(url, json={"title": "QUARTERLY OKAPI REPORT"}, headers=acct.headers)
    assert await _titles(client, acct.headers, "okapi") == ["QUARTERLY OKAPI REPORT"]
    r = await client.post(f"{url}/complete", headers=acct.headers)
    assert r.status_code == 200, r.text
    assert await _titles(client, acct.headers, "okapi") == ["QUARTERLY OKAPI REPORT"]
    assert await _grams_rows(database) == before

    # A task handed to another owner is found by the new owner's search, through the index.
    other = await make_account(client)
    async with database.engine.begin() as conn:
        await conn.execute(
            text("UPDATE tasks SET owner_id = :owner WHERE id = :id"),
            {"owner": other.id, "id": task["id"]},
        )
    with count_statements(database) as statements:
        assert await _titles(client, other.headers, "okapi") == ["QUARTERLY OKAPI REPORT"]
    assert any("task_grams" in s for s in statements), statements
    assert await _titles(client, acct.headers, "okapi") == []
    async with database.engine.begin() as conn:
        await conn.execute(
            text("UPDATE tasks SET owner_id = :owner WHERE id = :id"),
            {"owner": acct.id, "id": task["id"]},
        )

    r = await client.delete(url, headers=acct.headers)
    assert r.status_code == 204, r.text
    assert await _titles(client, acct.headers, "okapi") == []
    assert await _grams_rows(database) == before - 1


async def test_mariadb_search_for_a_common_text_walks_instead(
    client: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past GRAMS_MAX_CANDIDATES rows the query goes without the candidates (the owner's index
    in page order finds a page sooner), and answers the same."""
    if not is_mariadb(database):
        pytest.skip("task_grams is MariaDB's (migration 0026)")
    monkeypatch.setattr(search, "GRAMS_MAX_CANDIDATES", 2)
    acct = await make_account(client)
    for i in range(4):
        await make_task(client, acct, title=f"walrus {i}")
    with count_statements(database) as statements:
        found = await _titles(client, acct.headers, "walrus")
    assert found == [f"walrus {i}" for i in range(4)]
    assert any("task_grams" in s for s in statements), statements
    page = [s for s in statements if "FROM tasks" in s and "task_grams" not in s]
    assert page and all("tasks.id IN" not in s for s in page), statements


def test_grams_of_keeps_the_rarest_trigrams_of_ascii_letters_and_digits() -> None:
    assert search.grams_of("call the") == ["cal", "all"]
    assert search.grams_of("é_x%ab") == []
    assert search.grams_of("aaaa") == ["aaa"]
    assert search.grams_of("zanzibar") == ["zib", "nzi"]
    assert len(search.grams_of("abcdefghijklmnopqrstuvwxyz")) == search.MAX_GRAMS


async def test_mariadb_grams_are_the_owners_and_members_still_find_shared_tasks(
    client: httpx.AsyncClient, database: Database
) -> None:
    """The index's words carry the owner's tag: one owner's search never takes another's tasks
    as candidates, and a member's search (which walks) finds the shared project's tasks."""
    if not is_mariadb(database):
        pytest.skip("task_grams is MariaDB's (migration 0026)")
    owner, member, stranger = [await make_account(client) for _ in range(3)]
    r = await client.post("/api/v1/projects", json={"name": "Zoo"}, headers=owner.headers)
    project = r.json()["id"]
    await make_task(client, owner, title="Feed the capybara", project_id=project)
    await make_task(client, stranger, title="Stranger's capybara")
    await make_task(client, member, title="Member's own capybara")
    await share(database, owner, project, member, Role.EDITOR)
    with count_statements(database) as statements:
        assert await _titles(client, owner.headers, "capybara") == ["Feed the capybara"]
    # The MATCH itself (the first search of a process also asks once whether the index is there).
    probes = [s for s in statements if "AGAINST" in s]
    assert len(probes) == 1, statements
    assert await _titles(client, stranger.headers, "capybara") == ["Stranger's capybara"]
    with count_statements(database) as statements:
        found = await _titles(client, member.headers, "capybara")
    assert found == ["Feed the capybara", "Member's own capybara"]
    assert not any("task_grams" in s for s in statements), statements
