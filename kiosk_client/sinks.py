"""Where a receiving room's media goes: a window (an external player fed through a pipe),
a file, or nowhere (frames are still decoded and counted, so a test or an operator can see
that media arrives).

One muxer serves both the file and the window: the container is opened when the first video
frame arrives (its size fixes the output size) or, for audio-only sessions, after
``AUDIO_ONLY_AFTER`` seconds; timestamps come from arrival times, so a publisher change or a
reconnect never makes them jump backwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

logger = logging.getLogger(__name__)

AUDIO_ONLY_AFTER = 3.0
VIDEO_RATE = 90000
AUDIO_RATE = 48000


class FrameCounter:
    """Frames received per kind, for logs, `watch` and tests."""

    def __init__(self) -> None:
        self.video = 0
        self.audio = 0
        self.first_video_at: float | None = None
        self.changed = asyncio.Event()

    def count(self, kind: str) -> None:
        if kind == "video":
            self.video += 1
            if self.first_video_at is None:
                self.first_video_at = time.monotonic()
        else:
            self.audio += 1
        self.changed.set()


class Sink:
    """Consumes a connection's received tracks. Subclasses write the frames somewhere."""

    def __init__(self) -> None:
        self.counter = FrameCounter()
        self._tracks: list[MediaStreamTrack] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.closed = False
        # Called (on the event loop) when the sink cannot go on, e.g. the player died; the
        # connection then counts as lost and the agent reconnects with a fresh sink.
        self.on_broken: Callable[[], None] | None = None
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    def _broken(self) -> None:
        """Thread-safe: report that this sink stopped working."""
        if self.on_broken is not None and self._loop is not None and not self.closed:
            self._loop.call_soon_threadsafe(self.on_broken)

    def add_track(self, track: MediaStreamTrack) -> None:
        self._tracks.append(track)
        self._tasks.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self.counter.count(track.kind)
                try:
                    self.write(track.kind, frame)
                except Exception:
                    # A broken file or a closed player must not end the session: the room
                    # still counts as connected, and the log says why nothing shows.
                    logger.exception("sink: writing a %s frame failed; dropping it", track.kind)

    def write(self, kind: str, frame: Any) -> None:
        """Write one decoded frame; the base class only counts."""

    async def close(self) -> None:
        """Idempotent: stop consuming and flush."""
        if self.closed:
            return
        self.closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.to_thread(self.finish)

    def finish(self) -> None:
        """Flush whatever the sink writes to (runs in a worker thread: it may block)."""


class NullSink(Sink):
    """Decodes and counts, writes nothing (a receiving room without a display or a file)."""


class MuxSink(Sink):
    """Encodes and muxes what arrives into a container (a file, or a pipe to a player).

    Encoding (x264: milliseconds per frame) and writing (a pipe blocks while the player is
    busy) happen in a thread of their own: the event loop keeps serving the peer connection
    and the heartbeats. If the thread falls ``QUEUE_FRAMES`` behind, frames are dropped.
    """

    QUEUE_FRAMES = 120

    def __init__(
        self,
        target: str | IO[bytes],
        container_format: str | None = None,
        video_codec: str = "libx264",
        video_options: dict[str, str] | None = None,
        audio_codec: str = "libopus",
    ) -> None:
        super().__init__()
        self._target = target
        self._format = container_format
        self._video_codec = video_codec
        self._video_options = video_options or {}
        self._audio_codec = audio_codec
        self._container: Any = None
        self._video: Any = None
        self._audio: Any = None
        self._start = time.monotonic()
        self._t0: float | None = None
        self._last_video_pts = -1
        self._audio_samples = 0
        self._audio_offset: int | None = None
        self.failed = False
        self.dropped = 0
        self._queue: queue.Queue[tuple[str, Any, float] | None] = queue.Queue(self.QUEUE_FRAMES)
        self._thread = threading.Thread(target=self._work, name="kiosk-sink", daemon=True)
        self._thread.start()

    def _open(self, first_video: av.VideoFrame | None) -> None:
        self._container = av.open(self._target, mode="w", format=self._format)
        if first_video is not None:
            stream = self._container.add_stream(self._video_codec, rate=30)
            stream.width = first_video.width
            stream.height = first_video.height
            stream.pix_fmt = "yuv420p"
            stream.time_base = fractions.Fraction(1, VIDEO_RATE)
            stream.codec_context.time_base = fractions.Fraction(1, VIDEO_RATE)
            stream.options = dict(self._video_options)
            self._video = stream
        audio = self._container.add_stream(self._audio_codec, rate=AUDIO_RATE)
        audio.layout = "stereo"
        audio.format = "s16"
        audio.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._audio = audio

    def write(self, kind: str, frame: Any) -> None:
        if self.failed:
            return
        try:
            self._queue.put_nowait((kind, frame, time.monotonic()))
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1:
                logger.warning("sink: the writer falls behind; dropping frames")

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            if self.failed:
                continue
            try:
                self._write(*item)
            except (BrokenPipeError, ConnectionResetError):
                self.failed = True
                logger.error("sink: the player has stopped")
                self._broken()
            except Exception:
                self.failed = True  # one log line, not one per frame
                logger.exception("sink: writing failed; nothing more is written")
                self._broken()
        self._flush()

    def _write(self, kind: str, frame: Any, arrived: float) -> None:
        if self._container is None:
            if kind == "video":
                self._open(frame)
                self._t0 = arrived
            elif arrived - self._start >= AUDIO_ONLY_AFTER:
                self._open(None)
                self._t0 = arrived
            else:
                return  # wait for the first video frame to fix the picture size
        assert self._t0 is not None
        elapsed = arrived - self._t0
        if kind == "video":
            if self._video is None:
                return
            if (frame.width, frame.height) != (self._video.width, self._video.height):
                frame = frame.reformat(width=self._video.width, height=self._video.height)
            frame = frame.reformat(format="yuv420p")
            pts = max(int(elapsed * VIDEO_RATE), self._last_video_pts + 1)
            self._last_video_pts = pts
            frame.pts = pts
            frame.time_base = fractions.Fraction(1, VIDEO_RATE)
            packets = self._video.encode(frame)
        else:
            if self._audio_offset is None:
                self._audio_offset = int(elapsed * AUDIO_RATE)
            if frame.format.name != "s16" or frame.layout.name != "stereo":
                return  # aiortc's Opus decoder gives s16 stereo; anything else is unexpected
            frame.pts = self._audio_offset + self._audio_samples
            frame.time_base = fractions.Fraction(1, AUDIO_RATE)
            self._audio_samples += frame.samples
            packets = self._audio.encode(frame)
        for packet in packets:
            self._container.mux(packet)

    def finish(self) -> None:
        self._queue.put(None)  # the writer flushes and closes, then ends
        self._thread.join(timeout=10)
        if self._thread.is_alive():
            logger.warning("sink: the writer did not finish in 10 s")

    def _flush(self) -> None:
        if self._container is None:
            return
        try:
            for stream in (self._video, self._audio):
                if stream is not None and not self.failed:
                    for packet in stream.encode(None):
                        self._container.mux(packet)
        except Exception:
            logger.exception("sink: flushing the encoders failed")
        finally:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None


def file_sink(path: str) -> MuxSink:
    """A Matroska/WebM/MP4 file (by extension), H.264 (VP8 for .webm) and Opus."""
    lower = path.lower()
    if lower.endswith(".webm"):
        return MuxSink(path, video_codec="libvpx", video_options={"deadline": "realtime"})
    return MuxSink(path, video_options={"preset": "veryfast", "tune": "zerolatency"})


def find_player() -> list[str] | None:
    """A full-screen player that reads a stream from stdin, if one is installed."""
    if shutil.which("mpv"):
        return ["mpv", "--fs", "--no-terminal", "--profile=low-latency", "--cache=no", "-"]
    if shutil.which("ffplay"):
        return ["ffplay", "-fs", "-loglevel", "error", "-fflags", "nobuffer", "-i", "-"]
    return None


def display_available() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class WindowSink(MuxSink):
    """Shows the session full-screen through an external player (mpv or ffplay).

    Frames go uncompressed (raw video and PCM in NUT) through a pipe: no encoder runs on the
    room PC, and the player only displays.
    """

    def __init__(self, command: Sequence[str]) -> None:
        self._proc = subprocess.Popen(list(command), stdin=subprocess.PIPE)
        assert self._proc.stdin is not None
        super().__init__(self._proc.stdin, "nut", video_codec="rawvideo", audio_codec="pcm_s16le")

    def finish(self) -> None:
        super().finish()
        with contextlib.suppress(Exception):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._proc.terminate()
