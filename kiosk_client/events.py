"""A session's news as Server-Sent Events: the wire format, and a follower that reconnects.

``GET /api/sessions/{id}/events`` (same access rule as WHEP) sends each event as ``event:
TYPE`` plus a ``data:`` line holding the JSON object the WebSocket would send, e.g. ``{"type":
"recording", "on": true}`` or ``{"type": "ended"}``; the current recording state comes first
on every connection, comment lines keep it alive, and the stream ends after ``ended``.

``SseParser`` follows the WHATWG "event stream interpretation" rules (any of CRLF, LF or CR
ends a line, also when split across reads; ``data:`` lines join with newlines; a blank line
dispatches; comments, unknown fields and an unfinished event at the end are ignored), so a
proxy that re-chunks the stream or a server that spreads JSON over several lines is fine.
"""

from __future__ import annotations

import asyncio
import codecs
import dataclasses
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from kiosk_client.api import ApiError, ServerApi, ServerUnavailable
from kiosk_client.backoff import Backoff

logger = logging.getLogger(__name__)

#: The server sends a comment every ~15 s; this long without a byte means a dead stream.
IDLE_TIMEOUT_SECONDS = 45.0
#: A line longer than this is not an event stream we want to hold in memory.
MAX_LINE_CHARS = 1 << 20

_EOL = re.compile(r"\r\n|\r|\n")


class SseError(ValueError):
    """The stream is not usable as an event stream (a line without end, too long)."""


@dataclasses.dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event: ``type`` is the ``event:`` field (``message`` if none)."""

    type: str
    data: str
    last_event_id: str = ""


class SseParser:
    """Incremental parser: ``feed`` bytes as they come, get the events completed by them."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._started = False
        self._skip_lf = False  # the last chunk ended in CR: a leading LF is not a new line
        self._type = ""
        self._data: list[str] = []
        self.last_event_id = ""
        self.retry: float | None = None  # seconds, from the last valid ``retry:`` field

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        text = self._decoder.decode(chunk)
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._skip_lf and text:
            self._skip_lf = False
            text = text.removeprefix("\n")
        buffer = self._buffer + text
        events: list[ServerSentEvent] = []
        position = 0
        for match in _EOL.finditer(buffer):
            event = self._line(buffer[position : match.start()])
            if event is not None:
                events.append(event)
            position = match.end()
            if match.group() == "\r" and position == len(buffer):
                self._skip_lf = True
        self._buffer = buffer[position:]
        if len(self._buffer) > MAX_LINE_CHARS:
            raise SseError(f"a line longer than {MAX_LINE_CHARS} characters")
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment (keep-alive)
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "event":
            self._type = value
        elif field == "data":
            self._data.append(value)
        elif field == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif field == "retry":
            if value.isascii() and value.isdigit():
                self.retry = int(value) / 1000
        return None  # other fields are ignored

    def _dispatch(self) -> ServerSentEvent | None:
        data, event_type = self._data, self._type
        self._data, self._type = [], ""
        if not data:
            return None  # no data: nothing to dispatch (the type is reset all the same)
        return ServerSentEvent(event_type or "message", "\n".join(data), self.last_event_id)


def event_message(event: ServerSentEvent) -> dict[str, Any] | None:
    """The JSON object an event carries, if it is one with a ``type``."""
    try:
        message = json.loads(event.data)
    except ValueError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None
    return message


class SessionEvents:
    """Follows one session's event stream, reconnecting with back-off, until it ends.

    ``run()`` returns ``"ended"`` after an ``ended`` event, ``"gone"`` when the server says
    the session no longer exists or is over (404 ``unknown_session``, 410), and
    ``"unsupported"`` when the server has no event stream at all (an older server); any
    other failure (network, restart, a refused token) is retried. ``on_event`` gets each
    event's JSON object, unknown types included, in order.
    """

    def __init__(
        self,
        api: ServerApi,
        session_id: str,
        on_event: Callable[[dict[str, Any]], None],
        backoff: Backoff,
        idle_timeout: float = IDLE_TIMEOUT_SECONDS,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.api = api
        self.session_id = session_id
        self.on_event = on_event
        self.backoff = backoff
        self.idle_timeout = idle_timeout
        self._sleep = sleep
        self.connections = 0  # streams opened (for logs and tests)
        self._retry: float | None = None

    @property
    def path(self) -> str:
        return f"/api/sessions/{self.session_id}/events"

    async def run(self) -> str:
        while True:
            try:
                if await self._follow_once():
                    return "ended"
                why = "the stream ended"
            except ApiError as exc:
                if exc.status == 410 or (exc.status == 404 and exc.code == "unknown_session"):
                    logger.info("session %s events: %s", self.session_id, exc)
                    return "gone"
                if exc.status in (404, 405):
                    logger.warning(
                        "session %s: the server has no event stream (%s); recording news and "
                        "an early end are not followed",
                        self.session_id,
                        exc.status,
                    )
                    return "unsupported"
                why = str(exc)  # 401/403: the token may be fixed by staff; keep trying
            except (ServerUnavailable, SseError) as exc:
                why = str(exc)
            delay = max(self.backoff.next_delay(), self._retry or 0.0)
            logger.info(
                "session %s events: %s; reconnecting in %.1f s", self.session_id, why, delay
            )
            await self._sleep(delay)

    async def _follow_once(self) -> bool:
        """One connection; True if the session ended."""
        parser = SseParser()
        async with self.api.stream(self.path, self.idle_timeout) as response:
            self.connections += 1
            logger.debug("session %s events: connected", self.session_id)
            async for chunk in response.content.iter_any():
                self.backoff.reset()  # bytes arrived: the connection works
                for event in parser.feed(chunk):
                    message = event_message(event)
                    if message is None:
                        logger.debug("session %s events: ignoring %r", self.session_id, event)
                        continue
                    self.on_event(message)
                    if message["type"] == "ended":
                        return True
                self._retry = parser.retry
        return False
