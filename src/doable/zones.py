"""Time zones: the one place that turns a zone name into a `ZoneInfo` (ruff bans it elsewhere)."""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# The type for annotations. Build one with `zone_of`, never by calling this.
Zone = ZoneInfo
UTC = ZoneInfo("UTC")


def _load(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # Unknown ("Mars/Base"), malformed ("../x", NUL) or a folder of the database ("Europe").
        return None


def zone_of(name: str | None) -> ZoneInfo:
    """The zone by IANA name, or UTC. Names are checked when they are set (types.TimeZoneName),
    so an unknown one comes from outside the API (a tz database update that dropped it, a
    row edited by hand, an imported file); it reads as UTC rather than failing requests."""
    return (_load(name) if name else None) or UTC


@cache
def time_zone_names() -> frozenset[str]:
    """The IANA zone names of the installed tz database that load (once, cached)."""
    # "localtime" is whatever the host is set to, not a zone.
    names = {*available_timezones(), "UTC"} - {"localtime"}
    return frozenset(name for name in names if len(name) <= 64 and _load(name) is not None)


def is_known(name: str) -> bool:
    """Whether `name` is a zone a user may choose."""
    return name in time_zone_names()
