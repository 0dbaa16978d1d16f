"""Rate strings ("30/minute", "10 per 2 hours"), read as the `limits` library reads them.

Not `limits.parse`: importing `limits` imports its asynchronous storages, `deprecated` and
`wrapt` with it, 1.5 MB of an idle server's memory (docs/performance.md, round 14), when the
counters of a server on its database only need the amount and the period. `limits` is imported
by the counters that run its strategies, when they first count: Redis's, and the one in memory
(CLI commands, and SQLite's fallback). A `Rate` names its bucket as `limits` does
(`key_for`), so the stored counts of a server that upgrades carry over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from limits import RateLimitItem

# limits.util's grammar: an amount, "/" or "per", an optional multiple and a unit; several
# rates may be joined by "," ";" or "|", and the first one counts (as limits.parse answers).
_SINGLE = r"\s*([0-9]+)\s*(/|\s*per\s*)\s*([0-9]+)?\s*([a-z]+)\s*"
_SEPARATOR = re.compile(r"[,;|]{1}")
_ONE = re.compile(_SINGLE, re.IGNORECASE)
_MANY = re.compile(rf"^{_SINGLE}(:?[,;|]{{1}}{_SINGLE})*$", re.IGNORECASE)
# The seconds of each unit, as limits counts them (a month is 30 days, a year 12 of those).
SECONDS = {
    "year": 60 * 60 * 24 * 30 * 12,
    "month": 60 * 60 * 24 * 30,
    "day": 60 * 60 * 24,
    "hour": 60 * 60,
    "minute": 60,
    "second": 1,
}


@dataclass(frozen=True)
class Rate:
    """At most `amount` hits in `multiples` of `unit` (10 in 2 minutes)."""

    amount: int
    multiples: int
    unit: str

    def get_expiry(self) -> int:
        """The period, in seconds."""
        return SECONDS[self.unit] * self.multiples

    def key_for(self, key: str) -> str:
        """The bucket `limits` names for `key` under this rate."""
        return f"LIMITER/{key}/{self.amount}/{self.multiples}/{self.unit}"

    @cached_property
    def item(self) -> RateLimitItem:
        """The same rate as `limits` holds it, for its strategies (imports `limits`)."""
        import limits

        return limits.parse(f"{self.amount}/{self.multiples} {self.unit}")


def _unit(name: str) -> str:
    for unit in SECONDS:
        if name.lower() in {unit, f"{unit}s"}:
            return unit
    raise ValueError(f"no granularity matched for {name}")


def _rate(part: str) -> Rate:
    match = _ONE.match(part)
    assert match is not None  # _MANY matched the whole text
    amount, _, multiples, unit = match.groups()
    return Rate(int(amount), int(multiples or 1) or 1, _unit(unit))


def parse(text: str) -> Rate:
    """The first rate of `text`; ValueError, as limits.parse raises, if `text` is not rates
    (every one of them is read, as limits reads them, though only the first counts)."""
    if not (isinstance(text, str) and _MANY.match(text)):
        raise ValueError(f"couldn't parse rate limit string '{text}'")
    first, *_others = [_rate(part) for part in _SEPARATOR.split(text)]  # each one is read
    return first
