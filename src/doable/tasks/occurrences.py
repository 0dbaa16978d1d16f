"""Occurrence search for the RRULE subset Doable accepts, with its work counted and bounded.

dateutil's rrule only stops a search that finds nothing at the year 9999, and gives no way to
stop it sooner, so a rule that never occurs cost up to half a second of CPU. This module walks
the rule's periods itself: each visited period (a year, month or week; for DAILY a month of
days) costs one unit, every search ends at a horizon, and work past a small free allowance per
search is drawn from the current request's `Budget`. A month's (or a year's) matching days
depend only on its shape (length, weekday of its first day) and the rule's filters, so they are
cached: a period costs a dictionary lookup. Whether any shape matches at all is decided
without searching (`possible`). tests/test_recurrence_rules.py checks it against dateutil.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal

Freq = Literal["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]

# Periods every search may visit without drawing on the request's budget: a rule that occurs
# finds its next occurrence within a few periods, so ordinary requests never touch it.
FREE_PERIODS = 4
# Periods a request may visit beyond the free ones, over all its searches (about 40 ms of CPU).
REQUEST_BUDGET = 5_000
_LAST_YEAR = 9998  # dues stop at 9998 (9999 sorts "no due")
_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February of a common year
_LAST_ORDINAL = date(9999, 12, 24).toordinal()  # a week from it is still a date


class BudgetSpent(Exception):
    """The request has used up its expansion budget."""


class Budget:
    """Units of expansion work one request may still spend."""

    def __init__(self, units: int = REQUEST_BUDGET) -> None:
        self.left = units

    def spend(self) -> None:
        if self.left <= 0:
            raise BudgetSpent
        self.left -= 1


_current: ContextVar[Budget | None] = ContextVar("doable_expansion_budget", default=None)


@contextmanager
def budget(units: int = REQUEST_BUDGET) -> Iterator[Budget]:
    """Give the code inside (one request) a budget of its own; copies of the context (threads)
    share it, since the Budget object is shared, not copied."""
    spent = Budget(units)
    token = _current.set(spent)
    try:
        yield spent
    finally:
        _current.reset(token)


@dataclass(frozen=True)
class Pattern:
    """A rule's filters with dateutil's defaults from the start filled in (RFC 5545 3.3.10)."""

    freq: Freq
    interval: int
    months: tuple[int, ...]  # empty: every month
    monthdays: tuple[int, ...]  # 1..31 or -31..-1; empty: any
    weekdays: tuple[int, ...]  # 0 = Monday; empty: any
    nth: tuple[tuple[int, int], ...]  # (ordinal, weekday); within the month, or the year
    setpos: tuple[int, ...]
    wkst: int = 0

    @property
    def nth_in_year(self) -> bool:
        return self.freq == "YEARLY" and not self.months and bool(self.nth)


@lru_cache(maxsize=8192)
def _month_days(
    monthdays: tuple[int, ...],
    weekdays: tuple[int, ...],
    nth: tuple[tuple[int, int], ...],
    length: int,
    first: int,
) -> tuple[int, ...]:
    """The days of a month of `length` days starting on weekday `first` that pass the filters."""
    out: list[int] = []
    for day in range(1, length + 1):
        wd = (first + day - 1) % 7
        if monthdays and day not in monthdays and day - length - 1 not in monthdays:
            continue
        if weekdays and wd not in weekdays:
            continue
        if (
            nth
            and ((day - 1) // 7 + 1, wd) not in nth
            and (-((length - day) // 7 + 1), wd) not in nth
        ):
            continue
        out.append(day)
    return tuple(out)


@lru_cache(maxsize=2048)
def _year_days(
    monthdays: tuple[int, ...], nth: tuple[tuple[int, int], ...], leap: bool, first: int
) -> tuple[tuple[int, int], ...]:
    """(month, day) pairs of a year whose numbered weekdays count within the year."""
    out: list[tuple[int, int]] = []
    length = 366 if leap else 365
    doy = 0
    for month in range(1, 13):
        mlen = _MONTH_DAYS[month] + (1 if leap and month == 2 else 0)
        for day in range(1, mlen + 1):
            wd = (first + doy) % 7
            keep = not monthdays or day in monthdays or day - mlen - 1 in monthdays
            if keep and ((doy // 7 + 1, wd) in nth or (-((length - 1 - doy) // 7 + 1), wd) in nth):
                out.append((month, day))
            doy += 1
    return tuple(out)


def _pick(days: list[date], setpos: tuple[int, ...]) -> list[date]:
    if not setpos:
        return days
    n = len(days)
    return sorted({days[p - 1 if p > 0 else p] for p in setpos if -n <= p <= n and p != 0})


def _month_of(p: Pattern, year: int, month: int) -> list[date]:
    if p.months and month not in p.months:
        return []
    first = date(year, month, 1)
    days = _month_days(
        p.monthdays, p.weekdays, p.nth, calendar.monthrange(year, month)[1], first.weekday()
    )
    return [first.replace(day=d) for d in days]


def _year_of(p: Pattern, year: int) -> list[date]:
    if p.nth_in_year:
        pairs = _year_days(p.monthdays, p.nth, calendar.isleap(year), date(year, 1, 1).weekday())
        return [date(year, m, d) for m, d in pairs]
    return [day for month in p.months or range(1, 13) for day in _month_of(p, year, month)]


def _week_of(p: Pattern, start: date) -> list[date]:
    days = [start + timedelta(days=i) for i in range(7)]
    return [
        d
        for d in days
        if (not p.months or d.month in p.months) and (not p.weekdays or d.weekday() in p.weekdays)
    ]


def _periods(p: Pattern, first: date) -> Iterator[tuple[date, list[date]]]:
    """Each visited period's first day and its occurrences in order, from the one holding
    `first`; DAILY's periods are taken a month at a time."""
    if p.freq == "YEARLY":
        for year in range(first.year, _LAST_YEAR + 1, p.interval):
            yield date(year, 1, 1), _pick(_year_of(p, year), p.setpos)
    elif p.freq == "WEEKLY":
        start = first - timedelta(days=(first.weekday() - p.wkst) % 7)
        week = timedelta(days=7 * p.interval)
        # As dateutil does, the first week's set begins at `first`, not at the week's start
        # (it matters to BYSETPOS: FREQ=WEEKLY;BYDAY=SU,MO;BYSETPOS=1 from a Sunday is that
        # Sunday). Doable has always followed dateutil here.
        yield start, _pick([d for d in _week_of(p, start) if d >= first], p.setpos)
        while start.toordinal() + week.days <= _LAST_ORDINAL:
            start += week
            if start.year > _LAST_YEAR:
                return
            yield start, _pick(_week_of(p, start), p.setpos)
    else:
        step = p.interval if p.freq == "MONTHLY" else 1
        index = first.year * 12 + first.month - 1
        while index // 12 <= _LAST_YEAR:
            begin = date(index // 12, index % 12 + 1, 1)
            days = _month_of(p, begin.year, begin.month)
            if p.freq == "MONTHLY":
                yield begin, _pick(days, p.setpos)
            else:  # every interval-th day from `first`
                yield begin, [d for d in days if d >= first and (d - first).days % p.interval == 0]
            index += step


def search(
    p: Pattern, start: datetime, after: datetime, *, inclusive: bool, end: datetime
) -> datetime | None:
    """The first occurrence (naive local, at `start`'s time of day) of the series that begins
    at `start`, that lies after `after` (or at it, if `inclusive`) and before `end`.

    Raises BudgetSpent when the search needs more than its free periods and the request's
    budget is used up."""
    if not possible(p):
        return None
    clock = start.time()
    budget = _current.get() or Budget()
    if budget.left <= 0:
        raise BudgetSpent  # spent: no more free periods either, or 100k rules get 4 each
    for visited, (begin, days) in enumerate(_periods(p, start.date())):
        if datetime.combine(begin, time.min) >= end:
            return None
        if visited >= FREE_PERIODS:
            budget.spend()
        for day in days:
            moment = datetime.combine(day, clock)
            if moment < start or moment < after or (moment == after and not inclusive):
                continue
            return moment if moment < end else None
    return None


def _any_picked(count: int, setpos: tuple[int, ...]) -> bool:
    return count > 0 and (not setpos or any(-count <= pos <= count for pos in setpos))


# A year of each shape (leap or not, weekday of 1 January): 2000..2027 holds all fourteen.
_YEAR_OF_SHAPE = {(calendar.isleap(y), date(y, 1, 1).weekday()): y for y in range(2000, 2028)}


@lru_cache(maxsize=1024)
def possible(p: Pattern) -> bool:
    """Whether any period in any year could hold an occurrence, start and interval aside:
    decided on the shapes of months and years (length, first weekday), not by searching."""
    if p.freq == "WEEKLY":
        return True  # parse() caps BYSETPOS at the number of weekdays; every month has them all
    if p.freq == "YEARLY":
        return any(_any_picked(len(_year_of(p, y)), p.setpos) for y in _YEAR_OF_SHAPE.values())
    setpos = p.setpos if p.freq == "MONTHLY" else ()
    for month in p.months or range(1, 13):
        for length in (28, 29) if month == 2 else (_MONTH_DAYS[month],):
            for first in range(7):
                days = _month_days(p.monthdays, p.weekdays, p.nth, length, first)
                if _any_picked(len(days), setpos):
                    return True
    return False
