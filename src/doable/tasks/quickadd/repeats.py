"""Quick add's repeat rules: `every 3 days`, `every mon, thu`, `every! 2 weeks` into RRULEs."""

from __future__ import annotations

from doable.tasks.quickadd.base import Mode, ReaderBase, Recurrence
from doable.tasks.quickadd.vocabulary import (
    DAY_NAMES,
    DIGITS,
    MAX_INTERVAL,
    MONTH_NAMES,
    ORDINAL,
    ORDINAL_WORDS,
    REPEAT_UNITS,
    RRULE_DAYS,
    START_WORDS,
    SUBDAILY_UNITS,
    WEEKDAYS,
    byday,
    day_words,
    ordinal,
)


class RepeatRules(ReaderBase):
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
        if DIGITS.fullmatch(w):
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
                        f"FREQ=WEEKLY{rule_interval};BYDAY={byday(found)}",
                        f"{every}week{plural} on {day_words(found)}",
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
            k = j + 1
            found_day = self.month_day_phrase(k + 1) if self.low(k) == "on" else None
            if found_day is not None and found_day[1].month_day is not None:
                used, (month, day) = found_day[0], found_day[1].month_day
                return (
                    k + 1 + used - i,
                    f"FREQ=YEARLY{rule_interval};BYMONTH={month};BYMONTHDAY={day}",
                    f"{every}year{plural} on {day} {MONTH_NAMES[month - 1]}",
                )
            return k - i, f"FREQ=YEARLY{rule_interval}", f"{every}year{plural}"
        if unit in SUBDAILY_UNITS:
            # Refused on purpose (docs/quick-add.md, "Hourly repeats").
            self.warn(
                f"Repeats are daily at the finest: “{self.span(i - 1, j + 1)}” stays in the"
                " title (a reminder can nudge you within a day)"
            )
            return None
        if j != i:
            return None  # "every 3" or "every other" with nothing we know after it
        if unit in {"weekday", "weekdays", "workday", "workdays"}:
            return 1, "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "every weekday (Monday to Friday)"
        if unit in {"weekend", "weekends"}:
            return 1, "FREQ=WEEKLY;BYDAY=SA,SU", "every weekend (Saturday and Sunday)"
        days = self.weekday_list(i)
        if days is not None:
            used, found = days
            return used, f"FREQ=WEEKLY;BYDAY={byday(found)}", f"every {day_words(found)}"
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
            m = ORDINAL.fullmatch(w)
            if m is None or not 1 <= int(m.group(1)) <= 5:
                return None
            n = int(m.group(1))
        weekday = WEEKDAYS.get(self.low(i + 1))
        if weekday is None:
            return None
        words = f"{'last' if n == -1 else ordinal(n)} {DAY_NAMES[weekday]}"
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
        m = ORDINAL.fullmatch(w)
        if m and 1 <= int(m.group(1)) <= 31:
            day = int(m.group(1))
            return j - i + 1, f"BYMONTHDAY={day}", f"the {ordinal(day)}"
        return None
