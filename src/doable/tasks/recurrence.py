"""Recurrence rules: parse and validate an RRULE, find the next occurrence in local wall time.

Pure: no database, no clock. Every expansion is bounded (see `HORIZON_YEARS` and `_expand`),
so no rule can make a request spin. The grammar and the rules are documented in
docs/scheduling.md; keep the two in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from dateutil import rrule as du

from doable.tasks import occurrences
from doable.zones import Zone

Mode = Literal["from_due", "from_completion"]
MODES: tuple[Mode, ...] = ("from_due", "from_completion")

MAX_RULE_LENGTH = 500
MAX_INTERVAL = 1000
MAX_YEARLY_INTERVAL = 100
MAX_COUNT = 1000
# An occurrence further away than this from where the search starts is not looked for: a rule
# whose next occurrence lies beyond it counts as having none.
HORIZON_YEARS = 100
_MAX_YEAR = 9999
_LAST_DUE_YEAR = 9998

FREQS = {"DAILY": du.DAILY, "WEEKLY": du.WEEKLY, "MONTHLY": du.MONTHLY, "YEARLY": du.YEARLY}
_FREQ_NAMES = {v: k for k, v in FREQS.items()}
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# Canonical order of the parts in a stored rule.
_ORDER = (
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "BYMONTH",
    "BYMONTHDAY",
    "BYDAY",
    "BYSETPOS",
    "WKST",
)
_REFUSED = {
    "BYHOUR": "BYHOUR is not supported: a task's due time gives the time of day",
    "BYMINUTE": "BYMINUTE is not supported: a task's due time gives the time of day",
    "BYSECOND": "BYSECOND is not supported: a task's due time gives the time of day",
    "BYYEARDAY": "BYYEARDAY is not supported",
    "BYWEEKNO": "BYWEEKNO is not supported",
    "DTSTART": "DTSTART is not allowed: the task's due date starts the series",
}
_BYDAY_RE = re.compile(r"^([+-]?)([0-9]{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_INT_RE = re.compile(r"^[+-]?[0-9]{1,4}$")
_UNTIL_RE = re.compile(r"^([0-9]{8})(T([0-9]{6})(Z)?)?$")


class RuleError(ValueError):
    """A rule that is refused; the message says why, in words a user can act on."""


TOO_COMPLEX = (
    "Repeat rule too complex: finding its occurrences takes more work than one request may"
    " spend; simplify the rule"
)


class RuleTooComplex(RuleError):
    """The request's expansion budget ran out while looking for a rule's occurrences."""


@dataclass(frozen=True)
class Until:
    """UNTIL as written: a date, a floating local datetime, or a UTC datetime."""

    day: date
    clock: time | None = None
    utc: bool = False


@dataclass(frozen=True)
class Rule:
    freq: str
    interval: int = 1
    count: int | None = None
    until: Until | None = None
    bymonth: tuple[int, ...] = ()
    bymonthday: tuple[int, ...] = ()
    byday: tuple[tuple[int | None, str], ...] = ()
    bysetpos: tuple[int, ...] = ()
    wkst: str | None = None
    given: frozenset[str] = frozenset()

    @property
    def text(self) -> str:
        """The canonical RRULE value (upper case, parts in a fixed order)."""
        parts: dict[str, str] = {"FREQ": self.freq}
        if "INTERVAL" in self.given:
            parts["INTERVAL"] = str(self.interval)
        if self.count is not None:
            parts["COUNT"] = str(self.count)
        if self.until is not None:
            u = self.until
            text = u.day.strftime("%Y%m%d")
            if u.clock is not None:
                text += "T" + u.clock.strftime("%H%M%S") + ("Z" if u.utc else "")
            parts["UNTIL"] = text
        if self.bymonth:
            parts["BYMONTH"] = ",".join(map(str, self.bymonth))
        if self.bymonthday:
            parts["BYMONTHDAY"] = ",".join(map(str, self.bymonthday))
        if self.byday:
            parts["BYDAY"] = ",".join(f"{n or ''}{d}" for n, d in self.byday)
        if self.bysetpos:
            parts["BYSETPOS"] = ",".join(map(str, self.bysetpos))
        if self.wkst is not None:
            parts["WKST"] = self.wkst
        return ";".join(f"{k}={parts[k]}" for k in _ORDER if k in parts)


def _ints(name: str, value: str, low: int, high: int, *, signed: bool) -> tuple[int, ...]:
    items = value.split(",")
    if len(items) > 31:
        raise RuleError(f"{name} lists too many values (at most 31)")
    out: list[int] = []
    for item in items:
        if not _INT_RE.fullmatch(item):
            raise RuleError(f"{name} must be a comma-separated list of numbers, not {item!r}")
        n = int(item)
        if not (low <= abs(n) <= high) or (n < 0 and not signed):
            span = f"{low}..{high}" + (f" or -{high}..-{low}" if signed else "")
            raise RuleError(f"{name} values must be in {span}, not {item}")
        if n not in out:
            out.append(n)
    return tuple(sorted(out))


def _int(name: str, value: str, low: int, high: int) -> int:
    if not re.fullmatch(r"[0-9]{1,6}", value):
        raise RuleError(f"{name} must be a whole number, not {value!r}")
    n = int(value)
    if not low <= n <= high:
        raise RuleError(f"{name} must be between {low} and {high}, not {n}")
    return n


def _until(value: str) -> Until:
    m = _UNTIL_RE.fullmatch(value)
    if m is None:
        raise RuleError("UNTIL must be a date (YYYYMMDD) or a date-time (YYYYMMDDTHHMMSS[Z])")
    try:
        day = datetime.strptime(m.group(1), "%Y%m%d").date()
        clock = datetime.strptime(m.group(3), "%H%M%S").time() if m.group(3) else None
    except ValueError:
        raise RuleError(f"UNTIL is not a real date or time: {value}") from None
    if not 1900 <= day.year <= 9998:
        raise RuleError("UNTIL must be between the years 1900 and 9998")
    return Until(day, clock, bool(m.group(4)))


def parse(text: str) -> Rule:
    """Parse and check an RRULE value (a leading `RRULE:` is accepted; case does not matter)."""
    if len(text) > MAX_RULE_LENGTH:
        raise RuleError(f"A rule may be at most {MAX_RULE_LENGTH} characters")
    value = "".join(text.split()).upper()  # RFC 5545 names and values are case-insensitive
    value = value.removeprefix("RRULE:")
    if not value:
        raise RuleError("The rule is empty; give at least FREQ, e.g. FREQ=WEEKLY")
    raw: dict[str, str] = {}
    for pair in value.split(";"):
        if not pair:
            continue
        name, sep, part = pair.partition("=")
        if not sep or not name or not part:
            raise RuleError(f"Each part must be NAME=VALUE, not {pair!r}")
        if name in _REFUSED:
            raise RuleError(_REFUSED[name])
        if name not in _ORDER:
            raise RuleError(f"Unknown rule part {name}; supported: {', '.join(_ORDER)}")
        if name in raw:
            raise RuleError(f"{name} is given twice")
        raw[name] = part
    if "FREQ" not in raw:
        raise RuleError("FREQ is required (DAILY, WEEKLY, MONTHLY or YEARLY)")
    freq = raw["FREQ"]
    if freq not in FREQS:
        raise RuleError(f"FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY, not {freq}")
    top = MAX_YEARLY_INTERVAL if freq == "YEARLY" else MAX_INTERVAL
    interval = _int("INTERVAL", raw["INTERVAL"], 1, top) if "INTERVAL" in raw else 1
    count = _int("COUNT", raw["COUNT"], 1, MAX_COUNT) if "COUNT" in raw else None
    until = _until(raw["UNTIL"]) if "UNTIL" in raw else None
    if count is not None and until is not None:
        raise RuleError("COUNT and UNTIL cannot both be given (RFC 5545)")
    bymonth = _ints("BYMONTH", raw["BYMONTH"], 1, 12, signed=False) if "BYMONTH" in raw else ()
    bymonthday = (
        _ints("BYMONTHDAY", raw["BYMONTHDAY"], 1, 31, signed=True) if "BYMONTHDAY" in raw else ()
    )
    if bymonthday and freq == "WEEKLY":
        raise RuleError("BYMONTHDAY cannot be used with FREQ=WEEKLY (RFC 5545)")
    byday: list[tuple[int | None, str]] = []
    if "BYDAY" in raw:
        items = raw["BYDAY"].split(",")
        if len(items) > 35:
            raise RuleError("BYDAY lists too many values")
        for item in items:
            m = _BYDAY_RE.fullmatch(item)
            if m is None:
                raise RuleError(f"BYDAY values look like MO, 1MO or -1FR, not {item!r}")
            sign, number, day = m.groups()
            n = None
            if number is not None:
                # RFC 5545 3.3.10: a numbered weekday counts within the month (MONTHLY, or
                # YEARLY with BYMONTH), where there are at most 5, or within the year (53).
                limit = 53 if freq == "YEARLY" and "BYMONTH" not in raw else 5
                n = int(number) * (-1 if sign == "-" else 1)
                if freq not in {"MONTHLY", "YEARLY"}:
                    raise RuleError(
                        f"BYDAY={item}: a numbered weekday needs FREQ=MONTHLY or YEARLY"
                    )
                if not 1 <= abs(n) <= limit:
                    raise RuleError(f"BYDAY={item}: the number must be 1..{limit} or -{limit}..-1")
            elif sign:
                raise RuleError(f"BYDAY values look like MO, 1MO or -1FR, not {item!r}")
            if (n, day) not in byday:
                byday.append((n, day))
        if len({n is None for n, _ in byday}) > 1:
            # RFC 5545 takes every listed day; dateutil only days that are both, so the feed's
            # readers and Doable would disagree.
            raise RuleError("BYDAY cannot mix numbered weekdays (1MO) with plain ones (MO)")
    bysetpos = _ints("BYSETPOS", raw["BYSETPOS"], 1, 366, signed=True) if "BYSETPOS" in raw else ()
    if bysetpos and freq == "DAILY":
        raise RuleError("BYSETPOS cannot be used with FREQ=DAILY: each day is a set of one")
    if bysetpos and not (bymonth or bymonthday or byday):
        raise RuleError("BYSETPOS needs BYDAY, BYMONTHDAY or BYMONTH to pick from")
    if bysetpos:
        # Each period's set has at most this many days; a position past it never matches.
        most = {"WEEKLY": len({d for _, d in byday}) or 1, "MONTHLY": 31, "YEARLY": 366}[freq]
        if any(abs(p) > most for p in bysetpos):
            raise RuleError(f"BYSETPOS picks past the end of each period's set (at most {most})")
    wkst = raw.get("WKST")
    if wkst is not None and wkst not in WEEKDAYS:
        raise RuleError(f"WKST must be one of {', '.join(WEEKDAYS)}, not {wkst}")
    rule = Rule(
        freq=freq,
        interval=interval,
        count=count,
        until=until,
        bymonth=bymonth,
        bymonthday=bymonthday,
        byday=tuple(byday),
        bysetpos=bysetpos,
        wkst=wkst,
        given=frozenset(raw),
    )
    _check_calendar(rule)
    return rule


# Where a rule names its days, its pattern does not depend on the start.
_ANY_START = datetime(2000, 1, 1)


def _check_calendar(rule: Rule) -> None:
    """Refuse at once, without searching, the rules whose days exist in no month or year."""
    if not rule.bymonthday and not rule.byday:
        return  # the day comes from the due (RFC 5545), which exists
    months = rule.bymonth or tuple(range(1, 13))
    longest = {m: 29 if m == 2 else (30 if m in {4, 6, 9, 11} else 31) for m in months}
    if rule.bymonthday and not any(abs(d) <= longest[m] for d in rule.bymonthday for m in months):
        raise RuleError("This rule never happens: none of its months has that day")
    if not occurrences.possible(pattern(rule, _ANY_START)):
        raise RuleError("This rule never happens: no month or year has such a day")


def with_count(rule: Rule, count: int | None) -> Rule:
    return replace(rule, count=count, given=rule.given | {"COUNT"} if count else rule.given)


# Expansion


def pattern(rule: Rule, start: datetime) -> occurrences.Pattern:
    """The rule's filters, with the parts RFC 5545 takes from the start filled in from `start`
    (as dateutil does): the day of the month (MONTHLY, YEARLY), the month (YEARLY) and the
    weekday (WEEKLY), when the rule names no day."""
    months, monthdays = rule.bymonth, rule.bymonthday
    weekdays = tuple(sorted({WEEKDAYS.index(d) for n, d in rule.byday if n is None}))
    nth = tuple(sorted({(n, WEEKDAYS.index(d)) for n, d in rule.byday if n is not None}))
    if not monthdays and not rule.byday:
        if rule.freq == "YEARLY":
            months, monthdays = months or (start.month,), (start.day,)
        elif rule.freq == "MONTHLY":
            monthdays = (start.day,)
        elif rule.freq == "WEEKLY":
            weekdays = (start.weekday(),)
    return occurrences.Pattern(
        freq=rule.freq,  # type: ignore[arg-type]
        interval=rule.interval,
        months=months,
        monthdays=monthdays,
        weekdays=weekdays,
        nth=nth,
        setpos=rule.bysetpos,
        wkst=WEEKDAYS.index(rule.wkst) if rule.wkst is not None else 0,
    )


def _expand(
    rule: Rule, dtstart: datetime, after: datetime, *, inclusive: bool, until: datetime | None
) -> datetime | None:
    """The first occurrence (naive local) of `rule` from `dtstart` that is after `after` (or
    equal, if `inclusive`), within HORIZON_YEARS of `after`; None if there is none.

    The search is bounded twice: by the horizon, and by the request's expansion budget
    (tasks/occurrences.py), which raises RuleTooComplex when it runs out."""
    horizon = datetime(min(after.year + HORIZON_YEARS, _MAX_YEAR), after.month, 1)
    if until is not None and until < after:
        return None
    end = horizon if until is None else min(horizon, until + timedelta(microseconds=1))
    try:
        return occurrences.search(
            pattern(rule, dtstart), dtstart, after, inclusive=inclusive, end=end
        )
    except occurrences.BudgetSpent:
        raise RuleTooComplex(TOO_COMPLEX) from None


def _until_local(rule: Rule, zone: Zone, *, all_day: bool) -> datetime | None:
    """UNTIL as a naive local bound, of the due's kind (dates compare by day, inclusive)."""
    u = rule.until
    if u is None:
        return None
    if u.clock is None:
        day, clock = u.day, time(0) if all_day else time(23, 59, 59)
        return datetime.combine(day, clock)
    moment = datetime.combine(u.day, u.clock)
    if u.utc:
        moment = moment.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)
    return datetime.combine(moment.date(), time(0)) if all_day else moment


# Local time and instants


def to_instant(local: datetime, zone: Zone) -> datetime:
    """A wall-clock time in `zone` as a UTC instant, by the rule docs/scheduling.md gives:
    an ambiguous time (clocks going back) is its first instant, and a time that does not exist
    (clocks going forward) is read with the offset before the gap, so it moves forward by the
    gap (RFC 5545 3.3.5). PEP 495's fold=0 means exactly this, so fold is forced to 0."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def to_local(instant: datetime, zone: Zone) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


Due = date | datetime  # a date (all-day) or an aware datetime


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0))


def first_due(rule: Rule, today: date, zone: Zone) -> date:
    """The due a recurring task gets when none was given: its first day on or after today."""
    found = _expand(
        rule,
        _midnight(today),
        _midnight(today),
        inclusive=True,
        until=_until_local(rule, zone, all_day=True),
    )
    if found is None:
        raise RuleError("This rule has no occurrence from today on")
    return found.date()


def check(rule: Rule, due: Due, zone: Zone) -> None:
    """Refuse a rule that has no occurrence on or after `due` (within the search horizon)."""
    if isinstance(due, datetime):
        start, all_day = to_local(due, zone), False
    else:
        start, all_day = _midnight(due), True
    until = _until_local(rule, zone, all_day=all_day)
    if until is not None and until < start:
        raise RuleError("UNTIL is before the due date: the series would have no occurrence")
    if _expand(rule, start, start, inclusive=True, until=until) is None:
        raise RuleError(f"This rule has no occurrence within {HORIZON_YEARS} years of the due date")


@dataclass(frozen=True)
class Advance:
    """What completing or skipping the current occurrence leads to."""

    due: Due | None  # None: the series has ended
    rule: Rule  # COUNT counts down, so the stored rule changes with each step


def next_due(rule: Rule, due: Due, zone: Zone, *, mode: Mode, now: datetime) -> Advance:
    """The occurrence after the current `due`; from_completion counts from `now`'s local day.

    COUNT is the number of occurrences left, the current one included, so it counts down;
    at 1 the series ends. Times are expanded in local wall time, so 09:00 stays 09:00
    whatever the UTC offset does in between.
    """
    if rule.count is not None and rule.count <= 1:
        return Advance(None, with_count(rule, 1))
    all_day = not isinstance(due, datetime)
    current = _midnight(due) if all_day else to_local(due, zone)  # type: ignore[arg-type]
    if mode == "from_completion":
        # The next occurrence on a later day than the completion, at the due's time of day.
        day = to_local(now, zone).date()
        start, after = datetime.combine(day, current.time()), datetime.combine(day, time.max)
    else:
        start, after = current, current
    found = _expand(
        rule, start, after, inclusive=False, until=_until_local(rule, zone, all_day=all_day)
    )
    left = rule.count - 1 if rule.count is not None else None
    new_rule = with_count(rule, left) if left is not None else rule
    if found is None:
        return Advance(None, rule)
    return Advance(found.date() if all_day else to_instant(found, zone), new_rule)


# Words


_DAY_NAMES = {
    "MO": "Mon",
    "TU": "Tue",
    "WE": "Wed",
    "TH": "Thu",
    "FR": "Fri",
    "SA": "Sat",
    "SU": "Sun",
}
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UNITS = {"DAILY": "day", "WEEKLY": "week", "MONTHLY": "month", "YEARLY": "year"}


def _ordinal(n: int) -> str:
    if n == -1:
        return "last"
    if n < 0:
        return f"{_ordinal(-n)} to last"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def describe(rule: Rule) -> str:
    """The rule in words, e.g. "every week on Mon, Thu" or "every month on the last Fri"."""
    unit = _UNITS[rule.freq]
    text = f"every {rule.interval} {unit}s" if rule.interval > 1 else f"every {unit}"
    if rule.bymonth:
        text += " in " + ", ".join(_MONTH_NAMES[m - 1] for m in rule.bymonth)
    ons: list[str] = []
    if rule.byday:
        if [n for n, _ in rule.byday] == [None] * len(rule.byday) and {
            d for _, d in rule.byday
        } == {"MO", "TU", "WE", "TH", "FR"}:
            ons.append("weekdays")
        else:
            ons.append(
                ", ".join(
                    (f"the {_ordinal(n)} " if n else "") + _DAY_NAMES[d] for n, d in rule.byday
                )
            )
    if rule.bymonthday:
        days = ", ".join("last day" if d == -1 else _ordinal(d) for d in rule.bymonthday)
        ons.append(f"the {days}")
    if ons:
        text += " on " + " and ".join(ons)
    if rule.bysetpos:
        text += " (" + ", ".join(_ordinal(p) for p in rule.bysetpos) + " of them)"
    if rule.count is not None:
        text += f", {rule.count} more time" + ("s" if rule.count != 1 else "")
    if rule.until is not None:
        text += f", until {rule.until.day:%-d %b %Y}"
    return text


def freq_name(value: int) -> str:
    return _FREQ_NAMES[value]
