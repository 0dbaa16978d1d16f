"""Finding lone UTF-16 surrogates in request text before anything decodes it.

A string holding one (JSON's `"\\ud800"`, or `%ED%A0%80` in a query or form) cannot be encoded
as UTF-8: the password hasher, every database driver and the JSON renderer fail on it. So the
edge refuses the request (middleware.RequestContextMiddleware) instead of each field checking.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

MESSAGE = (
    "Text must be valid Unicode: a \\uD800-\\uDFFF escape must be one half of a surrogate pair"
)
QUERY_MESSAGE = "The query string must be UTF-8 once percent-decoded"
FORM_MESSAGE = "The form must be UTF-8 once percent-decoded"

_BACKSLASH = ord("\\")
_U = ord("u")


class JsonEscapeScanner:
    """Reads a JSON body chunk by chunk and says whether a `\\u` escape decodes to a lone
    surrogate. Only backslashes are looked at, so a body without escapes costs one `find`."""

    def __init__(self) -> None:
        self._carry = b""  # an escape cut by the end of the previous chunk
        self._high = False  # the last escape was a high surrogate, waiting for its low half

    def feed(self, chunk: bytes, *, more: bool) -> bool:
        """True once a lone surrogate is seen; `more` says whether chunks follow."""
        data = self._carry + chunk if self._carry else chunk
        pos, high, size = 0, self._high, len(data)
        while True:
            at = data.find(b"\\", pos)
            if high and at != pos:
                if pos == size and more:
                    break  # the low half may open the next chunk
                return True  # a high half followed by anything but an escape
            if at < 0:
                pos = size
                break
            if at + 1 >= size or (data[at + 1] == _U and at + 6 > size):
                pos = at  # the escape ends in the next chunk
                break
            if data[at + 1] != _U:
                if high:
                    return True  # \\, \", \n, …: the high half stays alone
                pos = at + 2
                continue
            try:
                code = int(data[at + 2 : at + 6], 16)
            except ValueError:
                code = -1  # not an escape JSON accepts: its parser refuses it
            is_low = 0xDC00 <= code <= 0xDFFF
            if high != is_low:
                return True  # a low half with no high one before it, or a high one without
            high = 0xD800 <= code <= 0xDBFF
            pos = at + 6
        self._carry, self._high = data[pos:], high
        return high and not more


def percent_decoded_is_utf8(text: bytes) -> bool:
    """Whether a query string or urlencoded form decodes to UTF-8, which has no surrogates."""
    if b"%" not in text and text.isascii():
        return True
    try:
        unquote_to_bytes(text.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
