"""Sharing over HTTP: the members API (list, roles, remove, leave, hand over), invitations
(links that are signed, single use, expiring and bound to one email; in-app accept and
decline), account deletion's hand-over, and the web app's Share and invitation pages."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from doable.db import Database, utcnow
from doable.middleware import redact_path
from doable.projects.models import Project, Section
from doable.tasks.models import Tag, Task, TaskCompletion
from tests.factories import PASSWORD, Account, assert_problem, make_account
from tests.test_sharing_core import counter
from tests.webclient import WebClient

PROJECTS = "/api/v1/projects"
TASKS = "/api/v1/tasks"
INVITATIONS = "/api/v1/invitations"


async def accounts(client: httpx.AsyncClient, n: int) -> list[Account]:
    return [await make_account(client) for _ in range(n)]


async def make_project(client: httpx.AsyncClient, owner: Account, name: str = "Household") -> str:
    r = await client.post(PROJECTS, json={"name": name}, headers=owner.headers)
    assert r.status_code == 201, r.text
    project_id: str = r.json()["id"]
    return project_id


async def invite(
    client: httpx.AsyncClient, who: Account, project_id: str, email: str, role: str = "editor"
) -> httpx.Response:
    return await client.post(
        f"{PROJECTS}/{project_id}/invitations",
        json={"email": email, "role": role},
        headers=who.headers,
    )


async def join(
    client: httpx.AsyncClient, owner: Account, project_id: str, member: Account, role: str
) -> None:
    r = await invite(client, owner, project_id, member.email, role)
    assert r.status_code == 201, r.text
    r = await client.post(
        f"{INVITATIONS}/accept", json={"token": r.json()["token"]}, headers=member.headers
    )
    assert r.status_code == 200, r.text


async def accept(client: httpx.AsyncClient, who: Account, token: str) -> httpx.Response:
    return await client.post(f"{INVITATIONS}/accept", json={"token": token}, headers=who.headers)


def roles(listed: list[dict[str, Any]]) -> dict[str, str]:
    return {m["user_id"]: m["role"] for m in listed}


async def test_an_invitation_link_admits_its_email_once(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, member = await make_account(client), await make_account(client)
    project_id = await make_project(client, owner)

    r = await invite(client, owner, project_id, member.email.upper(), "editor")
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["email"] == member.email and made["role"] == "editor"
    assert made["url"] == f"http://testserver/invitations/{made['token']}"
    # The same answer, field for field, for an email that has no account.
    r = await invite(client, owner, project_id, "nobody-here@example.com", "editor")
    assert r.status_code == 201 and set(r.json()) == set(made)
    assert {k: type(v) for k, v in r.json().items()} == {k: type(v) for k, v in made.items()}

    # The invitee sees it in the app, with the project's name.
    r = await client.get(INVITATIONS, headers=member.headers)
    assert [(i["id"], i["project_name"], i["role"]) for i in r.json()] == [
        (made["id"], "Household", "editor")
    ]
    r = await accept(client, member, made["token"])
    assert r.status_code == 200, r.text
    assert r.json()["id"] == project_id
    assert await counter(database, member) == 1
    assert (await client.get(f"{PROJECTS}/{project_id}", headers=member.headers)).status_code == 200
    r = await client.get(f"{PROJECTS}/{project_id}/members", headers=owner.headers)
    assert roles(r.json()) == {owner.id: "owner", member.id: "editor"}
    # Replayed: refused, and nothing changes.
    assert_problem(await accept(client, member, made["token"]), 410)
    assert (await client.get(INVITATIONS, headers=member.headers)).json() == []
    # The owner's pending list holds only the one for the address without an account.
    r = await client.get(f"{PROJECTS}/{project_id}/invitations", headers=owner.headers)
    assert [i["email"] for i in r.json()] == ["nobody-here@example.com"]


async def test_links_that_are_forged_expired_revoked_or_for_another_email_are_refused(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner, invitee, other = await accounts(client, 3)
    project_id = await make_project(client, owner)
    made = (await invite(client, owner, project_id, invitee.email, "viewer")).json()
    token = made["token"]
    head, mac = token.split(".")

    forged = [
        f"{head}.{'A' * len(mac)}",  # a MAC not made with the secret
        f"{uuid.uuid4().hex}.{mac}",  # another id under this MAC
        "not-a-token",
        "." + mac,
        head,
    ]
    for bad in forged:
        body = assert_problem(await accept(client, invitee, bad), 404)
        assert body["detail"] == "This invitation link is not valid"
    # Someone signed in with another address.
    body = assert_problem(await accept(client, other, token), 403)
    assert "another email address" in body["detail"]
    # In the app, another user does not see it at all.
    assert (await client.get(INVITATIONS, headers=other.headers)).json() == []
    r = await client.post(f"{INVITATIONS}/{made['id']}/accept", headers=other.headers)
    assert_problem(r, 404)
    # Oversized or empty tokens are refused as input.
    assert_problem(await accept(client, invitee, "x" * 201), 422)
    assert_problem(await accept(client, invitee, ""), 422)

    # Expired: the app's clock moves past INVITATION_TTL_HOURS (a week by default).
    app.state.doable.clock = lambda: utcnow() + timedelta(hours=168, seconds=1)
    body = assert_problem(await accept(client, invitee, token), 410)
    assert body["detail"] == "This invitation has expired; ask for a new one"
    assert (await client.get(INVITATIONS, headers=invitee.headers)).json() == []
    app.state.doable.clock = utcnow

    # Revoked by an admin: the link is dead.
    r = await client.delete(
        f"{PROJECTS}/{project_id}/invitations/{made['id']}", headers=owner.headers
    )
    assert r.status_code == 204
    assert_problem(await accept(client, invitee, token), 410)
    r = await client.delete(
        f"{PROJECTS}/{project_id}/invitations/{made['id']}", headers=owner.headers
    )
    assert_problem(r, 410)
    # A new invitation to the same address revokes the one before it.
    first = (await invite(client, owner, project_id, invitee.email)).json()
    second = (await invite(client, owner, project_id, invitee.email)).json()
    assert_problem(await accept(client, invitee, first["token"]), 410)
    assert (await accept(client, invitee, second["token"])).status_code == 200
    # The stranger never got in.
    assert_problem(await client.get(f"{PROJECTS}/{project_id}", headers=other.headers), 404)


async def test_in_app_accept_and_decline(client: httpx.AsyncClient) -> None:
    owner, invitee = await make_account(client), await make_account(client)
    first = await make_project(client, owner, "First")
    second = await make_project(client, owner, "Second")
    one = (await invite(client, owner, first, invitee.email, "viewer")).json()
    two = (await invite(client, owner, second, invitee.email, "admin")).json()
    r = await client.get(INVITATIONS, headers=invitee.headers)
    assert [i["project_name"] for i in r.json()] == ["First", "Second"]

    r = await client.post(f"{INVITATIONS}/{one['id']}/decline", headers=invitee.headers)
    assert r.status_code == 204
    assert_problem(
        await client.post(f"{INVITATIONS}/{one['id']}/accept", headers=invitee.headers), 410
    )
    assert_problem(await accept(client, invitee, one["token"]), 410)
    r = await client.post(f"{INVITATIONS}/{two['id']}/accept", headers=invitee.headers)
    assert r.status_code == 200 and r.json()["id"] == second
    r = await client.get(f"{PROJECTS}/{second}/members", headers=owner.headers)
    assert roles(r.json())[invitee.id] == "admin"
    assert_problem(await client.get(f"{PROJECTS}/{first}", headers=invitee.headers), 404)
    assert (await client.get(INVITATIONS, headers=invitee.headers)).json() == []


async def test_bad_invitations_are_refused(client: httpx.AsyncClient) -> None:
    owner, admin, editor, stranger = await accounts(client, 4)
    project_id = await make_project(client, owner)
    await join(client, owner, project_id, admin, "admin")
    await join(client, owner, project_id, editor, "editor")

    body = assert_problem(await invite(client, owner, project_id, owner.email), 409)
    assert body["detail"] == "You cannot invite yourself"
    body = assert_problem(await invite(client, admin, project_id, editor.email), 409)
    assert body["detail"] == "That user is already a member of this project"
    assert_problem(await invite(client, admin, project_id, owner.email.upper()), 409)
    body = assert_problem(await invite(client, owner, project_id, "x@example.com", "owner"), 422)
    assert body["errors"][0]["loc"] == ["body", "role"]
    assert_problem(await invite(client, owner, project_id, "x@example.com", "superuser"), 422)
    long_email = "a" * 250 + "@example.com"
    assert_problem(await invite(client, owner, project_id, long_email), 422)
    assert_problem(await invite(client, owner, project_id, "not an email"), 422)
    # Only admins invite; a non-member does not see the project.
    assert_problem(await invite(client, editor, project_id, "x@example.com"), 403)
    assert_problem(await invite(client, stranger, project_id, "x@example.com"), 404)
    r = await client.get(f"{PROJECTS}/{project_id}/invitations", headers=editor.headers)
    assert_problem(r, 403)
    # The Inbox is personal.
    inbox = next(
        p for p in (await client.get(PROJECTS, headers=owner.headers)).json() if p["inbox"]
    )
    body = assert_problem(await invite(client, owner, inbox["id"], "x@example.com"), 409)
    assert body["detail"] == "The Inbox cannot be shared"


async def test_members_see_names_and_only_admins_see_emails(client: httpx.AsyncClient) -> None:
    owner = await make_account(client, name="Olive")
    admin = await make_account(client, name="Ada")
    viewer = await make_account(client, name="Vic")
    project_id = await make_project(client, owner)
    await join(client, owner, project_id, admin, "admin")
    await join(client, owner, project_id, viewer, "viewer")

    seen = (await client.get(f"{PROJECTS}/{project_id}/members", headers=viewer.headers)).json()
    assert [(m["name"], m["role"], m["email"]) for m in seen] == [
        ("Olive", "owner", None),
        ("Ada", "admin", None),
        ("Vic", "viewer", None),
    ]
    for who in (owner, admin):
        seen = (await client.get(f"{PROJECTS}/{project_id}/members", headers=who.headers)).json()
        assert [m["email"] for m in seen] == [owner.email, admin.email, viewer.email]


async def test_roles_removal_and_leaving(client: httpx.AsyncClient, database: Database) -> None:
    owner, admin, editor, viewer = await accounts(client, 4)
    project_id = await make_project(client, owner)
    for who, role in ((admin, "admin"), (editor, "editor"), (viewer, "viewer")):
        await join(client, owner, project_id, who, role)
    members = f"{PROJECTS}/{project_id}/members"

    # An admin changes roles, but never the owner's, and makes no owner.
    r = await client.patch(f"{members}/{editor.id}", json={"role": "viewer"}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    r = await client.patch(f"{members}/{owner.id}", json={"role": "viewer"}, headers=admin.headers)
    assert_problem(r, 409)
    r = await client.patch(f"{members}/{editor.id}", json={"role": "owner"}, headers=admin.headers)
    assert_problem(r, 422)
    r = await client.patch(f"{members}/{editor.id}", json={"role": "boss"}, headers=owner.headers)
    assert_problem(r, 422)
    r = await client.patch(
        f"{members}/{uuid.uuid4()}", json={"role": "viewer"}, headers=owner.headers
    )
    assert_problem(r, 404)
    # Lower roles do not manage members.
    r = await client.patch(f"{members}/{viewer.id}", json={"role": "admin"}, headers=viewer.headers)
    assert_problem(r, 403)
    assert_problem(await client.delete(f"{members}/{admin.id}", headers=editor.headers), 403)

    # Removal is immediate: the viewer's next request does not see the project.
    task = (
        await client.post(
            TASKS, json={"title": "t", "project_id": project_id}, headers=owner.headers
        )
    ).json()
    assert (await client.get(f"{TASKS}/{task['id']}", headers=viewer.headers)).status_code == 200
    assert (await client.delete(f"{members}/{viewer.id}", headers=admin.headers)).status_code == 204
    assert_problem(await client.get(f"{TASKS}/{task['id']}", headers=viewer.headers), 404)
    assert_problem(await client.get(members, headers=viewer.headers), 404)
    assert await counter(database, viewer) == 0
    assert_problem(await client.delete(f"{members}/{owner.id}", headers=admin.headers), 409)

    # Any member leaves; the owner cannot.
    assert (await client.delete(f"{members}/me", headers=editor.headers)).status_code == 204
    assert_problem(await client.get(f"{PROJECTS}/{project_id}", headers=editor.headers), 404)
    body = assert_problem(await client.delete(f"{members}/me", headers=owner.headers), 409)
    assert "hands the project to a member first" in body["detail"]
    assert_problem(await client.delete(f"{members}/me", headers=viewer.headers), 404)
    r = await client.get(members, headers=owner.headers)
    assert roles(r.json()) == {owner.id: "owner", admin.id: "admin"}


async def test_handing_over_moves_tasks_tags_and_sections(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, heir, admin = await accounts(client, 3)
    project_id = await make_project(client, owner)
    section = (
        await client.post(
            f"{PROJECTS}/{project_id}/sections", json={"name": "Rooms"}, headers=owner.headers
        )
    ).json()
    shared = (
        await client.post(
            TASKS,
            json={
                "title": "Paint",
                "project_id": project_id,
                "section_id": section["id"],
                "tags": ["Garden", "home"],
                "recurrence": {"rule": "FREQ=DAILY"},
                "due": "2026-12-01",
            },
            headers=owner.headers,
        )
    ).json()
    r = await client.post(f"{TASKS}/{shared['id']}/complete", headers=owner.headers)
    assert r.status_code == 200, r.text
    mine = (
        await client.post(TASKS, json={"title": "Mine", "tags": ["home"]}, headers=owner.headers)
    ).json()
    # The heir already has a "garden" tag of their own: the task joins it.
    await client.post(TASKS, json={"title": "Theirs", "tags": ["garden"]}, headers=heir.headers)
    await join(client, owner, project_id, heir, "editor")
    await join(client, owner, project_id, admin, "admin")
    owner_path = f"{PROJECTS}/{project_id}/owner"

    assert_problem(
        await client.post(owner_path, json={"user_id": heir.id}, headers=admin.headers), 403
    )
    assert_problem(
        await client.post(owner_path, json={"user_id": str(uuid.uuid4())}, headers=owner.headers),
        422,
    )
    assert_problem(
        await client.post(owner_path, json={"user_id": owner.id}, headers=owner.headers), 422
    )
    r = await client.post(owner_path, json={"user_id": heir.id}, headers=owner.headers)
    assert r.status_code == 200, r.text

    r = await client.get(f"{PROJECTS}/{project_id}/members", headers=heir.headers)
    assert roles(r.json()) == {heir.id: "owner", owner.id: "admin", admin.id: "admin"}
    assert r.json()[0]["role"] == "owner"
    assert await counter(database, heir) == 0
    assert await counter(database, owner) == 1
    async with database.read_sessions() as session:
        project = await session.get(Project, uuid.UUID(project_id))
        assert project is not None and str(project.owner_id) == heir.id
        task = await session.get(Task, uuid.UUID(shared["id"]))
        assert task is not None and str(task.owner_id) == heir.id
        sections = (
            await session.scalars(select(Section.owner_id).where(Section.project_id == project.id))
        ).all()
        assert [str(s) for s in sections] == [heir.id]
        completions = (
            await session.scalars(
                select(TaskCompletion.owner_id).where(TaskCompletion.task_id == task.id)
            )
        ).all()
        assert [str(c) for c in completions] == [heir.id]
        heirs_tags = (
            await session.scalars(
                select(Tag.name).where(Tag.owner_id == uuid.UUID(heir.id)).order_by(Tag.name_key)
            )
        ).all()
        assert list(heirs_tags) == ["garden", "home"]
    r = await client.get(f"{TASKS}/{shared['id']}", headers=heir.headers)
    assert sorted(r.json()["tags"]) == ["garden", "home"]
    r = await client.get(TASKS, params={"tag": "garden"}, headers=heir.headers)
    assert len(r.json()["items"]) == 2
    # The old owner keeps their own task and tags, and stays on as an admin.
    r = await client.get(f"{TASKS}/{mine['id']}", headers=owner.headers)
    assert r.json()["tags"] == ["home"]
    r = await client.get(
        TASKS, params={"tag": "home", "project_id": project_id}, headers=owner.headers
    )
    assert [t["id"] for t in r.json()["items"]] == [shared["id"]]
    assert_problem(await client.delete(f"{PROJECTS}/{project_id}", headers=owner.headers), 403)
    assert (
        await client.delete(
            f"{PROJECTS}/{project_id}/members/me",
            headers=heir.headers,
        )
    ).status_code == 409


async def test_handing_over_past_the_new_owners_quota_changes_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, heir = await make_account(client), await make_account(client)
    project_id = await make_project(client, owner)
    for n in range(2):
        await client.post(
            TASKS, json={"title": f"t{n}", "project_id": project_id}, headers=owner.headers
        )
    await client.post(TASKS, json={"title": "own"}, headers=heir.headers)
    await join(client, owner, project_id, heir, "admin")
    database.set_task_quota(2)
    try:
        r = await client.post(
            f"{PROJECTS}/{project_id}/owner", json={"user_id": heir.id}, headers=owner.headers
        )
        body = assert_problem(r, 409)
        assert "limit of 2 tasks" in body["detail"]
    finally:
        database.set_task_quota(0)
    r = await client.get(f"{PROJECTS}/{project_id}/members", headers=owner.headers)
    assert roles(r.json()) == {owner.id: "owner", heir.id: "admin"}
    async with database.read_sessions() as session:
        owners = (
            await session.scalars(
                select(Task.owner_id).where(Task.project_id == uuid.UUID(project_id))
            )
        ).all()
        assert {str(o) for o in owners} == {owner.id}


async def test_deleting_an_account_hands_its_shared_projects_to_the_senior_member(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, viewer, admin, editor = await accounts(client, 4)
    shared = await make_project(client, owner, "Shared")
    small = await make_project(client, owner, "Small")
    alone = await make_project(client, owner, "Alone")
    # The viewer joined first, but an admin comes before any editor or viewer.
    await join(client, owner, shared, viewer, "viewer")
    await join(client, owner, shared, editor, "editor")
    await join(client, owner, shared, admin, "admin")
    await join(client, owner, small, viewer, "viewer")
    kept = (
        await client.post(
            TASKS, json={"title": "kept", "project_id": shared}, headers=owner.headers
        )
    ).json()

    r = await client.request(
        "DELETE", "/api/v1/me", json={"password": PASSWORD}, headers=owner.headers
    )
    assert r.status_code == 204, r.text
    r = await client.get(f"{PROJECTS}/{shared}/members", headers=admin.headers)
    assert roles(r.json()) == {admin.id: "owner", viewer.id: "viewer", editor.id: "editor"}
    assert (await client.get(f"{TASKS}/{kept['id']}", headers=editor.headers)).status_code == 200
    # With no admin or editor, the longest-standing viewer takes it.
    r = await client.get(f"{PROJECTS}/{small}/members", headers=viewer.headers)
    assert roles(r.json()) == {viewer.id: "owner"}
    assert await counter(database, viewer) == 1
    assert await counter(database, admin) == 0
    async with database.read_sessions() as session:
        assert await session.get(Project, uuid.UUID(alone)) is None


async def test_deleting_an_account_whose_heirs_are_full_deletes_and_recounts(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, member = await make_account(client), await make_account(client)
    project_id = await make_project(client, owner)
    await client.post(TASKS, json={"title": "t", "project_id": project_id}, headers=owner.headers)
    await client.post(TASKS, json={"title": "own"}, headers=member.headers)
    await join(client, owner, project_id, member, "admin")
    database.set_task_quota(1)
    try:
        r = await client.request(
            "DELETE", "/api/v1/me", json={"password": PASSWORD}, headers=owner.headers
        )
        assert r.status_code == 204, r.text
    finally:
        database.set_task_quota(0)
    assert_problem(await client.get(f"{PROJECTS}/{project_id}", headers=member.headers), 404)
    assert await counter(database, member) == 0


# The web app


def _link(html: str) -> str:
    found = re.search(r'id="new-link"[^>]*value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def test_the_web_share_page_invites_and_removes(
    client: httpx.AsyncClient, app: FastAPI, database: Database
) -> None:
    owner = WebClient(client)
    await owner.signup()
    r = await owner.post("/projects", {"name": "Flat"})
    project_path = r.headers["location"]
    share = f"{project_path}/share"
    assert 'href="' + share + '"' in (await owner.get(project_path)).text
    page = await owner.get(share)
    assert page.status_code == 200 and "Invite someone" in page.text

    # Bad input re-renders the page with the reason.
    r = await owner.post(f"{share}/invite", {"email": owner.email, "role": "editor"})
    assert r.status_code == 409 and "You cannot invite yourself" in r.text
    r = await owner.post(f"{share}/invite", {"email": "x@example.com", "role": "boss"})
    assert r.status_code == 422
    r = await owner.post(f"{share}/invite", {"email": "a" * 300 + "@example.com"})
    assert r.status_code == 422 and "valid email" in r.text

    invitee_email = f"web-{uuid.uuid4().hex[:8]}@example.com"
    r = await owner.post(f"{share}/invite", {"email": invitee_email, "role": "viewer"})
    assert r.status_code == 200, r.text
    link = _link(r.text)
    token = link.rsplit("/", 1)[1]

    # Someone without an account follows the link through sign-up.
    guest = WebClient(httpx.AsyncClient(transport=client._transport, base_url="http://testserver"))
    async with guest.http:
        page = await guest.get(f"/invitations/{token}")
        assert page.status_code == 200 and "Flat" in page.text and invitee_email in page.text
        page = await guest.get(f"/signup?invitation={token}")
        assert f'value="{invitee_email}"' in page.text
        r = await guest.post(
            "/signup",
            {"email": invitee_email, "password": PASSWORD, "project_invitation": token},
        )
        assert r.status_code == 303 and r.headers["location"] == project_path, r.text
        assert (await guest.get(project_path)).status_code == 200
        page = await guest.get(share)
        # A viewer sees names, not emails, and can leave.
        assert page.status_code == 200 and owner.email not in page.text
        assert "Leave this project" in page.text and "Invite someone" not in page.text
        # The used link is gone.
        assert (await guest.get(f"/invitations/{token}")).status_code == 410
        assert (await guest.get(f"/invitations/{token[:-2]}xx")).status_code == 404

        # The owner removes the viewer: the viewer's next page is 404.
        page = await owner.get(share)
        assert invitee_email in page.text
        member_id = re.search(r"/share/members/([0-9a-f-]{36})/remove", page.text)
        assert member_id
        r = await owner.post(f"{share}/members/{member_id.group(1)}/remove")
        assert r.status_code == 303
        assert (await guest.get(project_path)).status_code == 404
        assert (await guest.get(share)).status_code == 404


async def test_the_web_lists_invitations_for_an_existing_account(client: httpx.AsyncClient) -> None:
    owner = WebClient(client)
    await owner.signup()
    r = await owner.post("/projects", {"name": "Club"})
    share = r.headers["location"] + "/share"
    invitee = WebClient(
        httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    )
    async with invitee.http:
        await invitee.signup()
        await owner.post(f"{share}/invite", {"email": invitee.email, "role": "editor"})
        assert "1 project invitation waiting" in (await invitee.get("/tasks")).text
        page = await invitee.get("/invitations")
        found = re.search(r"/invitations/mine/([0-9a-f-]{36})/accept", page.text)
        assert found and "Club" in page.text
        r = await invitee.post(f"/invitations/mine/{found.group(1)}/accept")
        assert r.status_code == 303 and r.headers["location"] == share.removesuffix("/share")
        r = await invitee.post(f"/invitations/mine/{found.group(1)}/decline")
        assert r.status_code == 410
        # Someone else's invitation, in the app or by its link, is not theirs to answer.
        second = await owner.post(f"{share}/invite", {"email": "third@example.com"})
        link = _link(second.text)
        r = await invitee.post(f"/invitations/{link.rsplit('/', 1)[1]}/accept")
        assert r.status_code == 403 and "another email address" in r.text
        page = await owner.get(share)
        pending = re.search(r"/share/invitations/([0-9a-f-]{36})/revoke", page.text)
        assert pending
        r = await invitee.post(f"/invitations/mine/{pending.group(1)}/accept")
        assert r.status_code == 404
        # Leaving from the Share page.
        r = await invitee.post(f"{share}/leave")
        assert r.status_code == 303 and r.headers["location"] == "/tasks"
        assert (await invitee.get(share)).status_code == 404
        # The owner cannot leave.
        r = await owner.post(f"{share}/leave")
        assert r.status_code == 409


def test_invitation_links_are_logged_as_a_hint() -> None:
    assert redact_path("/invitations/0123456789abcdef.secretmac") == "/invitations/0123…"
    assert redact_path("/invitations/0123456789abcdef.mac/accept") == "/invitations/0123…/…"


async def test_a_project_holds_at_most_100_waiting_invitations(client: httpx.AsyncClient) -> None:
    owner = await make_account(client)
    project_id = await make_project(client, owner)
    for n in range(100):
        assert (await invite(client, owner, project_id, f"p{n}@example.com")).status_code == 201
    body = assert_problem(await invite(client, owner, project_id, "one-more@example.com"), 409)
    assert body["detail"] == (
        "This project has 100 invitations waiting; revoke some to invite more"
    )
    # Inviting one of them again replaces theirs, and revoking one makes room.
    assert (await invite(client, owner, project_id, "p0@example.com")).status_code == 201
    waiting = await client.get(f"{PROJECTS}/{project_id}/invitations", headers=owner.headers)
    r = await client.delete(
        f"{PROJECTS}/{project_id}/invitations/{waiting.json()[0]['id']}", headers=owner.headers
    )
    assert r.status_code == 204
    assert (await invite(client, owner, project_id, "one-more@example.com")).status_code == 201
