"""Envelopes: a batch of events as one small JSON text, under PostgreSQL's 8 KB NOTIFY cap.

An envelope carries ids, never content (`task` events: action, id, version); a receiving
process re-reads what a stream needs, scoped to that stream's user. An event too big to fit is
sent as a `resync` for its user instead, which makes that user's streams fetch afresh.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from doable.events import Event

log = logging.getLogger("doable.relay")

# NOTIFY refuses payloads of 8000 bytes or more; stay well under it.
MAX_PAYLOAD_BYTES = 7000
KINDS = frozenset(
    {"task", "comment", "notification", "revoked", "reminders", "resync", "membership", "user"}
)
_SCALARS = (str, int, float, bool, type(None))


def _encode_event(item: Event) -> list[Any]:
    return [item.kind, str(item.owner_id) if item.owner_id else None, item.data]


def pack(origin: str, items: list[Event], sent_at: float = 0.0) -> list[str]:
    """`items` as envelopes of at most MAX_PAYLOAD_BYTES each; `sent_at` (Unix time) lets
    the receivers measure how long the events took to reach them."""
    envelopes: list[str] = []
    batch: list[str] = []
    size = 0
    overhead = len(json.dumps({"o": origin, "t": sent_at, "e": []}))
    for item in items:
        text = json.dumps(_encode_event(item), separators=(",", ":"))
        if len(text.encode()) + overhead + 1 > MAX_PAYLOAD_BYTES:
            text = json.dumps(["resync", str(item.owner_id) if item.owner_id else None, {}])
        if batch and size + len(text.encode()) + 1 + overhead > MAX_PAYLOAD_BYTES:
            envelopes.append(_join(origin, sent_at, batch))
            batch, size = [], 0
        batch.append(text)
        size += len(text.encode()) + 1
    if batch:
        envelopes.append(_join(origin, sent_at, batch))
    return envelopes


def _join(origin: str, sent_at: float, texts: list[str]) -> str:
    head = '{"o":' + json.dumps(origin) + ',"t":' + json.dumps(sent_at)
    return head + ',"e":[' + ",".join(texts) + "]}"


def sent_at(payload: str | bytes) -> float | None:
    """When the envelope was sent (Unix time), if it says."""
    try:
        value = json.loads(payload).get("t")
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) and value > 0 else None


def unpack(payload: str | bytes) -> tuple[str, list[Event]]:
    """The origin and events of an envelope; events that do not parse are left out (and
    logged), so a stray message on the channel cannot break the receiving loop."""
    try:
        body = json.loads(payload)
        origin = body["o"]
        raw = body["e"]
        if not isinstance(origin, str) or not isinstance(raw, list):
            raise ValueError("bad envelope")
    except (ValueError, KeyError, TypeError):
        log.warning("relay: ignored a malformed envelope")
        return "", []
    items: list[Event] = []
    for entry in raw:
        try:
            kind, owner, data = entry
            if kind not in KINDS or not isinstance(data, dict):
                raise ValueError(kind)
            if not all(isinstance(k, str) and isinstance(v, _SCALARS) for k, v in data.items()):
                raise ValueError("data")
            items.append(Event(kind, uuid.UUID(owner) if owner else None, data))
        except (ValueError, TypeError):
            log.warning("relay: ignored a malformed event")
    return origin, items
