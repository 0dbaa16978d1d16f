"""Comments on tasks over HTTP: who may read, write, edit and delete them, bad input, who is
notified (assignee, creator, mentions, mutes), and that they go with their task."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from doable import events
from doable.comments.models import Comment
from doable.db import Database
from doable.projects.access import Role
from tests.factories import Account, assert_problem, bearer, make_account, make_api_token
from tests.test_sharing_core import share, unshare

PROJECTS = "/api/v1/projects"
TASKS = "/api/v1/tasks"
NOTIFICATIONS = "/api/v1/notifications"


async def person(client: httpx.AsyncClient, name: str) -> Account:
    return await make_account(client, name=name)


async def shared_task(
    client: httpx.AsyncClient, database: Database, **roles: Role
) -> tuple[Account, dict[str, Account], dict[str, Any], dict[str, Any]]:
    """An owner ("Olive Owner"), a project shared with one person per role given (named
    after the keyword), and a task of it the owner made."""
    owner = await person(client, "Olive Owner")
    r = await client.post(PROJECTS, json={"name": "Household"}, headers=owner.headers)
    project = r.json()
    people: dict[str, Account] = {}
    for name, role in roles.items():
        people[name] = await person(client, name.capitalize())
        await share(database, owner, project["id"], people[name], role)
    r = await client.post(
        TASKS, json={"title": "Fix the sink", "project_id": project["id"]}, headers=owner.headers
    )
    assert r.status_code == 201, r.text
    return owner, people, project, r.json()


def comments_of(task: dict[str, Any]) -> str:
    return f"{TASKS}/{task['id']}/comments"


async def comment(client: httpx.AsyncClient, who: Account, task: dict[str, Any], body: str) -> Any:
    r = await client.post(comments_of(task), json={"body": body}, headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def notes(client: httpx.AsyncClient, who: Account) -> list[tuple[str, str]]:
    r = await client.get(NOTIFICATIONS, headers=who.headers)
    assert r.status_code == 200, r.text
    return sorted((n["kind"], n["body"]) for n in r.json()["items"])


async def test_a_viewer_comments_and_everyone_in_the_project_reads_it(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, people, _, task = await shared_task(client, database, vera=Role.VIEWER)
    vera = people["vera"]
    made = await comment(client, vera, task, "  Done on Tuesday?  ")
    assert made["body"] == "Done on Tuesday?"
    assert made["author"] == {"id": vera.id, "name": "Vera"}
    assert made["edited_at"] is None
    r = await client.get(comments_of(task), headers=owner.headers)
    assert r.status_code == 200
    assert [(c["id"], c["body"]) for c in r.json()["items"]] == [(made["id"], "Done on Tuesday?")]
    # A viewer still cannot change the task itself.
    r = await client.patch(f"{TASKS}/{task['id']}", json={"title": "x"}, headers=vera.headers)
    assert_problem(r, 403)


async def test_comments_page_oldest_first(client: httpx.AsyncClient, database: Database) -> None:
    owner, _, _, task = await shared_task(client, database)
    bodies = [f"note {i}" for i in range(5)]
    for body in bodies:
        await comment(client, owner, task, body)
    seen: list[str] = []
    cursor = None
    for _ in range(4):
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = await client.get(comments_of(task), params=params, headers=owner.headers)
        page = r.json()
        seen += [c["body"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == bodies
    r = await client.get(comments_of(task), params={"cursor": "x.y"}, headers=owner.headers)
    assert_problem(r, 422)


async def test_only_the_author_edits_and_admins_may_delete(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, people, _, task = await shared_task(
        client, database, ed=Role.EDITOR, ada=Role.ADMIN, vic=Role.VIEWER
    )
    ed, ada, vic = people["ed"], people["ada"], people["vic"]
    made = await comment(client, ed, task, "first")
    one = f"{comments_of(task)}/{made['id']}"
    for other in (owner, ada, vic):
        r = await client.patch(one, json={"body": "hijacked"}, headers=other.headers)
        assert_problem(r, 403)
    # A viewer cannot delete someone else's comment; an admin can.
    assert_problem(await client.delete(one, headers=vic.headers), 403)
    r = await client.patch(one, json={"body": "first, edited"}, headers=ed.headers)
    assert r.status_code == 200, r.text
    assert r.json()["body"] == "first, edited"
    assert r.json()["edited_at"] is not None
    assert (await client.delete(one, headers=ada.headers)).status_code == 204
    assert_problem(await client.delete(one, headers=ed.headers), 404)
    # The author deletes their own; so does the owner anyone's.
    mine = await comment(client, vic, task, "viewer's")
    assert (
        await client.delete(f"{comments_of(task)}/{mine['id']}", headers=vic.headers)
    ).status_code == 204
    theirs = await comment(client, ed, task, "editor's")
    assert (
        await client.delete(f"{comments_of(task)}/{theirs['id']}", headers=owner.headers)
    ).status_code == 204
    r = await client.get(comments_of(task), headers=owner.headers)
    assert r.json()["items"] == []


async def test_strangers_and_removed_members_see_no_comments(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, people, project, task = await shared_task(client, database, mo=Role.EDITOR)
    mo = people["mo"]
    stranger = await make_account(client)
    made = await comment(client, mo, task, "hello")
    one = f"{comments_of(task)}/{made['id']}"
    for who in (stranger,):
        assert_problem(await client.get(comments_of(task), headers=who.headers), 404)
        r = await client.post(comments_of(task), json={"body": "hi"}, headers=who.headers)
        assert_problem(r, 404)
        assert_problem(await client.patch(one, json={"body": "x"}, headers=who.headers), 404)
        assert_problem(await client.delete(one, headers=who.headers), 404)
    await unshare(database, owner, project["id"], mo)
    assert_problem(await client.get(comments_of(task), headers=mo.headers), 404)
    assert_problem(await client.patch(one, json={"body": "x"}, headers=mo.headers), 404)
    assert_problem(await client.delete(one, headers=mo.headers), 404)
    # The comment is still there, by its author, for the owner.
    r = await client.get(comments_of(task), headers=owner.headers)
    assert [c["body"] for c in r.json()["items"]] == ["hello"]
    # A comment id under another task is not found either.
    other = (await client.post(TASKS, json={"title": "other"}, headers=owner.headers)).json()
    r = await client.patch(
        f"{comments_of(other)}/{made['id']}", json={"body": "x"}, headers=owner.headers
    )
    assert_problem(r, 404)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"body": "x" * 10_001}, id="too-long"),
        pytest.param({"body": ""}, id="empty"),
        pytest.param({"body": "   \n "}, id="blank"),
        pytest.param({}, id="missing"),
        pytest.param({"body": 5}, id="not-text"),
        pytest.param({"body": "ok", "html": True}, id="unknown-field"),
        pytest.param({"body": "a\u0000b"}, id="nul"),
    ],
)
async def test_bad_comments_are_refused(
    client: httpx.AsyncClient, database: Database, body: dict[str, Any]
) -> None:
    owner, _, _, task = await shared_task(client, database)
    r = await client.post(comments_of(task), json=body, headers=owner.headers)
    assert_problem(r, 422)
    made = await comment(client, owner, task, "kept")
    r = await client.patch(f"{comments_of(task)}/{made['id']}", json=body, headers=owner.headers)
    assert_problem(r, 422)
    r = await client.get(comments_of(task), headers=owner.headers)
    assert [c["body"] for c in r.json()["items"]] == ["kept"]


async def test_the_longest_comment_and_html_are_kept_as_typed(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, _, _, task = await shared_task(client, database)
    longest = "y" * 10_000
    assert (await comment(client, owner, task, longest))["body"] == longest
    html = '<script>alert(1)</script><a href="javascript:x">hi</a> & <b>bold</b>'
    assert (await comment(client, owner, task, html))["body"] == html
    r = await client.get(comments_of(task), headers=owner.headers)
    assert [c["body"] for c in r.json()["items"]] == [longest, html]


async def test_the_assignee_and_the_creator_hear_of_comments_not_the_author(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, people, _, _ = await shared_task(
        client, database, cara=Role.EDITOR, ash=Role.EDITOR, val=Role.VIEWER
    )
    cara, ash, val = people["cara"], people["ash"], people["val"]
    project_id = (await client.get(PROJECTS, headers=cara.headers)).json()
    project = next(p for p in project_id if not p["inbox"])
    r = await client.post(
        TASKS,
        json={"title": "Paint", "project_id": project["id"], "assignee_id": ash.id},
        headers=cara.headers,
    )
    task = r.json()
    assert task["assignee_id"] == ash.id
    await comment(client, val, task, "Which colour?")
    assert await notes(client, cara) == [("comment", "Val: Which colour?")]
    assert await notes(client, ash) == [
        ("assigned", "Cara assigned this task to you"),
        ("comment", "Val: Which colour?"),
    ]
    # Neither the author nor the owner (who neither made nor holds it) hears of it.
    assert await notes(client, val) == []
    assert await notes(client, owner) == []
    # The creator commenting on their own task is not told of it.
    await comment(client, cara, task, "Blue")
    assert await notes(client, cara) == [("comment", "Val: Which colour?")]
    assert ("comment", "Cara: Blue") in await notes(client, ash)


async def test_mentions_notify_the_person_named(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner = await person(client, "Olive Owner")
    project = (await client.post(PROJECTS, json={"name": "Team"}, headers=owner.headers)).json()
    mary = await person(client, "Mary Ann Lee")
    sam = await person(client, "Sam")
    sam2 = await person(client, "Sam Smith")
    bo = await person(client, "Bo")
    nameless = await make_account(client)
    outsider = await person(client, "Olga")
    for who in (mary, sam, sam2, bo, nameless):
        await share(database, owner, project["id"], who, Role.VIEWER)
    task = (
        await client.post(
            TASKS, json={"title": "Plan", "project_id": project["id"]}, headers=owner.headers
        )
    ).json()
    await comment(client, bo, task, 'Ask @"mary  ann lee" and @sam, not me@example.com or @Olga')
    assert await notes(client, mary) == [
        ("mention", 'Bo mentioned you: Ask @"mary  ann lee" and @sam, not me@example.com or @Olga')
    ]
    # "@sam" is Sam's whole name, so Sam Smith (whose first name it is) is not meant.
    assert [k for k, _ in await notes(client, sam)] == ["mention"]
    assert await notes(client, sam2) == []
    assert await notes(client, outsider) == []  # not a person of the project
    # The owner made the task: a comment, not a mention.
    assert [k for k, _ in await notes(client, owner)] == ["comment"]
    # A first name alone reaches everyone whose first name it is, when nobody's whole name.
    await comment(client, bo, task, "@Mary?")
    assert [k for k, _ in await notes(client, mary)] == ["mention", "mention"]
    # Mentioning yourself does nothing; nor does a nameless member's address.
    await comment(client, bo, task, "@Bo")
    assert await notes(client, bo) == []
    assert await notes(client, nameless) == []


async def test_a_muted_project_is_silent(client: httpx.AsyncClient, database: Database) -> None:
    owner, people, project, task = await shared_task(client, database, vi=Role.VIEWER)
    vi = people["vi"]
    mute = f"{PROJECTS}/{project['id']}/mute"
    r = await client.get(mute, headers=owner.headers)
    assert r.json() == {"project_id": project["id"], "muted": False}
    r = await client.put(mute, json={"muted": True}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["muted"] is True
    assert (await client.put(mute, json={"muted": True}, headers=owner.headers)).json()["muted"]
    await comment(client, vi, task, "@Olive look")
    assert await notes(client, owner) == []
    await client.put(mute, json={"muted": False}, headers=owner.headers)
    await comment(client, vi, task, "and now?")
    assert await notes(client, owner) == [("comment", "Vi: and now?")]
    # A viewer mutes too; a stranger cannot see the project.
    r = await client.put(mute, json={"muted": True}, headers=vi.headers)
    assert r.status_code == 200, r.text
    stranger = await make_account(client)
    assert_problem(await client.put(mute, json={"muted": True}, headers=stranger.headers), 404)
    assert_problem(await client.get(mute, headers=stranger.headers), 404)
    assert_problem(await client.put(mute, json={"muted": "yes"}, headers=vi.headers), 422)


async def test_deleting_a_task_or_its_project_deletes_its_comments(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, _, project, task = await shared_task(client, database)
    child = (
        await client.post(
            TASKS,
            json={"title": "child", "project_id": project["id"], "parent_id": task["id"]},
            headers=owner.headers,
        )
    ).json()
    await comment(client, owner, task, "on the parent")
    await comment(client, owner, child, "on the child")
    other = (
        await client.post(
            TASKS, json={"title": "other", "project_id": project["id"]}, headers=owner.headers
        )
    ).json()
    await comment(client, owner, other, "on another")

    async def count() -> int:
        async with database.read_sessions() as session:
            ids = [uuid.UUID(t["id"]) for t in (task, child, other)]
            return int(
                await session.scalar(
                    select(func.count()).select_from(Comment).where(Comment.task_id.in_(ids))
                )
                or 0
            )

    assert await count() == 3
    assert (await client.delete(f"{TASKS}/{task['id']}", headers=owner.headers)).status_code == 204
    assert await count() == 1
    assert_problem(await client.get(comments_of(task), headers=owner.headers), 404)
    r = await client.delete(f"{PROJECTS}/{project['id']}", headers=owner.headers)
    assert r.status_code == 204
    assert await count() == 0


async def test_a_comment_is_an_event_for_the_tasks_owner(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, people, _, task = await shared_task(client, database, ed=Role.EDITOR)
    sub = events.bus.subscribe(uuid.UUID(owner.id), limit=5)
    try:
        made = await comment(client, people["ed"], task, "ping")
        got = []
        while not sub.queue.empty():
            got.append(sub.queue.get_nowait())
        assert [(e.kind, e.data) for e in got if e.kind == "comment"] == [
            ("comment", {"action": "created", "id": made["id"], "task_id": task["id"]})
        ]
    finally:
        events.bus.unsubscribe(sub)


async def test_an_api_token_needs_the_write_scope_to_comment(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, _, _, task = await shared_task(client, database)
    token = (await make_api_token(client, owner, "tasks:read"))["token"]
    assert (await client.get(comments_of(task), headers=bearer(token))).status_code == 200
    r = await client.post(comments_of(task), json={"body": "hi"}, headers=bearer(token))
    assert_problem(r, 403)
    assert_problem(await client.get(comments_of(task)), 401)
