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
    #: Its media connected: only then does it hold one of a group's places.
    connected: bool = False

    @property
    def is_host(self) -> bool:
        return self.role == Role.HOST


class Membership:
    """The members of one live session and its capacity.

    ``group``: an interactive group, where every member may publish and participants (not
    hosts) are limited to ``capacity``; otherwise a broadcast, where only hosts publish.

    A place is held only by a member whose media has connected (:meth:`confirm`): offers
    that never connect (a flood of half-open WHEP offers) cannot fill a group and turn real
    participants away with ``session_full``. A newcomer is admitted while the connected
    participants leave room, and confirmed when its media connects if they still do.
    """

    def __init__(self, group: bool, capacity: int) -> None:
        self.group = group
        self.capacity = capacity
        self._members: dict[int, Member] = {}

    def may_publish(self, role: Role) -> bool:
        """The one rule: hosts publish; in a group everyone does."""
        return role == Role.HOST or self.group

    def _check_room(self, role: Role) -> None:
        if self.group and role != Role.HOST and self.participant_count >= self.capacity:
            raise SessionFull(f"this group has room for {self.capacity} participants")

    def admit(self, role: Role, channel: Channel) -> Member:
        """A new member, or :class:`SessionFull` when a group's connected participants
        already fill it."""
        self._check_room(role)
        member = Member(role, channel, self.may_publish(role))
        self._members[member.id] = member
        return member

    def confirm(self, member: Member) -> None:
        """``member``'s media connected: it takes its place, or :class:`SessionFull` when
        others connected first and filled the group."""
        if member.connected or member.id not in self._members:
            return
        self._check_room(member.role)
        member.connected = True

    def remove(self, member: Member) -> None:
        self._members.pop(member.id, None)

    @property
    def participant_count(self) -> int:
        """Participants (not hosts) holding a place: those whose media connected."""
        return sum(1 for m in self._members.values() if m.role != Role.HOST and m.connected)

    def __iter__(self) -> Iterator[Member]:
        return iter(tuple(self._members.values()))

    def __len__(self) -> int:
        return len(self._members)
