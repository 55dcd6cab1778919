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
from stream_server.db.models import Session, SessionMode, Visibility
from stream_server.devices import service as devices
from stream_server.errors import (
    BadRequest,
    Conflict,
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
    attach_forwarded_track,
    tap_receiver,
)
from stream_server.media.peers import (
    close_peer,
    enlarge_receive_buffers,
    prefer_codec,
    raise_open_file_limit,
    rtc_configuration,
)
from stream_server.media.router import SessionRouter
from stream_server.media.sdp import (
    OfferSummary,
    SdpError,
    SdpTooLarge,
    parse_offer,
    require_codecs,
)
from stream_server.media.testcard import TestCard
from stream_server.media.tiers import TIERS, TierController
from stream_server.rooms import LiveRoom, Member, RoomFull
from stream_server.services.conference import ConferenceService
from stream_server.services.recording import RecordingService
from stream_server.signaling.protocol import Join, ProtocolError

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DeviceAccess:
    """What a registered device may do in one session, and how its presence is counted."""

    device_id: int
    channel: str  # kiosk | room-link (devices) or tablet (an online participant)
    venue_id: int | None  # the venue to attribute to, when not the session's host venue
    may_publish: bool


@dataclasses.dataclass(frozen=True)
class Answer:
    """The result of a WHIP/WHEP offer."""

    resource_id: str
    sdp: str


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
        self.venue_id: int | None = None
        self.device_id: int | None = None  # the registered device behind it, if any
        self.sources: list[MediaSource] = []
        self.tracks: list[ForwardedTrack] = []
        self.tiers: TierController | None = None  # an ``auto`` viewer's tier moves
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
        try:
            await close_peer(self.pc, self.label)
        finally:
            # Attendance is closed even if this task is being cancelled.
            await self._on_closed(self, reason)


class SessionCache:
    """Sessions as joins see them, read once for a burst rather than once per join.

    When a lecture starts, a hundred viewers ask for the same session within a second; each
    read is eight queries (the session and what it refers to). Here concurrent readers share
    one read, and the result serves for ``ttl`` seconds. A session ended through this server
    is forgotten at once; one ended elsewhere (the CLI) is seen within ``ttl``.
    """

    def __init__(self, database: Database, ttl: float = 2.0) -> None:
        self._db = database
        self._ttl = ttl
        self._reads: dict[str, tuple[float, asyncio.Future[Session | None]]] = {}

    async def get(self, session_id: str) -> Session | None:
        loop = asyncio.get_running_loop()
        cached = self._reads.get(session_id)
        if cached is not None and cached[0] > loop.time():
            return await asyncio.shield(cached[1])
        if len(self._reads) > 1000:  # ids come from requests: keep the map small
            now = loop.time()
            self._reads = {k: v for k, v in self._reads.items() if v[0] > now}
        read = loop.create_task(self._read(session_id))
        self._reads[session_id] = (loop.time() + self._ttl, read)
        try:
            return await asyncio.shield(read)
        except Exception:
            self._reads.pop(session_id, None)  # a failed read is not remembered
            raise

    async def _read(self, session_id: str) -> Session | None:
        async with self._db.session() as db:
            return await catalog.get_session(db, session_id)

    def forget(self, session_id: str) -> None:
        self._reads.pop(session_id, None)


class LiveService:
    """Owns every live session's media and connections."""

    def __init__(self, settings: Settings, database: Database, ledger: AttendanceLedger) -> None:
        self.settings = settings
        self._db = database
        self.ledger = ledger
        self._rooms: dict[str, LiveRoom] = {}
        self._routers: dict[str, SessionRouter] = {}
        self._resources: dict[str, Resource] = {}
        self._publishers: dict[str, Resource] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.conference = ConferenceService(self)
        self.recordings = RecordingService(self)
        self._test_cards: dict[str, TestCard] = {}
        self._sessions = SessionCache(database)
        # Each peer holds ~5 descriptors (ICE, DTLS, the direct path's socket): a soft limit
        # of 1024 would cap a broadcast near 200 viewers.
        logger.debug("open file limit %d", raise_open_file_limit())

    # -- lookups ------------------------------------------------------------------------------
    async def _load_session(self, session_id: str) -> Session:
        session = await self._sessions.get(session_id)
        if session is None:
            raise NotFound(f"no session {session_id!r}", code="unknown_session")
        if catalog.session_phase(session, catalog.utcnow()) == catalog.Phase.ENDED:
            raise Gone("this session has ended", code="session_ended")
        return session

    async def load_session(self, session_id: str) -> Session:
        """A session that is not over (404 ``unknown_session``, 410 ``session_ended``)."""
        return await self._load_session(session_id)

    async def device_access(self, session: Session, token: str) -> DeviceAccess:
        """Check a device token against a session; raises 401/403 with the reason."""
        async with self._db.session() as db:
            device = await devices.authenticate(db, token)
            place = await devices.placement(db, device, session)
        if place is None:
            raise Forbidden(
                f"device {device.id} has no part in session {session.id}",
                code="device_not_allowed",
            )
        return DeviceAccess(
            device.id,
            devices.participant_channel(device),
            devices.attributed_venue_id(device, session),
            place.may_publish,
        )

    def room(self, session: Session) -> LiveRoom:
        room = self._rooms.get(session.id)
        if room is None:
            room = LiveRoom(
                session.id,
                session.mode,
                self.settings.group_max_participants,
                closes_at=session.ends_at + catalog.OVERRUN_GRACE,
            )
            self._rooms[session.id] = room
        return room

    def has_room(self, session_id: str) -> bool:
        """Whether anyone (a publisher, a viewer, a host) is connected to the session now."""
        return session_id in self._rooms

    def _admit(self, session: Session, role: str, channel: str) -> Member:
        try:
            return self.room(session).admit(role, channel)
        except RoomFull as exc:
            raise Conflict(str(exc), code="session_full") from exc

    def router(self, session_id: str) -> SessionRouter:
        router = self._routers.get(session_id)
        if router is None:
            router = SessionRouter(session_id)
            self._routers[session_id] = router
            card = self._test_cards.get(session_id)
            if card is not None:
                router.camera.fallback, router.audio.fallback = card.video, card.audio
                router.camera.set_source(None)
                router.audio.set_source(None)
        return router

    async def start_test_cards(self) -> None:
        """The demo: live public broadcasts show a test card until a publisher arrives."""
        now = catalog.utcnow()
        async with self._db.session() as db:
            sessions = await catalog.list_listed_sessions(db, now)
        for session in sessions:
            if session.mode == SessionMode.BROADCAST and catalog.is_live(session, now):
                card = TestCard(self.settings.video_codec, label=f"testcard {session.id}")
                self._test_cards[session.id] = card
                card.start()
                logger.info("session %s: test card on until a publisher arrives", session.id)

    def _check_offer(self, sdp: str) -> OfferSummary:
        try:
            summary = parse_offer(sdp, self.settings.max_sdp_bytes)
        except SdpTooLarge as exc:
            raise PayloadTooLarge(str(exc), code="sdp_too_large") from exc
        except SdpError as exc:
            raise BadRequest(f"invalid SDP offer: {exc}", code="invalid_sdp") from exc
        try:
            require_codecs(summary, self.settings.video_codec)
        except SdpError as exc:
            raise NotAcceptable(str(exc), code="codec_not_offered") from exc
        return summary

    def codec(self, kind: str) -> str:
        return self.settings.video_codec if kind == "video" else "opus"

    async def _negotiate(self, resource: Resource, sdp: str, prepare: Callable[[], None]) -> None:
        """Answer an offer; any failure closes the half-made peer and becomes a 400.

        aiortc raises ValueError, AssertionError, KeyError and more on odd SDP, so the
        catch is deliberately broad here, at the boundary.
        """
        try:
            prepare()
            await resource.pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
            await resource.pc.setLocalDescription(await resource.pc.createAnswer())
        except Exception as exc:
            await resource.close("rejected")
            logger.info("%s: offer rejected: %r", resource.label, exc)
            message = str(exc) or type(exc).__name__
            raise BadRequest(f"SDP offer rejected: {message}", code="invalid_sdp") from exc

    def new_peer(self) -> RTCPeerConnection:
        return RTCPeerConnection(
            rtc_configuration([s.as_dict() for s in self.settings.ice_servers])
        )

    # -- WHIP -----------------------------------------------------------------------------------
    async def publish(self, session_id: str, bearer: str | None, sdp: str) -> Answer:
        """WHIP ingest: the newest publisher of a session takes over the program."""
        session = await self._load_session(session_id)
        channel = "whip"
        access = None
        if bearer is not None and bearer.startswith(devices.DEVICE_TOKEN_PREFIX):
            access = await self.device_access(session, bearer)
            if not access.may_publish:
                raise Forbidden(
                    "only a device in the session's own room may publish",
                    code="device_not_allowed",
                )
            channel = access.channel
        elif bearer is None:
            raise Unauthorized("publishing needs the session's publish token", code="token_missing")
        elif not catalog.may_publish(session, bearer):
            raise Forbidden("wrong publish token", code="token_invalid")
        summary = self._check_offer(sdp)
        member = self._admit(session, "publisher", channel)
        resource = Resource("whip", session_id, self.new_peer(), member, self._resource_closed)
        resource.device_id = access.device_id if access else None
        router = self.router(session_id)

        def prepare() -> None:
            for kind in dict.fromkeys(summary.kinds()):  # one of each kind is forwarded
                transceiver = resource.pc.addTransceiver(kind, direction="recvonly")
                codec = self.codec(kind)
                prefer_codec(transceiver, kind, codec)
                source = MediaSource(kind, codec.upper(), label=f"{resource.label}/{kind}")
                tap_receiver(transceiver.receiver, source)
                resource.sources.append(source)

        await self._negotiate(resource, sdp, prepare)
        enlarge_receive_buffers(resource.pc)
        previous = self._publishers.get(session_id)
        self._publishers[session_id] = resource
        for source in resource.sources:
            router.slot_for(source.kind).set_source(source)
        if previous is not None:
            logger.info("%s: replaced by a new publisher", previous.label)
            self._spawn(previous.close("replaced"))
        return await self._register(resource, session_id)

    # -- WHEP -----------------------------------------------------------------------------------
    async def play(
        self, session_id: str, bearer: str | None, sdp: str, tier: str = "high"
    ) -> Answer:
        """WHEP playback: forwards the session's program to one more viewer.

        ``tier``: ``high`` (the publisher's stream), ``low`` (the session's shared 320x240
        transcode), ``audio`` (no video) or ``auto`` (high, moved to low and back from the
        viewer's receiver reports).
        """
        if tier not in TIERS:
            raise BadRequest(
                f"unknown tier {tier[:20]!r}; use one of {', '.join(TIERS)}", code="invalid_tier"
            )
        session = await self._load_session(session_id)
        access = None
        if bearer is not None and bearer.startswith(devices.DEVICE_TOKEN_PREFIX):
            access = await self.device_access(session, bearer)
        elif not catalog.may_view(session, bearer):
            if bearer is None:
                raise Unauthorized(
                    "this session is private: give its join code as the Bearer token",
                    code="join_code_missing",
                )
            raise Forbidden("wrong join code", code="join_code_invalid")
        summary = self._check_offer(sdp)
        member = self._admit(session, "viewer", access.channel if access else "whep")
        resource = Resource("whep", session_id, self.new_peer(), member, self._resource_closed)
        resource.venue_id = access.venue_id if access else None
        resource.device_id = access.device_id if access else None
        router = self.router(session_id)

        def prepare() -> None:
            for kind in dict.fromkeys(summary.kinds()):
                if kind == "video" and tier == "audio":
                    idle = resource.pc.addTransceiver("video", direction="inactive")
                    prefer_codec(idle, kind, self.codec(kind))
                    continue
                slot = router.slot_for(kind)
                if kind == "video" and tier == "low":
                    slot = router.low_tier(self.codec(kind).upper())
                track = slot.subscribe()
                resource.tracks.append(track)
                transceiver = resource.pc.addTransceiver(track, direction="sendonly")
                prefer_codec(transceiver, kind, self.codec(kind))
                attach_forwarded_track(transceiver.sender, track)
                if kind == "video" and tier == "auto":
                    resource.tiers = TierController(
                        transceiver.sender,
                        track,
                        router.camera,
                        lambda: router.low_tier(self.codec("video").upper()),
                    )

        await self._negotiate(resource, sdp, prepare)
        return await self._register(resource, session_id)

    # -- shared lifecycle -------------------------------------------------------------------------
    async def _register(self, resource: Resource, session_id: str) -> Answer:
        self._resources[resource.id] = resource
        resource.presence = await self.ledger.join(
            session_id,
            resource.member.channel,
            role=resource.member.role,
            venue_id=resource.venue_id,
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
        self.leave_room(resource.session_id, resource.member)
        if resource.presence is not None:
            await self.ledger.leave(resource.presence, reason)
        logger.info("%s: closed (%s)", resource.label, reason)

    def leave_room(self, session_id: str, member: Member) -> None:
        """Remove a member; an empty room's media state is dropped with it."""
        room = self._rooms.get(session_id)
        if room is not None:
            room.remove(member)
            if not len(room):
                del self._rooms[session_id]
                self.recordings.room_emptied(session_id)
                self.conference.chat.drop(session_id)
                router = self._routers.pop(session_id, None)
                if router is not None:
                    router.close()

    async def session_for_join(self, join: Join) -> Session:
        """The session a signaling ``join`` names, if this person may enter it now."""
        async with self._db.session() as db:
            if join.code:
                session = await catalog.get_session_by_code(db, join.code)
                if session is None or (join.session and session.id != join.session):
                    raise ProtocolError(
                        "join_code_invalid", "no session has this join code", "join"
                    )
            else:
                assert join.session is not None
                session = await self._sessions.get(join.session)
                if session is None:
                    raise ProtocolError("unknown_session", "no such session", "join")
                if (
                    session.visibility == Visibility.PRIVATE
                    and join.role != "host"
                    and not join.device_token  # checked against the session in join()
                ):
                    raise ProtocolError(
                        "join_code_required",
                        "this session is private: its join code is needed",
                        "join",
                    )
        phase = catalog.session_phase(session, catalog.utcnow())
        if phase == catalog.Phase.ENDED:
            raise ProtocolError("session_ended", "this session has ended", "join")
        if phase == catalog.Phase.UPCOMING and join.role != "host":
            raise ProtocolError(
                "not_started",
                "this session has not started yet; it starts at "
                + session.starts_at.astimezone(catalog.CITY_TZ).isoformat(),
                "join",
            )
        return session

    async def delete(self, kind: str, session_id: str, resource_id: str) -> None:
        """WHIP/WHEP ``DELETE`` on the resource URL."""
        resource = self._resources.get(resource_id)
        if resource is None or resource.kind != kind or resource.session_id != session_id:
            raise NotFound("no such WHIP/WHEP resource", code="unknown_resource")
        await resource.close("deleted")

    def resource(self, resource_id: str) -> Resource | None:
        return self._resources.get(resource_id)

    def open_interval_ids(self) -> list[int]:
        ids = [r.presence.interval_id for r in self._resources.values() if r.presence]
        return ids + self.conference.open_interval_ids()

    async def end_session(self, session_id: str) -> None:
        """The host ended the session: it is marked ended and everyone is disconnected."""
        async with self._db.session() as db:
            await catalog.end_session(db, session_id)
        self._sessions.forget(session_id)
        await self.conference.end_session(session_id)
        for resource in [r for r in self._resources.values() if r.session_id == session_id]:
            await resource.close("session-ended")

    async def drop_device(self, device_id: int) -> int:
        """A device was revoked: close its live connections now, not at its next request."""
        resources = [r for r in self._resources.values() if r.device_id == device_id]
        for resource in resources:
            await resource.close("device-revoked")
        dropped = len(resources) + await self.conference.drop_device(device_id)
        if dropped:
            logger.info("device %d revoked: %d live connection(s) closed", device_id, dropped)
        return dropped

    def connected_device_ids(self) -> set[int]:
        """The registered devices with a live WHIP, WHEP or WebSocket connection."""
        ids = {r.device_id for r in self._resources.values() if r.device_id is not None}
        return ids | self.conference.device_ids()

    async def drop_revoked_devices(self) -> list[int]:
        """Close the connections of devices revoked elsewhere (``kohtaamo devices revoke``
        writes only the database); one query, and none at all without device connections."""
        connected = self.connected_device_ids()
        if not connected:
            return []
        async with self._db.session() as db:
            revoked = await devices.revoked_among(db, connected)
        for device_id in revoked:
            logger.info("device %d was revoked elsewhere; dropping its connections", device_id)
            await self.drop_device(device_id)
        return revoked

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def heartbeat(self) -> None:
        """Keep open intervals' ``last_seen_at`` fresh, so a crash loses at most one period;
        close sessions past their end and drop devices revoked from the command line."""
        while True:
            await asyncio.sleep(self.settings.attendance_heartbeat_seconds)
            try:
                await self.drop_revoked_devices()
            except Exception:
                logger.exception("checking for revoked devices failed")
            try:
                await self.ledger.touch(self.open_interval_ids())
                now = catalog.utcnow()
                for room in list(self._rooms.values()):
                    if room.closes_at is not None and now >= room.closes_at:
                        logger.info("session %s: passed its end; closing", room.session_id)
                        await self.end_session(room.session_id)
            except Exception:
                logger.exception("attendance heartbeat failed")

    async def close(self) -> None:
        """Server shutdown: close every connection and record everyone as left."""
        for card in self._test_cards.values():
            await card.stop()
        await self.conference.close()
        await asyncio.gather(
            *(r.close("server-shutdown") for r in list(self._resources.values())),
            return_exceptions=True,
        )
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
