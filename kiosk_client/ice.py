"""ICE settings for the client: which STUN/TURN servers, which local addresses, how fast a
dead server is noticed.

Kept self-contained (room PCs install only the client), mirroring
``stream_server.media.ice``: aioice reads these module-level hooks when it gathers and while
it checks consent, so they are process-wide, installed once from the configuration.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

_ORIGINAL: Callable[..., list[str]] = aioice.ice.get_host_addresses


def restrict_host_addresses(addresses: Sequence[str]) -> None:
    """Gather host candidates only from ``addresses``; empty restores every interface."""
    if not addresses:
        aioice.ice.get_host_addresses = _ORIGINAL
        return
    chosen = [ipaddress.ip_address(a.strip()) for a in addresses]

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [
            str(a) for a in chosen if (use_ipv4 and a.version == 4) or (use_ipv6 and a.version == 6)
        ]

    aioice.ice.get_host_addresses = get_host_addresses


def set_consent(interval: float, failures: int) -> None:
    """How quickly a vanished server is noticed: about ``interval * failures`` seconds
    (aioice's default is 5 s × 6). A room PC should notice a restarted server quickly."""
    aioice.ice.CONSENT_INTERVAL = interval  # type: ignore[assignment]  # used as seconds
    aioice.ice.CONSENT_FAILURES = failures


def rtc_configuration(servers: Sequence[Mapping[str, Any]]) -> RTCConfiguration:
    """Always an explicit list: with none, aiortc would contact a public STUN server."""
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in servers
        ]
    )
