"""Participants over the signaling WebSocket: joining, publishing, renegotiation, leaving.

One peer connection per participant; the server is always the offerer (docs/signaling.md),
so changes are queued and negotiated one at a time, and there is never glare.

Downstream transceivers are a pool: when a publisher leaves, its subscribers' transceivers
fall idle and are reused for the next publisher (a ``tracks`` message says so), and new
transceivers (a new offer) are added only when the pool is exhausted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
from typing import TYPE_CHECKING, Any, Protocol

from aiortc import RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription

from stream_server.attendance.ledger import Presence
from stream_server.catalog import service as catalog
from stream_server.db.models import Session, SessionMode
from stream_server.errors import KohtaamoError
from stream_server.media.forwarding import (
    ForwardedTrack,
    MediaSource,
    Slot,
    attach_forwarded_track,
    tap_receiver,
)
from stream_server.media.peers import close_peer, enlarge_receive_buffers, prefer_codec
from stream_server.media.router import TRACK_KINDS, SessionRouter
from stream_server.media.sdp import SdpError, parse_offer
from stream_server.media.tiers import TierController
from stream_server.rooms import Member, RoomFull
from stream_server.services.chat import ChatRooms
from stream_server.signaling.protocol import Join, ProtocolError

if TYPE_CHECKING:
    from stream_server.services.live import LiveService

logger = logging.getLogger(__name__)

#: Channels that are not counted as online participants, so only a device token may use them.
ROOM_DEVICE_CHANNELS = frozenset({"kiosk", "room-link"})


class Channel(Protocol):
    """The signaling transport as the service sees it (the web layer provides it)."""

    async def send(self, message: dict[str, Any]) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


@dataclasses.dataclass
class Downstream:
    """A transceiver sending one forwarded track to this participant."""

    transceiver: RTCRtpTransceiver
    track: ForwardedTrack
    publisher: int | None = None
    slot_name: str | None = None


@dataclasses.dataclass
class Upstream:
    """A transceiver on which this participant sends one of its tracks."""

    transceiver: RTCRtpTransceiver
    source: MediaSource | None = None


class Participant:
    """One WebSocket participant in one live session."""

    def __init__(
        self,
        conference: ConferenceService,
        session: Session,
        member: Member,
        channel: Channel,
        pc: RTCPeerConnection,
        attendee_key: str,
    ) -> None:
        self.conference = conference
        self.session_id = session.id
        self.mode = session.mode
        self.member = member
        self.channel = channel
        self.pc = pc
        self.attendee_key = attendee_key
        self.presence: Presence | None = None
        self.upstream: dict[str, Upstream] = {}
        self.downstream: list[Downstream] = []
        self.muted = {"audio": False, "video": False}
        #: Kinds the host muted and this participant has not turned on again: not forwarded
        #: (the gate is on the server, so a page that ignores ``moderated`` is muted too).
        self.held: set[str] = set()
        self.tier = "high"  # what a broadcast viewer receives (see media.tiers)
        self.tiers: TierController | None = None
        self.needs_offer = False  # a transceiver was added: SDP must be renegotiated
        self.tracks_dirty = False  # only the mid → publisher map changed
        self.device_id: int | None = None  # the registered device behind it, if any
        self.closed = False
        self._negotiating = False
        self._pending = False
        self._lock = asyncio.Lock()
        self.label = f"ws {session.id}/{member.id}"

    @property
    def id(self) -> int:
        return self.member.id

    def publishing(self) -> list[str]:
        return [name for name, up in self.upstream.items() if up.source and not up.source.closed]

    # -- negotiation ---------------------------------------------------------------------
    async def renegotiate(self) -> None:
        """Send a new offer now, or right after the outstanding one is answered."""
        if self.closed or not self.pc.getTransceivers():
            return  # an offer without media would leave aiortc's transports half-made
        async with self._lock:
            if self._negotiating:
                self._pending = True
                return
            self._negotiating = True
            self._pending = False
            await self.pc.setLocalDescription(await self.pc.createOffer())
            if self.upstream:
                enlarge_receive_buffers(self.pc)
            await self.send(
                {"type": "offer", "sdp": self.pc.localDescription.sdp, "tracks": self.track_map()}
            )

    async def accept_answer(self, sdp: str) -> None:
        if not self._negotiating:
            raise ProtocolError("unexpected_answer", "no offer is waiting for an answer", "answer")
        try:
            parse_offer(sdp, self.conference.max_sdp_bytes)
        except SdpError as exc:
            raise ProtocolError("invalid_sdp", f"invalid answer: {exc}", "answer") from exc
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
        except Exception as exc:  # aiortc's many failure modes on odd SDP
            logger.info("%s: answer rejected: %r", self.label, exc)
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
                    "mid": up.transceiver.mid,
                    "kind": TRACK_KINDS[name],
                    "direction": "send",
                    "slot": name,
                    "participant": self.id,
                }
            )
        for down in self.downstream:
            tracks.append(
                {
                    "mid": down.transceiver.mid,
                    "kind": down.track.kind,
                    "direction": "recv",
                    "slot": down.slot_name,
                    "participant": down.publisher,
                }
            )
        return [t for t in tracks if t["mid"] is not None]

    # -- media -----------------------------------------------------------------------------
    def add_downstream(self, slot: Slot | None, kind: str) -> Downstream:
        track = ForwardedTrack(kind)
        transceiver = self.pc.addTransceiver(track, direction="sendonly")
        prefer_codec(transceiver, kind, self.conference.codec(kind))
        attach_forwarded_track(transceiver.sender, track)
        down = Downstream(transceiver, track)
        self.downstream.append(down)
        if slot is not None:
            track.follow(slot)
        return down

    def open_upstream(self, name: str) -> bool:
        """Prepare to receive track ``name``; True when a new transceiver (new offer) is needed."""
        kind = TRACK_KINDS[name]
        codec = self.conference.codec(kind)
        up = self.upstream.get(name)
        created = up is None
        if up is None:
            transceiver = self.pc.addTransceiver(kind, direction="recvonly")
            prefer_codec(transceiver, kind, codec)
            up = Upstream(transceiver)
            self.upstream[name] = up
        if up.source is None or up.source.closed:
            up.source = MediaSource(kind, codec.upper(), label=f"{self.label}/{name}")
            tap_receiver(up.transceiver.receiver, up.source)
        return created

    def close_upstream(self, name: str) -> None:
        up = self.upstream.get(name)
        if up is not None and up.source is not None:
            up.source.close()
            up.source = None

    async def send(self, message: dict[str, Any]) -> None:
        if not self.closed:
            try:
                await self.channel.send(message)
            except Exception:  # the socket is going away; its close path cleans up
                logger.debug("%s: send failed", self.label, exc_info=True)

    async def close(self, reason: str) -> None:
        """Idempotent; cascades to media, the peer connection, attendance and the roster."""
        if self.closed:
            return
        self.closed = True
        for name in list(self.upstream):
            self.close_upstream(name)
        for down in self.downstream:
            down.track.stop()
        try:
            await close_peer(self.pc, self.label)
        finally:
            # Attendance is closed even if this task is being cancelled.
            await self.conference._participant_closed(self, reason)


class ConferenceService:
    """Every WebSocket participant of every live session (owned by :class:`LiveService`)."""

    def __init__(self, live: LiveService) -> None:
        self._live = live
        self._participants: dict[str, dict[int, Participant]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Per session, digests of the attendee keys the host removed (memory only, for the
        #: rest of the session; a digest, so not even the random key is kept).
        self._removed: dict[str, set[str]] = {}
        #: Chat of every live session: memory only, dropped when the room empties.
        self.chat = ChatRooms()

    @property
    def max_sdp_bytes(self) -> int:
        return self._live.settings.max_sdp_bytes

    def codec(self, kind: str) -> str:
        return self._live.codec(kind)

    def participants(self, session_id: str) -> list[Participant]:
        return list(self._participants.get(session_id, {}).values())

    def open_interval_ids(self) -> list[int]:
        return [
            p.presence.interval_id
            for group in self._participants.values()
            for p in group.values()
            if p.presence
        ]

    # -- joining -----------------------------------------------------------------------------
    async def join(self, join: Join, channel: Channel) -> Participant:
        """Admit a participant; raises ProtocolError with the reason when it cannot be."""
        session = await self._live.session_for_join(join)
        if join.role == "host" and not catalog.secret_matches(join.token, session.host_token_hash):
            raise ProtocolError("token_invalid", "wrong host token", "join")
        if _key_digest(session.id, join.attendee_key) in self._removed.get(session.id, ()):
            raise ProtocolError("removed", "the host removed you from this session", "join")
        for other in self.participants(session.id):
            if other.attendee_key == join.attendee_key:
                # The same page reconnected before we noticed the old socket die.
                await other.send(
                    ProtocolError("replaced", "joined on another connection").as_message()
                )
                await other.close("replaced")
                await other.channel.close(4000, "replaced")
        channel_name, venue_id, device_id = await self._device_channel(session, join)
        room = self._live.room(session)
        role = "host" if join.role == "host" else "participant"
        try:
            member = room.admit("publisher" if role == "host" else "viewer", channel_name)
        except RoomFull as exc:
            raise ProtocolError("session_full", str(exc), "join") from exc
        member.may_publish = role == "host" or session.mode == SessionMode.GROUP
        pc = self._live.new_peer()
        participant = Participant(self, session, member, channel, pc, join.attendee_key)
        participant.device_id = device_id
        participant.presence = await self._live.ledger.join(
            session.id,
            channel_name,
            role=role,
            attendee_key=join.attendee_key,
            venue_id=venue_id,
        )
        self._participants.setdefault(session.id, {})[member.id] = participant

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("failed", "closed") and not participant.closed:
                # The page reconnects with the same attendee key; count stays the same.
                self._spawn(participant.close(f"connection-{pc.connectionState}"))

        router = self._live.router(session.id)
        if session.mode == SessionMode.BROADCAST and role != "host":
            for name in ("video", "screen", "audio"):
                down = participant.add_downstream(router.program[name], TRACK_KINDS[name])
                down.slot_name = name
                down.publisher = self._program_publisher(session.id)
            self._apply_tier(participant, join.tier)
        elif session.mode == SessionMode.GROUP:
            for other in self.participants(session.id):
                if other is not participant:
                    for name in other.publishing():
                        self._subscribe(participant, other, name, router)
        await participant.send(
            {
                "type": "joined",
                "participant": member.id,
                "role": role,
                "may_publish": member.may_publish,
                "session": catalog.session_to_json(session),
                "ice_servers": [s.as_dict() for s in self._live.settings.ice_servers],
                "max_participants": room.max_participants,
                "resumed": participant.presence.resumed,
                "recording": self._live.recordings.is_on(session.id),
            }
        )
        if self._live.settings.chat_enabled:
            history = self.chat.history(session.id)
            await participant.send({"type": "chat-history", "messages": history})
        participant.needs_offer = participant.tracks_dirty = False  # the first offer has it all
        await participant.renegotiate()
        await self.broadcast_roster(session.id)
        return participant

    async def _device_channel(
        self, session: Session, join: Join
    ) -> tuple[str, int | None, int | None]:
        """The attendance channel (and venue) of a join: room devices must prove they are.

        A kiosk or room link is not an online participant (its room is counted by headcount),
        so only a registered device token may join as one.
        """
        if join.device_token is None:
            if join.channel in ROOM_DEVICE_CHANNELS:
                raise ProtocolError(
                    "device_token_required",
                    f"only a registered device may join as {join.channel}",
                    "join",
                )
            return join.channel, None, None
        try:
            access = await self._live.device_access(session, join.device_token)
        except KohtaamoError as exc:
            raise ProtocolError(exc.code, exc.message, "join") from None
        return access.channel, access.venue_id, access.device_id

    def _program_publisher(self, session_id: str) -> int | None:
        for p in self.participants(session_id):
            if p.member.role == "publisher" and p.publishing():
                return p.id
        return None

    # -- publishing ---------------------------------------------------------------------------
    async def publish(self, participant: Participant, names: tuple[str, ...]) -> None:
        if not participant.member.may_publish:
            raise ProtocolError("not_allowed", "only the host publishes in a broadcast", "publish")
        router = self._live.router(participant.session_id)
        for name in names:
            participant.open_upstream(name)
            source = participant.upstream[name].source
            if participant.mode == SessionMode.BROADCAST:
                router.program[name].set_source(source)
            else:
                # Turning a track on again is how a participant unmutes itself.
                participant.held.discard(TRACK_KINDS[name])
                self._feed(participant, name, router)
        await participant.renegotiate()
        if participant.mode == SessionMode.GROUP:
            for other in self.participants(participant.session_id):
                if other is not participant:
                    for name in names:
                        self._subscribe(other, participant, name, router)
                    await self._sync(other)
        else:
            await self._announce_program(participant.session_id)
        await self.broadcast_roster(participant.session_id)

    def _subscribe(
        self, subscriber: Participant, publisher: Participant, name: str, router: SessionRouter
    ) -> None:
        """Point one of the subscriber's transceivers at publisher's ``name``: an idle one if
        there is one (the subscriber then needs only a ``tracks`` map), else a new one (which
        needs a new offer)."""
        slot = router.member_slot(publisher.id, name)
        kind = TRACK_KINDS[name]
        for down in subscriber.downstream:
            if down.publisher == publisher.id and down.slot_name == name:
                return
        for down in subscriber.downstream:
            if down.publisher is None and down.track.kind == kind:
                down.track.follow(slot)
                down.publisher, down.slot_name = publisher.id, name
                subscriber.tracks_dirty = True
                return
        down = subscriber.add_downstream(slot, kind)
        down.publisher, down.slot_name = publisher.id, name
        subscriber.needs_offer = True

    async def _sync(self, participant: Participant) -> None:
        """Tell a participant about changed transceivers: an offer if SDP changed, else a map."""
        if participant.needs_offer:
            participant.needs_offer = participant.tracks_dirty = False
            await participant.renegotiate()
        elif participant.tracks_dirty:
            participant.tracks_dirty = False
            await participant.send({"type": "tracks", "tracks": participant.track_map()})

    async def unpublish(self, participant: Participant, names: tuple[str, ...]) -> None:
        for name in names:
            participant.close_upstream(name)
        await self._release(participant, names)
        await self.broadcast_roster(participant.session_id)

    async def _release(self, publisher: Participant, names: tuple[str, ...] | None) -> None:
        """Free subscribers' transceivers that carried ``publisher``'s tracks."""
        if publisher.mode == SessionMode.BROADCAST:
            await self._announce_program(publisher.session_id)
            return
        for other in self.participants(publisher.session_id):
            if other is publisher:
                continue
            dirty = False
            for down in other.downstream:
                if down.publisher == publisher.id and (names is None or down.slot_name in names):
                    down.track.follow(None)
                    down.publisher = down.slot_name = None
                    dirty = True
            if dirty:
                await other.send({"type": "tracks", "tracks": other.track_map()})

    async def _announce_program(self, session_id: str) -> None:
        publisher = self._program_publisher(session_id)
        for other in self.participants(session_id):
            changed = False
            for down in other.downstream:
                if down.publisher != publisher:
                    down.publisher = publisher
                    changed = True
            if changed:
                await other.send({"type": "tracks", "tracks": other.track_map()})

    # -- quality tiers ------------------------------------------------------------------------
    def _apply_tier(self, participant: Participant, tier: str) -> None:
        """Point a broadcast viewer's transceivers at the slots of ``tier`` (no new SDP)."""
        participant.tier = tier
        router = self._live.router(participant.session_id)
        codec = self.codec("video").upper()
        for down in participant.downstream:
            if down.slot_name == "video":
                if participant.tiers is None:
                    participant.tiers = TierController(
                        down.transceiver.sender,
                        down.track,
                        router.camera,
                        lambda: router.low_tier(codec),
                    )
                participant.tiers.reset(active=tier == "auto")
                if tier == "audio":
                    down.track.follow(None)
                elif tier == "low":
                    down.track.follow(router.low_tier(codec))
                else:
                    down.track.follow(router.camera)
            elif down.slot_name == "screen":
                down.track.follow(None if tier == "audio" else router.program["screen"])

    async def set_tier(self, participant: Participant, tier: str) -> None:
        """The viewer chose another tier (e.g. the page's "audio only" button)."""
        if participant.mode != SessionMode.BROADCAST or participant.member.may_publish:
            raise ProtocolError("not_allowed", "tiers are for viewers of a broadcast", "tier")
        self._apply_tier(participant, tier)

    async def record(self, participant: Participant, on: bool) -> None:
        """The host's ``record``: start or stop recording the broadcast (everyone is told)."""
        if participant.member.role != "publisher":
            raise ProtocolError("not_host", "only the host can start or stop recording", "record")
        try:
            session = await self._live.load_session(participant.session_id)
            await self._live.recordings.set(session, on)
        except KohtaamoError as exc:
            raise ProtocolError(exc.code, exc.message, "record") from None

    async def mute(self, participant: Participant, audio: bool, video: bool) -> None:
        participant.muted = {"audio": audio, "video": video}
        # A participant may unmute itself after the host muted it: forwarding resumes.
        released = {kind for kind, muted in participant.muted.items() if not muted}
        if participant.held & released:
            participant.held -= released
            self._refeed(participant)
        await self.broadcast_roster(participant.session_id)

    # -- moderation ---------------------------------------------------------------------------
    def _feed(self, participant: Participant, name: str, router: SessionRouter) -> None:
        """Connect a group member's track to its slot, unless the host has muted its kind.

        This is the moderation gate: a held track's slot has no source, so not a packet of
        it reaches the subscribers, whatever the participant's page does.
        """
        up = participant.upstream.get(name)
        source = up.source if up is not None and up.source and not up.source.closed else None
        if TRACK_KINDS[name] in participant.held:
            source = None
        router.member_slot(participant.id, name).set_source(source)

    def _refeed(self, participant: Participant) -> None:
        if participant.mode != SessionMode.GROUP or participant.closed:
            return
        router = self._live.router(participant.session_id)
        for name in participant.publishing():
            self._feed(participant, name, router)

    async def moderate(self, host: Participant, target_id: int, action: str) -> None:
        """A host's ``moderate``: mute a participant's audio or video, or remove it."""
        if host.member.role != "publisher":
            raise ProtocolError(
                "not_host", "only the host of this session can moderate", "moderate"
            )
        target = self._participants.get(host.session_id, {}).get(target_id)
        if target is None or target.closed:
            raise ProtocolError(
                "unknown_participant", f"no participant {target_id} in this session", "moderate"
            )
        if target.member.role == "publisher":
            raise ProtocolError("not_allowed", "a host cannot be moderated", "moderate")
        logger.info("%s: host %d: %s", target.label, host.id, action)
        if action == "remove":
            await self.remove(target)
            return
        kind = "audio" if action == "mute-audio" else "video"
        target.held.add(kind)
        target.muted = {**target.muted, kind: True}
        self._refeed(target)
        await target.send({"type": "moderated", "action": action})
        await self.broadcast_roster(host.session_id)

    async def remove(self, target: Participant) -> None:
        """Close a participant for the rest of the session: a rejoin with its key is refused."""
        self._removed.setdefault(target.session_id, set()).add(
            _key_digest(target.session_id, target.attendee_key)
        )
        await target.send({"type": "removed"})
        # In a task of its own: the host's handler must not cut the clean-up short.
        await asyncio.shield(self.close_participant(target, "removed"))
        await target.channel.close(4003, "removed by the host")

    # -- chat ---------------------------------------------------------------------------------
    async def send_chat(self, participant: Participant, text: str) -> None:
        """A ``chat`` line (already cleaned by the protocol) to everyone in the session."""
        if not self._live.settings.chat_enabled:
            raise ProtocolError("chat_disabled", "chat is turned off on this server", "chat")
        room = self.chat.room(participant.session_id)
        if not room.allow(participant.attendee_key):
            raise ProtocolError("rate_limited", "too many chat messages; wait a moment", "chat")
        role = "host" if participant.member.role == "publisher" else "participant"
        message = room.post(participant.id, role, text).as_message()
        people = self.participants(participant.session_id)
        await asyncio.gather(*(p.send(message) for p in people))

    async def delete_chat(self, host: Participant, message_id: int) -> None:
        """The host's ``chat-delete``: the message disappears from every page and the backlog."""
        if not self._live.settings.chat_enabled:
            raise ProtocolError("chat_disabled", "chat is turned off on this server", "chat-delete")
        if host.member.role != "publisher":
            raise ProtocolError("not_host", "only the host can delete chat messages", "chat-delete")
        if not self.chat.room(host.session_id).delete(message_id):
            raise ProtocolError(
                "unknown_message", f"no chat message {message_id} in this session", "chat-delete"
            )
        logger.info("ws %s: host %d deleted chat message %d", host.session_id, host.id, message_id)
        deleted = {"type": "chat-deleted", "id": message_id}
        await asyncio.gather(*(p.send(deleted) for p in self.participants(host.session_id)))

    # -- roster and lifecycle -----------------------------------------------------------------
    async def broadcast_roster(self, session_id: str) -> None:
        people = self.participants(session_id)
        summary = await self._live.ledger.summary(session_id)
        message = {
            "type": "participants",
            "participants": [
                {
                    "id": p.id,
                    "role": "host" if p.member.role == "publisher" else "participant",
                    "publishing": p.publishing(),
                    "muted": p.muted,
                    "muted_by_host": sorted(p.held),
                }
                for p in people
            ],
            "online_now": summary["online_now"],
        }
        await asyncio.gather(*(p.send(message) for p in people))

    async def _participant_closed(self, participant: Participant, reason: str) -> None:
        group = self._participants.get(participant.session_id, {})
        group.pop(participant.id, None)
        if participant.mode == SessionMode.GROUP:
            self._live.router(participant.session_id).drop_member(participant.id)
        await self._release(participant, None)
        self._live.leave_room(participant.session_id, participant.member)
        if participant.presence is not None:
            await self._live.ledger.leave(participant.presence, reason)
        if group:
            await self.broadcast_roster(participant.session_id)
        else:
            self._participants.pop(participant.session_id, None)
        logger.info("%s: closed (%s)", participant.label, reason)

    async def end(self, participant: Participant) -> None:
        """A host's ``end``: the session ends for everyone, WHIP and WHEP included."""
        if participant.member.role != "publisher":
            raise ProtocolError("not_allowed", "only the host can end the session", "end")
        # Ending closes the host's own socket, which cancels its handler: run the ending in
        # a task of its own so that cancellation cannot cut it short.
        await asyncio.shield(self._spawn(self._live.end_session(participant.session_id)))

    async def end_session(self, session_id: str) -> None:
        """Tell everyone, close everyone (hosts last), and close their sockets."""
        self._removed.pop(session_id, None)
        self.chat.drop(session_id)
        people = sorted(self.participants(session_id), key=lambda p: p.member.role == "publisher")
        for participant in people:
            await participant.send({"type": "ended"})
        await asyncio.gather(
            *(self.close_participant(p, "session-ended") for p in people), return_exceptions=True
        )
        for participant in people:
            await participant.channel.close(1000, "session ended")

    def device_ids(self) -> set[int]:
        """The registered devices with a live WebSocket connection."""
        return {
            p.device_id
            for group in self._participants.values()
            for p in group.values()
            if p.device_id is not None
        }

    async def drop_device(self, device_id: int) -> int:
        """Close the connections of a revoked device, telling it why."""
        gone = [
            p
            for group in self._participants.values()
            for p in group.values()
            if p.device_id == device_id
        ]
        revoked = ProtocolError("device_revoked", "this device has been revoked", None)
        for participant in gone:
            await participant.send(revoked.as_message())
        await asyncio.gather(
            *(self.close_participant(p, "device-revoked") for p in gone), return_exceptions=True
        )
        for participant in gone:
            await participant.channel.close(4001, "device revoked")
        return len(gone)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def close_participant(self, participant: Participant, reason: str) -> asyncio.Task[Any]:
        """Close in a task of its own, so a cancelled caller cannot cut the clean-up short."""
        return self._spawn(participant.close(reason))

    async def close(self) -> None:
        for group in list(self._participants.values()):
            for participant in list(group.values()):
                await participant.close("server-shutdown")
                await participant.channel.close(1001, "server shutting down")
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _key_digest(session_id: str, attendee_key: str) -> str:
    return hashlib.sha256(f"{session_id}:{attendee_key}".encode()).hexdigest()
