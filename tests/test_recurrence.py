"""Recurring tasks and due dates in the user's zone, over HTTP on every backend."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text

from doable.db import Database
from tests.factories import Account, assert_problem, make_account, make_task
from tests.webclient import WebClient

TASKS = "/api/v1/tasks"


@pytest.fixture
async def web(client: httpx.AsyncClient) -> WebClient:
    return WebClient(client)


async def _complete(client: httpx.AsyncClient, acct: Account, task_id: str) -> dict[str, Any]:
    r = await client.post(f"{TASKS}/{task_id}/complete", headers=acct.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _completions(
    client: httpx.AsyncClient, acct: Account, task_id: str, **params: Any
) -> dict[str, Any]:
    r = await client.get(f"{TASKS}/{task_id}/completions", params=params, headers=acct.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _utc(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("zone", "due", "expected_utc"),
    [
        # Daily 09:00 through the spring and autumn changes: the UTC hour moves, 09:00 stays.
        ("Europe/Berlin", "2026-03-28T09:00", ["2026-03-29T07:00:00Z", "2026-03-30T07:00:00Z"]),
        ("Europe/Berlin", "2026-10-24T09:00", ["2026-10-25T08:00:00Z", "2026-10-26T08:00:00Z"]),
        ("America/New_York", "2026-03-07T09:00", ["2026-03-08T13:00:00Z", "2026-03-09T13:00:00Z"]),
        ("America/New_York", "2026-10-31T09:00", ["2026-11-01T14:00:00Z", "2026-11-02T14:00:00Z"]),
    ],
)
async def test_nine_oclock_stays_nine_across_dst(
    client: httpx.AsyncClient, zone: str, due: str, expected_utc: list[str]
) -> None:
    acct = await make_account(client, timezone=zone)
    task = await make_task(client, acct, due=due, recurrence={"rule": "FREQ=DAILY"})
    assert task["recurrence"] == {"rule": "FREQ=DAILY", "mode": "from_due", "text": "every day"}
    first = task["due"]
    seen = []
    for _ in expected_utc:
        task = await _complete(client, acct, task["id"])
        assert task["completed"] is False and task["completed_at"] is None
        seen.append(task["due"])
    assert seen == expected_utc
    assert {_utc(d).astimezone(ZoneInfo(zone)).strftime("%H:%M") for d in seen} == {"09:00"}
    history = await _completions(client, acct, task["id"])
    assert [c["occurrence"] for c in history["items"]] == [expected_utc[0], first]
    assert history["next_cursor"] is None


@pytest.mark.parametrize(
    ("rule", "due", "expected"),
    [
        ("FREQ=MONTHLY;BYMONTHDAY=-1", "2026-01-31", ["2026-02-28", "2026-03-31", "2026-04-30"]),
        ("FREQ=MONTHLY", "2026-01-31", ["2026-03-31", "2026-05-31", "2026-07-31"]),
        ("FREQ=YEARLY", "2028-02-29", ["2032-02-29", "2036-02-29", "2040-02-29"]),
        ("FREQ=MONTHLY;BYDAY=1MO", "2026-01-05", ["2026-02-02", "2026-03-02", "2026-04-06"]),
        ("FREQ=MONTHLY;BYDAY=-1FR", "2026-01-30", ["2026-02-27", "2026-03-27", "2026-04-24"]),
        ("FREQ=WEEKLY;BYDAY=MO,TH", "2026-01-01", ["2026-01-05", "2026-01-08", "2026-01-12"]),
    ],
)
async def test_all_day_series_on_calendar_edges(
    client: httpx.AsyncClient, rule: str, due: str, expected: list[str]
) -> None:
    acct = await make_account(client, timezone="Pacific/Kiritimati")
    task = await make_task(client, acct, due=due, recurrence={"rule": rule})
    seen = [(await _complete(client, acct, task["id"]))["due"] for _ in expected]
    assert seen == expected
    history = await _completions(client, acct, task["id"])
    assert [c["occurrence"] for c in history["items"]] == [*reversed(expected[:-1]), due]


async def test_count_ends_the_series_and_keeps_the_history(client: httpx.AsyncClient) -> None:
    acct = await make_account(client, timezone="Europe/Berlin")
    task = await make_task(
        client, acct, due="2026-01-01", recurrence={"rule": "FREQ=DAILY;COUNT=3"}
    )
    url = f"{TASKS}/{task['id']}"
    steps = []
    for _ in range(3):
        body = await _complete(client, acct, task["id"])
        steps.append((body["due"], body["completed"], body["recurrence"]["rule"]))
    assert steps == [
        ("2026-01-02", False, "FREQ=DAILY;COUNT=2"),
        ("2026-01-03", False, "FREQ=DAILY;COUNT=1"),
        ("2026-01-03", True, "FREQ=DAILY;COUNT=1"),
    ]
    got = await client.get(url, headers=acct.headers)
    assert got.headers["etag"] == '"4"' and got.json()["completed_at"] is not None
    history = (await _completions(client, acct, task["id"]))["items"]
    assert [c["occurrence"] for c in history] == ["2026-01-03", "2026-01-02", "2026-01-01"]
    assert history[0]["completed_at"] == got.json()["completed_at"]
    # Completing again changes nothing; the series has ended, so skip is a conflict.
    again = await _complete(client, acct, task["id"])
    assert again == got.json()
    assert_problem(await client.post(f"{url}/skip", headers=acct.headers), 409)


async def test_until_ends_the_series(client: httpx.AsyncClient) -> None:
    acct = await make_account(client, timezone="America/New_York")
    task = await make_task(
        client,
        acct,
        due="2026-01-01T09:00",
        recurrence={"rule": "FREQ=WEEKLY;UNTIL=20260115"},
    )
    seen = [await _complete(client, acct, task["id"]) for _ in range(3)]
    assert [(t["due"], t["completed"]) for t in seen] == [
        ("2026-01-08T14:00:00Z", False),
        ("2026-01-15T14:00:00Z", False),
        ("2026-01-15T14:00:00Z", True),
    ]
    history = (await _completions(client, acct, task["id"]))["items"]
    assert [c["occurrence"] for c in history] == [
        "2026-01-15T14:00:00Z",
        "2026-01-08T14:00:00Z",
        "2026-01-01T14:00:00Z",
    ]


async def test_from_completion_counts_from_today(client: httpx.AsyncClient) -> None:
    zone = "Pacific/Pago_Pago"
    acct = await make_account(client, timezone=zone)
    task = await make_task(
        client,
        acct,
        due="2026-01-01T18:30",
        recurrence={"rule": "FREQ=DAILY;INTERVAL=3", "mode": "from_completion"},
    )
    assert task["recurrence"]["mode"] == "from_completion"
    body = await _complete(client, acct, task["id"])
    today = datetime.now(ZoneInfo(zone)).date()
    local = _utc(body["due"]).astimezone(ZoneInfo(zone))
    assert (local.date(), local.strftime("%H:%M")) == (today + timedelta(days=3), "18:30")


async def test_skip_moves_on_without_a_completion(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await make_task(
        client, acct, due="2026-02-02", recurrence={"rule": "FREQ=WEEKLY", "mode": "from_due"}
    )
    r = await client.post(f"{TASKS}/{task['id']}/skip", headers=acct.headers)
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    assert (r.json()["due"], r.json()["completed"]) == ("2026-02-09", False)
    assert (await _completions(client, acct, task["id"]))["items"] == []
    plain = await make_task(client, acct, due="2026-02-02")
    problem = assert_problem(
        await client.post(f"{TASKS}/{plain['id']}/skip", headers=acct.headers), 409
    )
    assert problem["detail"] == "This task does not repeat, so there is no occurrence to skip"
    # Skipping the last occurrence ends the series, with no completion recorded.
    last = await make_task(
        client, acct, due="2026-02-02", recurrence={"rule": "FREQ=DAILY;COUNT=1"}
    )
    r = await client.post(f"{TASKS}/{last['id']}/skip", headers=acct.headers)
    assert (r.json()["due"], r.json()["completed"]) == ("2026-02-02", True)
    assert (await _completions(client, acct, last["id"]))["items"] == []


async def test_completions_are_paged_newest_first_and_private(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    other = await make_account(client)
    task = await make_task(client, acct, due="2026-03-01", recurrence={"rule": "FREQ=DAILY"})
    for _ in range(5):
        await _complete(client, acct, task["id"])
    page = await _completions(client, acct, task["id"], limit=2)
    seen = [c["occurrence"] for c in page["items"]]
    while page["next_cursor"]:
        page = await _completions(client, acct, task["id"], limit=2, cursor=page["next_cursor"])
        seen += [c["occurrence"] for c in page["items"]]
    assert seen == ["2026-03-05", "2026-03-04", "2026-03-03", "2026-03-02", "2026-03-01"]
    url = f"{TASKS}/{task['id']}/completions"
    assert_problem(await client.get(url, headers=other.headers), 404)
    assert_problem(await client.post(f"{TASKS}/{task['id']}/skip", headers=other.headers), 404)
    # Deleting the task deletes its history.
    assert (await client.delete(f"{TASKS}/{task['id']}", headers=acct.headers)).status_code == 204
    assert_problem(await client.get(url, headers=acct.headers), 404)


async def test_a_rule_without_a_due_starts_today_in_the_users_zone(
    client: httpx.AsyncClient,
) -> None:
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        acct = await make_account(client, timezone=zone)
        task = await make_task(client, acct, recurrence={"rule": "FREQ=DAILY"})
        assert task["due"] == datetime.now(ZoneInfo(zone)).date().isoformat()
        # Clearing the due of a recurring task does the same; clearing the rule keeps the due.
        r = await client.patch(f"{TASKS}/{task['id']}", json={"due": None}, headers=acct.headers)
        assert r.json()["due"] == task["due"]
        r = await client.patch(
            f"{TASKS}/{task['id']}", json={"recurrence": None}, headers=acct.headers
        )
        assert (r.json()["recurrence"], r.json()["due"]) == (None, task["due"])
        done = await _complete(client, acct, task["id"])
        assert done["completed"] is True


async def test_rules_are_normalised_and_patch_put_manage_them(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await make_task(
        client, acct, due="2026-05-01", recurrence={"rule": "rrule:freq=monthly;byday=-1fr"}
    )
    assert task["recurrence"] == {
        "rule": "FREQ=MONTHLY;BYDAY=-1FR",
        "mode": "from_due",
        "text": "every month on the last Fri",
    }
    url = f"{TASKS}/{task['id']}"
    r = await client.patch(url, json={"title": "renamed"}, headers=acct.headers)
    assert r.json()["recurrence"]["rule"] == "FREQ=MONTHLY;BYDAY=-1FR"
    # PATCH completed=true completes the occurrence like POST /complete.
    r = await client.patch(url, json={"completed": True}, headers=acct.headers)
    assert (r.json()["due"], r.json()["completed"]) == ("2026-05-29", False)
    # PUT without recurrence stops the repeating.
    r = await client.put(url, json={"title": "once", "due": "2026-06-01"}, headers=acct.headers)
    assert (r.json()["recurrence"], r.json()["due"]) == (None, "2026-06-01")
    listed = await client.get(TASKS, headers=acct.headers)
    assert listed.json()["items"][0]["recurrence"] is None


@pytest.mark.parametrize(
    ("recurrence", "due", "message"),
    [
        (
            {"rule": "FREQ=HOURLY"},
            None,
            "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY, not HOURLY",
        ),
        ({"rule": "FREQ=DAILY;COUNT=0"}, None, "COUNT must be between 1 and 1000, not 0"),
        ({"rule": "FREQ=DAILY;INTERVAL=0"}, None, "INTERVAL must be between 1 and 1000, not 0"),
        (
            {"rule": "FREQ=DAILY;INTERVAL=1000000"},
            None,
            "INTERVAL must be a whole number, not '1000000'",
        ),
        (
            {"rule": "FREQ=YEARLY;BYMONTHDAY=31;BYMONTH=2"},
            None,
            "This rule never happens: none of its months has that day",
        ),
        (
            {"rule": "FREQ=DAILY;DTSTART=20260101T000000Z"},
            None,
            "DTSTART is not allowed: the task's due date starts the series",
        ),
        (
            {"rule": "FREQ=DAILY;BYSECOND=1"},
            None,
            "BYSECOND is not supported: a task's due time gives the time of day",
        ),
        ({"rule": "🙂"}, None, "Each part must be NAME=VALUE, not '🙂'"),
        (
            {"rule": "FREQ=DAILY;UNTIL=20250101"},
            "2026-01-01",
            "UNTIL is before the due date: the series would have no occurrence",
        ),
        (
            {"rule": "FREQ=DAILY;UNTIL=20251231T230000Z"},
            "2026-01-01T08:00",
            "UNTIL is before the due date: the series would have no occurrence",
        ),
        (
            {"rule": "FREQ=MONTHLY;INTERVAL=12;BYDAY=5MO;BYMONTH=2"},
            "2026-01-01",
            "This rule has no occurrence within 100 years of the due date",
        ),
    ],
)
async def test_bad_rules_are_422_at_recurrence_rule(
    client: httpx.AsyncClient, recurrence: dict[str, str], due: str | None, message: str
) -> None:
    acct = await make_account(client, timezone="Europe/Berlin")
    body: dict[str, Any] = {"title": "x", "recurrence": recurrence}
    if due:
        body["due"] = due
    problem = assert_problem(await client.post(TASKS, json=body, headers=acct.headers), 422)
    (error,) = problem["errors"]
    assert error["loc"] == ["body", "recurrence", "rule"]
    assert error["msg"].removeprefix("Value error, ") == message
    plain = await make_task(client, acct, due=due or "2026-01-01")
    r = await client.patch(
        f"{TASKS}/{plain['id']}", json={"recurrence": recurrence}, headers=acct.headers
    )
    assert_problem(r, 422)
    after = await client.get(f"{TASKS}/{plain['id']}", headers=acct.headers)
    assert after.headers["etag"] == '"1"' and after.json()["recurrence"] is None


@pytest.mark.parametrize(
    "recurrence",
    [
        {"rule": ""},
        {"rule": "FREQ=DAILY", "mode": "every"},
        {"mode": "from_due"},
        "FREQ=DAILY",
        {"rule": "FREQ=DAILY", "extra": 1},
        {"rule": "x" * 501},
    ],
)
async def test_malformed_recurrence_bodies(client: httpx.AsyncClient, recurrence: Any) -> None:
    acct = await make_account(client)
    r = await client.post(
        TASKS, json={"title": "x", "recurrence": recurrence}, headers=acct.headers
    )
    problem = assert_problem(r, 422)
    assert problem["errors"][0]["loc"][:2] == ["body", "recurrence"]


@pytest.mark.parametrize(
    ("zone", "local", "utc"),
    [
        # Clocks go forward: the missing local time moves forward by the gap.
        ("Europe/Berlin", "2026-03-29T02:30", "2026-03-29T01:30:00Z"),
        ("America/New_York", "2026-03-08T02:30", "2026-03-08T07:30:00Z"),
        # Clocks go back: an ambiguous local time is its first instant.
        ("Europe/Berlin", "2026-10-25T02:30", "2026-10-25T00:30:00Z"),
        ("America/New_York", "2026-11-01T01:30", "2026-11-01T05:30:00Z"),
    ],
)
async def test_local_due_in_a_gap_or_overlap(
    client: httpx.AsyncClient, zone: str, local: str, utc: str
) -> None:
    acct = await make_account(client, timezone=zone)
    task = await make_task(client, acct, due=local)
    assert task["due"] == utc
    r = await client.get(TASKS, params={"due_after": local}, headers=acct.headers)
    assert [t["id"] for t in r.json()["items"]] == [task["id"]]


async def test_today_overdue_upcoming_in_far_off_zones(client: httpx.AsyncClient) -> None:
    """Kiritimati (UTC+14) and Pago Pago (UTC-11) are a whole day apart: the same instant is
    on different days for their users."""
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        acct = await make_account(client, timezone=zone)
        today = datetime.now(ZoneInfo(zone)).date()

        def day(offset: int, today: date = today) -> str:
            return (today + timedelta(days=offset)).isoformat()

        titles = {
            "yesterday": day(-1),
            "today": day(0),
            "today late": f"{day(0)}T23:30",
            "tomorrow": day(1),
            "in 7 days": day(7),
            "in 8 days": day(8),
        }
        for title, due in titles.items():
            await make_task(client, acct, title=title, due=due)
        await make_task(client, acct, title="done yesterday", due=day(-1), completed=True)
        await make_task(client, acct, title="no due")

        async def listed(when: str, acct: Account = acct) -> list[str]:
            r = await client.get(
                TASKS, params={"when": when, "sort": "title"}, headers=acct.headers
            )
            assert r.status_code == 200, r.text
            return [t["title"] for t in r.json()["items"]]

        assert await listed("today") == ["today", "today late", "yesterday"]  # with overdue
        assert await listed("overdue") == ["yesterday"]
        assert await listed("upcoming") == ["in 7 days", "tomorrow"]
    assert_problem(await client.get(TASKS, params={"when": "soon"}, headers=acct.headers), 422)


async def test_an_unknown_zone_in_the_database_reads_as_utc(
    client: httpx.AsyncClient, database: Database
) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, due="2026-01-01T09:00", recurrence={"rule": "FREQ=DAILY"})
    async with database.engine.begin() as conn:
        await conn.execute(text("UPDATE users SET timezone = 'Mars/Olympus_Mons'"))
    assert (
        await client.get(TASKS, params={"when": "today"}, headers=acct.headers)
    ).status_code == 200
    body = await _complete(client, acct, task["id"])
    assert body["due"] == "2026-01-02T09:00:00Z"


async def test_compat_toggle_advances_and_keeps_its_shape(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, due="2026-01-01", recurrence={"rule": "FREQ=DAILY"})
    r = await client.patch(f"/api/{acct.id}/tasks/{task['id']}/complete", headers=acct.headers)
    assert r.status_code == 200, r.text
    assert "recurrence" not in r.json() and r.json()["completed"] is False
    got = await client.get(f"{TASKS}/{task['id']}", headers=acct.headers)
    assert got.json()["due"] == "2026-01-02"


async def test_web_shows_the_rule_and_completing_moves_the_due(web: WebClient) -> None:
    await web.signup(timezone="Europe/Berlin")
    task_id = await web.add("Water plants", due_date="2026-03-28", due_time="08:00")
    r = await web.post(
        f"/tasks/{task_id}",
        {
            "title": "Water plants",
            "due_date": "2026-03-28",
            "due_time": "08:00",
            "repeat": "FREQ=DAILY;INTERVAL=3",
            "repeat_mode": "from_due",
        },
        htmx=True,
    )
    assert r.status_code == 200, r.text
    assert "icon-repeat" in r.text and "</svg> every 3 days" in r.text and "28 Mar 08:00" in r.text
    r = await web.post(f"/tasks/{task_id}/toggle", htmx=True)
    assert r.status_code == 200
    assert 'aria-pressed="false"' in r.text and "31 Mar 08:00" in r.text
    assert "every 3 days" in r.text
    # The edit form shows the rule; a rule that never happens is refused next to the field.
    form = await web.get(f"/tasks/{task_id}/edit", headers={"HX-Request": "true"})
    assert 'value="FREQ=DAILY;INTERVAL=3"' in form.text
    r = await web.post(
        f"/tasks/{task_id}",
        {
            "title": "Water plants",
            "due_date": "2026-03-31",
            "due_time": "08:00",
            "repeat": "FREQ=DAILY;UNTIL=20260101",
        },
        htmx=True,
    )
    assert r.status_code == 422
    assert "UNTIL is before the due date: the series would have no occurrence" in r.text
    page = await web.get("/tasks")
    assert "31 Mar 08:00" in page.text and "every 3 days" in page.text


# Hostile rules (issue 14, items 11 and 15): refused with 422, cheaply, never a 500.

# Every 7th day from a Monday is a Monday, so a Tuesday never comes: no search can tell before
# it has looked through the whole horizon.
NEVER = "FREQ=DAILY;INTERVAL=7;BYMONTH=2;BYMONTHDAY=29;BYDAY=TU"
NEVER_DUE = "2026-01-05"  # a Monday
NO_OCCURRENCE = "This rule has no occurrence within 100 years of the due date"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (NEVER, NO_OCCURRENCE),
        # dateutil indexed past the end of its year here: a 500 before.
        (
            "FREQ=YEARLY;BYMONTH=12;BYDAY=8FR",
            "Value error, BYDAY=8FR: the number must be 1..5 or -5..-1",
        ),
        (
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
            "Value error, This rule never happens: none of its months has that day",
        ),
    ],
)
async def test_hostile_rules_are_422_on_create_and_update(
    client: httpx.AsyncClient, rule: str, message: str
) -> None:
    acct = await make_account(client, timezone="Europe/Berlin")
    body = {"title": "x", "due": NEVER_DUE, "recurrence": {"rule": rule}}
    problem = assert_problem(await client.post(TASKS, json=body, headers=acct.headers), 422)
    assert [(e["loc"], e["msg"]) for e in problem["errors"]] == [
        (["body", "recurrence", "rule"], message)
    ]
    plain = await make_task(client, acct, title="plain", due=NEVER_DUE)
    r = await client.patch(
        f"{TASKS}/{plain['id']}", json={"recurrence": {"rule": rule}}, headers=acct.headers
    )
    assert [e["msg"] for e in assert_problem(r, 422)["errors"]] == [message]
    after = await client.get(f"{TASKS}/{plain['id']}", headers=acct.headers)
    assert after.headers["etag"] == '"1"' and after.json()["recurrence"] is None


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("FREQ=YEARLY;BYMONTH=12;BYDAY=8FR", "BYDAY=8FR: the number must be 1..5 or -5..-1"),
        (NEVER, NO_OCCURRENCE),
    ],
)
async def test_web_edit_form_refuses_hostile_rules(web: WebClient, rule: str, message: str) -> None:
    """The edit form gave a 500 for a rule dateutil tripped on (issue 14, item 15)."""
    await web.signup(timezone="Europe/Berlin")
    task_id = await web.add("Water plants", due_date=NEVER_DUE)
    fields = {"title": "Water plants", "due_date": NEVER_DUE, "due_time": "", "repeat": rule}
    r = await web.post(f"/tasks/{task_id}", fields, htmx=True)
    assert r.status_code == 422
    assert message in r.text
    page = await web.get("/tasks")
    assert "Water plants" in page.text and "icon-repeat" not in page.text
