"""Quick add: reads "Water plants every 3 days at 8am #home" into a title, due, priority, tags
an RRULE, and the project and section it goes to. Pure (no I/O): the caller passes the user's
projects and sections (tasks/quickplaces.py); the grammar and its ambiguity rules are in
docs/quick-add.md.

The text is split into whitespace-separated words and read left to right in one pass; each
rule looks at a bounded number of words ahead (a weekday list consumes what it matches), so the
work is linear in the length of the text. A token is always a run of whole words: punctuation
glued to a word ("tomorrow,", "May,") keeps it in the title.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrulestr
from pydantic import ValidationError

from doable.errors import InvalidInput
from doable.tasks.quickplaces import Catalog, ProjectPlace, SectionPlace
from doable.tasks.schemas import (
    PlaceOut,
    Priority,
    QuickParseOut,
    QuickTokenOut,
    RecurrenceOut,
    TaskCreate,
)
from doable.zones import Zone

TokenKind = Literal["tag", "priority", "date", "time", "recurrence", "project", "section"]
Mode = Literal["from_due", "from_completion"]

MIN_YEAR, MAX_YEAR = 1900, 9998  # what a due date may be (schemas.parse_due)
MAX_INTERVAL = 999
MAX_TAG_LENGTH = 50
MAX_TITLE_LENGTH = 200
MAX_TAGS = 30

WEEKDAYS = {
    "mon": 0,
    "monday": 0,
    "tue": 1,
    "tues": 1,
    "tuesday": 1,
    "wed": 2,
    "weds": 2,
    "wednesday": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "thursday": 3,
    "fri": 4,
    "friday": 4,
    "sat": 5,
    "saturday": 5,
    "sun": 6,
    "sunday": 6,
}
RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = {
    "jan": 1,
    "january": 1,
    "feb": 2,
    "february": 2,
    "mar": 3,
    "march": 3,
    "apr": 4,
    "april": 4,
    "may": 5,
    "jun": 6,
    "june": 6,
    "jul": 7,
    "july": 7,
    "aug": 8,
    "august": 8,
    "sep": 9,
    "sept": 9,
    "september": 9,
    "oct": 10,
    "october": 10,
    "nov": 11,
    "november": 11,
    "dec": 12,
    "december": 12,
}
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
ORDINAL_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "last": -1}
PRIORITIES: dict[str, Priority] = {
    "low": "low",
    "medium": "medium",
    "high": "high",
    "urgent": "urgent",
    # Todoist's order: p1 is the most pressing.
    "1": "urgent",
    "2": "high",
    "3": "medium",
    "4": "low",
}
# Todoist's own words: p1 is urgent and p4 no priority at all (Todoist has four levels).
TODOIST_PRIORITIES: dict[str, Priority] = {
    "p1": "urgent",
    "p2": "high",
    "p3": "medium",
    "p4": "none",
}
# A weekday or month name right after one of these is a noun ("lie in the sun").
ARTICLES = {"the", "a", "an"}
# Absorbed into the date that follows them ("call mum on friday" → "call mum").
DATE_PREPOSITIONS = {"on", "by", "due"}
# After a repeat rule, before a date: the date is where the series starts (Todoist's wording).
START_WORDS = {"starting", "starts", "from"}
# "every 3rd day" is no monthly rule on the 3rd (it stays in the title).
REPEAT_UNITS = {"day", "days", "week", "weeks", "month", "months", "year", "years"}

# Every token starts with one of these characters or words (a fast path past the others).
_TOKEN_FIRST_CHARS = frozenset("0123456789#!@/")
_TOKEN_FIRST_WORDS = frozenset(
    {"today", "tomorrow", "next", "this", "in", "at", "every", "every!"}
    | set(TODOIST_PRIORITIES)
    | set(WEEKDAYS)
    | set(MONTHS)
    | DATE_PREPOSITIONS
)

_DIGITS = re.compile(r"[0-9]{1,4}")
_ORDINAL = re.compile(r"([0-9]{1,2})(st|nd|rd|th)")
_DAY = re.compile(r"([0-9]{1,2})(st|nd|rd|th)?")
_YEAR = re.compile(r"[0-9]{4}")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_CLOCK_24 = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_CLOCK_12 = re.compile(r"([0-9]{1,2})(?::([0-9]{2}))?(am|pm)")
_HOUR = re.compile(r"[0-9]{1,2}")
_TAG = re.compile(r"[#@](\w[\w\-/]*)")
# A `/word` that could be meant as a section (`/etc/hosts` could not): warned about if unknown.
_SECTION_LIKE = re.compile(r"/\w[\w\-]*")
_PRIORITY = re.compile(r"!([a-z0-9]+)")


@dataclass(frozen=True)
class Token:
    """A recognised run of words. Offsets index the original text, end exclusive: `start`
    and `end` count code points (Python str indices), `utf16_start` and `utf16_end` count
    UTF-16 code units (JavaScript string indices; they differ after an emoji)."""

    kind: TokenKind
    start: int
    end: int
    text: str
    utf16_start: int
    utf16_end: int


@dataclass(frozen=True)
class Recurrence:
    rule: str  # an RFC 5545 RRULE without the "RRULE:" prefix
    mode: Mode
    description: str  # the rule in words, for people


@dataclass
class QuickParse:
    title: str
    priority: Priority = "none"
    tags: list[str] = field(default_factory=list)
    due: date | datetime | None = None  # a date (all-day) or an aware datetime in the zone
    recurrence: Recurrence | None = None
    tokens: list[Token] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Where the task goes: the project named (else the Inbox) and a section of it; None when
    # the parse had no catalog of projects (then the task goes to the Inbox).
    project: ProjectPlace | None = None
    section: SectionPlace | None = None


@dataclass(frozen=True)
class _Word:
    start: int
    end: int
    text: str
    low: str


@dataclass(frozen=True)
class _DateSpec:
    """A date as written: either resolved already, or a month and day still without a year."""

    day: date | None = None
    month_day: tuple[int, int] | None = None


class _Reader:
    def __init__(self, text: str, zone: Zone, now: datetime, catalog: Catalog | None) -> None:
        self.text = text
        self.catalog = catalog
        self.zone = zone
        self.now = now.astimezone(zone)
        self.today = self.now.date()
        self.words = [
            _Word(m.start(), m.end(), m.group(), m.group().lower())
            for m in re.finditer(r"\S+", text)
        ]
        self.kept: list[str] = []
        self.tokens: list[tuple[TokenKind, int, int]] = []
        self.warnings: list[str] = []
        self.priority: Priority | None = None
        self.tags: dict[str, str] = {}
        self.day: date | None = None
        self.clock: time | None = None
        self.recurrence: Recurrence | None = None
        self.starts = False  # "every day starting jan 3": the date is where the series starts
        self.texts = [word.text for word in self.words]
        # The first `#Name` that names a project wins, wherever it is: `/Section` before it
        # is a section of that project.
        self.named: tuple[int, int, ProjectPlace] | None = None
        if catalog is not None:
            for i, word in enumerate(self.texts):
                if word.startswith("#"):
                    found = catalog.projects.match(self.texts, i)
                    if found is not None and found[1] is not None:
                        self.named = (i, i + found[0], found[1])
                        break
        self.project = self.named[2] if self.named else (catalog.inbox if catalog else None)
        self.section: SectionPlace | None = None

    # Helpers

    def low(self, i: int) -> str:
        return self.words[i].low if 0 <= i < len(self.words) else ""

    def span(self, i: int, j: int) -> str:
        """The original text of words i..j-1."""
        return self.text[self.words[i].start : self.words[j - 1].end]

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    # The one pass

    def read(self) -> None:
        i = 0
        while i < len(self.words):
            word = self.words[i].low
            if word[0] not in _TOKEN_FIRST_CHARS and word not in _TOKEN_FIRST_WORDS:
                self.kept.append(self.words[i].text)  # cannot start a token: the common case
                i += 1
                continue
            used = (
                self.recurrence_at(i)
                or self.date_at(i)
                or self.time_at(i)
                or self.place_at(i)
                or self.priority_at(i)
            )
            if used:
                i += used
            else:
                self.kept.append(self.words[i].text)
                i += 1

    def take(self, kind: TokenKind, i: int, j: int) -> int:
        self.tokens.append((kind, self.words[i].start, self.words[j - 1].end))
        return j - i

    def duplicate(self, kind: str, i: int, j: int) -> int:
        """A second date, time or repeat rule stays in the title, word for word (none of its
        words is read again): only the first one counts."""
        self.warn(f"Only the first {kind} is used; “{self.span(i, j)}” stays in the title")
        self.kept.extend(word.text for word in self.words[i:j])
        return j - i

    # Projects, sections, tags and priorities

    def place_at(self, i: int) -> int:
        sigil = self.texts[i][0]
        if sigil == "#":
            return self.project_at(i) or self.tag_at(i)
        if sigil == "@":
            return self.tag_at(i)
        if sigil == "/":
            return self.section_at(i)
        return 0

    def project_at(self, i: int) -> int:
        """`#Name` of a project: the first one is where the task goes; a later one, or a quoted
        name of no project, stays in the title."""
        if self.catalog is None:
            return 0
        if self.named is not None and self.named[0] == i:
            return self.take("project", i, self.named[1])
        found = self.catalog.projects.match(self.texts, i)
        if found is None:
            return 0
        used, project = found
        if project is None:
            self.warn(f"There is no project {self.span(i, i + used)[1:]}; it stays in the title")
            self.kept.extend(self.texts[i : i + used])
            return used
        return self.duplicate("project", i, i + used)

    def section_at(self, i: int) -> int:
        if self.catalog is None or self.project is None:
            return 0
        found = self.catalog.sections(self.project).match(self.texts, i)
        if found is None or found[1] is None:
            word = self.texts[i]
            if found is not None or (
                _SECTION_LIKE.fullmatch(word) and any(c.isalpha() for c in word)
            ):
                used = found[0] if found else 1
                self.warn(
                    f"There is no section {self.span(i, i + used)[1:]} in {self.project.name};"
                    " it stays in the title"
                )
                self.kept.extend(self.texts[i : i + used])
                return used
            return 0
        used, section = found
        if self.section is not None:
            return self.duplicate("section", i, i + used)
        self.section = section
        return self.take("section", i, i + used)

    def tag_at(self, i: int) -> int:
        word = self.words[i]
        if word.text[0] not in "#@":
            return 0
        m = _TAG.fullmatch(word.text)
        if m is None or not any(c.isalpha() for c in m.group(1)):
            if len(word.text) > 1 and not word.text[1:].isdigit():
                self.warn(
                    f"“{word.text}” is not a tag: a tag is {word.text[0]} and a word with a letter"
                )
            return 0  # "#", "#12" (an issue number), "#!?"
        name = m.group(1)
        if len(name) > MAX_TAG_LENGTH:
            self.warn(f"A tag may have at most {MAX_TAG_LENGTH} characters; “{word.text[:20]}…”")
            return 0
        self.tags.setdefault(name.casefold(), name)
        return self.take("tag", i, i + 1)

    def priority_at(self, i: int) -> int:
        m = _PRIORITY.fullmatch(self.low(i))
        if m is None:
            value = TODOIST_PRIORITIES.get(self.low(i))
            if value is None:
                return 0
            if self.priority is not None:
                return self.duplicate("priority", i, i + 1)
            self.priority = value
            return self.take("priority", i, i + 1)
        value = PRIORITIES.get(m.group(1))
        if value is None:
            self.warn(
                f"“{self.words[i].text}” is not a priority: use !low, !medium, !high, !urgent,"
                " or !1 (urgent) to !4 (low)"
            )
            return 0
        if self.priority is not None:
            return self.duplicate("priority", i, i + 1)
        self.priority = value
        return self.take("priority", i, i + 1)

    # Dates

    def date_at(self, i: int) -> int:
        start = i
        if self.low(i) in DATE_PREPOSITIONS:
            i += 1
        found = self.date_phrase(i)
        if found is None:
            return 0
        length, spec = found
        j = i + length
        if self.day is not None:
            return self.duplicate("date", start, j)
        resolved = self.resolve(spec, self.span(i, j))
        if resolved is None:
            return 0
        self.day = resolved
        return self.take("date", start, j)

    def resolve(self, spec: _DateSpec, written: str) -> date | None:
        if spec.day is not None:
            return spec.day
        assert spec.month_day is not None
        month, day = spec.month_day
        for year in range(self.today.year, self.today.year + 9):  # 29 February: 8 years at most
            try:
                candidate = date(year, month, day)
            except ValueError:
                continue
            if candidate >= self.today and candidate.year <= MAX_YEAR:
                return candidate
        self.warn(f"“{written}” is not a date")
        return None

    def date_phrase(self, i: int) -> tuple[int, _DateSpec] | None:
        """(words used, date) for a date phrase starting at word i."""
        w = self.low(i)
        if not w:
            return None
        if w == "today":
            return 1, _DateSpec(self.today)
        if w == "tomorrow":
            return 1, _DateSpec(self.today + timedelta(days=1))
        if w in WEEKDAYS and self.low(i - 1) not in ARTICLES:
            return 1, _DateSpec(self.weekday_from(self.today, WEEKDAYS[w]))
        if w in {"next", "this"}:
            nxt = self.low(i + 1)
            if nxt in WEEKDAYS:
                if w == "this":
                    return 2, _DateSpec(self.weekday_from(self.today, WEEKDAYS[nxt]))
                monday = self.today + timedelta(days=7 - self.today.weekday())
                return 2, _DateSpec(monday + timedelta(days=WEEKDAYS[nxt]))
            if w == "next" and nxt == "week":
                return 2, _DateSpec(self.today + timedelta(days=7 - self.today.weekday()))
            return None
        if w == "in":
            return self.in_phrase(i)
        m = _ISO_DATE.fullmatch(w)
        if m:
            try:
                day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                self.warn(f"“{self.words[i].text}” is not a date")
                return None
            if not MIN_YEAR <= day.year <= MAX_YEAR:
                self.warn(f"“{self.words[i].text}”: the year must be {MIN_YEAR} to {MAX_YEAR}")
                return None
            return 1, _DateSpec(day)
        return self.month_day_phrase(i)

    def in_phrase(self, i: int) -> tuple[int, _DateSpec] | None:
        """in 3 days, in 2 weeks, in a month, in 1 year."""
        amount_word, unit = self.low(i + 1), self.low(i + 2).removesuffix("s")
        if unit not in {"day", "week", "month", "year"}:
            return None
        if amount_word in {"a", "an"}:
            amount = 1
        elif _DIGITS.fullmatch(amount_word):
            amount = int(amount_word)
        else:
            return None
        delta = {
            "day": relativedelta(days=amount),
            "week": relativedelta(weeks=amount),
            "month": relativedelta(months=amount),
            "year": relativedelta(years=amount),
        }[unit]
        try:
            day = self.today + delta
        except (ValueError, OverflowError):
            day = date.max
        if day.year > MAX_YEAR:
            self.warn(f"“{self.span(i, i + 3)}” is too far away")
            return None
        return 3, _DateSpec(day)

    def month_day_phrase(self, i: int) -> tuple[int, _DateSpec] | None:
        """dec 5, december 5th, 5 dec, 5th of december; each with an optional year after."""
        w = self.low(i)
        if self.low(i - 1) in ARTICLES:
            return None
        month = day = None
        used = 0
        if w in MONTHS:
            m = _DAY.fullmatch(self.low(i + 1))
            if m:
                month, day, used = MONTHS[w], int(m.group(1)), 2
        else:
            m = _DAY.fullmatch(w)
            if m:
                of = 1 if self.low(i + 1) == "of" and m.group(2) else 0
                if self.low(i + 1 + of) in MONTHS:
                    month, day, used = MONTHS[self.low(i + 1 + of)], int(m.group(1)), 2 + of
        if month is None or day is None:
            return None
        written = self.span(i, i + used)
        year_word = self.low(i + used)
        if _YEAR.fullmatch(year_word) and MIN_YEAR <= int(year_word) <= MAX_YEAR:
            try:
                return used + 1, _DateSpec(date(int(year_word), month, day))
            except ValueError:
                self.warn(f"“{self.span(i, i + used + 1)}” is not a date")
                return None
        if not 1 <= day <= 31 or (month == 2 and day > 29) or day > _days_in(month):
            self.warn(f"“{written}” is not a date")
            return None
        return used, _DateSpec(month_day=(month, day))

    @staticmethod
    def weekday_from(day: date, weekday: int) -> date:
        """The first such weekday on or after `day`."""
        return day + timedelta(days=(weekday - day.weekday()) % 7)

    # Times

    def time_at(self, i: int) -> int:
        if self.low(i) == "at":
            found = self.clock_phrase(i + 1, after_at=True)
            if found is None:
                return 0
            length, clock = found
            j = i + 1 + length
        else:
            found = self.clock_phrase(i, after_at=False)
            if found is None:
                return 0
            length, clock = found
            j = i + length
        if self.clock is not None:
            return self.duplicate("time", i, j)
        self.clock = clock
        return self.take("time", i, j)

    def clock_phrase(self, i: int, *, after_at: bool) -> tuple[int, time] | None:
        w = self.low(i)
        if not w:
            return None
        if after_at and w in {"noon", "midday"}:
            return 1, time(12, 0)
        if after_at and w == "midnight":
            return 1, time(0, 0)
        m = _CLOCK_12.fullmatch(w)
        if m is None and after_at and _HOUR.fullmatch(w) and self.low(i + 1) in {"am", "pm"}:
            m = _CLOCK_12.fullmatch(w + self.low(i + 1))
            if m is not None:
                clock = _twelve_hour(m)
                return (2, clock) if clock is not None else None
        if m is not None:
            clock = _twelve_hour(m)
            return (1, clock) if clock is not None else None
        m = _CLOCK_24.fullmatch(w)
        if m is not None:
            hour, minute = int(m.group(1)), int(m.group(2))
            if hour <= 23 and minute <= 59:
                return 1, time(hour, minute)
            return None
        if after_at and _HOUR.fullmatch(w) and int(w) <= 23:
            hour = int(w)
            if 1 <= hour <= 11:
                self.warn(
                    f"“at {self.words[i].text}” is read as {hour:02d}:00 on the 24-hour clock;"
                    f" write {hour}pm for the afternoon"
                )
            return 1, time(hour, 0)
        return None

    # Recurrence

    def recurrence_at(self, i: int) -> int:
        w = self.low(i)
        if w not in {"every", "every!"}:
            return 0
        found = self.repeat_phrase(i + 1)
        if found is None:
            return 0
        length, rule, words = found
        j = i + 1 + length
        if self.recurrence is not None:
            return self.duplicate("repeat rule", i, j)
        if self.low(j) in START_WORDS and self.date_phrase(j + 1) is not None:
            self.starts = True
            j += 1  # the date that follows is read as usual; it starts the series
        mode: Mode = "from_completion" if w == "every!" else "from_due"
        if mode == "from_completion":
            words += ", counted from when it was last completed"
        self.recurrence = Recurrence(rule, mode, words)
        return self.take("recurrence", i, j)

    def repeat_phrase(self, i: int) -> tuple[int, str, str] | None:
        """(words used, RRULE, the rule in words) for what follows "every"."""
        w = self.low(i)
        interval, j = 1, i
        if _DIGITS.fullmatch(w):
            interval, j = int(w), i + 1
            if not 1 <= interval <= MAX_INTERVAL:
                self.warn(f"A repeat interval must be 1 to {MAX_INTERVAL}")
                return None
        elif w == "other":
            interval, j = 2, i + 1
        unit = self.low(j)
        every = f"every {interval} " if interval > 1 else "every "
        plural = "s" if interval > 1 else ""
        rule_interval = f";INTERVAL={interval}" if interval > 1 else ""

        if unit in {"day", "days"}:
            return j + 1 - i, f"FREQ=DAILY{rule_interval}", f"{every}day{plural}"
        if unit in {"week", "weeks"}:
            k = j + 1
            if self.low(k) == "on":
                days = self.weekday_list(k + 1)
                if days is not None:
                    used, found = days
                    return (
                        k + 1 + used - i,
                        f"FREQ=WEEKLY{rule_interval};BYDAY={_byday(found)}",
                        f"{every}week{plural} on {_day_words(found)}",
                    )
            return k - i, f"FREQ=WEEKLY{rule_interval}", f"{every}week{plural}"
        if unit in {"month", "months"}:
            k = j + 1
            if self.low(k) == "on":
                found_month = self.month_position(k + 1)
                if found_month is not None:
                    used, part, words = found_month
                    return (
                        k + 1 + used - i,
                        f"FREQ=MONTHLY{rule_interval};{part}",
                        f"{every}month{plural} on {words}",
                    )
            return k - i, f"FREQ=MONTHLY{rule_interval}", f"{every}month{plural}"
        if unit in {"year", "years"}:
            return j + 1 - i, f"FREQ=YEARLY{rule_interval}", f"{every}year{plural}"
        if j != i:
            return None  # "every 3" or "every other" with nothing we know after it
        if unit in {"weekday", "weekdays", "workday", "workdays"}:
            return 1, "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "every weekday (Monday to Friday)"
        if unit in {"weekend", "weekends"}:
            return 1, "FREQ=WEEKLY;BYDAY=SA,SU", "every weekend (Saturday and Sunday)"
        days = self.weekday_list(i)
        if days is not None:
            used, found = days
            return used, f"FREQ=WEEKLY;BYDAY={_byday(found)}", f"every {_day_words(found)}"
        nth = self.nth_weekday(i)
        if nth is not None:
            used, part, words = nth
            used += self.of_the_month(i + used)
            return used, f"FREQ=MONTHLY;{part}", f"every {words} of the month"
        month_day = self.month_day_phrase(i)
        if month_day is not None and month_day[1].month_day is not None:
            used, spec = month_day
            assert spec.month_day is not None
            month, day = spec.month_day
            return (
                used,
                f"FREQ=YEARLY;BYMONTH={month};BYMONTHDAY={day}",
                f"every year on {day} {MONTH_NAMES[month - 1]}",
            )
        # every 1st, every 15th (of the month), every last day: Todoist's monthly shorthands.
        position = self.month_position(i)
        if position is not None and self.low(i + position[0]) not in REPEAT_UNITS:
            used, part, words = position
            used += self.of_the_month(i + used)
            return used, f"FREQ=MONTHLY;{part}", f"every month on {words}"
        return None

    def of_the_month(self, i: int) -> int:
        """Words used by "of the month", "of every month" or "of month" at word i (else 0)."""
        if self.low(i) != "of":
            return 0
        j = i + 2 if self.low(i + 1) in {"the", "every", "each"} else i + 1
        return j + 1 - i if self.low(j) == "month" else 0

    def weekday_list(self, i: int) -> tuple[int, list[int]] | None:
        """mon / mon, thu / mon,thu / monday and thursday: (words used, weekdays)."""
        found: list[int] = []
        j = i
        while j < len(self.words):
            pieces = self.low(j).split(",")
            if pieces[0] in {"and", "&"} and len(pieces) == 1 and found:
                if self.low(j + 1).split(",")[0] in WEEKDAYS:
                    j += 1
                    continue
                break
            names = pieces[:-1] if pieces[-1] == "" else pieces
            if not names or any(name not in WEEKDAYS for name in names):
                break
            found.extend(WEEKDAYS[name] for name in names)
            j += 1
            nxt = self.low(j)
            more = pieces[-1] == "" or nxt in {"and", "&"} or nxt.startswith(",")
            if not more:
                break
            if nxt.startswith(","):
                # ", thu" or ",thu": the comma opens the next word
                rest = nxt[1:]
                if rest and rest.split(",")[0] in WEEKDAYS:
                    names = [n for n in rest.split(",") if n]
                    if all(n in WEEKDAYS for n in names):
                        found.extend(WEEKDAYS[n] for n in names)
                        j += 1
                        if not rest.endswith(","):
                            break
                        continue
                break
        if not found:
            return None
        return j - i, sorted(set(found))

    def nth_weekday(self, i: int) -> tuple[int, str, str] | None:
        """first monday, 2nd tuesday, last friday: (words used, BYDAY part, words)."""
        w = self.low(i)
        if w in ORDINAL_WORDS:
            n = ORDINAL_WORDS[w]
        else:
            m = _ORDINAL.fullmatch(w)
            if m is None or not 1 <= int(m.group(1)) <= 5:
                return None
            n = int(m.group(1))
        weekday = WEEKDAYS.get(self.low(i + 1))
        if weekday is None:
            return None
        words = f"{'last' if n == -1 else _ordinal(n)} {DAY_NAMES[weekday]}"
        return 2, f"BYDAY={n}{RRULE_DAYS[weekday]}", words

    def month_position(self, i: int) -> tuple[int, str, str] | None:
        """After "every month on": the 1st / the 15th / the last day / the last friday."""
        j = i + 1 if self.low(i) == "the" else i
        nth = self.nth_weekday(j)
        if nth is not None:
            used, part, words = nth
            return j - i + used, part, f"the {words}"
        w = self.low(j)
        if w == "last" and self.low(j + 1) == "day":
            return j - i + 2, "BYMONTHDAY=-1", "the last day"
        m = _ORDINAL.fullmatch(w)
        if m and 1 <= int(m.group(1)) <= 31:
            day = int(m.group(1))
            return j - i + 1, f"BYMONTHDAY={day}", f"the {_ordinal(day)}"
        return None

    # The result

    def due(self) -> date | datetime | None:
        if self.recurrence is not None and self.starts and self.day is not None:
            return self.first_occurrence(self.recurrence.rule, since=self.day)
        if self.day is None and self.recurrence is not None:
            return self.first_occurrence(self.recurrence.rule)
        if self.day is None and self.clock is None:
            return None
        if self.clock is None:
            assert self.day is not None
            if self.day < self.today:
                self.warn("The due date is in the past")
            return self.day
        if self.day is None:
            at = self.local(self.today, self.clock)
            if at <= self.now:  # a time alone: today if still ahead, else tomorrow
                at = self.local(self.today + timedelta(days=1), self.clock)
            return at
        at = self.local(self.day, self.clock)
        if at < self.now:
            self.warn("The due date is in the past")
        return at

    def first_occurrence(self, rule: str, since: date | None = None) -> date | datetime | None:
        """The rule's first occurrence from now, or on or after `since` ("starting …")."""
        start = datetime.combine(since or self.today, self.clock or time(0))
        after = self.now.replace(tzinfo=None) if self.clock and since is None else start
        occurrence = rrulestr(rule, dtstart=start).after(
            after, inc=self.clock is None or since is not None
        )
        if occurrence is None:  # pragma: no cover - every rule we build repeats within 8 years
            self.warn("This repeat rule has no next occurrence")
            return None
        if self.clock is None:
            return occurrence.date()
        return self.local(occurrence.date(), self.clock)

    def local(self, day: date, clock: time) -> datetime:
        """The moment `clock` on `day` in the zone: a time in a DST gap moves forward by the
        gap, and a time that happens twice is its first (earlier) occurrence."""
        wall = datetime.combine(day, clock, tzinfo=self.zone)
        real = wall.astimezone(UTC).astimezone(self.zone)
        if real.replace(tzinfo=None) != wall.replace(tzinfo=None):
            self.warn(
                f"{clock:%H:%M} does not exist on {day.isoformat()} in {self.zone.key} (the"
                f" clocks go forward); {real:%H:%M} is used"
            )
        elif wall.replace(fold=1).utcoffset() != wall.utcoffset():
            self.warn(
                f"{clock:%H:%M} happens twice on {day.isoformat()} in {self.zone.key} (the"
                " clocks go back); the first one is used"
            )
        return real

    def result(self) -> QuickParse:
        due = self.due()
        title = " ".join(self.kept)
        if not title:
            self.warn("There is no title: everything was read as a date, tag or other token")
        elif len(title) > MAX_TITLE_LENGTH:
            self.warn(f"The title is longer than {MAX_TITLE_LENGTH} characters")
        if len(self.tags) > MAX_TAGS:
            self.warn(f"A task may have at most {MAX_TAGS} tags")
        utf16 = _utf16_offsets(self.text)
        tokens = [
            Token(kind, start, end, self.text[start:end], utf16(start), utf16(end))
            for kind, start, end in sorted(self.tokens, key=lambda t: t[1])
        ]
        return QuickParse(
            title=title,
            priority=self.priority or "none",
            tags=list(self.tags.values()),
            due=due,
            recurrence=self.recurrence,
            tokens=tokens,
            warnings=self.warnings,
            project=self.project,
            section=self.section,
        )


def _twelve_hour(m: re.Match[str]) -> time | None:
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if not 1 <= hour <= 12 or minute > 59:
        return None
    hour = hour % 12 + (12 if m.group(3) == "pm" else 0)
    return time(hour, minute)


def _days_in(month: int) -> int:
    return 29 if month == 2 else (30 if month in {4, 6, 9, 11} else 31)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _byday(days: list[int]) -> str:
    return ",".join(RRULE_DAYS[d] for d in days)


def _day_words(days: list[int]) -> str:
    names = [DAY_NAMES[d] for d in days]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _utf16_offsets(text: str) -> Callable[[int], int]:
    """Maps a code point offset to a UTF-16 offset (astral characters count twice)."""
    if all(ord(c) <= 0xFFFF for c in text):
        return lambda i: i
    prefix = [0]
    for c in text:
        prefix.append(prefix[-1] + (2 if ord(c) > 0xFFFF else 1))
    return lambda i: prefix[i]


def parse(text: str, *, zone: Zone, now: datetime, catalog: Catalog | None = None) -> QuickParse:
    """Read quick-add text at `now` (an aware datetime) for a user in `zone`, with the user's
    projects and sections (`catalog`; without one, `#Name` is always a tag and `/Name` text)."""
    reader = _Reader(text, zone, now, catalog)
    reader.read()
    return reader.result()


def parse_out(parsed: QuickParse) -> QuickParseOut:
    """The parse as the API shows it."""
    recurrence = parsed.recurrence
    return QuickParseOut(
        title=parsed.title,
        priority=parsed.priority,
        tags=parsed.tags,
        due=parsed.due,
        recurrence=(
            RecurrenceOut(rule=recurrence.rule, mode=recurrence.mode, text=recurrence.description)
            if recurrence
            else None
        ),
        tokens=[
            QuickTokenOut(
                kind=t.kind,
                start=t.start,
                end=t.end,
                text=t.text,
                utf16_start=t.utf16_start,
                utf16_end=t.utf16_end,
            )
            for t in parsed.tokens
        ],
        warnings=parsed.warnings,
        project=PlaceOut(id=parsed.project.id, name=parsed.project.name)
        if parsed.project
        else None,
        section=PlaceOut(id=parsed.section.id, name=parsed.section.name)
        if parsed.section
        else None,
    )


NO_TITLE = (
    "The text has no title: it is all dates, times, tags, priorities or repeat rules."
    " Add a few words that say what the task is."
)


def create_body(parsed: QuickParse) -> dict[str, Any]:
    """The POST /tasks body a parse stands for (not validated yet)."""
    body: dict[str, Any] = {
        "title": parsed.title,
        "priority": parsed.priority,
        "tags": list(parsed.tags),
        "due": parsed.due,
    }
    if parsed.recurrence is not None:
        body["recurrence"] = {"rule": parsed.recurrence.rule, "mode": parsed.recurrence.mode}
    # Only a place the text names: otherwise the caller's default (the Inbox, or the web
    # page's project) stands.
    if parsed.section is not None and parsed.project is not None:
        body["project_id"], body["section_id"] = parsed.project.id, parsed.section.id
    elif parsed.project is not None and any(t.kind == "project" for t in parsed.tokens):
        body["project_id"] = parsed.project.id
    return body


def task_create(parsed: QuickParse) -> TaskCreate:
    """The task a parse stands for, validated like a POST /tasks body (InvalidInput if not)."""
    if not parsed.title:
        raise InvalidInput(NO_TITLE, loc=["body", "text"])
    try:
        return TaskCreate.model_validate(create_body(parsed))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"The parsed {where}: {message}", loc=["body", "text"]) from None
