"""Repeat rules in words (issue 18): RRULE → words, words → RRULE, and the web app's edit form,
which takes quick add's grammar and shows a task's rule in words."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from doable.tasks import recurrence, rulewords
from tests.factories import make_account
from tests.webclient import WebClient

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")

SAID = [
    ("FREQ=DAILY", "every day"),
    ("FREQ=DAILY;INTERVAL=3", "every 3 days"),
    ("FREQ=WEEKLY", "every week"),
    ("FREQ=WEEKLY;INTERVAL=2", "every 2 weeks"),
    ("FREQ=WEEKLY;BYDAY=SU", "every week on Sunday"),
    ("FREQ=WEEKLY;BYDAY=MO,TH", "every week on Monday and Thursday"),
    ("FREQ=WEEKLY;BYDAY=TH,MO", "every week on Monday and Thursday"),
    ("FREQ=WEEKLY;BYDAY=MO,WE,FR", "every week on Monday, Wednesday and Friday"),
    ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE", "every 2 weeks on Monday and Wednesday"),
    ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "every weekday"),
    (
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TU,WE,TH,FR",
        "every 2 weeks on Monday, Tuesday, Wednesday, Thursday and Friday",
    ),
    ("FREQ=WEEKLY;BYDAY=SA,SU", "every weekend"),
    (
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU",
        "every week on Monday, Tuesday, Wednesday, Thursday, Friday, Saturday and Sunday",
    ),
    ("FREQ=MONTHLY", "every month"),
    ("FREQ=MONTHLY;INTERVAL=3", "every 3 months"),
    ("FREQ=MONTHLY;BYMONTHDAY=1", "every month on the 1st"),
    ("FREQ=MONTHLY;BYMONTHDAY=15", "every month on the 15th"),
    ("FREQ=MONTHLY;BYMONTHDAY=22", "every month on the 22nd"),
    ("FREQ=MONTHLY;BYMONTHDAY=31", "every month on the 31st"),
    ("FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=-1", "every 2 months on the last day"),
    ("FREQ=MONTHLY;BYDAY=1MO", "every month on the 1st Monday"),
    ("FREQ=MONTHLY;BYDAY=2TU", "every month on the 2nd Tuesday"),
    ("FREQ=MONTHLY;BYDAY=-1FR", "every month on the last Friday"),
    ("FREQ=MONTHLY;INTERVAL=6;BYDAY=3WE", "every 6 months on the 3rd Wednesday"),
    ("FREQ=YEARLY", "every year"),
    ("FREQ=YEARLY;INTERVAL=4", "every 4 years"),
    ("FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=5", "every year on 5 December"),
    ("FREQ=YEARLY;INTERVAL=2;BYMONTH=2;BYMONTHDAY=29", "every 2 years on 29 February"),
]
UNSAID = [
    "FREQ=DAILY;COUNT=5",
    "FREQ=DAILY;UNTIL=20301231",
    "FREQ=DAILY;INTERVAL=1000",
    "FREQ=DAILY;BYDAY=MO",
    "FREQ=WEEKLY;WKST=SU",
    "FREQ=WEEKLY;BYMONTH=1",
    "FREQ=MONTHLY;BYMONTHDAY=1,15",
    "FREQ=MONTHLY;BYMONTHDAY=-2",
    "FREQ=MONTHLY;BYDAY=MO",
    "FREQ=MONTHLY;BYDAY=1MO,3MO",
    "FREQ=MONTHLY;BYDAY=-2FR",
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
    "FREQ=MONTHLY;BYMONTH=1,7",
    "FREQ=YEARLY;BYMONTH=1,7;BYMONTHDAY=1",
    "FREQ=YEARLY;BYMONTH=3",
    "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH",
]


@pytest.mark.parametrize(("rule", "words"), SAID, ids=[r for r, _ in SAID])
def test_rule_to_words_and_back(rule: str, words: str) -> None:
    assert rulewords.say(recurrence.parse(rule)) == words
    back = rulewords.read(words, zone=BERLIN, now=NOW)
    assert back.mode is None
    # words → rule → words: the same words, and the same rule as a set of occurrences.
    assert rulewords.say(recurrence.parse(back.rule)) == words
    assert _same_rule(back.rule, rule)


def _same_rule(a: str, b: str) -> bool:
    ra, rb = recurrence.parse(a), recurrence.parse(b)
    days = lambda r: sorted(r.byday)  # noqa: E731 - order does not change a rule
    return (ra.freq, ra.interval, ra.bymonth, ra.bymonthday, days(ra)) == (
        rb.freq,
        rb.interval,
        rb.bymonth,
        rb.bymonthday,
        days(rb),
    )


@pytest.mark.parametrize("rule", UNSAID)
def test_rules_the_grammar_cannot_say(rule: str) -> None:
    parsed = recurrence.parse(rule)
    assert rulewords.say(parsed) is None
    assert rulewords.describe(parsed) == recurrence.describe(parsed)


@pytest.mark.parametrize(
    ("words", "rule", "mode"),
    [
        ("every sunday", "FREQ=WEEKLY;BYDAY=SU", None),
        ("Every Sunday", "FREQ=WEEKLY;BYDAY=SU", None),
        ("sunday", "FREQ=WEEKLY;BYDAY=SU", None),
        ("every 2 weeks on mon, wed", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE", None),
        ("every mon,wed,fri", "FREQ=WEEKLY;BYDAY=MO,WE,FR", None),
        ("  every   other  week ", "FREQ=WEEKLY;INTERVAL=2", None),
        ("daily", "FREQ=DAILY", None),
        ("Weekly", "FREQ=WEEKLY", None),
        ("fortnightly", "FREQ=WEEKLY;INTERVAL=2", None),
        ("monthly", "FREQ=MONTHLY", None),
        ("yearly", "FREQ=YEARLY", None),
        ("weekdays", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", None),
        ("3 days", "FREQ=DAILY;INTERVAL=3", None),
        ("every last friday", "FREQ=MONTHLY;BYDAY=-1FR", None),
        ("every 15th", "FREQ=MONTHLY;BYMONTHDAY=15", None),
        ("every dec 5", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=5", None),
        ("every year on 5 december", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=5", None),
        ("every! 2 weeks", "FREQ=WEEKLY;INTERVAL=2", "from_completion"),
        ("FREQ=WEEKLY;BYDAY=MO", "FREQ=WEEKLY;BYDAY=MO", None),
        ("rrule:freq=daily", "FREQ=DAILY", None),
    ],
)
def test_words_to_rule(words: str, rule: str, mode: str | None) -> None:
    read = rulewords.read(words, zone=BERLIN, now=NOW)
    assert (read.rule, read.mode) == (rule, mode)


@pytest.mark.parametrize(
    "words",
    [
        "every blursday",
        "EVERYSUNDAY",
        "every sunday at 9am",
        "every sunday #home",
        "every 2 hours",
        "sometimes",
        "every day and night",
    ],
)
def test_words_that_are_no_rule(words: str) -> None:
    with pytest.raises(rulewords.WordsError) as caught:
        rulewords.read(words, zone=BERLIN, now=NOW)
    assert str(caught.value) == (
        f"“{words}” is not a repeat rule Doable can read. Write it like “every sunday”,"
        " “every 2 weeks on mon, wed”, “every month on the 15th” or “every weekday”; leave it"
        " empty for no repeat."
    )


def test_a_bad_rrule_says_why() -> None:
    with pytest.raises(rulewords.WordsError, match="This RRULE cannot be used: FREQ must be"):
        rulewords.read("FREQ=HOURLY", zone=BERLIN, now=NOW)


# The web app's edit form


@pytest.fixture
async def web(client: httpx.AsyncClient) -> WebClient:
    return WebClient(client)


FIELDS = {"title": "Water plants", "due_date": "2030-03-03", "due_time": ""}


async def _rule(client: httpx.AsyncClient, web: WebClient, task_id: str) -> object:
    form = await web.get(f"/tasks/{task_id}/edit")
    found = re.search(r'name="repeat_rule"[^>]*value="([^"]*)"', form.text)
    assert found is not None
    return found.group(1)


async def test_edit_form_takes_words(client: httpx.AsyncClient, web: WebClient) -> None:
    await web.signup(timezone="Europe/Berlin")
    task_id = await web.add("Water plants", due_date="2030-03-03")
    r = await web.post(f"/tasks/{task_id}", {**FIELDS, "repeat": "every sunday"}, htmx=True)
    assert r.status_code == 200, r.text
    assert "every week on Sunday" in r.text  # the row's label
    form = await web.get(f"/tasks/{task_id}/edit")
    assert f'id="edit-repeat-{task_id}" name="repeat"' in form.text
    assert 'value="every week on Sunday"' in form.text  # the words field
    assert await _rule(client, web, task_id) == "FREQ=WEEKLY;BYDAY=SU"  # the advanced field
    # Unchanged words with the advanced field as shown keep the rule.
    same = {"repeat": "every week on Sunday", "repeat_rule": "FREQ=WEEKLY;BYDAY=SU"}
    r = await web.post(
        f"/tasks/{task_id}", {**FIELDS, **same, "repeat_original": "FREQ=WEEKLY;BYDAY=SU"}
    )
    assert r.status_code == 303
    assert await _rule(client, web, task_id) == "FREQ=WEEKLY;BYDAY=SU"
    # New words.
    r = await web.post(
        f"/tasks/{task_id}",
        {
            **FIELDS,
            "repeat": "every 2 weeks on mon, wed",
            "repeat_rule": "FREQ=WEEKLY;BYDAY=SU",
            "repeat_original": "FREQ=WEEKLY;BYDAY=SU",
        },
    )
    assert r.status_code == 303
    assert await _rule(client, web, task_id) == "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE"
    # The advanced field, changed, wins over the words.
    r = await web.post(
        f"/tasks/{task_id}",
        {
            **FIELDS,
            "repeat": "every 2 weeks on Monday and Wednesday",
            "repeat_rule": "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            "repeat_original": "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE",
        },
    )
    assert r.status_code == 303
    form = await web.get(f"/tasks/{task_id}/edit")
    assert await _rule(client, web, task_id) == "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"
    # A rule the words cannot say shows as an RRULE in the words field too.
    assert 'value="FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1" aria' not in form.text
    assert form.text.count('value="FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"') == 3
    # "every! …" repeats from completion.
    r = await web.post(
        f"/tasks/{task_id}", {**FIELDS, "repeat": "every! 3 days", "repeat_mode": "from_due"}
    )
    assert r.status_code == 303
    page = await web.get("/tasks")
    assert "every 3 days after completion" in page.text
    # Empty words: no repeat.
    r = await web.post(f"/tasks/{task_id}", {**FIELDS, "repeat": ""})
    assert r.status_code == 303
    assert await _rule(client, web, task_id) == ""


async def test_edit_form_says_what_is_wrong(web: WebClient) -> None:
    await web.signup(timezone="Europe/Berlin")
    task_id = await web.add("Water plants", due_date="2030-03-03")
    r = await web.post(f"/tasks/{task_id}", {**FIELDS, "repeat": "EVERYSUNDAY"}, htmx=True)
    assert r.status_code == 422
    assert "NAME=VALUE" not in r.text
    assert (
        f'<p class="field-error" id="repeat-error-{task_id}">“EVERYSUNDAY” is not a repeat rule'
        " Doable can read. Write it like “every sunday”" in r.text
    )
    assert 'value="EVERYSUNDAY" aria-invalid="true"' in r.text  # kept for fixing
    page = await web.get("/tasks")
    assert "Water plants" in page.text and "every" not in page.text.split("Water plants")[1][:300]


async def test_the_api_shows_the_rule_words_unchanged(client: httpx.AsyncClient) -> None:
    # The API's recurrence.text is recurrence.describe's (unchanged for API clients).
    acct = await make_account(client, timezone="Europe/Berlin")
    r = await client.post(
        "/api/v1/tasks",
        json={"title": "x", "due": "2030-03-03", "recurrence": {"rule": "FREQ=WEEKLY;BYDAY=SU"}},
        headers=acct.headers,
    )
    assert r.json()["recurrence"]["text"] == "every week on Sun"
