"""Wall-clock time behind a seam, so tests can move time instead of waiting for it.

The agent never calls ``datetime.now`` or ``asyncio.sleep`` for scheduling: it asks its
``Clock``. ``SystemClock`` is the real one; ``ManualClock`` is moved by a test (or a dry run).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Protocol

# The real clock re-checks at least this often while sleeping, so a wall-clock step (NTP
# correction, suspend/resume of the room PC) delays a join by at most this much.
MAX_SLEEP_STEP = 30.0


class Clock(Protocol):
    """Where the agent gets its time from."""

    def now(self) -> dt.datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    async def sleep_until(self, when: dt.datetime) -> None:
        """Return once ``now() >= when`` (at once if it already is)."""
        ...


async def sleep_for(clock: Clock, seconds: float) -> None:
    """A relative sleep on ``clock``."""
    await clock.sleep_until(clock.now() + dt.timedelta(seconds=max(0.0, seconds)))


class SystemClock:
    """The machine's clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    async def sleep_until(self, when: dt.datetime) -> None:
        while True:
            remaining = (when - self.now()).total_seconds()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, MAX_SLEEP_STEP))


class ManualClock:
    """A clock that only moves when told to; sleepers wake when it passes their time."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start
        self._changed = asyncio.Condition()
        self.sleepers: list[dt.datetime] = []

    def now(self) -> dt.datetime:
        return self._now

    async def sleep_until(self, when: dt.datetime) -> None:
        async with self._changed:
            self.sleepers.append(when)
            self._changed.notify_all()
            try:
                await self._changed.wait_for(lambda: self._now >= when)
            finally:
                self.sleepers.remove(when)
                self._changed.notify_all()

    async def set(self, when: dt.datetime) -> None:
        """Move the clock (never backwards) and wake whoever's time has come."""
        async with self._changed:
            self._now = max(self._now, when)
            self._changed.notify_all()

    async def advance(self, seconds: float) -> None:
        await self.set(self._now + dt.timedelta(seconds=seconds))

    async def wait_for_sleeper(
        self, predicate: Callable[[dt.datetime], bool] = lambda when: True, timeout: float = 20.0
    ) -> dt.datetime:
        """Wait until something sleeps on this clock until a time matching ``predicate``.

        Tests use it to see what the agent is waiting for, without guessing in real time.
        """

        def match() -> dt.datetime | None:
            return min((w for w in self.sleepers if predicate(w)), default=None)

        async def wait() -> dt.datetime:
            async with self._changed:
                await self._changed.wait_for(lambda: match() is not None)
                found = match()
                assert found is not None
                return found

        return await asyncio.wait_for(wait(), timeout)
