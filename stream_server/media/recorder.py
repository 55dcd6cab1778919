"""Recording a broadcast's program to disk as it was encoded: Matroska, no transcoding.

The recorder is one more subscriber of the session's program slots (camera and audio),
like a WHEP viewer. Frames arrive in the event loop as the publisher encoded them; the loop
only stamps them and puts them on a bounded queue, and one thread muxes them into
``<session>-<UTC time>.mkv.part`` with PyAV (packets, never frames: nothing is decoded or
encoded; the H.264/VP8 parser reads the picture size from the first key frame's headers).
The file is renamed to ``.mkv`` when the recording stops, so a crash leaves an obviously
unfinished ``.part``.

Timestamps: each stream's file time follows its RTP timestamps (90 kHz video, 48 kHz
audio), anchored to the wall clock when the recording starts (the first video key frame is
time 0) and again whenever the source changes (a publisher replaced or reconnecting) or the
RTP time jumps away from the wall clock. So the file is monotonic, audio and video stay
together across a change of publisher, and a gap with no publisher is a gap in the file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fractions
import logging
import queue
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av

from stream_server.media.forwarding import (
    AUDIO_CLOCK_RATE,
    VIDEO_CLOCK_RATE,
    EncodedFrame,
    ForwardedTrack,
    Slot,
)

logger = logging.getLogger(__name__)

#: Items (frames or Opus packets) waiting for the writer thread: ~5 s of 30 fps video + audio.
QUEUE_ITEMS = 400
#: ... and at most this many bytes of them, whatever their size.
QUEUE_BYTES = 32 * 1024 * 1024
#: How often the writer thread takes what is queued.
DRAIN_SECONDS = 0.1
#: An RTP time this far from the wall clock is a jump (a new publisher): re-anchor.
JUMP_SECONDS = 3.0
#: Matroska's Opus header (RFC 7845 "OpusHead"): version 1, 2 channels, 312 samples
#: pre-skip, 48 kHz, no gain, mapping family 0. WebRTC Opus is negotiated as opus/48000/2.
OPUS_HEAD = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 312, 48000, 0, 0)

_TIME_BASES = {
    "video": fractions.Fraction(1, VIDEO_CLOCK_RATE),
    "audio": fractions.Fraction(1, AUDIO_CLOCK_RATE),
}
_PARSERS = {"VP8": "vp8", "H264": "h264"}
# Encoder names only used to make a stream *template* (never opened: see _open).
_TEMPLATE_CODECS = {"VP8": "libvpx", "H264": "libx264", "opus": "libopus"}


def recording_name(session_id: str, started: dt.datetime) -> str:
    """``<session id>-<UTC timestamp>.mkv``."""
    return f"{session_id}-{started.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}.mkv"


def h264_parameter_sets(data: bytes) -> bytes:
    """The SPS and PPS NAL units of an Annex B access unit, as Annex B (Matroska's muxer turns
    them into the avcC header and the frames into length-prefixed NAL units)."""
    units = []
    for unit in data.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01").split(b"\x00\x00\x01"):
        unit = unit.rstrip(b"\x00")
        if unit and unit[0] & 0x1F in (7, 8):
            units.append(b"\x00\x00\x00\x01" + unit)
    return b"".join(units)


class _Timeline:
    """File timestamps for one stream: RTP-paced, wall-clock anchored, strictly increasing."""

    def __init__(self, clock_rate: int) -> None:
        self.rate = clock_rate
        self.offset: int | None = None
        self.last: int | None = None

    def restart(self) -> None:
        """A new source: its RTP timestamps have nothing to do with the old ones."""
        self.offset = None

    def pts(self, timestamp: int, elapsed: float) -> int | None:
        """The file time of a frame (None: out of order, drop it)."""
        wall = int(elapsed * self.rate)
        if self.offset is not None:
            pts = timestamp + self.offset
            if abs(pts - wall) <= JUMP_SECONDS * self.rate:
                if self.last is not None and pts <= self.last:
                    return None
                self.last = pts
                return pts
        start = wall if self.last is None else max(wall, self.last + 1)
        self.offset = start - timestamp
        self.last = start
        return start


class _Input(ForwardedTrack):
    """A slot subscriber that hands each frame straight to the recorder (no queue of its own:
    the recorder's bounded queue is the only one)."""

    def __init__(
        self,
        kind: str,
        on_frame: Callable[[str, EncodedFrame], None],
        on_change: Callable[[str], None],
    ) -> None:
        super().__init__(kind)
        self._on_frame = on_frame
        self._on_change = on_change

    def _offer(self, frame: EncodedFrame) -> None:
        if self.readyState == "live":
            self._on_frame(self.kind, frame)

    def _source_changed(self) -> None:
        super()._source_changed()
        self._on_change(self.kind)


class Recorder:
    """Records one session's program (camera + audio) into one Matroska file.

    ``start()`` and ``stop()`` run in the event loop; the muxing runs in a thread of its own.
    """

    def __init__(
        self,
        session_id: str,
        camera: Slot,
        audio: Slot,
        directory: Path,
        codec: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session_id = session_id
        self.codec = codec.upper()
        self.directory = directory
        self.started_at = dt.datetime.now(dt.UTC)
        self.path = directory / recording_name(session_id, self.started_at)
        self.part_path = self.path.with_name(self.path.name + ".part")
        self.label = f"recording {session_id}"
        self._camera, self._audio = camera, audio
        self._clock = clock
        self._queue: queue.Queue[tuple[str, bytes, int, bool] | None] = queue.Queue(QUEUE_ITEMS)
        self._queued_bytes = 0
        self._lock = threading.Lock()
        self._timelines = {
            "video": _Timeline(VIDEO_CLOCK_RATE),
            "audio": _Timeline(AUDIO_CLOCK_RATE),
        }
        self._t0: float | None = None
        self._video_waiting = True
        self._overflowing = False
        self._inputs: list[_Input] = []
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._loop: Any = None
        #: Called in the event loop if writing fails (the disk is full, the folder is not
        #: writable), so the owner can stop the recording and tell people.
        self.on_failure: Callable[[], None] | None = None
        self.stopped = False
        self.failed = False
        #: Written to the file (read by tests and logs).
        self.video_frames = 0
        self.audio_packets = 0
        #: Dropped because the disk did not keep up (video then resumes on a key frame).
        self.dropped = 0
        self.overflows = 0
        self.width = 0
        self.height = 0
        self.finished: Path | None = None
        #: CPU time of the writer thread (muxing and disk writes), set when it ends.
        self.cpu_seconds = 0.0

    # -- event loop side -------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._write, name=f"recorder-{self.session_id[:8]}", daemon=True
        )
        self._thread.start()
        for kind, slot in (("video", self._camera), ("audio", self._audio)):
            track = _Input(kind, self._on_frame, self._on_change)
            track.follow(slot)  # asks the publisher for a key frame
            self._inputs.append(track)
        logger.info("%s: started, writing %s", self.label, self.part_path)

    async def stop(self) -> Path | None:
        """Stop and finish the file; returns its path (None if nothing was recorded)."""
        loop = asyncio.get_running_loop()
        if not self.stopped:
            self.stopped = True
            for track in self._inputs:
                track.stop()
            await loop.run_in_executor(None, self._put_final)
        await loop.run_in_executor(None, self._done.wait)
        return self.finished

    def _put_final(self) -> None:
        """Queue the end marker behind everything already queued (waits for room: a full
        queue is drained within DRAIN_SECONDS), unless the writer has already ended."""
        while not self._done.is_set():
            try:
                self._queue.put(None, timeout=0.5)
                return
            except queue.Full:
                continue

    def _on_change(self, kind: str) -> None:
        self._timelines[kind].restart()
        if kind == "video":
            self._video_waiting = True

    def _on_frame(self, kind: str, frame: EncodedFrame) -> None:
        if self.stopped or self.failed:
            return
        now = self._clock()
        if kind == "video":
            if self._video_waiting:
                if not frame.keyframe:
                    self._want_keyframe()
                    return
                self._video_waiting = False
            if self._t0 is None:
                self._t0 = now
        elif self._t0 is None:
            return  # the file starts with a picture: sound before it is not kept
        pts = self._timelines[kind].pts(frame.timestamp, now - self._t0)
        if pts is None:
            return
        size = len(frame.data)
        with self._lock:
            room = self._queued_bytes + size <= QUEUE_BYTES
            if room:
                self._queued_bytes += size
        if room:
            try:
                self._queue.put_nowait((kind, frame.data, pts, frame.keyframe))
                if self._overflowing and kind == "video":
                    logger.info("%s: writing again (from a key frame)", self.label)
                    self._overflowing = False
                return
            except queue.Full:
                self._release(size)
        self._overflow(kind)

    def _overflow(self, kind: str) -> None:
        """The disk is behind: drop, and let video resume only on its next key frame."""
        self.dropped += 1
        if not self._overflowing:
            self._overflowing = True
            self.overflows += 1
            logger.warning(
                "%s: the disk is not keeping up; dropping to the next key frame", self.label
            )
        if kind == "video":
            self._video_waiting = True
            self._want_keyframe()

    def _want_keyframe(self) -> None:
        if self._inputs:
            self._inputs[0].request_keyframe()  # coalesced and retried by the source

    def _release(self, size: int) -> None:
        with self._lock:
            self._queued_bytes -= size

    # -- writer thread -----------------------------------------------------------------------
    def _write(self) -> None:
        container: Any = None
        streams: dict[str, Any] = {}
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            for item in self._items():
                kind, data, pts, keyframe = item
                self._release(len(data))
                if self.failed:
                    continue
                if container is None:
                    if kind != "video" or not keyframe:
                        continue
                    opened = self._open(data)
                    if opened is None:
                        self._loop.call_soon_threadsafe(self._restart_video)
                        continue
                    container, streams = opened
                packet = av.Packet(data)
                packet.pts = packet.dts = pts
                # In the RTP clock; PyAV rescales to the stream's (Matroska: 1 ms).
                packet.time_base = _TIME_BASES[kind]
                packet.stream = streams[kind]
                if keyframe and kind == "video":
                    packet.is_keyframe = True
                container.mux(packet)
                if kind == "video":
                    self.video_frames += 1
                else:
                    self.audio_packets += 1
        except Exception:
            self.failed = True
            logger.exception("%s: writing failed; the recording stops here", self.label)
            if self.on_failure is not None:
                self._loop.call_soon_threadsafe(self.on_failure)
        finally:
            self.cpu_seconds = time.thread_time()
            self._finish(container)

    def _items(self) -> Iterator[tuple[str, bytes, int, bool]]:
        """The queued items, taken in batches every :data:`DRAIN_SECONDS` until the end marker.

        The thread sleeps rather than waiting on the queue: a waiting thread is woken by every
        ``put``, and each wake-up makes the event loop wait for the GIL (~0.3 ms a frame,
        measured); a batch every 100 ms costs the loop nothing measurable.
        """
        while True:
            time.sleep(DRAIN_SECONDS)
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    return
                yield item

    def _open(self, keyframe: bytes) -> tuple[Any, dict[str, Any]] | None:
        """Open the file once the first key frame tells the picture size (headers only)."""
        parser: Any = av.CodecContext.create(_PARSERS[self.codec], "r")
        parser.parse(keyframe)
        parser.parse(b"")
        width, height = parser.width, parser.height
        extradata = h264_parameter_sets(keyframe) if self.codec == "H264" else None
        if not width or not height or (self.codec == "H264" and not extradata):
            logger.info("%s: key frame without usable headers; waiting for another", self.label)
            return None
        self.width, self.height = width, height
        self._free_name()
        # Short clusters, flushed as they are written: a crash loses about a second, and
        # the muxer holds no more than that in memory.
        container: Any = av.open(
            str(self.part_path),
            "w",
            format="matroska",
            container_options={"cluster_time_limit": "1000", "flush_packets": "1"},
        )
        container.metadata["title"] = self.session_id
        # Streams made from never-opened templates: PyAV then copies our parameters to the
        # file as they are and opens no encoder (add_mux_stream cannot carry the Opus and
        # H.264 headers Matroska needs).
        templates: Any = av.open(_NullIO(), "w", format="matroska")
        try:
            video = container.add_stream_from_template(
                templates.add_stream(_TEMPLATE_CODECS[self.codec])
            )
            video.codec_context.width, video.codec_context.height = width, height
            video.codec_context.pix_fmt = "yuv420p"
            if extradata:
                video.codec_context.extradata = extradata
            video.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
            audio = container.add_stream_from_template(
                templates.add_stream(_TEMPLATE_CODECS["opus"], rate=AUDIO_CLOCK_RATE)
            )
            audio.codec_context.sample_rate = AUDIO_CLOCK_RATE
            audio.codec_context.layout = "stereo"
            audio.codec_context.extradata = OPUS_HEAD
            audio.time_base = fractions.Fraction(1, AUDIO_CLOCK_RATE)
        finally:
            templates.close()
        logger.info("%s: %s %dx%d + Opus", self.label, self.codec, width, height)
        return container, {"video": video, "audio": audio}

    def _free_name(self) -> None:
        """Never overwrite: a second recording started in the same second gets ``-2``."""
        base = self.path.name.removesuffix(".mkv")
        number = 1
        while self.path.exists() or self.part_path.exists():
            number += 1
            self.path = self.directory / f"{base}-{number}.mkv"
            self.part_path = self.path.with_name(self.path.name + ".part")

    def _restart_video(self) -> None:
        self._video_waiting = True
        self._want_keyframe()

    def _finish(self, container: Any) -> None:
        try:
            if container is not None:
                container.close()
            if self.video_frames:
                self.part_path.rename(self.path)
                self.finished = self.path
                logger.info(
                    "%s: finished %s (%d frames, %d audio packets, %d dropped)",
                    self.label,
                    self.path,
                    self.video_frames,
                    self.audio_packets,
                    self.dropped,
                )
            else:
                self.part_path.unlink(missing_ok=True)
                logger.info("%s: nothing was recorded", self.label)
        except Exception:
            self.failed = True
            logger.exception("%s: the file was not finished", self.label)
        finally:
            self._done.set()


class _NullIO:
    """A file object that is never written: the template container never starts."""

    def write(self, data: bytes) -> int:
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def tell(self) -> int:
        return 0
