"""One running session: its membership, media router, clients, recorder and chat.

Everything live about a session hangs off its :class:`LiveSession`, and one idempotent
:meth:`LiveSession.close` ends all of it (clients, recorder, test card, transcoder, chat).
Clients are treated only through :class:`~stream_server.live.client.Client`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from stream_server.attendance.ledger import AttendanceLedger
from stream_server.config import Settings
from stream_server.live.chat import ChatRoom
from stream_server.live.client import Client, MediaChange
from stream_server.live.membership import Member, Membership
from stream_server.live.news import NewsHub
from stream_server.media.peer import ForwardingCounters, Peer, PortRange
from stream_server.media.router import SessionRouter
from stream_server.vocabulary import Channel, Role, Track

logger = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


@dataclasses.dataclass(frozen=True)
class _Counting:
    """How a placed client is counted once its media connects."""

    venue_id: int | None
    attendee_key: str | None


class LiveSession:
    """The live state of one session, from its first connection until it closes."""

    def __init__(
        self,
        session_id: str,
        *,
        group: bool,
        closes_at: dt.datetime | None,
        settings: Settings,
        ledger: AttendanceLedger,
        news: NewsHub,
        spawn: Spawn,
        on_closed: Callable[[LiveSession], Awaitable[None]],
        ports: PortRange | None = None,
        retired: ForwardingCounters | None = None,
    ) -> None:
        self.id = session_id
        self.group = group
        #: When the session ends by itself if its host has not ended it.
        self.closes_at = closes_at
        self.settings = settings
        self.membership = Membership(group, settings.group_max_participants)
        self.router = SessionRouter(session_id)
        self.clients: dict[str, Client] = {}
        #: The recorder, while recording (itself a client of the session).
        self.recorder: Client | None = None
        #: Memory only; gone when the session closes (docs/privacy.md).
        self.chat = ChatRoom()
        #: Digests of the attendee keys the host removed (for the rest of this session).
        self.removed: set[str] = set()
        self.video_codec = settings.video_codec
        self.closed = False
        self._keys: dict[str, Client] = {}
        self._uncounted: dict[str, _Counting] = {}
        self._program_encoder: Client | None = None
        self._ledger = ledger
        self._news = news
        self._ice_servers = [s.as_dict() for s in settings.ice_servers]
        self._ports = ports
        self._spawn = spawn
        self._on_closed = on_closed
        #: Where closed clients leave their forwarding counters (the registry's, for metrics).
        self._retired = retired if retired is not None else ForwardingCounters()

    # -- services for clients ---------------------------------------------------------------
    def new_peer(
        self, label: str, on_ended: Callable[[str], None], on_connected: Callable[[], None]
    ) -> Peer:
        return Peer(
            self._ice_servers,
            self.video_codec,
            label,
            on_ended,
            on_connected,
            ports=self._ports,
        )

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run in a task the registry tracks (and waits for at shutdown)."""
        return self._spawn(coro)

    @property
    def ledger(self) -> AttendanceLedger:
        return self._ledger

    def retire(self, counters: ForwardingCounters) -> None:
        """A closing client's final forwarding counters (so metrics never run backwards)."""
        self._retired.add(counters)

    # -- membership ---------------------------------------------------------------------------
    def place(
        self,
        client: Client,
        role: Role,
        channel: Channel,
        *,
        venue_id: int | None = None,
        attendee_key: str | None = None,
    ) -> Member:
        """Admit ``client`` (role, permissions); SessionFull when a group is full.

        It is neither counted nor holding a group's place yet: both happen in
        :meth:`connected`, when its media flows. A page's attendee key is known at once, so
        the same page reconnecting replaces this connection even before its media flows.
        """
        if self.closed:
            raise RuntimeError(f"session {self.id} is closed")
        member = self.membership.admit(role, channel)
        client.member = member
        self.clients[client.id] = client
        self._uncounted[client.id] = _Counting(venue_id, attendee_key)
        if attendee_key is not None:
            self._keys[attendee_key] = client
        return member

    async def connected(self, client: Client) -> None:
        """``client``'s media flows (ICE and DTLS connected): it takes its place and is
        counted now. Raises SessionFull when others connected first and filled the group.

        Attendance records what happened: an offer that never connects is never counted,
        neither as a participant nor as a brief visit.
        """
        counting = self._uncounted.pop(client.id, None)
        member = client.member
        if counting is None or member is None or client.closed or self.closed:
            return
        self.membership.confirm(member)
        presence = await self._ledger.join(
            self.id,
            member.channel,
            role=member.role,
            attendee_key=counting.attendee_key,
            venue_id=counting.venue_id,
        )
        if client.closed or self.clients.get(client.id) is not client:
            # It left while the join was being written: close the interval just opened.
            await self._ledger.leave(presence, "left")
            return
        client.presence = presence
        if client.roster_entry() is not None:
            await self.broadcast_roster()  # online_now moved

    def with_attendee_key(self, attendee_key: str) -> Client | None:
        """The connection a page's attendee key is on now, if any."""
        client = self._keys.get(attendee_key)
        return client if client is not None and not client.closed else None

    def take_program(self, encoder: Client) -> Client | None:
        """``encoder`` (a WHIP publisher) feeds the program now; returns the one it replaces."""
        previous, self._program_encoder = self._program_encoder, encoder
        return previous if previous is not encoder else None

    def attach(self, client: Client) -> None:
        """A server-side client (recorder, test card): no place, not counted."""
        self.clients[client.id] = client

    async def leave(self, client: Client, reason: str) -> None:
        """A client closed: free its place, close its attendance, tell the others."""
        if self.clients.pop(client.id, None) is None:
            return
        self._uncounted.pop(client.id, None)
        if client is self.recorder:
            self.recorder = None
        if client is self._program_encoder:
            self._program_encoder = None
        for key in [k for k, c in self._keys.items() if c is client]:
            del self._keys[key]
        member = client.member
        if member is not None:
            self.membership.remove(member)
            if self.group:
                self.router.drop_member(member.id)
        try:
            if client.presence is not None:
                await self._ledger.leave(client.presence, reason)
        finally:
            logger.info("%s: closed (%s)", client.label, reason)
            if member is not None and not self.closed:
                if not len(self.membership):
                    # Nobody is left: recording ends, chat is gone, the transcoder stops.
                    await self.close("empty")
                else:
                    if member.may_publish:
                        await self.media_changed(MediaChange(client, tuple(Track), on=False))
                    await self.broadcast_roster()

    def members(self) -> list[Client]:
        return [c for c in self.clients.values() if c.member is not None]

    def member(self, member_id: int) -> Client | None:
        for client in self.clients.values():
            if client.member is not None and client.member.id == member_id:
                return client
        return None

    def key_digest(self, attendee_key: str) -> str:
        return hashlib.sha256(f"{self.id}:{attendee_key}".encode()).hexdigest()

    # -- what everyone hears ------------------------------------------------------------------
    async def notify(self, message: dict[str, Any]) -> None:
        """News to every client and to the event-stream subscribers."""
        self._news.publish(self.id, message)
        await asyncio.gather(*(c.notify(message) for c in list(self.clients.values())))

    async def media_changed(self, change: MediaChange) -> None:
        others = [c for c in list(self.clients.values()) if c is not change.publisher]
        await asyncio.gather(*(c.media_changed(change) for c in others))

    def program_publisher(self) -> int | None:
        """The member id of the host whose tracks are the broadcast's program now."""
        for client in self.clients.values():
            if client.member is not None and client.member.is_host and client.publishing():
                return client.member.id
        return None

    async def broadcast_roster(self) -> None:
        entries = [e for c in self.clients.values() if (e := c.roster_entry()) is not None]
        summary = await self._ledger.summary(self.id)
        message = {
            "type": "participants",
            "participants": entries,
            "online_now": summary["online_now"],
        }
        await asyncio.gather(*(c.notify(message) for c in list(self.clients.values())))

    # -- recording ----------------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        return self.recorder is not None

    async def start_recording(self, recorder: Client) -> None:
        self.recorder = recorder
        self.attach(recorder)
        await self.notify({"type": "recording", "on": True})

    async def stop_recording(self, reason: str) -> None:
        recorder = self.recorder
        if recorder is None:
            return
        self.recorder = None
        await self.notify({"type": "recording", "on": False})
        await recorder.close(reason)

    # -- ending -------------------------------------------------------------------------------
    async def end(self) -> None:
        """The session is over (ended by its host or staff, or past its end): tell everyone,
        then close everyone, hosts last. It is forgotten first: a join racing the ending must
        not find it (and its chat) again."""
        await self._on_closed(self)
        await self.notify({"type": "ended"})
        await self.close("session-ended")

    async def close(self, reason: str) -> None:
        """Idempotent; closes every client (hosts last), the recorder and the media."""
        if self.closed:
            return
        self.closed = True
        if self.recorder is not None:
            await self.stop_recording("session closed" if reason != "empty" else "room empty")
        ordered = sorted(
            self.clients.values(), key=lambda c: c.member is not None and c.member.is_host
        )
        await asyncio.gather(
            *(self._spawn(c.close(reason)) for c in ordered), return_exceptions=True
        )
        self.router.close()
        await self._on_closed(self)
        logger.info("session %s: live state closed (%s)", self.id, reason)
