"""Comment text as HTML: everything escaped, and http(s) addresses made into safe links.

Only `http://` and `https://` addresses become links (never `javascript:`, `data:` or any
other scheme), with `rel="noopener nofollow ugc"`; everything else, HTML included, is shown
as the text it is. Line breaks are kept by the stylesheet (`white-space: pre-wrap`)."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

# An address runs to the next space, quote or angle bracket; trailing punctuation that
# usually ends a sentence is left outside it.
_URL = re.compile(r"""https?://[^\s<>"'`]+""", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'"


def linkify(text: str) -> Markup:
    out: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        url = match.group(0)
        trimmed = url.rstrip(_TRAILING)
        # Keep a closing parenthesis that has its opening one inside the address.
        while url[len(trimmed) :].startswith(")") and trimmed.count("(") > trimmed.count(")"):
            trimmed += ")"
        if len(trimmed) <= len("https://"):
            continue
        start, end = match.start(), match.start() + len(trimmed)
        out.append(str(escape(text[last:start])))
        href = escape(trimmed)
        out.append(f'<a href="{href}" rel="noopener nofollow ugc">{href}</a>')
        last = end
    out.append(str(escape(text[last:])))
    return Markup("".join(out))  # noqa: S704 (every piece above is escaped)
