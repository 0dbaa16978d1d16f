"""Finding lone UTF-16 surrogates in request text before anything decodes it.

A string holding one (JSON's `"\\ud800"`, or `%ED%A0%80` in a query or form) cannot be encoded
as UTF-8: the password hasher, every database driver and the JSON renderer fail on it. So the
edge refuses the request (middleware.RequestContextMiddleware) instead of each field checking.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

MESSAGE = (
    "Text must be valid Unicode: a \\uD800-\\uDFFF escape must be one half of a surrogate pair"
)
QUERY_MESSAGE = "The query string must be UTF-8 once percent-decoded"
FORM_MESSAGE = "The form must be UTF-8 once percent-decoded"

_HIGH = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}")
_LOW = re.compile(rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}")
# In text where every backslash starts an escape: a high half with no low half right after it,
# or a low half with no high half right before it. Both open with `\\u`, which the search
# skips ahead to at C speed.
_LONE = re.compile(
    rb"\\u(?:[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2}\\u)[dD][c-fC-F][0-9a-fA-F]{2})"
)
# A high half and the low half after it: the most an escape may need to be judged.
_PAIR = 12


class JsonEscapeScanner:
    """Reads a JSON body chunk by chunk and says whether a `\\u` escape decodes to a lone
    surrogate. Each chunk costs three C-speed passes (a replace, a find, a regular expression
    search), never a Python step per byte or per escape."""

    def __init__(self) -> None:
        self._carry = b""  # the tail of the last chunk, from an escape it could not judge yet
        self._after_high = False  # that tail follows a high half directly

    def feed(self, chunk: bytes, *, more: bool) -> bool:
        """True once a lone surrogate is seen; `more` says whether chunks follow."""
        data = self._carry + chunk if self._carry else chunk
        # Every chunk starts where an escape may start, so replacing each `\\` (an escaped
        # backslash) from the left leaves a backslash only where an escape starts; the length
        # stays, so positions in `clean` are positions in `data`.
        clean = data.replace(b"\\\\", b"__")
        end = len(clean)
        if more:
            # Escapes too close to the end for a low half after them to be seen wait for the
            # next chunk.
            tail = clean.find(b"\\", max(0, end - _PAIR + 1))
            end = tail if tail >= 0 else end
        start = 6 if self._after_high and _LOW.match(clean) else 0
        found = _LONE.search(clean, start)
        if found is not None and found.start() < end:
            return True
        if end:  # else the tail starts where it did, after what it did
            self._after_high = end >= 6 and _HIGH.match(clean, end - 6) is not None
        self._carry = data[end:]
        return False


def percent_decoded_is_utf8(text: bytes) -> bool:
    """Whether a query string or urlencoded form decodes to UTF-8, which has no surrogates."""
    if b"%" not in text and text.isascii():
        return True
    try:
        unquote_to_bytes(text.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
