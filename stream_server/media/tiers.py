"""Quality tiers for weak links: a low tier transcoded once per session, audio only, and auto.

Forwarding gives every viewer the publisher's one bitrate. For rural branches and home-care
tablets on poor links, a session can also offer:

* ``low``: the program camera decoded once and encoded once at 320x240 (~300 kbps) by
  :class:`LowTier`, which feeds a slot of its own; every low-tier viewer forwards from that
  slot, so the cost is one decoder and one encoder per session, never one per viewer;
* ``audio``: no video at all;
* ``auto``: :class:`TierController` starts a viewer on the full stream and moves it to the
  low tier and back from its receiver reports (loss fraction, REMB), with hysteresis.

A move between ``high`` and ``low`` is :meth:`ForwardedTrack.follow` on the same
transceiver: no renegotiation, and the viewer resumes on a key frame.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fractions
import logging
import time
from collections.abc import Callable
from typing import Any

import av
from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpSrPacket,
    unpack_remb_fci,
)

from stream_server.media import seams
from stream_server.media.forwarding import ForwardedTrack, MediaSource, Slot

logger = logging.getLogger(__name__)

TIERS = ("high", "low", "audio", "auto")
LOW_WIDTH, LOW_HEIGHT = 320, 240
LOW_KBPS = 300
#: Receiver-report loss above this moves an ``auto`` viewer down ...
LOSS_DOWN = 0.08
#: ... a REMB below this too (bits per second) ...
REMB_DOWN = 600_000
#: REMB is ignored this long after a viewer starts (browsers' estimates ramp up from ~300 kbps).
REMB_GRACE_SECONDS = 10.0
#: ... after this many bad reports in a row.
BAD_REPORTS_DOWN = 2
#: Back up only after this long on the low tier and this many clean reports in a row.
HOLD_LOW_SECONDS = 10.0
LOSS_UP = 0.02
GOOD_REPORTS_UP = 5
#: A low tier nobody has watched for this long stops transcoding.
IDLE_SECONDS = 5.0

_ENCODERS = {"VP8": "libvpx", "H264": "libx264"}
_DECODERS = {"VP8": "vp8", "H264": "h264"}


class LowTier:
    """One session's low tier: decode the camera slot once, scale, encode once, forward.

    The transcoder reads the camera slot like a subscriber (a bounded queue that skips to
    the next key frame when it falls behind), works in one thread off the event loop, and
    pushes its output into :attr:`slot`, which low-tier viewers follow.
    """

    def __init__(self, upstream: Slot, codec: str, label: str = "") -> None:
        self.codec = codec
        self.label = f"{label}/low"
        self.slot = Slot("video", self.label)
        self.source = MediaSource("video", codec, send_pli=self._want_keyframe, label=self.label)
        self.slot.set_source(self.source)
        self._input = ForwardedTrack("video")
        self._upstream = upstream
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="low-tier")
        self._task: asyncio.Task[None] | None = None
        self._keyframe = True
        self._decoder: Any = None
        self._encoder: Any = None
        self.frames_in = 0
        self.frames_out = 0
        self.cpu_seconds = 0.0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        self._input = ForwardedTrack("video")
        self._input.follow(self._upstream)
        self._task = asyncio.get_running_loop().create_task(self._run())
        logger.info("%s: transcoding to %dx%d", self.label, LOW_WIDTH, LOW_HEIGHT)

    async def stop(self) -> None:
        self._input.stop()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        logger.info("%s: stopped", self.label)

    def close(self) -> None:
        self._input.stop()
        if self._task is not None:
            self._task.cancel()
        self.source.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _want_keyframe(self) -> None:
        """A low-tier viewer's PLI: the next encoded frame is a key frame (no upstream PLI)."""
        self._keyframe = True

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        idle_since: float | None = None
        try:
            while True:
                if self.slot.subscriber_count:
                    idle_since = None
                elif idle_since is None:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > IDLE_SECONDS:
                    logger.info("%s: nobody watching; transcoder stops", self.label)
                    self._input.stop()
                    return
                packet = await self._input.recv()
                self.frames_in += 1
                keyframe, self._keyframe = self._keyframe, False
                out = await loop.run_in_executor(
                    self._executor, self._transcode, bytes(packet), int(packet.pts or 0), keyframe
                )
                for data, pts in out:
                    self.frames_out += 1
                    self.source.push(data, pts)
        except MediaStreamError:
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s: transcoder failed", self.label)

    def _transcode(self, data: bytes, pts: int, keyframe: bool) -> list[tuple[bytes, int]]:
        """Decode one frame, scale it, encode it (in the tier's thread)."""
        started = time.thread_time()
        try:
            if self._decoder is None:
                self._decoder = av.CodecContext.create(_DECODERS[self.codec], "r")
                self._decoder.thread_count = 1
            packet = av.Packet(data)
            out: list[tuple[bytes, int]] = []
            for frame in self._decoder.decode(packet):
                small = frame.reformat(width=LOW_WIDTH, height=LOW_HEIGHT, format="yuv420p")
                small.pts = pts
                small.time_base = fractions.Fraction(1, 90000)
                if keyframe:
                    small.pict_type = av.video.frame.PictureType.I
                    keyframe = False
                for encoded in self._encoder_context().encode(small):
                    out.append((bytes(encoded), pts))
            return out
        except av.error.FFmpegError:
            logger.warning("%s: frame not transcoded", self.label, exc_info=True)
            self._keyframe = True
            return []
        finally:
            self.cpu_seconds += time.thread_time() - started

    def _encoder_context(self) -> Any:
        if self._encoder is None:
            encoder: Any = av.CodecContext.create(_ENCODERS[self.codec], "w")
            encoder.width, encoder.height = LOW_WIDTH, LOW_HEIGHT
            encoder.pix_fmt = "yuv420p"
            encoder.time_base = fractions.Fraction(1, 90000)
            encoder.framerate = fractions.Fraction(30, 1)
            encoder.bit_rate = LOW_KBPS * 1000
            encoder.gop_size = 3000  # key frames on request (PLI), as a camera sends them
            encoder.thread_count = 1
            if self.codec == "VP8":
                encoder.options = {
                    "deadline": "realtime",
                    "cpu-used": "8",
                    "lag-in-frames": "0",
                    "error-resilient": "1",
                }
            else:
                encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
                encoder.profile = "Baseline"
            self._encoder = encoder
        return self._encoder


class TierController:
    """Moves one ``auto`` viewer between the full stream and the low tier, from its RTCP.

    Down after :data:`BAD_REPORTS_DOWN` reports in a row with loss over :data:`LOSS_DOWN`
    (or REMB under :data:`REMB_DOWN`); up again only after :data:`HOLD_LOW_SECONDS` on the
    low tier and :data:`GOOD_REPORTS_UP` clean reports in a row, so a link on the edge does
    not flap.
    """

    def __init__(
        self,
        sender: RTCRtpSender,
        track: ForwardedTrack,
        high: Slot,
        low: Callable[[], Slot],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.track = track
        self.high = high
        self._low = low
        self._clock = clock
        self.tier = "high"
        self.active = True
        self.moves = 0
        self._bad = 0
        self._good = 0
        self._since = self._started = clock()
        self._ssrc = seams.sender_ssrc(sender)
        seams.observe_rtcp(sender, self.observe)

    def reset(self, active: bool) -> None:
        """Start over on the full stream (``active``) or stay out of the way (a fixed tier)."""
        self.active = active
        self.tier = "high"
        self._bad = self._good = 0
        self._since = self._started = self._clock()

    def observe(self, packet: Any) -> None:
        """One RTCP packet addressed to this viewer's sender."""
        if not self.active:
            return
        if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            for report in packet.reports:
                if report.ssrc == self._ssrc:
                    self.report(loss=report.fraction_lost / 256, remb=None)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:  # REMB
            try:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                return
            if self._ssrc in ssrcs:
                self.report(loss=None, remb=bitrate)

    def report(self, loss: float | None, remb: int | None) -> None:
        if remb is not None and self._clock() - self._started < REMB_GRACE_SECONDS:
            remb = None  # a receiver's estimate starts low and ramps up: not a verdict yet
        bad = (loss is not None and loss > LOSS_DOWN) or (remb is not None and remb < REMB_DOWN)
        good = (loss is not None and loss < LOSS_UP) or (remb is not None and remb >= 2 * REMB_DOWN)
        if bad:
            self._bad += 1
            self._good = 0
        elif good:
            self._good += 1
            self._bad = 0
        if self.tier == "high" and self._bad >= BAD_REPORTS_DOWN:
            self._move("low", self._low())
        elif (
            self.tier == "low"
            and self._good >= GOOD_REPORTS_UP
            and self._clock() - self._since >= HOLD_LOW_SECONDS
        ):
            self._move("high", self.high)

    def _move(self, tier: str, slot: Slot) -> None:
        logger.info("auto tier: %s -> %s", self.tier, tier)
        self.tier = tier
        self.moves += 1
        self._bad = self._good = 0
        self._since = self._clock()
        self.track.follow(slot)
