"""The registry of live sessions: the entrances (WHIP, WHEP, signaling) and their upkeep.

It owns one :class:`LiveSession` per running session (made at the first connection, dropped
when the last member leaves), the news hub for event-stream listeners, and the background
upkeep: attendance heartbeats, sessions past their end, devices revoked elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from stream_server import basics
from stream_server.attendance.ledger import AttendanceLedger
from stream_server.catalog import service as catalog
from stream_server.config import Settings
from stream_server.db.engine import Database
from stream_server.db.models import Session, SessionMode, SessionStatus, Visibility
from stream_server.devices import service as devices
from stream_server.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    KohtaamoError,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    Unavailable,
)
from stream_server.live import access, recording
from stream_server.live.client import Client, PeerClient
from stream_server.live.limits import JoinLimits, peers_the_file_limit_holds
from stream_server.live.member import SignalingChannel, WsMember
from stream_server.live.membership import SessionFull
from stream_server.live.news import NewsHub, ProgrammeNews
from stream_server.live.session import LiveSession
from stream_server.live.testcard import TestCardClient
from stream_server.live.whip import WhepViewer, WhipPublisher
from stream_server.media.peer import ForwardingCounters, MediaPortsExhausted, NegotiationError
from stream_server.media.peers import raise_open_file_limit
from stream_server.media.ports import port_range
from stream_server.media.recorder import Recorder
from stream_server.media.sdp import OfferSummary, SdpError, SdpTooLarge, parse_offer, require_codecs
from stream_server.signaling.protocol import Join, ProtocolError
from stream_server.staff import audit
from stream_server.turn import ClientIceServers
from stream_server.vocabulary import Tier

logger = logging.getLogger(__name__)

_C = TypeVar("_C", bound=PeerClient)


@dataclasses.dataclass(frozen=True)
class Answer:
    """The result of a WHIP/WHEP offer."""

    resource_id: str
    sdp: str


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


class LiveRegistry:
    """Every live session of this server."""

    def __init__(self, settings: Settings, database: Database, ledger: AttendanceLedger) -> None:
        self.settings = settings
        self.ledger = ledger
        self.news = NewsHub()
        #: "The public programme changed", for notice boards: programme writes (on commit)
        #: and public sessions going live or ending.
        self.programme_news = ProgrammeNews()
        database.after_commit.append(self._after_commit)
        #: STUN/TURN servers for clients, with TURN credentials minted per client.
        self.client_ice = ClientIceServers.from_settings(settings)
        #: The UDP ports media may use (``udp_ports``), or None for any.
        self.ports = port_range(settings.udp_ports)
        self._db = database
        self._live: dict[str, LiveSession] = {}
        self._opening: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Demo broadcasts that show the test card while nobody publishes.
        self._test_card_sessions: set[str] = set()
        self._sessions = SessionCache(database)
        #: Forwarding counters of the clients that have closed (see forwarding_counters).
        self._retired = ForwardingCounters()
        self.closed = False
        # Each peer holds ~5 descriptors (ICE, DTLS, the direct path's socket): a soft limit
        # of 1024 would cap a broadcast near 200 viewers.
        open_files = raise_open_file_limit()
        self.max_peers = self._max_peers(settings.max_peers, open_files)
        self.limits = JoinLimits(
            max_peers=self.max_peers,
            max_peers_per_address=settings.max_peers_per_address,
            joins_per_minute=settings.joins_per_address_per_minute,
            code_failures_per_minute=settings.join_code_failures_per_minute,
        )

    def _after_commit(self, info: dict[Any, Any]) -> None:
        if info.pop(audit.PROGRAMME_CHANGED, False):
            self.programme_news.changed()

    @staticmethod
    def _max_peers(configured: int, open_files: int) -> int:
        """``max_peers``, or what the open-file limit holds; never more than it holds."""
        holds = peers_the_file_limit_holds(open_files)
        if configured and configured > holds:
            logger.warning(
                "max_peers is %d but the open-file limit (%d) holds about %d peers: "
                "capped at %d; raise 'ulimit -n' for more",
                configured,
                open_files,
                holds,
                holds,
            )
            return holds
        chosen = configured or holds
        logger.info("at most %d peer connections (open-file limit %d)", chosen, open_files)
        return chosen

    # -- lookups ------------------------------------------------------------------------------
    def get(self, session_id: str) -> LiveSession | None:
        """The session's live state, if anyone is connected to it now."""
        return self._live.get(session_id)

    def live_sessions(self) -> list[LiveSession]:
        return list(self._live.values())

    def clients(self) -> list[Client]:
        return [c for live in self._live.values() for c in live.clients.values()]

    def forwarding_counters(self) -> ForwardingCounters:
        """Everything forwarded since start-up: closed clients' final counters plus the open
        clients' current ones (monotonic, as Prometheus counters must be)."""
        total = ForwardingCounters()
        total.add(self._retired)
        for client in self.clients():
            if isinstance(client, PeerClient) and not client.closed:
                total.add(client.peer.counters())
        return total

    def client(self, client_id: str) -> Client | None:
        for live in self._live.values():
            found = live.clients.get(client_id)
            if found is not None:
                return found
        return None

    def _check_open(self) -> None:
        if self.closed:
            raise Unavailable(
                "the server is stopping; try again in a moment", code="server_stopping"
            )

    async def load_session(self, session_id: str) -> Session:
        """A session that is not over (404 ``unknown_session``, 410 ``session_ended``); 503
        ``server_stopping`` once the server is stopping."""
        self._check_open()
        session = await self._sessions.get(session_id)
        if session is None:
            raise NotFound(f"no session {session_id!r}", code="unknown_session")
        if session.status == SessionStatus.CANCELLED:
            raise Gone("this session was cancelled", code="session_cancelled")
        doors = self.settings.door_times
        if catalog.session_phase(session, basics.utcnow(), doors) == catalog.Phase.ENDED:
            raise Gone("this session has ended", code="session_ended")
        return session

    def require_doors_open(self, session: Session) -> None:
        """403 ``not_started`` (with the start time) before the session's doors open: the
        same rule for WHIP, WHEP and the signaling ``join``, hosts included."""
        doors = self.settings.door_times
        if catalog.session_phase(session, basics.utcnow(), doors) != catalog.Phase.UPCOMING:
            return
        starts = session.starts_at.astimezone(basics.CITY_TZ).isoformat()
        opens = (session.starts_at - doors.open_before).astimezone(basics.CITY_TZ).isoformat()
        raise Forbidden(
            f"this session has not started yet; it starts at {starts}",
            code="not_started",
            details={"starts_at": starts, "doors_open_at": opens},
        )

    def open_interval_ids(self) -> list[int]:
        return [c.presence.interval_id for c in self.clients() if c.presence is not None]

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- live sessions ------------------------------------------------------------------------
    def _open(self, session: Session) -> LiveSession:
        self._check_open()  # nothing new starts while the server stops
        live = self._live.get(session.id)
        if live is None or live.closed:
            live = LiveSession(
                session.id,
                group=session.mode == SessionMode.GROUP,
                closes_at=session.ends_at + self.settings.door_times.grace,
                settings=self.settings,
                ledger=self.ledger,
                news=self.news,
                spawn=self.spawn,
                on_closed=self._closed,
                ports=self.ports,
                retired=self._retired,
            )
            self._live[session.id] = live
            if session.visibility == Visibility.PUBLIC:
                self.programme_news.changed()
            if session.id in self._test_card_sessions:
                live.attach(TestCardClient(live))
        return live

    async def _closed(self, live: LiveSession) -> None:
        if self._live.get(live.id) is live:
            del self._live[live.id]

    async def start_test_cards(self) -> None:
        """The demo: live public broadcasts show a test card until a publisher arrives."""
        now = basics.utcnow()
        async with self._db.session() as db:
            sessions = await catalog.list_listed_sessions(db, now, self.settings.door_times)
        for session in sessions:
            live = catalog.is_live(session, now, self.settings.door_times)
            if session.mode == SessionMode.BROADCAST and live:
                self._test_card_sessions.add(session.id)
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

    async def _place(
        self, live: LiveSession, client: PeerClient, entrance: access.Entrance
    ) -> None:
        try:
            live.place(client, entrance.role, entrance.channel, venue_id=entrance.venue_id)
        except SessionFull as exc:
            await self._discard(client)
            raise Conflict(str(exc), code="session_full") from exc
        except BaseException:
            await self._discard(client)
            raise
        client.device_id = entrance.device_id
        client.venue_id = entrance.venue_id

    async def _discard(self, client: PeerClient) -> None:
        """A client that never got a place: close its peer, give back its budget."""
        await client.peer.close()
        if client.on_closed is not None:
            release, client.on_closed = client.on_closed, None
            release()

    def _made(self, make: Callable[[], _C], address: str) -> _C:
        """A new client holding one share of the peer budget until it closes."""
        release = self.limits.peers.acquire(address)
        try:
            client = make()
        except BaseException:
            release()
            raise
        client.on_closed = release
        return client

    async def _entrance(
        self, address: str, check: Coroutine[Any, Any, access.Entrance]
    ) -> access.Entrance:
        """An entrance; a wrong join code counts against ``address`` (429 when too many)."""
        try:
            return await check
        except KohtaamoError as exc:
            if exc.code == "join_code_invalid":
                self.limits.code_failed(address)
            raise

    async def _answer(self, client: PeerClient, sdp: str) -> Answer:
        """Answer an offer; a refused offer closes the half-made client and becomes a 400.

        Nobody is counted here: the client is counted when its media connects, and closed
        uncounted if it has not within ``connect_timeout_seconds``.
        """
        try:
            answer = await client.peer.answer(sdp)
        except MediaPortsExhausted as exc:
            await client.close("media-ports-exhausted")
            raise Unavailable(str(exc), code="media_ports_exhausted") from exc
        except NegotiationError as exc:
            await asyncio.shield(self.spawn(client.close("rejected")))
            logger.info("%s: offer rejected: %s", client.label, exc)
            raise BadRequest(f"SDP offer rejected: {exc}", code="invalid_sdp") from exc
        except BaseException:
            await asyncio.shield(self.spawn(client.close("not-answered")))
            raise
        client.expect_media()
        logger.info("%s: created", client.label)
        return Answer(client.id, answer)

    # -- WHIP and WHEP ------------------------------------------------------------------------
    async def publish(
        self, session_id: str, bearer: str | None, sdp: str, address: str = "local"
    ) -> Answer:
        """WHIP ingest: the newest publisher of a session takes over the program."""
        session = await self.load_session(session_id)
        self.require_doors_open(session)
        entrance = await access.publisher_entrance(self._db, session, bearer)
        summary = self._check_offer(sdp)
        live = self._open(session)
        publisher = self._made(lambda: WhipPublisher(live), address)
        await self._place(live, publisher, entrance)
        publisher.prepare(summary)
        answer = await self._answer(publisher, sdp)
        publisher.peer.enlarge_receive_buffers()
        publisher.go_live()
        previous = live.take_program(publisher)
        if previous is not None:
            logger.info("%s: replaced by a new publisher", previous.label)
            self.spawn(previous.close("replaced"))
        return answer

    async def play(
        self,
        session_id: str,
        bearer: str | None,
        sdp: str,
        tier: str = Tier.HIGH,
        address: str = "local",
    ) -> Answer:
        """WHEP playback: the session's program to one more viewer (see :class:`Tier`).

        ``address`` is the client's (for the per-address caps and throttles, never logged).
        """
        if tier not in tuple(Tier):
            raise BadRequest(
                f"unknown tier {tier[:20]!r}; use one of {', '.join(Tier)}", code="invalid_tier"
            )
        self.limits.join(address)
        session = await self.load_session(session_id)
        self.require_doors_open(session)
        entrance = await self._entrance(address, access.viewer_entrance(self._db, session, bearer))
        summary = self._check_offer(sdp)
        live = self._open(session)
        viewer = self._made(lambda: WhepViewer(live), address)
        await self._place(live, viewer, entrance)
        viewer.prepare(summary, Tier(tier))
        return await self._answer(viewer, sdp)

    async def admits(
        self, kind: str, session_id: str, bearer: str | None, address: str = "local"
    ) -> bool:
        """Would a WHIP (``kind`` "whip") or WHEP offer with this bearer be let in now?

        A wrong join code here counts against ``address`` like one in an offer (the answer
        tells a guesser as much as a 403 would)."""
        try:
            self.limits.check_codes(address)
            session = await self.load_session(session_id)
            if kind == "whip":
                await access.publisher_entrance(self._db, session, bearer)
            else:
                await self._entrance(address, access.viewer_entrance(self._db, session, bearer))
        except KohtaamoError:
            return False
        return True

    async def listener_session(
        self, session_id: str, bearer: str | None, address: str = "local"
    ) -> Session:
        """The session whose news an event-stream listener may follow (WHEP's access rule)."""
        self.limits.check_codes(address)
        session = await self.load_session(session_id)
        await self._entrance(address, access.viewer_entrance(self._db, session, bearer))
        return session

    async def delete(self, kind: str, session_id: str, resource_id: str) -> None:
        """WHIP/WHEP ``DELETE`` on the resource URL."""
        live = self._live.get(session_id)
        client = live.clients.get(resource_id) if live is not None else None
        if client is None or client.kind != kind:
            raise NotFound("no such WHIP/WHEP resource", code="unknown_resource")
        await client.close("deleted")

    # -- the signaling WebSocket ----------------------------------------------------------------
    async def session_for_join(self, join: Join) -> Session:
        """The session a signaling ``join`` names, if this person may enter it now."""
        doors = self.settings.door_times
        async with self._db.session() as db:
            if join.code and join.session:
                # A page of one occurrence of a series: the code is the series' code.
                session = await self._sessions.get(join.session)
                if (
                    session is None
                    or not catalog.may_view(session, join.code)
                    or catalog.session_end(session, doors) + catalog.JOIN_CODE_LIFETIME
                    < basics.utcnow()
                ):
                    raise ProtocolError(
                        "join_code_invalid", "no session has this join code", "join"
                    )
            elif join.code:
                # A series' code leads to its occurrence that is live or next.
                session = await catalog.get_session_by_code(db, join.code, basics.utcnow(), doors)
                if session is None:
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
        if session.status == SessionStatus.CANCELLED:
            reason = f": {session.cancel_reason}" if session.cancel_reason else ""
            raise ProtocolError("session_cancelled", f"this session was cancelled{reason}", "join")
        phase = catalog.session_phase(session, basics.utcnow(), doors)
        if phase == catalog.Phase.ENDED:
            raise ProtocolError("session_ended", "this session has ended", "join")
        try:
            self.require_doors_open(session)
        except KohtaamoError as exc:
            raise ProtocolError(exc.code, exc.message, "join") from None
        return session

    async def join(self, join: Join, channel: SignalingChannel, address: str = "local") -> WsMember:
        """Admit a page; raises ProtocolError with the reason when it cannot be.

        Credentials are checked before anything else is touched (an invalid device token
        must not disconnect the same attendee key's other connection).
        """
        if self.closed:
            raise ProtocolError("server_stopping", "the server is stopping", "join")
        try:
            self.limits.join(address)
        except KohtaamoError as exc:
            raise ProtocolError(exc.code, exc.message, "join") from None
        try:
            session = await self.session_for_join(join)
        except ProtocolError as exc:
            if exc.code == "join_code_invalid":
                self.limits.code_failed(address)
            raise
        try:
            entrance = await access.member_entrance(
                self._db, session, join.role, join.token, join.channel, join.device_token
            )
        except KohtaamoError as exc:
            raise ProtocolError(exc.code, exc.message, "join") from None
        if self.closed:
            raise ProtocolError("server_stopping", "the server is stopping", "join")
        resumed = await self.ledger.known_attendee(session.id, join.attendee_key)
        live = self._open(session)
        if live.key_digest(join.attendee_key) in live.removed:
            raise ProtocolError("removed", "the host removed you from this session", "join")
        other = live.with_attendee_key(join.attendee_key)
        if other is not None:
            # The same page reconnected before we noticed the old socket die.
            await other.notify(
                ProtocolError("replaced", "joined on another connection").as_message()
            )
            await other.close("replaced")
        if live.closed:  # the replaced connection was the last one
            live = self._open(session)
        try:
            member = self._made(
                lambda: WsMember(
                    live, channel, join.attendee_key, lambda: self.end_session(session.id)
                ),
                address,
            )
        except KohtaamoError as exc:
            raise ProtocolError(exc.code, exc.message, "join") from None
        try:
            live.place(
                member,
                entrance.role,
                entrance.channel,
                venue_id=entrance.venue_id,
                attendee_key=join.attendee_key,
            )
        except SessionFull as exc:
            await self._discard(member)
            raise ProtocolError("session_full", str(exc), "join") from exc
        except BaseException:
            await self._discard(member)
            raise
        member.device_id = entrance.device_id
        member.admitted()
        assert member.member is not None
        await member.start(
            join.tier,
            {
                "type": "joined",
                "participant": member.member.id,
                "role": member.member.role,
                "may_publish": member.member.may_publish,
                "session": catalog.session_to_json(session, doors=self.settings.door_times),
                "ice_servers": self.client_ice.as_dicts(),
                "max_participants": live.membership.capacity,
                # This page (its attendee key) was counted in this session before.
                "resumed": resumed,
                "recording": live.recording,
            },
        )
        return member

    # -- recording ------------------------------------------------------------------------------
    async def set_recording(self, session: Session, on: bool) -> dict[str, Any]:
        live = self._live.get(session.id)
        if live is None:
            if on:
                recording.check_allowed(
                    self.settings.recording_enabled, session.mode == SessionMode.GROUP
                )
                raise Conflict(
                    "nobody is connected to this session: start the broadcast first",
                    code="session_not_live",
                )
            return recording.status(None)
        return await recording.set_recording(live, on)

    def recording_status(self, session_id: str) -> dict[str, Any]:
        return recording.status(self._live.get(session_id))

    def is_recording(self, session_id: str) -> bool:
        live = self._live.get(session_id)
        return live is not None and live.recording

    def recorder(self, session_id: str) -> Recorder | None:
        return recording.recorder_of(self._live.get(session_id))

    async def stop_recording(self, session_id: str, reason: str) -> Path | None:
        return await recording.stop(self._live.get(session_id), reason)

    # -- ending and dropping ----------------------------------------------------------------------
    async def end_session(self, session_id: str) -> None:
        """The host or staff ended the session: it is marked ended, everyone disconnected."""
        async with self._db.session() as db:
            await catalog.end_session(db, session_id)
            row = await db.get(Session, session_id)  # end_session read it: no query
            public = row is not None and row.visibility == Visibility.PUBLIC
        if public:  # a private group going live or ending is not announced
            self.programme_news.changed()
        self._sessions.forget(session_id)
        live = self._live.get(session_id)
        if live is not None:
            await live.end()
        else:
            self.news.publish(session_id, {"type": "ended"})

    async def sessions_changed(self, session_ids: list[str]) -> None:
        """Sessions were edited, cancelled or given new links: joins read them afresh, and
        the people connected to one that is now cancelled or in person only are told it has
        ended and disconnected."""
        for session_id in session_ids:
            self._sessions.forget(session_id)
        for session_id in session_ids:
            live = self._live.get(session_id)
            if live is None:
                continue
            async with self._db.session() as db:
                session = await catalog.get_session(db, session_id)
            if session is None or session.status == SessionStatus.CANCELLED or not session.online:
                logger.info("session %s: cancelled or no longer online; closing", session_id)
                await live.end()

    async def drop_device(self, device_id: int) -> int:
        """A device was revoked: close its live connections now, not at its next request."""
        gone = [c for c in self.clients() if c.device_id == device_id]
        revoked = ProtocolError("device_revoked", "this device has been revoked", None)
        for client in gone:
            await client.notify(revoked.as_message())
        await asyncio.gather(
            *(self.spawn(c.close("device-revoked")) for c in gone), return_exceptions=True
        )
        if gone:
            logger.info("device %d revoked: %d live connection(s) closed", device_id, len(gone))
        return len(gone)

    def connected_device_ids(self) -> set[int]:
        """The registered devices with a live WHIP, WHEP or WebSocket connection."""
        return {c.device_id for c in self.clients() if c.device_id is not None}

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
                now = basics.utcnow()
                for live in list(self._live.values()):
                    if live.closes_at is not None and now >= live.closes_at:
                        logger.info("session %s: passed its end; closing", live.id)
                        await self.end_session(live.id)
            except Exception:
                logger.exception("attendance heartbeat failed")

    async def close(self) -> None:
        """Server shutdown: close every connection and record everyone as left. Idempotent
        (the app calls it on shutdown and again at clean-up)."""
        self.closed = True
        self.news.close()
        self.programme_news.close()
        await asyncio.gather(
            *(live.close("server-shutdown") for live in list(self._live.values())),
            return_exceptions=True,
        )
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
