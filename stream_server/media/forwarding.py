"""Forwarding encoded media from one publisher to many subscribers.

The media path, per publisher track:

    publisher's RTCRtpReceiver ──(encoded frames, never decoded)──► MediaSource
    MediaSource ──► Slot ──► ForwardedTrack (one per subscriber, bounded queue)
    ForwardedTrack ──(av.Packet)──► subscriber's RTCRtpSender, which only packetizes

aiortc's senders accept ``av.Packet`` from a track and then skip the encoder (they call the
codec's ``pack``), so each subscriber costs packetization, SRTP and a datagram, not an encoder.

Two aiortc seams are used, both checked by :func:`check_aiortc_seams` at start-up:

* the receiver's jitter buffer is swapped for :class:`_FrameTap`, which hands completed frames
  to the source and never to the decoder thread (which then idles);
* the sender's ``_send_keyframe`` (called on PLI/FIR from a subscriber) is rebound to ask the
  publisher for a key frame, because a forwarding sender ignores that flag.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import logging
from collections.abc import Callable
from typing import Any

import av
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket

logger = logging.getLogger(__name__)

VIDEO_CLOCK_RATE = 90000
AUDIO_CLOCK_RATE = 48000
#: Frames a subscriber may fall behind before it skips ahead to the next key frame.
VIDEO_QUEUE_FRAMES = 45
#: Opus packets (20 ms each) a subscriber may fall behind before old ones are dropped.
AUDIO_QUEUE_PACKETS = 25
#: How long to wait for a requested key frame before asking the publisher again.
KEYFRAME_RETRY_SECONDS = 0.5

_JITTER_ATTR = "_RTCRtpReceiver__jitter_buffer"


def check_aiortc_seams() -> None:
    """Fail loudly if an aiortc upgrade moved what forwarding relies on."""
    if _JITTER_ATTR not in RTCRtpReceiver.__init__.__code__.co_names:
        raise RuntimeError("aiortc's RTCRtpReceiver has no jitter buffer attribute to tap")
    if not hasattr(RTCRtpSender, "_send_keyframe"):
        raise RuntimeError("aiortc's RTCRtpSender has no _send_keyframe hook")


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

    __slots__ = ("_packet", "data", "keyframe", "timestamp")

    def __init__(self, data: bytes, timestamp: int, keyframe: bool) -> None:
        self.data = data
        self.timestamp = timestamp  # unwrapped RTP timestamp, in the codec's clock
        self.keyframe = keyframe
        self._packet: av.Packet | None = None

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

    # -- input -------------------------------------------------------------------------
    def push(self, data: bytes, rtp_timestamp: int) -> None:
        """Take one complete encoded frame from the publisher and fan it out."""
        if self.closed or not data:
            return
        frame = EncodedFrame(data, self._unwrap(rtp_timestamp), is_keyframe(self.codec, data))
        self.frames_in += 1
        if frame.keyframe and self.kind == "video":
            self.keyframes_in += 1
            self._keyframe_wanted = False
            self._keyframe_arrived.set()
        for slot in tuple(self._slots):
            slot.deliver(frame)

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
        if self.source is not None:
            self.source.request_keyframe()

    def _detach(self, track: ForwardedTrack) -> None:
        self._tracks.discard(track)

    def deliver(self, frame: EncodedFrame) -> None:
        for track in self._tracks:
            track._offer(frame)

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

    @property
    def slot(self) -> Slot | None:
        return self._slot

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
        if self._rebase and self._last_out is not None:
            # Keep the subscriber's timestamps continuous across a change of source.
            step = 3000 if self.kind == "video" else 960
            self._offset = self._last_out + step - frame.timestamp
        self._rebase = False
        timestamp = frame.timestamp + self._offset
        self._last_out = timestamp
        self.frames_out += 1
        return frame.packet(timestamp, self._time_base)

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
    if not hasattr(receiver, _JITTER_ATTR):
        raise RuntimeError("aiortc's RTCRtpReceiver layout changed; forwarding cannot tap it")
    media_ssrc: list[int] = []

    def on_frame(data: bytes, timestamp: int, ssrc: int) -> None:
        if not media_ssrc:
            media_ssrc.append(ssrc)
        media_ssrc[0] = ssrc
        source.push(data, timestamp)

    async def send_pli() -> None:
        if media_ssrc:
            await receiver._send_rtcp_pli(media_ssrc[0])

    source._send_pli = send_pli
    setattr(receiver, _JITTER_ATTR, _FrameTap(source.kind, on_frame))


def attach_forwarded_track(sender: RTCRtpSender, track: ForwardedTrack) -> None:
    """Make a subscriber's PLI/FIR reach the publisher (a forwarding sender ignores them)."""
    sender._send_keyframe = track.request_keyframe  # type: ignore[method-assign]
