"""Restricting which local addresses ICE gathers host candidates from.

aioice has no per-connection option for this: it calls the module-level
``aioice.ice.get_host_addresses`` when a connection gathers. So the restriction is
process-wide, installed once by the app (and by the kiosk agent) from configuration.
aioice leaves 127.0.0.1 out on its own; listing it here is how loopback-only tests work.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from stream_server.media import seams


def restrict_host_addresses(addresses: Sequence[str]) -> None:
    """Gather host candidates only from ``addresses``; an empty list restores every interface."""
    if not addresses:
        seams.set_host_address_lister(None)
        return
    chosen = [str(ipaddress.ip_address(a.strip())) for a in addresses]

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [
            a
            for a in chosen
            if (use_ipv4 and ipaddress.ip_address(a).version == 4)
            or (use_ipv6 and ipaddress.ip_address(a).version == 6)
        ]

    seams.set_host_address_lister(get_host_addresses)


def current_host_addresses() -> list[str]:
    """What ICE would gather now (for logs and the startup banner)."""
    return seams.host_addresses()
