"""Archived projects leave search and the Today and Upcoming lists (issue 15): `q=` across
everything finds only active projects' tasks, unless the project is named."""

from __future__ import annotations

from datetime import date, timedelta

import httpx

from doable.db import Database
from tests.factories import make_account, make_task
from tests.organise import make_project, set_archived

TASKS = "/api/v1/tasks"


async def test_search_and_views_leave_archived_projects_out(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client, timezone="UTC")
    work = await make_project(database, acct, "Work")
    old = await make_project(database, acct, "Old")
    today = date.today().isoformat()
    soon = (date.today() + timedelta(days=2)).isoformat()
    inbox_hit = await make_task(client, acct, title="Report inbox", due=today)
    work_hit = await make_task(client, acct, title="Report work", project_id=work.id, due=soon)
    old_hit = await make_task(client, acct, title="Report old", project_id=old.id, due=today)
    await make_task(client, acct, title="Other", project_id=old.id, due=soon)
    await set_archived(database, acct, old.id, True)

    async def ids(**params: str) -> list[str]:
        r = await client.get(TASKS, params={"sort": "title", **params}, headers=acct.headers)
        assert r.status_code == 200, r.text
        return [t["id"] for t in r.json()["items"]]

    assert await ids(q="report") == [inbox_hit["id"], work_hit["id"]]
    assert await ids(q="REPORT", status="pending") == [inbox_hit["id"], work_hit["id"]]
    assert await ids(when="today") == [inbox_hit["id"]]
    assert await ids(when="upcoming") == [work_hit["id"]]

    await set_archived(database, acct, old.id, False)
    assert await ids(q="report") == [inbox_hit["id"], old_hit["id"], work_hit["id"]]
    assert await ids(when="today") == [inbox_hit["id"], old_hit["id"]]
