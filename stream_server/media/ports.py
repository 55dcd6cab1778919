"""A fixed UDP port range for the server's media (``udp_ports``, e.g. 40000-40999).

A city's firewall is opened one range at a time, so every host candidate the server offers
must use a port in the range. aioice has no option for it; :mod:`stream_server.media.seams`
swaps its host-socket gathering for one that asks a :class:`PortRange` for each socket,
and only while one of the server's own peers gathers (the room agent, which shares the
process in the tests, is not affected).

The kernel is the bookkeeper: a port is in use while a socket is bound to it, and it comes
back the moment the peer's ICE connection closes that socket. When every port is taken the
new peer fails at once with :class:`MediaPortsExhausted` (a ``503`` or a protocol ``error``,
never a hang).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
from collections.abc import Iterator

from stream_server.media import seams

logger = logging.getLogger(__name__)


class MediaPortsExhausted(Exception):
    """Every UDP port of the configured range is in use (on one of the host addresses)."""


class PortRange:
    """UDP ports ``low``..``high`` (both included), handed out round-robin."""

    def __init__(self, low: int, high: int) -> None:
        if not 1 <= low <= high <= 65535:
            raise ValueError(f"not a port range: {low}-{high}")
        self.low = low
        self.high = high
        self._next = low

    def __len__(self) -> int:
        return self.high - self.low + 1

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.low <= port <= self.high

    def __repr__(self) -> str:
        return f"{self.low}-{self.high}"

    def bind(self, address: str) -> socket.socket:
        """A non-blocking UDP socket bound to ``address`` and a free port of the range.

        Starts after the port handed out last, so a port just released is not reused at
        once (a late packet of the old peer would reach the new one). Raises
        :class:`MediaPortsExhausted` when none is free, and ``OSError`` when the address
        itself cannot be bound (aioice then skips it, as it does without a range).
        """
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        count = len(self)
        for step in range(count):
            port = self.low + (self._next - self.low + step) % count
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.bind((address, port))
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EADDRINUSE:
                    continue
                raise
            sock.setblocking(False)
            self._next = port + 1 if port < self.high else self.low
            return sock
        logger.warning("all %d UDP ports %s on %s are in use", count, self, address)
        raise MediaPortsExhausted(
            f"all {count} media ports ({self.low}-{self.high}) are in use; try again later"
        )

    @contextlib.contextmanager
    def gathering(self) -> Iterator[None]:
        """ICE host candidates gathered inside this block use ports of the range."""
        with seams.host_sockets_from(self.bind):
            yield


def port_range(ports: tuple[int, int] | None) -> PortRange | None:
    """The server's range from the ``udp_ports`` setting (None: any port, aioice's way)."""
    if ports is None:
        return None
    seams.install_host_socket_seam()
    return PortRange(*ports)
