"""The kiosk client (``kohtaamo-kiosk``): a real server, real aiortc peers, an injected clock."""

from __future__ import annotations

import asyncio
import datetime as dt
import fractions
import math
from pathlib import Path

import aiohttp
import av
import numpy as np
import pytest

from kiosk_client.backoff import Backoff
from kiosk_client.cli import publish_file, watch_session
from kiosk_client.clock import ManualClock, SystemClock
from kiosk_client.config import ConfigError, KioskConfig, load_config
from kiosk_client.headcount import Headcounts, parse_line
from tests.conftest import base_url
from tests.peers import Publisher, Viewer, colour_close

RED = (200, 40, 40)


def make_clip(path: Path, seconds: float = 2.0, rgb: tuple[int, int, int] = RED) -> Path:
    """A short H.264 + Opus file of one colour and a tone, made with PyAV."""
    fps, size = 25, (320, 240)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        audio = out.add_stream("libopus", rate=48000)
        audio.layout, audio.format = "stereo", "s16"
        pixels = np.zeros((size[1], size[0], 3), np.uint8)
        pixels[:, :] = rgb
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = i, fractions.Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for i in range(int(seconds * 50)):
            t = (np.arange(960) + i * 960) / 48000
            wave = (np.sin(2 * math.pi * 440 * t) * 8000).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(
                np.repeat(wave, 2).reshape(1, -1), format="s16", layout="stereo"
            )
            frame.sample_rate, frame.pts = 48000, i * 960
            frame.time_base = fractions.Fraction(1, 48000)
            for packet in audio.encode(frame):
                out.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                out.mux(packet)
    return path


# -- units: back-off, configuration, clock, headcount input ------------------------------------
def test_backoff_grows_with_jitter_up_to_the_cap_and_resets():
    draws = iter([0.0, 1.0, 0.5, 1.0, 1.0, 1.0, 1.0, 0.0])
    backoff = Backoff(base=1.0, cap=8.0, rand=lambda: next(draws))
    delays = [backoff.next_delay() for _ in range(7)]
    # Each delay lies in [ceiling/2, ceiling]; the ceiling doubles 1, 2, 4, 8 and stays at 8.
    assert delays == [0.5, 2.0, 3.0, 8.0, 8.0, 8.0, 8.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5
    many = Backoff(base=1.0, cap=30.0)
    many.failures = 10_000  # weeks of failures must not overflow
    assert 15.0 <= many.next_delay() <= 30.0
    with pytest.raises(ValueError):
        Backoff(base=2.0, cap=1.0)


def test_config_file_then_environment_then_flags(tmp_path: Path):
    path = tmp_path / "kiosk.toml"
    path.write_text(
        "[kiosk]\n"
        'server = "https://kohtaamo.example.org/"\n'
        "lead_seconds = 300\n"
        'sink = "file"\n'
        'input = "/dev/video0"\n'
        'input_format = "v4l2"\n'
        'input_options = { video_size = "1280x720", framerate = 30 }\n'
        'ice_servers = [{ urls = "turn:turn.example.org:3478", username = "u", credential = "c" }]\n'
        'log_level = "debug"\n'
    )
    env = {"KOHTAAMO_KIOSK_TOKEN": "kd_secret", "KOHTAAMO_KIOSK_LEAD_SECONDS": "60"}
    config = load_config(path, environ=env, overrides={"sink": "null", "headcount": None})
    assert config.server == "https://kohtaamo.example.org"
    assert config.token == "kd_secret"
    assert config.lead_seconds == 60.0  # environment beats the file
    assert config.sink == "null"  # a flag beats both
    assert config.input_options == {"video_size": "1280x720", "framerate": "30"}
    assert config.ice_servers[0]["urls"] == "turn:turn.example.org:3478"
    assert config.log_level == "DEBUG"
    assert load_config(None, environ={}).ice_servers == ()  # never aiortc's public STUN
    env = {"KOHTAAMO_KIOSK_ICE_HOST_ADDRESSES": "127.0.0.1", "KOHTAAMO_KIOSK_CONFIG": str(path)}
    assert load_config(None, environ=env).ice_host_addresses == ("127.0.0.1",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('sink = "screen"', "sink: must be one of auto, window, file, null, not 'screen'"),
        ('lead_seconds = "soon"', "lead_seconds: must be a number, not 'soon'"),
        ("headcount = -3", "headcount: must not be negative"),
        ('server = "kohtaamo.example.org"', "server: must start with http:// or https://"),
        ("colour = 1", "unknown key 'colour'"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, text: str, message: str):
    path = tmp_path / "kiosk.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, environ={})
    assert str(excinfo.value).endswith(message)


async def test_manual_clock_wakes_sleepers_only_when_moved():
    start = dt.datetime(2026, 12, 1, 16, 0, tzinfo=dt.UTC)
    clock = ManualClock(start)
    woke = asyncio.ensure_future(clock.sleep_until(start + dt.timedelta(minutes=5)))
    assert await clock.wait_for_sleeper() == start + dt.timedelta(minutes=5)
    await clock.advance(299)
    await asyncio.sleep(0)
    assert not woke.done()
    await clock.advance(1)
    await asyncio.wait_for(woke, 5)
    assert clock.sleepers == []
    real = SystemClock()
    await asyncio.wait_for(real.sleep_until(real.now() - dt.timedelta(hours=1)), 1)


async def test_headcount_lines_set_and_adjust():
    assert parse_line("23\n") == ("set", 23)
    assert parse_line("+1") == ("adjust", 1)
    assert parse_line("-2") == ("adjust", -2)
    assert parse_line("kaksi") is None and parse_line("") is None
    counts = Headcounts()
    await counts.set(5, "test")
    await counts.adjust(-7, "test")
    assert counts.value == 0 and counts.version == 2


# -- operators' tools: publish and watch against a real server ---------------------------------
def client_config(client) -> KioskConfig:
    # ICE is already restricted to 127.0.0.1 by the test app (process-wide).
    return KioskConfig(server=base_url(client), ice_servers=())


async def test_publish_a_file_reaches_a_whep_viewer(client, sessions, tmp_path):
    created = await sessions.create()
    sid = created.session.id
    clip = make_clip(tmp_path / "clip.mkv")
    publishing = asyncio.ensure_future(
        publish_file(
            client_config(client), str(clip), sid, created.publish_token, loop=True, duration=60
        )
    )
    viewer = Viewer()
    try:
        async with aiohttp.ClientSession() as http:
            # The viewer may come before or after the publisher: forwarding waits for a key frame.
            assert (await viewer.play(http, base_url(client), sid)).status == 201
            await viewer.wait_for(
                lambda: viewer.video_frames >= 10 and viewer.audio_frames >= 10, timeout=30
            )
            assert colour_close(viewer.last_rgb, RED, tol=30), viewer.last_rgb
    finally:
        await viewer.close()
        publishing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await publishing


async def test_watch_records_a_playable_file(client, sessions, tmp_path):
    created = await sessions.create()
    sid = created.session.id
    publisher = Publisher(rgb=(40, 80, 200))
    out = tmp_path / "watched.mkv"
    try:
        async with aiohttp.ClientSession() as http:
            assert (
                await publisher.publish(http, base_url(client), sid, created.publish_token)
            ).status == 201
            code = await watch_session(client_config(client), sid, None, str(out), duration=4)
    finally:
        await publisher.close()
    assert code == 0
    with av.open(str(out)) as container:
        assert {s.type for s in container.streams} == {"video", "audio"}
        frames = list(container.decode(video=0))
    assert len(frames) >= 20
    rgb = frames[-1].to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
    assert colour_close(tuple(float(c) for c in rgb), (40, 80, 200), tol=30), rgb
    duration = float(frames[-1].pts * frames[-1].time_base)
    assert 1.0 <= duration <= 6.0, duration
