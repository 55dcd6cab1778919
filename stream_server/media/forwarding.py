"""Forwarding encoded media from one publisher to many subscribers.

The media path, per publisher track:

    publisher's RTCRtpReceiver ──(encoded frames, never decoded)──► MediaSource
    MediaSource ──► Slot ──► ForwardedTrack (one per subscriber)
    Slot's fan-out task ──(payloads packetized once per frame)──► each subscriber's
        _RtpForwarder: RTP header, SRTP, one datagram (or one GSO send) on its ICE socket

Each subscriber costs an RTP header, SRTP and a send, not an encoder or a packetizer, and
no task of its own: one fan-out task per slot sends a frame to every subscriber in batches
that yield to the event loop, so the publisher's packets are read in between.
(Without :func:`attach_forwarded_track`'s direct path, a ForwardedTrack is a plain
MediaStreamTrack of ``av.Packet``: aiortc's sender packetizes it, one task per subscriber;
the low tier's transcoder reads its input that way.)

The private aiortc (and aioice, pylibsrtp) parts used are reached through
:mod:`stream_server.media.seams`, which lists and checks them:

* the receiver's jitter buffer is swapped for :class:`_FrameTap`, which hands completed frames
  to the source and never to the decoder thread (which then idles);
* the sender's ``_send_keyframe`` (called on PLI/FIR from a subscriber) is rebound to ask the
  publisher for a key frame, because a forwarding sender ignores that flag;
* the sender's ``_run_rtp`` is replaced by :class:`_RtpForwarder`, which writes the counters
  aiortc's RTCP task puts in sender reports and answers NACKs through ``_retransmit``; it
  protects with the DTLS transport's ``_tx_srtp`` and sends to aioice's nominated pair.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import logging
import random
import socket
import struct
import sys
from collections.abc import Callable
from typing import Any

import av
from aiortc import RTCRtpReceiver, RTCRtpSender, clock
from aiortc.codecs import get_encoder
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RTP_HISTORY_SIZE, RtpPacket

from stream_server.media import seams

logger = logging.getLogger(__name__)

VIDEO_CLOCK_RATE = 90000
AUDIO_CLOCK_RATE = 48000
#: Frames a subscriber may fall behind before it skips ahead to the next key frame.
VIDEO_QUEUE_FRAMES = 45
#: Opus packets (20 ms each) a subscriber may fall behind before old ones are dropped.
AUDIO_QUEUE_PACKETS = 25
#: How long to wait for a requested key frame before asking the publisher again.
KEYFRAME_RETRY_SECONDS = 0.5

#: Subscribers sent to between two yields to the event loop, so ingest (the publisher's
#: packets, ICE consent) is read between batches rather than after the whole fan-out.
FANOUT_BATCH = 16
#: Linux UDP GSO (``UDP_SEGMENT``): one ``sendmsg`` carries a frame's equal-sized packets.
_SOL_UDP = 17
_UDP_SEGMENT = 103
#: At most this many packets per GSO send (the kernel takes 64 and 64 KiB).
GSO_MAX_SEGMENTS = 32


def is_keyframe(codec: str, data: bytes) -> bool:
    """Whether an encoded frame can be decoded on its own."""
    if not data:
        return False
    if codec == "VP8":
        # RFC 6386 frame tag: bit 0 is the inverse key-frame flag.
        return (data[0] & 0x01) == 0
    if codec == "H264":
        # aiortc's depayloader emits Annex B with 4-byte start codes.
        start = 0
        while True:
            index = data.find(b"\x00\x00\x01", start)
            if index < 0 or index + 3 >= len(data):
                return False
            nal_type = data[index + 3] & 0x1F
            if nal_type in (5, 7):  # IDR slice, or SPS that precedes one
                return True
            start = index + 3
    return True  # audio: every Opus packet stands alone


class EncodedFrame:
    """One encoded frame as received, shared by every subscriber."""

    __slots__ = ("_pack", "_packet", "_payloads", "data", "keyframe", "timestamp")

    def __init__(
        self,
        data: bytes,
        timestamp: int,
        keyframe: bool,
        pack: Callable[[bytes], list[bytes]] | None = None,
    ) -> None:
        self.data = data
        self.timestamp = timestamp  # unwrapped RTP timestamp, in the codec's clock
        self.keyframe = keyframe
        self._packet: av.Packet | None = None
        self._pack = pack
        self._payloads: list[bytes] | None = None

    def payloads(self) -> list[bytes]:
        """RTP payloads of this frame, packetized once for every subscriber."""
        if self._payloads is None:
            self._payloads = self._pack(self.data) if self._pack else [self.data]
        return self._payloads

    def packet(self, timestamp: int, time_base: fractions.Fraction) -> av.Packet:
        """An ``av.Packet`` for a sender; built once and shared unless timestamps differ."""
        if timestamp == self.timestamp and self._packet is not None:
            return self._packet
        packet = av.Packet(self.data)
        packet.pts = timestamp
        packet.time_base = time_base
        if timestamp == self.timestamp:
            self._packet = packet
        return packet


class MediaSource:
    """One incoming track of a publisher, as encoded frames.

    ``request_keyframe`` is coalesced: however many subscribers ask, one PLI goes upstream,
    and it is repeated until a key frame arrives, so a request is never lost.
    """

    def __init__(
        self,
        kind: str,
        codec: str,
        send_pli: Callable[[], Any] | None = None,
        label: str = "",
    ) -> None:
        self.kind = kind
        self.codec = codec
        self.label = label
        self.clock_rate = VIDEO_CLOCK_RATE if kind == "video" else AUDIO_CLOCK_RATE
        self._send_pli = send_pli
        self._slots: set[Slot] = set()
        self._keyframe_wanted = False
        self._keyframe_arrived = asyncio.Event()
        self._keyframe_task: asyncio.Task[None] | None = None
        self._last_timestamp: int | None = None
        self._timestamp_base = 0
        self.closed = False
        self.frames_in = 0
        self.keyframes_in = 0
        self.keyframe_requests_sent = 0
        self._packer: Any = None

    def _pack(self, data: bytes) -> list[bytes]:
        """Packetize with aiortc's own packer (one per source, so VP8 picture ids run on)."""
        if self._packer is None:
            mime = f"{self.kind}/{'opus' if self.kind == 'audio' else self.codec}"
            self._packer = get_encoder(RTCRtpCodecParameters(mimeType=mime, clockRate=0))
        packet = av.Packet(data)
        packet.pts = 0
        packet.time_base = fractions.Fraction(1, self.clock_rate)
        payloads, _ = self._packer.pack(packet)
        return list(payloads)

    # -- input -------------------------------------------------------------------------
    def push(self, data: bytes, rtp_timestamp: int) -> None:
        """Take one complete encoded frame from the publisher and fan it out."""
        if self.closed or not data:
            return
        frame = EncodedFrame(
            data, self._unwrap(rtp_timestamp), is_keyframe(self.codec, data), self._pack
        )
        self.frames_in += 1
        if frame.keyframe and self.kind == "video":
            self.keyframes_in += 1
            self._keyframe_wanted = False
            self._keyframe_arrived.set()
        for slot in tuple(self._slots):
            try:
                slot.deliver(frame)
            except Exception:
                # This runs inside the publisher's receive loop: an exception here would
                # make aiortc close the publisher's transport, for every viewer at once.
                logger.exception("%s: a frame was not fanned out", self.label)

    def _unwrap(self, timestamp: int) -> int:
        """RTP timestamps wrap at 2**32; forward a monotonic 64-bit value instead."""
        if self._last_timestamp is not None:
            delta = (timestamp - self._last_timestamp) & 0xFFFFFFFF
            if delta > 0x7FFFFFFF:  # reordered or older frame
                delta -= 0x100000000
            self._timestamp_base += delta
        self._last_timestamp = timestamp
        return self._timestamp_base

    # -- key frames ----------------------------------------------------------------------
    def request_keyframe(self) -> None:
        if self.kind != "video" or self.closed or self._send_pli is None:
            return
        self._keyframe_wanted = True
        if self._keyframe_task is None or self._keyframe_task.done():
            self._keyframe_task = asyncio.get_running_loop().create_task(self._ask_for_keyframe())

    async def _ask_for_keyframe(self) -> None:
        assert self._send_pli is not None
        while self._keyframe_wanted and not self.closed:
            self._keyframe_arrived.clear()
            self.keyframe_requests_sent += 1
            try:
                result = self._send_pli()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # a closing transport; the next round or close ends this
                logger.debug("%s: PLI not sent", self.label, exc_info=True)
            try:
                await asyncio.wait_for(self._keyframe_arrived.wait(), KEYFRAME_RETRY_SECONDS)
            except TimeoutError:
                continue

    # -- wiring --------------------------------------------------------------------------
    @property
    def has_subscribers(self) -> bool:
        return any(slot.subscriber_count for slot in self._slots)

    def _add_slot(self, slot: Slot) -> None:
        self._slots.add(slot)

    def _remove_slot(self, slot: Slot) -> None:
        self._slots.discard(slot)

    def close(self) -> None:
        """Stop forwarding; slots fed by this source fall silent until given another."""
        if self.closed:
            return
        self.closed = True
        if self._keyframe_task is not None:
            self._keyframe_task.cancel()
        for slot in tuple(self._slots):
            slot.source_closed(self)


class Slot:
    """A place subscribers watch (e.g. "the lecture's camera"); its source can change.

    When a publisher leaves and another takes over, every subscriber's track follows
    without renegotiation, and each starts the new source on a key frame.
    """

    def __init__(self, kind: str, label: str = "") -> None:
        self.kind = kind
        self.label = label
        self.source: MediaSource | None = None
        #: Fed when no publisher is (the demo's test card); a publisher always wins.
        self.fallback: MediaSource | None = None
        self._tracks: set[ForwardedTrack] = set()
        # Subscribers whose senders take RTP straight from here (see _RtpForwarder).
        self._direct: list[ForwardedTrack] = []
        self._pending: collections.deque[EncodedFrame] = collections.deque()
        self._wake = asyncio.Event()
        self._fanout_task: asyncio.Task[None] | None = None
        self._limit = VIDEO_QUEUE_FRAMES if kind == "video" else AUDIO_QUEUE_PACKETS
        self.fanout_overflows = 0

    @property
    def subscriber_count(self) -> int:
        return len(self._tracks)

    def set_source(self, source: MediaSource | None) -> None:
        if source is None and self.fallback is not None and not self.fallback.closed:
            source = self.fallback
        if source is self.source:
            return
        if self.source is not None:
            self.source._remove_slot(self)
        self.source = source
        for track in self._tracks:
            track._source_changed()
        if source is not None:
            source._add_slot(self)
            if self._tracks:
                source.request_keyframe()

    def source_closed(self, source: MediaSource) -> None:
        if self.source is source:
            self.set_source(None)

    def subscribe(self) -> ForwardedTrack:
        """A new track for one subscriber's sender; it starts on a key frame."""
        track = ForwardedTrack(self.kind)
        track.follow(self)
        return track

    def _attach(self, track: ForwardedTrack) -> None:
        self._tracks.add(track)
        if track._forwarder is not None and track not in self._direct:
            self._direct.append(track)
        if self.source is not None:
            self.source.request_keyframe()

    def _detach(self, track: ForwardedTrack) -> None:
        self._tracks.discard(track)
        if track in self._direct:
            self._direct.remove(track)
            if not self._direct:
                self._pending.clear()
                self._wake.set()  # the fan-out task ends

    def deliver(self, frame: EncodedFrame) -> None:
        for track in self._tracks:
            if track._forwarder is None:
                track._offer(frame)
        if not self._direct:
            return
        if len(self._pending) >= self._limit:
            # The whole fan-out is behind: drop the backlog; video resumes on a key frame.
            self.fanout_overflows += 1
            self._pending.clear()
            if self.kind == "video":
                for track in self._direct:
                    track._skip_to_keyframe()
                if not frame.keyframe:
                    return
        self._pending.append(frame)
        self._wake.set()
        if self._fanout_task is None or self._fanout_task.done():
            self._fanout_task = asyncio.get_running_loop().create_task(self._fanout())

    async def _fanout(self) -> None:
        """Send each frame to every direct subscriber, yielding to the loop between batches."""
        while self._direct:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            frame = self._pending.popleft()
            payloads = frame.payloads()  # packetized once, for every subscriber
            tracks = tuple(self._direct)
            for start in range(0, len(tracks), FANOUT_BATCH):
                now = clock.current_ntp_time()
                blocks: dict[Any, bytes] = {}  # header extensions, shared within a batch
                for track in tracks[start : start + FANOUT_BATCH]:
                    try:
                        track._send_direct(frame, payloads, now, blocks)
                    except Exception:  # one broken subscriber must not stop the others
                        logger.warning("%s: direct send failed", self.label, exc_info=True)
                        track._skip_to_keyframe()
                if start + FANOUT_BATCH < len(tracks):
                    await asyncio.sleep(0)

    def request_keyframe(self) -> None:
        if self.source is not None:
            self.source.request_keyframe()


class ForwardedTrack(MediaStreamTrack):
    """What one subscriber's sender reads: encoded packets, from a bounded queue.

    A subscriber that falls behind drops its queue and waits for the next key frame,
    so it can never slow the publisher or the other subscribers.
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._slot: Slot | None = None
        self._queue: collections.deque[EncodedFrame] = collections.deque()
        self._ready = asyncio.Event()
        self._limit = VIDEO_QUEUE_FRAMES if kind == "video" else AUDIO_QUEUE_PACKETS
        self._waiting_for_keyframe = kind == "video"
        self._offset = 0
        self._rebase = False
        self._last_out: int | None = None
        self._time_base = fractions.Fraction(
            1, VIDEO_CLOCK_RATE if kind == "video" else AUDIO_CLOCK_RATE
        )
        self.frames_out = 0
        self.frames_dropped = 0
        self.skips = 0
        self._forwarder: _RtpForwarder | None = None
        self._video = kind == "video"

    @property
    def slot(self) -> Slot | None:
        return self._slot

    def sent(self) -> tuple[int, int]:
        """RTP packets and payload bytes sent to this subscriber so far (the direct path's
        own counters, which its sender reports need anyway: reading them costs nothing)."""
        forwarder = self._forwarder
        return (forwarder.packets, forwarder.octets) if forwarder is not None else (0, 0)

    def follow(self, slot: Slot | None) -> None:
        """Forward what ``slot`` carries from now on (``None``: fall silent).

        This is how a subscriber's existing transceiver is reused for another publisher
        without renegotiating.
        """
        if slot is self._slot:
            return
        if slot is not None and slot.kind != self.kind:
            raise ValueError(f"a {self.kind} track cannot follow a {slot.kind} slot")
        if self._slot is not None:
            self._slot._detach(self)
        self._slot = slot
        self._source_changed()
        if slot is not None and self.readyState == "live":
            slot._attach(self)

    # called by the slot -------------------------------------------------------------------
    def _offer(self, frame: EncodedFrame) -> None:
        if self.readyState != "live":
            return
        if self._waiting_for_keyframe:
            if not frame.keyframe:
                self.frames_dropped += 1
                return
            self._waiting_for_keyframe = False
        if len(self._queue) >= self._limit:
            if self.kind == "video":
                # Skip ahead: the backlog is useless without its predecessors.
                self.frames_dropped += len(self._queue) + 1
                self._queue.clear()
                self.skips += 1
                self._waiting_for_keyframe = True
                self.request_keyframe()
                return
            self._queue.popleft()
            self.frames_dropped += 1
        self._queue.append(frame)
        self._ready.set()

    def _skip_to_keyframe(self) -> None:
        """Drop what is queued; video resumes on the next key frame (asked for now).

        Asked even when already waiting: the awaited key frame may itself have been dropped
        with a backlog, and then nothing else would ask again (requests are coalesced).
        """
        self._queue.clear()
        if self.kind == "video":
            if not self._waiting_for_keyframe:
                self.skips += 1
                self._waiting_for_keyframe = True
            self.request_keyframe()

    def _send_direct(
        self,
        frame: EncodedFrame,
        payloads: list[bytes],
        ntp_time: int,
        blocks: dict[Any, bytes] | None = None,
    ) -> None:
        """The direct RTP path: this subscriber's packets, straight to its socket."""
        forwarder = self._forwarder
        if forwarder is None or self.readyState != "live":
            return
        if self._waiting_for_keyframe:
            if not frame.keyframe:
                self.frames_dropped += 1
                return
        if not forwarder.ready:
            self.frames_dropped += 1
            self._waiting_for_keyframe = self.kind == "video"
            return
        self._waiting_for_keyframe = False
        timestamp = self._out_timestamp(frame.timestamp)
        if forwarder.send(payloads, timestamp, ntp_time, self._video, blocks):
            self.frames_out += 1
        else:  # the socket's buffer is full: this subscriber resumes on a key frame
            self.frames_dropped += 1
            self._skip_to_keyframe()

    def _out_timestamp(self, timestamp: int) -> int:
        """The subscriber's timestamp for a frame: continuous across a change of source (the
        first frame after one follows the last sent, one frame interval later)."""
        if self._rebase and self._last_out is not None:
            step = 3000 if self.kind == "video" else 960
            self._offset = self._last_out + step - timestamp
        self._rebase = False
        out = timestamp + self._offset
        self._last_out = out
        return out

    def _source_changed(self) -> None:
        self._queue.clear()
        self._rebase = True
        self._waiting_for_keyframe = self.kind == "video"

    def request_keyframe(self) -> None:
        """The subscriber's decoder lost its way (PLI/FIR): resume on the next key frame."""
        if self._slot is not None:
            self._slot.request_keyframe()

    # called by the sender -------------------------------------------------------------------
    async def recv(self) -> av.Packet:  # type: ignore[override]
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        frame = self._queue.popleft()
        self.frames_out += 1
        return frame.packet(self._out_timestamp(frame.timestamp), self._time_base)

    def stop(self) -> None:
        self.follow(None)
        super().stop()
        self._ready.set()


class _FrameTap:
    """Stands in for an RTCRtpReceiver's jitter buffer: frames go to a source, not a decoder."""

    def __init__(self, kind: str, on_frame: Callable[[bytes, int, int], None]) -> None:
        self._kind = kind
        self._on_frame = on_frame
        self._buffer = JitterBuffer(capacity=128, is_video=True) if kind == "video" else None

    @property
    def capacity(self) -> int:
        return self._buffer.capacity if self._buffer else 16

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        data: bytes = getattr(packet, "_data", b"")
        if self._buffer is None:
            if data:
                self._on_frame(data, packet.timestamp, packet.ssrc)
            return False, None
        pli_flag, frame = self._buffer.add(packet)
        if frame is not None:
            self._on_frame(frame.data, frame.timestamp, packet.ssrc)
        return pli_flag, None


def tap_receiver(receiver: RTCRtpReceiver, source: MediaSource) -> None:
    """Route a publisher's receiver into ``source`` as encoded frames, skipping its decoder."""
    media_ssrc: list[int] = []

    def on_frame(data: bytes, timestamp: int, ssrc: int) -> None:
        if not media_ssrc:
            media_ssrc.append(ssrc)
        media_ssrc[0] = ssrc
        source.push(data, timestamp)

    async def send_pli() -> None:
        if media_ssrc:
            await seams.send_receiver_pli(receiver, media_ssrc[0])

    source._send_pli = send_pli
    seams.install_frame_tap(receiver, _FrameTap(source.kind, on_frame))


def attach_forwarded_track(
    sender: RTCRtpSender, track: ForwardedTrack, direct: bool = True
) -> None:
    """Wire a subscriber's sender to ``track``; call before negotiating.

    A subscriber's PLI/FIR is made to reach the publisher (a forwarding sender ignores
    them). With ``direct`` (the default), the sender's own RTP loop is replaced by the
    direct path (:class:`_RtpForwarder`): packets built from payloads packetized once per
    frame, protected and sent without a task per subscriber. Otherwise aiortc's sender
    reads the track and packetizes per subscriber (the simpler, slower path).
    """
    seams.hook_keyframe_requests(sender, track.request_keyframe)
    if direct:
        slot = track.slot
        if slot is not None:
            track.follow(None)
        track._forwarder = _RtpForwarder(sender, track)
        if slot is not None:
            track.follow(slot)


class _RtpForwarder:
    """One subscriber's RTP, written directly: header, SRTP, datagram; nothing per packet else.

    It stands in for the sender's ``_run_rtp`` (aiortc starts that once DTLS is up): it
    keeps aiortc's RTCP (sender reports from the counters it updates, NACK answered from its
    own history through aiortc's ``_retransmit``, PLI relayed upstream), while the shared
    frame's payloads are packetized once for all subscribers. Only the SSRC, sequence
    number, timestamp and payload type differ per subscriber.
    """

    _header = struct.Struct("!BBHII")

    def __init__(self, sender: RTCRtpSender, track: ForwardedTrack) -> None:
        self.sender = sender
        self.track = track
        self.payload_type: int | None = None
        self.sequence = random.getrandbits(16)
        self.timestamp_origin = random.getrandbits(32)
        self.history: dict[int, bytes] = {}
        self._extensions: tuple[int, str, int] | None = None
        self._ext_cache: tuple[int, bytes] = (-1, b"")
        self._sock: socket.socket | None = None
        self._addr: Any = None
        self._protect: Callable[[bytes], bytes] | None = None
        self.ssrc = seams.sender_ssrc(sender)
        self._frames = 0
        self.packets = 0
        self.octets = 0
        seams.replace_rtp_loop(sender, self._run, self._retransmit)

    @property
    def ready(self) -> bool:
        return self._sock is not None

    async def _run(self, codec: RTCRtpCodecParameters) -> None:
        """Replaces RTCRtpSender._run_rtp: wires up, asks for a key frame, then idles."""
        sender = self.sender
        seams.sender_state(sender, "rtp_started").set()
        try:
            self.payload_type = codec.payloadType
            ids = seams.extension_ids(seams.sender_state(sender, "rtp_header_extensions_map"))
            self._extensions = (
                ids.mid or 0,
                seams.sender_state(sender, "mid") or "",
                ids.abs_send_time or 0,
            )
            path = seams.nominated_path(sender.transport)
            if path is None:
                raise ConnectionError("not connected")
            transport, self._addr, srtp = path
            self._protect = seams.srtp_protector(srtp)
            # A duplicate of the ICE socket: sendto/sendmsg straight to the kernel, without
            # asyncio's transport; a full buffer raises instead of queueing (skip ahead).
            self._sock = socket.fromfd(
                transport.get_extra_info("socket").fileno(), socket.AF_INET, socket.SOCK_DGRAM
            )
            self._sock.setblocking(False)
            self.track.request_keyframe()
            await asyncio.Future()  # until the sender stops (cancelled)
        except (asyncio.CancelledError, ConnectionError):
            pass
        finally:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            self.track.stop()
            seams.sender_state(sender, "rtp_exited").set()

    def _extension_block(self, abs_send_time: int) -> bytes:
        if self._ext_cache[0] == abs_send_time:
            return self._ext_cache[1]
        assert self._extensions is not None
        mid_id, mid, abs_id = self._extensions
        body = b""
        if mid_id and mid:
            value = mid.encode()
            body += bytes(((mid_id << 4) | (len(value) - 1),)) + value
        if abs_id:
            body += bytes(((abs_id << 4) | 2,)) + abs_send_time.to_bytes(3, "big")
        block = b""
        if body:
            body += b"\x00" * (-len(body) % 4)
            block = b"\xbe\xde" + (len(body) // 4).to_bytes(2, "big") + body
        self._ext_cache = (abs_send_time, block)
        return block

    #: Whether this kernel takes UDP_SEGMENT (None: not tried yet).
    gso: bool | None = None if sys.platform == "linux" else False

    def send(
        self,
        payloads: list[bytes],
        timestamp: int,
        ntp_time: int,
        video: bool,
        blocks: dict[Any, bytes] | None = None,
    ) -> bool:
        """Send one frame; False when the socket's buffer is full (nothing more was sent).

        ``blocks`` caches header-extension blocks by (ids, MID, send time) across the
        subscribers of one batch: they are the same for most of them.
        """
        sock, protect, pt = self._sock, self._protect, self.payload_type
        if sock is None or protect is None or pt is None:
            return True
        abs_send_time = (ntp_time >> 14) & 0x00FFFFFF
        if blocks is None:
            ext = self._extension_block(abs_send_time)
        else:
            key = (self._extensions, abs_send_time)
            ext = blocks.get(key)  # type: ignore[assignment]
            if ext is None:
                ext = blocks[key] = self._extension_block(abs_send_time)
        first = 0x90 if ext else 0x80
        rtp_timestamp = (self.timestamp_origin + timestamp) & 0xFFFFFFFF
        pack = self._header.pack
        sequence = self.sequence
        try:
            if len(payloads) == 1:  # every Opus packet, small video frames: no batching
                payload = payloads[0]
                packet = pack(first, 0x80 | pt, sequence, rtp_timestamp, self.ssrc) + ext + payload
                self.history[sequence % RTP_HISTORY_SIZE] = packet
                self.sequence = (sequence + 1) & 0xFFFF
                self.packets += 1
                self.octets += len(payload)
                sock.sendto(protect(packet), self._addr)
            else:
                history = self.history
                ssrc = self.ssrc
                last = len(payloads) - 1
                protected = []
                octets = 0
                for index, payload in enumerate(payloads):
                    marker = 0x80 if (index == last or not video) else 0
                    packet = pack(first, marker | pt, sequence, rtp_timestamp, ssrc) + ext + payload
                    history[sequence % RTP_HISTORY_SIZE] = packet
                    protected.append(protect(packet))
                    sequence = (sequence + 1) & 0xFFFF
                    octets += len(payload)
                self.sequence = sequence
                self.packets += len(payloads)
                self.octets += octets
                self._transmit(sock, protected)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:  # e.g. the peer's port is gone; ICE consent will close it
            logger.debug("send failed", exc_info=True)
        # What aiortc's RTCP task puts in this subscriber's sender reports (sent every
        # ~1 s): refreshed every few frames, always as a consistent NTP/RTP time pair.
        self._frames += 1
        if not self._frames & 3:
            sender = self.sender
            setattr(sender, seams.SR_NTP, ntp_time)
            setattr(sender, seams.SR_RTP, rtp_timestamp)
            setattr(sender, seams.SR_OCTETS, self.octets)
            setattr(sender, seams.SR_PACKETS, self.packets)
        return True

    def _transmit(self, sock: socket.socket, packets: list[bytes]) -> None:
        """Equal-sized packets to one address go as one GSO send where the kernel can."""
        addr = self._addr
        start = 0
        if _RtpForwarder.gso is not False:
            while len(packets) - start > 1:
                size = len(packets[start])
                end = start + 1
                limit = min(len(packets), start + GSO_MAX_SEGMENTS)
                while end < limit and len(packets[end]) == size:
                    end += 1
                if end < limit and len(packets[end]) < size:
                    end += 1  # the last segment may be shorter
                if end - start < 2:
                    break
                try:
                    sock.sendmsg(
                        [b"".join(packets[start:end])],
                        [(_SOL_UDP, _UDP_SEGMENT, struct.pack("=H", size))],
                        0,
                        addr,
                    )
                except (BlockingIOError, InterruptedError):
                    raise
                except OSError:
                    if _RtpForwarder.gso:
                        raise
                    logger.info("UDP GSO not available; sending packet by packet")
                    _RtpForwarder.gso = False
                    break
                _RtpForwarder.gso = True
                start = end
        for packet in packets[start:]:
            sock.sendto(packet, addr)

    async def _retransmit(self, sequence_number: int) -> None:
        """NACK: hand aiortc the packet from this history, then let it resend (as RTX)."""
        packet = self.history.get(sequence_number % RTP_HISTORY_SIZE)
        if packet is None or int.from_bytes(packet[2:4], "big") != sequence_number:
            return
        sender = self.sender
        parsed = RtpPacket.parse(packet, seams.sender_state(sender, "rtp_header_extensions_map"))
        seams.sender_state(sender, "rtp_history")[sequence_number % RTP_HISTORY_SIZE] = parsed
        await seams.retransmit_with_aiortc(sender, sequence_number)
