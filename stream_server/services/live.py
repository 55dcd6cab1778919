"""Live sessions: WHIP publishers and WHEP viewers, wired through the forwarding core.

This is the service layer between the web handlers and the domain/media modules: it checks
who may do what (catalog), builds peer connections (media), keeps the live room (rooms)
and records attendance (attendance).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription

from stream_server.attendance.ledger import AttendanceLedger, Presence
from stream_server.catalog import service as catalog
from stream_server.config import Settings
from stream_server.db.engine import Database
from stream_server.db.models import Session
from stream_server.errors import (
    BadRequest,
    Forbidden,
    Gone,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
)
from stream_server.media.forwarding import (
    ForwardedTrack,
    MediaSource,
    Slot,
    attach_forwarded_track,
    tap_receiver,
)
from stream_server.media.peers import close_peer, prefer_codec, rtc_configuration
from stream_server.media.sdp import OfferSummary, SdpError, parse_offer, require_codecs
from stream_server.rooms import LiveRoom, Member

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Answer:
    """The result of a WHIP/WHEP offer."""

    resource_id: str
    sdp: str


class SessionMedia:
    """The media of one live session: the broadcast "program" slots."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.camera = Slot("video", f"{session_id}/camera")
        self.audio = Slot("audio", f"{session_id}/audio")

    def slot_for(self, kind: str) -> Slot:
        return self.camera if kind == "video" else self.audio


class Resource:
    """One WHIP or WHEP connection: a peer connection, its attendance and its media."""

    def __init__(
        self,
        kind: str,
        session_id: str,
        pc: RTCPeerConnection,
        member: Member,
        on_closed: Callable[[Resource, str], Any],
    ) -> None:
        self.id = secrets.token_urlsafe(16)
        self.kind = kind
        self.session_id = session_id
        self.pc = pc
        self.member = member
        self.presence: Presence | None = None
        self.sources: list[MediaSource] = []
        self.tracks: list[ForwardedTrack] = []
        self.closed = False
        self._on_closed = on_closed
        self.label = f"{kind} {session_id}/{self.id[:6]}"

    async def close(self, reason: str) -> None:
        """Idempotent; cascades to media, the peer connection and attendance."""
        if self.closed:
            return
        self.closed = True
        for source in self.sources:
            source.close()
        for track in self.tracks:
            track.stop()
        await close_peer(self.pc, self.label)
        await self._on_closed(self, reason)


class LiveService:
    """Owns every live session's media and connections."""

    def __init__(self, settings: Settings, database: Database, ledger: AttendanceLedger) -> None:
        self._settings = settings
        self._db = database
        self._ledger = ledger
        self._rooms: dict[str, LiveRoom] = {}
        self._media: dict[str, SessionMedia] = {}
        self._resources: dict[str, Resource] = {}
        self._publishers: dict[str, Resource] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False

    # -- lookups ------------------------------------------------------------------------------
    async def _load_session(self, session_id: str) -> Session:
        async with self._db.session() as db:
            session = await catalog.get_session(db, session_id)
        if session is None:
            raise NotFound(f"no session {session_id!r}", code="unknown_session")
        if catalog.session_phase(session, catalog.utcnow()) == catalog.Phase.ENDED:
            raise Gone("this session has ended", code="session_ended")
        return session

    def _room(self, session: Session) -> LiveRoom:
        room = self._rooms.get(session.id)
        if room is None:
            room = LiveRoom(session.id, session.mode, self._settings.group_max_participants)
            self._rooms[session.id] = room
        return room

    def media(self, session_id: str) -> SessionMedia:
        media = self._media.get(session_id)
        if media is None:
            media = SessionMedia(session_id)
            self._media[session_id] = media
        return media

    def _check_offer(self, sdp: str) -> OfferSummary:
        try:
            summary = parse_offer(sdp, self._settings.max_sdp_bytes)
        except SdpError as exc:
            if "larger than" in str(exc):
                raise PayloadTooLarge(str(exc), code="sdp_too_large") from exc
            raise BadRequest(f"invalid SDP offer: {exc}", code="invalid_sdp") from exc
        try:
            require_codecs(summary, self._settings.video_codec)
        except SdpError as exc:
            raise NotAcceptable(str(exc), code="codec_not_offered") from exc
        return summary

    def _codec(self, kind: str) -> str:
        return self._settings.video_codec if kind == "video" else "opus"

    async def _negotiate(
        self, resource: Resource, room: LiveRoom, sdp: str, prepare: Callable[[], None]
    ) -> None:
        """Answer an offer; any failure closes the half-made peer and becomes a 400.

        aiortc raises ValueError, AssertionError, KeyError and more on odd SDP, so the
        catch is deliberately broad here, at the boundary.
        """
        try:
            prepare()
            await resource.pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
            await resource.pc.setLocalDescription(await resource.pc.createAnswer())
        except Exception as exc:
            room.remove(resource.member)
            await resource.close("rejected")
            logger.info("%s: offer rejected: %r", resource.label, exc)
            message = str(exc) or type(exc).__name__
            raise BadRequest(f"SDP offer rejected: {message}", code="invalid_sdp") from exc

    def _new_peer(self) -> RTCPeerConnection:
        return RTCPeerConnection(
            rtc_configuration([s.as_dict() for s in self._settings.ice_servers])
        )

    # -- WHIP -----------------------------------------------------------------------------------
    async def publish(self, session_id: str, bearer: str | None, sdp: str) -> Answer:
        """WHIP ingest: the newest publisher of a session takes over the program."""
        session = await self._load_session(session_id)
        if bearer is None:
            raise Unauthorized("publishing needs the session's publish token", code="token_missing")
        if not catalog.may_publish(session, bearer):
            raise Forbidden("wrong publish token", code="token_invalid")
        summary = self._check_offer(sdp)
        room = self._room(session)
        member = room.admit("publisher", "whip")
        resource = Resource("whip", session_id, self._new_peer(), member, self._resource_closed)
        media = self.media(session_id)

        def prepare() -> None:
            for kind in dict.fromkeys(summary.kinds()):  # one of each kind is forwarded
                transceiver = resource.pc.addTransceiver(kind, direction="recvonly")
                codec = self._codec(kind)
                prefer_codec(transceiver, kind, codec)
                source = MediaSource(kind, codec.upper(), label=f"{resource.label}/{kind}")
                tap_receiver(transceiver.receiver, source)
                resource.sources.append(source)

        await self._negotiate(resource, room, sdp, prepare)
        previous = self._publishers.get(session_id)
        self._publishers[session_id] = resource
        for source in resource.sources:
            media.slot_for(source.kind).set_source(source)
        if previous is not None:
            logger.info("%s: replaced by a new publisher", previous.label)
            self._spawn(previous.close("replaced"))
        return await self._register(resource, session_id)

    # -- WHEP -----------------------------------------------------------------------------------
    async def play(self, session_id: str, bearer: str | None, sdp: str) -> Answer:
        """WHEP playback: forwards the session's program to one more viewer."""
        session = await self._load_session(session_id)
        if not catalog.may_view(session, bearer):
            if bearer is None:
                raise Unauthorized(
                    "this session is private: give its join code as the Bearer token",
                    code="join_code_missing",
                )
            raise Forbidden("wrong join code", code="join_code_invalid")
        summary = self._check_offer(sdp)
        room = self._room(session)
        member = room.admit("viewer", "whep")
        resource = Resource("whep", session_id, self._new_peer(), member, self._resource_closed)
        media = self.media(session_id)

        def prepare() -> None:
            for kind in dict.fromkeys(summary.kinds()):
                track = media.slot_for(kind).subscribe()
                resource.tracks.append(track)
                transceiver = resource.pc.addTransceiver(track, direction="sendonly")
                prefer_codec(transceiver, kind, self._codec(kind))
                attach_forwarded_track(transceiver.sender, track)

        await self._negotiate(resource, room, sdp, prepare)
        return await self._register(resource, session_id)

    # -- shared lifecycle -------------------------------------------------------------------------
    async def _register(self, resource: Resource, session_id: str) -> Answer:
        self._resources[resource.id] = resource
        resource.presence = await self._ledger.join(
            session_id, resource.member.channel, role=resource.member.role
        )

        @resource.pc.on("connectionstatechange")
        def on_state() -> None:
            state = resource.pc.connectionState
            logger.debug("%s: connection %s", resource.label, state)
            if state in ("failed", "closed"):
                # aiortc reports a vanished peer as "closed" after ICE consent expires.
                self._spawn(resource.close(f"connection-{state}"))

        logger.info("%s: created", resource.label)
        return Answer(resource.id, resource.pc.localDescription.sdp)

    async def _resource_closed(self, resource: Resource, reason: str) -> None:
        self._resources.pop(resource.id, None)
        if self._publishers.get(resource.session_id) is resource:
            del self._publishers[resource.session_id]
        room = self._rooms.get(resource.session_id)
        if room is not None:
            room.remove(resource.member)
            if not len(room):
                del self._rooms[resource.session_id]
                self._media.pop(resource.session_id, None)
        if resource.presence is not None:
            await self._ledger.leave(resource.presence, reason)
        logger.info("%s: closed (%s)", resource.label, reason)

    async def delete(self, kind: str, session_id: str, resource_id: str) -> None:
        """WHIP/WHEP ``DELETE`` on the resource URL."""
        resource = self._resources.get(resource_id)
        if resource is None or resource.kind != kind or resource.session_id != session_id:
            raise NotFound("no such WHIP/WHEP resource", code="unknown_resource")
        await resource.close("deleted")

    def resource(self, resource_id: str) -> Resource | None:
        return self._resources.get(resource_id)

    def open_interval_ids(self) -> list[int]:
        return [r.presence.interval_id for r in self._resources.values() if r.presence]

    async def end_session(self, session_id: str) -> None:
        """The host ended the session: everyone is disconnected."""
        for resource in [r for r in self._resources.values() if r.session_id == session_id]:
            await resource.close("session-ended")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def heartbeat(self) -> None:
        """Keep open intervals' ``last_seen_at`` fresh, so a crash loses at most one period."""
        while True:
            await asyncio.sleep(self._settings.attendance_heartbeat_seconds)
            try:
                await self._ledger.touch(self.open_interval_ids())
            except Exception:
                logger.exception("attendance heartbeat failed")

    async def close(self) -> None:
        """Server shutdown: close every connection and record everyone as left."""
        self._closing = True
        await asyncio.gather(
            *(r.close("server-shutdown") for r in list(self._resources.values())),
            return_exceptions=True,
        )
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
