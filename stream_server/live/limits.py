"""Caps and throttles on joining, per server and per client address (pure; no I/O).

A probe from one address opened 40 WHEP viewers in 0.4 s (file descriptors 31 → 110) and
tried 3,687 guessed join codes a second. Here:

* :class:`PeerBudget` caps the WebRTC peer connections of the server (``max_peers``, else
  503 ``server_busy``) and of one address (``max_peers_per_address``, else 429
  ``rate_limited``). A peer holds its share from its offer until it closes, connected or not:
  file descriptors are spent either way.
* :class:`AddressBuckets` is a token bucket per address: joins (WHEP, the signaling ``join``,
  ``/j/{code}`` pages) and failed join codes are each limited per minute.

Addresses are strings from the web layer's ``client_address`` (``trusted_proxies`` decides
whether ``X-Forwarded-For`` is believed); they are kept in memory only, never logged, and
forgotten once their bucket is full again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from stream_server.errors import TooManyRequests, Unavailable

#: File descriptors one peer connection holds (ICE sockets, DTLS, the signaling socket).
FDS_PER_PEER = 5


def peers_the_file_limit_holds(open_file_limit: int) -> int:
    """Peers that fit in ``open_file_limit`` descriptors, keeping a tenth (at least 64) for
    the database, the listening sockets and plain HTTP requests."""
    margin = max(64, open_file_limit // 10)
    return max(0, (open_file_limit - margin) // FDS_PER_PEER)


class AddressBuckets:
    """One token bucket per address: ``per_minute`` tokens a minute, at most ``burst`` saved.

    ``per_minute`` 0 means no limit. Full buckets are forgotten, so memory holds only the
    addresses that were active in the last ``burst / rate`` seconds.
    """

    def __init__(
        self,
        per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = 100_000,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(1, burst))
        self._clock = clock
        self._max = max_addresses
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, at)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def _tokens(self, address: str, now: float) -> float:
        tokens, at = self._buckets.get(address, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def wait(self, address: str) -> float:
        """Seconds until ``address`` has a token again (0: it has one now)."""
        if not self.enabled:
            return 0.0
        tokens = self._tokens(address, self._clock())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def take(self, address: str) -> float:
        """Spend a token; returns 0, or the seconds to wait when there is none (not spent)."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        tokens = self._tokens(address, now)
        if tokens < 1:
            return (1 - tokens) / self.rate
        if len(self._buckets) >= self._max:
            self._forget_full(now)
        self._buckets[address] = (tokens - 1, now)
        return 0.0

    def _forget_full(self, now: float) -> None:
        self._buckets = {
            address: (tokens, at)
            for address, (tokens, at) in self._buckets.items()
            if min(self.burst, tokens + (now - at) * self.rate) < self.burst
        }
        if len(self._buckets) >= self._max:  # a flood of new addresses: start afresh
            self._buckets.clear()

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after(seconds: float) -> int:
    return max(1, math.ceil(seconds))


class PeerBudget:
    """How many peer connections the server, and each address, may hold at once."""

    def __init__(self, max_peers: int, per_address: int) -> None:
        self.max_peers = max_peers
        self.per_address = per_address
        self.total = 0
        self._by_address: dict[str, int] = {}

    def acquire(self, address: str) -> Callable[[], None]:
        """Take one peer's share; returns the (idempotent) release. Raises 503
        ``server_busy`` at the server's cap, 429 ``rate_limited`` at the address's."""
        if self.max_peers and self.total >= self.max_peers:
            raise Unavailable(
                "the server is at its limit of connections; try again in a minute",
                code="server_busy",
            )
        held = self._by_address.get(address, 0)
        if self.per_address and held >= self.per_address:
            raise TooManyRequests(
                f"too many connections from one address (at most {self.per_address})",
                retry_after=30,
            )
        self.total += 1
        self._by_address[address] = held + 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self.total -= 1
            left = self._by_address.get(address, 1) - 1
            if left > 0:
                self._by_address[address] = left
            else:
                self._by_address.pop(address, None)

        return release

    def held_by(self, address: str) -> int:
        return self._by_address.get(address, 0)


class JoinLimits:
    """The server's caps and throttles on joining, from its settings."""

    def __init__(
        self,
        *,
        max_peers: int,
        max_peers_per_address: int,
        joins_per_minute: int,
        code_failures_per_minute: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.peers = PeerBudget(max_peers, max_peers_per_address)
        self.joins = AddressBuckets(joins_per_minute, max(1, max_peers_per_address), clock)
        self.code_failures = AddressBuckets(
            code_failures_per_minute, max(1, code_failures_per_minute), clock
        )

    def join(self, address: str) -> None:
        """A join from ``address`` (WHEP, the signaling ``join``, a ``/j/`` page): 429 when it
        has joined too often, or has tried too many wrong codes lately."""
        self.check_codes(address)
        wait = self.joins.take(address)
        if wait:
            raise TooManyRequests(
                "too many joins from one address; wait a moment", retry_after=retry_after(wait)
            )

    def check_codes(self, address: str) -> None:
        """429 while ``address`` has used up its wrong join codes (checked before looking one
        up, so a guesser learns nothing more)."""
        wait = self.code_failures.wait(address)
        if wait:
            raise TooManyRequests(
                "too many wrong join codes from one address; wait a moment",
                retry_after=retry_after(wait),
            )

    def code_failed(self, address: str) -> None:
        self.code_failures.take(address)
