"""Validating signaling messages (docs/signaling.md is the specification).

Every inbound message is checked here before anything acts on it; a bad one becomes a
:class:`ProtocolError` with a stable code and a message naming what is wrong.
"""

from __future__ import annotations

import dataclasses
import re
import time
import unicodedata
from typing import Any

from stream_server import strict_json
from stream_server.vocabulary import SIGNALING_CHANNELS, Role, Tier, Track

MAX_MESSAGE_BYTES = 64 * 1024
#: aiohttp closes the socket (1009) above this; between the two the client gets an error.
HARD_FRAME_BYTES = 1024 * 1024
RATE_PER_SECOND = 20.0
RATE_BURST = 40
SILENCE_TIMEOUT = 15.0

CHANNELS = tuple(str(c) for c in SIGNALING_CHANNELS)
ROLES = tuple(str(r) for r in Role)
TRACK_NAMES = tuple(str(t) for t in Track)
#: What a broadcast viewer receives (see stream_server.media.tiers).
TIERS = tuple(str(t) for t in Tier)
#: What a host may do to a participant (``moderate``).
MODERATION_ACTIONS = ("mute-audio", "mute-video", "remove")
ATTENDEE_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: Longest chat message, in characters, after trimming.
CHAT_MAX_CHARS = 500
#: Bidirectional overrides and isolates: they would let one message reorder the page's text.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class ProtocolError(Exception):
    """A message that cannot be acted on; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref

    def as_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"type": "error", "code": self.code, "message": self.message}
        if self.ref:
            message["ref"] = self.ref
        return message


@dataclasses.dataclass(frozen=True)
class Join:
    session: str | None
    code: str | None
    role: str
    token: str | None
    channel: str
    attendee_key: str
    tier: str = "high"
    device_token: str | None = None


@dataclasses.dataclass(frozen=True)
class Answer:
    sdp: str


@dataclasses.dataclass(frozen=True)
class Publish:
    tracks: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Unpublish:
    tracks: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Mute:
    audio: bool
    video: bool


@dataclasses.dataclass(frozen=True)
class SetTier:
    """``tier``: change what this (broadcast) viewer receives, without renegotiating."""

    tier: str


@dataclasses.dataclass(frozen=True)
class Moderate:
    """``moderate``: the host mutes or removes one participant."""

    participant: int
    action: str


@dataclasses.dataclass(frozen=True)
class Record:
    """``record``: the host starts (``on``) or stops recording the broadcast."""

    on: bool


@dataclasses.dataclass(frozen=True)
class Chat:
    """``chat``: a text message to everyone in the session (already cleaned and checked)."""

    text: str


@dataclasses.dataclass(frozen=True)
class ChatDelete:
    """``chat-delete``: the host removes a chat message from everyone's view."""

    id: int


@dataclasses.dataclass(frozen=True)
class Simple:
    """``leave``, ``end`` and ``ping``: a type and nothing else."""

    type: str


Message = (
    Join
    | Answer
    | Publish
    | Unpublish
    | Mute
    | SetTier
    | Moderate
    | Record
    | Chat
    | ChatDelete
    | Simple
)


def _field(data: dict[str, Any], name: str, kind: type, ref: str, required: bool = True) -> Any:
    value = data.get(name)
    if value is None:
        if required:
            raise ProtocolError("invalid_message", f"{ref}: '{name}' is required", ref)
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError("invalid_message", f"{ref}: '{name}' must be a {kind.__name__}", ref)
    return value


def _tracks(data: dict[str, Any], ref: str) -> tuple[str, ...]:
    tracks = _field(data, "tracks", list, ref)
    if not tracks or any(t not in TRACK_NAMES for t in tracks):
        raise ProtocolError(
            "invalid_message", f"{ref}: 'tracks' must list some of {', '.join(TRACK_NAMES)}", ref
        )
    return tuple(dict.fromkeys(tracks))


def _tier(data: dict[str, Any], ref: str, default: str | None) -> str:
    tier = _field(data, "tier", str, ref, required=default is None) or default
    if tier not in TIERS:
        raise ProtocolError(
            "invalid_message", f"{ref}: 'tier' must be one of {', '.join(TIERS)}", ref
        )
    return str(tier)


def clean_chat_text(text: str) -> str:
    """Line breaks and tabs become spaces, other control characters go; then trim.

    A chat line is one line of plain text: control characters could only hide or garble it.
    """
    kept = []
    for char in text:
        if char in "\t\n\r\u2028\u2029":
            kept.append(" ")
        elif unicodedata.category(char) != "Cc" and char not in _BIDI_CONTROLS:
            kept.append(char)
    return "".join(kept).strip()


def _chat(data: dict[str, Any], ref: str) -> Chat:
    text = clean_chat_text(_field(data, "text", str, ref))
    if not text:
        raise ProtocolError("invalid_message", f"{ref}: 'text' is empty", ref)
    if len(text) > CHAT_MAX_CHARS:
        raise ProtocolError(
            "invalid_message", f"{ref}: 'text' is longer than {CHAT_MAX_CHARS} characters", ref
        )
    return Chat(text)


def parse_message(raw: str | bytes) -> Message:
    """Decode and validate one inbound message."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError("too_large", f"message is larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        data = strict_json.loads(raw)
    except strict_json.JsonRefused as exc:
        raise ProtocolError("invalid_json", f"message is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError("invalid_message", "message must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("invalid_message", "message has no 'type'")
    if kind == "join":
        session = _field(data, "session", str, kind, required=False)
        code = _field(data, "code", str, kind, required=False)
        if not session and not code:
            raise ProtocolError("invalid_message", "join: give 'session' or 'code'", kind)
        role = _field(data, "role", str, kind, required=False) or "participant"
        if role not in ROLES:
            raise ProtocolError("invalid_message", f"join: unknown role {role[:20]!r}", kind)
        channel = _field(data, "channel", str, kind, required=False) or "browser"
        if channel not in CHANNELS:
            raise ProtocolError("invalid_message", f"join: unknown channel {channel[:20]!r}", kind)
        key = _field(data, "attendee_key", str, kind)
        if not ATTENDEE_KEY.match(key):
            raise ProtocolError(
                "invalid_message",
                "join: 'attendee_key' must be 16-64 characters A-Z a-z 0-9 _ -",
                kind,
            )
        token = _field(data, "token", str, kind, required=False)
        device_token = _field(data, "device_token", str, kind, required=False) or None
        tier = _tier(data, kind, "high")
        return Join(session, code, role, token, channel, key, tier, device_token)
    if kind == "answer":
        return Answer(_field(data, "sdp", str, kind))
    if kind == "publish":
        return Publish(_tracks(data, kind))
    if kind == "unpublish":
        return Unpublish(_tracks(data, kind))
    if kind == "mute":
        return Mute(
            bool(_field(data, "audio", bool, kind)), bool(_field(data, "video", bool, kind))
        )
    if kind == "tier":
        return SetTier(_tier(data, kind, None))
    if kind == "moderate":
        target = _field(data, "participant", int, kind)
        action = _field(data, "action", str, kind)
        if action not in MODERATION_ACTIONS:
            raise ProtocolError(
                "invalid_message",
                f"moderate: 'action' must be one of {', '.join(MODERATION_ACTIONS)}",
                kind,
            )
        return Moderate(target, action)
    if kind == "record":
        return Record(bool(_field(data, "on", bool, kind)))
    if kind == "chat":
        return _chat(data, kind)
    if kind == "chat-delete":
        return ChatDelete(_field(data, "id", int, kind))
    if kind in ("leave", "end", "ping"):
        return Simple(kind)
    raise ProtocolError("unknown_type", f"unknown message type {kind[:30]!r}", kind[:30])


class RateLimiter:
    """A token bucket: ``RATE_PER_SECOND`` sustained, ``RATE_BURST`` at once."""

    def __init__(self, rate: float = RATE_PER_SECOND, burst: int = RATE_BURST) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
