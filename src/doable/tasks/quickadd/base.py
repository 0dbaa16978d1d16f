"""Quick add's reader state: the words, what was read so far, and the helpers every rule uses.

The rules themselves are mixins over `ReaderBase` (places.py, dates.py, repeats.py,
reminders.py), combined in reader.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Literal

from doable.tasks.quickplaces import Catalog, ProjectPlace, SectionPlace
from doable.tasks.schemas import Priority
from doable.zones import Zone

TokenKind = Literal[
    "tag", "priority", "date", "time", "recurrence", "project", "section", "reminder"
]
Mode = Literal["from_due", "from_completion"]


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


@dataclass(frozen=True)
class ReminderSpec:
    """A reminder the text asks for: `before` seconds before the due (relative), or `at` an
    instant (absolute). `problem` says why the reminders service would refuse it (its time
    is past); the parse keeps it so the preview can show both."""

    before: int | None
    at: datetime | None
    description: str
    problem: str | None = None


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
    reminder: ReminderSpec | None = None


@dataclass(frozen=True)
class Word:
    start: int
    end: int
    text: str
    low: str


@dataclass(frozen=True)
class DateSpec:
    """A date as written: either resolved already, or a month and day still without a year.
    `at` is a moment the phrase gives with it ("in 2 hours"), `clock` a time of day it
    implies unless the text gives one ("tonight")."""

    day: date | None = None
    month_day: tuple[int, int] | None = None
    at: datetime | None = None
    clock: time | None = None


class ReaderBase:
    def __init__(self, text: str, zone: Zone, now: datetime, catalog: Catalog | None) -> None:
        self.text = text
        self.catalog = catalog
        self.zone = zone
        self.now = now.astimezone(zone)
        self.today = self.now.date()
        self.words = [
            Word(m.start(), m.end(), m.group(), m.group().lower())
            for m in re.finditer(r"\S+", text)
        ]
        self.kept: list[str] = []
        self.tokens: list[tuple[TokenKind, int, int]] = []
        self.warnings: list[str] = []
        self.priority: Priority | None = None
        self.tags: dict[str, str] = {}
        self.day: date | None = None
        self.clock: time | None = None
        self.exact: datetime | None = None  # "in 2 hours": the due, to the minute
        self.default_clock: time | None = None  # "tonight": unless a time is given
        self.remind_before: int | None = None  # "remind 30m before"
        self.remind_clock: time | None = None  # "remind 9am"
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

    def take(self, kind: TokenKind, i: int, j: int) -> int:
        self.tokens.append((kind, self.words[i].start, self.words[j - 1].end))
        return j - i

    def duplicate(self, kind: str, i: int, j: int) -> int:
        """A second date, time or repeat rule stays in the title, word for word (none of its
        words is read again): only the first one counts."""
        self.warn(f"Only the first {kind} is used; “{self.span(i, j)}” stays in the title")
        self.kept.extend(word.text for word in self.words[i:j])
        return j - i

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

    # Read by more than one rule (dates.py defines them)

    def date_phrase(self, i: int) -> tuple[int, DateSpec] | None:
        raise NotImplementedError

    def month_day_phrase(self, i: int) -> tuple[int, DateSpec] | None:
        raise NotImplementedError

    def clock_phrase(self, i: int, *, after_at: bool) -> tuple[int, time] | None:
        raise NotImplementedError
