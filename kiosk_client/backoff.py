"""Exponential back-off with jitter, for reconnecting to a server that is down.

Jitter matters: after a server restart every room PC in the city would otherwise retry
in lock-step. Each delay is drawn uniformly from [d/2, d] where d doubles from ``base``
up to ``cap`` ("equal jitter": never near zero, never above the cap).
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Delays for successive failed attempts; ``reset()`` after a success."""

    def __init__(
        self,
        base: float = 1.0,
        cap: float = 30.0,
        factor: float = 2.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if base <= 0 or cap < base or factor < 1:
            raise ValueError("back-off needs 0 < base <= cap and factor >= 1")
        self.base = base
        self.cap = cap
        self.factor = factor
        self._rand = rand
        self.failures = 0

    def ceiling(self) -> float:
        """The largest delay the next failure may get."""
        # The exponent is bounded so a device that has failed for weeks cannot overflow.
        return min(self.cap, self.base * self.factor ** min(self.failures, 64))

    def next_delay(self) -> float:
        """Record a failure and return how long to wait before the next attempt."""
        ceiling = self.ceiling()
        self.failures += 1
        return ceiling / 2 + self._rand() * ceiling / 2

    def reset(self) -> None:
        self.failures = 0
