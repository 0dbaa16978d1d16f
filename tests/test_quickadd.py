"""Quick add: the parser, phrase by phrase at a fixed moment, and POST /tasks/parse and /quick."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from doable.tasks.quickadd import NO_TITLE, QuickParse, parse
from tests.factories import assert_problem, bearer, make_account, make_api_token
from tests.webclient import WebClient

# Friday 27 November 2026, 10:30 in Berlin (CET, +01:00).
NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
PARSE = "/api/v1/tasks/parse"
QUICK = "/api/v1/tasks/quick"
TASKS = "/api/v1/tasks"

NO_TITLE_WARNING = "There is no title: everything was read as a date, tag or other token"
PAST = "The due date is in the past"


@dataclass(frozen=True)
class Q:
    text: str
    title: str
    due: str | None = None  # date, or datetime to the minute with its offset
    priority: str = "none"
    tags: tuple[str, ...] = ()
    rule: str | None = None
    mode: str = "from_due"
    warnings: tuple[str, ...] = ()


def _due(value: date | datetime | None) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    return value.isoformat() if value is not None else None


PHRASES = [
    # Plain titles
    Q("Buy milk", "Buy milk"),
    Q("  lots   of \t space  ", "lots of space"),
    # Days
    Q("Buy milk today", "Buy milk", "2026-11-27"),
    Q("Buy milk tomorrow", "Buy milk", "2026-11-28"),
    Q("Buy milk TOMORROW", "Buy milk", "2026-11-28"),
    Q("Call mum friday", "Call mum", "2026-11-27"),  # a weekday includes today
    Q("Call mum on friday", "Call mum", "2026-11-27"),
    Q("Call mum this friday", "Call mum", "2026-11-27"),
    Q("Call mum next friday", "Call mum", "2026-12-04"),  # the Friday of next week
    Q("Call mum next monday", "Call mum", "2026-11-30"),
    Q("Gym mon", "Gym", "2026-11-30"),
    Q("Gym Tuesday", "Gym", "2026-12-01"),
    Q("Gym thurs", "Gym", "2026-12-03"),
    Q("Gym sat", "Gym", "2026-11-28"),
    Q("Plan the quarter next week", "Plan the quarter", "2026-11-30"),
    Q("Report by monday", "Report", "2026-11-30"),
    Q("Report due tomorrow", "Report", "2026-11-28"),
    Q("Renew passport in 3 days", "Renew passport", "2026-11-30"),
    Q("Renew passport in 2 weeks", "Renew passport", "2026-12-11"),
    Q("Renew passport in a month", "Renew passport", "2026-12-27"),
    Q("Renew passport in 1 year", "Renew passport", "2027-11-27"),
    Q("Party dec 5", "Party", "2026-12-05"),
    Q("Party 5 dec", "Party", "2026-12-05"),
    Q("Party December 5th", "Party", "2026-12-05"),
    Q("Party 5th of December", "Party", "2026-12-05"),
    Q("Party 2026-12-05", "Party", "2026-12-05"),
    Q("Party dec 5 2027", "Party", "2027-12-05"),
    Q("Taxes nov 26", "Taxes", "2027-11-26"),  # already past this year
    Q("Taxes nov 27", "Taxes", "2026-11-27"),  # today is not past
    Q("Leap day feb 29", "Leap day", "2028-02-29"),
    Q("Old thing 2020-01-01", "Old thing", "2020-01-01", warnings=(PAST,)),
    # Times
    Q("Standup at 9am", "Standup", "2026-11-28T09:00+01:00"),  # gone today: tomorrow
    Q("Call at 5pm", "Call", "2026-11-27T17:00+01:00"),
    Q("Call at 5:30pm", "Call", "2026-11-27T17:30+01:00"),
    Q("Call at 5:30PM", "Call", "2026-11-27T17:30+01:00"),
    Q("Call 17:30", "Call", "2026-11-27T17:30+01:00"),
    Q("Call 5pm", "Call", "2026-11-27T17:00+01:00"),
    Q("Call at 17", "Call", "2026-11-27T17:00+01:00"),
    Q("Call at 5 pm", "Call", "2026-11-27T17:00+01:00"),
    Q("Call at 12am", "Call", "2026-11-28T00:00+01:00"),
    Q("Lunch at 12pm", "Lunch", "2026-11-27T12:00+01:00"),
    Q("Meet at noon", "Meet", "2026-11-27T12:00+01:00"),
    Q("Meet at midnight", "Meet", "2026-11-28T00:00+01:00"),
    Q("Call tomorrow at 8am", "Call", "2026-11-28T08:00+01:00"),
    Q("Call at 8am tomorrow", "Call", "2026-11-28T08:00+01:00"),
    Q("Call dec 5 at 17:30", "Call", "2026-12-05T17:30+01:00"),
    Q("Call today at 8am", "Call", "2026-11-27T08:00+01:00", warnings=(PAST,)),
    Q(
        "Call at 5",
        "Call",
        "2026-11-28T05:00+01:00",
        warnings=("“at 5” is read as 05:00 on the 24-hour clock; write 5pm for the afternoon",),
    ),
    Q("Meet at the office", "Meet at the office"),
    Q("Call at 25:00", "Call at 25:00"),
    Q("Call at 13pm", "Call at 13pm"),
    # Priorities (!1 is the most pressing, like Todoist's p1)
    Q("Pay rent !high", "Pay rent", priority="high"),
    Q("Pay rent !medium", "Pay rent", priority="medium"),
    Q("Pay rent !low", "Pay rent", priority="low"),
    Q("Pay rent !URGENT", "Pay rent", priority="urgent"),
    Q("Pay rent !1", "Pay rent", priority="urgent"),
    Q("Pay rent !2", "Pay rent", priority="high"),
    Q("Pay rent !3", "Pay rent", priority="medium"),
    Q("Pay rent !4", "Pay rent", priority="low"),
    Q(
        "Pay rent !5",
        "Pay rent !5",
        warnings=(
            "“!5” is not a priority: use !low, !medium, !high, !urgent, or !1 (urgent) to !4 (low)",
        ),
    ),
    Q("Wow!", "Wow!"),
    Q("Pay ! rent", "Pay ! rent"),
    Q("Pay !! rent", "Pay !! rent"),
    Q(
        "Pay rent !low !high",
        "Pay rent !high",
        priority="low",
        warnings=("Only the first priority is used; “!high” stays in the title",),
    ),
    # Tags
    Q("Water plants #home", "Water plants", tags=("home",)),
    Q("Water #home plants #garden", "Water plants", tags=("home", "garden")),
    Q("Tag #Home and #home", "Tag and", tags=("Home",)),
    Q("Café #café-bar #a/b #x_y", "Café", tags=("café-bar", "a/b", "x_y")),
    Q("Fix bug #12", "Fix bug #12"),  # an issue number, not a tag
    Q("Fix # bug", "Fix # bug"),
    Q("Learn C#", "Learn C#"),
    Q("email@example.com about #work", "email@example.com about", tags=("work",)),
    Q(
        "Plants #home.",
        "Plants #home.",
        warnings=("“#home.” is not a tag: a tag is # and a word with a letter",),
    ),
    # Recurrence
    Q(
        "Water plants every 3 days at 8am #home",
        "Water plants",
        "2026-11-30T08:00+01:00",  # 08:00 today is gone: the next occurrence
        tags=("home",),
        rule="FREQ=DAILY;INTERVAL=3",
    ),
    Q("Stretch every day", "Stretch", "2026-11-27", rule="FREQ=DAILY"),
    Q("Stretch every day at 8pm", "Stretch", "2026-11-27T20:00+01:00", rule="FREQ=DAILY"),
    Q(
        "Standup every weekday at 9:15",
        "Standup",
        "2026-11-30T09:15+01:00",
        rule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    ),
    Q(
        "Gym every 2 weeks on mon, thu",
        "Gym",
        "2026-12-07",  # this week's Monday and Thursday are gone; the next is in 2 weeks
        rule="FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH",
    ),
    Q("Gym every week on fri", "Gym", "2026-11-27", rule="FREQ=WEEKLY;BYDAY=FR"),
    Q("Rent every month on the 1st", "Rent", "2026-12-01", rule="FREQ=MONTHLY;BYMONTHDAY=1"),
    Q("Rent every month on 15th", "Rent", "2026-12-15", rule="FREQ=MONTHLY;BYMONTHDAY=15"),
    Q(
        "Invoice every month on the last day",
        "Invoice",
        "2026-11-30",
        rule="FREQ=MONTHLY;BYMONTHDAY=-1",
    ),
    Q("Review every last friday", "Review", "2026-11-27", rule="FREQ=MONTHLY;BYDAY=-1FR"),
    Q("Meeting every first monday", "Meeting", "2026-12-07", rule="FREQ=MONTHLY;BYDAY=1MO"),
    Q("Meeting every 2nd tue", "Meeting", "2026-12-08", rule="FREQ=MONTHLY;BYDAY=2TU"),
    Q("Birthday every year", "Birthday", "2026-11-27", rule="FREQ=YEARLY"),
    Q("Team sync every monday", "Team sync", "2026-11-30", rule="FREQ=WEEKLY;BYDAY=MO"),
    Q("Brunch every weekend", "Brunch", "2026-11-28", rule="FREQ=WEEKLY;BYDAY=SA,SU"),
    Q("Bins every other week", "Bins", "2026-11-27", rule="FREQ=WEEKLY;INTERVAL=2"),
    Q(
        "Anniversary every dec 5",
        "Anniversary",
        "2026-12-05",
        rule="FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=5",
    ),
    Q(
        "Yoga every monday and thursday at 7pm",
        "Yoga",
        "2026-11-30T19:00+01:00",
        rule="FREQ=WEEKLY;BYDAY=MO,TH",
    ),
    Q("Yoga every mon,wed,fri", "Yoga", "2026-11-27", rule="FREQ=WEEKLY;BYDAY=MO,WE,FR"),
    # Todoist's shorthands (issue 14, item 9). 27 November 2026 is a Friday.
    Q("Standup every workday", "Standup", "2026-11-27", rule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
    Q("Rent every 1st", "Rent", "2026-12-01", rule="FREQ=MONTHLY;BYMONTHDAY=1"),
    Q(
        "Invoice every 15th of the month",
        "Invoice",
        "2026-12-15",
        rule="FREQ=MONTHLY;BYMONTHDAY=15",
    ),
    Q("Pay bills every last day", "Pay bills", "2026-11-30", rule="FREQ=MONTHLY;BYMONTHDAY=-1"),
    Q(
        "Backup every last day of the month at 11pm",
        "Backup",
        "2026-11-30T23:00+01:00",
        rule="FREQ=MONTHLY;BYMONTHDAY=-1",
    ),
    Q(
        "Water every 3 days at 10am",  # 10:00 today has passed (10:30): three days on
        "Water",
        "2026-11-30T10:00+01:00",
        rule="FREQ=DAILY;INTERVAL=3",
    ),
    Q("Run every day starting jan 3", "Run", "2027-01-03", rule="FREQ=DAILY"),
    Q(
        "Swim every monday starting dec 2 at 7am",  # the first Monday from Wednesday 2 Dec
        "Swim",
        "2026-12-07T07:00+01:00",
        rule="FREQ=WEEKLY;BYDAY=MO",
    ),
    Q("Walk every day from home", "Walk from home", "2026-11-27", rule="FREQ=DAILY"),
    Q("Read every 3rd day", "Read every 3rd day"),
    Q(
        "Clean every! 2 weeks",
        "Clean",
        "2026-11-27",
        rule="FREQ=WEEKLY;INTERVAL=2",
        mode="from_completion",
    ),
    Q("Haircut every! month", "Haircut", "2026-11-27", rule="FREQ=MONTHLY", mode="from_completion"),
    Q(
        "Water plants every 3 days tomorrow",  # a date given: it is the first occurrence
        "Water plants",
        "2026-11-28",
        rule="FREQ=DAILY;INTERVAL=3",
    ),
    Q(
        "Report every monday !high #work at 9am",
        "Report",
        "2026-11-30T09:00+01:00",
        priority="high",
        tags=("work",),
        rule="FREQ=WEEKLY;BYDAY=MO",
    ),
    Q("Read every book", "Read every book"),
    Q(
        "Pills every 8 hours",
        "Pills every 8 hours",
        warnings=(
            "Repeats are daily at the finest: “every 8 hours” stays in the title (a reminder"
            " can nudge you within a day)",
        ),
    ),
    Q("Cake every 0 days", "Cake every 0 days", warnings=("A repeat interval must be 1 to 999",)),
    # Ambiguous on purpose: the rules of docs/quick-add.md
    Q("Call May about 5 things", "Call May about 5 things"),
    Q("Call May 5", "Call", "2027-05-05"),
    Q("Call May, 5 times", "Call May, 5 times"),
    Q("Buy 2026 calendar", "Buy 2026 calendar"),
    Q("Buy 5 apples", "Buy 5 apples"),
    Q("Lie in the sun", "Lie in the sun"),
    Q("Sun cream", "cream", "2026-11-29"),
    Q("Watch the march", "Watch the march"),
    Q("tomorrow's plan", "tomorrow's plan"),
    Q("Buy milk tomorrow, then bread", "Buy milk tomorrow, then bread"),
    Q("feb 30 party", "feb 30 party", warnings=("“feb 30” is not a date",)),
    Q("2026-02-30 party", "2026-02-30 party", warnings=("“2026-02-30” is not a date",)),
    Q(
        "Meeting today tomorrow",
        "Meeting tomorrow",
        "2026-11-27",
        warnings=("Only the first date is used; “tomorrow” stays in the title",),
    ),
    Q(
        "at 5pm at 6pm call",
        "at 6pm call",
        "2026-11-27T17:00+01:00",
        warnings=("Only the first time is used; “at 6pm” stays in the title",),
    ),
    Q("🎉🎉🎉", "🎉🎉🎉"),
    Q(
        "🎂 party tomorrow #🎉",
        "🎂 party #🎉",
        "2026-11-28",
        warnings=("“#🎉” is not a tag: a tag is # and a word with a letter",),
    ),
    # Nothing but tokens: no title (POST /quick answers 422)
    Q(
        "#home !high tomorrow",
        "",
        "2026-11-28",
        priority="high",
        tags=("home",),
        warnings=(NO_TITLE_WARNING,),
    ),
    Q("every day", "", "2026-11-27", rule="FREQ=DAILY", warnings=(NO_TITLE_WARNING,)),
    # Daylight saving time in Berlin
    Q(
        "Night shift 2027-03-28 at 2:30",
        "Night shift",
        "2027-03-28T03:30+02:00",
        warnings=(
            "02:30 does not exist on 2027-03-28 in Europe/Berlin (the clocks go forward);"
            " 03:30 is used",
        ),
    ),
    Q(
        "Night shift 2027-10-31 at 2:30",
        "Night shift",
        "2027-10-31T02:30+02:00",
        warnings=(
            "02:30 happens twice on 2027-10-31 in Europe/Berlin (the clocks go back);"
            " the first one is used",
        ),
    ),
    Q("Summer call 2027-07-01 at 9am", "Summer call", "2027-07-01T09:00+02:00"),
]


def test_there_are_enough_phrases() -> None:
    assert len(PHRASES) >= 70
    assert len({q.text for q in PHRASES}) == len(PHRASES)


@pytest.mark.parametrize("q", PHRASES, ids=[q.text for q in PHRASES])
def test_phrase(q: Q) -> None:
    parsed = parse(q.text, zone=BERLIN, now=NOW)
    got = (
        parsed.title,
        _due(parsed.due),
        parsed.priority,
        tuple(parsed.tags),
        parsed.recurrence.rule if parsed.recurrence else None,
        parsed.recurrence.mode if parsed.recurrence else "from_due",
        tuple(parsed.warnings),
    )
    assert got == (q.title, q.due, q.priority, q.tags, q.rule, q.mode, q.warnings)
    _check_tokens(q.text, parsed)


def _check_tokens(text: str, parsed: QuickParse) -> None:
    """Each token's range holds its text; cutting them all out leaves exactly the title."""
    rest = list(text)
    previous_end = 0
    for token in parsed.tokens:
        assert previous_end <= token.start < token.end <= len(text)
        assert text[token.start : token.end] == token.text
        # Whole words only: a token starts and ends at a word boundary.
        assert token.start == 0 or text[token.start - 1].isspace()
        assert token.end == len(text) or text[token.end].isspace()
        rest[token.start : token.end] = [" "] * (token.end - token.start)
        previous_end = token.end
    assert " ".join("".join(rest).split()) == parsed.title


def _spans(text: str) -> list[tuple[str, int, int, str]]:
    return [(t.kind, t.start, t.end, t.text) for t in parse(text, zone=BERLIN, now=NOW).tokens]


def test_token_ranges() -> None:
    assert _spans("Water plants every 3 days at 8am #home") == [
        ("recurrence", 13, 25, "every 3 days"),
        ("time", 26, 32, "at 8am"),
        ("tag", 33, 38, "#home"),
    ]
    assert _spans("Call mum on friday !1") == [
        ("date", 9, 18, "on friday"),
        ("priority", 19, 21, "!1"),
    ]
    assert _spans("Gym every 2 weeks on mon, thu at 7pm") == [
        ("recurrence", 4, 29, "every 2 weeks on mon, thu"),
        ("time", 30, 36, "at 7pm"),
    ]
    assert _spans("tomorrow") == [("date", 0, 8, "tomorrow")]


def test_offsets_count_code_points_and_utf16_units() -> None:
    parsed = parse("🎂 party tomorrow #x", zone=BERLIN, now=NOW)
    offsets = [(t.start, t.end, t.utf16_start, t.utf16_end) for t in parsed.tokens]
    # 🎂 is one code point but two UTF-16 code units.
    assert offsets == [(8, 16, 9, 17), (17, 19, 18, 20)]
    plain = parse("party tomorrow", zone=BERLIN, now=NOW)
    assert [(t.start, t.utf16_start) for t in plain.tokens] == [(6, 6)]


def test_recurrence_in_words() -> None:
    def words(text: str) -> str:
        recurrence = parse(text, zone=BERLIN, now=NOW).recurrence
        assert recurrence is not None
        return recurrence.description

    assert words("x every 3 days") == "every 3 days"
    assert words("x every 2 weeks on mon, thu") == "every 2 weeks on Monday and Thursday"
    assert words("x every last friday") == "every last Friday of the month"
    assert words("x every month on the 1st") == "every month on the 1st"
    assert words("x every weekday") == "every weekday (Monday to Friday)"
    assert words("x every! week") == "every week, counted from when it was last completed"


def test_the_user_time_zone_decides_today_and_the_offset() -> None:
    # 09:30 UTC is 04:30 in New York and 18:30 in Tokyo.
    new_york = parse("Call at 9am", zone=ZoneInfo("America/New_York"), now=NOW)
    assert _due(new_york.due) == "2026-11-27T09:00-05:00"
    tokyo = parse("Call at 9am", zone=ZoneInfo("Asia/Tokyo"), now=NOW)
    assert _due(tokyo.due) == "2026-11-28T09:00+09:00"
    late = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)  # already Saturday in Berlin
    assert _due(parse("x today", zone=BERLIN, now=late).due) == "2026-11-28"
    assert _due(parse("x today", zone=ZoneInfo("UTC"), now=late).due) == "2026-11-27"
    # A repeat rule's first occurrence keeps 08:00 local across the DST change of March.
    spring = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)  # Saturday, the day before
    daily = parse("x every day at 8am", zone=BERLIN, now=spring)
    assert _due(daily.due) == "2027-03-28T08:00+02:00"


@pytest.mark.parametrize(
    "text",
    [
        "every " * 2000,
        "every mon, " * 1000,
        "1 " * 5000,
        "in " * 5000,
        "a" * 10_000,
        "#" + "a" * 9_999,
        "!" * 10_000,
        "🎉" * 10_000,
        "mon," * 2500,
        "every 2 weeks on mon, thu #x !1 at 5pm dec 5 " * 250,
        "at " * 5000,
    ],
    ids=lambda t: f"{t[:12]!r}x{len(t)}",
)
def test_ten_thousand_characters_parse_quickly(text: str) -> None:
    text = text[:10_000]
    started = time.perf_counter()
    parsed = parse(text, zone=BERLIN, now=NOW)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, elapsed  # at most about 0.07 s on an idle box; room for a busy one
    _check_tokens(text, parsed)


# HTTP: POST /api/v1/tasks/parse and /api/v1/tasks/quick


async def test_parse_answers_the_fields_and_creates_nothing(client: httpx.AsyncClient) -> None:
    acct = await make_account(client, timezone="Europe/Berlin")
    text = "Party 2031-12-05 at 17:30 #fun !2 every year"
    r = await client.post(PARSE, json={"text": text}, headers=acct.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "title": "Party",
        "priority": "high",
        "tags": ["fun"],
        "due": "2031-12-05T17:30:00+01:00",
        "recurrence": {"rule": "FREQ=YEARLY", "mode": "from_due", "text": "every year"},
        "tokens": [
            {"kind": kind, "start": a, "end": b, "text": text, "utf16_start": a, "utf16_end": b}
            for kind, a, b, text in [
                ("date", 6, 16, "2031-12-05"),
                ("time", 17, 25, "at 17:30"),
                ("tag", 26, 30, "#fun"),
                ("priority", 31, 33, "!2"),
                ("recurrence", 34, 44, "every year"),
            ]
        ],
        "warnings": [],
        # Where it would go (issue 15): no #Project, so the Inbox.
        "project": {"id": r.json()["project"]["id"], "name": "Inbox"},
        "section": None,
        "reminder": None,
    }
    listed = await client.get(TASKS, headers=acct.headers)
    assert listed.json()["items"] == []
    assert (await client.get("/api/v1/tags", headers=acct.headers)).json() == []


async def test_parse_uses_the_current_time_in_the_users_zone(client: httpx.AsyncClient) -> None:
    acct = await make_account(client, timezone="Asia/Tokyo")
    zone = ZoneInfo("Asia/Tokyo")
    before = datetime.now(zone)
    r = await client.post(
        PARSE, json={"text": "Water plants every 3 days at 8am #home"}, headers=acct.headers
    )
    after = datetime.now(zone)
    assert r.status_code == 200, r.text
    body = r.json()
    due = datetime.fromisoformat(body["due"])
    assert due.utcoffset() == before.utcoffset()  # Tokyo has no DST
    # Today at 08:00 if that is still ahead, else three days later.
    possible = set()
    for moment in (before, after):
        at_8 = moment.replace(hour=8, minute=0, second=0, microsecond=0)
        possible.add(at_8 if moment < at_8 else at_8 + timedelta(days=3))
    assert due in possible
    assert (body["title"], body["tags"]) == ("Water plants", ["home"])
    assert body["recurrence"]["rule"] == "FREQ=DAILY;INTERVAL=3"


async def test_quick_creates_the_task(client: httpx.AsyncClient) -> None:
    acct = await make_account(client, timezone="Europe/Berlin")
    r = await client.post(
        QUICK, json={"text": "Party 2031-12-05 at 17:30 #fun !2"}, headers=acct.headers
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == f"{TASKS}/{body['id']}"
    assert r.headers["etag"] == '"1"'
    assert (body["title"], body["priority"], body["tags"]) == ("Party", "high", ["fun"])
    assert body["due"] == "2031-12-05T16:30:00Z"  # stored in UTC
    assert body["completed"] is False and body["description"] == ""
    got = await client.get(r.headers["location"], headers=acct.headers)
    assert got.json() == body

    r = await client.post(QUICK, json={"text": "Buy milk 2031-01-02"}, headers=acct.headers)
    assert (r.status_code, r.json()["title"], r.json()["due"]) == (201, "Buy milk", "2031-01-02")


async def test_quick_stores_the_repeat_rule(
    client: httpx.AsyncClient,
) -> None:
    acct = await make_account(client, timezone="America/New_York")
    r = await client.post(
        QUICK, json={"text": "Rent every! month on the 1st at 9am"}, headers=acct.headers
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["title"] == "Rent"
    local = datetime.fromisoformat(body["due"].replace("Z", "+00:00")).astimezone(
        ZoneInfo("America/New_York")
    )
    assert (local.day, local.hour, local.minute) == (1, 9, 0)
    assert body["recurrence"] == {
        "rule": "FREQ=MONTHLY;BYMONTHDAY=1",
        "mode": "from_completion",
        "text": "every month on the 1st",
    }


async def test_quick_tasks_and_tags_belong_to_their_owner(client: httpx.AsyncClient) -> None:
    alice = await make_account(client)
    bob = await make_account(client)
    r = await client.post(QUICK, json={"text": "Secret plan #private"}, headers=alice.headers)
    assert r.status_code == 201
    task_id = r.json()["id"]
    r = await client.post(QUICK, json={"text": "Other plan #private"}, headers=bob.headers)
    assert r.status_code == 201
    assert [t["title"] for t in (await client.get(TASKS, headers=bob.headers)).json()["items"]] == [
        "Other plan"
    ]
    assert_problem(await client.get(f"{TASKS}/{task_id}", headers=bob.headers), 404)
    tags = (await client.get("/api/v1/tags", headers=alice.headers)).json()
    assert [(t["name"], t["task_count"]) for t in tags] == [("private", 1)]


@pytest.mark.parametrize("path", [PARSE, QUICK])
async def test_anonymous_and_forged_are_401(client: httpx.AsyncClient, path: str) -> None:
    assert_problem(await client.post(path, json={"text": "x tomorrow"}), 401)
    r = await client.post(path, json={"text": "x"}, headers=bearer("dbl_pat_" + "x" * 40))
    assert_problem(r, 401)


async def test_api_token_scopes(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    reader = bearer((await make_api_token(client, acct, "tasks:read"))["token"])
    writer = bearer((await make_api_token(client, acct, "tasks:write"))["token"])
    account = bearer((await make_api_token(client, acct, "account:read"))["token"])
    body = {"text": "Read a book tomorrow"}
    assert (await client.post(PARSE, json=body, headers=reader)).status_code == 200
    problem = assert_problem(await client.post(QUICK, json=body, headers=reader), 403)
    assert problem["detail"] == "This API token lacks the tasks:write scope"
    assert (await client.post(QUICK, json=body, headers=writer)).status_code == 201
    problem = assert_problem(await client.post(PARSE, json=body, headers=writer), 403)
    assert problem["detail"] == "This API token lacks the tasks:read scope"
    for path in (PARSE, QUICK):
        assert_problem(await client.post(path, json=body, headers=account), 403)
    titles = [t["title"] for t in (await client.get(TASKS, headers=acct.headers)).json()["items"]]
    assert titles == ["Read a book"]


async def test_quick_honours_idempotency_key(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    headers = {**acct.headers, "Idempotency-Key": "quick-1"}
    first = await client.post(QUICK, json={"text": "Once #a"}, headers=headers)
    again = await client.post(QUICK, json={"text": "Once #a"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert len((await client.get(TASKS, headers=acct.headers)).json()["items"]) == 1


async def test_emoji_only_is_a_title(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    r = await client.post(PARSE, json={"text": "🎉🎂"}, headers=acct.headers)
    assert (r.status_code, r.json()["title"], r.json()["tokens"], r.json()["warnings"]) == (
        200,
        "🎉🎂",
        [],
        [],
    )
    r = await client.post(QUICK, json={"text": "🎉🎂 #🎉 tomorrow"}, headers=acct.headers)
    assert r.status_code == 201, r.text
    assert (r.json()["title"], r.json()["tags"]) == ("🎉🎂 #🎉", [])


async def test_all_tokens_and_no_title(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    text = "#home !high tomorrow every day"
    r = await client.post(PARSE, json={"text": text}, headers=acct.headers)
    assert r.status_code == 200
    assert (r.json()["title"], r.json()["warnings"]) == ("", [NO_TITLE_WARNING])
    problem = assert_problem(
        await client.post(QUICK, json={"text": text}, headers=acct.headers), 422
    )
    assert problem["detail"] == NO_TITLE
    assert problem["errors"] == [{"loc": ["body", "text"], "msg": NO_TITLE, "type": "value_error"}]
    assert (await client.get(TASKS, headers=acct.headers)).json()["items"] == []
    assert (await client.get("/api/v1/tags", headers=acct.headers)).json() == []


async def test_long_text(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    longest = "word " * 399 + "#tag"  # 1999 characters: allowed, but the title is too long
    assert len(longest) == 1999
    r = await client.post(PARSE, json={"text": longest}, headers=acct.headers)
    assert r.status_code == 200
    assert r.json()["warnings"] == ["The title has 1,994 characters; use at most 200"]
    problem = assert_problem(
        await client.post(QUICK, json={"text": longest}, headers=acct.headers), 422
    )
    assert problem["detail"] == "The parsed title: String should have at most 200 characters"
    for size in (2001, 10_000):
        for path in (PARSE, QUICK):
            r = await client.post(path, json={"text": "x" * size}, headers=acct.headers)
            problem = assert_problem(r, 422)
            assert problem["errors"][0]["loc"] == ["body", "text"]
            assert problem["errors"][0]["msg"] == "String should have at most 2000 characters"


BAD_BODIES: list[tuple[str, bytes]] = [
    ("NUL byte", b'{"text": "a\\u0000b tomorrow"}'),
    ("number", b'{"text": 123}'),
    ("null", b'{"text": null}'),
    ("list", b'{"text": ["x"]}'),
    ("object", b'{"text": {"x": 1}}'),
    ("missing text", b"{}"),
    ("unknown field", b'{"text": "x", "title": "y"}'),
    ("empty", b'{"text": ""}'),
    ("blank", b'{"text": "  \\t "}'),
    ("lone surrogate", b'{"text": "\\ud800 tomorrow"}'),
    ("lone low surrogate", b'{"text": "x \\udc00"}'),
    ("not JSON", b"text=hello"),
    ("JSON string", b'"hello"'),
    ("invalid UTF-8", b'{"text": "\xff\xfe"}'),
]


@pytest.mark.parametrize("path", [PARSE, QUICK])
@pytest.mark.parametrize(("name", "raw"), BAD_BODIES, ids=[n for n, _ in BAD_BODIES])
async def test_bad_bodies_are_422(
    client: httpx.AsyncClient, path: str, name: str, raw: bytes
) -> None:
    acct = await make_account(client)
    headers = {**acct.headers, "Content-Type": "application/json"}
    r = await client.post(path, content=raw, headers=headers)
    assert_problem(r, 422)
    assert (await client.get(TASKS, headers=acct.headers)).json()["items"] == []


# The web app's quick-add box: live preview (htmx) and the form, with and without JavaScript


@pytest.fixture
async def web(client: httpx.AsyncClient) -> WebClient:
    return WebClient(client)


async def test_web_preview_marks_the_tokens(web: WebClient) -> None:
    await web.signup(timezone="Europe/Berlin")
    text = "Party <b>now</b> 2031-12-05 at 17:30 #fun !2 every year"
    r = await web.post("/tasks/preview", {"title": text}, htmx=True)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    marks = re.findall(r'<mark class="token token-(\w+)" title="\w+">([^<]*)</mark>', r.text)
    assert marks == [
        ("date", "2031-12-05"),
        ("time", "at 17:30"),
        ("tag", "#fun"),
        ("priority", "!2"),
        ("recurrence", "every year"),
    ]
    assert '<dd class="preview-title">Party &lt;b&gt;now&lt;/b&gt;</dd>' in r.text
    assert "<b>now" not in r.text
    assert '<dd class="preview-due">Fri 5 Dec 2031, 17:30 (Europe/Berlin)</dd>' in r.text
    assert '<dd class="preview-repeats">every year</dd>' in r.text
    assert '<span class="badge prio-high">high</span>' in r.text
    assert '<span class="chip">#fun</span>' in r.text
    r = await web.post("/tasks/preview", {"title": "#home tomorrow"}, htmx=True)
    assert '<span class="muted">(none yet)</span>' in r.text
    assert f'<p class="preview-warning">{NO_TITLE_WARNING}</p>' in r.text
    r = await web.post("/tasks/preview", {"title": "   "}, htmx=True)
    assert (r.status_code, r.text.strip()) == (200, "")
    page = await web.get("/tasks")
    assert '<li id="task-' not in page.text  # previews create nothing


async def test_web_quick_add_without_javascript(web: WebClient) -> None:
    await web.signup(timezone="Europe/Berlin")
    page = await web.get("/tasks")
    assert 'action="/tasks/quick"' in page.text and 'hx-post="/tasks/preview"' in page.text
    form = {"priority": "none", "due_date": "", "due_time": "", "tags": ""}
    r = await web.post("/tasks/quick", {**form, "title": "Water plants 2031-01-02 #home !high"})
    assert (r.status_code, r.headers["location"]) == (303, "/tasks")
    page = await web.get("/tasks")
    item = re.search(r'<li id="task-[^"]+".*?</li>', page.text, re.DOTALL)
    assert item is not None
    assert '<p class="title">Water plants</p>' in item.group()
    assert '<span class="badge prio-high">high</span>' in item.group()
    assert '<span class="due">2 Jan 2031</span>' in item.group()
    assert ">#home</a>" in item.group()
    # The "Priority, due date, tags" fields win over the text; tags add up.
    r = await web.post(
        "/tasks/quick",
        {
            "title": "Rake leaves 2031-01-02 at 9am #garden !high",
            "priority": "low",
            "due_date": "2031-03-04",
            "due_time": "",
            "tags": "outside",
        },
    )
    assert r.status_code == 303
    page = await web.get("/tasks")
    item = re.search(r'<li id="task-[^"]+".*?</li>', page.text, re.DOTALL)
    assert item is not None and '<p class="title">Rake leaves</p>' in item.group()
    assert '<span class="badge prio-low">low</span>' in item.group()
    assert '<span class="due">4 Mar 2031</span>' in item.group()
    assert ">#garden</a>" in item.group() and ">#outside</a>" in item.group()


async def test_web_quick_add_errors(web: WebClient) -> None:
    await web.signup()
    r = await web.post("/tasks/quick", {"title": "#home tomorrow !1"})
    assert r.status_code == 422
    assert f'<p class="field-error" id="quick-title-error">{NO_TITLE}</p>' in r.text
    assert 'value="#home tomorrow !1"' in r.text  # kept for fixing
    r = await web.post("/tasks/quick", {"title": "   "}, htmx=True)
    assert (r.status_code, r.headers["hx-retarget"]) == (422, "#quick-add")
    assert "Type what the task is" in r.text
    r = await web.post("/tasks/quick", {"title": "x" * 201 + " tomorrow"}, htmx=True)
    assert r.status_code == 422 and "at most 200 characters" in r.text
    r = await web.post("/tasks/quick", {"title": "x" * 10_000}, htmx=True)
    assert r.status_code == 422 and "at most 2,000 characters" in r.text
    r = await web.post("/tasks/quick", {"title": "ok", "due_date": "2031-02-30"}, htmx=True)
    assert r.status_code == 422
    page = await web.get("/tasks")
    assert '<li id="task-' not in page.text


async def test_web_quick_add_with_htmx_clears_the_preview(web: WebClient) -> None:
    await web.signup(timezone="America/New_York")
    r = await web.post("/tasks/quick", {"title": "Call mum 2031-06-01 at 6pm"}, htmx=True)
    assert r.status_code == 200, r.text
    assert '<p class="title">Call mum</p>' in r.text
    assert '<span class="due">1 Jun 2031 18:00</span>' in r.text  # local time
    # A fresh form, its preview empty, replaces the one that was sent (out of band).
    form = re.search(r'<form id="quick-add"[^>]*hx-swap-oob="true".*?</form>', r.text, re.S)
    assert form and '<div id="quick-preview" aria-live="polite"></div>' in form.group(0)
