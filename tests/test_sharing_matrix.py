"""The authorization matrix of shared projects: who gets what, on every surface.

Six actors face one project: its owner, an admin, an editor and a viewer of it, a stranger
(never a member) and a removed member (an editor, then removed). Each row of `ROWS` is one
route or surface with the expected outcome for each actor, in `ACTORS` order: an HTTP status,
or for lists and other surfaces whether the shared project's task (or the project) is there.

Every row runs against a fresh project, section and task made by the owner (so deleting
rows do not disturb the others), shared with the actor in their role. A mismatch is collected,
not raised at once, so a broken scope shows every cell it breaks.

A row is a method, a path with `{task}`, `{section}`, `{project}` or `{me}` in it, a body, and
the outcomes. Rows that name `{other}` (a bystander: a viewer of the project, neither the actor
nor the owner), `{mine}` (a comment on the task by the actor) or `{theirs}` (one by the
bystander) get those made for them too.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from doable import events
from doable.comments.models import Comment
from doable.db import Database
from doable.projects.access import Role
from doable.relay import leases
from doable.reminders import stream
from tests.conftest import make_client
from tests.factories import PASSWORD, Account, make_account
from tests.test_mcp import connect, running_app  # noqa: F401
from tests.test_sharing_core import PROJECTS, TASKS, share, unshare
from tests.webclient import WebClient

ACTORS = ("owner", "admin", "editor", "viewer", "stranger", "removed")
ROLE_OF = {"admin": Role.ADMIN, "editor": Role.EDITOR, "viewer": Role.VIEWER}
# Shorthands for the six outcomes.
READ = (200, 200, 200, 200, 404, 404)
EDIT = (200, 200, 200, 403, 404, 404)
SEEN = ("yes", "yes", "yes", "yes", "no", "no")
DUE = (date.today() + timedelta(days=3)).isoformat()


@dataclass(frozen=True)
class Row:
    """One route or surface. `surface`: api (status), list (is the task/project in the
    JSON?), web (status of a page), mcp (ok / 403 / 404 of a tool), feed, export, stream."""

    name: str
    surface: str
    expect: tuple[Any, ...]
    method: str = "GET"
    path: str = ""
    body: dict[str, Any] | None = None
    tool: str = ""
    args: dict[str, Any] = field(default_factory=dict)


ROWS: list[Row] = [
    # Tasks (API).
    Row("read a task", "api", READ, path=f"{TASKS}/{{task}}"),
    Row("list the project's tasks", "api", READ, path=f"{TASKS}?project_id={{project}}"),
    Row("list the section's tasks", "api", READ, path=f"{TASKS}?section_id={{section}}"),
    Row("a task's completions", "api", READ, path=f"{TASKS}/{{task}}/completions"),
    Row("the task in every list", "list", SEEN, path=TASKS),
    Row("the task in Upcoming", "list", SEEN, path=f"{TASKS}?when=upcoming&days=7"),
    Row("the task in a search", "list", SEEN, path=f"{TASKS}?q=matrix"),
    Row(
        "add a task to the project",
        "api",
        (201, 201, 201, 403, 404, 404),
        "POST",
        TASKS,
        {"title": "new", "project_id": "{project}"},
    ),
    Row(
        "add a task to the section",
        "api",
        (201, 201, 201, 403, 404, 404),
        "POST",
        TASKS,
        {"title": "new", "project_id": "{project}", "section_id": "{section}"},
    ),
    Row(
        "add a subtask",
        "api",
        (201, 201, 201, 403, 404, 404),
        "POST",
        TASKS,
        {"title": "sub", "parent_id": "{task}"},
    ),
    Row("edit a task", "api", EDIT, "PATCH", f"{TASKS}/{{task}}", {"title": "edited"}),
    Row(
        "replace a task",
        "api",
        EDIT,
        "PUT",
        f"{TASKS}/{{task}}",
        {"title": "replaced", "description": "", "priority": "none", "completed": False},
    ),
    Row(
        "move a task out of its section",
        "api",
        EDIT,
        "PATCH",
        f"{TASKS}/{{task}}",
        {"section_id": None},
    ),
    Row("complete a task", "api", EDIT, "POST", f"{TASKS}/{{task}}/complete"),
    Row("reopen a task", "api", EDIT, "POST", f"{TASKS}/{{task}}/reopen"),
    Row(
        "skip a one-off task",
        "api",
        (409, 409, 409, 403, 404, 404),
        "POST",
        f"{TASKS}/{{task}}/skip",
    ),
    Row("delete a task", "api", (204, 204, 204, 403, 404, 404), "DELETE", f"{TASKS}/{{task}}"),
    # Projects and sections (API).
    Row("read the project", "api", READ, path=f"{PROJECTS}/{{project}}"),
    Row("the project in the list", "list", SEEN, path=PROJECTS),
    Row(
        "rename the project",
        "api",
        (200, 200, 403, 403, 404, 404),
        "PATCH",
        f"{PROJECTS}/{{project}}",
        {"name": "renamed"},
    ),
    Row(
        "archive the project",
        "api",
        (200, 200, 403, 403, 404, 404),
        "PATCH",
        f"{PROJECTS}/{{project}}",
        {"archived": True},
    ),
    Row(
        "delete the project",
        "api",
        (204, 403, 403, 403, 404, 404),
        "DELETE",
        f"{PROJECTS}/{{project}}",
    ),
    Row("list sections", "api", READ, path=f"{PROJECTS}/{{project}}/sections"),
    Row(
        "add a section",
        "api",
        (201, 201, 201, 403, 404, 404),
        "POST",
        f"{PROJECTS}/{{project}}/sections",
        {"name": "new"},
    ),
    Row("read a section", "api", READ, path="/api/v1/sections/{section}"),
    Row(
        "rename a section",
        "api",
        EDIT,
        "PATCH",
        "/api/v1/sections/{section}",
        {"name": "renamed"},
    ),
    Row(
        "delete a section",
        "api",
        (204, 204, 204, 403, 404, 404),
        "DELETE",
        "/api/v1/sections/{section}",
    ),
    # Compat routes: {user_id} is the caller; the list is own projects plus assigned tasks.
    Row("compat: read a task", "api", READ, path="/api/{me}/tasks/{task}"),
    Row(
        "compat: update a task",
        "api",
        EDIT,
        "PUT",
        "/api/{me}/tasks/{task}",
        {"title": "compat"},
    ),
    Row(
        "compat: delete a task",
        "api",
        (204, 204, 204, 403, 404, 404),
        "DELETE",
        "/api/{me}/tasks/{task}",
    ),
    Row("compat: the list (not assigned)", "compat", ("yes", "no", "no", "no", "no", "no")),
    # Web pages.
    Row("web: the task page", "web", READ, path="/tasks/{task}"),
    Row("web: the project page", "web", READ, path="/projects/{project}"),
    Row("web: the task's edit form", "web", EDIT, path="/tasks/{task}/edit"),
    # MCP tools.
    Row("mcp: get_task", "mcp", READ, tool="get_task", args={"task_id": "{task}"}),
    Row(
        "mcp: update_task",
        "mcp",
        EDIT,
        tool="update_task",
        args={"task_id": "{task}", "title": "by mcp"},
    ),
    Row("mcp: complete_task", "mcp", EDIT, tool="complete_task", args={"task_id": "{task}"}),
    Row(
        "mcp: list_tasks of the project",
        "mcp",
        READ,
        tool="list_tasks",
        args={"project_id": "{project}"},
    ),
    Row("mcp: list_projects", "mcp-list", SEEN, tool="list_projects"),
    # Feeds, export, event streams.
    Row("feed: the actor's calendar", "feed", SEEN),
    Row("export: own project", "export", ("own", "shared", "shared", "shared", "no", "no")),
    Row("stream: the owner's change", "stream", SEEN),
]

COMMENTS = f"{TASKS}/{{task}}/comments"
# Comments: any member comments, viewers included; only the author edits; the author, admins
# and the owner delete.
ROWS += [
    Row("list a task's comments", "api", READ, path=COMMENTS),
    Row(
        "comment on a task",
        "api",
        (201, 201, 201, 201, 404, 404),
        "POST",
        COMMENTS,
        {"body": "a comment"},
    ),
    Row(
        "edit your own comment",
        "api",
        READ,
        "PATCH",
        f"{COMMENTS}/{{mine}}",
        {"body": "edited"},
    ),
    Row(
        "edit someone else's comment",
        "api",
        (403, 403, 403, 403, 404, 404),
        "PATCH",
        f"{COMMENTS}/{{theirs}}",
        {"body": "edited"},
    ),
    Row(
        "delete your own comment",
        "api",
        (204, 204, 204, 204, 404, 404),
        "DELETE",
        f"{COMMENTS}/{{mine}}",
    ),
    Row(
        "delete someone else's comment",
        "api",
        (204, 204, 403, 403, 404, 404),
        "DELETE",
        f"{COMMENTS}/{{theirs}}",
    ),
    Row("read your mute of the project", "api", READ, path=f"{PROJECTS}/{{project}}/mute"),
    Row(
        "mute the project",
        "api",
        READ,
        "PUT",
        f"{PROJECTS}/{{project}}/mute",
        {"muted": True},
    ),
    # Activity: any member reads the project's and a task's log.
    Row("the project's activity", "api", READ, path=f"{PROJECTS}/{{project}}/activity"),
    Row("a task's activity", "api", READ, path=f"{TASKS}/{{task}}/activity"),
    Row("web: the project's activity page", "web", READ, path="/projects/{project}/activity"),
    # Members: any member lists them; admins and the owner invite, change roles and remove
    # (never the owner); any member but the owner leaves; only the owner hands over.
    Row("list the members", "api", READ, path=f"{PROJECTS}/{{project}}/members"),
    Row(
        "invite someone",
        "api",
        (201, 201, 403, 403, 404, 404),
        "POST",
        f"{PROJECTS}/{{project}}/invitations",
        {"email": "invitee@example.com", "role": "viewer"},
    ),
    Row(
        "list the invitations",
        "api",
        (200, 200, 403, 403, 404, 404),
        path=f"{PROJECTS}/{{project}}/invitations",
    ),
    Row(
        "change a member's role",
        "api",
        (200, 200, 403, 403, 404, 404),
        "PATCH",
        f"{PROJECTS}/{{project}}/members/{{other}}",
        {"role": "editor"},
    ),
    Row(
        "remove a member",
        "api",
        (204, 204, 403, 403, 404, 404),
        "DELETE",
        f"{PROJECTS}/{{project}}/members/{{other}}",
    ),
    Row(
        "leave the project",
        "api",
        (409, 204, 204, 204, 404, 404),
        "DELETE",
        f"{PROJECTS}/{{project}}/members/me",
    ),
    Row(
        "hand the project over",
        "api",
        (200, 403, 403, 403, 404, 404),
        "POST",
        f"{PROJECTS}/{{project}}/owner",
        {"user_id": "{other}"},
    ),
    Row("web: the share page", "web", READ, path="/projects/{project}/share"),
]


@dataclass
class World:
    """One row's objects, made by the owner."""

    project: str
    section: str
    task: str
    title: str
    other: str = ""
    mine: str = ""
    theirs: str = ""

    def fill(self, text: str, me: str) -> str:
        return (
            text.replace("{project}", self.project)
            .replace("{section}", self.section)
            .replace("{task}", self.task)
            .replace("{me}", me)
            .replace("{other}", self.other)
            .replace("{mine}", self.mine)
            .replace("{theirs}", self.theirs)
        )

    def fill_body(self, body: Any, me: str) -> Any:
        if isinstance(body, dict):
            return {k: self.fill_body(v, me) for k, v in body.items()}
        return self.fill(body, me) if isinstance(body, str) else body


@dataclass
class Bench:
    client: httpx.AsyncClient
    database: Database
    app: FastAPI
    owner: Account
    actor: Account
    role: str
    web: WebClient
    bystander: Account
    feed_path: str = ""

    async def world(self, row: Row) -> World:
        title = f"matrix {uuid.uuid4().hex[:8]}"
        h = self.owner.headers
        r = await self.client.post(PROJECTS, json={"name": title}, headers=h)
        assert r.status_code == 201, r.text
        project = r.json()["id"]
        r = await self.client.post(
            f"{PROJECTS}/{project}/sections", json={"name": "Section"}, headers=h
        )
        assert r.status_code == 201, r.text
        section = r.json()["id"]
        r = await self.client.post(
            TASKS,
            json={"title": title, "project_id": project, "section_id": section, "due": DUE},
            headers=h,
        )
        assert r.status_code == 201, r.text
        task = r.json()["id"]
        if self.role in ROLE_OF:
            await share(self.database, self.owner, project, self.actor, ROLE_OF[self.role])
        elif self.role == "removed":
            await share(self.database, self.owner, project, self.actor, Role.EDITOR)
            await unshare(self.database, self.owner, project, self.actor)
        found = World(project, section, task, title)
        wants = f"{row.path} {row.body}"
        if "{other}" in wants or "{theirs}" in wants:
            await share(self.database, self.owner, project, self.bystander, Role.VIEWER)
            found.other = self.bystander.id
        if "{theirs}" in wants:
            found.theirs = await self.comment(task, self.bystander)
        if "{mine}" in wants:
            # Written straight to the table: a stranger cannot comment, yet the row asks
            # what their own comment's route answers them.
            found.mine = await self.comment(task, self.actor)
        return found

    async def comment(self, task: str, author: Account) -> str:
        async with self.database.unit_of_work(write=True) as session:
            row = Comment(task_id=uuid.UUID(task), author_id=uuid.UUID(author.id), body="hi")
            session.add(row)
            await session.flush()
            return str(row.id)


def _task_there(items: Any, world: World) -> str:
    ids = {item["id"] for item in items}
    return "yes" if world.task in ids or world.project in ids else "no"


async def _api(bench: Bench, row: Row, world: World) -> Any:
    path = world.fill(row.path, bench.actor.id)
    body = world.fill_body(row.body, bench.actor.id)
    r = await bench.client.request(row.method, path, json=body, headers=bench.actor.headers)
    return r.status_code


async def _list(bench: Bench, row: Row, world: World) -> Any:
    r = await bench.client.get(row.path, headers=bench.actor.headers)
    assert r.status_code == 200, r.text
    data = r.json()
    return _task_there(data["items"] if isinstance(data, dict) else data, world)


async def _compat(bench: Bench, row: Row, world: World) -> Any:
    r = await bench.client.get(f"/api/{bench.actor.id}/tasks", headers=bench.actor.headers)
    assert r.status_code == 200, r.text
    return _task_there(r.json(), world)


async def _web(bench: Bench, row: Row, world: World) -> Any:
    # As htmx asks for it (without HX-Request, a task's URL redirects to the list).
    path = world.fill(row.path, bench.actor.id)
    return (await bench.web.get(path, headers={"HX-Request": "true"})).status_code


async def _mcp(bench: Bench, row: Row, world: World) -> Any:
    async with connect(bench.app, bench.actor.access_token) as mcp:
        result = await mcp.call_tool(row.tool, world.fill_body(row.args, bench.actor.id))
    if not result.is_error:
        if row.surface == "mcp-list":
            assert result.structured_content is not None
            return _task_there(result.structured_content["projects"], world)
        return 200
    text = result.content[0].text  # type: ignore[union-attr]
    if text.startswith("You are a"):
        return 403
    if text.startswith("No "):
        return 404
    return text


async def _feed(bench: Bench, row: Row, world: World) -> Any:
    r = await bench.client.get(bench.feed_path)
    assert r.status_code == 200, r.text
    return "yes" if world.title in r.text else "no"


async def _export(bench: Bench, row: Row, world: World) -> Any:
    r = await bench.client.get("/api/v1/export", headers=bench.actor.headers)
    assert r.status_code == 200, r.text
    doc = r.json()
    if world.title in [p["name"] for p in doc["projects"]]:
        return "own"
    if world.title in [p["name"] for p in doc["shared_projects"]]:
        return "shared"
    return "no"


async def _stream(bench: Bench, row: Row, world: World) -> Any:
    sub = await stream.open_subscription(bench.database, uuid.UUID(bench.actor.id))
    try:
        r = await bench.client.patch(
            f"{TASKS}/{world.task}", json={"priority": "high"}, headers=bench.owner.headers
        )
        assert r.status_code == 200, r.text
        got = []
        while not sub.queue.empty():
            item = sub.queue.get_nowait()
            if item.kind == "task" and sub.sees(item):
                got.append(item.data["id"])
        return "yes" if world.task in got else "no"
    finally:
        events.bus.unsubscribe(sub)
        await leases.release(bench.database, sub)


CHECKS: dict[str, Callable[[Bench, Row, World], Awaitable[Any]]] = {
    "api": _api,
    "list": _list,
    "compat": _compat,
    "web": _web,
    "mcp": _mcp,
    "mcp-list": _mcp,
    "feed": _feed,
    "export": _export,
    "stream": _stream,
}


def test_every_row_has_six_cells_and_a_check() -> None:
    for row in ROWS:
        assert len(row.expect) == len(ACTORS), row.name
        assert row.surface in CHECKS, row.name
    assert len({row.name for row in ROWS}) == len(ROWS)


@pytest.fixture
async def bench(
    running_app: FastAPI,  # noqa: F811
    client: httpx.AsyncClient,
    database: Database,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Bench]:
    role: str = request.param
    owner = await make_account(client)
    actor = owner if role == "owner" else await make_account(client)
    async with make_client(running_app) as http:
        web = WebClient(http)
        await web.get("/login")
        r = await web.post("/login", {"email": actor.email, "password": PASSWORD})
        assert r.status_code == 303, r.text
        bystander = await make_account(client)
        found = Bench(client, database, running_app, owner, actor, role, web, bystander)
        r = await client.post("/api/v1/feeds", json={"name": "All"}, headers=actor.headers)
        assert r.status_code == 201, r.text
        found.feed_path = httpx.URL(r.json()["url"]).path
        yield found


@pytest.mark.parametrize("bench", ACTORS, indirect=True)
async def test_the_matrix(bench: Bench) -> None:
    column = ACTORS.index(bench.role)
    wrong = []
    for row in ROWS:
        world = await bench.world(row)
        got = await CHECKS[row.surface](bench, row, world)
        if got != row.expect[column]:
            wrong.append(f"{row.name}: expected {row.expect[column]!r}, got {got!r}")
    assert not wrong, f"{bench.role}: " + "; ".join(wrong)
