"""The one interface every kind of connection to a live session implements.

Galène's ``group.Client`` is the model: the session treats a WHIP encoder, a WHEP player, a
page on the signaling WebSocket, the recorder and the test card alike — it admits them,
tells them news, tells them when what is published changes, and closes them — without
asking which kind each is. Adding a kind is adding a class, not a branch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from stream_server.attendance.ledger import Presence
from stream_server.live.membership import Member, SessionFull

if TYPE_CHECKING:
    from stream_server.live.session import LiveSession

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class MediaChange:
    """What a publishing client changed: ``tracks`` started (``on``) or stopped."""

    publisher: Client
    tracks: tuple[str, ...]
    on: bool


@runtime_checkable
class Client(Protocol):
    """A connection to one live session."""

    #: Unique within the server (WHIP/WHEP resource ids are these).
    id: str
    #: What it is, for logs, metrics and resource URLs (``whip``, ``whep``, ``ws``…).
    kind: str
    #: For logs: kind, session and a short id; never a token or an address.
    label: str
    #: Its place in the membership (role, permissions); None for the server's own clients
    #: (recorder, test card), which are neither counted nor limited.
    member: Member | None
    #: The registered device behind it, if any (a revoked device is dropped at once).
    device_id: int | None
    #: Its open attendance interval, if it is counted.
    presence: Presence | None
    closed: bool

    async def notify(self, message: dict[str, Any]) -> None:
        """News for everyone in the session (``recording``, ``ended``, ``participants``,
        ``chat``…), as the signaling protocol spells it; a client without a channel for it
        ignores it (WHEP players hear news over ``/api/sessions/{id}/events``)."""

    async def media_changed(self, change: MediaChange) -> None:
        """Another client started or stopped publishing tracks."""

    def roster_entry(self) -> dict[str, Any] | None:
        """How it appears in the ``participants`` list, or None to stay out of it."""

    def publishing(self) -> list[str]:
        """The tracks it sends now (``video``, ``screen``, ``audio``)."""

    async def moderated(self, action: str) -> None:
        """The host's ``mute-audio``, ``mute-video`` or ``remove`` (checked by the caller)."""

    async def close(self, reason: str) -> None:
        """Idempotent; cascades to media and attendance, then leaves the session."""


class PeerClient:
    """What every client with a WebRTC peer shares: identity, its peer, one close chain.

    Subclasses release their own media in :meth:`_release_media`; closing the peer and
    leaving the session (membership, attendance, telling the others) happen here, once.

    A client is counted when its media connects (:meth:`LiveSession.connected`), not when
    it asks: once an offer is answered or sent (:meth:`expect_media`), media must flow
    within ``connect_timeout_seconds``, or the client is closed, never counted.
    """

    kind = "peer"

    def __init__(self, live: LiveSession, peer_label: str | None = None) -> None:
        self.id = secrets.token_urlsafe(16)
        self.live = live
        self.label = peer_label or f"{self.kind} {live.id}/{self.id[:6]}"
        self.member: Member | None = None
        self.device_id: int | None = None
        self.venue_id: int | None = None
        self.presence: Presence | None = None
        self.closed = False
        #: Called once this client leaves its session (the registry's peer budget).
        self.on_closed: Callable[[], None] | None = None
        self._connect_timer: asyncio.TimerHandle | None = None
        self.peer = live.new_peer(
            self.label, on_ended=self._peer_ended, on_connected=self._peer_connected
        )

    def _peer_ended(self, reason: str) -> None:
        self.live.spawn(self.close(reason))

    def _peer_connected(self) -> None:
        self._cancel_connect_timer()
        self.live.spawn(self._count())

    async def _count(self) -> None:
        try:
            await self.live.connected(self)
        except SessionFull as exc:
            logger.info("%s: connected, but the group filled up first", self.label)
            await self.refused("session_full", str(exc))
            await self.close("session-full")
        except Exception:
            # The ledger could not write (the database is down): the media still flows.
            logger.exception("%s: connected, but could not be counted", self.label)

    def expect_media(self) -> None:
        """An offer was answered or sent: media must flow within ``connect_timeout_seconds``."""
        if self._connect_timer is not None or self.closed or self.peer.was_connected:
            return
        seconds = self.live.settings.connect_timeout_seconds
        self._connect_timer = asyncio.get_running_loop().call_later(
            seconds, self._connect_timed_out
        )

    def _connect_timed_out(self) -> None:
        self._connect_timer = None
        if self.closed or self.peer.was_connected:
            return
        logger.info(
            "%s: media did not connect within %g s; closed, not counted",
            self.label,
            self.live.settings.connect_timeout_seconds,
        )
        self.live.spawn(self._give_up())

    async def _give_up(self) -> None:
        await self.refused("media_timeout", "the media connection did not start in time")
        await self.close("connect-timeout")

    def _cancel_connect_timer(self) -> None:
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None

    async def refused(self, code: str, message: str) -> None:
        """Tell the client why it is being closed (a page hears it; WHEP/WHIP cannot)."""

    async def notify(self, message: dict[str, Any]) -> None:
        return None

    async def media_changed(self, change: MediaChange) -> None:
        return None

    def roster_entry(self) -> dict[str, Any] | None:
        return None

    def publishing(self) -> list[str]:
        """The tracks it sends now (none for a receive-only client)."""
        return []

    async def moderated(self, action: str) -> None:
        """Without a page to mute, only ``remove`` means something: it closes."""
        if action == "remove":
            await self.close("removed")

    def _release_media(self) -> None:
        """Stop this client's sources and tracks (before its peer closes)."""

    async def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self._cancel_connect_timer()
        self._release_media()
        # Its media is released, so its counters are final: metrics count them as retired
        # from now on (and skip closed clients), without a gap or a double count.
        self.live.retire(self.peer.counters())
        try:
            await self.peer.close()
        finally:
            try:
                # Attendance is closed even if this task is being cancelled.
                await self.live.leave(self, reason)
            finally:
                if self.on_closed is not None:
                    on_closed, self.on_closed = self.on_closed, None
                    on_closed()


class ServerSideClient:
    """What the server's own clients share (the recorder, the test card): no place in the
    membership, never counted, no page to tell; closing stops their work, then leaves."""

    kind = "server"
    member: Member | None = None
    device_id: int | None = None
    presence: Presence | None = None

    def __init__(self, live: LiveSession, id_prefix: str, label: str) -> None:
        self.id = id_prefix + secrets.token_urlsafe(8)
        self.live = live
        self.label = label
        self.closed = False

    async def notify(self, message: dict[str, Any]) -> None:
        return None

    async def media_changed(self, change: MediaChange) -> None:
        return None  # it follows the program's slots, whoever feeds them

    def roster_entry(self) -> dict[str, Any] | None:
        return None

    def publishing(self) -> list[str]:
        return []

    async def moderated(self, action: str) -> None:
        return None

    async def _stop(self, reason: str) -> None:
        """Stop this client's own work (finish a file, stop an encoder)."""

    async def close(self, reason: str) -> None:
        """Idempotent; leaves the session even if stopping fails."""
        if self.closed:
            return
        self.closed = True
        try:
            await self._stop(reason)
        finally:
            await self.live.leave(self, reason)
