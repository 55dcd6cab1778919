"""An aiortc participant speaking the signaling protocol (docs/signaling.md), for tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import ClientSession, ClientWebSocketResponse, WSMsgType
from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from tests.peers import ColourTrack, ToneTrack, new_peer


class WsParticipant:
    """Joins over the WebSocket, answers offers, publishes on request, decodes what it gets."""

    def __init__(self, http: ClientSession, base: str, auto_answer: bool = True) -> None:
        self.http = http
        self.auto_answer = auto_answer
        self.url = base.replace("http", "ws", 1) + "/ws"
        self.ws: ClientWebSocketResponse | None = None
        self.pc = new_peer()
        self.attendee_key = secrets.token_urlsafe(24)
        self.local: dict[str, MediaStreamTrack] = {}
        self.messages: list[dict[str, Any]] = []
        self.tracks: list[dict[str, Any]] = []
        self.frames: dict[str, int] = {}  # mid -> decoded video frames
        self.audio_frames: dict[str, int] = {}
        self.rgb: dict[str, tuple[float, ...]] = {}
        self.id: int | None = None
        self._event = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._consumers: list[asyncio.Task[None]] = []
        self.pc.on("track", self._on_track)

    # -- wire -----------------------------------------------------------------------------
    async def connect(self) -> None:
        self.ws = await self.http.ws_connect(self.url)
        self._reader = asyncio.create_task(self._read())
        self._pinger = asyncio.create_task(self._ping())

    async def _ping(self) -> None:
        """Keep-alive as docs/signaling.md asks (the server closes silent sockets)."""
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(5)
                await self.send({"type": "ping"})

    async def send(self, message: dict[str, Any] | str) -> None:
        assert self.ws is not None
        await self.ws.send_str(message if isinstance(message, str) else json.dumps(message))

    async def join(self, **fields: Any) -> dict[str, Any]:
        if self.ws is None:
            await self.connect()
        fields.setdefault("attendee_key", self.attendee_key)
        fields.setdefault("channel", "browser")
        await self.send({"type": "join", **fields})
        return await self.next_message(lambda m: m["type"] in ("joined", "error"))

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != WSMsgType.TEXT:
                break
            message = json.loads(msg.data)
            self.messages.append(message)
            if message["type"] == "joined":
                self.id = message["participant"]
            elif message["type"] == "offer":
                self.tracks = message["tracks"]
                if self.auto_answer:
                    await self.answer(message)
            elif message["type"] == "tracks":
                self.tracks = message["tracks"]
            self._event.set()
        self._event.set()

    async def answer(self, offer: dict[str, Any]) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        by_mid = {t.mid: t for t in self.pc.getTransceivers()}
        for entry in offer["tracks"]:
            if entry["direction"] == "send" and entry["slot"] in self.local:
                transceiver = by_mid[entry["mid"]]
                transceiver.direction = "sendonly"
                transceiver.sender.replaceTrack(self.local[entry["slot"]])
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.send({"type": "answer", "sdp": self.pc.localDescription.sdp})

    # -- media ----------------------------------------------------------------------------
    async def publish(self, rgb: tuple[int, int, int], audio: bool = True) -> None:
        self.local["video"] = ColourTrack(rgb)
        names = ["video"]
        if audio:
            self.local["audio"] = ToneTrack()
            names.append("audio")
        await self.send({"type": "publish", "tracks": names})

    def _on_track(self, track: MediaStreamTrack) -> None:
        mid = next(t.mid for t in self.pc.getTransceivers() if t.receiver.track is track)
        self._consumers.append(asyncio.ensure_future(self._consume(mid, track)))

    async def _consume(self, mid: str, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                if track.kind == "video":
                    count = self.frames.get(mid, 0) + 1
                    self.frames[mid] = count
                    if count % 5 == 1:
                        pixels = frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
                        self.rgb[mid] = tuple(float(c) for c in pixels)
                else:
                    self.audio_frames[mid] = self.audio_frames.get(mid, 0) + 1
                self._event.set()

    def mid_of(self, participant: int, slot: str = "video") -> str | None:
        for entry in self.tracks:
            if (
                entry["direction"] == "recv"
                and entry["participant"] == participant
                and entry["slot"] == slot
            ):
                return entry["mid"]
        return None

    def colour_from(self, participant: int, slot: str = "video") -> tuple[float, ...] | None:
        mid = self.mid_of(participant, slot)
        return None if mid is None else self.rgb.get(mid)

    # -- waiting ----------------------------------------------------------------------------
    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; last messages: {self.messages[-3:]}")
            self._event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), remaining)

    async def next_message(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20.0
    ) -> dict[str, Any]:
        start = len(self.messages)
        found: list[dict[str, Any]] = []

        def check() -> bool:
            for message in self.messages[start:]:
                if predicate(message):
                    found.append(message)
                    return True
            return False

        await self.wait_for(check, timeout)
        return found[0]

    async def close(self) -> None:
        for task in [*self._consumers, self._pinger]:
            if task is not None:
                task.cancel()
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self.pc.close()
