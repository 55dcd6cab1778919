"""Who is in a live session and what each may do: pure rules (no aiortc, no ORM, no I/O)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator

from stream_server.vocabulary import Channel, Role

_member_ids = itertools.count(1)


class SessionFull(Exception):
    """A group session already has its maximum number of participants."""


@dataclasses.dataclass
class Member:
    """One connection's place in a live session."""

    role: Role
    channel: Channel
    may_publish: bool
    id: int = dataclasses.field(default_factory=lambda: next(_member_ids))

    @property
    def is_host(self) -> bool:
        return self.role == Role.HOST


class Membership:
    """The members of one live session and its capacity.

    ``group``: an interactive group, where every member may publish and participants (not
    hosts) are limited to ``capacity``; otherwise a broadcast, where only hosts publish.
    """

    def __init__(self, group: bool, capacity: int) -> None:
        self.group = group
        self.capacity = capacity
        self._members: dict[int, Member] = {}

    def may_publish(self, role: Role) -> bool:
        """The one rule: hosts publish; in a group everyone does."""
        return role == Role.HOST or self.group

    def admit(self, role: Role, channel: Channel) -> Member:
        """A new member, or :class:`SessionFull` when a group has no room for a participant."""
        if self.group and role != Role.HOST and self.participant_count >= self.capacity:
            raise SessionFull(f"this group has room for {self.capacity} participants")
        member = Member(role, channel, self.may_publish(role))
        self._members[member.id] = member
        return member

    def remove(self, member: Member) -> None:
        self._members.pop(member.id, None)

    @property
    def participant_count(self) -> int:
        return sum(1 for m in self._members.values() if m.role != Role.HOST)

    def __iter__(self) -> Iterator[Member]:
        return iter(tuple(self._members.values()))

    def __len__(self) -> int:
        return len(self._members)
