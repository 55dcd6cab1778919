"""The narrow media API the live layer uses: one :class:`Peer` per WebRTC connection.

The live layer says *what* flows (an upstream of a kind, a downstream that follows a slot,
an offer to answer); this module says *how* with aiortc. Nothing outside
``stream_server/media/`` imports aiortc: peers, transceivers and sessions descriptions stay
behind this API.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
from collections.abc import Callable, Sequence

from aiortc import RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription

from stream_server.media import seams
from stream_server.media.forwarding import (
    ForwardedTrack,
    MediaSource,
    Slot,
    attach_forwarded_track,
    tap_receiver,
)
from stream_server.media.peers import (
    close_peer,
    enlarge_receive_buffers,
    prefer_codec,
    rtc_configuration,
    settle_tasks_of,
)
from stream_server.media.ports import MediaPortsExhausted, PortRange
from stream_server.media.tiers import TierController

logger = logging.getLogger(__name__)


class NegotiationError(Exception):
    """aiortc refused an offer or answer; the message says why (for a 400 or an error)."""


__all__ = [
    "ForwardingCounters",
    "MediaPortsExhausted",
    "NegotiationError",
    "Peer",
    "PortRange",
]


@dataclasses.dataclass
class ForwardingCounters:
    """What a peer's forwarding has done so far, for metrics.

    Read from counters the forwarding path keeps anyway (sender reports need packets and
    bytes), at scrape time: nothing is added per packet.
    """

    packets: int = 0  #: RTP packets sent to subscribers
    octets: int = 0  #: their payload bytes
    frames_dropped: int = 0  #: frames a slow or just-joined subscriber skipped
    keyframe_requests: int = 0  #: key-frame requests (PLI) sent to this peer's publisher

    def add(self, other: ForwardingCounters) -> None:
        self.packets += other.packets
        self.octets += other.octets
        self.frames_dropped += other.frames_dropped
        self.keyframe_requests += other.keyframe_requests


def codec_for(kind: str, video_codec: str) -> str:
    return video_codec if kind == "video" else "opus"


@dataclasses.dataclass
class Upstream:
    """A track the remote side sends us, tapped into a :class:`MediaSource` (never decoded)."""

    kind: str
    codec: str
    label: str
    _transceiver: RTCRtpTransceiver
    source: MediaSource | None = None
    #: Key-frame requests of the sources this upstream fed before the current one.
    _past_keyframe_requests: int = dataclasses.field(default=0, init=False)

    def open(self) -> MediaSource:
        """The source this upstream feeds; a new one if the previous was closed."""
        if self.source is None or self.source.closed:
            if self.source is not None:
                self._past_keyframe_requests += self.source.keyframe_requests_sent
            self.source = MediaSource(self.kind, self.codec.upper(), label=self.label)
            tap_receiver(self._transceiver.receiver, self.source)
        return self.source

    def close(self) -> None:
        if self.source is not None:
            self._past_keyframe_requests += self.source.keyframe_requests_sent
            self.source.close()
            self.source = None

    @property
    def keyframe_requests(self) -> int:
        """Key-frame requests sent upstream through this transceiver, all sources together."""
        current = self.source.keyframe_requests_sent if self.source is not None else 0
        return self._past_keyframe_requests + current

    @property
    def live_source(self) -> MediaSource | None:
        return self.source if self.source is not None and not self.source.closed else None

    @property
    def mid(self) -> str | None:
        return self._transceiver.mid


@dataclasses.dataclass
class Downstream:
    """One transceiver that sends this peer whatever its :class:`ForwardedTrack` follows."""

    kind: str
    track: ForwardedTrack
    _transceiver: RTCRtpTransceiver
    tiers: TierController | None = None

    def follow(self, slot: Slot | None) -> None:
        self.track.follow(slot)

    def auto_tier(self, high: Slot, low: Callable[[], Slot]) -> TierController:
        """Move between ``high`` and ``low`` by this peer's receiver reports (made once)."""
        if self.tiers is None:
            self.tiers = TierController(self._transceiver.sender, self.track, high, low)
        return self.tiers

    @property
    def mid(self) -> str | None:
        return self._transceiver.mid


class Peer:
    """One WebRTC peer connection of the server, forwarding only (nothing decoded or encoded).

    ``on_connected`` is called once, when media can flow: ICE and DTLS are both connected
    (aiortc's ``connectionState`` becomes ``"connected"``). ``on_ended`` is called once with
    ``"connection-failed"`` or ``"connection-closed"`` when the connection dies by itself
    (aiortc reports a vanished peer as *closed* after ICE consent expires, so both count).

    With ``ports``, its ICE host candidates use ports of that range; when the range is full,
    :meth:`answer` and :meth:`offer` raise :class:`MediaPortsExhausted` at once.
    """

    def __init__(
        self,
        ice_servers: Sequence[dict[str, str]],
        video_codec: str,
        label: str,
        on_ended: Callable[[str], None] | None = None,
        on_connected: Callable[[], None] | None = None,
        ports: PortRange | None = None,
    ) -> None:
        self.label = label
        self.video_codec = video_codec
        self._ports = ports
        self._pc = RTCPeerConnection(rtc_configuration(ice_servers))
        self._on_ended = on_ended
        self._on_connected = on_connected
        self.closed = False
        self._upstreams: list[Upstream] = []
        self._downstreams: list[Downstream] = []
        #: Whether media has ever been able to flow on this connection.
        self.was_connected = False
        self._pc.on("connectionstatechange", self._state_changed)

    def _state_changed(self) -> None:
        state = self._pc.connectionState
        logger.debug("%s: connection %s", self.label, state)
        if self.closed:
            return
        if state == "connected":
            self.was_connected = True
            if self._on_connected is not None:
                connected, self._on_connected = self._on_connected, None
                connected()
        elif state in ("failed", "closed") and self._on_ended is not None:
            callback, self._on_ended = self._on_ended, None
            callback(f"connection-{state}")

    @property
    def has_media(self) -> bool:
        return bool(self._pc.getTransceivers())

    @property
    def connected(self) -> bool:
        return self._pc.connectionState == "connected"

    def add_upstream(self, kind: str, label: str) -> Upstream:
        """Receive a ``kind`` track from the remote side (call :meth:`Upstream.open`)."""
        codec = codec_for(kind, self.video_codec)
        transceiver = self._pc.addTransceiver(kind, direction="recvonly")
        prefer_codec(transceiver, kind, codec)
        upstream = Upstream(kind, codec, label, transceiver)
        self._upstreams.append(upstream)
        return upstream

    def add_downstream(self, kind: str, slot: Slot | None = None) -> Downstream:
        """Send the remote side what ``slot`` carries (``None``: silent until it follows one)."""
        track = ForwardedTrack(kind)
        transceiver = self._pc.addTransceiver(track, direction="sendonly")
        prefer_codec(transceiver, kind, codec_for(kind, self.video_codec))
        attach_forwarded_track(transceiver.sender, track)
        if slot is not None:
            track.follow(slot)
        downstream = Downstream(kind, track, transceiver)
        self._downstreams.append(downstream)
        return downstream

    def add_inactive(self, kind: str) -> None:
        """Answer an offered m-line that will carry nothing (e.g. video on an audio tier)."""
        transceiver = self._pc.addTransceiver(kind, direction="inactive")
        prefer_codec(transceiver, kind, codec_for(kind, self.video_codec))

    def _gathering(self) -> contextlib.AbstractContextManager[None]:
        """Where ICE gathers (inside ``setLocalDescription``): in the port range, if any."""
        return self._ports.gathering() if self._ports is not None else contextlib.nullcontext()

    async def answer(self, offer: str) -> str:
        """Take the remote offer and return our answer (with every candidate gathered).

        aiortc raises ValueError, AssertionError, KeyError and more on odd SDP, so the catch
        is deliberately broad here, at the boundary; and whatever aiortc started for this
        connection before it failed (its connect task) is stopped and collected here, so
        nothing of a refused offer outlives the request. A full port range is not the
        offer's fault and goes up as :class:`MediaPortsExhausted`.
        """
        before = asyncio.all_tasks()
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            with self._gathering():
                await self._pc.setLocalDescription(await self._pc.createAnswer())
        except MediaPortsExhausted:
            await settle_tasks_of(self._pc, asyncio.all_tasks() - before)
            raise
        except Exception as exc:
            await settle_tasks_of(self._pc, asyncio.all_tasks() - before)
            raise NegotiationError(str(exc) or type(exc).__name__) from exc
        return self._pc.localDescription.sdp  # type: ignore[no-any-return]

    async def offer(self) -> str:
        """A new offer from our side (the signaling WebSocket's server-offers flow)."""
        with self._gathering():
            await self._pc.setLocalDescription(await self._pc.createOffer())
        return self._pc.localDescription.sdp  # type: ignore[no-any-return]

    async def accept_answer(self, answer: str) -> None:
        before = asyncio.all_tasks()
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        except Exception as exc:  # aiortc's many failure modes on odd SDP
            await settle_tasks_of(self._pc, asyncio.all_tasks() - before)
            raise NegotiationError(str(exc) or type(exc).__name__) from exc

    def counters(self) -> ForwardingCounters:
        """This peer's forwarding so far (cheap: a few attribute reads per transceiver)."""
        counters = ForwardingCounters()
        for downstream in self._downstreams:
            packets, octets = downstream.track.sent()
            counters.packets += packets
            counters.octets += octets
            counters.frames_dropped += downstream.track.frames_dropped
        for upstream in self._upstreams:
            counters.keyframe_requests += upstream.keyframe_requests
        return counters

    def enlarge_receive_buffers(self) -> int:
        """A publisher's sockets must not overflow while the loop fans out (after gathering)."""
        return enlarge_receive_buffers(self._pc)

    def receive_buffer_sizes(self) -> list[int]:
        """The kernel's receive buffer of each ICE socket (for checks and diagnostics)."""
        return [
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            for sock in seams.ice_sockets(self._pc)
        ]

    async def close(self) -> None:
        """Idempotent; never hangs or raises (aiortc's close can do both on broken peers)."""
        if self.closed:
            return
        self.closed = True
        self._on_ended = self._on_connected = None
        await close_peer(self._pc, self.label)
