"""Where a receiving room's media goes: a window (an external player fed through a pipe),
a file, or nowhere (frames are still decoded and counted, so a test or an operator can see
that media arrives).

A WHEP connection brings up to three tracks, each with a role: ``camera`` and ``screen`` (the
presenter's screen share; quiet while nobody shares) and ``audio``. The window shows one
picture composed from camera and screen (``compose.Compositor``: the screen large with the
camera small, and the recording badge); a file keeps both video streams as they came.

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

from kiosk_client.compose import Compositor, blank, fit_size, paste, planes
from kiosk_client.messages import text

logger = logging.getLogger(__name__)

AUDIO_ONLY_AFTER = 3.0
VIDEO_RATE = 90000
AUDIO_RATE = 48000
#: A file's screen-share stream: a fixed size (fixed before the first share), 16:9.
SCREEN_SIZE = (1280, 720)
VIDEO_ROLES = ("camera", "screen")


class FrameCounter:
    """Frames received per role (``video`` is the camera), for logs, `watch` and tests."""

    def __init__(self) -> None:
        self.video = 0
        self.screen = 0
        self.audio = 0
        self.first_video_at: float | None = None
        self.last_screen_at: float | None = None
        self.changed = asyncio.Event()

    def count(self, role: str) -> None:
        if role == "camera":
            self.video += 1
            if self.first_video_at is None:
                self.first_video_at = time.monotonic()
        elif role == "screen":
            self.screen += 1
            self.last_screen_at = time.monotonic()
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
        self.recording = False
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

    def add_track(self, track: MediaStreamTrack, role: str | None = None) -> None:
        """Consume ``track``; ``role`` is camera, screen or audio (by default from its kind)."""
        role = role or ("camera" if track.kind == "video" else "audio")
        self._tracks.append(track)
        self._tasks.append(asyncio.ensure_future(self._consume(track, role)))

    async def _consume(self, track: MediaStreamTrack, role: str) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self.counter.count(role)
                try:
                    self.write(role, frame)
                except Exception:
                    # A broken file or a closed player must not end the session: the room
                    # still counts as connected, and the log says why nothing shows.
                    logger.exception("sink: writing a %s frame failed; dropping it", role)

    def write(self, role: str, frame: Any) -> None:
        """Write one decoded frame of ``role``; the base class only counts."""

    def set_recording(self, on: bool) -> None:
        """The session is (no longer) recorded: a sink that shows pictures says so."""
        self.recording = on

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

    Subclasses choose the video streams (``_video_streams``) and what each received video
    frame becomes (``_pictures``). Encoding (x264: milliseconds per frame) and writing (a pipe
    blocks while the player is busy) happen in a thread of their own: the event loop keeps
    serving the peer connection and the heartbeats. If the thread falls ``QUEUE_FRAMES``
    behind, frames are dropped.

    A video stream never goes quiet for longer than ``HOLD_SECONDS``: its last picture is
    repeated, black once older than ``IDLE_SECONDS``. Muxers hold every packet back while
    one stream has none (10 s for Matroska, the whole recording for WebM's VP8), so an idle
    screen share or a camera switched off would otherwise stall the file and the player.
    """

    QUEUE_FRAMES = 120
    HOLD_SECONDS = 1.0
    IDLE_SECONDS = 2.0
    #: The roles whose first frame opens the container (its size fixes a stream's size).
    OPENS_ON: tuple[str, ...] = ("camera",)

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
        self._videos: dict[str, Any] = {}  # video streams by name
        self._last_pts: dict[str, int] = {}
        # Per video stream: its last picture, when that picture came, when it was last written.
        self._held: dict[str, tuple[av.VideoFrame, float, float]] = {}
        self._audio: Any = None
        self._start = time.monotonic()
        self._t0: float | None = None
        self._audio_samples = 0
        self._audio_offset: int | None = None
        self.has_screen = False
        self.failed = False
        self.dropped = 0
        self._queue: queue.Queue[tuple[str, Any, float] | None] = queue.Queue(self.QUEUE_FRAMES)
        self._thread = threading.Thread(target=self._work, name="kiosk-sink", daemon=True)
        self._thread.start()

    def add_track(self, track: MediaStreamTrack, role: str | None = None) -> None:
        if role == "screen":
            self.has_screen = True  # known before any frame: the streams are fixed at open
        super().add_track(track, role)

    # -- what subclasses decide ------------------------------------------------------------
    def _video_streams(self, role: str, frame: Any) -> dict[str, tuple[int, int]]:
        """The video streams (name: size) to create when the container opens on ``frame``
        of ``role`` (an audio frame when the session turned out audio-only)."""
        return {"camera": (frame.width, frame.height)} if role == "camera" else {}

    def _pictures(self, role: str, frame: av.VideoFrame, now: float) -> list[tuple[str, Any]]:
        """The (stream name, picture) pairs to encode for one received video frame."""
        return [(role, frame)] if role in self._videos else []

    def _held_picture(self, name: str, now: float) -> av.VideoFrame:
        """What stream ``name`` shows when nothing new came for ``HOLD_SECONDS``."""
        held = self._held.get(name)
        if held is not None and now - held[1] < self.IDLE_SECONDS:
            return held[0]
        stream = self._videos[name]
        return blank(stream.width, stream.height)

    # -- the writer thread -------------------------------------------------------------------
    def _open(self, role: str, frame: Any, now: float) -> None:
        self._container = av.open(self._target, mode="w", format=self._format)
        for name, (width, height) in self._video_streams(role, frame).items():
            stream = self._container.add_stream(self._video_codec, rate=30)
            stream.width = width // 2 * 2
            stream.height = height // 2 * 2
            stream.pix_fmt = "yuv420p"
            stream.time_base = fractions.Fraction(1, VIDEO_RATE)
            stream.codec_context.time_base = fractions.Fraction(1, VIDEO_RATE)
            stream.options = dict(self._video_options)
            self._videos[name] = stream
            self._last_pts[name] = -1
        audio = self._container.add_stream(self._audio_codec, rate=AUDIO_RATE)
        audio.layout = "stereo"
        audio.format = "s16"
        audio.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._audio = audio
        self._t0 = now

    def write(self, role: str, frame: Any) -> None:
        if self.failed:
            return
        try:
            self._queue.put_nowait((role, frame, time.monotonic()))
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

    def _write(self, role: str, frame: Any, arrived: float) -> None:
        if self._container is None:
            if role in self.OPENS_ON or arrived - self._start >= AUDIO_ONLY_AFTER:
                self._open(role, frame, arrived)
            else:
                return  # wait for the first video frame to fix the picture size
        if role in VIDEO_ROLES:
            for name, picture in self._pictures(role, frame, arrived):
                self._encode_video(name, picture, arrived)
        else:
            self._encode_audio(frame, arrived)
        for name in self._videos:
            held = self._held.get(name)
            if held is None or arrived - held[2] >= self.HOLD_SECONDS:
                self._encode_video(name, self._held_picture(name, arrived), arrived, held=True)

    def _encode_video(self, name: str, picture: Any, now: float, held: bool = False) -> None:
        stream = self._videos.get(name)
        if stream is None:
            return
        assert self._t0 is not None
        if (picture.width, picture.height) != (stream.width, stream.height):
            picture = picture.reformat(width=stream.width, height=stream.height)
        picture = picture.reformat(format="yuv420p")
        previous = self._held.get(name)
        # A held picture keeps its age: it turns black IDLE_SECONDS after it really came.
        came = previous[1] if held and previous is not None else now
        self._held[name] = (picture, came, now)
        pts = max(int((now - self._t0) * VIDEO_RATE), self._last_pts[name] + 1)
        self._last_pts[name] = pts
        picture.pts = pts
        picture.time_base = fractions.Fraction(1, VIDEO_RATE)
        for packet in stream.encode(picture):
            self._container.mux(packet)

    def _encode_audio(self, frame: Any, now: float) -> None:
        assert self._t0 is not None
        if self._audio_offset is None:
            self._audio_offset = int((now - self._t0) * AUDIO_RATE)
        if frame.format.name != "s16" or frame.layout.name != "stereo":
            return  # aiortc's Opus decoder gives s16 stereo; anything else is unexpected
        frame.pts = self._audio_offset + self._audio_samples
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._audio_samples += frame.samples
        for packet in self._audio.encode(frame):
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
            for stream in [*self._videos.values(), self._audio]:
                if stream is not None and not self.failed:
                    for packet in stream.encode(None):
                        self._container.mux(packet)
        except Exception:
            logger.exception("sink: flushing the encoders failed")
        finally:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None


class FileSink(MuxSink):
    """A file keeps the streams as they came: the camera, the screen share (when the
    connection has one: a stream of ``SCREEN_SIZE``, black while nobody shares) and audio."""

    def _video_streams(self, role: str, frame: Any) -> dict[str, tuple[int, int]]:
        streams = super()._video_streams(role, frame)
        if self.has_screen:
            streams["screen"] = SCREEN_SIZE
        return streams

    def _pictures(self, role: str, frame: av.VideoFrame, now: float) -> list[tuple[str, Any]]:
        if role != "screen" or "screen" not in self._videos:
            return super()._pictures(role, frame, now)
        width, height = SCREEN_SIZE
        if (frame.width, frame.height) == SCREEN_SIZE:
            return [("screen", frame)]
        w, h = fit_size(frame.width, frame.height, width, height)
        canvas = blank(width, height)
        x, y = (width - w) // 4 * 2, (height - h) // 4 * 2
        paste(planes(canvas), planes(frame.reformat(width=w, height=h, format="yuv420p")), x, y)
        return [("screen", canvas)]


def file_sink(path: str) -> MuxSink:
    """A Matroska/WebM/MP4 file (by extension), H.264 (VP8 for .webm) and Opus."""
    lower = path.lower()
    if lower.endswith(".webm"):
        return FileSink(path, video_codec="libvpx", video_options={"deadline": "realtime"})
    return FileSink(path, video_options={"preset": "veryfast", "tune": "zerolatency"})


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

    One picture, composed from the camera and the screen share (``compose.Compositor``), with
    the recording badge in ``language``. Frames go uncompressed (raw video and PCM in NUT)
    through a pipe: no encoder runs on the room PC, and the player only displays.
    """

    OPENS_ON = VIDEO_ROLES  # the first picture of either fixes the window's size

    def __init__(self, command: Sequence[str], language: str = "fi") -> None:
        self._label = text("recording.on", language)
        self.compositor: Compositor | None = None
        self._proc = subprocess.Popen(list(command), stdin=subprocess.PIPE)
        assert self._proc.stdin is not None
        super().__init__(self._proc.stdin, "nut", video_codec="rawvideo", audio_codec="pcm_s16le")

    def _video_streams(self, role: str, frame: Any) -> dict[str, tuple[int, int]]:
        if role not in VIDEO_ROLES:
            return {}
        self.compositor = Compositor(frame.width, frame.height, self._label)
        return {"picture": (self.compositor.width, self.compositor.height)}

    def _pictures(self, role: str, frame: av.VideoFrame, now: float) -> list[tuple[str, Any]]:
        if self.compositor is None:
            return []
        self.compositor.recording = self.recording
        if role == "camera":
            return [("picture", self.compositor.camera(frame, now))]
        picture = self.compositor.screen(frame, now)
        return [] if picture is None else [("picture", picture)]

    def _held_picture(self, name: str, now: float) -> av.VideoFrame:
        assert self.compositor is not None
        self.compositor.recording = self.recording
        return self.compositor.idle(now)

    def finish(self) -> None:
        super().finish()
        with contextlib.suppress(Exception):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._proc.terminate()
