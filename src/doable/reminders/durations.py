"""ISO 8601 durations for relative reminders: weeks, days, hours, minutes and seconds."""

from __future__ import annotations

import re

# PnW, or PnDTnHnMnS with at least one part. Years and months are refused: their length
# depends on the calendar, and "a month before" is not a fixed offset.
_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d{1,4})W|(?:(?P<days>\d{1,4})D)?"
    r"(?:T(?:(?P<hours>\d{1,5})H)?(?:(?P<minutes>\d{1,6})M)?(?:(?P<seconds>\d{1,8})S)?)?)$"
)
MAX_OFFSET_SECONDS = 366 * 86400


class DurationError(ValueError):
    pass


def parse_duration(text: str) -> int:
    """Seconds in `text` (e.g. "PT30M" is 1800). Raises DurationError with a readable reason."""
    if not isinstance(text, str) or len(text) > 40:
        raise DurationError("must be an ISO 8601 duration such as PT30M, PT2H or P1D")
    value = text.strip().upper()
    if value.startswith("-"):
        raise DurationError("must not be negative: a reminder comes before the due time")
    match = _DURATION.fullmatch(value)
    if match is None or value in {"P", "PT"} or value.endswith("T"):
        if re.fullmatch(r"P(\d+Y)?(\d+M)?(\d+[WD])?(T.*)?", value) and re.search(
            r"\d+[Y]|P(\d+Y)?\d+M", value
        ):
            raise DurationError("years and months are not supported; use weeks or days")
        raise DurationError("must be an ISO 8601 duration such as PT30M, PT2H or P1D")
    parts = {k: int(v) for k, v in match.groupdict().items() if v is not None}
    seconds = (
        parts.get("weeks", 0) * 7 * 86400
        + parts.get("days", 0) * 86400
        + parts.get("hours", 0) * 3600
        + parts.get("minutes", 0) * 60
        + parts.get("seconds", 0)
    )
    if seconds > MAX_OFFSET_SECONDS:
        raise DurationError("must be at most 366 days")
    return seconds


def format_duration(seconds: int) -> str:
    """The canonical ISO 8601 form of an offset: P1D, PT30M, P1DT2H, PT0S."""
    if seconds == 0:
        return "PT0S"
    if seconds % (7 * 86400) == 0:
        return f"P{seconds // (7 * 86400)}W"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    out = "P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    clock += f"{secs}S" if secs else ""
    return out + ("T" + clock if clock else "")
