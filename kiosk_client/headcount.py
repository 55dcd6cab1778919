"""The room's in-person headcount, as room staff set it locally.

Two ways, both optional: a small text file holding one number (staff edit it, or a shortcut
on the desktop runs ``echo 23 > FILE``), and lines on standard input (``23``, ``+1``,
``-2``) when the agent runs in a terminal. A fixed ``headcount`` from the configuration is
posted when a session starts if nobody gave a newer number.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

FILE_POLL_SECONDS = 1.0


class Headcounts:
    """The latest count and a version that grows with every change."""

    def __init__(self) -> None:
        self.value: int | None = None
        self.version = 0
        self._changed = asyncio.Condition()

    async def set(self, count: int, source: str) -> None:
        if count < 0:
            logger.warning("headcount: ignoring a negative count from %s", source)
            return
        async with self._changed:
            self.value = count
            self.version += 1
            self._changed.notify_all()
        logger.info("headcount: %d (from %s)", count, source)

    async def adjust(self, delta: int, source: str) -> None:
        await self.set(max(0, (self.value or 0) + delta), source)

    async def wait_change(self, since: int) -> int:
        """Wait for a version newer than ``since``; returns it."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.version > since)
            return self.version


def parse_line(line: str) -> tuple[str, int] | None:
    """``"23"`` sets, ``"+1"``/``"-2"`` adjusts; anything else is None."""
    text = line.strip()
    if not text:
        return None
    sign = text[0] if text[0] in "+-" else ""
    digits = text[1:] if sign else text
    if not digits.isdigit():
        return None
    return ("adjust", int(text)) if sign else ("set", int(digits))


async def watch_file(path: Path, counts: Headcounts) -> None:
    """Follow a file holding one number. Its content at start-up is only a baseline: a count
    left there from yesterday must not be posted for today's first session."""
    last: tuple[int, int] | None = None
    first = True
    while True:
        try:
            key, text = await asyncio.to_thread(_snapshot, path, last)
            if key != last:
                last = key
                parsed = parse_line(text)
                if parsed is None or parsed[0] != "set":
                    logger.warning("headcount: %s does not hold one whole number", path)
                elif first:
                    logger.info(
                        "headcount: %s holds %d (not posted until it changes)", path, parsed[1]
                    )
                else:
                    await counts.set(parsed[1], str(path))
        except FileNotFoundError:
            last = None
        except OSError as exc:
            logger.warning("headcount: cannot read %s: %s", path, exc)
        first = False
        await asyncio.sleep(FILE_POLL_SECONDS)  # polling a local file; no event to await


def _snapshot(path: Path, last: tuple[int, int] | None) -> tuple[tuple[int, int], str]:
    """The file's (mtime, size) and, if that changed since ``last``, its text."""
    stat = path.stat()
    key = (stat.st_mtime_ns, stat.st_size)
    if key == last:
        return key, ""
    return key, path.read_text(encoding="utf-8", errors="replace")


async def read_stdin(counts: Headcounts) -> None:
    """Lines on standard input: ``23`` sets the count, ``+1``/``-1`` adjust it."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        parsed = parse_line(line.decode(errors="replace"))
        if parsed is None:
            logger.warning("headcount: type a number (23) or a change (+1, -2)")
        elif parsed[0] == "set":
            await counts.set(parsed[1], "stdin")
        else:
            await counts.adjust(parsed[1], "stdin")
