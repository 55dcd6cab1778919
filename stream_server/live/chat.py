"""Text chat of a live session: in memory only, never stored (docs/privacy.md).

A session's chat lives as long as its room: a bounded backlog for late joiners, the message
ids the host may delete, and a rate limiter per attendee key (so reconnecting does not reset
it). When the room empties or the session ends the whole :class:`ChatRoom` is dropped.
Nothing here touches the database, and no message is logged.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from typing import Any

from stream_server.signaling.protocol import RateLimiter

#: Messages kept for late joiners (and deletable by the host).
BACKLOG = 50
#: Per participant: 5 messages at once, then one every 2 s (5 per 10 s sustained).
CHAT_BURST = 5
CHAT_RATE_PER_SECOND = 0.5


@dataclasses.dataclass(frozen=True)
class ChatMessage:
    id: int
    participant: int
    role: str  # "host" or "participant"
    text: str
    at: dt.datetime

    def as_message(self) -> dict[str, Any]:
        return {
            "type": "chat",
            "id": self.id,
            "from": {"participant": self.participant, "role": self.role},
            "text": self.text,
            "at": self.at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }


class ChatRoom:
    """One session's chat: the last :data:`BACKLOG` messages and who may send how often."""

    def __init__(self) -> None:
        self._next_id = 1
        self._backlog: collections.deque[ChatMessage] = collections.deque(maxlen=BACKLOG)
        self._limiters: dict[str, RateLimiter] = {}

    def allow(self, sender_key: str) -> bool:
        limiter = self._limiters.get(sender_key)
        if limiter is None:
            limiter = self._limiters[sender_key] = RateLimiter(CHAT_RATE_PER_SECOND, CHAT_BURST)
        return limiter.allow()

    def post(self, participant: int, role: str, text: str) -> ChatMessage:
        message = ChatMessage(self._next_id, participant, role, text, dt.datetime.now(dt.UTC))
        self._next_id += 1
        self._backlog.append(message)
        return message

    def delete(self, message_id: int) -> bool:
        """Forget a message; False if it is not (or no longer) in the backlog."""
        for message in self._backlog:
            if message.id == message_id:
                self._backlog.remove(message)
                return True
        return False

    def history(self) -> list[dict[str, Any]]:
        return [m.as_message() for m in self._backlog]


class ChatRooms:
    """Every live session's chat, keyed by session id."""

    def __init__(self) -> None:
        self._rooms: dict[str, ChatRoom] = {}

    def room(self, session_id: str) -> ChatRoom:
        room = self._rooms.get(session_id)
        if room is None:
            room = self._rooms[session_id] = ChatRoom()
        return room

    def history(self, session_id: str) -> list[dict[str, Any]]:
        room = self._rooms.get(session_id)
        return room.history() if room is not None else []

    def drop(self, session_id: str) -> None:
        """The room emptied or the session ended: the chat is gone for good."""
        self._rooms.pop(session_id, None)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._rooms
