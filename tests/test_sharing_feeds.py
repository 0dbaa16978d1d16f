"""Calendar feeds of members: a member's feeds (all tasks, or one shared project) serve the
shared project's dated tasks while they are a member; once removed, the same URLs serve an
empty but valid calendar (the feed stays theirs until revoked, like a deleted project's), and
neither the ETag nor the render cache lets the old content through."""

from __future__ import annotations

import httpx

from doable.db import Database
from doable.projects.access import Role
from tests.factories import assert_problem
from tests.test_feeds import FEEDS, by_summary, categories, fetch, make_feed, path_of
from tests.test_sharing_core import TASKS, add, setup, share, unshare


async def test_a_members_feeds_serve_the_shared_project_until_removed(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, member, stranger, project = await setup(client)
    r = await add(
        client, owner, title="Bins out", due="2031-03-04", project_id=project["id"], tags=["home"]
    )
    assert r.status_code == 201, r.text
    shared_task = r.json()
    await add(client, owner, title="Owner only", due="2031-03-05")
    await add(client, member, title="Member own", due="2031-03-06")

    # A stranger cannot make a feed of the project.
    r = await client.post(
        FEEDS, json={"name": "Spy", "project_id": project["id"]}, headers=stranger.headers
    )
    assert_problem(r, 404)

    await share(database, owner, project["id"], member, Role.VIEWER)
    everything = await make_feed(client, member, name="All")
    only_shared = await make_feed(client, member, name="Household", project_id=project["id"])
    calendar = by_summary(await fetch(client, everything["url"]))
    assert set(calendar) == {"Bins out", "Member own"}
    assert categories(calendar["Bins out"]) == ["home"]
    assert set(by_summary(await fetch(client, only_shared["url"]))) == {"Bins out"}
    etags = {
        name: (await client.get(path_of(feed["url"]))).headers["etag"]
        for name, feed in (("all", everything), ("one", only_shared))
    }

    # The owner's change shows in the member's feed (the ETag follows the shared task).
    r = await client.patch(
        f"{TASKS}/{shared_task['id']}", json={"title": "Bins out tonight"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    r = await client.get(path_of(everything["url"]), headers={"If-None-Match": etags["all"]})
    assert r.status_code == 200
    assert set(by_summary(await fetch(client, everything["url"]))) == {
        "Bins out tonight",
        "Member own",
    }
    etags["all"] = r.headers["etag"]

    # Removed: the same URLs stop serving the project at once; no 304 with the old ETag, no
    # cached rendering of its task.
    await unshare(database, owner, project["id"], member)
    for name, feed in (("all", everything), ("one", only_shared)):
        r = await client.get(path_of(feed["url"]), headers={"If-None-Match": etags[name]})
        assert r.status_code == 200, name
        assert "Bins out" not in r.text
    assert set(by_summary(await fetch(client, everything["url"]))) == {"Member own"}
    calendar_after = await fetch(client, only_shared["url"])
    assert calendar_after.name == "VCALENDAR" and by_summary(calendar_after) == {}
    # The feed is still listed (theirs to revoke), and the owner's own feed is untouched.
    listed = (await client.get(FEEDS, headers=member.headers)).json()
    assert {f["name"] for f in listed} == {"All", "Household"}
    own = await make_feed(client, owner, name="Owner")
    assert set(by_summary(await fetch(client, own["url"]))) == {"Bins out tonight", "Owner only"}

    # Shared again: served again.
    await share(database, owner, project["id"], member, Role.EDITOR)
    assert set(by_summary(await fetch(client, only_shared["url"]))) == {"Bins out tonight"}
