"""The SSRF guard: which addresses a webhook may reach, checked on the addresses a name
resolves to at delivery time (the connection then goes to the checked address, so a name that
resolves differently a moment later, DNS rebinding, changes nothing)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# How a host name becomes addresses: (host, port) -> the addresses, as text.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's resolver (getaddrinfo, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class TargetRefused(Exception):
    """The URL may not be reached. The message is safe to store and show (no secret)."""


def is_public(ip: IPAddress) -> bool:
    """A globally routable unicast address: not loopback, private, link-local, shared
    (CGNAT), multicast, reserved or unspecified, including such an IPv4 address inside IPv6
    (mapped, 6to4, Teredo)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not is_public(embedded):
            return False
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


@dataclass(frozen=True)
class Target:
    """Where to connect: the checked address, plus the name for Host and TLS."""

    scheme: str
    host: str  # as written in the URL (a name or an address), for Host and SNI
    port: int
    address: IPAddress

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    def url_for(self, original: str) -> str:
        """The URL with its host replaced by the checked address."""
        parts = urlsplit(original)
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        netloc = f"{host}:{self.port}"
        return parts._replace(netloc=netloc).geturl()


def check_url_form(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL without credentials, else ValueError."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user name or password")
    if parts.fragment:
        raise ValueError("must not have a #fragment")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_literal(url: str, *, allow_private: bool) -> None:
    """At registration: refuse a URL whose host is a non-public address (names are checked
    when a delivery resolves them)."""
    _, host, _ = check_url_form(url)
    address = literal_address(host)
    if address is not None and not allow_private and not is_public(address):
        raise ValueError("must not point at a loopback, private, link-local or reserved address")


async def resolve(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> Target:
    """Resolve the URL's host now and pick the address to connect to. Every address the
    name has must be allowed: a name with one public and one private answer is refused.
    `resolver` is the system's unless a test hands its own."""
    try:
        scheme, host, port = check_url_form(url)
    except ValueError as exc:
        raise TargetRefused(f"URL {exc}") from None
    address = literal_address(host)
    if address is not None:
        addresses = [address]
    else:
        try:
            answers = await (resolver or system_resolver)(host, port)
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in answers]
        except (OSError, UnicodeError, ValueError):
            raise TargetRefused("the host name does not resolve") from None
        if not addresses:
            raise TargetRefused("the host name does not resolve")
    if not allow_private:
        for candidate in addresses:
            if not is_public(candidate):
                raise TargetRefused(
                    "the host resolves to a loopback, private, link-local or reserved address"
                )
    return Target(scheme, host, port, addresses[0])
