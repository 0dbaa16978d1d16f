"""Every web form answers bad input in words a person understands (issue 18): a 4xx, never a
500, and none of pydantic's wording ("Value error", "Input should", "Field required"), type
names or tracebacks on the page. Table-driven: one row per form and bad value."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from doable.db import Database
from tests.factories import make_account
from tests.test_accounts import make_admin, promote, reset_link
from tests.webclient import WebClient

# What pydantic, Python or a stack trace says, never a person.
RAW = re.compile(
    r"Value error|Input should|String should|List should|Value should|Field required|"
    r"Extra inputs|[Vv]alidation|pydantic|Traceback|RFC 3339|\{'|"
    r"\b[A-Z][a-z]+[A-Z][a-z]+(?:In|Create|Patch|Out)\b"
)


@dataclass(frozen=True)
class Case:
    name: str
    url: str  # {project}, {task} and {invalid} are filled in
    data: dict[str, Any]
    status: int
    says: str  # the plain words that must appear
    htmx: bool = False
    signed_in: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case(
        "signup short password",
        "/signup",
        {"email": "a@example.com", "password": "abc"},
        422,
        "Use at least 8 characters",
        signed_in=False,
    ),
    Case(
        "signup bad email",
        "/signup",
        {"email": "nope", "password": "a long password"},
        422,
        "Enter an email address such as name@example.com",
        signed_in=False,
    ),
    Case(
        "signup long name",
        "/signup",
        {"email": "b@example.com", "password": "a long password", "name": "n" * 101},
        422,
        "Use at most 100 characters",
        signed_in=False,
    ),
    Case("login empty", "/login", {"email": "", "password": ""}, 401, "email", signed_in=False),
    Case(
        "reset forged link",
        "/reset-password/forged",
        {"new_password": "a long password"},
        400,
        "link",
        signed_in=False,
    ),
    Case(
        "profile long name",
        "/account",
        {"name": "n" * 101, "timezone": "UTC"},
        422,
        "Use at most 100 characters",
    ),
    Case(
        "profile unknown zone", "/account", {"name": "", "timezone": "Mars/Base"}, 422, "time zone"
    ),
    Case(
        "password short",
        "/account/password",
        {"current_password": "wrong one", "new_password": "abc"},
        422,
        "Use at least 8 characters",
    ),
    Case(
        "agenda time not a time",
        "/account/notifications",
        {"agenda": "on", "agenda_time": "25:99"},
        422,
        "HH:MM",
    ),
    Case(
        "agenda time oversized",
        "/account/notifications",
        {"agenda": "on", "agenda_time": "9" * 500},
        422,
        "HH:MM",
    ),
    Case("project empty name", "/projects", {"name": ""}, 422, "Fill this in"),
    Case("project long name", "/projects", {"name": "p" * 121}, 422, "Use at most 120 characters"),
    Case("project rename empty", "/projects/{project}", {"name": ""}, 422, "Fill this in"),
    Case("section empty name", "/projects/{project}/sections", {"name": ""}, 422, "Fill this in"),
    Case("comment empty", "/tasks/{task}/comments", {"body": ""}, 422, "Fill this in"),
    Case(
        "comment too long",
        "/tasks/{task}/comments",
        {"body": "c" * 10_001},
        422,
        "Use at most 10,000 characters",
    ),
    Case(
        "invite bad email",
        "/projects/{project}/share/invite",
        {"email": "nope", "role": "editor"},
        422,
        "email address",
    ),
    Case(
        "invite unknown role",
        "/projects/{project}/share/invite",
        {"email": "friend@example.com", "role": "boss"},
        422,
        "role",
    ),
    Case("webhook bad url", "/account/webhooks", {"url": "not a url"}, 422, "address"),
    Case("webhook no url", "/account/webhooks", {"url": ""}, 422, "Fill this in"),
    Case(
        "webhook no events",
        "/account/webhooks",
        {"url": "https://example.com/h"},
        422,
        "Choose at least one",
    ),
    Case(
        "token no name",
        "/account/tokens",
        {"name": "", "scope_tasks:read": "on"},
        422,
        "Fill this in",
    ),
    Case("token no scope", "/account/tokens", {"name": "script"}, 422, "Choose at least one"),
    Case(
        "token long name",
        "/account/tokens",
        {"name": "t" * 101, "scope_tasks:read": "on"},
        422,
        "Use at most 100 characters",
    ),
    Case(
        "quick add long title",
        "/tasks/quick",
        {"title": "t" * 201},
        422,
        "The title has 201 characters; use at most 200",
        htmx=True,
    ),
    Case(
        "quick add too much text",
        "/tasks/quick",
        {"title": "t" * 2001},
        422,
        "Use at most 2,000 characters",
        htmx=True,
    ),
    Case(
        "edit repeat words",
        "/tasks/{task}",
        {"title": "x", "repeat": "every blursday"},
        422,
        "repeat",
        htmx=True,
    ),
    Case(
        "edit raw rule",
        "/tasks/{task}",
        {"title": "x", "repeat": "FREQ=BOGUS"},
        422,
        "repeat",
        htmx=True,
    ),
    Case(
        "edit bad due",
        "/tasks/{task}",
        {"title": "x", "due_date": "2024-13-40"},
        422,
        "is not a date",
        htmx=True,
    ),
    Case(
        "edit bad time",
        "/tasks/{task}",
        {"title": "x", "due_date": "2024-01-02", "due_time": "25:00"},
        422,
        '"2024-01-02 25:00" is not a date and time',
        htmx=True,
    ),
    Case("reminder unreadable", "/tasks/{task}/reminders", {"before": "whenever"}, 422, "reminder"),
    Case("reminder at not a time", "/tasks/{task}/reminders", {"at": "soon"}, 422, "is not a date"),
    Case(
        "quick add preview warns",
        "/tasks/preview",
        {"title": "t" * 201},
        200,
        "The title has 201 characters; use at most 200",
        htmx=True,
    ),
    Case(
        "form field over the server's cap",
        "/projects",
        {"name": "p" * 1001},
        422,
        "could not be used",
    ),
    Case(
        "feed long name", "/account/feeds", {"name": "f" * 101}, 422, "Use at most 100 characters"
    ),
    Case(
        "plain add bad priority",
        "/tasks",
        {"title": "x", "priority": "extreme"},
        422,
        "Choose one of the options offered",
    ),
    Case(
        "plain add long title (no htmx)",
        "/tasks/quick",
        {"title": "t" * 201},
        422,
        "The title has 201 characters; use at most 200",
    ),
    Case(
        "project unknown colour",
        "/projects/{project}",
        {"name": "Home", "color": "chartreuse"},
        422,
        "colour",
    ),
    Case(
        "move to a place that is not one",
        "/tasks/{task}/move",
        {"op": "sideways"},
        422,
        "Choose where to move it",
    ),
    Case(
        "snooze unknown preset",
        "/notifications/{uuid}/snooze",
        {"preset": "forever"},
        422,
        "Snooze for 10 min, 1 hour or until tomorrow",
    ),
    Case(
        "feed long tag",
        "/account/feeds",
        {"name": "Work", "tag": "t" * 51},
        422,
        "Use at most 50 characters",
    ),
]


@pytest.fixture
async def web(client: httpx.AsyncClient) -> WebClient:
    return WebClient(client)


def _page_text(page: str) -> str:
    """What a person reads: the page without its tags, scripts and attributes."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_bad_input_reads_plainly(web: WebClient, case: Case) -> None:
    url = case.url
    if case.signed_in:
        await web.signup()
        if "{project}" in url:
            r = await web.post("/projects", {"name": "Home"})
            assert r.status_code == 303, r.text
            url = url.replace("{project}", r.headers["location"].rsplit("/", 1)[-1])
        url = url.replace("{uuid}", str(uuid.uuid4()))
        if "{task}" in url:
            url = url.replace("{task}", await web.add("Water plants"))
    else:
        await web.get(url if url != "/reset-password/forged" else "/login")
    r = await web.post(url, case.data, htmx=case.htmx)
    text = _page_text(r.text)
    assert r.status_code == case.status, text[:3000]
    assert case.says.lower() in text.lower(), text[:3000]
    raw = RAW.search(text)
    assert raw is None, text[max(0, raw.start() - 200) : raw.end() + 200]


async def _upload(web: WebClient, name: str, body: bytes, **fields: str) -> httpx.Response:
    await web.get("/account/data")
    return await web.http.post(
        "/account/import",
        data={"csrf_token": web.token, **fields},
        files={"file": (name, body, "application/vnd.ms-excel")},
        headers={"Sec-Fetch-Site": "same-origin"},
    )


def _report(page: str) -> list[str]:
    found = re.search(r'id="import-problems".*?<ul>(.*?)</ul>', page, flags=re.S)
    assert found, page
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", found.group(1))]


IMPORTS = [
    (
        "doable.csv",
        b"title,priority,due,completed,tags\r\n"
        b"Fine,low,2024-01-02,false,\r\n"
        b"Bad due,none,2024-13-40,false,\r\n"
        b"Bad priority,extreme,,false,\r\n"
        b",none,,maybe,\r\n"
        b"Short row,none\r\n"
        b"Long tag,none,,false," + b"t" * 51 + b"\r\n",
        [
            'Line 3: The due date "2024-13-40" is not a date (use YYYY-MM-DD)',
            'Line 4: The priority must be one of none, low, medium, high, urgent, not "extreme"',
            "Line 5: The title is empty",
            "Line 5: Completed must be true or false",
            "Line 6: This line has 2 cells; the header has 5",
            "Line 7: A tag is too long: use at most 50 characters",
        ],
    ),
    (
        "export.json",
        b'{"format": "doable.export", "version": 1, "tasks": [{"title": "x", "due":'
        b' "2024-01-01T25:00"}, {"title": "y", "priority": "p9", "colour": "red"}]}',
        [
            'At /tasks/0/due: The due date "2024-01-01T25:00" is not a date and time (use'
            " YYYY-MM-DDTHH:MM)",
            "At /tasks/1/priority: The priority must be one of none, low, medium, high, urgent,"
            ' not "p9"',
            'At /tasks/1/colour: "colour" is not a field Doable knows; leave it out',
        ],
    ),
    (
        "todoist.csv",
        b"TYPE,CONTENT,PRIORITY\r\ntask,Fine,4\r\ntask,,4\r\ntask,Odd,9\r\n",
        [
            "Line 3 (CONTENT): The title is empty",
            'Line 4 (PRIORITY): The PRIORITY must be one of 1, 2, 3, 4, not "9"',
        ],
    ),
]


@pytest.mark.parametrize(("name", "body", "report"), IMPORTS, ids=[i[0] for i in IMPORTS])
async def test_import_report_reads_plainly(
    web: WebClient, name: str, body: bytes, report: list[str]
) -> None:
    await web.signup()
    r = await _upload(web, name, body)
    assert r.status_code == 422
    assert _report(r.text) == report
    assert RAW.search(_page_text(r.text)) is None


# The inputs carry the limits the server enforces: (page, the input's id, its attributes).
LIMITS = [
    ("/signup", "password", ["required", 'minlength="8"', 'maxlength="256"']),
    ("/signup", "email", ["required", 'maxlength="254"', 'type="email"']),
    ("/account", "name", ['maxlength="100"']),
    ("/account", "timezone", ["required", 'maxlength="64"']),
    ("/account", "new_password", ["required", 'minlength="8"', 'maxlength="256"']),
    ("/account", "feed-name", ["required", 'maxlength="100"']),
    ("/account", "feed-tag", ['maxlength="50"']),
    ("/account", "agenda-time", ["required", 'type="time"']),
    ("/account/data", "token-name", ["required", 'maxlength="100"']),
    ("/account/data", "import-project", ['maxlength="120"']),
    ("/account/webhooks", "hook-url", ["required", 'type="url"', 'maxlength="2000"']),
    ("/projects", "new-project-name", ["required", 'maxlength="120"']),
    ("/projects/{project}", "project-name", ["required", 'maxlength="120"']),
    ("/projects/{project}", "section-name", ["required", 'maxlength="120"']),
    ("/projects/{project}/share", "invite-email", ["required", 'type="email"', 'maxlength="254"']),
    ("/tasks/{task}/edit", "comment-new", ["required", 'maxlength="10000"']),
    ("/tasks", "quick-title", ["required", 'maxlength="2000"']),
    ("/admin", "invite-email", ["required", 'type="email"', 'maxlength="254"']),
    ("/reset-password/{reset}", "new_password", ["required", 'minlength="8"', 'maxlength="256"']),
]


async def test_inputs_carry_the_servers_limits(
    web: WebClient, client: httpx.AsyncClient, database: Database
) -> None:
    signup = (await web.get("/signup")).text  # before signing up: it redirects after
    await web.signup()
    r = await web.post("/projects", {"name": "Home"})
    names = {
        "{project}": r.headers["location"].rsplit("/", 1)[-1],
        "{task}": await web.add("Water plants"),
    }
    await promote(database, web.email)
    admin = await make_admin(client, database)
    other = await make_account(client)
    names["{reset}"] = await reset_link(client, admin, other.id)
    for url, input_id, attributes in LIMITS:
        for name, value in names.items():
            url = url.replace(name, value)
        page = signup if url == "/signup" else (await web.get(url)).text
        tag = re.search(rf'<(?:input|textarea) id="{input_id}"[^>]*>', page)
        assert tag, (url, input_id)
        missing = [a for a in attributes if a not in tag.group(0)]
        assert not missing, (url, tag.group(0), missing)


async def test_admin_invite_and_reset_forms_speak_plainly(
    web: WebClient, client: httpx.AsyncClient, database: Database
) -> None:
    await web.signup()
    await promote(database, web.email)
    await web.get("/admin")
    r = await web.post("/admin/invitations", {"email": "nope"})
    assert r.status_code == 422
    text = _page_text(r.text)
    assert "Enter an email address such as name@example.com" in text and not RAW.search(text)
    admin = await make_admin(client, database)
    other = await make_account(client)
    token = await reset_link(client, admin, other.id)
    await web.get(f"/reset-password/{token}")
    r = await web.post(f"/reset-password/{token}", {"new_password": "abc"})
    assert r.status_code == 422
    text = _page_text(r.text)
    assert "Use at least 8 characters" in text and not RAW.search(text)
