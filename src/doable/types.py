"""Annotated string types shared by schemas: trimmed, length-checked, and never containing NUL."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, StringConstraints


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text; refuse it everywhere so backends agree.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


NoNulStr = Annotated[str, AfterValidator(_no_nul)]


# Add to any str Annotated; trimming is StringConstraints(strip_whitespace=True), which runs
# before its length checks (a separate BeforeValidator would turn them into generic checks).
NO_NUL = AfterValidator(_no_nul)


_ZONES: frozenset[str] | None = None


def _check_timezone(value: str) -> str:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    if value not in _ZONES and value != "UTC":
        raise ValueError("must be an IANA time zone name such as Europe/Paris")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("must be an IANA time zone name such as Europe/Paris") from exc
    return value


TimeZoneName = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(_check_timezone)
]
