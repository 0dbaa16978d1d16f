"""Today, overdue and upcoming at a fixed "now" (the app's clock): one day-based rule for the
API filter, the web's filters, its counts and its row labels; and a time given without a date."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from doable.db import Database
from doable.tasks.models import Task
from tests.factories import PASSWORD, Account, assert_problem, make_account, make_task
from tests.webclient import WebClient

TASKS = "/api/v1/tasks"
BERLIN = ZoneInfo("Europe/Berlin")
SetNow = Callable[[datetime], None]


@pytest.fixture
def set_now(app: FastAPI) -> SetNow:
    """Sets the instant the app takes for "now" in what it reads by the calendar."""

    def set_now(at: datetime) -> None:
        fixed = at.astimezone(UTC)
        app.state.doable.clock = lambda: fixed

    return set_now


async def signed_in(client: httpx.AsyncClient, acct: Account) -> WebClient:
    web = WebClient(client)
    r = await web.post("/login", {"email": acct.email, "password": PASSWORD})
    assert (r.status_code, r.headers["location"]) == (303, "/tasks"), r.text
    return web


async def api_titles(client: httpx.AsyncClient, acct: Account, **params: object) -> list[str]:
    r = await client.get(TASKS, params={"sort": "title", **params}, headers=acct.headers)
    assert r.status_code == 200, r.text
    return [t["title"] for t in r.json()["items"]]


async def web_titles(web: WebClient, query: str) -> list[str]:
    r = await web.get(f"/tasks?{query}&sort=title")
    assert r.status_code == 200, r.text
    return re.findall(r'<p class="title">([^<]*)</p>', r.text)


def rows(html: str) -> dict[str, tuple[str, str, str]]:
    """Title -> (the row's class, the due label's class, the due label) for each listed task."""
    out = {}
    for chunk in html.split('<li id="task-')[1:]:
        row_class = re.search(r'class="([^"]*)"', chunk)
        title = re.search(r'<p class="title">([^<]*)</p>', chunk)
        assert row_class and title, chunk
        due = re.search(r'<span class="(due[^"]*)">([^<]*)</span>', chunk)
        out[title.group(1)] = (row_class.group(1), *(due.groups() if due else ("", "")))
    return out


def counts(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"<dt>(\w+)</dt><dd>(\d+)</dd>", html)}


# Item 30: overdue is day-based everywhere; a past time today is late; Today includes overdue


async def test_overdue_is_by_day_in_the_filter_the_counts_and_the_labels(
    client: httpx.AsyncClient, set_now: SetNow
) -> None:
    set_now(datetime(2027, 1, 14, 22, 0, tzinfo=BERLIN))  # a Thursday evening
    acct = await make_account(client, timezone="Europe/Berlin")
    dues = {
        "earlier today": "2027-01-14T21:06",
        "later today": "2027-01-14T23:30",
        "today all day": "2027-01-14",
        "yesterday": "2027-01-13",
        "yesterday late": "2027-01-13T23:59",
        "tomorrow": "2027-01-15",
        "no due": None,
    }
    for title, due in dues.items():
        await make_task(client, acct, title=title, due=due)
    await make_task(client, acct, title="done yesterday", due="2027-01-13", completed=True)
    await make_task(client, acct, title="done today", due="2027-01-14T08:00", completed=True)

    overdue = ["yesterday", "yesterday late"]
    today = ["done today", "earlier today", "later today", "today all day", *overdue]
    assert await api_titles(client, acct, when="overdue") == overdue
    assert await api_titles(client, acct, when="today") == today
    assert await api_titles(client, acct, when="today", status="pending") == today[1:]
    assert await api_titles(client, acct, when="upcoming") == ["tomorrow"]

    web = await signed_in(client, acct)
    assert await web_titles(web, "due=overdue") == overdue
    assert await web_titles(web, "due=today") == today
    page = (await web.get("/tasks")).text
    assert counts(page) == {"Open": 7, "Today": 5, "Overdue": 2, "Done": 2}
    assert rows(page) == {
        "earlier today": ("task", "due late", "Today 21:06"),
        "later today": ("task", "due", "Today 23:30"),
        "today all day": ("task", "due", "Today"),
        "yesterday": ("task overdue", "due late", "Overdue · Yesterday"),
        "yesterday late": ("task overdue", "due late", "Overdue · Yesterday 23:59"),
        "tomorrow": ("task", "due", "Tomorrow"),
        "no due": ("task", "", ""),
        "done yesterday": ("task done", "due", "Yesterday"),
        "done today": ("task done", "due", "Today 08:00"),
    }

    # Just after midnight the 23:30 task is a day late, and "yesterday" is two.
    set_now(datetime(2027, 1, 15, 0, 1, tzinfo=BERLIN))
    page = (await web.get("/tasks")).text
    assert rows(page)["later today"] == ("task overdue", "due late", "Overdue · Yesterday 23:30")
    assert counts(page) == {"Open": 7, "Today": 6, "Overdue": 5, "Done": 2}
    assert await api_titles(client, acct, when="overdue") == [
        "earlier today",
        "later today",
        "today all day",
        "yesterday",
        "yesterday late",
    ]


# Item 31: "Next 7 days" is the API's upcoming, counted in local days across a DST change


async def test_upcoming_counts_local_days_across_a_dst_change(
    client: httpx.AsyncClient, set_now: SetNow
) -> None:
    # Europe/Berlin moves its clocks forward on Sunday 2027-03-28: that day has 23 hours.
    set_now(datetime(2027, 3, 21, 12, 0, tzinfo=BERLIN))
    acct = await make_account(client, timezone="Europe/Berlin")
    for title, due in {
        "sun 21 (today)": "2027-03-21T18:00",
        "mon 22": "2027-03-22",
        "sun 28 late": "2027-03-28T23:30",
        "mon 29 early": "2027-03-29T00:30",  # 7 x 24 h after Monday 00:00 is 01:00 here
        "mon 29": "2027-03-29",
        "mon 29 late": "2027-03-29T23:30",
        "tue 30 early": "2027-03-30T00:30",
    }.items():
        await make_task(client, acct, title=title, due=due)
    week = ["mon 22", "sun 28 late"]
    assert await api_titles(client, acct, when="upcoming") == week
    assert await api_titles(client, acct, when="upcoming", days=7) == week
    assert await api_titles(client, acct, when="upcoming", days=8) == [
        "mon 22",
        "mon 29",
        "mon 29 early",
        "mon 29 late",
        "sun 28 late",
    ]
    assert await api_titles(client, acct, when="upcoming", days=1) == ["mon 22"]

    web = await signed_in(client, acct)
    assert await web_titles(web, "due=week") == week
    page = (await web.get("/tasks")).text
    # The sort web_titles chose is remembered (auth/preferences.py), so the links carry it.
    assert 'id="filter-due-week" href="/tasks?due=week&amp;sort=title"' in page

    # From the Monday, the next 7 days are Tuesday 23 to Monday 29, its last hour included.
    set_now(datetime(2027, 3, 22, 12, 0, tzinfo=BERLIN))
    week = ["mon 29", "mon 29 early", "mon 29 late", "sun 28 late"]
    assert await api_titles(client, acct, when="upcoming") == week
    assert await web_titles(web, "due=week") == week


@pytest.mark.parametrize(
    "params",
    [
        {"when": "upcoming", "days": "0"},
        {"when": "upcoming", "days": "367"},
        {"when": "upcoming", "days": "seven"},
        {"when": "today", "days": "3"},
        {"days": "3"},
    ],
)
async def test_days_is_bounded_and_only_for_upcoming(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    acct = await make_account(client)
    body = assert_problem(await client.get(TASKS, params=params, headers=acct.headers), 422)
    assert body["errors"][0]["loc"] == ["query", "days"]


# Item 33: a time without a date in the edit form is today if still ahead, else tomorrow


@pytest.mark.parametrize(
    ("clock", "due_at", "label"),
    [
        ("18:00", datetime(2027, 1, 14, 17, 0, tzinfo=UTC), "Today 18:00"),
        ("10:00", datetime(2027, 1, 15, 9, 0, tzinfo=UTC), "Tomorrow 10:00"),  # now: not ahead
        ("09:00", datetime(2027, 1, 15, 8, 0, tzinfo=UTC), "Tomorrow 09:00"),
    ],
)
async def test_a_time_without_a_date_is_the_next_such_moment(
    client: httpx.AsyncClient,
    database: Database,
    set_now: SetNow,
    clock: str,
    due_at: datetime,
    label: str,
) -> None:
    set_now(datetime(2027, 1, 14, 10, 0, tzinfo=BERLIN))
    web = WebClient(client)
    await web.signup(timezone="Europe/Berlin")
    task_id = await web.add("Call the plumber")
    form = {"title": "Call the plumber", "due_date": "", "due_time": clock, "priority": "none"}
    r = await web.post(f"/tasks/{task_id}", form, htmx=True)
    assert r.status_code == 200, r.text
    assert rows(r.text)["Call the plumber"] == ("task", "due", label)
    async with database.read_sessions() as s:
        stored = (await s.execute(select(Task.due_date, Task.due_at))).one()
    assert tuple(stored) == (None, due_at)

    # The same in the plain form (no JavaScript) and when adding.
    r = await web.post(f"/tasks/{task_id}", {**form, "due_time": ""})
    assert r.status_code == 303
    r = await web.post(f"/tasks/{task_id}", form)
    assert r.status_code == 303
    added = await web.add("Call the electrician", due_date="", due_time=clock)
    async with database.read_sessions() as s:
        dues = (await s.execute(select(Task.id, Task.due_at).order_by(Task.title))).all()
    assert [(str(i), d) for i, d in dues] == [(added, due_at), (task_id, due_at)]


async def test_a_time_in_the_quick_add_fields_goes_on_the_texts_date(
    client: httpx.AsyncClient, database: Database, set_now: SetNow
) -> None:
    set_now(datetime(2027, 1, 14, 10, 0, tzinfo=BERLIN))  # a Thursday
    web = WebClient(client)
    await web.signup(timezone="Europe/Berlin")
    for text in ("Call mum saturday", "Call dad"):
        r = await web.post(
            "/tasks/quick", {"title": text, "due_date": "", "due_time": "08:30"}, htmx=True
        )
        assert r.status_code == 200, r.text
    async with database.read_sessions() as s:
        dues = (await s.execute(select(Task.title, Task.due_at).order_by(Task.title))).all()
    assert [tuple(d) for d in dues] == [
        ("Call dad", datetime(2027, 1, 15, 7, 30, tzinfo=UTC)),  # 08:30 has passed: tomorrow
        ("Call mum", datetime(2027, 1, 16, 7, 30, tzinfo=UTC)),
    ]


async def test_a_time_that_is_not_a_time_is_refused_and_nothing_changes(
    client: httpx.AsyncClient, database: Database, set_now: SetNow
) -> None:
    set_now(datetime(2027, 1, 14, 10, 0, tzinfo=BERLIN))
    web = WebClient(client)
    await web.signup(timezone="Europe/Berlin")
    task_id = await web.add("Call the plumber", due_date="2027-01-20")
    form = {"title": "Renamed", "due_date": "", "due_time": "25:00", "priority": "none"}
    r = await web.post(f"/tasks/{task_id}", form, htmx=True)
    assert r.status_code == 422, r.text
    assert re.search(r'<p class="field-error">[^<]+</p>', r.text)
    async with database.read_sessions() as s:
        stored = (await s.execute(select(Task.title, Task.due_date, Task.due_at))).one()
    assert tuple(stored) == ("Call the plumber", date(2027, 1, 20), None)
