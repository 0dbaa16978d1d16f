"""The pure recurrence module: grammar, DST in local wall time, month ends, leap days, caps."""

from __future__ import annotations

import contextlib
import time as clock
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule as du
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from doable.tasks import recurrence as rec

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def local(zone: ZoneInfo, *args: int) -> datetime:
    return rec.to_instant(datetime(*args), zone)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("FREQ=WEEKLY;BYDAY=MO,TH", "FREQ=WEEKLY;BYDAY=MO,TH"),
        ("RRULE:freq=weekly;byday=th,mo", "FREQ=WEEKLY;BYDAY=TH,MO"),
        (" FREQ=MONTHLY ; BYDAY=-1FR ", "FREQ=MONTHLY;BYDAY=-1FR"),
        ("BYMONTHDAY=-1;FREQ=MONTHLY", "FREQ=MONTHLY;BYMONTHDAY=-1"),
        ("FREQ=MONTHLY;BYDAY=+1MO", "FREQ=MONTHLY;BYDAY=1MO"),
        ("FREQ=DAILY;INTERVAL=3;COUNT=5", "FREQ=DAILY;INTERVAL=3;COUNT=5"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"),
        (
            "FREQ=WEEKLY;UNTIL=20261231T235959Z;WKST=SU",
            "FREQ=WEEKLY;UNTIL=20261231T235959Z;WKST=SU",
        ),
        (
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        ),
    ],
)
def test_accepted_rules_are_canonical(text: str, canonical: str) -> None:
    assert rec.parse(text).text == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The rule is empty; give at least FREQ, e.g. FREQ=WEEKLY"),
        ("garbage", "Each part must be NAME=VALUE, not 'GARBAGE'"),
        ("FREQ=HOURLY", "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY, not HOURLY"),
        ("FREQ=SECONDLY", "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY, not SECONDLY"),
        ("INTERVAL=2", "FREQ is required (DAILY, WEEKLY, MONTHLY or YEARLY)"),
        (
            "FREQ=DAILY;BYSECOND=5",
            "BYSECOND is not supported: a task's due time gives the time of day",
        ),
        ("FREQ=DAILY;BYHOUR=9", "BYHOUR is not supported: a task's due time gives the time of day"),
        (
            "FREQ=DAILY;DTSTART=20260101",
            "DTSTART is not allowed: the task's due date starts the series",
        ),
        (
            "FREQ=DAILY;FOO=1",
            "Unknown rule part FOO; supported: FREQ, INTERVAL, COUNT, UNTIL, BYMONTH,"
            " BYMONTHDAY, BYDAY, BYSETPOS, WKST",
        ),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ is given twice"),
        ("FREQ=DAILY;COUNT=0", "COUNT must be between 1 and 1000, not 0"),
        ("FREQ=DAILY;COUNT=1001", "COUNT must be between 1 and 1000, not 1001"),
        ("FREQ=DAILY;COUNT=-1", "COUNT must be a whole number, not '-1'"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be between 1 and 1000, not 0"),
        ("FREQ=DAILY;INTERVAL=99999999999", "INTERVAL must be a whole number, not '99999999999'"),
        ("FREQ=YEARLY;INTERVAL=101", "INTERVAL must be between 1 and 100, not 101"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20270101", "COUNT and UNTIL cannot both be given (RFC 5545)"),
        (
            "FREQ=DAILY;UNTIL=2027-01-01",
            "UNTIL must be a date (YYYYMMDD) or a date-time (YYYYMMDDTHHMMSS[Z])",
        ),
        ("FREQ=DAILY;UNTIL=20270230", "UNTIL is not a real date or time: 20270230"),
        ("FREQ=WEEKLY;BYDAY=XX", "BYDAY values look like MO, 1MO or -1FR, not 'XX'"),
        ("FREQ=WEEKLY;BYDAY=1MO", "BYDAY=1MO: a numbered weekday needs FREQ=MONTHLY or YEARLY"),
        ("FREQ=MONTHLY;BYDAY=6MO", "BYDAY=6MO: the number must be 1..5 or -5..-1"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY values must be in 1..31 or -31..-1, not 0"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY values must be in 1..31 or -31..-1, not 32"),
        ("FREQ=YEARLY;BYMONTH=13", "BYMONTH values must be in 1..12, not 13"),
        ("FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY cannot be used with FREQ=WEEKLY (RFC 5545)"),
        (
            "FREQ=DAILY;BYSETPOS=1;BYDAY=MO",
            "BYSETPOS cannot be used with FREQ=DAILY: each day is a set of one",
        ),
        ("FREQ=MONTHLY;BYSETPOS=1", "BYSETPOS needs BYDAY, BYMONTHDAY or BYMONTH to pick from"),
        (
            "FREQ=WEEKLY;BYDAY=MO;BYSETPOS=2",
            "BYSETPOS picks past the end of each period's set (at most 1)",
        ),
        (
            "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=-32",
            "BYSETPOS picks past the end of each period's set (at most 31)",
        ),
        (
            "FREQ=YEARLY;BYMONTHDAY=31;BYMONTH=2",
            "This rule never happens: none of its months has that day",
        ),
        (
            "FREQ=DAILY;BYMONTHDAY=31;BYMONTH=4,6,9,11",
            "This rule never happens: none of its months has that day",
        ),
        ("FREQ=DAILY;WKST=XY", "WKST must be one of MO, TU, WE, TH, FR, SA, SU, not XY"),
        ("FREQ=DAILY;" + "BYMONTH=1;" * 60, "A rule may be at most 500 characters"),
    ],
)
def test_refused_rules_say_why(text: str, message: str) -> None:
    with pytest.raises(rec.RuleError) as info:
        rec.parse(text)
    assert str(info.value) == message


def _walk(text: str, due: date | datetime, zone: ZoneInfo, steps: int) -> list[date | datetime]:
    rule, seen = rec.parse(text), []
    for _ in range(steps):
        step = rec.next_due(rule, due, zone, mode="from_due", now=datetime(2000, 1, 1, tzinfo=UTC))
        assert step.due is not None
        due, rule = step.due, step.rule
        seen.append(due)
    return seen


@pytest.mark.parametrize(
    ("zone", "start", "expected_utc_hours"),
    [
        # Berlin: clocks go forward on 29 March 2026 and back on 25 October 2026.
        (BERLIN, datetime(2026, 3, 27, 9), [8, 7, 7]),
        (BERLIN, datetime(2026, 10, 23, 9), [7, 8, 8]),
        # New York: forward on 8 March 2026, back on 1 November 2026.
        (NEW_YORK, datetime(2026, 3, 6, 9), [14, 13, 13]),
        (NEW_YORK, datetime(2026, 10, 30, 9), [13, 14, 14]),
    ],
)
def test_daily_nine_oclock_stays_nine_across_dst(
    zone: ZoneInfo, start: datetime, expected_utc_hours: list[int]
) -> None:
    dues = _walk("FREQ=DAILY", rec.to_instant(start, zone), zone, 3)
    assert [d.astimezone(zone).time() for d in dues] == [time(9)] * 3  # type: ignore[union-attr]
    assert [d.astimezone(UTC).hour for d in dues] == expected_utc_hours  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("zone", "due", "completed", "expected"),
    [
        # Completed on the Saturday before the change: next is Sunday 09:00, after the change.
        (BERLIN, datetime(2026, 3, 20, 9), datetime(2026, 3, 28, 20), datetime(2026, 3, 29, 9)),
        (BERLIN, datetime(2026, 10, 1, 9), datetime(2026, 10, 24, 23), datetime(2026, 10, 25, 9)),
        (NEW_YORK, datetime(2026, 3, 1, 9), datetime(2026, 3, 7, 23, 30), datetime(2026, 3, 8, 9)),
        (NEW_YORK, datetime(2026, 10, 1, 9), datetime(2026, 10, 31, 8), datetime(2026, 11, 1, 9)),
    ],
)
def test_from_completion_keeps_local_time_across_dst(
    zone: ZoneInfo, due: datetime, completed: datetime, expected: datetime
) -> None:
    step = rec.next_due(
        rec.parse("FREQ=DAILY"),
        rec.to_instant(due, zone),
        zone,
        mode="from_completion",
        now=rec.to_instant(completed, zone),
    )
    assert step.due == rec.to_instant(expected, zone)
    assert step.due.astimezone(zone).replace(tzinfo=None) == expected  # type: ignore[union-attr]


def test_from_completion_counts_from_the_completion_day() -> None:
    rule = rec.parse("FREQ=DAILY;INTERVAL=3")
    now = local(BERLIN, 2026, 5, 10, 18, 0)
    step = rec.next_due(rule, date(2026, 1, 1), BERLIN, mode="from_completion", now=now)
    assert step.due == date(2026, 5, 13)
    # Completed early (before the due time): still a later day than the completion.
    step = rec.next_due(
        rec.parse("FREQ=DAILY"),
        local(BERLIN, 2026, 5, 10, 9),
        BERLIN,
        mode="from_completion",
        now=local(BERLIN, 2026, 5, 10, 7),
    )
    assert step.due == local(BERLIN, 2026, 5, 11, 9)


@pytest.mark.parametrize(
    ("text", "due", "expected"),
    [
        (
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            date(2026, 1, 31),
            [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)],
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            date(2028, 1, 31),
            [date(2028, 2, 29), date(2028, 3, 31), date(2028, 4, 30)],
        ),
        # Monthly from the 31st skips the months without one (RFC 5545).
        (
            "FREQ=MONTHLY",
            date(2026, 1, 31),
            [date(2026, 3, 31), date(2026, 5, 31), date(2026, 7, 31)],
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=31",
            date(2026, 1, 31),
            [date(2026, 3, 31), date(2026, 5, 31), date(2026, 7, 31)],
        ),
        (
            "FREQ=YEARLY",
            date(2028, 2, 29),
            [date(2032, 2, 29), date(2036, 2, 29), date(2040, 2, 29)],
        ),
        # 2100 is not a leap year.
        (
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
            date(2096, 2, 29),
            [date(2104, 2, 29), date(2108, 2, 29), date(2112, 2, 29)],
        ),
        (
            "FREQ=MONTHLY;BYDAY=1MO",
            date(2026, 1, 5),
            [date(2026, 2, 2), date(2026, 3, 2), date(2026, 4, 6)],
        ),
        (
            "FREQ=MONTHLY;BYDAY=-1FR",
            date(2026, 1, 30),
            [date(2026, 2, 27), date(2026, 3, 27), date(2026, 4, 24)],
        ),
        (
            "FREQ=WEEKLY;BYDAY=MO,TH",
            date(2026, 1, 1),
            [date(2026, 1, 5), date(2026, 1, 8), date(2026, 1, 12)],
        ),
        (
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU",
            date(2026, 1, 6),
            [date(2026, 1, 20), date(2026, 2, 3), date(2026, 2, 17)],
        ),
        (
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            date(2026, 1, 30),
            [date(2026, 2, 27), date(2026, 3, 31), date(2026, 4, 30)],
        ),
        (
            "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH",
            date(2026, 11, 26),
            [date(2027, 11, 25), date(2028, 11, 23), date(2029, 11, 22)],
        ),
    ],
)
def test_calendar_edges(text: str, due: date, expected: list[date]) -> None:
    assert _walk(text, due, BERLIN, 3) == expected


def test_count_counts_down_and_ends() -> None:
    rule = rec.parse("FREQ=DAILY;COUNT=2")
    step = rec.next_due(rule, date(2026, 1, 1), BERLIN, mode="from_due", now=datetime.now(UTC))
    assert (step.due, step.rule.text) == (date(2026, 1, 2), "FREQ=DAILY;COUNT=1")
    end = rec.next_due(step.rule, date(2026, 1, 2), BERLIN, mode="from_due", now=datetime.now(UTC))
    assert (end.due, end.rule.text) == (None, "FREQ=DAILY;COUNT=1")


@pytest.mark.parametrize(
    ("until", "due", "last"),
    [
        ("20260115", date(2026, 1, 1), date(2026, 1, 15)),  # a date bound is inclusive
        (
            "20260115T000000Z",
            date(2026, 1, 1),
            date(2026, 1, 15),
        ),  # datetime bound on dates: its local day
        ("20260114T230000Z", date(2026, 1, 1), date(2026, 1, 15)),  # 00:00 on the 15th in Berlin
        ("20260115", datetime(2026, 1, 1, 8, tzinfo=UTC), datetime(2026, 1, 15, 8, tzinfo=UTC)),
        (
            "20260115T080000Z",
            datetime(2026, 1, 1, 8, tzinfo=UTC),
            datetime(2026, 1, 15, 8, tzinfo=UTC),
        ),
        # A floating UNTIL is local time: 09:00 in Berlin is 08:00 UTC in January.
        (
            "20260115T090000",
            datetime(2026, 1, 1, 8, tzinfo=UTC),
            datetime(2026, 1, 15, 8, tzinfo=UTC),
        ),
        (
            "20260115T085959",
            datetime(2026, 1, 1, 8, tzinfo=UTC),
            datetime(2026, 1, 8, 8, tzinfo=UTC),
        ),
        (
            "20260115T075959Z",
            datetime(2026, 1, 1, 8, tzinfo=UTC),
            datetime(2026, 1, 8, 8, tzinfo=UTC),
        ),
    ],
)
def test_until_of_either_type_bounds_either_due(
    until: str, due: date | datetime, last: date | datetime
) -> None:
    rule = rec.parse(f"FREQ=WEEKLY;UNTIL={until}")
    rec.check(rule, due, BERLIN)
    seen = [due]
    while True:
        step = rec.next_due(rule, seen[-1], BERLIN, mode="from_due", now=datetime.now(UTC))
        if step.due is None:
            break
        seen.append(step.due)
    assert seen[-1] == last


@pytest.mark.parametrize(
    ("text", "due", "message"),
    [
        (
            "FREQ=DAILY;UNTIL=20251231",
            date(2026, 1, 1),
            "UNTIL is before the due date: the series would have no occurrence",
        ),
        (
            "FREQ=DAILY;UNTIL=20251231T120000Z",
            datetime(2026, 1, 1, 8, tzinfo=UTC),
            "UNTIL is before the due date: the series would have no occurrence",
        ),
        # The 5th Monday of February happens only in leap years whose February starts on a
        # Monday; with INTERVAL=12 from a January it is never looked at.
        (
            "FREQ=MONTHLY;INTERVAL=12;BYDAY=5MO;BYMONTH=2",
            date(2026, 1, 1),
            "This rule has no occurrence within 100 years of the due date",
        ),
        (
            "FREQ=YEARLY;INTERVAL=100;BYMONTH=2;BYMONTHDAY=29",
            date(2026, 1, 1),
            "This rule has no occurrence within 100 years of the due date",
        ),
    ],
)
def test_rules_without_an_occurrence_are_refused(
    text: str, due: date | datetime, message: str
) -> None:
    with pytest.raises(rec.RuleError) as info:
        rec.check(rec.parse(text), due, BERLIN)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=WEEKLY;INTERVAL=773;BYMONTH=2;BYDAY=MO",
        "FREQ=MONTHLY;INTERVAL=1000;BYDAY=5SU;BYMONTH=2",
        "FREQ=DAILY;INTERVAL=1000;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;BYSETPOS=2",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYSETPOS=-31;BYMONTH=2",
    ],
)
def test_absurd_rules_end_quickly(text: str) -> None:
    start = clock.perf_counter()
    for year in (1900, 2026, 9990):
        with contextlib.suppress(rec.RuleError):
            rec.check(rec.parse(text), date(year, 1, 1), NEW_YORK)
    assert clock.perf_counter() - start < 1.0


def test_first_due_is_the_first_day_from_today() -> None:
    assert rec.first_due(rec.parse("FREQ=DAILY"), date(2026, 1, 1), BERLIN) == date(2026, 1, 1)
    # 1 January 2026 is a Thursday.
    assert rec.first_due(rec.parse("FREQ=WEEKLY;BYDAY=MO"), date(2026, 1, 1), BERLIN) == date(
        2026, 1, 5
    )
    assert rec.first_due(
        rec.parse("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"), date(2026, 1, 1), BERLIN
    ) == date(2028, 2, 29)


@pytest.mark.parametrize(
    ("zone", "wall", "utc"),
    [
        # Clocks go forward: a time in the gap moves forward by the gap (offset before it).
        (BERLIN, datetime(2026, 3, 29, 2, 30), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
        (NEW_YORK, datetime(2026, 3, 8, 2, 30), datetime(2026, 3, 8, 7, 30, tzinfo=UTC)),
        # Clocks go back: an ambiguous time is its first instant (still summer time).
        (BERLIN, datetime(2026, 10, 25, 2, 30), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        (NEW_YORK, datetime(2026, 11, 1, 1, 30), datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
        (BERLIN, datetime(2026, 10, 25, 2, 30, fold=1), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
    ],
)
def test_gap_and_overlap_rule(zone: ZoneInfo, wall: datetime, utc: datetime) -> None:
    assert rec.to_instant(wall, zone) == utc


def test_a_daily_rule_from_a_time_in_the_gap() -> None:
    # 02:30 does not exist on 29 March in Berlin; the due reads as 03:30 CEST, and the series
    # continues at 03:30 from there.
    due = rec.to_instant(datetime(2026, 3, 29, 2, 30), BERLIN)
    assert _walk("FREQ=DAILY", due, BERLIN, 1) == [datetime(2026, 3, 30, 1, 30, tzinfo=UTC)]
    # A daily 02:30 series from before the change lands on 03:30 that day, 02:30 after it.
    due = rec.to_instant(datetime(2026, 3, 28, 2, 30), BERLIN)
    assert _walk("FREQ=DAILY", due, BERLIN, 2) == [
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 30, 1, 30, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("FREQ=DAILY", "every day"),
        ("FREQ=DAILY;INTERVAL=3", "every 3 days"),
        ("FREQ=WEEKLY;BYDAY=MO,TH", "every week on Mon, Thu"),
        ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "every week on weekdays"),
        ("FREQ=MONTHLY;BYMONTHDAY=1", "every month on the 1st"),
        ("FREQ=MONTHLY;BYMONTHDAY=-1", "every month on the last day"),
        ("FREQ=MONTHLY;BYDAY=-1FR", "every month on the last Fri"),
        ("FREQ=MONTHLY;BYDAY=1MO", "every month on the 1st Mon"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "every year in Feb on the 29th"),
        ("FREQ=WEEKLY;INTERVAL=2;COUNT=3", "every 2 weeks, 3 more times"),
        ("FREQ=DAILY;UNTIL=20261205", "every day, until 5 Dec 2026"),
    ],
)
def test_describe(text: str, words: str) -> None:
    assert rec.describe(rec.parse(text)) == words


# Fuzzing against dateutil: every rule parse() accepts must expand in dateutil without an
# error, and give the occurrences Doable's own search (tasks/occurrences.py) gives.

_ords = st.integers(-60, 60)
_part_values: dict[str, st.SearchStrategy[str]] = {
    "INTERVAL": st.integers(0, 120).map(str),
    "BYMONTH": st.lists(st.integers(-1, 13), min_size=1, max_size=4).map(
        lambda v: ",".join(map(str, v))
    ),
    "BYMONTHDAY": st.lists(st.integers(-33, 33), min_size=1, max_size=4).map(
        lambda v: ",".join(map(str, v))
    ),
    "BYDAY": st.lists(
        st.tuples(st.one_of(st.none(), _ords), st.sampled_from(rec.WEEKDAYS)),
        min_size=1,
        max_size=4,
    ).map(lambda v: ",".join(f"{'' if n is None else n}{d}" for n, d in v)),
    "BYSETPOS": st.lists(
        st.one_of(st.integers(-8, 8), st.integers(-370, 370)), min_size=1, max_size=3
    ).map(lambda v: ",".join(map(str, v))),
    "WKST": st.sampled_from(rec.WEEKDAYS),
}
_rules = st.tuples(
    st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]),
    st.dictionaries(st.sampled_from(sorted(_part_values)), st.just(""), max_size=5).flatmap(
        lambda keys: st.fixed_dictionaries({k: _part_values[k] for k in keys})
    ),
).map(lambda fp: ";".join([f"FREQ={fp[0]}", *(f"{k}={v}" for k, v in fp[1].items())]))
# Starts in years 350..369 of a 400-year cycle, shifted by 8000 years (the calendar repeats
# every 400) to 9950..9969 for dateutil, whose search for a missing occurrence only stops at
# 9999: so it looks at most 50 years ahead. The compared window is 25 years.
_WINDOW_YEARS = 25
_starts = st.builds(
    datetime,
    st.sampled_from([1950, 1958, 1963, 2350, 2356, 2369]),
    st.integers(1, 12),
    st.integers(1, 28),
    st.just(9),
)


def _ours(rule: rec.Rule, start: datetime, limit: int) -> list[datetime]:
    end = start.replace(year=start.year + _WINDOW_YEARS)
    found: list[datetime] = []
    after, inclusive = start, True
    while len(found) < limit:
        moment = rec._expand(rule, start, after, inclusive=inclusive, until=None)
        if moment is None or moment >= end:
            break
        found.append(moment)
        after, inclusive = moment, False
    return found


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_rules, start=_starts)
# dateutil's first week starts at the start, not at WKST (found by this test).
@example(text="FREQ=WEEKLY;BYDAY=SU,MO;BYSETPOS=1", start=datetime(1950, 1, 1, 9))
@example(text="FREQ=WEEKLY;BYDAY=SU,MO;BYSETPOS=2", start=datetime(1950, 1, 1, 9))
def test_accepted_rules_expand_as_dateutil_does(text: str, start: datetime) -> None:
    try:
        rule = rec.parse(text)
    except rec.RuleError:
        return
    shift = 9600 - (start.year - start.year % 400)
    shifted = start.replace(year=start.year + shift)
    theirs = du.rrulestr("RRULE:" + rule.text, dtstart=shifted, cache=False)
    end = shifted.replace(year=shifted.year + _WINDOW_YEARS)
    expected = [
        d.replace(year=d.year - shift)
        for d in theirs.xafter(shifted, count=12, inc=True)
        if d < end
    ]
    assert _ours(rule, start, 12) == expected, (text, start)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # dateutil indexes past the end of its year for a numbered weekday past the month.
        ("FREQ=YEARLY;BYMONTH=12;BYDAY=8FR", "BYDAY=8FR: the number must be 1..5 or -5..-1"),
        ("FREQ=YEARLY;BYMONTH=1;BYDAY=-6MO", "BYDAY=-6MO: the number must be 1..5 or -5..-1"),
        ("FREQ=MONTHLY;BYDAY=6TU", "BYDAY=6TU: the number must be 1..5 or -5..-1"),
        ("FREQ=YEARLY;BYDAY=54SU", "BYDAY=54SU: the number must be 1..53 or -53..-1"),
        # dateutil keeps the days that are both, RFC 5545 every day listed.
        (
            "FREQ=MONTHLY;BYDAY=MO,1FR",
            "BYDAY cannot mix numbered weekdays (1MO) with plain ones (MO)",
        ),
        # Decided on the shapes of months, without searching.
        (
            "FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=28;BYDAY=5MO",
            "This rule never happens: no month or year has such a day",
        ),
        (
            "FREQ=YEARLY;BYDAY=53MO;BYMONTHDAY=1",
            "This rule never happens: no month or year has such a day",
        ),
    ],
)
def test_rules_dateutil_trips_on_are_refused(text: str, message: str) -> None:
    with pytest.raises(rec.RuleError) as info:
        rec.parse(text)
    assert str(info.value) == message
