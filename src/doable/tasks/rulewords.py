"""Repeat rules in words, both ways: an RRULE said in quick add's grammar ("every week on
Sunday"), and such words read back into an RRULE for the web app's edit form.

Pure. `say()` writes only what quick add reads back to the same rule (tests/test_rulewords.py
checks words → rule → words); a rule the grammar cannot say (COUNT, UNTIL, BYSETPOS, several
month days…) gets None from `say()`, and `describe()` falls back to recurrence.describe's
shorthand, which is for reading only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from doable.tasks import quickadd, recurrence
from doable.tasks.quickadd.vocabulary import DAY_NAMES, MAX_INTERVAL, MONTH_NAMES, ordinal
from doable.tasks.recurrence import Mode, Rule, RuleError
from doable.zones import Zone

_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_UNITS = {"DAILY": "day", "WEEKLY": "week", "MONTHLY": "month", "YEARLY": "year"}
# One word people type for a plain rule.
_ALIASES = {
    "daily": "every day",
    "weekly": "every week",
    "fortnightly": "every 2 weeks",
    "biweekly": "every 2 weeks",
    "monthly": "every month",
    "yearly": "every year",
    "annually": "every year",
    "weekdays": "every weekday",
    "weekends": "every weekend",
}
EXAMPLES = "“every sunday”, “every 2 weeks on mon, wed”, “every month on the 15th”"


def say(rule: Rule) -> str | None:
    """The rule in quick add's words, or None when the grammar cannot say it."""
    if rule.given - {"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH"}:
        return None
    if rule.interval > MAX_INTERVAL:
        return None
    unit = _UNITS[rule.freq]
    every = f"every {rule.interval} {unit}s" if rule.interval > 1 else f"every {unit}"
    byday, monthday, month = rule.byday, rule.bymonthday, rule.bymonth
    if rule.freq == "DAILY":
        return every if not (byday or monthday or month) else None
    if rule.freq == "WEEKLY":
        if month or any(n is not None for n, _ in byday):
            return None
        if not byday:
            return every
        days = sorted(_DAYS.index(d) for _, d in byday)
        if rule.interval == 1 and days == [0, 1, 2, 3, 4]:
            return "every weekday"
        if rule.interval == 1 and days == [5, 6]:
            return "every weekend"
        return f"{every} on {_and([DAY_NAMES[d] for d in days])}"
    if rule.freq == "MONTHLY":
        if month or len(byday) + len(monthday) > 1:
            return None
        if not byday and not monthday:
            return every
        if monthday:
            (day,) = monthday
            if day == -1:
                return f"{every} on the last day"
            return f"{every} on the {ordinal(day)}" if day > 0 else None
        ((n, d),) = byday
        if n is None or not (1 <= n <= 5 or n == -1):
            return None
        which = "last" if n == -1 else ordinal(n)
        return f"{every} on the {which} {DAY_NAMES[_DAYS.index(d)]}"
    # YEARLY
    if byday:
        return None
    if not month and not monthday:
        return every
    if len(month) == 1 and len(monthday) == 1 and monthday[0] > 0:
        return f"{every} on {monthday[0]} {MONTH_NAMES[month[0] - 1]}"
    return None


def describe(rule: Rule) -> str:
    """The rule in words for reading: quick add's words where they can say it, else
    recurrence.describe ("every week on Mon, Thu, 3 more times")."""
    return say(rule) or recurrence.describe(rule)


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


@dataclass(frozen=True)
class Read:
    rule: str  # the canonical RRULE
    mode: Mode | None  # "from_completion" for "every! …", else None (the form's choice)


class WordsError(ValueError):
    """Words that are no repeat rule; the message says what to write instead."""


def read(text: str, *, zone: Zone, now: datetime) -> Read:
    """A repeat rule from words ("every sunday", "every 2 weeks on mon, wed", "weekly"), or
    from an RRULE typed as is (FREQ=…). Raises WordsError with a sentence for people."""
    words = " ".join(text.split())
    if "=" in words:  # an RRULE, as the advanced field takes it
        try:
            return Read(recurrence.parse(words).text, None)
        except RuleError as exc:
            raise WordsError(f"This RRULE cannot be used: {exc}") from None
    words = _ALIASES.get(words.casefold(), words)
    if not words.casefold().startswith(("every ", "every! ")):
        words = "every " + words
    parsed = quickadd.parse(words, zone=zone, now=now)
    kinds = {token.kind for token in parsed.tokens}
    if parsed.recurrence is None or parsed.title or kinds != {"recurrence"}:
        raise WordsError(
            f"“{text.strip()[:60]}” is not a repeat rule Doable can read. Write it like"
            f" {EXAMPLES} or “every weekday”; leave it empty for no repeat."
        )
    mode: Mode | None = "from_completion" if parsed.recurrence.mode == "from_completion" else None
    return Read(recurrence.parse(parsed.recurrence.rule).text, mode)
