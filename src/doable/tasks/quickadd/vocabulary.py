"""Quick add's vocabulary: the words, names and patterns the grammar knows (docs/quick-add.md)."""

from __future__ import annotations

import calendar
import re
from datetime import time

from doable.tasks.schemas import Priority

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

# "tonight" is this time today, unless the text gives one.
TONIGHT = time(20, 0)
# "in 2 hrs", "in 30 min" (after a plural "s" is dropped).
CLOCK_UNITS = {"hr": "hour", "min": "minute"}
# "in 9000 hours" is more likely a typo than a plan; a date says it better.
MAX_IN_SECONDS = 366 * 86400
# A reminder phrase starts with one of these ("remind me 30m before").
REMIND_WORDS = frozenset({"remind", "reminder"})
# Repeats are daily at the finest (docs/quick-add.md says why): these stay in the title.
SUBDAILY_UNITS = {"hour", "hours", "hr", "hrs", "minute", "minutes", "min", "mins"}

# Every token starts with one of these characters or words (a fast path past the others).
TOKEN_FIRST_CHARS = frozenset("0123456789#!@/")
TOKEN_FIRST_WORDS = frozenset(
    {"today", "tomorrow", "tonight", "next", "this", "end", "in", "at", "every", "every!"}
    | REMIND_WORDS
    | set(TODOIST_PRIORITIES)
    | set(WEEKDAYS)
    | set(MONTHS)
    | DATE_PREPOSITIONS
)

DIGITS = re.compile(r"[0-9]{1,4}")
ORDINAL = re.compile(r"([0-9]{1,2})(st|nd|rd|th)")
DAY = re.compile(r"([0-9]{1,2})(st|nd|rd|th)?")
YEAR = re.compile(r"[0-9]{4}")
ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
CLOCK_24 = re.compile(r"([0-9]{1,2}):([0-9]{2})")
CLOCK_12 = re.compile(r"([0-9]{1,2})(?::([0-9]{2}))?(am|pm)")
HOUR = re.compile(r"[0-9]{1,2}")
TAG = re.compile(r"[#@](\w[\w\-/]*)")
# A `/word` that could be meant as a section (`/etc/hosts` could not): warned about if unknown.
SECTION_LIKE = re.compile(r"/\w[\w\-]*")
PRIORITY = re.compile(r"!([a-z0-9]+)")


def twelve_hour(m: re.Match[str]) -> time | None:
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if not 1 <= hour <= 12 or minute > 59:
        return None
    hour = hour % 12 + (12 if m.group(3) == "pm" else 0)
    return time(hour, minute)


def days_in(month: int) -> int:
    return 29 if month == 2 else (30 if month in {4, 6, 9, 11} else 31)


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def byday(days: list[int]) -> str:
    return ",".join(RRULE_DAYS[d] for d in days)


def day_words(days: list[int]) -> str:
    names = [DAY_NAMES[d] for d in days]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]
