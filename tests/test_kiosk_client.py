"""The kiosk client (``kohtaamo-kiosk``): a real server, real aiortc peers, an injected clock."""

from __future__ import annotations

import asyncio
import datetime as dt
import fractions
import json
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import aioice.ice
import av
import numpy as np
import pytest

from kiosk_client.agent import Agent, State
from kiosk_client.api import ApiError, DeviceRefused, ServerApi
from kiosk_client.backoff import Backoff
from kiosk_client.cli import publish_file
from kiosk_client.clock import ManualClock, SystemClock
from kiosk_client.config import ConfigError, KioskConfig, load_config
from kiosk_client.headcount import Headcounts, parse_line
from kiosk_client.ice import restrict_host_addresses, set_consent
from kiosk_client.media import MediaInput, open_input
from kiosk_client.sinks import file_sink
from stream_server.attendance import headcounts
from stream_server.catalog import service as catalog
from stream_server.db.engine import Database
from stream_server.web.keys import DATABASE
from tests.conftest import base_url
from tests.peers import Publisher, Viewer, colour_close, wait_until
from tests.servers import free_port, start_server

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
        'ice_servers = [{ urls = "turn:t.example.org", username = "u", credential = "c" }]\n'
        'log_level = "debug"\n'
    )
    env = {"KOHTAAMO_KIOSK_TOKEN": "kd_secret", "KOHTAAMO_KIOSK_LEAD_SECONDS": "60"}
    config = load_config(path, environ=env, overrides={"sink": "null", "headcount": None})
    assert config.server == "https://kohtaamo.example.org"
    assert config.token == "kd_secret"
    assert config.lead_seconds == 60.0  # environment beats the file
    assert config.sink == "null"  # a flag beats both
    assert config.input_options == {"video_size": "1280x720", "framerate": "30"}
    assert config.ice_servers[0]["urls"] == "turn:t.example.org"
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
    clip = make_clip(tmp_path / "clip.mkv", seconds=1.0)
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
            # A one-second file at 25 fps, looped: 60 pictures means it went round at least
            # twice (aiortc's own looping stops after the first pass with this PyAV).
            await viewer.wait_for(
                lambda: viewer.video_frames >= 60 and viewer.audio_frames >= 100, timeout=30
            )
            assert colour_close(viewer.last_rgb, RED, tol=30), viewer.last_rgb
    finally:
        await viewer.close()
        publishing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await publishing


async def test_publish_without_loop_ends_with_the_file(client, sessions, tmp_path):
    created = await sessions.create()
    clip = make_clip(tmp_path / "clip.mkv", seconds=1.0)
    config = client_config(client)
    code = await asyncio.wait_for(
        publish_file(config, str(clip), created.session.id, created.publish_token), 30
    )
    assert code == 0
    code = await publish_file(config, str(clip), created.session.id, "wrong-token")
    assert code == 1


def kiosk_command(*args: str) -> list[str]:
    """``kohtaamo-kiosk ...`` as installed (``python -m kiosk_client`` is the same entry point)."""
    return [sys.executable, "-m", "kiosk_client", *args]


# A client process gathers ICE candidates on loopback only, from its environment.
KIOSK_ENV = {**os.environ, "KOHTAAMO_KIOSK_ICE_HOST_ADDRESSES": "127.0.0.1"}


async def test_watch_records_a_playable_file(client, sessions, tmp_path):
    """``kohtaamo-kiosk watch --record`` in its own process: counts frames, writes a file that
    PyAV can decode, with the publisher's colour and a plausible duration."""
    created = await sessions.create()
    sid = created.session.id
    publisher = Publisher(rgb=(40, 80, 200))
    out = tmp_path / "watched.mkv"
    try:
        async with aiohttp.ClientSession() as http:
            resp = await publisher.publish(http, base_url(client), sid, created.publish_token)
            assert resp.status == 201
            proc = await asyncio.create_subprocess_exec(
                *kiosk_command(
                    "watch",
                    "--server",
                    base_url(client),
                    "--session",
                    sid,
                    "--record",
                    str(out),
                    "--duration",
                    "4",
                ),
                env=KIOSK_ENV,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await publisher.close()
    assert proc.returncode == 0, stderr.decode()
    last = stdout.decode().strip().splitlines()[-1]
    assert last.startswith("received video ") and f"recorded to {out}" in last, last
    with av.open(str(out)) as container:
        assert {s.type for s in container.streams} == {"video", "audio"}
        frames = list(container.decode(video=0))
    assert len(frames) >= 20
    rgb = frames[-1].to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
    assert colour_close(tuple(float(c) for c in rgb), (40, 80, 200), tol=30), rgb
    duration = float(frames[-1].pts * frames[-1].time_base)
    assert 1.0 <= duration <= 6.0, duration


# -- the agent against a real server with the device API ---------------------------------------
async def cli(settings, *args: str) -> str:
    """Run ``kohtaamo ...`` (the IT staff's commands) against the test database."""
    env = {**os.environ, "KOHTAAMO_DATABASE_URL": settings.database_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stream_server",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    # ``python -m stream_server`` exits 0 even on errors, so stderr is checked too.
    assert proc.returncode == 0 and b"error" not in err, err.decode()
    return out.decode()


async def add_device(settings, venue: str, room: str | None, kind: str = "kiosk") -> dict:
    """``kohtaamo devices add --json`` as IT staff run it (venues loaded first, as by ``demo``)."""
    database = Database(settings.database_url)
    async with database.session() as db:
        await catalog.sync_reference_data(db)
    await database.close()
    args = ["devices", "add", "--venue", venue, "--kind", kind, "--json"]
    if room:
        args += ["--room", room]
    return json.loads(await cli(settings, *args))


def agent_config(server: str, token: str, **changes) -> KioskConfig:
    return KioskConfig(
        server=server,
        token=token,
        lead_seconds=120,
        # The test moves the clock straight to the join time instead of through refreshes.
        schedule_refresh_seconds=3600,
        sink="null",
        ice_servers=(),
    ).replace(**changes)


def clip_input(clip: Path) -> Callable[[], MediaInput]:
    return lambda: open_input(str(clip), loop=True)


async def attendance(http: aiohttp.ClientSession, base: str, sid: str) -> dict:
    async with http.get(f"{base}/api/sessions/{sid}/attendance") as resp:
        assert resp.status == 200
        return await resp.json()


async def ledger_headcounts(client, sid: str) -> dict[str, int]:
    """The latest in-person count per venue, as the attendance ledger holds it."""
    async with client.app[DATABASE].session() as db:
        return dict(await headcounts.latest_headcounts(db, sid))


def channel_now(data: dict, channel: str) -> int:
    return data["by_channel"].get(channel, {}).get("now", 0)


async def stop_agent(agent: Agent, task: asyncio.Task) -> None:
    agent.stop()
    await asyncio.wait_for(task, 20)


async def test_agent_joins_at_the_scheduled_time_publishes_and_leaves_at_the_end(
    client, sessions, settings, tmp_path
):
    starts = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=20)
    created = await sessions.create(venue="kantti/lava", starts_at=starts, minutes=30)
    sid = created.session.id
    device = await add_device(settings, "kantti", "lava", "kiosk")
    base = base_url(client)
    clock = ManualClock(dt.datetime.now(dt.UTC))
    agent = Agent(
        agent_config(base, device["token"]),
        clock=clock,
        input_factory=clip_input(make_clip(tmp_path / "clip.mkv")),
    )
    task = asyncio.ensure_future(agent.run())
    viewer = Viewer()
    try:
        join_at = starts - dt.timedelta(seconds=120)
        # The agent waits on its clock for exactly the join time, and has not joined.
        await clock.wait_for_sleeper(lambda when: when == join_at)
        assert agent.state == State.WAITING and agent.session_id == sid
        assert agent.connections_made == 0
        async with aiohttp.ClientSession() as http:
            assert channel_now(await attendance(http, base, sid), "kiosk") == 0
            assert (await viewer.play(http, base, sid)).status == 201
            await clock.set(join_at)
            await agent.wait_for(lambda a: a.state == State.PUBLISHING)
            await viewer.wait_for(lambda: viewer.video_frames >= 10, timeout=30)
            assert colour_close(viewer.last_rgb, RED, tol=30), viewer.last_rgb
            assert channel_now(await attendance(http, base, sid), "kiosk") == 1
            # At the end it leaves (DELETE) and the server closes its connection.
            await clock.set(starts + dt.timedelta(minutes=30))
            await agent.wait_for(lambda a: a.state in (State.IDLE, State.WAITING))
            await wait_until(lambda: _kiosk_gone(http, base, sid), timeout=15, interval=0.2)
    finally:
        await viewer.close()
        await stop_agent(agent, task)


async def _kiosk_gone(http: aiohttp.ClientSession, base: str, sid: str) -> bool:
    return channel_now(await attendance(http, base, sid), "kiosk") == 0


async def test_receiving_room_plays_without_sending_and_posts_headcounts(
    client, sessions, settings, tmp_path
):
    created = await sessions.create(venue="kantti/lava", receivers=["nilsia"], minutes=60)
    sid = created.session.id
    device = await add_device(settings, "nilsia", "lukusali", "room-link")
    base = base_url(client)
    count_file = tmp_path / "headcount"
    count_file.write_text("99\n")  # yesterday's number: must not be posted
    publisher = Publisher(rgb=(40, 80, 200))
    clock = ManualClock(dt.datetime.now(dt.UTC))
    agent = Agent(
        agent_config(base, device["token"], headcount=17, headcount_file=str(count_file)),
        clock=clock,
    )
    task = asyncio.ensure_future(agent.run())
    try:
        async with aiohttp.ClientSession() as http:
            assert (await publisher.publish(http, base, sid, created.publish_token)).status == 201
            await agent.wait_for(lambda a: a.state == State.PLAYING, timeout=30)
            assert agent.sink is not None
            sink = agent.sink
            await wait_until(lambda: sink.counter.video >= 10 and sink.counter.audio >= 10, 30)
            # It only receives: the session's one publisher is still the only sender.
            pcs = agent.connection
            assert pcs is not None and pcs.kind == "whep"
            assert all(t.direction == "recvonly" for t in pcs.pc.getTransceivers())
            # The fixed count is posted at the start, the file's old number is not.
            await wait_until(lambda: (sid, 17) in agent.headcounts_posted, 15)
            assert await ledger_headcounts(client, sid) == {"nilsia": 17}
            count_file.write_text("23\n")
            await wait_until(lambda: (sid, 23) in agent.headcounts_posted, 15)
            assert await ledger_headcounts(client, sid) == {"nilsia": 23}
            assert (sid, 99) not in agent.headcounts_posted
    finally:
        await publisher.close()
        await stop_agent(agent, task)


# A stand-in for mpv/ffplay (there is no display here): decodes the NUT stream from stdin with
# FFmpeg, as those players do, and records how many pictures it got. The first one "crashes".
STAND_IN_PLAYER = """
import pathlib, sys
import av
out = pathlib.Path(sys.argv[1])
first = not (out / "crashed").exists()
count = 0
with av.open(sys.stdin.buffer, format="nut") as container:
    for frame in container.decode(video=0):
        count += 1
        progress = out / "progress.tmp"
        progress.write_text(str(count))  # then renamed: the test never reads a half-written file
        progress.replace(out / f"player-{'first' if first else 'second'}")
        if first and count == 15:
            (out / "crashed").write_text("")
            sys.exit(1)
"""


async def test_window_player_gets_the_pictures_and_a_dead_player_is_replaced(
    client, sessions, settings, tmp_path
):
    created = await sessions.create(venue="kantti/lava", receivers=["nilsia"], minutes=60)
    sid = created.session.id
    device = await add_device(settings, "nilsia", "lukusali", "room-link")
    base = base_url(client)
    publisher = Publisher(rgb=(40, 80, 200))
    player = (sys.executable, "-c", STAND_IN_PLAYER, str(tmp_path))
    config = agent_config(base, device["token"], sink="window", player_command=player)
    clock = ManualClock(dt.datetime.now(dt.UTC))
    agent = Agent(config, clock=clock)
    task = asyncio.ensure_future(agent.run())
    try:
        async with aiohttp.ClientSession() as http:
            assert (await publisher.publish(http, base, sid, created.publish_token)).status == 201
            await wait_until(lambda: (tmp_path / "crashed").exists(), 30)
            # The broken pipe counts as a lost connection: after a back-off (moved on the
            # clock; heartbeats sleep 5 s), a new connection and a new player.
            now = clock.now()
            await clock.set(
                await clock.wait_for_sleeper(lambda when: when <= now + dt.timedelta(seconds=1))
            )
            await agent.wait_for(lambda a: a.connections_made >= 2, timeout=30)
            second = tmp_path / "player-second"
            await wait_until(lambda: second.exists() and int(second.read_text()) >= 15, 30)
            assert agent.state == State.PLAYING
    finally:
        await publisher.close()
        await stop_agent(agent, task)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("room", ["host-room", "receiving-room"])
async def test_reconnecting_leaks_no_threads_or_files(client, sessions, settings, tmp_path, room):
    """Each connection opens an input (a decoding thread) or a sink (a writer thread and a
    file); twelve reconnects later there must be no more threads or descriptors than after
    the first."""
    created = await sessions.create(venue="kantti/lava", receivers=["nilsia"], minutes=60)
    venue, room_slug = ("kantti", "lava") if room == "host-room" else ("nilsia", "lukusali")
    device = await add_device(settings, venue, room_slug, "kiosk")
    base = base_url(client)
    publisher = Publisher()
    config = agent_config(
        base, device["token"], backoff_base_seconds=0.01, backoff_max_seconds=0.02
    )
    clip = make_clip(tmp_path / "clip.mkv", seconds=1.0)
    files = iter(range(1000))
    agent = Agent(
        config,
        input_factory=clip_input(clip),
        sink_factory=lambda sid: file_sink(str(tmp_path / f"{sid}-{next(files)}.mkv")),
    )
    task = asyncio.ensure_future(agent.run())
    try:
        async with aiohttp.ClientSession() as http:
            if room == "receiving-room":
                resp = await publisher.publish(
                    http, base, created.session.id, created.publish_token
                )
                assert resp.status == 201
            joined = State.PUBLISHING if room == "host-room" else State.PLAYING
            await agent.wait_for(lambda a: a.state == joined, timeout=30)
            # The slack below covers the one live connection's threads and sockets whether
            # or not they had started when the baseline was taken; a leak grows with cycles.
            threads, fds = threading.active_count(), open_fds()
            for n in range(2, 14):
                assert agent.connection is not None
                agent.connection.lose("test")
                await agent.wait_for(
                    lambda a, n=n: a.connections_made >= n and a.state == joined, timeout=30
                )
            await wait_until(
                lambda: threading.active_count() <= threads + 2 and open_fds() <= fds + 8, 15
            )
    finally:
        await publisher.close()
        await stop_agent(agent, task)


async def test_a_revoked_token_is_refused_logged_and_retried_with_backoff(client, settings, caplog):
    device = await add_device(settings, "kantti", "lava", "kiosk")
    await cli(settings, "devices", "revoke", str(device["id"]))
    clock = ManualClock(dt.datetime.now(dt.UTC))
    # Heartbeats an hour apart, so the only short sleep on the clock is the back-off.
    config = agent_config(base_url(client), device["token"], heartbeat_seconds=3600)
    agent = Agent(config, clock=clock)
    task = asyncio.ensure_future(agent.run())
    try:
        delays = []
        for _ in range(4):
            now = clock.now()
            wake = await clock.wait_for_sleeper(
                lambda when, now=now: now < when < now + dt.timedelta(seconds=3000)
            )
            assert agent.state == State.ERROR and agent.detail == "device_revoked"
            assert not task.done()
            delays.append((wake - now).total_seconds())
            await clock.set(wake)
        assert delays[0] < delays[3], delays  # backing off, not hammering
        assert "device token refused (device_revoked" in caplog.text
        assert device["token"] not in caplog.text  # never log the token
    finally:
        await stop_agent(agent, task)


async def test_an_unknown_token_is_refused_and_another_venue_cannot_count(
    client, sessions, settings
):
    created = await sessions.create(venue="kantti/lava", receivers=["nilsia"], minutes=60)
    other = await add_device(settings, "juankoski", "lukusali", "room-link")
    async with aiohttp.ClientSession() as http:
        with pytest.raises(DeviceRefused) as refused:
            await ServerApi(http, base_url(client), "kd_nonsense").schedule()
        assert (refused.value.status, refused.value.code) == (401, "device_token_invalid")
        api = ServerApi(http, base_url(client), other["token"])
        with pytest.raises(ApiError) as wrong:
            await api.headcount(created.session.id, "nilsia", 5)
        assert (wrong.value.status, wrong.value.code) == (403, "headcount_wrong_venue")


@pytest.fixture
def client_ice(monkeypatch: pytest.MonkeyPatch) -> KioskConfig:
    """What ``kohtaamo-kiosk run`` installs from its configuration (process-wide): loopback
    only here, and the client's own defaults for noticing that a server has gone."""
    config = agent_config("http://unused", "kd_unused", ice_host_addresses=("127.0.0.1",))
    for name in ("get_host_addresses", "CONSENT_INTERVAL", "CONSENT_FAILURES"):
        monkeypatch.setattr(aioice.ice, name, getattr(aioice.ice, name))
    restrict_host_addresses(config.ice_host_addresses)
    set_consent(config.ice_consent_interval, config.ice_consent_failures)
    return config


async def test_agent_survives_a_server_restart_and_rejoins_within_10_s(
    settings, tmp_path, client_ice
):
    """SIGKILL the server while the kiosk publishes; after the restart it publishes again."""
    config = client_ice
    database = Database(settings.database_url)
    async with database.session() as db:
        await catalog.sync_reference_data(db)
        created = await catalog.create_session(
            db, title="Luento", mode="broadcast", venue="kantti/lava", minutes=60
        )
    await database.close()
    sid = created.session.id
    device = await add_device(settings, "kantti", "lava", "kiosk")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = await start_server(settings.database_url, port)
    agent = Agent(
        config.replace(server=base, token=device["token"], schedule_refresh_seconds=60),
        input_factory=clip_input(make_clip(tmp_path / "clip.mkv")),
    )
    task = asyncio.ensure_future(agent.run())
    try:
        await agent.wait_for(lambda a: a.state == State.PUBLISHING, timeout=30)
        async with aiohttp.ClientSession() as http:
            viewer = Viewer()
            assert (await viewer.play(http, base, sid)).status == 201
            await viewer.wait_for(lambda: viewer.video_frames >= 5, timeout=30)
            await viewer.close()
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            proc = await start_server(settings.database_url, port)
            back = time.monotonic()
            await agent.wait_for(
                lambda a: a.connections_made >= 2 and a.state == State.PUBLISHING, timeout=30
            )
            rejoined = time.monotonic() - back
            viewer = Viewer()
            assert (await viewer.play(http, base, sid)).status == 201
            await viewer.wait_for(lambda: viewer.video_frames >= 5, timeout=30)
            await viewer.close()
        print(f"kiosk rejoined {rejoined:.1f} s after the restarted server was healthy")
        assert rejoined <= 10.0, f"rejoined {rejoined:.1f} s after the server was back"
    finally:
        await stop_agent(agent, task)
        proc.send_signal(signal.SIGTERM)
        await proc.wait()


async def test_run_command_plays_takes_counts_from_stdin_and_stops_on_sigterm(
    client, sessions, settings
):
    """The deployed path: ``kohtaamo-kiosk run`` in its own process, as systemd starts it."""
    created = await sessions.create(venue="kantti/lava", receivers=["nilsia"], minutes=60)
    sid = created.session.id
    device = await add_device(settings, "nilsia", "lukusali", "room-link")
    base = base_url(client)
    env = {**KIOSK_ENV, "KOHTAAMO_KIOSK_TOKEN": device["token"], "KOHTAAMO_KIOSK_SINK": "null"}
    proc = await asyncio.create_subprocess_exec(
        *kiosk_command("run", "--server", base, "--headcount-stdin"),
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stderr is not None
    log: list[str] = []

    async def read_until(text: str) -> None:
        while not any(text in line for line in log):
            line = await asyncio.wait_for(proc.stderr.readline(), 30)
            assert line, "\n".join(log)
            log.append(line.decode())

    try:
        await read_until("state: playing")
        async with aiohttp.ClientSession() as http:

            async def counted() -> bool:
                return channel_now(await attendance(http, base, sid), "room-link") == 1

            await wait_until(counted)  # once its media flows
        proc.stdin.write(b"12\n+2\n")
        await proc.stdin.drain()
        await read_until("headcount: 14 in the room posted")
        assert await ledger_headcounts(client, sid) == {"nilsia": 14}
        proc.send_signal(signal.SIGTERM)
        await read_until("agent: stopped")
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert device["token"] not in "".join(log)


def loopback_only_namespace() -> bool:
    """True inside ``make test``'s namespace, which holds nothing but ``lo``."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


async def set_loopback(state: str) -> None:
    proc = await asyncio.create_subprocess_exec("ip", "link", "set", "lo", state)
    assert await proc.wait() == 0


@pytest.mark.skipif(
    not loopback_only_namespace(),
    reason="takes the network down: only inside the loopback-only namespace of make test",
)
async def test_agent_rejoins_after_the_network_drops(
    client, sessions, settings, tmp_path, client_ice
):
    """The room PC's network goes away for a while: the agent notices (ICE consent, failed
    heartbeats), keeps retrying, and publishes again soon after the network is back."""
    created = await sessions.create(venue="kantti/lava", minutes=60)
    sid = created.session.id
    device = await add_device(settings, "kantti", "lava", "kiosk")
    base = base_url(client)
    config = client_ice.replace(server=base, token=device["token"], schedule_refresh_seconds=60)
    agent = Agent(config, input_factory=clip_input(make_clip(tmp_path / "clip.mkv")))
    task = asyncio.ensure_future(agent.run())
    try:
        # Publishing means connected: the state changes only once media flows.
        await agent.wait_for(lambda a: a.state == State.PUBLISHING, timeout=30)
        assert agent.connection is not None and agent.connection.pc.connectionState == "connected"
        await set_loopback("down")
        try:
            await agent.wait_for(lambda a: a.state == State.JOINING, timeout=30)
            await wait_until(lambda: agent._server_down, timeout=15)
        finally:
            await set_loopback("up")
        back = time.monotonic()
        await agent.wait_for(
            lambda a: a.connections_made >= 2 and a.state == State.PUBLISHING, timeout=30
        )
        rejoined = time.monotonic() - back
        async with aiohttp.ClientSession() as http:
            viewer = Viewer()
            try:
                assert (await viewer.play(http, base, sid)).status == 201
                await viewer.wait_for(lambda: viewer.video_frames >= 5, timeout=30)
            finally:
                await viewer.close()
        print(f"kiosk rejoined {rejoined:.1f} s after the network was back")
        assert rejoined <= 10.0, f"rejoined {rejoined:.1f} s after the network was back"
    finally:
        await stop_agent(agent, task)
