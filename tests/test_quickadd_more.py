"""Quick add's later phrases (issue 18): in 2 hours, tonight, this weekend, on the 15th, end of
month, hourly repeats refused, and reminder phrases, parsed and created through the API and the
web app's quick-add box in one transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from doable.tasks.quickadd import QuickParse, parse
from tests.factories import assert_problem, make_account
from tests.webclient import WebClient

# Friday 27 November 2026, 10:30 in Berlin (CET, +01:00), as in test_quickadd.py.
NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
PAST = "The due date is in the past"
HOURLY = (
    "Repeats are daily at the finest: “every 8 hours” stays in the title"
    " (a reminder can nudge you within a day)"
)
UNREADABLE = (
    "“{}” is not a reminder quick add can read; write “remind 30m before”,"
    " “remind 1 hour before” or “remind 9am”. It stays in the title"
)


@dataclass(frozen=True)
class Q:
    text: str
    title: str
    due: str | None = None
    reminder: str | None = None  # the reminder in words
    warnings: tuple[str, ...] = ()
    rule: str | None = None


def _due(value: date | datetime | None) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    return value.isoformat() if value is not None else None


PHRASES = [
    # in N hours / minutes: a moment, to the minute
    Q("Call back in 2 hours", "Call back", "2026-11-27T12:30+01:00"),
    Q("Call back in 30 minutes", "Call back", "2026-11-27T11:00+01:00"),
    Q("Call back in 90 min", "Call back", "2026-11-27T12:00+01:00"),
    Q("Call back in an hour", "Call back", "2026-11-27T11:30+01:00"),
    Q("Call back in 1 hr", "Call back", "2026-11-27T11:30+01:00"),
    Q("Call back in 20 hours", "Call back", "2026-11-28T06:30+01:00"),
    Q(
        "Call in 2 hours at 5pm",
        "Call at 5pm",
        "2026-11-27T12:30+01:00",
        warnings=("Only the first time is used; “at 5pm” stays in the title",),
    ),
    Q(
        "Call in 9000 hours",
        "Call in 9000 hours",
        warnings=("“in 9000 hours” is too far away: write a date",),
    ),
    Q("Log in 2 minds", "Log in 2 minds"),
    # tonight: 20:00 today, unless a time is given
    Q("Movie tonight", "Movie", "2026-11-27T20:00+01:00"),
    Q("Movie tonight at 9:30pm", "Movie", "2026-11-27T21:30+01:00"),
    Q("Movie at 22:00 tonight", "Movie", "2026-11-27T22:00+01:00"),
    Q(
        "Movie tonight tomorrow",
        "Movie tomorrow",
        "2026-11-27T20:00+01:00",
        warnings=("Only the first date is used; “tomorrow” stays in the title",),
    ),
    # weekends
    Q("Clean the garage this weekend", "Clean the garage", "2026-11-28"),
    Q("Clean the garage next weekend", "Clean the garage", "2026-12-05"),
    # a day of the month, after a preposition
    Q("Pay rent on the 15th", "Pay rent", "2026-12-15"),
    Q("Pay rent on the 27th", "Pay rent", "2026-11-27"),  # today counts
    Q("Pay rent on the 30th", "Pay rent", "2026-11-30"),
    Q("Pay rent on the 31st", "Pay rent", "2026-12-31"),  # November has no 31st
    Q("Pay rent by the 1st", "Pay rent", "2026-12-01"),
    Q("Pay rent due 2nd", "Pay rent", "2026-12-02"),
    Q("Party on the 5th of december", "Party", "2026-12-05"),
    Q("Read the 15th chapter", "Read the 15th chapter"),
    Q("Fix 1st draft", "Fix 1st draft"),
    Q("Pay on the 32nd", "Pay on the 32nd"),
    # end of month / year
    Q("Invoice end of month", "Invoice", "2026-11-30"),
    Q("Invoice by end of the month", "Invoice", "2026-11-30"),
    Q("Taxes end of year", "Taxes", "2026-12-31"),
    Q("The end of days", "The end of days"),
    # hourly repeats are refused, with a reason
    Q("Pills every 8 hours", "Pills every 8 hours", warnings=(HOURLY,)),
    # reminders, relative
    Q(
        "Dentist 3pm remind 30m before",
        "Dentist",
        "2026-11-27T15:00+01:00",
        "30 minutes before the due time",
    ),
    Q(
        "Dentist tomorrow remind me 1 hour before",
        "Dentist",
        "2026-11-28",
        "1 hour before the due time",
    ),
    Q(
        "Dentist tomorrow remind me an hour before",
        "Dentist",
        "2026-11-28",
        "1 hour before the due time",
    ),
    Q(
        "Flight dec 5 at 7am remind 1d before",
        "Flight",
        "2026-12-05T07:00+01:00",
        "1 day before the due time",
    ),
    Q("Flight dec 5 reminder 2 days before", "Flight", "2026-12-05", "2 days before the due time"),
    Q("Flight dec 5 remind 1w before", "Flight", "2026-12-05", "1 week before the due time"),
    Q(
        "Flight dec 5 remind 90m before",
        "Flight",
        "2026-12-05",
        "1 hour and 30 minutes before the due time",
    ),
    Q(
        "Standup tomorrow 9am remind when due",
        "Standup",
        "2026-11-28T09:00+01:00",
        "at the due time",
    ),
    Q(
        "Idea remind 30m before",
        "Idea",
        None,
        "30 minutes before the due time (once the task has a due date)",
    ),
    # reminders, absolute: that time on the due date, else the next such time
    Q("Call Bob tomorrow remind 9am", "Call Bob", "2026-11-28", "at 09:00 on Sat 28 Nov"),
    Q(
        "Call Bob dec 5 at 5pm remind at 8:30am",
        "Call Bob",
        "2026-12-05T17:00+01:00",
        "at 08:30 on Sat 5 Dec",
    ),
    Q("Call Bob remind at 17:00", "Call Bob", None, "at 17:00 on Fri 27 Nov"),
    Q("Call Bob remind 9am", "Call Bob", None, "at 09:00 on Sat 28 Nov"),  # 09:00 has passed
    Q("Call Bob jan 4 remind 9am", "Call Bob", "2027-01-04", "at 09:00 on Mon 4 Jan 2027"),
    # reminders the service would refuse: the preview says so
    Q(
        "Call today at 10:45 remind 30m before",
        "Call",
        "2026-11-27T10:45+01:00",
        "30 minutes before the due time",
        ("The reminder would be in the past: the task is due too soon for it",),
    ),
    Q(
        "Call today remind 8am",
        "Call",
        "2026-11-27",
        "at 08:00 on Fri 27 Nov",
        ("The reminder time is in the past; choose a later one",),
    ),
    # not reminders
    Q("Remind Bob about the party", "Remind Bob about the party"),
    Q("Reminder: water plants", "Reminder: water plants"),
    Q(
        "Call remind 30x before",
        "Call remind 30x before",
        warnings=(UNREADABLE.format("remind 30x before"),),
    ),
    Q(
        "Call remind me at lunch",
        "Call remind me at lunch",
        warnings=(UNREADABLE.format("remind me at lunch"),),
    ),
    Q("Call remind 30m", "Call remind 30m", warnings=(UNREADABLE.format("remind 30m"),)),
    Q(
        "Call dec 5 remind 400 days before",
        "Call remind 400 days before",
        "2026-12-05",
        warnings=(
            "A reminder can be at most 366 days before the due time, not 57 weeks and 1 day",
            UNREADABLE.format("remind 400 days before"),
        ),
    ),
    Q(
        "Call dec 5 remind 1h before remind 2h before",
        "Call remind 2h before",
        "2026-12-05",
        "1 hour before the due time",
        ("Only the first reminder is used; “remind 2h before” stays in the title",),
    ),
]


def _check(p: QuickParse, q: Q) -> None:
    assert p.title == q.title
    assert _due(p.due) == q.due
    assert (p.reminder.description if p.reminder else None) == q.reminder
    assert tuple(p.warnings) == q.warnings
    assert (p.recurrence.rule if p.recurrence else None) == q.rule


@pytest.mark.parametrize("q", PHRASES, ids=[q.text for q in PHRASES])
def test_phrase(q: Q) -> None:
    _check(parse(q.text, zone=BERLIN, now=NOW), q)


def test_in_hours_counts_real_time_across_a_dst_change() -> None:
    # 01:30 CET on the night the clocks go forward (29 March 2026): 2 hours later is 04:30
    # CEST, not 03:30.
    now = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    p = parse("Wake in 2 hours", zone=BERLIN, now=now)
    assert p.due == datetime(2026, 3, 29, 2, 30, tzinfo=UTC)
    assert _due(p.due) == "2026-03-29T04:30+02:00"


def test_this_weekend_on_a_sunday_is_today() -> None:
    sunday = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    assert parse("Relax this weekend", zone=BERLIN, now=sunday).due == date(2026, 11, 29)
    assert parse("Relax next weekend", zone=BERLIN, now=sunday).due == date(2026, 12, 5)


def test_reminder_tokens_are_marked() -> None:
    p = parse("Dentist 3pm remind me 30m before", zone=BERLIN, now=NOW)
    assert [(t.kind, t.text) for t in p.tokens] == [
        ("time", "3pm"),
        ("reminder", "remind me 30m before"),
    ]
    assert p.reminder is not None and p.reminder.before == 1800 and p.reminder.at is None


def test_absolute_reminder_is_an_instant() -> None:
    p = parse("Call Bob tomorrow remind 9am", zone=BERLIN, now=NOW)
    assert p.reminder is not None and p.reminder.before is None
    assert p.reminder.at == datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


# Through HTTP


@pytest.fixture
async def web(client: httpx.AsyncClient) -> WebClient:
    return WebClient(client)


PARSE = "/api/v1/tasks/parse"
QUICK = "/api/v1/tasks/quick"


async def test_parse_shows_the_reminder(client: httpx.AsyncClient) -> None:
    acct = await make_account(client, timezone="Europe/Berlin")
    r = await client.post(
        PARSE, json={"text": "Flight 2031-12-05 at 07:00 remind 1d before"}, headers=acct.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["reminder"] == {
        "before": "P1D",
        "at": None,
        "text": "1 day before the due time",
        "problem": None,
    }
    r = await client.post(
        PARSE, json={"text": "Flight 2031-12-05 remind at 8:30am"}, headers=acct.headers
    )
    assert r.json()["reminder"] == {
        "before": None,
        "at": "2031-12-05T08:30:00+01:00",
        "text": "at 08:30 on Fri 5 Dec 2031",
        "problem": None,
    }


async def test_quick_creates_the_task_and_its_reminder(client: httpx.AsyncClient) -> None:
    acct = await make_account(client, timezone="Europe/Berlin")
    r = await client.post(
        QUICK, json={"text": "Flight 2031-12-05 at 07:00 remind 1d before"}, headers=acct.headers
    )
    assert r.status_code == 201, r.text
    task = r.json()
    assert (task["title"], task["due"]) == ("Flight", "2031-12-05T06:00:00Z")
    reminders = await client.get(f"/api/v1/tasks/{task['id']}/reminders", headers=acct.headers)
    assert [(x["kind"], x["before"], x["fire_at"]) for x in reminders.json()] == [
        ("relative", "P1D", "2031-12-04T06:00:00Z")
    ]
    r = await client.post(
        QUICK, json={"text": "Call Bob 2031-12-05 remind 9am"}, headers=acct.headers
    )
    assert r.status_code == 201, r.text
    reminders = await client.get(f"/api/v1/tasks/{r.json()['id']}/reminders", headers=acct.headers)
    assert [(x["kind"], x["at"]) for x in reminders.json()] == [
        ("absolute", "2031-12-05T08:00:00Z")
    ]


async def test_quick_refuses_a_past_reminder_and_creates_nothing(
    client: httpx.AsyncClient,
) -> None:
    acct = await make_account(client, timezone="Europe/Berlin")
    now = datetime.now(UTC).astimezone(BERLIN)
    soon = (now + timedelta(minutes=10)).strftime("%Y-%m-%d at %H:%M")
    problem = assert_problem(
        await client.post(
            QUICK, json={"text": f"Call {soon} remind 1h before"}, headers=acct.headers
        ),
        422,
    )
    assert problem["detail"] == "The reminder would be in the past: the task is due too soon for it"
    assert problem["errors"][0]["loc"] == ["body", "text"]
    listed = await client.get("/api/v1/tasks", headers=acct.headers)
    assert listed.json()["items"] == []


async def test_web_quick_add_with_a_reminder(web: WebClient) -> None:
    await web.signup(timezone="Europe/Berlin")
    await web.get("/tasks")
    preview = await web.post(
        "/tasks/preview", {"title": "Flight 2031-12-05 at 7am remind 1h before"}, htmx=True
    )
    assert '<dd class="preview-reminder">1 hour before the due time</dd>' in preview.text
    assert '<mark class="token token-reminder" title="reminder">remind 1h before</mark>' in (
        preview.text
    )
    r = await web.post("/tasks/quick", {"title": "Flight 2031-12-05 at 7am remind 1h before"})
    assert r.status_code == 303, r.text
    page = await web.get("/tasks")
    task_id = re.search(r'id="task-([0-9a-f-]{36})"', page.text)
    assert task_id is not None
    edit = await web.get(f"/tasks/{task_id.group(1)}/edit")
    assert (
        '<span>1 hour before the due time</span> <span class="muted">· fires at 06:00 on'
        " Fri 5 Dec 2031</span>" in edit.text
    )


async def test_web_preview_says_when_a_reminder_cannot_be_read(web: WebClient) -> None:
    await web.signup(timezone="Europe/Berlin")
    await web.get("/tasks")
    r = await web.post("/tasks/preview", {"title": "Call remind 30x before"}, htmx=True)
    assert (
        '<p class="preview-warning">“remind 30x before” is not a reminder quick add can read;'
        in r.text
    )
    r = await web.post("/tasks/preview", {"title": "Call today remind 00:01"}, htmx=True)
    assert "The reminder time is in the past; choose a later one" in r.text
    r = await web.post("/tasks/quick", {"title": "Call today remind 00:01"}, htmx=True)
    assert r.status_code == 422
    assert "The reminder time is in the past; choose a later one" in r.text


async def test_web_preview_flags_a_long_title(web: WebClient) -> None:
    await web.signup()
    await web.get("/tasks")
    r = await web.post("/tasks/preview", {"title": "x" * 201 + " tomorrow"}, htmx=True)
    assert '<dd class="preview-title too-long">' in r.text
    assert "The title has 201 characters; use at most 200" in r.text
