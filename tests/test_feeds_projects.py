"""Calendar feeds and projects (issue 15): a feed made for one project, and archived projects'
tasks left out of every feed (their own one's too, until unarchived), parsed with icalendar."""

from __future__ import annotations

import httpx

from doable.db import Database
from tests.factories import assert_problem, make_account, make_task
from tests.organise import delete_project, make_project, set_archived
from tests.test_feeds import FEEDS, by_summary, fetch, make_feed, path_of

NOBODY = "00000000-0000-4000-8000-000000000000"


async def test_a_feed_for_one_project_and_archived_projects_left_out(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    work = await make_project(database, acct, "Work")
    old = await make_project(database, acct, "Old")
    await make_task(client, acct, title="Inbox task", due="2031-01-02")
    await make_task(client, acct, title="Work task", due="2031-01-03", project_id=work.id)
    await make_task(client, acct, title="Old task", due="2031-01-04", project_id=old.id)
    everything = await make_feed(client, acct, name="All")
    only_work = await make_feed(client, acct, name="Work", project_id=work.id)
    only_old = await make_feed(client, acct, name="Old", project_id=old.id, kind="vevent")
    assert (everything["project_id"], only_work["project_id"]) == (None, work.id)
    listed = (await client.get(FEEDS, headers=acct.headers)).json()
    assert {f["name"]: f["project_id"] for f in listed} == {
        "All": None,
        "Work": work.id,
        "Old": old.id,
    }

    assert set(by_summary(await fetch(client, everything["url"]))) == {
        "Inbox task",
        "Work task",
        "Old task",
    }
    assert set(by_summary(await fetch(client, only_work["url"]))) == {"Work task"}
    assert set(by_summary(await fetch(client, only_old["url"]), "VEVENT")) == {"Old task"}
    etag = (await client.get(path_of(everything["url"]))).headers["etag"]

    await set_archived(database, acct, old.id, True)
    r = await client.get(path_of(everything["url"]), headers={"If-None-Match": etag})
    assert r.status_code == 200  # archiving changed what it publishes, and its ETag
    assert set(by_summary(await fetch(client, everything["url"]))) == {"Inbox task", "Work task"}
    # The archived project's own feed is an empty calendar, still a valid one.
    calendar = await fetch(client, only_old["url"])
    assert calendar.name == "VCALENDAR" and by_summary(calendar, "VEVENT") == {}

    await set_archived(database, acct, old.id, False)
    assert set(by_summary(await fetch(client, only_old["url"]), "VEVENT")) == {"Old task"}
    assert len(by_summary(await fetch(client, everything["url"]))) == 3

    # A deleted project's feed stays, empty, until revoked.
    await delete_project(database, acct, work.id)
    assert by_summary(await fetch(client, only_work["url"])) == {}
    assert set(by_summary(await fetch(client, everything["url"]))) == {"Inbox task", "Old task"}


async def test_another_users_or_no_project_is_404(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await make_account(client)
    bob = await make_account(client)
    work = await make_project(database, alice, "Work")
    for project_id in (work.id, NOBODY):
        r = await client.post(
            FEEDS, json={"name": "Spy", "project_id": project_id}, headers=bob.headers
        )
        assert assert_problem(r, 404)["detail"] == "No such project"
    assert (await client.get(FEEDS, headers=bob.headers)).json() == []
    r = await client.post(FEEDS, json={"name": "Bad", "project_id": "nope"}, headers=bob.headers)
    assert_problem(r, 422)
