"""The kiosk client's session news and picture: the SSE parser and follower, the composed
picture (screen share large, camera small, recording badge), and both against a real server:
``watch --record`` keeps camera and screen, the agent shows them and follows the events."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import sys
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
import pytest
from aiohttp import web
from aiortc import RTCConfiguration

from kiosk_client.agent import Agent, State
from kiosk_client.api import ServerApi, ServerUnavailable
from kiosk_client.backoff import Backoff
from kiosk_client.clock import ManualClock
from kiosk_client.compose import SCREEN_IDLE_SECONDS, Compositor, has_glyphs
from kiosk_client.config import ConfigError, load_config
from kiosk_client.events import (
    MAX_LINE_CHARS,
    ServerSentEvent,
    SessionEvents,
    SseError,
    SseParser,
    event_message,
)
from kiosk_client.media import play, video_roles
from kiosk_client.messages import MESSAGES, text
from kiosk_client.sinks import NullSink, file_sink
from tests.conftest import base_url
from tests.peers import ColourTrack, ToneTrack, colour_close, wait_until
from tests.test_kiosk_client import KIOSK_ENV, add_device, agent_config, kiosk_command, stop_agent
from tests.ws_peer import WsParticipant

GREEN = (40, 170, 60)  # the presenter's camera
BLUE = (40, 80, 200)  # the shared screen


# -- the SSE parser ---------------------------------------------------------------------------
TRICKY_STREAM = (
    "\ufeff"  # a byte-order mark, dropped
    "retry: 2500\r\n"
    ": connected\r\n"
    "\r\n"  # a blank line with no data dispatches nothing
    "event: recording\n"
    'data: {"type": "recording",\n'  # JSON spread over two data lines
    'data:  "on": true}\n'  # no space after the colon; the second space is data
    "\n"
    ": keep-alive\r"
    "\r"
    "event: ignored-type-without-data\n"
    "\n"  # resets the type: the next event is a plain "message"
    "data\n"  # a field name alone: an empty data line
    "data:kahvi\u00e4\n"  # UTF-8 split across chunks when fed byte by byte
    "id: 7\n"
    "colour: red\n"  # unknown field
    "retry: soon\n"  # not digits: ignored
    "\n"
    "event: ended\r\n"
    'data: {"type": "ended"}\r\n'
    "\r\n"
    "event: half\n"
    "data: never finished"  # no blank line before the end: not dispatched
)
TRICKY_EVENTS = [
    ServerSentEvent("recording", '{"type": "recording",\n "on": true}', ""),
    ServerSentEvent("message", "\nkahvi\u00e4", "7"),
    ServerSentEvent("ended", '{"type": "ended"}', "7"),
]


def parse_in_chunks(data: bytes, cuts: list[int]) -> tuple[list[ServerSentEvent], SseParser]:
    parser = SseParser()
    events: list[ServerSentEvent] = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        events += parser.feed(data[start:cut])
        start = cut
    return events, parser


def test_sse_parser_whole_byte_by_byte_and_in_random_pieces():
    data = TRICKY_STREAM.encode()
    events, parser = parse_in_chunks(data, [])
    assert events == TRICKY_EVENTS
    assert parser.retry == 2.5 and parser.last_event_id == "7"
    assert parse_in_chunks(data, list(range(1, len(data))))[0] == TRICKY_EVENTS
    rng = random.Random(7)
    for _ in range(200):
        cuts = rng.sample(range(1, len(data)), rng.randint(1, 12))
        assert parse_in_chunks(data, cuts)[0] == TRICKY_EVENTS, cuts


def test_sse_parser_a_crlf_split_between_reads_is_one_line_end():
    """A CR at the end of one read and the LF at the start of the next are one line end; taken
    as two, the blank line between would dispatch the event half-read."""
    parser = SseParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\ndata: b\r") == []
    assert parser.feed(b"\n\r") == [ServerSentEvent("message", "a\nb")]
    assert parser.feed(b"\n") == []  # the LF of that CRLF, not another blank line
    assert parser.feed(b"data: c\r\r") == [ServerSentEvent("message", "c")]  # CR CR: a blank line


def test_sse_parser_refuses_an_endless_line_and_messages_need_a_json_type():
    with pytest.raises(SseError):
        SseParser().feed(b"data: " + b"x" * (MAX_LINE_CHARS + 1))
    assert event_message(ServerSentEvent("recording", '{"type": "recording", "on": false}')) == {
        "type": "recording",
        "on": False,
    }
    for data in ("not json", "[1, 2]", '{"on": true}', '{"type": 5}'):
        assert event_message(ServerSentEvent("message", data)) is None


# -- the follower against a small stand-in server ---------------------------------------------
async def test_session_events_reconnect_with_backoff_until_ended(aiohttp_server: Any):
    """The first stream drops after the recording news, the second stays silent (a dead
    connection, noticed by the idle timeout), the third brings the end."""
    visits: list[str | None] = []

    async def events(request: web.Request) -> web.StreamResponse:
        visits.append(request.headers.get("Authorization"))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"retry: 10\n\n")
        if len(visits) == 1:
            await response.write(b'event: recording\ndata: {"type":"recording","on":true}\n\n')
        elif len(visits) == 2:
            await asyncio.sleep(5)  # nothing at all, not even a comment
        else:
            await response.write(b": keep-alive\n\n")
            await response.write(b'event: caption\ndata: {"type":"caption","text":"Hei"}\n\n')
            await response.write(b'event: recording\ndata: {"type":"recording","on":false}\n\n')
            await response.write(b'event: ended\ndata: {"type":"ended"}\n\n')
            await asyncio.sleep(5)  # the client leaves by itself after "ended"
        return response

    app = web.Application()
    app.router.add_get("/api/sessions/s1/events", events)
    server = await aiohttp_server(app)
    got: list[dict[str, Any]] = []
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async with aiohttp.ClientSession() as http:
        api = ServerApi(http, str(server.make_url("/")), "kd_secret")
        follower = SessionEvents(
            api,
            "s1",
            got.append,
            Backoff(0.5, 1.0, rand=lambda: 1.0),
            idle_timeout=0.5,
            sleep=sleep,
        )
        assert await asyncio.wait_for(follower.run(), 10) == "ended"
    assert got == [
        {"type": "recording", "on": True},
        {"type": "caption", "text": "Hei"},  # unknown types are passed on, not fatal
        {"type": "recording", "on": False},
        {"type": "ended"},
    ]
    assert visits == ["Bearer kd_secret"] * 3 and follower.connections == 3
    assert sleeps == [0.5, 0.5]  # reset after each stream that worked


@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [
        (410, "session_ended", "gone"),
        (404, "unknown_session", "gone"),
        (404, "not_found", "unsupported"),
    ],
)
async def test_session_events_stop_when_the_server_says_so(
    aiohttp_server: Any, status: int, code: str, outcome: str
):
    async def events(request: web.Request) -> web.Response:
        return web.json_response({"error": {"code": code, "message": "no"}}, status=status)

    app = web.Application()
    app.router.add_get("/api/sessions/s1/events", events)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as http:
        api = ServerApi(http, str(server.make_url("/")))
        follower = SessionEvents(api, "s1", lambda m: None, Backoff(0.01, 0.02))
        assert await asyncio.wait_for(follower.run(), 10) == outcome


class OfferCatcher(ServerApi):
    """Keeps the offer ``media.play`` posts, and answers like a server that is down."""

    def __init__(self) -> None:
        super().__init__(None, "http://unused")  # type: ignore[arg-type]  # never used
        self.sdp = ""

    async def offer(self, kind: str, session_id: str, sdp: str) -> tuple[str, str]:
        self.sdp = sdp
        raise ServerUnavailable("test")


async def test_the_whep_offer_has_camera_screen_audio_in_that_order():
    """The server's contract: the camera on the first video m-line, the screen on the second."""
    api, sink = OfferCatcher(), NullSink()
    with pytest.raises(ServerUnavailable):
        await play(api, "s1", sink, RTCConfiguration(iceServers=[]))
    assert sink.closed  # a failed offer closes the sink with the connection
    kinds = [line.split()[0][2:] for line in api.sdp.splitlines() if line.startswith("m=")]
    directions = [line for line in api.sdp.splitlines() if line in ("a=recvonly", "a=sendrecv")]
    assert kinds == ["video", "video", "audio"] and directions == ["a=recvonly"] * 3
    assert video_roles(api.sdp) == {"0": "camera", "1": "screen"}


# -- the composed picture ----------------------------------------------------------------------
def solid(rgb: tuple[int, int, int], width: int, height: int) -> av.VideoFrame:
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, :] = rgb
    return av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")


def mean_rgb(picture: np.ndarray, rows: slice, cols: slice) -> tuple[float, ...]:
    return tuple(float(c) for c in picture[rows, cols].reshape(-1, 3).mean(axis=0))


def badge_shown(picture: np.ndarray) -> bool:
    """The top-right corner holds the red badge (#b00020 with white text)."""
    height, width = picture.shape[:2]
    corner = picture[: height // 8, width // 2 :].reshape(-1, 3).astype(int)
    red = (corner[:, 0] > 120) & (corner[:, 1] < 60) & (corner[:, 2] < 90)
    return red.mean() > 0.15


def shows_screen_with_small_camera(picture: np.ndarray) -> bool:
    height, width = picture.shape[:2]
    centre = mean_rgb(picture, slice(height // 3, height // 2), slice(width // 3, width // 2))
    # The small camera: bottom right, a quarter of the width (the page's layout).
    small = mean_rgb(
        picture,
        slice(height - height // 6, height - height // 20),
        slice(width - width // 6, width - width // 20),
    )
    return colour_close(centre, BLUE, tol=30) and colour_close(small, GREEN, tol=30)


def shows_camera_full(picture: np.ndarray) -> bool:
    height, width = picture.shape[:2]
    centre = mean_rgb(picture, slice(height // 3, height // 2), slice(width // 3, width // 2))
    small = mean_rgb(
        picture,
        slice(height - height // 6, height - height // 20),
        slice(width - width // 6, width - width // 20),
    )
    return colour_close(centre, GREEN, tol=30) and colour_close(small, GREEN, tol=30)


def test_compositor_screen_large_camera_small_then_camera_full_again():
    compositor = Compositor(640, 480, text("recording.on"))
    camera = solid(GREEN, 640, 480)
    # Camera only, nothing to draw: the decoder's frame itself goes on (no copy, no scaling).
    assert compositor.camera(camera, now=0.0) is camera
    # A screen frame while the camera runs: kept for the next camera frame, not shown alone.
    assert compositor.screen(solid(BLUE, 1280, 720), now=0.1) is None
    picture = compositor.camera(camera, now=0.13).to_ndarray(format="rgb24")
    assert picture.shape == (480, 640, 3)
    assert shows_screen_with_small_camera(picture)
    # 16:9 in a 4:3 picture: letterboxed in black, not stretched.
    assert max(mean_rgb(picture, slice(0, 50), slice(100, 300))) < 25
    assert compositor.layout == "screen"
    # No screen frame for the idle time: the camera fills the picture again.
    picture = compositor.camera(camera, now=0.1 + SCREEN_IDLE_SECONDS + 0.1)
    assert shows_camera_full(picture.to_ndarray(format="rgb24"))
    assert compositor.layout == "camera"
    # No camera at all: the screen frames make the pictures.
    screen_only = Compositor(640, 480, text("recording.on"))
    picture = screen_only.screen(solid(BLUE, 640, 480), now=5.0)
    assert picture is not None
    assert colour_close(
        mean_rgb(picture.to_ndarray(format="rgb24"), slice(None), slice(None)), BLUE
    )


def test_compositor_recording_badge_in_finnish_or_english():
    pictures = {}
    for language in ("fi", "en"):
        compositor = Compositor(640, 480, text("recording.on", language))
        camera = solid(GREEN, 640, 480)
        assert not badge_shown(compositor.camera(camera, 0.0).to_ndarray(format="rgb24"))
        compositor.recording = True
        shown = compositor.camera(camera, 0.03)
        assert shown is not camera  # drawn on a copy, never on the decoder's buffer
        assert colour_close(
            mean_rgb(camera.to_ndarray(format="rgb24"), slice(0, 40), slice(None)), GREEN
        )
        pictures[language] = shown.to_ndarray(format="rgb24")
        assert badge_shown(pictures[language])
        compositor.screen(solid(BLUE, 640, 480), 0.04)
        picture = compositor.camera(camera, 0.06).to_ndarray(format="rgb24")
        assert badge_shown(picture) and shows_screen_with_small_camera(picture)
    # "● Recording" is shorter than "● Tallennetaan": the badges differ.
    assert not np.array_equal(pictures["fi"], pictures["en"])
    for entry in MESSAGES.values():
        assert all(has_glyphs(message) for message in entry.values())


def test_language_setting():
    assert load_config(None, environ={}).language == "fi"
    assert load_config(None, environ={"KOHTAAMO_KIOSK_LANGUAGE": "en"}).language == "en"
    with pytest.raises(ConfigError, match="language: must be one of fi, en, not 'sv'"):
        load_config(None, environ={"KOHTAAMO_KIOSK_LANGUAGE": "sv"})


@pytest.mark.parametrize("suffix", [".mkv", ".webm"])
async def test_a_file_keeps_an_idle_screen_stream_black_and_flowing(tmp_path: Path, suffix: str):
    """Nobody shares: the screen stream still gets a black picture every second. Left empty,
    it would make the muxer hold back every other packet (WebM: the whole recording)."""
    path = tmp_path / f"idle{suffix}"
    sink = file_sink(str(path))
    sink.has_screen = True  # as when the connection has a screen track
    for _ in range(26):  # 1.3 s of camera
        sink.write("camera", solid(GREEN, 320, 240))
        await asyncio.sleep(0.05)
    await sink.close()
    assert not sink.failed
    with av.open(str(path)) as container:
        assert [s.type for s in container.streams] == ["video", "video", "audio"]
        screens = [f.to_ndarray(format="rgb24") for f in container.decode(video=1)]
    assert len(screens) >= 2
    assert all(max(mean_rgb(f, slice(None), slice(None))) < 5 for f in screens)


# -- against a real server: a presenter with camera and screen over the WebSocket -------------
async def presenter(http: aiohttp.ClientSession, base: str, created: Any) -> WsParticipant:
    """The host of a broadcast on the presenter page: camera and microphone on."""
    host = WsParticipant(http, base)
    joined = await host.join(
        session=created.session.id, role="host", token=created.host_token, channel="presenter"
    )
    assert joined["type"] == "joined", joined
    host.local["video"] = ColourTrack(GREEN, size=(640, 480))
    host.local["audio"] = ToneTrack()
    await host.send({"type": "publish", "tracks": ["video", "audio"]})
    return host


async def share_screen(host: WsParticipant) -> None:
    host.local["screen"] = ColourTrack(BLUE, size=(640, 360), fps=15)
    await host.send({"type": "publish", "tracks": ["screen"]})


async def set_recording(http: aiohttp.ClientSession, base: str, created: Any, on: bool) -> None:
    async with http.post(
        f"{base}/api/sessions/{created.session.id}/recording",
        json={"on": on},
        headers={"Authorization": f"Bearer {created.publish_token}"},
    ) as resp:
        assert resp.status == 200, await resp.text()


async def test_watch_records_camera_and_screen_and_follows_the_session_news(
    client, sessions, tmp_path
):
    """``kohtaamo-kiosk watch --record`` in its own process: the presenter's camera and shared
    screen become two video streams of the file; it says when recording starts, and stops
    when the host ends the session."""
    created = await sessions.create()
    base = base_url(client)
    out = tmp_path / "watched.mkv"
    async with aiohttp.ClientSession() as http:
        host = await presenter(http, base, created)
        proc = await asyncio.create_subprocess_exec(
            *kiosk_command(
                "watch",
                "--server",
                base,
                "--session",
                created.session.id,
                "--record",
                str(out),
                "--duration",
                "60",
            ),
            env=KIOSK_ENV,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        lines: list[str] = []

        async def read_until(predicate: Any) -> None:
            while not any(predicate(line) for line in lines):
                line = await asyncio.wait_for(proc.stdout.readline(), 30)
                assert line, "\n".join(lines)
                lines.append(line.decode().strip())

        def screen_frames(line: str) -> int:
            words = line.split()
            return int(words[words.index("screen") + 1]) if line.startswith("frames:") else 0

        try:
            await share_screen(host)
            await read_until(lambda line: screen_frames(line) >= 30)
            await set_recording(http, base, created, True)
            await read_until(lambda line: line == "recording started")
            await host.send({"type": "end"})
            await read_until(lambda line: line == "the session has ended")
            _, stderr = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await host.close()
    assert proc.returncode == 0, stderr.decode()
    with av.open(str(out)) as container:
        kinds = [s.type for s in container.streams]
        assert kinds == ["video", "video", "audio"], kinds
        camera_stream, screen_stream = container.streams.video
        assert (camera_stream.width, screen_stream.width) == (640, 1280)
    for index, colour in ((0, GREEN), (1, BLUE)):
        with av.open(str(out)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=index)]
        assert len(frames) >= 10, index
        # The screen stream is black until the share starts: its last picture is the share.
        assert colour_close(mean_rgb(frames[-1], slice(None), slice(None)), colour, tol=30), index


# A stand-in for mpv/ffplay: decodes the NUT stream from stdin and leaves the latest picture
# (RGB, as numpy's .npy) where the test can look at it.
PICTURE_PLAYER = """
import pathlib, sys
import av, numpy as np
out = pathlib.Path(sys.argv[1])
with av.open(sys.stdin.buffer, format="nut") as container:
    for count, frame in enumerate(container.decode(video=0)):
        if count % 3 == 0:
            with open(out / "picture.tmp", "wb") as fh:
                np.save(fh, frame.to_ndarray(format="rgb24"))
            (out / "picture.tmp").replace(out / "picture.npy")
"""


def latest_picture(directory: Path) -> np.ndarray | None:
    path = directory / "picture.npy"
    return np.load(path) if path.exists() else None


async def picture_becomes(directory: Path, predicate: Any, timeout: float = 30.0) -> None:
    def check() -> bool:
        picture = latest_picture(directory)
        return picture is not None and predicate(picture)

    await wait_until(check, timeout, interval=0.1)


async def test_agent_shows_the_screen_share_and_the_recording_badge_and_leaves_at_the_end(
    client, sessions, settings, tmp_path, caplog
):
    """A receiving room's agent: the camera full; the shared screen large with the camera
    small while it arrives, the camera full again after it stops; "● Tallennetaan" on the
    picture and "recording started/stopped" in the log; the host ends early and it leaves."""
    caplog.set_level(logging.INFO, logger="kiosk_client")
    created = await sessions.create(venue="kantti/lava", receivers=["nilsia"], minutes=60)
    sid = created.session.id
    device = await add_device(settings, "nilsia", "lukusali", "room-link")
    base = base_url(client)
    player = (sys.executable, "-c", PICTURE_PLAYER, str(tmp_path))
    config = agent_config(base, device["token"], sink="window", player_command=player)
    agent = Agent(config, clock=ManualClock(dt.datetime.now(dt.UTC)))
    task = asyncio.ensure_future(agent.run())
    async with aiohttp.ClientSession() as http:
        host = await presenter(http, base, created)
        try:
            await agent.wait_for(lambda a: a.state == State.PLAYING, timeout=30)
            await picture_becomes(tmp_path, shows_camera_full)
            await share_screen(host)
            await picture_becomes(tmp_path, shows_screen_with_small_camera)
            assert agent.sink is not None and agent.sink.counter.screen > 0

            await set_recording(http, base, created, True)
            await wait_until(lambda: agent.recording, 15)
            await picture_becomes(
                tmp_path, lambda p: badge_shown(p) and shows_screen_with_small_camera(p)
            )
            assert f"session {sid}: recording started" in caplog.text
            await set_recording(http, base, created, False)
            await wait_until(lambda: not agent.recording, 15)
            await picture_becomes(tmp_path, lambda p: not badge_shown(p))
            assert f"session {sid}: recording stopped" in caplog.text

            await host.send({"type": "unpublish", "tracks": ["screen"]})
            await picture_becomes(tmp_path, shows_camera_full)

            connections = agent.connections_made
            await host.send({"type": "end"})
            await agent.wait_for(lambda a: a.state in (State.IDLE, State.WAITING), timeout=15)
            assert sid in agent._finished and agent.connections_made == connections
            # Through the event (a lost connection alone would wait out a back-off on the
            # test's clock, which never moves): as at the end time.
            assert f"session {sid}: the server says it has ended" in caplog.text
            assert f"session {sid}: leaving (ended)" in caplog.text
        finally:
            await host.close()
            await stop_agent(agent, task)
