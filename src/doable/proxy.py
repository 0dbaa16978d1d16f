"""The client's address behind proxies (FORWARDED_ALLOW_IPS): what the per-IP limits key on.

A client can send any `X-Forwarded-For` it likes; each proxy appends the address it was
connected from. So only entries appended by proxies we trust are believed, read from the right:

- The connection's peer must be a trusted proxy, else the headers are ignored.
- A list of addresses or networks: walk the entries from the right, skipping trusted proxies;
  the first other one is the client. (If all are trusted, the leftmost, which a trusted proxy
  wrote.)
- `*` (a proxy whose address is unknown, such as a Hugging Face Space's): any peer is the
  proxy, and only the rightmost entry, the one that proxy appended, is the client. Never the
  leftmost: uvicorn's own handling of `*` takes that one, which the client chooses.
- Empty: no proxy; the peer is the client.

Replaces uvicorn's proxy-headers middleware (`doable serve` turns that off), so the in-process
app and the server agree.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_HOST_CHARS = 64


def _host_of(entry: str) -> str:
    """The address of one X-Forwarded-For entry: `1.2.3.4`, `1.2.3.4:56`, `[::1]:56`, `::1`."""
    entry = entry.strip()
    if entry.startswith("["):
        return entry[1:].partition("]")[0]
    if entry.count(":") == 1:
        return entry.partition(":")[0]
    return entry


KNOWN_HOSTS = 4096


class TrustedProxies:
    """FORWARDED_ALLOW_IPS parsed: `*`, or addresses and networks, comma-separated."""

    def __init__(self, setting: str) -> None:
        items = [item.strip() for item in setting.split(",") if item.strip()]
        self.any_peer = items == ["*"]
        self._networks: list[_Network] = []
        self._literals: set[str] = set()
        self._known: dict[str, bool] = {}
        for item in items if not self.any_peer else []:
            try:
                self._networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self._literals.add(item)  # e.g. a unix socket path

    def trusts(self, host: str | None) -> bool:
        if host is None:
            return False
        if self.any_peer:
            return True
        # Answers by host, as parsing the address was a twentieth of a small GET; at most
        # KNOWN_HOSTS of them (hosts in X-Forwarded-For are the client's to choose).
        if len(host) > MAX_HOST_CHARS:  # not an address: not worth keeping
            return self._trusts(host)
        known = self._known.get(host)
        if known is None:
            if len(self._known) >= KNOWN_HOSTS:
                self._known.clear()
            known = self._known[host] = self._trusts(host)
        return known

    def _trusts(self, host: str) -> bool:
        try:
            address: _Address = ipaddress.ip_address(host)
        except ValueError:
            return host in self._literals
        return any(address in network for network in self._networks)

    def client_from(self, forwarded_for: str) -> str | None:
        """The client address an `X-Forwarded-For` from a trusted peer gives, or None."""
        entries = [_host_of(e) for e in forwarded_for.split(",")]
        entries = [e for e in entries if e]
        if not entries:
            return None
        if self.any_peer:
            return entries[-1][:MAX_HOST_CHARS]
        for entry in reversed(entries):
            if not self.trusts(entry):
                return entry[:MAX_HOST_CHARS]
        return entries[0][:MAX_HOST_CHARS]


class ProxyHeadersMiddleware:
    """Sets the ASGI scope's client (and scheme) from the headers trusted proxies send."""

    def __init__(self, app: ASGIApp, trusted: str) -> None:
        self.app = app
        self.proxies = TrustedProxies(trusted)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            if self.proxies.trusts(peer[0] if peer else None):
                forwarded_for: list[str] = []
                proto: str | None = None
                for name, value in scope["headers"]:
                    if name == b"x-forwarded-for":
                        forwarded_for.append(value.decode("latin-1"))
                    elif name == b"x-forwarded-proto":
                        proto = value.decode("latin-1").strip().lower()
                if proto in {"http", "https"}:
                    scope["scheme"] = (
                        proto if scope["type"] == "http" else proto.replace("http", "ws")
                    )
                client = self.proxies.client_from(",".join(forwarded_for))
                if client is not None:
                    scope["client"] = (client, 0)
        await self.app(scope, receive, send)
