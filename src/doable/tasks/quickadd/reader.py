"""Quick add: reads "Water plants every 3 days at 8am #home" into a title, due, priority, tags,
an RRULE, a reminder, and the project and section it goes to. Pure (no I/O): the caller passes
the user's projects and sections (tasks/quickplaces.py); the grammar and its ambiguity rules
are in docs/quick-add.md.

The text is split into whitespace-separated words and read left to right in one pass; each
rule looks at a bounded number of words ahead (a weekday list consumes what it matches), so the
work is linear in the length of the text. A token is always a run of whole words: punctuation
glued to a word ("tomorrow,", "May,") keeps it in the title.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from dateutil.rrule import rrulestr

from doable.reminders import wording
from doable.reminders.service import MAX_AHEAD, due_instant, fire_time
from doable.tasks.quickadd.base import QuickParse, ReminderSpec, Token
from doable.tasks.quickadd.dates import DateRules
from doable.tasks.quickadd.places import PlaceRules
from doable.tasks.quickadd.reminders import ReminderRules
from doable.tasks.quickadd.repeats import RepeatRules
from doable.tasks.quickadd.vocabulary import (
    MAX_TAGS,
    MAX_TITLE_LENGTH,
    TOKEN_FIRST_CHARS,
    TOKEN_FIRST_WORDS,
)
from doable.tasks.quickplaces import Catalog
from doable.zones import Zone


class Reader(PlaceRules, DateRules, RepeatRules, ReminderRules):
    # The one pass

    def read(self) -> None:
        i = 0
        while i < len(self.words):
            word = self.words[i].low
            if word[0] not in TOKEN_FIRST_CHARS and word not in TOKEN_FIRST_WORDS:
                self.kept.append(self.words[i].text)  # cannot start a token: the common case
                i += 1
                continue
            used = (
                self.recurrence_at(i)
                or self.reminder_at(i)
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

    # The result

    def due(self) -> date | datetime | None:
        if self.clock is None:
            self.clock = self.default_clock  # "tonight" without a time
        if self.exact is not None and not self.starts:
            return self.exact  # "in 2 hours"
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

    def reminder(self, due: date | datetime | None) -> ReminderSpec | None:
        """The reminder the text asks for, checked as the reminders service will check it."""
        zone, now = self.zone, self.now.astimezone(UTC)
        if self.remind_before is not None:
            words = wording.before(self.remind_before)
            if due is None:
                return ReminderSpec(
                    self.remind_before, None, words + " (once the task has a due date)"
                )
            due_at = due if isinstance(due, datetime) else None
            due_day = None if isinstance(due, datetime) else due
            fire = fire_time(due_instant(due_at, due_day, zone), self.remind_before, zone)
            problem = None
            if fire is not None and fire <= now:
                problem = "The reminder would be in the past: the task is due too soon for it"
            return ReminderSpec(self.remind_before, None, words, problem)
        if self.remind_clock is None:
            return None
        if due is None:
            at = self.local(self.today, self.remind_clock)
            if at <= self.now:  # as a time alone: today if still ahead, else tomorrow
                at = self.local(self.today + timedelta(days=1), self.remind_clock)
        else:
            day = due.astimezone(zone).date() if isinstance(due, datetime) else due
            at = self.local(day, self.remind_clock)
        problem = None
        if at <= self.now:
            problem = "The reminder time is in the past; choose a later one"
        elif at - self.now > MAX_AHEAD:
            problem = "A reminder can be at most 5 years ahead"
        return ReminderSpec(None, at, wording.at(at, zone, today=self.today), problem)

    def result(self) -> QuickParse:
        due = self.due()
        reminder = self.reminder(due)
        if reminder is not None and reminder.problem:
            self.warn(reminder.problem)
        title = " ".join(self.kept)
        if not title:
            self.warn("There is no title: everything was read as a date, tag or other token")
        elif len(title) > MAX_TITLE_LENGTH:
            self.warn(f"The title has {len(title):,} characters; use at most {MAX_TITLE_LENGTH}")
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
            reminder=reminder,
        )


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
    reader = Reader(text, zone, now, catalog)
    reader.read()
    return reader.result()
