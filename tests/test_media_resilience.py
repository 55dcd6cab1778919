"""Late joiners, stalled and killed viewers, the H.264 path, and the publisher's key frames."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import pytest

from stream_server.app import create_app
from stream_server.web.keys import DATABASE, LIVE
from tests.conftest import Sessions, base_url
from tests.peers import Publisher, Viewer, colour_close, wait_until

BLUE = (40, 80, 200)


async def attendance(client, session_id):
    async with client.get(f"/api/sessions/{session_id}/attendance") as resp:
        assert resp.status == 200
        return await resp.json()


async def test_late_joiner_gets_video_promptly_because_a_keyframe_is_requested(client, sessions):
    """aiortc's encoder sends a key frame only every ~3000 frames (100 s): without a relayed
    PLI a late viewer would stare at nothing."""
    created = await sessions.create()
    base, sid = base_url(client), created.session.id
    publisher = Publisher(BLUE)
    assert (await publisher.publish(client.session, base, sid, created.publish_token)).status == 201
    early = Viewer()
    assert (await early.play(client.session, base, sid)).status == 201
    await early.wait_for(lambda: early.video_frames >= 60)  # ~2 s: well past the first key frame

    source = client.app[LIVE].get(sid).router.camera.source
    keyframes_before = source.keyframes_in
    late = Viewer()
    joined = time.monotonic()
    assert (await late.play(client.session, base, sid)).status == 201
    await late.wait_for(
        lambda: late.video_frames >= 1 and colour_close(late.last_rgb, BLUE), timeout=15
    )
    assert source.keyframes_in > keyframes_before
    assert late.first_frame_at - joined < 15
    for peer in (early, late, publisher):
        await peer.close()


async def test_attendance_counts_viewers_and_the_publisher_link(client, sessions):
    created = await sessions.create()
    base, sid = base_url(client), created.session.id
    publisher = Publisher(BLUE)
    assert (await publisher.publish(client.session, base, sid, created.publish_token)).status == 201
    viewers = [Viewer(), Viewer()]
    for viewer in viewers:
        assert (await viewer.play(client.session, base, sid)).status == 201
    # Each is counted when its media flows (ICE and DTLS connected), not at its offer.
    await wait_until(
        lambda: _counted(client, sid, lambda d: d["online_now"] == 2 and "whip" in d["by_channel"])
    )
    data = await attendance(client, sid)
    assert data["session_id"] == sid
    assert data["online_now"] == 2 and data["online_total"] == 2
    assert data["by_channel"]["whep"] == {"now": 2, "total": 2}
    assert data["by_channel"]["whip"] == {"now": 1, "total": 1}  # a link, not a participant
    await viewers[0].close()  # a goodbye over DTLS: the server sees "closed"
    await wait_until(lambda: _online_now_is(client, sid, 1), timeout=20)
    data = await attendance(client, sid)
    assert data["online_total"] == 2
    await viewers[1].close()
    await publisher.close()


async def _counted(client, sid, predicate):
    return predicate(await attendance(client, sid))


async def _online_now_is(client, sid, value):
    return (await attendance(client, sid))["online_now"] == value


def spawn_viewer(base: str, sid: str) -> asyncio.subprocess.Process:
    return asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.viewer_process",
        base,
        sid,
        stdout=asyncio.subprocess.PIPE,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )


async def read_frames_line(
    proc: asyncio.subprocess.Process, at_least: int, timeout: float = 20
) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout)).decode()
        if line.startswith("frames ") and int(line.split()[1]) >= at_least:
            return int(line.split()[1])
        if line.startswith("error"):
            raise AssertionError(line)
    raise AssertionError("viewer process did not receive frames")


async def test_killed_viewer_is_closed_in_attendance(client, sessions, fast_consent):
    """A viewer that vanishes without DELETE or DTLS goodbye (SIGKILL) is noticed by ICE consent."""
    created = await sessions.create()
    base, sid = base_url(client), created.session.id
    publisher = Publisher(BLUE)
    assert (await publisher.publish(client.session, base, sid, created.publish_token)).status == 201
    proc = await spawn_viewer(base, sid)
    try:
        await read_frames_line(proc, 10)
        assert (await attendance(client, sid))["online_now"] == 1
        proc.kill()
        await proc.wait()
        await wait_until(lambda: _online_now_is(client, sid, 0), timeout=30, interval=0.2)
        data = await attendance(client, sid)
        assert data["online_total"] == 1
    finally:
        if proc.returncode is None:
            proc.kill()
        await publisher.close()


async def test_a_stalled_viewer_does_not_slow_the_others(client, sessions):
    """One viewer process is frozen (SIGSTOP); another keeps receiving at full rate."""
    created = await sessions.create()
    base, sid = base_url(client), created.session.id
    publisher = Publisher(BLUE)
    assert (await publisher.publish(client.session, base, sid, created.publish_token)).status == 201
    frozen = await spawn_viewer(base, sid)
    healthy = Viewer()
    try:
        await read_frames_line(frozen, 5)
        assert (await healthy.play(client.session, base, sid)).status == 201
        await healthy.wait_for(lambda: healthy.video_frames >= 5)
        os.kill(frozen.pid, signal.SIGSTOP)
        start_frames, start = healthy.video_frames, time.monotonic()
        await healthy.wait_for(lambda: healthy.video_frames >= start_frames + 60, timeout=20)
        fps = (healthy.video_frames - start_frames) / (time.monotonic() - start)
        assert fps > 10, fps  # the publisher sends 30 fps; generous for a noisy machine
        os.kill(frozen.pid, signal.SIGCONT)
        # The frozen viewer recovers on its own once thawed.
        await read_frames_line(frozen, 30, timeout=30)
    finally:
        frozen.kill()
        await frozen.wait()
        await healthy.close()
        await publisher.close()


@pytest.mark.parametrize("codec", ["H264"])
async def test_h264_is_forwarded_too(aiohttp_client, settings, codec):
    app = create_app(settings.replace(video_codec=codec))
    client = await aiohttp_client(app)
    created = await Sessions(app[DATABASE]).create()
    base, sid = base_url(client), created.session.id
    publisher = Publisher(BLUE)
    resp = await publisher.publish(client.session, base, sid, created.publish_token)
    assert resp.status == 201, resp.body
    assert "H264" in resp.body and "VP8" not in resp.body
    viewer = Viewer()
    assert (await viewer.play(client.session, base, sid)).status == 201
    await viewer.wait_for(lambda: viewer.video_frames >= 10 and colour_close(viewer.last_rgb, BLUE))
    await viewer.close()
    await publisher.close()
