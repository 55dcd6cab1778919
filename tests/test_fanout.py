"""The direct RTP fan-out path, end to end with real aiortc peers: PLI, NACK, join time, seams."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import aioice
import aiortc
from packaging.specifiers import SpecifierSet

from stream_server.media.seams import check_aiortc_seams
from stream_server.web.keys import LIVE
from tests.conftest import base_url
from tests.peers import Publisher, Viewer, colour_close, wait_until

BLUE = (40, 80, 200)


def test_the_aiortc_seams_hold_for_the_pinned_version():
    """An aiortc upgrade must fail here first, not silently in production."""
    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    for package, version in (("aiortc", aiortc.__version__), ("aioice", aioice.__version__)):
        pinned = re.search(rf'"{package}(>=[0-9.]+,<[0-9.]+)"', pyproject)
        assert pinned is not None, f"{package} must be pinned to one minor version"
        assert version in SpecifierSet(pinned.group(1)), (package, version, pinned.group(1))
    check_aiortc_seams()


async def start(client: Any, sessions: Any) -> tuple[Publisher, str, str]:
    created = await sessions.create()
    base, sid = base_url(client), created.session.id
    publisher = Publisher(BLUE)
    assert (await publisher.publish(client.session, base, sid, created.publish_token)).status == 201
    return publisher, base, sid


def video_receiver(viewer: Viewer) -> Any:
    return next(t.receiver for t in viewer.pc.getTransceivers() if t.kind == "video")


async def test_a_late_joiner_sees_video_within_three_seconds(client, sessions):
    """Key frame on demand: POST to first decoded frame is short (the bench reports the
    real figure; this bound is generous for a shared CI machine)."""
    publisher, base, sid = await start(client, sessions)
    early = Viewer()
    late = Viewer()
    try:
        assert (await early.play(client.session, base, sid)).status == 201
        await early.wait_for(lambda: early.video_frames >= 60)  # past the first key frame
        posted = time.monotonic()
        assert (await late.play(client.session, base, sid)).status == 201
        await late.wait_for(lambda: late.video_frames >= 1, timeout=20)
        assert late.first_frame_at is not None
        assert late.first_frame_at - posted < 3.0, late.first_frame_at - posted
        await late.wait_for(lambda: colour_close(late.last_rgb, BLUE))
    finally:
        for peer in (early, late, publisher):
            await peer.close()


async def test_a_pli_from_a_subscriber_reaches_the_publisher(client, sessions):
    publisher, base, sid = await start(client, sessions)
    asked: list[float] = []
    sender = publisher.pc.getTransceivers()[0].sender
    original = sender._send_keyframe

    def send_keyframe() -> None:
        asked.append(time.monotonic())
        original()

    sender._send_keyframe = send_keyframe
    viewer = Viewer()
    try:
        assert (await viewer.play(client.session, base, sid)).status == 201
        await viewer.wait_for(lambda: viewer.video_frames >= 60)
        source = client.app[LIVE].get(sid).router.camera.source
        keyframes, before = source.keyframes_in, len(asked)
        receiver = video_receiver(viewer)
        ssrc = receiver.getSynchronizationSources()[0].source
        await receiver._send_rtcp_pli(ssrc)
        await viewer.wait_for(lambda: len(asked) > before and source.keyframes_in > keyframes)
    finally:
        await viewer.close()
        await publisher.close()


async def test_a_nack_from_a_subscriber_is_answered_with_a_retransmission(client, sessions):
    publisher, base, sid = await start(client, sessions)
    viewer = Viewer()
    seen: list[tuple[int, int, int, bytes]] = []  # ssrc, payload type, sequence, payload
    receiver = video_receiver(viewer)
    original = receiver._handle_rtp_packet

    async def handle_rtp_packet(packet: Any, arrival_time_ms: int) -> None:
        seen.append((packet.ssrc, packet.payload_type, packet.sequence_number, packet.payload))
        await original(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle_rtp_packet
    try:
        assert (await viewer.play(client.session, base, sid)).status == 201
        await viewer.wait_for(lambda: viewer.video_frames >= 30)
        media_ssrc, media_pt, lost, _ = seen[-1]
        await receiver._send_rtcp_nack(media_ssrc, [lost])

        def retransmitted() -> bool:
            # RTX (RFC 4588): another payload type, the original sequence number first.
            return any(
                pt != media_pt and len(payload) >= 2 and int.from_bytes(payload[:2]) == lost
                for _, pt, _, payload in seen
            )

        await viewer.wait_for(retransmitted)
    finally:
        await viewer.close()
        await publisher.close()


async def test_viewers_that_come_and_go_leave_no_file_descriptors_behind(client, sessions):
    """Each direct-path subscriber holds a duplicate of its ICE socket: closing must free it."""
    publisher, base, sid = await start(client, sessions)
    live = client.app[LIVE]

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    try:
        warm = Viewer()  # the first connection opens lazily created things once
        assert (await warm.play(client.session, base, sid)).status == 201
        await warm.wait_for(lambda: warm.video_frames >= 5)
        await warm.close()
        baseline = open_fds()
        for _ in range(3):
            viewers = [Viewer() for _ in range(4)]
            for viewer in viewers:
                assert (await viewer.play(client.session, base, sid)).status == 201
            for viewer in viewers:
                await viewer.wait_for(lambda v=viewer: v.video_frames >= 5)
            for viewer in viewers:
                assert viewer.location is not None
                async with client.session.delete(f"{base}{viewer.location}") as resp:
                    assert resp.status == 200
                await viewer.close()
        await wait_until(lambda: live.get(sid).router.camera.subscriber_count == 0)
        # Allow a little slack for the warm viewer's and the test client's own sockets.
        await wait_until(lambda: open_fds() <= baseline + 4, timeout=20)
    finally:
        await publisher.close()
