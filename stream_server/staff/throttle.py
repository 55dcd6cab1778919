"""Throttling failed staff logins (the domain: no aiohttp, no database, an injectable clock).

Two kinds of key are counted, each a streak of failures in a row:

- **a name and an address together.** After ``failures_before_backoff`` failures in a row
  (5 by default) the next attempt for that name from that address is refused for 30 s; each
  further failure once the back-off is over doubles it (60 s, 120 s, … up to 15 min). A success
  ends the streak. Because the address is part of the key, somebody guessing from elsewhere
  cannot lock a staff member out of their own account.
- **an address alone**, whatever the name (someone trying many names from one place), with a
  threshold :data:`ADDRESS_FACTOR` times higher (20 by default). It is higher on purpose: a
  whole library often reaches the server through one NAT address, and one person mistyping
  must not lock out everybody there. Only time ends this streak, not a success.

Attempts in flight count too: a name and address may have at most as many attempts being
checked at once as it has failures left before its back-off (one once a back-off is over), so
a burst of concurrent requests cannot get more passwords checked than sequential ones. A
refused attempt costs a dictionary lookup, never a password hash.

Addresses are kept in memory only while they matter: a streak is forgotten
:data:`FORGET_AFTER` (15 min) after its last failure or the end of its back-off, whichever is
later, and forgotten entries are swept at most every :data:`SWEEP_INTERVAL`. The map is also
capped at ``max_entries`` (oldest streak out first). IPv6 addresses count by their /64
network, since one household or device usually holds a whole /64.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import time
from collections.abc import Callable

#: The first back-off, and the longest.
BASE_BACKOFF = 30.0
MAX_BACKOFF = 15 * 60.0
#: The threshold for an address alone is this many times the one for a name and an address.
ADDRESS_FACTOR = 4
#: A streak with no failure and no back-off for this long is forgotten.
FORGET_AFTER = 15 * 60.0
#: Forgotten streaks are swept out of memory at most this often.
SWEEP_INTERVAL = 60.0
#: An attempt refused only because others are being checked may come back this soon.
IN_FLIGHT_RETRY = 1.0
DEFAULT_MAX_ENTRIES = 100_000


def address_key(address: str) -> str:
    """The address as the throttle counts it: IPv4 as is, IPv6 by its /64 network."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def backoff_seconds(failures: int, threshold: int) -> float:
    """The back-off after ``failures`` in a row: none below ``threshold``, then 30 s doubling
    per further failure, at most 15 min."""
    if failures < threshold:
        return 0.0
    doublings = min(failures - threshold, 30)  # 2**30 * 30 s is far past the cap already
    return min(BASE_BACKOFF * 2**doublings, MAX_BACKOFF)


@dataclasses.dataclass(slots=True)
class _Streak:
    failures: int = 0
    in_flight: int = 0
    blocked_until: float = 0.0
    forget_at: float = 0.0


_Key = tuple[str | None, str]  # (name, address key); (None, address key): the address alone


class LoginThrottle:
    """Counts failed logins per (name, address) and per address; see the module docstring.

    Use: ``wait = throttle.begin(name, address)``; if ``wait`` is 0 the attempt may check the
    password and must then be ended with :meth:`succeeded` or :meth:`failed`; otherwise refuse
    it and tell the client to come back in ``wait`` seconds.
    """

    def __init__(
        self,
        failures_before_backoff: int = 5,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        if failures_before_backoff < 1:
            raise ValueError("failures_before_backoff must be at least 1")
        self.threshold = failures_before_backoff
        self.address_threshold = ADDRESS_FACTOR * failures_before_backoff
        self._clock = clock
        self._max_entries = max_entries
        self._streaks: dict[_Key, _Streak] = {}
        self._next_sweep = clock() + SWEEP_INTERVAL

    def __len__(self) -> int:
        """How many streaks (name and address, or address alone) are remembered."""
        return len(self._streaks)

    def _keys(self, name: str, address: str) -> tuple[tuple[_Key, int], tuple[_Key, int]]:
        where = address_key(address)
        # The name is stripped as the account lookup strips it: "anna " counts as "anna".
        return ((name.strip(), where), self.threshold), ((None, where), self.address_threshold)

    def begin(self, name: str, address: str) -> int:
        """0 if an attempt for ``name`` from ``address`` may go ahead now (it is then in
        flight); otherwise the whole seconds to wait before trying again."""
        now = self._clock()
        if now >= self._next_sweep:
            self.forget_expired()
        keys = self._keys(name, address)
        wait = 0.0
        for key, threshold in keys:
            streak = self._streaks.get(key)
            if streak is None:
                continue
            if streak.blocked_until > now:
                wait = max(wait, streak.blocked_until - now)
            elif streak.in_flight >= max(1, threshold - streak.failures):
                wait = max(wait, IN_FLIGHT_RETRY)
        if wait > 0:
            return max(1, math.ceil(wait))
        for key, _ in keys:
            streak = self._streaks.pop(key, None) or _Streak()
            streak.in_flight += 1
            self._remember(key, streak)
        return 0

    def failed(self, name: str, address: str) -> float:
        """End an attempt that failed; returns the back-off it started (0 if none)."""
        now = self._clock()
        started = 0.0
        for key, threshold in self._keys(name, address):
            streak = self._streaks.pop(key, None) or _Streak()
            streak.in_flight = max(0, streak.in_flight - 1)
            streak.failures += 1
            backoff = backoff_seconds(streak.failures, threshold)
            if backoff:
                streak.blocked_until = now + backoff
                started = max(started, backoff)
            streak.forget_at = max(now, streak.blocked_until) + FORGET_AFTER
            self._remember(key, streak)
        return started

    def succeeded(self, name: str, address: str) -> None:
        """End an attempt that succeeded: the name and address start afresh. The address
        alone keeps its failures (only time forgives those)."""
        (pair, _), (alone, _) = self._keys(name, address)
        self._streaks.pop(pair, None)
        streak = self._streaks.get(alone)
        if streak is not None:
            streak.in_flight = max(0, streak.in_flight - 1)
            if streak.in_flight == 0 and streak.failures == 0:
                del self._streaks[alone]

    def forget_expired(self) -> None:
        """Drop every streak that can no longer matter (nothing in flight, forgotten)."""
        now = self._clock()
        self._next_sweep = now + SWEEP_INTERVAL
        expired = [
            key
            for key, streak in self._streaks.items()
            if streak.in_flight == 0 and streak.forget_at <= now
        ]
        for key in expired:
            del self._streaks[key]

    def _remember(self, key: _Key, streak: _Streak) -> None:
        # Re-inserting keeps the dict in order of last change, so the oldest streak goes first.
        self._streaks[key] = streak
        while len(self._streaks) > self._max_entries:
            del self._streaks[next(iter(self._streaks))]
