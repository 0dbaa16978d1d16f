"""Order keys for hand-sorted lists: projects, sections and the tasks of one list.

A position is a string; siblings sort by it byte for byte (`key_string` columns, so MySQL's
collation does not fold case). Placing an item between two neighbours makes a key strictly
between theirs, so a move writes one row, never the rows around it (fractional indexing:
https://observablehq.com/@dgreenspan/implementing-fractional-indexing).

Keys use the digits 0-9a-z and never end in "0": between any two distinct keys there is then
always another. Keys grow by about one character each time the same gap is halved; once a key
would pass `MAX_LENGTH`, the caller rebalances the list (`spread`) and places again.

Appends to a list run side by side (tasks/tree.py): two may read the same last key, so each
adds `TIEBREAK` random digits to the key it computed (`tiebroken`), and both keys stay distinct
and after every key they read.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
BASE = len(DIGITS)
_INDEX = {c: i for i, c in enumerate(DIGITS)}
# A key longer than this asks for a rebalance; the column holds 64.
MAX_LENGTH = 48


class KeyError_(ValueError):
    """A malformed key or neighbours out of order: a programming error, never user input."""


def _check(key: str) -> None:
    if not key or key[-1] == "0" or any(c not in _INDEX for c in key):
        raise KeyError_(f"not a position key: {key!r}")


def _midpoint(low: str, high: str | None) -> str:
    """A key strictly between `low` ("" = the start) and `high` (None = the end)."""
    if high is not None:
        # Skip the common prefix (padding `low` with zeros).
        n = 0
        while n < len(high) and (low[n] if n < len(low) else "0") == high[n]:
            n += 1
        if n > 0:
            return high[:n] + _midpoint(low[n:], high[n:])
    digit_low = _INDEX[low[0]] if low else 0
    digit_high = _INDEX[high[0]] if high is not None else BASE
    if digit_high - digit_low > 1:
        return DIGITS[(digit_low + digit_high) // 2]
    # Adjacent first digits: keep low's digit and go one level deeper.
    if high is not None and len(high) > 1:
        return high[:1]
    return DIGITS[digit_low] + _midpoint(low[1:], None)


# Appending or prepending steps the first HEAD characters, read as a number, by one, so a list
# that only grows at one end keeps keys of HEAD characters for about 23,000 items.
HEAD = 3
FIRST = "i"


def _step(key: str, delta: int) -> str | None:
    n = int(key[:HEAD].ljust(HEAD, "0"), BASE)
    while True:
        n += delta
        if not 0 < n < BASE**HEAD:
            return None
        if n % BASE:  # never end in "0"
            break
    return _digits(n, HEAD)


def _digits(n: int, width: int) -> str:
    """`n` written in `width` base-36 digits, the most significant first."""
    digits = []
    for _ in range(width):
        n, r = divmod(n, BASE)
        digits.append(DIGITS[r])
    return "".join(reversed(digits))


def between(before: str | None, after: str | None) -> str:
    """A key that sorts after `before` and before `after` (None: open on that side; a
    `before` of "" (a row written before it had a key) counts as the start)."""
    before = before or None
    if before is not None:
        _check(before)
    if after is not None:
        _check(after)
        if before is not None and not before < after:
            raise KeyError_(f"keys out of order: {before!r} !< {after!r}")
    if before is None and after is None:
        return FIRST
    if after is None:
        assert before is not None
        return _step(before, 1) or _midpoint(before, None)
    if before is None:
        return _step(after, -1) or _midpoint("", after)
    return _midpoint(before, after)


def spread(count: int) -> Iterator[str]:
    """`count` evenly spaced keys in ascending order, all of one length: a rebalance."""
    width = 1
    while BASE**width <= count * 2:
        width += 1
    step = BASE**width // (count + 1)
    for i in range(1, count + 1):
        key = _digits(step * i, width).rstrip("0")
        yield key or DIGITS[1]


def too_long(key: str) -> bool:
    return len(key) > MAX_LENGTH


# Random digits after an appended key: two appends that read the same last key get the same
# key before them, and the same digits after them once in about 36**5 * 35 (2.1e9) pairs.
TIEBREAK = 6
_TIEBREAK_CHOICES = BASE ** (TIEBREAK - 1) * (BASE - 1)


def tiebroken(key: str) -> str:
    """`key` followed by `TIEBREAK` random digits (the last never "0"): still after every key
    that `key` is after, and before every key that `key` is before and does not prefix."""
    _check(key)
    # One draw for all of them, rather than one read of the OS's randomness per digit.
    drawn, last = divmod(secrets.randbelow(_TIEBREAK_CHOICES), BASE - 1)
    return key + _digits(drawn, TIEBREAK - 1) + DIGITS[1 + last]
