"""WHIP publishing and WHEP playing with aiortc: one peer connection per connection attempt.

A ``Connection`` sets ``lost`` when its peer connection fails or closes (aiortc reports a
vanished server as "closed" once ICE consent expires, not always "failed"), so the agent can
reconnect; ``close()`` is idempotent and ends the server-side resource with DELETE.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from kiosk_client.api import ServerApi
from kiosk_client.config import KioskConfig
from kiosk_client.ice import RelayUnavailable, has_relay_candidate
from kiosk_client.sinks import VIDEO_ROLES, Sink

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT = 5.0


class MediaInput:
    """What a host room sends: PyAV inputs (a file, or a camera plus a microphone)."""

    def __init__(
        self,
        video: MediaStreamTrack | None,
        audio: MediaStreamTrack | None,
        unused: list[MediaStreamTrack] | None = None,
    ) -> None:
        if video is None and audio is None:
            raise ValueError("the input has neither video nor audio")
        self.video = video
        self.audio = audio
        self._unused = unused or []

    def tracks(self) -> list[MediaStreamTrack]:
        return [t for t in (self.video, self.audio) if t is not None]

    def close(self) -> None:
        """Stops the players' decoding threads (so a camera is released)."""
        for track in [*self.tracks(), *self._unused]:
            track.stop()


class LoopingFile:
    """A media file played over and over, with timestamps that keep increasing.

    aiortc's own ``MediaPlayer(loop=True)`` stops at the end of the file with this PyAV (the
    end comes as an FFmpeg EOF error, not the StopIteration it loops on), and its timestamps
    would restart at zero. Here each pass is a fresh ``MediaPlayer``; the tracks shift the
    new pass's timestamps to follow on from the previous one.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.generation = 0
        self.player = MediaPlayer(path)
        self.video = _LoopTrack(self, "video") if self.player.video else None
        self.audio = _LoopTrack(self, "audio") if self.player.audio else None

    def source(self, kind: str) -> MediaStreamTrack:
        track = self.player.video if kind == "video" else self.player.audio
        assert track is not None
        return track

    def next_pass(self, generation: int) -> None:
        """Start the file again, once per pass, whichever track reaches the end first."""
        if generation != self.generation:
            return
        old = self.player
        self.player = MediaPlayer(self.path)
        self.generation += 1
        for track in (old.video, old.audio):
            if track is not None:
                track.stop()

    def stop(self) -> None:
        for track in (self.player.video, self.player.audio):
            if track is not None:
                track.stop()


class _LoopTrack(MediaStreamTrack):
    def __init__(self, owner: LoopingFile, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._owner = owner
        self._offset = 0  # added to the current pass's timestamps
        self._next_pts = 0  # where the next frame should be, had the file gone on
        self._generation = 0

    async def recv(self) -> Any:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            generation = self._owner.generation
            if generation != self._generation:
                self._generation = generation
                self._offset = self._next_pts
            try:
                frame: Any = await self._owner.source(self.kind).recv()
            except MediaStreamError:
                if self.readyState != "live":
                    raise
                self._owner.next_pass(generation)
                continue
            frame.pts += self._offset
            step = frame.samples if self.kind == "audio" else _frame_step(frame)
            self._next_pts = max(self._next_pts, frame.pts + step)
            return frame

    def stop(self) -> None:
        super().stop()
        if all(t is None or t.readyState != "live" for t in (self._owner.video, self._owner.audio)):
            self._owner.stop()


def _frame_step(frame: Any) -> int:
    """One frame's duration in the frame's time base (assumes 30 fps if unknown)."""
    if frame.time_base:
        return max(1, round(1 / (30 * frame.time_base)))
    return 1


def open_input(
    source: str,
    fmt: str = "",
    options: dict[str, str] | None = None,
    audio_source: str = "",
    audio_fmt: str = "",
    audio_options: dict[str, str] | None = None,
    loop: bool = False,
) -> MediaInput:
    """Open PyAV inputs. ``loop`` repeats a file; devices (``fmt`` given) never loop.

    With a separate ``audio_source`` (a microphone), the first input's own sound is not sent.
    """
    if not source:
        raise ValueError("no input configured (input = a media file or a camera device)")
    if loop and not fmt:
        looping = LoopingFile(source)
        if not audio_source:
            return MediaInput(looping.video, looping.audio)
        main: Any = looping
    else:
        main = MediaPlayer(source, format=fmt or None, options=options or None)
        if not audio_source:
            return MediaInput(main.video, main.audio)
    try:
        mic = MediaPlayer(audio_source, format=audio_fmt or None, options=audio_options or None)
    except Exception:
        MediaInput(main.video, main.audio).close()
        raise
    unused = [t for t in (main.audio, mic.video) if t is not None]
    return MediaInput(main.video, mic.audio, unused)


def input_from_config(config: KioskConfig) -> MediaInput:
    return open_input(
        config.input,
        config.input_format,
        dict(config.input_options),
        config.audio_input,
        config.audio_format,
        dict(config.audio_options),
        loop=config.loop_input,
    )


class Connection:
    """One WHIP or WHEP peer connection and its server-side resource."""

    def __init__(self, kind: str, session_id: str, api: ServerApi, rtc: RTCConfiguration) -> None:
        self.kind = kind
        self.session_id = session_id
        self.api = api
        self.pc = RTCPeerConnection(rtc)
        self.relay_only = rtc.iceTransportPolicy == RTCIceTransportPolicy.RELAY
        self.resource_url: str | None = None
        self.lost = asyncio.Event()
        self.lost_reason = ""
        self.connected = asyncio.Event()
        self.closed = False
        self._on_close: list[Callable[[], Any]] = []
        self.pc.on("connectionstatechange", self._on_state)

    def _on_state(self) -> None:
        state = self.pc.connectionState
        logger.debug("%s %s: connection %s", self.kind, self.session_id, state)
        if state == "connected":
            self.connected.set()
        elif state in ("failed", "closed"):
            self.lose(f"peer connection {state}")

    def lose(self, reason: str) -> None:
        """Mark the connection as no longer usable (the agent will replace it)."""
        if not self.closed and not self.lost.is_set():
            self.lost_reason = reason
            self.lost.set()

    async def negotiate(self) -> None:
        """Offer (aiortc gathers every candidate first: the server takes no trickle).

        Relay-only without a relay candidate cannot connect: :class:`RelayUnavailable`
        before anything is sent (aiortc drops a refused TURN allocation silently).
        """
        await self.pc.setLocalDescription(await self.pc.createOffer())
        if self.relay_only and not has_relay_candidate(self.pc.localDescription.sdp):
            raise RelayUnavailable("relay_only is set but the TURN server gave no relay address")
        self.resource_url, answer = await self.api.offer(
            self.kind, self.session_id, self.pc.localDescription.sdp
        )
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    async def close(self) -> None:
        """Idempotent: DELETE the resource, close the peer connection, release media."""
        if self.closed:
            return
        self.closed = True
        if self.resource_url is not None:
            await self.api.delete(self.resource_url)
        try:
            await asyncio.wait_for(self.pc.close(), CLOSE_TIMEOUT)
        except Exception as exc:  # aiortc's close itself has been seen to raise
            logger.debug("%s %s: closing the peer raised %r", self.kind, self.session_id, exc)
        for callback in self._on_close:
            with contextlib.suppress(Exception):
                result = callback()
                if asyncio.iscoroutine(result):
                    await result


async def publish(
    api: ServerApi, session_id: str, media: MediaInput, rtc: RTCConfiguration
) -> Connection:
    """WHIP: send ``media`` to the session. Closing the connection closes the input too."""
    conn = Connection("whip", session_id, api, rtc)
    conn._on_close.append(media.close)
    for track in media.tracks():
        # A camera unplugged, or a file that ends: reconnecting opens the input again.
        track.on("ended", lambda: conn.lose("the input ended"))
    try:
        for track in media.tracks():
            conn.pc.addTransceiver(track, direction="sendonly")
        await conn.negotiate()
    except BaseException:
        await conn.close()
        raise
    return conn


def video_roles(sdp: str) -> dict[str, str]:
    """``mid`` → ``camera`` / ``screen`` for the video m-lines of ``sdp``, by m-line order
    (the server's WHEP contract: first video m-line the camera, second the screen share)."""
    roles: dict[str, str] = {}
    kind = ""
    for line in sdp.splitlines():
        if line.startswith("m="):
            kind = line[2:].split(" ", 1)[0]
        elif line.startswith("a=mid:") and kind == "video" and len(roles) < len(VIDEO_ROLES):
            roles[line[len("a=mid:") :].strip()] = VIDEO_ROLES[len(roles)]
    return roles


async def play(api: ServerApi, session_id: str, sink: Sink, rtc: RTCConfiguration) -> Connection:
    """WHEP: receive the session into ``sink``. Receive-only: nothing is ever sent.

    Two video m-lines: the camera on the first, the presenter's screen share on the second
    (a server that does not offer the screen answers that m-line inactive: camera only).
    """
    conn = Connection("whep", session_id, api, rtc)
    conn._on_close.append(sink.close)
    sink.on_broken = lambda: conn.lose("the player or file stopped working")
    for kind in ("video", "video", "audio"):
        conn.pc.addTransceiver(kind, direction="recvonly")

    def on_track(track: MediaStreamTrack) -> None:
        # Tracks come with the answer, when the offer (and so every mid) is set.
        roles = video_roles(conn.pc.localDescription.sdp)
        mid = next(t.mid for t in conn.pc.getTransceivers() if t.receiver.track is track)
        role = roles.get(mid or "", "camera") if track.kind == "video" else "audio"
        logger.debug("whep %s: %s track on mid %s", session_id, role, mid)
        sink.add_track(track, role)

    conn.pc.on("track", on_track)
    try:
        await conn.negotiate()
    except BaseException:
        await conn.close()
        raise
    return conn
