"""What an export holds of shared projects: the owner's export has the project and every task in
it (a member's too); a member's export lists the project in `shared_projects` (name, owner,
role) and leaves its tasks out; a removed member's export no longer lists it; and a member's
export imports back without joining or copying anything."""

from __future__ import annotations

import csv
import io

import httpx

from doable.db import Database
from doable.projects.access import Role
from tests.test_sharing_core import PROJECTS, add, setup, share, unshare
from tests.test_transfer import export, import_file


async def test_a_members_export_lists_shared_projects_without_their_tasks(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, member, _, project = await setup(client)
    r = await client.patch("/api/v1/me", json={"name": "Olive Owner"}, headers=owner.headers)
    assert r.status_code == 200, r.text
    await share(database, owner, project["id"], member, Role.EDITOR)
    await add(client, owner, title="Owner's shared task", project_id=project["id"])
    r = await add(client, member, title="Made by the member", project_id=project["id"])
    assert r.status_code == 201, r.text
    await add(client, member, title="Member's private task")

    theirs = (await export(client, owner)).json()
    assert sorted(t["title"] for t in theirs["tasks"]) == [
        "Made by the member",
        "Owner's shared task",
    ]
    assert [p["name"] for p in theirs["projects"]] == ["Inbox", "Household"]
    assert theirs["shared_projects"] == []

    mine = (await export(client, member)).json()
    assert [t["title"] for t in mine["tasks"]] == ["Member's private task"]
    assert [p["name"] for p in mine["projects"]] == ["Inbox"]
    assert mine["shared_projects"] == [
        {"name": "Household", "owner": "Olive Owner", "role": "editor"}
    ]
    rows = list(csv.DictReader(io.StringIO((await export(client, member, "csv")).text)))
    assert [row["title"] for row in rows] == ["Member's private task"]

    # It imports back as it is: the list is informational, nothing is joined or copied.
    r = await import_file(client, member, (await export(client, member)).content)
    assert r.status_code == 200, r.text
    assert (r.json()["imported"]["tasks"], r.json()["imported"]["projects"]) == (1, 0)
    names = [p["name"] for p in (await client.get(PROJECTS, headers=member.headers)).json()]
    assert names == ["Inbox", "Household"]

    await unshare(database, owner, project["id"], member)
    assert (await export(client, member)).json()["shared_projects"] == []
