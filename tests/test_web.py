"""The web app in-process: sessions, CSRF, headers, the route matrix, no-JS flows, fragments."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import select, update

from doable.app import create_app
from doable.auth.models import User, WebSession
from doable.comments.models import Comment
from doable.db import Database
from doable.errors import is_api_path
from doable.reminders.models import Notification, Reminder
from doable.reminders.scheduler import fire_due
from doable.webhooks.models import WebhookDelivery
from tests.conftest import make_client, runtime_for, truncate_all
from tests.factories import PASSWORD, make_account
from tests.webclient import WebClient


@pytest.fixture
async def web(client: httpx.AsyncClient) -> WebClient:
    return WebClient(client)


async def second_client(app: FastAPI) -> WebClient:
    return WebClient(make_client(app))


def _set_cookie(r: httpx.Response, name: str) -> str:
    for value in r.headers.get_list("set-cookie"):
        if value.startswith(name + "="):
            return value
    raise AssertionError(f"no {name} cookie in {r.headers.get_list('set-cookie')}")


# Sessions


async def test_signup_sets_a_hashed_httponly_session(web: WebClient, database: Database) -> None:
    r = await web.signup()
    cookie = _set_cookie(r, "doable_session")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test
    raw = cookie.split(";")[0].split("=", 1)[1]
    async with database.read_sessions() as s:
        stored = (await s.execute(select(WebSession.token_hash))).scalars().all()
    assert stored == [hashlib.sha256(raw.encode()).hexdigest()]
    page = await web.get("/tasks")
    assert page.status_code == 200 and "Nothing to do yet" in page.text


async def test_cookie_is_secure_over_https(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        web = WebClient(c)
        r = await web.signup()
        assert "Secure" in _set_cookie(r, "doable_session")
        page = await c.get("/tasks")
        assert page.headers["strict-transport-security"] == "max-age=31536000"


async def test_embed_mode_cookies_and_frame_ancestors(database: Database, data_dir: Path) -> None:
    app = create_app(runtime_for(database, data_dir, SPACE_ID="someone/doable"), database)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            web = WebClient(c)
            page = await web.get("/login")
            assert (
                "frame-ancestors 'self' https://huggingface.co"
                in page.headers["content-security-policy"]
            )
            csrf = _set_cookie(page, "doable_csrf")
            assert "SameSite=None" in csrf and "Secure" in csrf and "Partitioned" in csrf
            # In the embed, CSRF rests on the token alone.
            r = await web.post(
                "/login",
                {"email": "x@example.com", "password": "wrong-wrong"},
                headers={"Sec-Fetch-Site": "cross-site"},
            )
            assert r.status_code == 401
            r = await web.http.post(
                "/login",
                data={"email": "x@example.com", "password": "x"},
                headers={"Sec-Fetch-Site": "cross-site", "X-CSRF-Token": "0" * 64},
            )
            assert r.status_code == 403
    finally:
        await truncate_all(database.engine)


async def test_login_logout_and_next(web: WebClient) -> None:
    await web.signup()
    r = await web.post("/logout")
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    r = await web.get("/tasks?status=pending")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Ftasks%3Fstatus%3Dpending"
    await web.get("/login")
    bad = await web.post("/login", {"email": web.email, "password": "not it", "next": "/tasks"})
    assert bad.status_code == 401 and "Email or password is incorrect" in bad.text
    r = await web.post(
        "/login", {"email": web.email, "password": PASSWORD, "next": "/tasks?status=pending"}
    )
    assert (r.status_code, r.headers["location"]) == (303, "/tasks?status=pending")
    for evil in ["https://evil.example", "//evil.example", "/\\evil"]:
        r = await web.post("/login", {"email": web.email, "password": PASSWORD, "next": evil})
        assert r.headers["location"] == "/tasks"


async def test_htmx_request_without_session_gets_hx_redirect(web: WebClient) -> None:
    await web.get("/login")
    r = await web.http.get(
        "/tasks?status=pending",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/tasks?tag=work"},
    )
    assert r.status_code == 200
    assert r.headers["hx-redirect"] == "/login?next=%2Ftasks%3Ftag%3Dwork"


async def test_logout_everywhere_revokes_sessions_and_api_tokens(
    app: FastAPI, web: WebClient
) -> None:
    await web.signup()
    other = await second_client(app)
    await other.get("/login")
    r = await other.post("/login", {"email": web.email, "password": PASSWORD, "next": "/tasks"})
    assert r.status_code == 303
    api = await web.http.post("/api/v1/auth/login", json={"email": web.email, "password": PASSWORD})
    bearer = {"Authorization": f"Bearer {api.json()['access_token']}"}
    r = await web.post("/logout-everywhere")
    assert r.headers["location"] == "/login?signed_out=everywhere"
    assert (await other.get("/tasks")).status_code == 303
    assert (await web.http.get("/api/v1/me", headers=bearer)).status_code == 401
    refreshed = await web.http.post(
        "/api/v1/auth/refresh", json={"refresh_token": api.json()["refresh_token"]}
    )
    assert refreshed.status_code == 401
    await other.http.aclose()


async def test_revoke_one_session_and_not_anothers(
    app: FastAPI, web: WebClient, database: Database
) -> None:
    await web.signup()
    other = await second_client(app)
    await other.get("/login")
    await other.post("/login", {"email": web.email, "password": PASSWORD, "next": "/tasks"})
    stranger = await second_client(app)
    await stranger.signup()
    async with database.read_sessions() as s:
        rows = (await s.execute(select(WebSession).order_by(WebSession.created_at))).scalars().all()
    mine_second, strangers = rows[1], rows[2]
    page = await web.get("/account")
    assert page.text.count("Revoke</button>") == 2 and "(this browser)" in page.text
    assert (await web.post(f"/account/sessions/{strangers.id}/revoke")).status_code == 404
    assert (await stranger.get("/tasks")).status_code == 200
    r = await web.post(f"/account/sessions/{mine_second.id}/revoke")
    assert (r.status_code, r.headers["location"]) == (303, "/account?saved=sessions")
    assert (await other.get("/tasks")).status_code == 303
    assert (await web.get("/tasks")).status_code == 200
    await other.http.aclose()
    await stranger.http.aclose()


async def test_password_change_keeps_this_browser_only(app: FastAPI, web: WebClient) -> None:
    await web.signup()
    other = await second_client(app)
    await other.get("/login")
    await other.post("/login", {"email": web.email, "password": PASSWORD, "next": "/tasks"})
    wrong = await web.post(
        "/account/password", {"current_password": "nope", "new_password": "fresh secret 1"}
    )
    assert wrong.status_code == 403 and "The password is incorrect" in wrong.text
    weak = await web.post(
        "/account/password", {"current_password": PASSWORD, "new_password": "password"}
    )
    assert weak.status_code == 422 and "too common" in weak.text
    r = await web.post(
        "/account/password", {"current_password": PASSWORD, "new_password": "fresh secret 1"}
    )
    assert (r.status_code, r.headers["location"]) == (303, "/account?saved=password")
    assert (await web.get("/account")).status_code == 200
    assert (await other.get("/tasks")).status_code == 303
    await other.http.aclose()


# CSRF


async def test_csrf_is_required_and_nothing_changes_without_it(web: WebClient) -> None:
    await web.signup()
    cases: list[tuple[dict[str, str], dict[str, str]]] = [
        ({"title": "a", "csrf_token": ""}, {}),
        ({"title": "b", "csrf_token": "f" * 64}, {}),
        ({"title": "c"}, {"Sec-Fetch-Site": "cross-site"}),
        ({"title": "d"}, {"Sec-Fetch-Site": "same-site"}),
    ]
    for data, headers in cases:
        form = {"csrf_token": web.token, **data}
        r = await web.http.post(
            "/tasks", data=form, headers={"Sec-Fetch-Site": "same-origin", **headers}
        )
        assert r.status_code == 403, (data, headers)
        assert "text/html" in r.headers["content-type"]
    # No Sec-Fetch-Site, but a foreign Origin.
    r = await web.http.post(
        "/tasks",
        data={"title": "e", "csrf_token": web.token},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    # A cross-site htmx request with a forged header token.
    r = await web.http.post(
        "/tasks",
        data={"title": "f"},
        headers={"HX-Request": "true", "X-CSRF-Token": "0" * 64, "Sec-Fetch-Site": "same-origin"},
    )
    assert r.status_code == 403
    page = await web.get("/tasks")
    assert "Nothing to do yet" in page.text
    ok = await web.http.post(
        "/tasks",
        data={"title": "g", "csrf_token": web.token},
        headers={"Origin": "http://testserver"},
    )
    assert ok.status_code == 303


async def test_api_with_bearer_needs_no_csrf(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    r = await client.post(
        "/api/v1/tasks",
        json={"title": "api"},
        headers={
            **acct.headers,
            "Sec-Fetch-Site": "cross-site",
            "Origin": "https://elsewhere.example",
        },
    )
    assert r.status_code == 201


# Headers


@pytest.mark.parametrize(
    "path", ["/login", "/api/v1/tasks", "/healthz", "/nope", "/static/app.css"]
)
async def test_security_headers_everywhere(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "'unsafe-inline'" not in csp.split("style-src")[0]
    assert "frame-ancestors 'self'" in csp and "huggingface" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "strict-transport-security" not in r.headers


async def test_docs_csp_allows_only_its_own_inline_script(client: httpx.AsyncClient) -> None:
    r = await client.get("/docs")
    csp = r.headers["content-security-policy"]
    assert "'sha256-" in csp and "script-src 'self' 'sha256-" in csp
    assert "'unsafe-inline'" not in csp.split("style-src")[0]


async def test_pages_have_no_inline_script_and_vary(web: WebClient) -> None:
    await web.signup()
    await web.add("one")
    for path in ["/login", "/signup", "/tasks", "/account"]:
        r = await web.get(path)
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text) is None, path
        assert not re.search(r"<[^>]+\son[a-z]+=", r.text), path
        assert "https://" not in r.text and "http://" not in r.text, path
    r = await web.get("/tasks")
    assert r.headers["vary"] == "HX-Request"


# Route matrix: every web route, anonymous and another user's ids


def web_routes(app: FastAPI) -> set[tuple[str, str]]:
    out = set()
    for ctx in iter_route_contexts(app.routes):
        path = getattr(ctx, "path", "")
        for method in getattr(ctx, "methods", None) or ():
            if method != "HEAD" and not is_api_path(path) and path != "/static":
                out.add((method, path))
    return out


# (method, path) → (owner form data, owner status), for each route with an id
ID_CASES: dict[tuple[str, str], tuple[dict[str, str], int]] = {
    ("GET", "/tasks/{task_id}"): ({}, 303),
    ("GET", "/tasks/{task_id}/edit"): ({}, 200),
    ("POST", "/tasks/{task_id}"): ({"title": "renamed"}, 303),
    ("POST", "/tasks/{task_id}/toggle"): ({}, 303),
    ("POST", "/tasks/{task_id}/skip"): ({}, 409),
    ("POST", "/tasks/{task_id}/delete"): ({}, 303),
    ("POST", "/account/sessions/{session_id}/revoke"): ({}, 303),
    ("POST", "/account/feeds/{feed_id}/rotate"): ({}, 200),
    ("POST", "/account/feeds/{feed_id}/revoke"): ({}, 303),
    ("POST", "/account/tokens/{token_id}/revoke"): ({}, 404),
    ("POST", "/tasks/{task_id}/reminders"): ({"before": "PT5M"}, 303),
    ("POST", "/tasks/{task_id}/reminders/{reminder_id}/delete"): ({}, 303),
    ("POST", "/notifications/{notification_id}/read"): ({}, 303),
    ("POST", "/notifications/{notification_id}/snooze"): ({"preset": "1h"}, 303),
    ("GET", "/tasks/{task_id}/delete"): ({}, 200),
    ("POST", "/tasks/{task_id}/move"): ({"op": "first:none"}, 303),
    ("GET", "/projects/{project_id}"): ({}, 200),
    ("POST", "/projects/{project_id}"): ({"color": "red"}, 303),
    ("GET", "/projects/{project_id}/delete"): ({}, 200),
    ("GET", "/projects/{project_id}/activity"): ({}, 200),
    ("POST", "/projects/{project_id}/delete"): ({"confirm": "yes"}, 303),
    ("POST", "/projects/{project_id}/sections"): ({"name": "Later"}, 303),
    ("POST", "/projects/{project_id}/move"): ({"op": "first:x"}, 303),
    ("POST", "/sections/{section_id}"): ({"name": "Renamed"}, 303),
    ("GET", "/sections/{section_id}/delete"): ({}, 200),
    ("POST", "/sections/{section_id}/delete"): ({"confirm": "yes"}, 303),
    ("POST", "/sections/{section_id}/move"): ({"op": "first:x"}, 303),
    ("GET", "/projects/{project_id}/share"): ({}, 200),
    ("POST", "/projects/{project_id}/share/invite"): ({"email": "friend@example.com"}, 200),
    # {member_id} is the owner's own id: the owner's role is fixed and the owner cannot be
    # removed or leave (409); tests/test_sharing_invites.py covers a member's.
    ("POST", "/projects/{project_id}/share/members/{member_id}/role"): ({"role": "viewer"}, 409),
    ("POST", "/projects/{project_id}/share/members/{member_id}/remove"): ({}, 409),
    ("POST", "/projects/{project_id}/share/leave"): ({}, 409),
    ("POST", "/projects/{project_id}/share/owner"): ({"user_id": str(uuid.UUID(int=1))}, 422),
    ("POST", "/projects/{project_id}/share/invitations/{invitation_id}/revoke"): ({}, 303),
    ("GET", "/account/webhooks/{webhook_id}"): ({}, 200),
    ("POST", "/account/webhooks/{webhook_id}/delete"): ({}, 303),
    ("POST", "/account/webhooks/{webhook_id}/deliveries/{delivery_id}/replay"): ({}, 303),
    ("POST", "/tasks/{task_id}/assignee"): ({"assignee_id": ""}, 303),
    ("POST", "/tasks/{task_id}/comments"): ({"body": "hi"}, 303),
    ("POST", "/tasks/{task_id}/comments/{comment_id}"): ({"body": "edited"}, 303),
    ("POST", "/tasks/{task_id}/comments/{comment_id}/delete"): ({}, 303),
    ("POST", "/tasks/{task_id}/mute"): ({"muted": "1"}, 303),
}
PUBLIC = {
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/signup"),
    ("POST", "/signup"),
    ("POST", "/logout"),
    # An invitation link's page: gated by the signed token in its path (404 forged, 410 used
    # or expired; tests/test_sharing_invites.py).
    ("GET", "/invitations/{token}"),
    ("GET", "/sw.js"),  # the service worker script (tests/test_push.py)
    ("GET", "/manifest.webmanifest"),  # tests/browser/test_notifications.py
    ("GET", "/offline"),  # the offline page, the same for everyone (tests/test_offline.py)
    # Asking for a reset email: the same page whether the email has an account or not
    # (tests/test_email_reset.py).
    ("GET", "/forgot-password"),
    ("POST", "/forgot-password"),
}
NEEDS_LOGIN = {
    ("GET", "/tasks"),
    ("POST", "/tasks"),
    ("POST", "/tasks/quick"),
    ("POST", "/tasks/preview"),
    ("POST", "/offline/tasks"),  # a quick add queued offline (tests/test_offline.py)
    ("POST", "/undo"),
    ("GET", "/account"),
    ("POST", "/account"),
    ("POST", "/account/password"),
    ("POST", "/account/delete"),
    ("POST", "/account/feeds"),
    ("GET", "/account/data"),
    ("GET", "/account/export"),
    ("POST", "/account/import"),
    ("POST", "/account/tokens"),
    ("GET", "/account/webhooks"),
    ("POST", "/account/webhooks"),
    ("POST", "/logout-everywhere"),
    ("GET", "/events"),  # the owner's stream: tests/browser/test_reminders.py
    ("GET", "/notifications"),
    ("GET", "/notifications/bell"),
    ("POST", "/notifications/read-all"),
    ("GET", "/push/key"),
    ("POST", "/push/subscribe"),
    ("POST", "/push/unsubscribe"),
    ("POST", "/account/notifications"),
    ("GET", "/today"),
    ("GET", "/upcoming"),
    ("GET", "/projects"),
    ("POST", "/projects"),
    ("GET", "/invitations"),
    # Invitations made for the signed-in user's email, and accepting a link: another user's
    # is 404 or 403 (tests/test_sharing_invites.py).
    ("POST", "/invitations/mine/{invitation_id}/accept"),
    ("POST", "/invitations/mine/{invitation_id}/decline"),
    ("POST", "/invitations/{token}/accept"),
    ("GET", "/trash"),
    ("POST", "/trash/empty"),
    ("POST", "/trash/{item_id}/restore"),
    ("POST", "/trash/{item_id}/empty"),
}


# Pages a link's token opens instead of a session: a forged, expired or used one is a 4xx
# page (tests/test_accounts.py).
LINK_PAGES = {
    ("GET", "/invite/{token}"),
    ("GET", "/reset-password/{token}"),
    ("POST", "/reset-password/{token}"),
    # An email's List-Unsubscribe link, its token in the query (tests/test_email.py).
    ("GET", "/unsubscribe"),
    ("POST", "/unsubscribe"),
}
# The admin page: any account by id, for admins only; others get 403 (tests/test_accounts.py).
ADMIN_PAGES = {
    ("GET", "/admin"),
    ("POST", "/admin/invitations"),
    ("POST", "/admin/users/{user_id}/reset-link"),
    ("POST", "/admin/users/{user_id}/disable"),
    ("POST", "/admin/users/{user_id}/enable"),
}


async def test_every_web_route_is_classified(app: FastAPI) -> None:
    assert web_routes(app) == set(ID_CASES) | PUBLIC | NEEDS_LOGIN | LINK_PAGES | ADMIN_PAGES


@pytest.mark.parametrize(("method", "path"), sorted(NEEDS_LOGIN | set(ID_CASES) | ADMIN_PAGES))
async def test_anonymous_is_sent_to_login(web: WebClient, method: str, path: str) -> None:
    await web.get("/login")
    url = path.format(
        task_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        feed_id=uuid.uuid4(),
        reminder_id=uuid.uuid4(),
        project_id=uuid.uuid4(),
        section_id=uuid.uuid4(),
        webhook_id=uuid.uuid4(),
        delivery_id=uuid.uuid4(),
        token_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        member_id=uuid.uuid4(),
        invitation_id=uuid.uuid4(),
        token="x.y",
        comment_id=uuid.uuid4(),
        item_id=uuid.uuid4(),
        notification_id=uuid.uuid4(),
    )
    r = await (web.get(url) if method == "GET" else web.post(url, {"title": "x"}))
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize(("method", "path"), sorted(ID_CASES))
async def test_another_users_ids_are_404(
    app: FastAPI, web: WebClient, database: Database, method: str, path: str
) -> None:
    await web.signup()
    task_id = await web.add("private", tags="secret")
    async with database.read_sessions() as s:
        session_id = (await s.execute(select(WebSession.id))).scalar_one()
    assert (await web.post(f"/tasks/{task_id}/reminders", {"before": "PT0S"})).status_code == 303
    async with database.write_sessions() as s:
        reminder_id = (await s.execute(select(Reminder.id))).scalar_one()
        # Fired at once (it is made due now): a notification, then pending again.
        now = datetime.now(UTC)
        await s.execute(update(Reminder).values(fire_at=now - timedelta(seconds=1)))
        await s.commit()
    await fire_due(database)
    async with database.write_sessions() as s:
        notification_id = (await s.execute(select(Notification.id))).scalar_one()
        await s.execute(update(Reminder).values(fire_at=now + timedelta(days=1), fired_at=None))
        await s.commit()
    r = await web.post("/account/feeds", {"name": "cal"})
    feed_id = re.search(r'id="feed-([0-9a-f-]{36})"', r.text).group(1)  # type: ignore[union-attr]
    project_id, section_id = await make_project(web, "Private", section="Hidden")
    hook = {"url": "https://example.com/h", "event_types": "task.created"}
    r = await web.post("/account/webhooks", hook)
    webhook_id = re.search(r'id="webhook-([0-9a-f-]{36})"', r.text).group(1)  # type: ignore[union-attr]
    await web.add("hooked")
    async with database.read_sessions() as s:
        delivery_id = (await s.execute(select(WebhookDelivery.id))).scalar_one()
    r = await web.post(f"/projects/{project_id}/share/invite", {"email": "pal@example.com"})
    invitation_id = re.search(r"/share/invitations/([0-9a-f-]{36})/revoke", r.text).group(1)  # type: ignore[union-attr]
    async with database.read_sessions() as s:
        member_id = (await s.execute(select(User.id))).scalar_one()
    assert (await web.post(f"/tasks/{task_id}/comments", {"body": "secret"})).status_code == 303
    async with database.read_sessions() as s:
        comment_id = (await s.execute(select(Comment.id))).scalar_one()
    intruder = await second_client(app)
    await intruder.signup()
    url = path.format(
        member_id=member_id,
        invitation_id=invitation_id,
        task_id=task_id,
        session_id=session_id,
        feed_id=feed_id,
        reminder_id=reminder_id,
        project_id=project_id,
        section_id=section_id,
        webhook_id=webhook_id,
        delivery_id=delivery_id,
        token_id=uuid.uuid4(),
        comment_id=comment_id,
        notification_id=notification_id,
    )
    data, owner_status = ID_CASES[(method, path)]
    r = await (intruder.get(url) if method == "GET" else intruder.post(url, data))
    assert r.status_code == 404, r.text
    assert "text/html" in r.headers["content-type"] and "Not found" in r.text
    page = await web.get("/tasks")
    assert "private" in page.text and "#secret" in page.text and 'aria-pressed="false"' in page.text
    r = await (web.get(url) if method == "GET" else web.post(url, data))
    assert r.status_code == owner_status, r.text
    await intruder.http.aclose()


async def make_project(web: WebClient, name: str, *, section: str = "") -> tuple[str, str]:
    """A project made through the web app (and a section in it): their ids."""
    r = await web.post("/projects", {"name": name, "color": "blue"})
    assert r.status_code == 303, r.text
    project_id = r.headers["location"].removeprefix("/projects/")
    section_id = ""
    if section:
        r = await web.post(f"/projects/{project_id}/sections", {"name": section})
        assert r.status_code == 303, r.text
        page = await web.get(f"/projects/{project_id}")
        found = re.search(r'<h2 id="section-([0-9a-f-]{36})">', page.text)
        assert found, page.text
        section_id = found.group(1)
    return project_id, section_id


# Flows without JavaScript (plain forms and redirects) and with htmx fragments


async def test_no_js_add_complete_delete(web: WebClient) -> None:
    await web.signup()
    r = await web.post(
        "/tasks",
        {"title": "Plain form task", "priority": "high", "due_date": "2030-01-02", "tags": "a, b"},
    )
    assert (r.status_code, r.headers["location"]) == (303, "/tasks")
    page = await web.get("/tasks")
    task_id = re.search(r'id="task-([0-9a-f-]{36})"', page.text).group(1)  # type: ignore[union-attr]
    assert "Plain form task" in page.text and "#a" in page.text and "2 Jan 2030" in page.text
    assert (await web.post(f"/tasks/{task_id}/toggle")).status_code == 303
    assert 'aria-label="Reopen: Plain form task"' in (await web.get("/tasks")).text
    assert (await web.post(f"/tasks/{task_id}/delete")).status_code == 303
    assert "Plain form task" not in (await web.get("/tasks")).text


async def test_validation_errors_sit_next_to_their_field(app: FastAPI, web: WebClient) -> None:
    await web.signup()
    r = await web.post("/tasks", {"title": "   "})
    assert r.status_code == 422
    assert 'id="quick-title-error">Fill this in</p>' in r.text  # plain words (issue 18)
    r = await web.post("/tasks", {"title": "x"}, htmx=True)
    assert r.status_code == 200
    r = await web.post("/tasks", {"title": "x" * 201}, htmx=True)
    assert r.status_code == 422 and r.headers["hx-retarget"] == "#quick-add"
    assert "at most 200 characters" in r.text
    newcomer = await second_client(app)
    await newcomer.get("/signup")
    r = await newcomer.post("/signup", {"email": "not-an-email", "password": "short"})
    assert r.status_code == 422
    assert 'id="email-error"' in r.text and 'id="password-error"' in r.text
    await newcomer.http.aclose()


def _quick_add_form(html: str) -> str:
    found = re.search(r'<form id="quick-add".*?</form>', html, re.S)
    assert found, html
    return found.group(0)


async def test_an_add_after_a_refused_one_gets_an_empty_box_without_the_old_error(
    web: WebClient,
) -> None:
    await web.signup()
    refused = await web.post("/tasks/quick", {"title": "#garden tomorrow"}, htmx=True)
    assert refused.status_code == 422 and refused.headers["hx-retarget"] == "#quick-add"
    form = _quick_add_form(refused.text)
    assert 'value="#garden tomorrow"' in form and 'id="quick-title-error"' in form
    # The next add answers with the task and a fresh form in place of the refused one (a
    # reset would restore the refused text, which that form holds as its default).
    for text in ("Buy oat milk", "Water the fern"):
        r = await web.post("/tasks/quick", {"title": text, "due_date": "", "tags": ""}, htmx=True)
        assert r.status_code == 200, r.text
        form = _quick_add_form(r.text)
        assert form.startswith('<form id="quick-add" method="post" action="/tasks/quick"')
        assert 'hx-swap-oob="true"' in form
        assert re.search(r'<input id="quick-title"[^>]*value=""', form), form
        assert "field-error" not in form and "aria-invalid" not in form
        assert "garden" not in form and text not in form
        assert '<details class="quick-more">' in form  # closed again


async def test_fragments_escape_html(web: WebClient) -> None:
    await web.signup()
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    r = await web.post(
        "/tasks", {"title": evil, "description": evil, "tags": "<b>x</b>"}, htmx=True
    )
    assert "<script>alert" not in r.text and "<img src=x" not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text and "#&lt;b&gt;x&lt;/b&gt;" in r.text


async def test_htmx_toggle_edit_delete_undo(web: WebClient) -> None:
    await web.signup(timezone="Europe/Paris")
    task_id = await web.add("Edit me", due_date="2031-05-06", due_time="09:30", tags="work")
    r = await web.post(f"/tasks/{task_id}/toggle", htmx=True)
    assert (
        'aria-pressed="true"' in r.text
        and 'id="counts" class="counts" hx-swap-oob="true"' in r.text
    )
    r = await web.get(f"/tasks/{task_id}/edit", headers={"HX-Request": "true"})
    assert (
        'value="Edit me"' in r.text and 'value="2031-05-06"' in r.text and 'value="09:30"' in r.text
    )
    r = await web.post(f"/tasks/{task_id}", {"title": "", "tags": "x"}, htmx=True)
    assert r.status_code == 422 and "Fill this in" in r.text
    r = await web.post(
        f"/tasks/{task_id}",
        {
            "title": "Edited",
            "description": "d",
            "priority": "urgent",
            "due_date": "",
            "tags": "home",
        },
        htmx=True,
    )
    assert r.status_code == 200 and "Edited" in r.text and "#home" in r.text and "urgent" in r.text
    api_view = await web.get(f"/tasks/{task_id}", headers={"HX-Request": "true"})
    assert "Edited" in api_view.text
    r = await web.post(f"/tasks/{task_id}/delete", htmx=True)
    undo = re.search(r'name="undo" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    assert 'data-timeout="8000"' in r.text and "Deleted “Edited”" in r.text
    assert "Edited" not in (await web.get("/tasks")).text
    r = await web.post("/undo", {"undo": undo}, htmx=True)
    assert r.status_code == 200 and f'id="task-{task_id}"' in r.text
    page = await web.get("/tasks")
    assert (
        f'id="task-{task_id}"' in page.text
        and "#home" in page.text
        and 'aria-pressed="true"' in page.text
    )
    # Undo twice is harmless; a forged token is refused.
    assert (await web.post("/undo", {"undo": undo}, htmx=True)).status_code == 200
    assert (await web.post("/undo", {"undo": undo[:-4] + "0000"}, htmx=True)).status_code == 400


async def test_undo_token_of_another_user_is_refused(app: FastAPI, web: WebClient) -> None:
    await web.signup()
    task_id = await web.add("mine")
    r = await web.post(f"/tasks/{task_id}/delete", htmx=True)
    undo = re.search(r'name="undo" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    thief = await second_client(app)
    await thief.signup()
    assert (await thief.post("/undo", {"undo": undo}, htmx=True)).status_code == 400
    assert "mine" not in (await thief.get("/tasks")).text
    await thief.http.aclose()


async def test_filters_search_sort_and_load_more(web: WebClient) -> None:
    await web.signup(timezone="Pacific/Kiritimati")
    for i in range(55):
        await web.add(f"bulk {i:02d}")
    await web.add("needle in a haystack", priority="urgent", tags="findme", due_date="2000-01-01")
    page = await web.get("/tasks")
    assert page.text.count('<li id="task-') == 50 and "Load more" in page.text
    more_url = (
        re.search(r'hx-get="(/tasks\?[^"]*cursor=[^"]+)"', page.text).group(1).replace("&amp;", "&")
    )  # type: ignore[union-attr]
    more = await web.get(more_url, headers={"HX-Request": "true", "HX-Target": "load-more"})
    assert more.text.count('<li id="task-') == 6 and "Load more" not in more.text
    assert 'hx-swap-oob="beforeend:#task-list"' in more.text
    search = await web.get(
        "/tasks?q=HAYSTACK", headers={"HX-Request": "true", "HX-Target": "list-region"}
    )
    assert search.text.count('<li id="task-') == 1 and "needle" in search.text
    # The list region comes with the sidebar counts (open tabs refresh both on a task event).
    assert '<dl id="counts" class="counts" hx-swap-oob="true">' in search.text
    for query in ["tag=findme", "priority=urgent", "due=overdue", "status=pending&due=overdue"]:
        r = await web.get(
            f"/tasks?{query}", headers={"HX-Request": "true", "HX-Target": "app-region"}
        )
        assert r.text.count('<li id="task-') == 1, query
    # Today includes the overdue needle, as in Todoist.
    assert (await web.get("/tasks?due=today")).text.count('<li id="task-') == 1
    assert (await web.get("/tasks?due=none")).text.count('<li id="task-') == 50
    r = await web.get("/tasks?tag=nope")
    assert "No tasks match" in r.text
    first = await web.get("/tasks?sort=title")
    assert first.text.index("bulk 00") < first.text.index("bulk 01")


async def test_double_submit_of_the_same_form_is_dropped_by_the_client_not_the_server(
    web: WebClient,
) -> None:
    # The browser test proves a double click makes one task (hx-sync drop); the form says so.
    await web.signup()
    page = await web.get("/tasks")
    assert 'hx-sync="this:drop"' in page.text and "hx-disabled-elt" in page.text


async def test_account_profile_and_delete(web: WebClient, database: Database) -> None:
    await web.signup()
    r = await web.post("/account", {"name": "Zed", "timezone": "Mars/Base"})
    assert r.status_code == 422 and "IANA time zone" in r.text
    r = await web.post("/account", {"name": "Zed", "timezone": "Asia/Tokyo"})
    assert r.headers["location"] == "/account?saved=profile"
    page = await web.get("/account?saved=profile")
    assert (
        'value="Zed"' in page.text
        and 'value="Asia/Tokyo"' in page.text
        and "Profile saved." in page.text
    )
    r = await web.post("/account/delete", {"password": PASSWORD})
    assert r.status_code == 422 and "Tick the box" in r.text
    r = await web.post("/account/delete", {"password": "wrong", "confirm": "yes"})
    assert r.status_code == 403
    r = await web.post("/account/delete", {"password": PASSWORD, "confirm": "yes"})
    assert (r.status_code, r.headers["location"]) == (303, "/signup?deleted=1")
    async with database.read_sessions() as s:
        assert (await s.execute(select(WebSession))).first() is None
    assert (await web.get("/tasks")).status_code == 303


async def test_friendly_error_pages(web: WebClient) -> None:
    r = await web.get("/no/such/page")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert "There is nothing here" in r.text and "Traceback" not in r.text
    await web.signup()
    r = await web.get(f"/tasks/{uuid.uuid4()}/edit")
    assert r.status_code == 404 and "Back to your tasks" in r.text
    r = await web.get("/tasks/not-a-uuid/edit")
    assert r.status_code == 422 and "text/html" in r.headers["content-type"]
    r = await web.get("/tasks?status=bogus")
    assert r.status_code == 422 and "That did not look right" in r.text


async def test_long_description_and_many_tags_render(web: WebClient) -> None:
    await web.signup()
    tags = ", ".join(f"tag{i}" for i in range(30))
    task_id = await web.add("big", description="x" * 10_000, tags=tags)
    page = await web.get("/tasks")
    assert page.text.count('class="chip"') >= 30 and "x" * 10_000 in page.text
    assert f'id="task-{task_id}"' in page.text


# Today and Upcoming: open dated tasks grouped by day in the user's zone (tasks.agenda)


def day_groups(html: str) -> list[tuple[str, list[str]]]:
    """Each day group's heading (without its count) and the titles in it, in page order."""
    out = []
    for chunk in html.split('<section class="day-group"')[1:]:
        heading = re.search(r"<h2[^>]*>([^<]*)<span", chunk)
        assert heading, chunk
        out.append((heading.group(1).strip(), re.findall(r'<p class="title">([^<]*)</p>', chunk)))
    return out


async def test_today_and_upcoming_group_open_tasks_by_local_day(
    app: FastAPI, web: WebClient
) -> None:
    # 23:30 on Thursday 14 January in Berlin is already Friday 15th there.
    fixed = datetime(2027, 1, 14, 23, 30, tzinfo=UTC)
    app.state.doable.clock = lambda: fixed
    await web.signup(timezone="Europe/Berlin")
    dues = {
        "last week": ("2027-01-08", ""),
        "yesterday": ("2027-01-14", ""),
        "today": ("2027-01-15", ""),  # all day: first in its day
        "today 00:10": ("2027-01-15", "00:10"),
        "tomorrow": ("2027-01-16", "09:00"),
        "in 14 days": ("2027-01-29", ""),
        "in 15 days": ("2027-01-30", ""),
    }
    for title, (day, clock) in dues.items():
        await web.add(title, due_date=day, due_time=clock)
    await web.add("undated")
    done = await web.add("done today", due_date="2027-01-15")
    assert (await web.post(f"/tasks/{done}/toggle")).status_code == 303

    today = await web.get("/today")
    assert today.status_code == 200, today.text
    assert day_groups(today.text) == [
        ("Overdue", ["last week", "yesterday"]),
        ("Today · Fri 15 Jan", ["today", "today 00:10"]),
    ]
    upcoming = await web.get("/upcoming")
    assert day_groups(upcoming.text) == [
        ("Tomorrow · Sat 16 Jan", ["tomorrow"]),
        ("Fri 29 Jan", ["in 14 days"]),
    ]
    # An open tab's refresh gets the groups alone, with the sidebar counts.
    part = await web.get("/today", headers={"HX-Request": "true", "HX-Target": "list-region"})
    assert day_groups(part.text) == day_groups(today.text)
    assert "<html" not in part.text and 'id="counts"' in part.text


async def test_today_and_upcoming_say_when_nothing_is_due(web: WebClient) -> None:
    await web.signup()
    await web.add("undated")
    for path, heading in [("/today", "Nothing due today"), ("/upcoming", "Nothing in the next")]:
        r = await web.get(path)
        assert r.status_code == 200 and day_groups(r.text) == []
        assert heading in r.text and '<div id="empty" class="empty">' in r.text


# Webhooks


async def test_webhooks_pages_create_show_the_secret_once_and_replay(
    web: WebClient, database: Database
) -> None:
    await web.signup()
    assert 'href="/account/webhooks"' in (await web.get("/account")).text
    page = await web.get("/account/webhooks")
    assert page.status_code == 200 and "No webhooks yet." in page.text
    r = await web.post(
        "/account/webhooks",
        {"url": "https://hooks.example.com/in", "event_types": ["task.created", "task.deleted"]},
    )
    assert r.status_code == 201, r.text
    secret = re.search(r'id="hook-secret" type="text" readonly value="(whsec_[^"]+)"', r.text)
    assert secret is not None
    webhook_id = re.search(r'id="webhook-([0-9a-f-]{36})"', r.text).group(1)  # type: ignore[union-attr]
    assert "task.created, task.deleted" in r.text
    page = await web.get("/account/webhooks")
    assert secret.group(1) not in page.text and "https://hooks.example.com/in" in page.text

    await web.add("Sent out")
    page = await web.get(f"/account/webhooks/{webhook_id}")
    assert page.status_code == 200 and page.headers["vary"] == "HX-Request"
    delivery_id = re.search(r'id="delivery-([0-9a-f-]{36})"', page.text).group(1)  # type: ignore[union-attr]
    assert "task.created" in page.text and "pending (0 attempts)" in page.text
    assert secret.group(1) not in page.text
    r = await web.post(f"/account/webhooks/{webhook_id}/deliveries/{delivery_id}/replay")
    assert (r.status_code, r.headers["location"]) == (
        303,
        f"/account/webhooks/{webhook_id}?saved=replayed",
    )
    async with database.read_sessions() as s:
        rows = (await s.execute(select(WebhookDelivery.message_id))).scalars().all()
    assert len(rows) == 2 and rows[0] == rows[1]

    r = await web.post(f"/account/webhooks/{webhook_id}/delete")
    assert (r.status_code, r.headers["location"]) == (303, "/account/webhooks?saved=deleted")
    page = await web.get(r.headers["location"])
    assert "Webhook deleted." in page.text and "No webhooks yet." in page.text


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"url": "ftp://example.com/h", "event_types": "task.created"}, "url", "http"),
        ({"url": "http://127.0.0.1/h", "event_types": "task.created"}, "url", "loopback"),
        ({"url": "https://example.com/h"}, "event_types", "at least one"),
        ({"url": "https://example.com/h", "event_types": "task.nope"}, "event_types", "options"),
        ({"url": "https://example.com/\x00", "event_types": "task.created"}, "url", "one line"),
    ],
)
async def test_webhook_form_errors_sit_next_to_their_field(
    web: WebClient, form: dict[str, str], field: str, message: str
) -> None:
    await web.signup()
    r = await web.post("/account/webhooks", form)
    assert r.status_code == 422, r.text
    found = re.search(rf'<p class="field-error" id="hook_{field}-error">([^<]*)</p>', r.text)
    assert found is not None and message in found.group(1), r.text
    assert "No webhooks yet." in r.text


async def test_webhook_csrf_is_checked(web: WebClient) -> None:
    await web.signup()
    r = await web.http.post(
        "/account/webhooks",
        data={"url": "https://example.com/h", "event_types": "task.created"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert r.status_code == 403
    assert "No webhooks yet." in (await web.get("/account/webhooks")).text
