"""Whose request is this: the client's address, also behind a reverse proxy.

Every part of the server that needs a client's address asks :func:`client_address`. Behind a
reverse proxy every request arrives from the proxy, which names the client in
``X-Forwarded-For`` (appending the address it saw to whatever the client sent). That header is
believed only from the proxies listed in the ``trusted_proxies`` setting, and only as far as
those proxies wrote it: reading from the right, the first address that is not itself a trusted
proxy is the client. Anything further left was written by the client and may be made up.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from aiohttp import web

from stream_server.web.keys import TRUSTED_PROXIES

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Stands for a peer without an IP address (a Unix socket).
UNKNOWN = "unknown"


def trusted_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """The ``trusted_proxies`` setting as networks (a bare address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)


def _parse(text: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(ip: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    return any(ip.version == net.version and ip in net for net in trusted)


def forwarded_client(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]
) -> str:
    """The client's address, given the direct peer's, the ``X-Forwarded-For`` header values
    (in the order received) and the trusted proxies."""
    hop = _parse(peer or "")
    if hop is None:
        return peer or UNKNOWN
    if not _trusted(hop, trusted):
        return str(hop)
    entries = [part for value in forwarded_for for part in value.split(",")]
    for entry in reversed(entries):
        ip = _parse(entry)
        if ip is None:
            break  # a trusted proxy wrote something unreadable: go no further than it
        hop = ip
        if not _trusted(ip, trusted):
            break
    return str(hop)


def client_address(request: web.Request) -> str:
    """The address of the client that made ``request`` (see the module docstring)."""
    trusted = request.app[TRUSTED_PROXIES]
    return forwarded_client(request.remote, request.headers.getall("X-Forwarded-For", []), trusted)
