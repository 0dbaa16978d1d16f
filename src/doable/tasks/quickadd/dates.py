"""Quick add's dates and times: `tomorrow`, `next friday`, `dec 5`, `in 3 days`, `at 5pm`."""

from __future__ import annotations

from datetime import UTC, date, time, timedelta

from dateutil.relativedelta import relativedelta

from doable.tasks.quickadd.base import DateSpec, ReaderBase
from doable.tasks.quickadd.vocabulary import (
    ARTICLES,
    CLOCK_12,
    CLOCK_24,
    CLOCK_UNITS,
    DATE_PREPOSITIONS,
    DAY,
    DIGITS,
    HOUR,
    ISO_DATE,
    MAX_IN_SECONDS,
    MAX_YEAR,
    MIN_YEAR,
    MONTHS,
    ORDINAL,
    TONIGHT,
    WEEKDAYS,
    YEAR,
    days_in,
    days_in_month,
    twelve_hour,
)


class DateRules(ReaderBase):
    # Dates

    def date_at(self, i: int) -> int:
        start = i
        found = None
        if self.low(i) in DATE_PREPOSITIONS:
            i += 1
            # "on the 15th", "by the 5th of may", "due 1st": only after a preposition, so
            # "the 15th chapter" or "1st draft" stays in the title.
            k = i + 1 if self.low(i) == "the" else i
            found = self.month_day_at(k) or self.day_of_month(k)
            if found is not None:
                i = k
        found = found or self.date_phrase(i)
        if found is None:
            return 0
        length, spec = found
        j = i + length
        if self.day is not None or (spec.at is not None and self.clock is not None):
            return self.duplicate("date", start, j)
        resolved = self.resolve(spec, self.span(i, j))
        if resolved is None:
            return 0
        self.day = resolved
        if spec.at is not None:  # "in 2 hours": a moment, the time included
            self.exact, self.clock = spec.at, spec.at.time()
        self.default_clock = spec.clock
        return self.take("date", start, j)

    def day_of_month(self, i: int) -> tuple[int, DateSpec] | None:
        """The next such day of the month, today included: "15th" (after "on the")."""
        m = ORDINAL.fullmatch(self.low(i))
        if m is None or not 1 <= int(m.group(1)) <= 31:
            return None
        day = int(m.group(1))
        first = self.today.replace(day=1)
        for ahead in range(13):  # the 31st: the next month that has one
            month = first + relativedelta(months=ahead)
            if day <= days_in_month(month.year, month.month):
                candidate = month.replace(day=day)
                if candidate >= self.today:
                    return 1, DateSpec(candidate)
        return None  # pragma: no cover - a month with that day comes within a year

    def resolve(self, spec: DateSpec, written: str) -> date | None:
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

    def date_phrase(self, i: int) -> tuple[int, DateSpec] | None:
        """(words used, date) for a date phrase starting at word i."""
        w = self.low(i)
        if not w:
            return None
        if w == "today":
            return 1, DateSpec(self.today)
        if w == "tomorrow":
            return 1, DateSpec(self.today + timedelta(days=1))
        if w in WEEKDAYS and self.low(i - 1) not in ARTICLES:
            return 1, DateSpec(self.weekday_from(self.today, WEEKDAYS[w]))
        if w in {"next", "this"}:
            nxt = self.low(i + 1)
            if nxt in WEEKDAYS:
                if w == "this":
                    return 2, DateSpec(self.weekday_from(self.today, WEEKDAYS[nxt]))
                monday = self.today + timedelta(days=7 - self.today.weekday())
                return 2, DateSpec(monday + timedelta(days=WEEKDAYS[nxt]))
            if w == "next" and nxt == "week":
                return 2, DateSpec(self.today + timedelta(days=7 - self.today.weekday()))
            if nxt == "weekend":
                # This weekend: the coming Saturday, or today on a Sunday. Next weekend: the
                # Saturday of next week.
                if w == "this":
                    sunday = self.today.weekday() == 6
                    day = self.today if sunday else self.weekday_from(self.today, 5)
                else:
                    day = self.today + timedelta(days=12 - self.today.weekday())
                return 2, DateSpec(day)
            return None
        if w == "tonight":
            return 1, DateSpec(self.today, clock=TONIGHT)
        if w == "end" and self.low(i + 1) == "of":
            k = i + 3 if self.low(i + 2) == "the" else i + 2
            if self.low(k) == "month":
                last = days_in_month(self.today.year, self.today.month)
                return k + 1 - i, DateSpec(self.today.replace(day=last))
            if self.low(k) == "year":
                return k + 1 - i, DateSpec(self.today.replace(month=12, day=31))
            return None
        if w == "in":
            return self.in_phrase(i)
        m = ISO_DATE.fullmatch(w)
        if m:
            try:
                day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                self.warn(f"“{self.words[i].text}” is not a date")
                return None
            if not MIN_YEAR <= day.year <= MAX_YEAR:
                self.warn(f"“{self.words[i].text}”: the year must be {MIN_YEAR} to {MAX_YEAR}")
                return None
            return 1, DateSpec(day)
        return self.month_day_phrase(i)

    def in_phrase(self, i: int) -> tuple[int, DateSpec] | None:
        """in 3 days, in 2 weeks, in a month, in 1 year; in 2 hours, in 30 minutes."""
        amount_word, unit = self.low(i + 1), self.low(i + 2).removesuffix("s")
        unit = CLOCK_UNITS.get(unit, unit)
        if unit not in {"day", "week", "month", "year", "hour", "minute"}:
            return None
        if amount_word in {"a", "an"}:
            amount = 1
        elif DIGITS.fullmatch(amount_word):
            amount = int(amount_word)
        else:
            return None
        if unit in {"hour", "minute"}:
            seconds = amount * (3600 if unit == "hour" else 60)
            if seconds > MAX_IN_SECONDS:
                self.warn(f"“{self.span(i, i + 3)}” is too far away: write a date")
                return None
            # To the minute: "in 2 hours" at 10:41:37 is 12:41.
            # Counted in UTC, so exact across a DST change.
            at = (self.now.astimezone(UTC) + timedelta(seconds=seconds)).astimezone(self.zone)
            at = at.replace(second=0, microsecond=0)
            return 3, DateSpec(at.date(), at=at)
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
        return 3, DateSpec(day)

    def month_day_phrase(self, i: int) -> tuple[int, DateSpec] | None:
        """dec 5, december 5th, 5 dec, 5th of december; each with an optional year after."""
        if self.low(i - 1) in ARTICLES:
            return None
        return self.month_day_at(i)

    def month_day_at(self, i: int) -> tuple[int, DateSpec] | None:
        """A month and day at word i, whatever comes before it."""
        w = self.low(i)
        month = day = None
        used = 0
        if w in MONTHS:
            m = DAY.fullmatch(self.low(i + 1))
            if m:
                month, day, used = MONTHS[w], int(m.group(1)), 2
        else:
            m = DAY.fullmatch(w)
            if m:
                of = 1 if self.low(i + 1) == "of" and m.group(2) else 0
                if self.low(i + 1 + of) in MONTHS:
                    month, day, used = MONTHS[self.low(i + 1 + of)], int(m.group(1)), 2 + of
        if month is None or day is None:
            return None
        written = self.span(i, i + used)
        year_word = self.low(i + used)
        if YEAR.fullmatch(year_word) and MIN_YEAR <= int(year_word) <= MAX_YEAR:
            try:
                return used + 1, DateSpec(date(int(year_word), month, day))
            except ValueError:
                self.warn(f"“{self.span(i, i + used + 1)}” is not a date")
                return None
        if not 1 <= day <= 31 or (month == 2 and day > 29) or day > days_in(month):
            self.warn(f"“{written}” is not a date")
            return None
        return used, DateSpec(month_day=(month, day))

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
        m = CLOCK_12.fullmatch(w)
        if m is None and after_at and HOUR.fullmatch(w) and self.low(i + 1) in {"am", "pm"}:
            m = CLOCK_12.fullmatch(w + self.low(i + 1))
            if m is not None:
                clock = twelve_hour(m)
                return (2, clock) if clock is not None else None
        if m is not None:
            clock = twelve_hour(m)
            return (1, clock) if clock is not None else None
        m = CLOCK_24.fullmatch(w)
        if m is not None:
            hour, minute = int(m.group(1)), int(m.group(2))
            if hour <= 23 and minute <= 59:
                return 1, time(hour, minute)
            return None
        if after_at and HOUR.fullmatch(w) and int(w) <= 23:
            hour = int(w)
            if 1 <= hour <= 11:
                self.warn(
                    f"“at {self.words[i].text}” is read as {hour:02d}:00 on the 24-hour clock;"
                    f" write {hour}pm for the afternoon"
                )
            return 1, time(hour, 0)
        return None
