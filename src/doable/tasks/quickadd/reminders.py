"""Quick add's reminder phrases: `remind 30m before`, `remind me 1 hour before`, `remind 9am`.

The phrase is read here; the reminder itself is made by the reminders service, in the same
transaction as the task (tasks/quickservice.py). A phrase that starts like a reminder but
cannot be read stays in the title, and the preview says so.
"""

from __future__ import annotations

import re
from datetime import time

from doable.reminders.durations import MAX_OFFSET_SECONDS
from doable.reminders.wording import amount
from doable.tasks.quickadd.base import ReaderBase
from doable.tasks.quickadd.vocabulary import DIGITS, REMIND_WORDS

# "30m", "30min", "2h", "2hrs", "1d", "1w": a number glued to its unit.
_SHORT = re.compile(r"([0-9]{1,5})(m|min|mins|h|hr|hrs|d|w)")
_UNIT_SECONDS = {
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 7 * 86400,
    "week": 7 * 86400,
    "weeks": 7 * 86400,
}
# After "remind" (and "me"), a word like these means a reminder was meant: if the rest cannot
# be read, the preview says so rather than keeping the words quietly.
_MEANT = re.compile(r"[0-9].*|at|in|when|before")
HOW = "write “remind 30m before”, “remind 1 hour before” or “remind 9am”"


class ReminderRules(ReaderBase):
    def reminder_at(self, i: int) -> int:
        if self.low(i) not in REMIND_WORDS:
            return 0
        k = i + 2 if self.low(i + 1) == "me" else i + 1
        found = self.offset_phrase(k) or self.clock_reminder(k)
        if found is None:
            if _MEANT.fullmatch(self.low(k)):
                end = min(k + 3, len(self.words))
                self.warn(
                    f"“{self.span(i, end)}” is not a reminder quick add can read; {HOW}."
                    " It stays in the title"
                )
            return 0
        used, before, clock = found
        j = k + used
        if self.remind_before is not None or self.remind_clock is not None:
            return self.duplicate("reminder", i, j)
        self.remind_before, self.remind_clock = before, clock
        return self.take("reminder", i, j)

    def offset_phrase(self, k: int) -> tuple[int, int, None] | None:
        """`30m before`, `2 hours before`, `an hour before`, `when due`: (words, seconds)."""
        w = self.low(k)
        if w == "when" and self.low(k + 1) == "due":
            return 2, 0, None
        m = _SHORT.fullmatch(w)
        if m is not None:
            seconds, used = int(m.group(1)) * _UNIT_SECONDS[m.group(2)], 1
        elif (DIGITS.fullmatch(w) or w in {"a", "an"}) and self.low(k + 1) in _UNIT_SECONDS:
            count = 1 if w in {"a", "an"} else int(w)
            seconds, used = count * _UNIT_SECONDS[self.low(k + 1)], 2
        else:
            return None
        if self.low(k + used) != "before":
            return None
        if seconds > MAX_OFFSET_SECONDS:
            self.warn(
                f"A reminder can be at most 366 days before the due time, not {amount(seconds)}"
            )
            return None
        return used + 1, seconds, None

    def clock_reminder(self, k: int) -> tuple[int, None, time] | None:
        """`9am`, `at 9am`, `at 17:30`: that time on the due date."""
        after_at = self.low(k) == "at"
        found = self.clock_phrase(k + 1 if after_at else k, after_at=after_at)
        if found is None:
            return None
        length, clock = found
        return length + (1 if after_at else 0), None, clock
