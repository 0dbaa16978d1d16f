"""The web app's pages under load: the task list (HTML, beside the JSON list), Today, Upcoming,
a project, its board, and one task's page.

The pages sign in with a browser session (the `doable_session` cookie, made by the login form),
not a bearer token. The task list page is the throughput user's, as the JSON `list_first` is, so
the two rates compare the same 50 tasks. The other views need projects, sections and due dates
that the seeded tasks lack, so they belong to one more user, made through the API the first
time (then found again): `VIEW_TASKS` tasks in a project with three sections, a third due
before today, a third in the next days, a third with no due date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx

from benchmarks.common import PASSWORD, THROUGHPUT_SIZE, scale_email
from benchmarks.load import Requests

API = "/api/v1"
VIEWS_EMAIL = "views@bench.example"
VIEWS_PROJECT = "Bench views"
SECTIONS = ("Backlog", "Doing", "Waiting")
VIEW_TASKS = 150
SESSION_COOKIE = "doable_session"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Pages:
    """What the page scenarios ask for."""

    list_cookie: str  # the throughput user's browser session
    views_cookie: str  # the views user's
    project_id: str
    task_ids: list[str]


def web_session(client: httpx.Client, email: str) -> str:
    """Sign in through the login form; the session cookie's value."""
    client.cookies.clear()
    page = client.get("/login")
    page.raise_for_status()
    found = _CSRF.search(page.text)
    assert found, "no CSRF token on /login"
    form = {"email": email, "password": PASSWORD, "csrf_token": found[1], "next": "/tasks"}
    answer = client.post("/login", data=form)
    cookie = answer.cookies.get(SESSION_COOKIE) or client.cookies.get(SESSION_COOKIE)
    if answer.status_code != 303 or not cookie:
        raise SystemExit(f"web login as {email} failed: {answer.status_code} {answer.text[:300]}")
    client.cookies.clear()
    return cookie


def _views_user(client: httpx.Client) -> dict[str, str]:
    """The views user's bearer header: signed up the first time, logged in after."""
    body = {"email": VIEWS_EMAIL, "password": PASSWORD}
    answer = client.post(f"{API}/auth/login", data={"username": VIEWS_EMAIL, "password": PASSWORD})
    if answer.status_code != 200:
        answer = client.post(f"{API}/auth/signup", json=body)
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _views_project(client: httpx.Client, auth: dict[str, str]) -> tuple[str, list[str]]:
    """The views project and its tasks' ids, made once."""
    projects = client.get(f"{API}/projects", headers=auth).json()
    items = projects["items"] if isinstance(projects, dict) else projects
    for project in items:
        if project["name"] == VIEWS_PROJECT:
            tasks = client.get(
                f"{API}/tasks", params={"project_id": project["id"], "limit": 200}, headers=auth
            ).json()["items"]
            if len(tasks) >= VIEW_TASKS:
                return project["id"], [t["id"] for t in tasks]
    made = client.post(f"{API}/projects", json={"name": VIEWS_PROJECT}, headers=auth)
    made.raise_for_status()
    project_id = made.json()["id"]
    sections = []
    for name in SECTIONS:
        answer = client.post(
            f"{API}/projects/{project_id}/sections", json={"name": name}, headers=auth
        )
        answer.raise_for_status()
        sections.append(answer.json()["id"])
    today = datetime.now(UTC).date()
    ids = []
    for i in range(VIEW_TASKS):
        due: date | None = None
        if i % 3 == 0:
            due = today - timedelta(days=i % 4)  # overdue or today: on Today
        elif i % 3 == 1:
            due = today + timedelta(days=1 + i % 10)  # on Upcoming
        task: dict[str, object] = {
            "title": f"View task {i}",
            "description": "A task on the views benchmark's board." if i % 2 else "",
            "project_id": project_id,
            "section_id": sections[i % len(sections)],
            "priority": ("none", "low", "medium", "high")[i % 4],
        }
        if due is not None:
            task["due"] = due.isoformat()
        answer = client.post(f"{API}/tasks", json=task, headers=auth)
        if answer.status_code != 201:
            raise SystemExit(f"making the views' tasks: {answer.status_code} {answer.text[:300]}")
        ids.append(answer.json()["id"])
    return project_id, ids


def prepare(base_url: str) -> Pages:
    """Sign both users in through the web form, and make the views data if it is missing."""
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        auth = _views_user(client)
        project_id, task_ids = _views_project(client, auth)
        return Pages(
            list_cookie=web_session(client, scale_email(THROUGHPUT_SIZE)),
            views_cookie=web_session(client, VIEWS_EMAIL),
            project_id=project_id,
            task_ids=task_ids,
        )


def _page(path: str) -> tuple[str, str, str, str]:
    return ("GET", path, "-", "-")


def _cookie(value: str) -> str:
    # requests.lua sends a "cookie:" credential as the Cookie header.
    return f"cookie:{SESSION_COOKIE}={value}"


def html_list(pages: Pages) -> Requests:
    """The task list page: the throughput user's newest 50, as `list_first` asks in JSON."""
    return Requests("html_list", [_page("/tasks")], _cookie(pages.list_cookie))


def today(pages: Pages) -> Requests:
    return Requests("page_today", [_page("/today")], _cookie(pages.views_cookie))


def upcoming(pages: Pages) -> Requests:
    return Requests("page_upcoming", [_page("/upcoming")], _cookie(pages.views_cookie))


def project(pages: Pages) -> Requests:
    path = f"/projects/{pages.project_id}?view=list"
    return Requests("page_project", [_page(path)], _cookie(pages.views_cookie))


def board(pages: Pages) -> Requests:
    path = f"/projects/{pages.project_id}?view=board"
    return Requests("page_board", [_page(path)], _cookie(pages.views_cookie))


def task_page(pages: Pages) -> Requests:
    """A task's own page (the full page at /tasks/{id}/edit; /tasks/{id} only redirects)."""
    rows = [_page(f"/tasks/{task_id}/edit") for task_id in pages.task_ids]
    return Requests("page_task", rows, _cookie(pages.views_cookie))


PAGES = {
    "html_list": html_list,
    "page_today": today,
    "page_upcoming": upcoming,
    "page_project": project,
    "page_board": board,
    "page_task": task_page,
}
