"""News of live sessions for listeners that have no signaling socket.

A WHEP player or the room agent follows ``GET /api/sessions/{id}/events`` (Server-Sent
Events); each listener gets a bounded queue here. The hub is keyed by session id, not by
live session, so a listener may wait for a session that nobody has joined yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger(__name__)

#: News items a slow listener may fall behind by; past it, it is disconnected (it reconnects
#: and gets the current state).
LISTENER_QUEUE = 64
#: Message types that are news for listeners (the rest — rosters, chat — stay on the socket).
NEWS_TYPES = frozenset({"recording", "ended", "caption", "pin"})


class NewsHub:
    def __init__(self) -> None:
        self._listeners: dict[str, set[asyncio.Queue[dict[str, Any] | None]]] = {}

    def publish(self, session_id: str, message: dict[str, Any]) -> None:
        if message.get("type") not in NEWS_TYPES:
            return
        for queue in list(self._listeners.get(session_id, ())):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                logger.info("session %s: a news listener fell behind; dropped", session_id)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)
                self._listeners[session_id].discard(queue)

    @contextlib.contextmanager
    def listen(self, session_id: str) -> Iterator[asyncio.Queue[dict[str, Any] | None]]:
        """A queue of the session's news; ``None`` in it means "you fell behind: reconnect"."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(LISTENER_QUEUE)
        self._listeners.setdefault(session_id, set()).add(queue)
        try:
            yield queue
        finally:
            listeners = self._listeners.get(session_id)
            if listeners is not None:
                listeners.discard(queue)
                if not listeners:
                    del self._listeners[session_id]

    def listener_count(self, session_id: str | None = None) -> int:
        if session_id is not None:
            return len(self._listeners.get(session_id, ()))
        return sum(len(q) for q in self._listeners.values())

    def close(self) -> None:
        """Server shutdown: every listener's stream ends."""
        for listeners in self._listeners.values():
            for queue in listeners:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(None)


class ProgrammeNews:
    """ "The public programme changed": for the notice boards' event stream.

    Nothing about what changed is carried (the stream is public and identifies no one):
    each listener only learns that it should read the programme again. Listeners wait on a
    version number, so a burst of changes costs a slow listener one re-read and no memory.
    """

    def __init__(self) -> None:
        self.version = 0
        self.closed = False
        self._waiting: set[asyncio.Event] = set()

    def changed(self) -> None:
        """A session was created, edited, cancelled, started or ended (callable from sync
        code such as a commit hook: it only sets events)."""
        self.version += 1
        for event in self._waiting:
            event.set()

    async def wait(self, seen: int, timeout: float) -> int:
        """The version after ``seen``, or ``seen`` again after ``timeout`` seconds or when
        the server stops (see :attr:`closed`)."""
        if self.version != seen or self.closed:
            return self.version
        event = asyncio.Event()
        self._waiting.add(event)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        finally:
            self._waiting.discard(event)
        return self.version

    @property
    def listener_count(self) -> int:
        return len(self._waiting)

    def close(self) -> None:
        """Server shutdown: every waiting listener returns at once."""
        self.closed = True
        for event in self._waiting:
            event.set()
