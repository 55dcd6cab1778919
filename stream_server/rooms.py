"""Who is in a live session and what they may do (domain rules; no aiortc, no aiohttp)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterator

from stream_server.db.models import SessionMode

_member_ids = itertools.count(1)


class RoomFull(Exception):
    """A group session already has its maximum number of participants."""


@dataclasses.dataclass
class Member:
    """One connection in a live session."""

    role: str  # "publisher" (WHIP or host) or "viewer"
    channel: str
    id: int = dataclasses.field(default_factory=lambda: next(_member_ids))
    may_publish: bool = False


class LiveRoom:
    """The live state of one session: its members and its limits."""

    def __init__(
        self,
        session_id: str,
        mode: SessionMode,
        max_participants: int,
        closes_at: dt.datetime | None = None,
    ) -> None:
        self.session_id = session_id
        self.mode = mode
        self.max_participants = max_participants
        #: When the session ends by itself if its host has not ended it.
        self.closes_at = closes_at
        self._members: dict[int, Member] = {}

    def admit(self, role: str, channel: str) -> Member:
        """Add a member; in a group session the capacity counts every participant."""
        if (
            self.mode == SessionMode.GROUP
            and role != "publisher"
            and self.participant_count >= self.max_participants
        ):
            raise RoomFull(f"this group has room for {self.max_participants} participants")
        may_publish = role == "publisher" or self.mode == SessionMode.GROUP
        member = Member(role=role, channel=channel, may_publish=may_publish)
        self._members[member.id] = member
        return member

    def remove(self, member: Member) -> None:
        self._members.pop(member.id, None)

    @property
    def participant_count(self) -> int:
        return sum(1 for m in self._members.values() if m.role != "publisher")

    def members(self) -> Iterator[Member]:
        return iter(tuple(self._members.values()))

    def __len__(self) -> int:
        return len(self._members)
