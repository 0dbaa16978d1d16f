"""The feed render cache: rendered components by a digest of what they are made of, bounded by
bytes (FEED_CACHE_BYTES), least recently used out first. Safe to share between worker threads."""

from __future__ import annotations

import threading
from collections import OrderedDict

# What an entry costs besides its key and value bytes: two bytes objects' headers (33 bytes
# each) and the ordered dict's slot and link (about 75 with tracemalloc), rounded up.
ENTRY_OVERHEAD = 200


class RenderCache:
    """Rendered components keyed by a short digest (never the task itself), so an entry weighs
    its rendered bytes plus a fixed overhead. A value larger than the whole budget is not kept;
    `max_bytes=0` turns the cache off."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[bytes, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def weight(key: bytes, value: bytes) -> int:
        return len(key) + len(value) + ENTRY_OVERHEAD

    def weight_now(self) -> int:
        """What the entries weigh now (keys, values and overhead); never above max_bytes."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> bytes | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: bytes, value: bytes) -> None:
        weight = self.weight(key, value)
        if weight > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= self.weight(key, old)
            self._entries[key] = value
            self._bytes += weight
            while self._bytes > self.max_bytes:
                oldest, dropped = self._entries.popitem(last=False)
                self._bytes -= self.weight(oldest, dropped)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
