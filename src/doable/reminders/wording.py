"""Reminders in words, for people: "30 minutes before the due time", "at 09:00 on Fri 11 Dec".

Pure. The edit page's reminder list, quick add's preview and its reminder phrases all read
from here, so a reminder is described the same way wherever it shows.
"""

from __future__ import annotations

from datetime import date, datetime

from doable.zones import Zone

_UNITS = ((7 * 86400, "week"), (86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


def amount(seconds: int) -> str:
    """A length of time: "30 minutes", "1 hour", "1 day and 2 hours"."""
    parts: list[str] = []
    rest = seconds
    for size, name in _UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count} {name}{'s' if count != 1 else ''}")
    if not parts:
        return "0 minutes"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def before(seconds: int) -> str:
    """A relative reminder: "at the due time", "30 minutes before the due time"."""
    if seconds == 0:
        return "at the due time"
    return f"{amount(seconds)} before the due time"


def at(instant: datetime, zone: Zone, *, today: date | None = None) -> str:
    """An absolute reminder in the user's zone: "at 09:00 on Fri 11 Dec" (with the year when
    it is not `today`'s)."""
    local = instant.astimezone(zone)
    text = f"at {local:%H:%M} on {local:%a %-d %b}"
    if today is not None and local.year != today.year:
        text += f" {local.year}"
    return text


def sentence(words: str) -> str:
    """The phrase as a sentence's start: "At the due time"."""
    return words[:1].upper() + words[1:]


def due(due_at: datetime | None, due_date: date | None, zone: Zone) -> str:
    """A task's due in the user's zone, days unpadded as the task list writes them ("Thu 3
    Dec, 09:00", or "Thu 3 Dec" for a date); empty for no due. Reminders and agendas."""
    if due_at is not None:
        local = due_at.astimezone(zone)
        return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"
    if due_date is not None:
        return f"{due_date:%a} {due_date.day} {due_date:%b}"
    return ""
