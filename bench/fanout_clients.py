"""Cheap WHEP viewers for the fan-out benchmark, and one viewer that decodes everything.

A cheap viewer is a real aiortc peer: real ICE (with consent checks), real DTLS, SRTCP, and
receiver reports built from what arrived. What it skips is the per-packet work a player would
do: once its first complete key frame has been seen (decrypted, so the join time is honest),
SRTP packets are no longer decrypted; frames and bytes are counted from the cleartext RTP
header (SRTP encrypts only the payload), right where the socket hands them over: a video
frame ends at a packet with the marker bit. Depacketizing, jitter buffering, NACK and
decoding are skipped, so one process can hold a
hundred viewers and the viewers' CPU stays small next to the server's.

The driver (:mod:`bench.fanout`) talks to each process through lines on stdin/stdout, as in
:mod:`bench.clients`: ``add K`` connects K more viewers, ``snap`` reports counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
import time
from typing import Any

import numpy as np
from aiohttp import ClientSession, ClientTimeout
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics

from bench.clients import run_publisher
from bench.common import (
    CONNECT_TIMEOUT,
    client_parser,
    driver_commands,
    negotiate,
    new_peer,
    post_offer,
    reply,
    setup_client,
    stdin_reader,
    viewer_connector,
)
from stream_server.media.peers import close_peer, prefer_codec, raise_open_file_limit

#: A gap between two complete video frames longer than this is a stall.
STALL_SECONDS = 0.100
SRTP_AUTH_TAG = 10
_STREAMS_ATTR = "_RTCRtpReceiver__remote_streams"


def check_seams() -> None:
    """The private aiortc parts the cheap viewer relies on (aiortc is pinned; fail loudly)."""
    if not hasattr(RTCDtlsTransport, "_handle_rtp_data"):
        raise RuntimeError("aiortc's RTCDtlsTransport has no _handle_rtp_data")
    if _STREAMS_ATTR not in RTCRtpReceiver.__init__.__code__.co_names:
        raise RuntimeError("aiortc's RTCRtpReceiver keeps no remote stream statistics")


class _Header:
    """What StreamStatistics.add reads from a packet (sequence number, timestamp)."""

    __slots__ = ("sequence_number", "timestamp")

    def __init__(self) -> None:
        self.sequence_number = 0
        self.timestamp = 0


class _NoDecrypt:
    """Stands in for the receiving SRTP session: RTP stays encrypted, SRTCP is still opened."""

    def __init__(self, session: Any) -> None:
        self._session = session

    def unprotect(self, data: bytes) -> bytes:
        return data

    def unprotect_rtcp(self, data: bytes) -> bytes:
        return bytes(self._session.unprotect_rtcp(data))


def payload_types(sdp: str) -> tuple[set[int], set[int]]:
    """Payload types of VP8 and of Opus in an SDP answer."""
    video = {int(m) for m in re.findall(r"a=rtpmap:(\d+) VP8/90000", sdp, re.I)}
    audio = {int(m) for m in re.findall(r"a=rtpmap:(\d+) opus/48000", sdp, re.I)}
    return video, audio


def vp8_starts_keyframe(data: bytes, offset: int) -> bool:
    """Whether this (decrypted) VP8 RTP payload starts a key frame (RFC 7741)."""
    if offset >= len(data):
        return False
    first = data[offset]
    if not first & 0x10 or first & 0x07:  # S bit, partition index 0
        return False
    pos = offset + 1
    if first & 0x80:  # X: extension byte
        ext = data[pos]
        pos += 1
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            pos += 2 if data[pos] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            pos += 1
        if ext & 0x30:  # T or K
            pos += 1
    return pos < len(data) and (data[pos] & 0x01) == 0


class CheapViewer:
    """One WHEP viewer that counts frames from RTP headers; see the module docstring."""

    def __init__(self, audio: bool) -> None:
        self.pc = new_peer()
        self.receivers: dict[str, RTCRtpReceiver] = {}
        for kind, codec in (("video", "VP8"), ("audio", "opus"))[: 2 if audio else 1]:
            transceiver = self.pc.addTransceiver(kind, direction="recvonly")
            prefer_codec(transceiver, kind, codec)
            self.receivers[kind] = transceiver.receiver
        self.frames = 0
        self.bytes = 0
        self.audio_packets = 0
        self.stalls = 0
        self.max_gap = 0.0
        self.join_seconds: float | None = None
        self.first_frame = asyncio.Event()
        self._last_frame: float | None = None
        self._posted = 0.0
        self._keyframe_started = False
        self._decrypting = True

    async def play(self, http: ClientSession, url: str, token: str | None) -> None:
        self._posted = time.monotonic()
        body = await post_offer(self.pc, http, url, token)
        video_pts, audio_pts = payload_types(body)
        self._hook(video_pts, audio_pts)
        await self.pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
        await asyncio.wait_for(self.first_frame.wait(), CONNECT_TIMEOUT)

    def _hook(self, video_pts: set[int], audio_pts: set[int]) -> None:
        """Take over the DTLS transport's RTP path (SRTCP and RTCP stay aiortc's)."""
        dtls = self.receivers["video"].transport
        unpack = struct.Struct("!BBHII").unpack_from
        streams: dict[int, tuple[StreamStatistics, _Header]] = {}
        clock = {True: 90000, False: 48000}

        def statistics(ssrc: int, video: bool) -> tuple[StreamStatistics, _Header]:
            entry = streams.get(ssrc)
            if entry is None:
                stats = StreamStatistics(clock[video])
                # The receiver's RTCP task builds its receiver reports from these.
                remote = getattr(self.receivers["video" if video else "audio"], _STREAMS_ATTR)
                remote[ssrc] = stats
                entry = streams[ssrc] = (stats, _Header())
            return entry

        def count(data: bytes) -> None:
            if len(data) < 12:
                return
            first, second, seq, timestamp, ssrc = unpack(data)
            pt = second & 0x7F
            video = pt in video_pts
            if not video and pt not in audio_pts:
                return  # RTX or padding probes
            stats, header = statistics(ssrc, video)
            header.sequence_number, header.timestamp = seq, timestamp
            stats.add(header)  # type: ignore[arg-type]
            if not video:
                self.audio_packets += 1
                return
            offset = 12 + 4 * (first & 0x0F)
            if first & 0x10 and len(data) >= offset + 4:
                offset += 4 + 4 * ((data[offset + 2] << 8) | data[offset + 3])
            self.bytes += len(data) - offset - (0 if self._decrypting else SRTP_AUTH_TAG)
            if self._decrypting:
                if vp8_starts_keyframe(data, offset):
                    self._keyframe_started = True
                if not (second & 0x80 and self._keyframe_started):
                    return
                # First complete key frame: from now on, count without decrypting.
                self.join_seconds = time.monotonic() - self._posted
                self._decrypting = False
                dtls._rx_srtp = _NoDecrypt(dtls._rx_srtp)  # type: ignore[assignment]
                take_datagrams()
                self.first_frame.set()
            if second & 0x80:
                now = time.monotonic()
                if self._last_frame is not None:
                    gap = now - self._last_frame
                    if gap > STALL_SECONDS:
                        self.stalls += 1
                    if gap > self.max_gap:
                        self.max_gap = gap
                self._last_frame = now
                self.frames += 1

        def take_datagrams() -> None:
            """Count SRTP straight from the socket; STUN, DTLS and SRTCP still go to aiortc."""
            for protocol in dtls.transport._connection._protocols:
                original = protocol.datagram_received

                def received(data: bytes, addr: Any, original: Any = original) -> None:
                    if len(data) >= 12 and 127 < data[0] < 192 and not 192 <= data[1] <= 208:
                        count(data)
                    else:
                        original(data, addr)

                protocol.datagram_received = received

        async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            count(data)

        dtls._handle_rtp_data = handle_rtp_data  # type: ignore[method-assign]


async def run_viewers(
    base: str, session_id: str, token: str | None, audio: bool, tier: str | None = None
) -> None:
    """``add K`` connects K more viewers (replying with their join times); ``snap`` counts."""
    viewers: list[CheapViewer] = []
    commands = await stdin_reader()
    url = f"{base}/whep/{session_id}" + (f"?tier={tier}" if tier else "")
    connect = viewer_connector(lambda: CheapViewer(audio), url, token)

    async with ClientSession(timeout=ClientTimeout(total=CONNECT_TIMEOUT)) as http:
        try:
            async for line in driver_commands(commands):
                verb, _, arg = line.partition(" ")
                if verb == "add":
                    added = await asyncio.gather(*(connect(http) for _ in range(int(arg))))
                    ok = [v for v in added if v is not None]
                    viewers.extend(ok)
                    reply(
                        {
                            "event": "added",
                            "connected": len(ok),
                            "failed": len(added) - len(ok),
                            "join": [v.join_seconds for v in ok],
                        }
                    )
                elif verb == "probe":
                    # Late joiners one at a time while the others watch; each leaves again.
                    joins = []
                    for _ in range(int(arg)):
                        probe = await connect(http)
                        if probe is not None:
                            joins.append(probe.join_seconds)
                            await close_peer(probe.pc, "probe")
                    reply({"event": "probed", "join": joins})
                elif verb == "snap":
                    reply(
                        {
                            "event": "snap",
                            "t": time.monotonic(),
                            "video": [v.frames for v in viewers],
                            "bytes": [v.bytes for v in viewers],
                            "audio": [v.audio_packets for v in viewers],
                            "stalls": [v.stalls for v in viewers],
                            "max_gap": [v.max_gap for v in viewers],
                        }
                    )
                    for v in viewers:
                        v.max_gap = 0.0
        finally:
            await asyncio.gather(*(close_peer(v.pc, "viewer") for v in viewers))


class _Decoded:
    """Counts decoded frames of one track and checks what they look like."""

    def __init__(self) -> None:
        self.frames = 0
        self.sizes: set[tuple[int, int]] = set()
        self.errors = 0
        self.mean_rgb: list[float] = []


async def _consume(track: MediaStreamTrack, out: _Decoded) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            out.frames += 1
            if track.kind == "video":
                out.sizes.add((frame.width, frame.height))  # type: ignore[union-attr]
                if out.frames % 30 == 1:
                    rgb = frame.to_ndarray(format="rgb24")  # type: ignore[union-attr]
                    out.mean_rgb = [float(v) for v in np.asarray(rgb).mean(axis=(0, 1))]


async def run_decoder(base: str, session_id: str, token: str | None, audio: bool) -> None:
    """One full viewer: aiortc depacketizes and decodes everything (proof the stream is valid)."""
    pc: RTCPeerConnection = new_peer()
    decoded = {"video": _Decoded(), "audio": _Decoded()}
    tasks: list[asyncio.Task[None]] = []
    for kind, codec in (("video", "VP8"), ("audio", "opus"))[: 2 if audio else 1]:
        prefer_codec(pc.addTransceiver(kind, direction="recvonly"), kind, codec)

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        tasks.append(asyncio.ensure_future(_consume(track, decoded[track.kind])))

    commands = await stdin_reader()
    async with ClientSession(timeout=ClientTimeout(total=CONNECT_TIMEOUT)) as http:
        try:
            await negotiate(pc, http, f"{base}/whep/{session_id}", token)
            reply({"event": "ready"})
            async for line in driver_commands(commands):
                if line == "snap":
                    video, sound = decoded["video"], decoded["audio"]
                    reply(
                        {
                            "event": "snap",
                            "t": time.monotonic(),
                            "video": video.frames,
                            "audio": sound.frames,
                            "sizes": sorted(video.sizes),
                            "mean_rgb": video.mean_rgb,
                        }
                    )
        except Exception as exc:
            reply({"event": "error", "error": repr(exc)})
        finally:
            for task in tasks:
                task.cancel()
            await close_peer(pc, "decoder")


def main(argv: list[str] | None = None) -> None:
    parser = client_parser(__doc__.splitlines()[0], ("publisher", "viewers", "decoder"))
    parser.add_argument("--tier", default=None, help="viewers ask for this WHEP tier")
    args = parser.parse_args(argv)
    setup_client(args)
    check_seams()
    raise_open_file_limit()
    if args.role == "viewers":
        work = run_viewers(args.base, args.session, args.token, args.audio, args.tier)
    else:
        runner = run_publisher if args.role == "publisher" else run_decoder
        work = runner(args.base, args.session, args.token, args.audio)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(work)


if __name__ == "__main__":
    main()
