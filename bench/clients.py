"""Benchmark clients: one WHIP publisher, or a batch of cheap WHEP viewers.

Each batch runs in its own process, apart from the server, so the server's CPU time can be
read on its own. The driver (:mod:`bench.forwarding`) talks to a client process through
lines: commands on stdin (``add K``, ``snap``, ``quit``), one JSON object per reply on stdout.
End of stdin means quit, so a client never outlives its driver.

Viewers do not decode: their receivers are tapped exactly as the server taps a publisher
(:func:`stream_server.media.forwarding.tap_receiver`), so each one costs ICE, SRTP and
reassembly but no VP8 decoder, and one process can hold many of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time

import av
import numpy as np
from aiohttp import ClientSession, ClientTimeout
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from bench.common import (
    CONNECT_TIMEOUT,
    client_parser,
    driver_commands,
    negotiate,
    new_peer,
    reply,
    setup_client,
    stdin_reader,
    viewer_connector,
)
from stream_server.media.forwarding import MediaSource, tap_receiver
from stream_server.media.peers import close_peer, prefer_codec

VIDEO_RATE = 90000
AUDIO_RATE = 48000
WIDTH, HEIGHT, FPS = 640, 480, 30
#: Distinct precomputed frames cycled by the publisher (one second of video).
LOOP_FRAMES = 30


def synthetic_frames(count: int = LOOP_FRAMES, seed: int = 7) -> list[av.VideoFrame]:
    """Frames with texture, motion and temporal noise, built once and then cycled.

    A flat colour compresses to almost nothing; this keeps VP8 at a realistic bitrate
    (its rate control then holds the pinned rate) without generating pixels per frame.
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.empty((HEIGHT, WIDTH, 3), dtype=np.float32)
    base[..., 0] = 60 + 120 * x / WIDTH
    base[..., 1] = 50 + 100 * y / HEIGHT
    base[..., 2] = 140 + 40 * np.sin(x / 23.0) * np.cos(y / 17.0)
    # Static texture, coarse enough that it is not all high frequency.
    texture = rng.normal(0, 18, (HEIGHT // 8, WIDTH // 8, 3)).repeat(8, 0).repeat(8, 1)
    base += texture
    frames = []
    for index in range(count):
        pixels = base.copy()
        phase = index / count
        left = int(phase * (WIDTH - 160))
        top = int((0.5 + 0.4 * np.sin(2 * np.pi * phase)) * (HEIGHT - 160))
        pixels[top : top + 160, left : left + 160] = (230, 210, 40)
        bar = int(phase * WIDTH)
        pixels[:, bar : bar + 24] = 255 - pixels[:, bar : bar + 24]
        pixels += rng.normal(0, 6, pixels.shape)
        rgb = np.clip(pixels, 0, 255).astype(np.uint8)
        frames.append(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p"))
    return frames


class LoopVideoTrack(MediaStreamTrack):
    """640x480 at 30 fps from precomputed frames, paced by the clock."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._frames = synthetic_frames()
        self._start: float | None = None
        self.count = 0

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self.count / FPS - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = self._frames[self.count % len(self._frames)]
        # aiortc's VP8 encoder marks a frame as I on a key-frame request; frames are reused,
        # so clear it or every later lap of the loop would be a key frame.
        frame.pict_type = av.video.frame.PictureType.NONE
        frame.pts = self.count * VIDEO_RATE // FPS
        frame.time_base = fractions.Fraction(1, VIDEO_RATE)
        self.count += 1
        return frame


class LoopToneTrack(MediaStreamTrack):
    """A 440 Hz tone in 20 ms frames; one second is precomputed (it loops seamlessly)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        samples = np.arange(AUDIO_RATE) / AUDIO_RATE
        wave = (np.sin(2 * np.pi * 440 * samples) * 8000).astype(np.int16)
        self._chunks = [wave[i : i + 960].reshape(1, -1) for i in range(0, AUDIO_RATE, 960)]
        self._start: float | None = None
        self.count = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self.count * 0.02 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        chunk = self._chunks[self.count % len(self._chunks)]
        frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self.count * 960
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self.count += 1
        return frame


class CountingSource(MediaSource):
    """A tapped receiver's sink that only counts complete frames and their bytes."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind, "VP8" if kind == "video" else "OPUS")
        self.bytes_in = 0
        self.first = asyncio.Event()

    def push(self, data: bytes, rtp_timestamp: int) -> None:
        self.frames_in += 1
        self.bytes_in += len(data)
        self.first.set()


class CountingViewer:
    """A WHEP viewer that counts what arrives instead of decoding it."""

    def __init__(self, audio: bool = True) -> None:
        self.pc = new_peer()
        self.sources: dict[str, CountingSource] = {}
        for kind, codec in (("video", "VP8"), ("audio", "opus"))[: 2 if audio else 1]:
            transceiver = self.pc.addTransceiver(kind, direction="recvonly")
            prefer_codec(transceiver, kind, codec)
            source = CountingSource(kind)
            tap_receiver(transceiver.receiver, source)
            self.sources[kind] = source

    async def play(self, http: ClientSession, url: str, token: str | None) -> None:
        await negotiate(self.pc, http, url, token)
        await asyncio.wait_for(self.sources["video"].first.wait(), CONNECT_TIMEOUT)


async def run_publisher(base: str, session_id: str, token: str | None, audio: bool) -> None:
    """Publish, say ``ready`` once connected, then answer ``snap`` with frames produced."""
    pc = new_peer()
    video = LoopVideoTrack()
    prefer_codec(pc.addTransceiver(video, direction="sendonly"), "video", "VP8")
    if audio:
        prefer_codec(pc.addTransceiver(LoopToneTrack(), direction="sendonly"), "audio", "opus")
    commands = await stdin_reader()
    async with ClientSession(timeout=ClientTimeout(total=CONNECT_TIMEOUT)) as http:
        try:
            await negotiate(pc, http, f"{base}/whip/{session_id}", token)
            deadline = time.monotonic() + CONNECT_TIMEOUT
            while pc.connectionState != "connected":
                if time.monotonic() > deadline or pc.connectionState in ("failed", "closed"):
                    raise RuntimeError(f"publisher connection {pc.connectionState}")
                await asyncio.sleep(0.05)
            reply({"event": "ready"})
            async for line in driver_commands(commands):
                if line == "snap":
                    reply(
                        {
                            "event": "snap",
                            "t": time.monotonic(),
                            "frames": video.count,
                            "state": pc.connectionState,
                        }
                    )
        except Exception as exc:
            reply({"event": "error", "error": repr(exc)})
        finally:
            await close_peer(pc, "publisher")


async def run_viewers(base: str, session_id: str, token: str | None, audio: bool) -> None:
    """Hold a growing batch of viewers: ``add K`` connects K more, ``snap`` reports counters."""
    viewers: list[CountingViewer] = []
    commands = await stdin_reader()
    connect = viewer_connector(lambda: CountingViewer(audio), f"{base}/whep/{session_id}", token)

    async with ClientSession(timeout=ClientTimeout(total=CONNECT_TIMEOUT)) as http:
        try:
            async for line in driver_commands(commands):
                verb, _, arg = line.partition(" ")
                if verb == "add":
                    added = await asyncio.gather(*(connect(http) for _ in range(int(arg))))
                    ok = [v for v in added if v is not None]
                    viewers.extend(ok)
                    reply({"event": "added", "connected": len(ok), "failed": len(added) - len(ok)})
                elif verb == "snap":
                    video = [v.sources["video"] for v in viewers]
                    reply(
                        {
                            "event": "snap",
                            "t": time.monotonic(),
                            "video": [s.frames_in for s in video],
                            "bytes": [s.bytes_in for s in video],
                            "audio": [
                                v.sources["audio"].frames_in if audio else 0 for v in viewers
                            ],
                        }
                    )
        finally:
            await asyncio.gather(*(close_peer(v.pc, "viewer") for v in viewers))


def main(argv: list[str] | None = None) -> None:
    parser = client_parser(__doc__.splitlines()[0], ("publisher", "viewers"))
    args = parser.parse_args(argv)
    setup_client(args)
    runner = run_publisher if args.role == "publisher" else run_viewers
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(runner(args.base, args.session, args.token, args.audio))


if __name__ == "__main__":
    main()
