"""Real aiortc peers for the tests: a WHIP publisher with synthetic media, WHEP viewers."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import math
import time
from collections.abc import Callable
from typing import Any

import av
import numpy as np
from aiohttp import ClientSession
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

VIDEO_RATE = 90000
AUDIO_RATE = 48000


class ColourTrack(MediaStreamTrack):
    """Solid-colour video at ``fps``; the colour can be changed while running."""

    kind = "video"

    def __init__(
        self, rgb: tuple[int, int, int], size: tuple[int, int] = (320, 240), fps: int = 30
    ):
        super().__init__()
        self.rgb = rgb
        self._size = size
        self._fps = fps
        self._start: float | None = None
        self._count = 0
        self._frames: dict[tuple[int, int, int], av.VideoFrame] = {}

    def _frame(self) -> av.VideoFrame:
        frame = self._frames.get(self.rgb)
        if frame is None:
            width, height = self._size
            pixels = np.zeros((height, width, 3), dtype=np.uint8)
            pixels[:, :] = self.rgb
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
            self._frames[self.rgb] = frame
        return frame

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._count / self._fps
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = self._frame()
        out = av.VideoFrame.from_ndarray(frame.to_ndarray(), format="yuv420p")
        out.pts = int(self._count * VIDEO_RATE / self._fps)
        out.time_base = fractions.Fraction(1, VIDEO_RATE)
        self._count += 1
        return out


class ToneTrack(MediaStreamTrack):
    """A sine tone, 20 ms per frame."""

    kind = "audio"

    def __init__(self, hz: float = 440.0):
        super().__init__()
        self._hz = hz
        self._start: float | None = None
        self._count = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._count * 0.02 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        samples = 960
        t = (np.arange(samples) + self._count * samples) / AUDIO_RATE
        wave = (np.sin(2 * math.pi * self._hz * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(wave, format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._count * samples
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._count += 1
        return frame


def new_peer() -> RTCPeerConnection:
    # An explicit empty list: aiortc would otherwise contact a public STUN server.
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


class Response:
    def __init__(self, status: int, headers: Any, body: str):
        self.status = status
        self.headers = headers
        self.body = body


async def post_sdp(
    http: ClientSession,
    url: str,
    sdp: str,
    token: str | None = None,
    content_type: str = "application/sdp",
) -> Response:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with http.post(url, data=sdp.encode(), headers=headers) as resp:
        return Response(resp.status, resp.headers, await resp.text())


class Publisher:
    """A WHIP publisher sending a colour and a tone."""

    def __init__(self, rgb: tuple[int, int, int] = (40, 80, 200), audio: bool = True):
        self.pc = new_peer()
        self.video = ColourTrack(rgb)
        self.pc.addTransceiver(self.video, direction="sendonly")
        if audio:
            self.pc.addTransceiver(ToneTrack(), direction="sendonly")
        self.location: str | None = None

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def publish(
        self, http: ClientSession, base: str, session_id: str, token: str
    ) -> Response:
        resp = await post_sdp(http, f"{base}/whip/{session_id}", await self.offer(), token)
        if resp.status == 201:
            self.location = resp.headers["Location"]
            await self.pc.setRemoteDescription(RTCSessionDescription(resp.body, "answer"))
        return resp

    async def close(self) -> None:
        await self.pc.close()


class Viewer:
    """A WHEP viewer that decodes what it gets and keeps the last frame's mean colour."""

    def __init__(self) -> None:
        self.pc = new_peer()
        self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        self.location: str | None = None
        self.video_frames = 0
        self.audio_frames = 0
        self.last_rgb: tuple[float, float, float] | None = None
        self.first_frame_at: float | None = None
        self.sizes: set[tuple[int, int]] = set()  # of the video frames decoded (quality tiers)
        self._tasks: list[asyncio.Task[None]] = []
        self._frame_event = asyncio.Event()
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                if track.kind == "video":
                    self.video_frames += 1
                    self.sizes.add((frame.width, frame.height))
                    if self.first_frame_at is None:
                        self.first_frame_at = time.monotonic()
                    if self.video_frames % 5 == 1:
                        rgb = frame.to_ndarray(format="rgb24")
                        self.last_rgb = tuple(float(c) for c in rgb.reshape(-1, 3).mean(axis=0))
                else:
                    self.audio_frames += 1
                self._frame_event.set()

    async def play(
        self,
        http: ClientSession,
        base: str,
        session_id: str,
        token: str | None = None,
        tier: str | None = None,
    ) -> Response:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        url = f"{base}/whep/{session_id}" + (f"?tier={tier}" if tier else "")
        resp = await post_sdp(http, url, self.pc.localDescription.sdp, token)
        if resp.status == 201:
            self.location = resp.headers["Location"]
            await self.pc.setRemoteDescription(RTCSessionDescription(resp.body, "answer"))
        return resp

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        """Wait until ``predicate`` holds, woken by each decoded frame (no fixed sleeps)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out: video={self.video_frames} audio={self.audio_frames} "
                    f"rgb={self.last_rgb}"
                )
            self._frame_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._frame_event.wait(), remaining)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()


def colour_close(
    seen: tuple[float, float, float] | None, want: tuple[int, int, int], tol: float = 25
) -> bool:
    return seen is not None and all(abs(s - w) <= tol for s, w in zip(seen, want, strict=True))


async def wait_until(
    predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05
) -> None:
    """Poll with a deadline, for state that raises no event the test can await."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(interval)
