"""A page on the signaling WebSocket as a client of a live session (docs/signaling.md).

One peer connection per member; the server is always the offerer, so changes are queued and
negotiated one at a time, and there is never glare. Downstream transceivers are a pool: when
a publisher stops, its subscribers' transceivers fall idle and are reused for the next one
(a ``tracks`` message says so); new transceivers (a new offer) are added only when the pool
is exhausted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from stream_server.errors import KohtaamoError
from stream_server.live import recording
from stream_server.live.client import MediaChange, PeerClient
from stream_server.live.session import LiveSession
from stream_server.media.forwarding import Slot
from stream_server.media.peer import Downstream, MediaPortsExhausted, NegotiationError, Upstream
from stream_server.media.sdp import SdpError, parse_offer
from stream_server.signaling.protocol import ProtocolError
from stream_server.vocabulary import Role, Tier, Track

logger = logging.getLogger(__name__)

#: The WebSocket close code and reason for each way a member is closed by the server.
CLOSE_CODES = {
    "session-ended": (1000, "session ended"),
    "replaced": (4000, "replaced"),
    "device-revoked": (4001, "device revoked"),
    "removed": (4003, "removed by the host"),
    "server-shutdown": (1001, "server shutting down"),
    "connect-timeout": (4002, "media did not connect"),
    "session-full": (4004, "group is full"),
    # RFC 6455's "try again later": the page reconnects with its back-off.
    "media-ports-exhausted": (1013, "media ports exhausted"),
}


class SignalingChannel(Protocol):
    """The signaling transport as the live layer sees it (the web layer provides it)."""

    async def send(self, message: dict[str, Any]) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


@dataclasses.dataclass
class Feed:
    """One downstream transceiver and whose track it carries now (None: idle)."""

    downstream: Downstream
    publisher: int | None = None
    track_name: str | None = None


class WsMember(PeerClient):
    """One page (join, host, tablet, kiosk) in one live session."""

    kind = "ws"

    def __init__(
        self,
        live: LiveSession,
        channel: SignalingChannel,
        attendee_key: str,
        end_session: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        super().__init__(live)
        self.channel = channel
        self.attendee_key = attendee_key
        self._end_session = end_session
        self.upstream: dict[str, Upstream] = {}
        self.feeds: list[Feed] = []
        self.muted = {"audio": False, "video": False}
        #: Kinds the host muted and this member has not turned on again: not forwarded
        #: (the gate is on the server, so a page that ignores ``moderated`` is muted too).
        self.held: set[str] = set()
        self.tier = Tier.HIGH
        self._needs_offer = False  # a transceiver was added: SDP must be renegotiated
        self._tracks_dirty = False  # only the mid → publisher map changed
        self._negotiating = False
        self._pending = False
        self._lock = asyncio.Lock()

    def admitted(self) -> None:
        assert self.member is not None
        self.label = f"ws {self.live.id}/{self.member.id}"

    @property
    def member_id(self) -> int:
        assert self.member is not None
        return self.member.id

    @property
    def is_host(self) -> bool:
        return self.member is not None and self.member.is_host

    # -- Client -------------------------------------------------------------------------------
    async def notify(self, message: dict[str, Any]) -> None:
        await self.send(message)

    async def refused(self, code: str, message: str) -> None:
        await self.send(ProtocolError(code, message).as_message())

    def roster_entry(self) -> dict[str, Any] | None:
        if self.member is None or self.closed:
            return None
        return {
            "id": self.member.id,
            "role": self.member.role,
            "publishing": self.publishing(),
            "muted": self.muted,
            "muted_by_host": sorted(self.held),
        }

    def publishing(self) -> list[str]:
        return [name for name, up in self.upstream.items() if up.live_source is not None]

    async def media_changed(self, change: MediaChange) -> None:
        if self.closed:
            return
        if not self.live.group:
            await self._announce_program()
            return
        publisher = change.publisher.member
        if publisher is None:
            return
        if change.on:
            for name in change.tracks:
                self._subscribe(publisher.id, name)
            await self._sync()
            return
        dirty = False
        for feed in self.feeds:
            if feed.publisher == publisher.id and feed.track_name in change.tracks:
                feed.downstream.follow(None)
                feed.publisher = feed.track_name = None
                dirty = True
        if dirty:
            await self.send({"type": "tracks", "tracks": self.track_map()})

    async def close(self, reason: str) -> None:
        """Idempotent; the server-side reasons also close the socket with their code."""
        if self.closed:
            return
        await super().close(reason)
        if reason in CLOSE_CODES:
            code, text = CLOSE_CODES[reason]
            try:
                await self.channel.close(code, text)
            except Exception:
                logger.debug("%s: socket close failed", self.label, exc_info=True)

    def _release_media(self) -> None:
        for upstream in self.upstream.values():
            upstream.close()
        for feed in self.feeds:
            feed.downstream.track.stop()

    # -- joining ------------------------------------------------------------------------------
    async def start(self, tier: str, joined: dict[str, Any]) -> None:
        """After admission: receive what is published, send ``joined`` and the first offer."""
        router = self.live.router
        if not self.live.group and not self.is_host:
            publisher = self.live.program_publisher()
            for name in (Track.VIDEO, Track.SCREEN, Track.AUDIO):
                feed = self._add_feed(router.program[name], name.kind)
                feed.track_name, feed.publisher = str(name), publisher
            self._apply_tier(Tier(tier))
        elif self.live.group:
            for other in self.live.members():
                if other is not self and other.member is not None:
                    for published in other.publishing():
                        self._subscribe(other.member.id, published)
        await self.send(joined)
        if self.live.settings.chat_enabled:
            await self.send({"type": "chat-history", "messages": self.live.chat.history()})
        self._needs_offer = self._tracks_dirty = False  # the first offer has it all
        await self.renegotiate()
        await self.live.broadcast_roster()

    # -- negotiation ----------------------------------------------------------------------
    async def renegotiate(self) -> None:
        """Send a new offer now, or right after the outstanding one is answered."""
        if self.closed or not self.peer.has_media:
            return  # an offer without media would leave aiortc's transports half-made
        async with self._lock:
            if self._negotiating:
                self._pending = True
                return
            self._negotiating = True
            self._pending = False
            try:
                sdp = await self.peer.offer()
            except MediaPortsExhausted as exc:
                logger.warning("%s: %s", self.label, exc)
                await self.send(ProtocolError("media_ports_exhausted", str(exc)).as_message())
                # Not under the lock: closing must not wait for this negotiation.
                self.live.spawn(self.close("media-ports-exhausted"))
                return
            if self.upstream:
                self.peer.enlarge_receive_buffers()
            await self.send({"type": "offer", "sdp": sdp, "tracks": self.track_map()})
            self.expect_media()

    async def accept_answer(self, sdp: str) -> None:
        if not self._negotiating:
            raise ProtocolError("unexpected_answer", "no offer is waiting for an answer", "answer")
        try:
            parse_offer(sdp, self.live.settings.max_sdp_bytes)
        except SdpError as exc:
            raise ProtocolError("invalid_sdp", f"invalid answer: {exc}", "answer") from exc
        try:
            await self.peer.accept_answer(sdp)
        except NegotiationError as exc:
            logger.info("%s: answer rejected: %s", self.label, exc)
            raise ProtocolError("invalid_sdp", f"answer rejected: {exc}", "answer") from exc
        self._negotiating = False
        if self._pending:
            await self.renegotiate()

    def track_map(self) -> list[dict[str, Any]]:
        """mid → what it carries; transceivers not yet in an offer (no mid) are left out."""
        tracks: list[dict[str, Any]] = []
        for name, up in self.upstream.items():
            tracks.append(
                {
                    "mid": up.mid,
                    "kind": Track(name).kind,
                    "direction": "send",
                    "slot": name,
                    "participant": self.member_id,
                }
            )
        for feed in self.feeds:
            tracks.append(
                {
                    "mid": feed.downstream.mid,
                    "kind": feed.downstream.kind,
                    "direction": "recv",
                    "slot": feed.track_name,
                    "participant": feed.publisher,
                }
            )
        return [t for t in tracks if t["mid"] is not None]

    async def send(self, message: dict[str, Any]) -> None:
        if not self.closed:
            try:
                await self.channel.send(message)
            except Exception:  # the socket is going away; its close path cleans up
                logger.debug("%s: send failed", self.label, exc_info=True)

    # -- media --------------------------------------------------------------------------------
    def _add_feed(self, slot: Slot | None, kind: str) -> Feed:
        feed = Feed(self.peer.add_downstream(kind, slot))
        self.feeds.append(feed)
        return feed

    def _subscribe(self, publisher_id: int, name: str) -> None:
        """Point one of this member's transceivers at a group publisher's track: an idle one
        if there is one (then only a ``tracks`` map is needed), else a new one (a new offer)."""
        slot = self.live.router.member_slot(publisher_id, name)
        kind = Track(name).kind
        for feed in self.feeds:
            if feed.publisher == publisher_id and feed.track_name == name:
                return
        for feed in self.feeds:
            if feed.publisher is None and feed.downstream.kind == kind:
                feed.downstream.follow(slot)
                feed.publisher, feed.track_name = publisher_id, name
                self._tracks_dirty = True
                return
        feed = self._add_feed(slot, kind)
        feed.publisher, feed.track_name = publisher_id, name
        self._needs_offer = True

    async def _sync(self) -> None:
        """Tell the page about changed transceivers: an offer if SDP changed, else a map."""
        if self._needs_offer:
            self._needs_offer = self._tracks_dirty = False
            await self.renegotiate()
        elif self._tracks_dirty:
            self._tracks_dirty = False
            await self.send({"type": "tracks", "tracks": self.track_map()})

    async def _announce_program(self) -> None:
        publisher = self.live.program_publisher()
        changed = False
        for feed in self.feeds:
            if feed.publisher != publisher:
                feed.publisher = publisher
                changed = True
        if changed:
            await self.send({"type": "tracks", "tracks": self.track_map()})

    def _feed_slot(self, name: str) -> None:
        """Connect a group member's track to its slot, unless the host has muted its kind.

        This is the moderation gate: a held track's slot has no source, so not a packet of
        it reaches the subscribers, whatever the page does.
        """
        up = self.upstream.get(name)
        source = up.live_source if up is not None else None
        if Track(name).kind in self.held:
            source = None
        self.live.router.member_slot(self.member_id, name).set_source(source)

    def _refeed(self) -> None:
        if self.live.group and not self.closed:
            for name in self.publishing():
                self._feed_slot(name)

    # -- what the page asks for -----------------------------------------------------------------
    async def publish(self, names: tuple[str, ...]) -> None:
        if self.member is None or not self.member.may_publish:
            raise ProtocolError("not_allowed", "only the host publishes in a broadcast", "publish")
        router = self.live.router
        for name in names:
            up = self.upstream.get(name)
            if up is None:
                up = self.upstream[name] = self.peer.add_upstream(
                    Track(name).kind, label=f"{self.label}/{name}"
                )
            source = up.open()
            if self.live.group:
                # Turning a track on again is how a participant unmutes itself.
                self.held.discard(Track(name).kind)
                self._feed_slot(name)
            else:
                router.program[name].set_source(source)
        await self.renegotiate()
        await self.live.media_changed(MediaChange(self, names, on=True))
        await self.live.broadcast_roster()

    async def unpublish(self, names: tuple[str, ...]) -> None:
        for name in names:
            up = self.upstream.get(name)
            if up is not None:
                up.close()
        await self.live.media_changed(MediaChange(self, names, on=False))
        await self.live.broadcast_roster()

    async def mute(self, audio: bool, video: bool) -> None:
        self.muted = {"audio": audio, "video": video}
        # A participant may unmute itself after the host muted it: forwarding resumes.
        released = {kind for kind, muted in self.muted.items() if not muted}
        if self.held & released:
            self.held -= released
            self._refeed()
        await self.live.broadcast_roster()

    def _apply_tier(self, tier: Tier) -> None:
        """Point a broadcast viewer's transceivers at the slots of ``tier`` (no new SDP)."""
        self.tier = tier
        router = self.live.router
        codec = self.live.video_codec
        for feed in self.feeds:
            if feed.track_name == Track.VIDEO:
                feed.downstream.auto_tier(router.camera, lambda: router.low_tier(codec)).reset(
                    active=tier == Tier.AUTO
                )
                if tier == Tier.AUDIO:
                    feed.downstream.follow(None)
                elif tier == Tier.LOW:
                    feed.downstream.follow(router.low_tier(codec))
                else:
                    feed.downstream.follow(router.camera)
            elif feed.track_name == Track.SCREEN:
                feed.downstream.follow(None if tier == Tier.AUDIO else router.program[Track.SCREEN])

    async def set_tier(self, tier: str) -> None:
        """The viewer chose another tier (e.g. the page's "audio only" button)."""
        if self.live.group or (self.member is not None and self.member.may_publish):
            raise ProtocolError("not_allowed", "tiers are for viewers of a broadcast", "tier")
        self._apply_tier(Tier(tier))

    async def record(self, on: bool) -> None:
        """The host's ``record``: start or stop recording the broadcast (everyone is told)."""
        if not self.is_host:
            raise ProtocolError("not_host", "only the host can start or stop recording", "record")
        try:
            await recording.set_recording(self.live, on)
        except KohtaamoError as exc:
            raise ProtocolError(exc.code, exc.message, "record") from None

    async def moderate(self, target_id: int, action: str) -> None:
        """A host's ``moderate``: mute a participant's audio or video, or remove it."""
        if not self.is_host:
            raise ProtocolError(
                "not_host", "only the host of this session can moderate", "moderate"
            )
        target = self.live.member(target_id)
        if target is None or target.closed or target.roster_entry() is None:
            raise ProtocolError(
                "unknown_participant", f"no participant {target_id} in this session", "moderate"
            )
        if target.member is not None and target.member.is_host:
            raise ProtocolError("not_allowed", "a host cannot be moderated", "moderate")
        logger.info("%s: host %d: %s", target.label, self.member_id, action)
        await target.moderated(action)
        if action != "remove":
            await self.live.broadcast_roster()

    async def moderated(self, action: str) -> None:
        if action == "remove":
            self.live.removed.add(self.live.key_digest(self.attendee_key))
            await self.send({"type": "removed"})
            # In a task of its own: the host's handler must not cut the clean-up short.
            await asyncio.shield(self.live.spawn(self.close("removed")))
            return
        kind = "audio" if action == "mute-audio" else "video"
        self.held.add(kind)
        self.muted = {**self.muted, kind: True}
        self._refeed()
        await self.send({"type": "moderated", "action": action})

    async def chat(self, text: str) -> None:
        """A ``chat`` line (already cleaned by the protocol) to everyone in the session."""
        if not self.live.settings.chat_enabled:
            raise ProtocolError("chat_disabled", "chat is turned off on this server", "chat")
        room = self.live.chat
        if not room.allow(self.attendee_key):
            raise ProtocolError("rate_limited", "too many chat messages; wait a moment", "chat")
        role = Role.HOST if self.is_host else Role.PARTICIPANT
        await self.live.notify(room.post(self.member_id, role, text).as_message())

    async def delete_chat(self, message_id: int) -> None:
        """The host's ``chat-delete``: the message disappears from every page and the backlog."""
        if not self.live.settings.chat_enabled:
            raise ProtocolError("chat_disabled", "chat is turned off on this server", "chat-delete")
        if not self.is_host:
            raise ProtocolError("not_host", "only the host can delete chat messages", "chat-delete")
        if not self.live.chat.delete(message_id):
            raise ProtocolError(
                "unknown_message", f"no chat message {message_id} in this session", "chat-delete"
            )
        logger.info("%s: host deleted chat message %d", self.label, message_id)
        await self.live.notify({"type": "chat-deleted", "id": message_id})

    async def end(self) -> None:
        """A host's ``end``: the session ends for everyone, WHIP and WHEP included."""
        if not self.is_host:
            raise ProtocolError("not_allowed", "only the host can end the session", "end")
        # Ending closes the host's own socket, which cancels its handler: run the ending in
        # a task of its own so that cancellation cannot cut it short.
        await asyncio.shield(self.live.spawn(self._end_session()))
