"""Quality tiers: the shared low tier, audio only, and automatic moves from receiver reports."""

from __future__ import annotations

from typing import Any

from aiortc.rtp import RtcpReceiverInfo, RtcpRrPacket

from stream_server.app import create_app
from stream_server.media.forwarding import ForwardedTrack, Slot
from stream_server.media.tiers import HOLD_LOW_SECONDS, TIERS, TierController
from stream_server.signaling.protocol import TIERS as PROTOCOL_TIERS
from stream_server.web.keys import DATABASE, LIVE
from tests.conftest import Sessions, base_url
from tests.peers import ColourTrack, Publisher, Viewer, colour_close
from tests.ws_peer import WsParticipant

BLUE = (40, 80, 200)


async def publish_vga(client: Any, sessions: Any) -> tuple[Publisher, str, str]:
    created = await sessions.create()
    publisher = Publisher(BLUE)
    publisher.video = ColourTrack(BLUE, size=(640, 480))
    publisher.pc.getTransceivers()[0].sender.replaceTrack(publisher.video)
    base, sid = base_url(client), created.session.id
    resp = await publisher.publish(client.session, base, sid, created.publish_token)
    assert resp.status == 201, resp.body
    return publisher, base, sid


async def test_a_low_tier_viewer_gets_the_smaller_picture_while_others_get_the_full_one(
    client, sessions
):
    publisher, base, sid = await publish_vga(client, sessions)
    full, lows = Viewer(), [Viewer() for _ in range(3)]
    try:
        assert (await full.play(client.session, base, sid, tier="high")).status == 201
        for low in lows:
            assert (await low.play(client.session, base, sid, tier="low")).status == 201
        await full.wait_for(lambda: full.video_frames >= 10, timeout=30)
        for low in lows:
            await low.wait_for(
                lambda low=low: low.video_frames >= 10 and colour_close(low.last_rgb, BLUE),
                timeout=30,
            )
            assert set(low.sizes) == {(320, 240)}, set(low.sizes)
        assert set(full.sizes) == {(640, 480)}, set(full.sizes)
        # One transcoder for the session, however many low-tier viewers: it encodes at
        # most one frame per frame it decodes.
        tier = client.app[LIVE].get(sid).router.low
        assert tier is not None and tier.running
        assert 0 < tier.frames_out <= tier.frames_in
    finally:
        for viewer in (full, *lows):
            await viewer.close()
        await publisher.close()


async def test_an_audio_only_viewer_gets_audio_and_no_video(client, sessions):
    publisher, base, sid = await publish_vga(client, sessions)
    listener, watcher = Viewer(), Viewer()
    try:
        resp = await listener.play(client.session, base, sid, tier="audio")
        assert resp.status == 201, resp.body
        video_section = resp.body.split("m=video", 1)[1].split("m=audio", 1)[0]
        assert "a=inactive" in video_section
        assert (await watcher.play(client.session, base, sid, tier="high")).status == 201
        # While the other viewer gets 30 video frames, the audio-only one gets none.
        await watcher.wait_for(lambda: watcher.video_frames >= 30, timeout=30)
        await listener.wait_for(lambda: listener.audio_frames >= 50, timeout=30)
        assert listener.video_frames == 0
    finally:
        await listener.close()
        await watcher.close()
        await publisher.close()


async def test_an_unknown_tier_is_a_clear_400(client, sessions):
    created = await sessions.create()
    viewer = Viewer()
    try:
        resp = await viewer.play(client.session, base_url(client), created.session.id, tier="ultra")
        assert resp.status == 400
        assert '"invalid_tier"' in resp.body
    finally:
        await viewer.close()


class _FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _SenderStandIn:
    """What TierController touches on an RTCRtpSender: its SSRC and RTCP entry point."""

    _ssrc = 1234

    async def _handle_rtcp_packet(self, packet: Any) -> None:
        return None


def _receiver_report(ssrc: int, loss: float) -> RtcpRrPacket:
    info = RtcpReceiverInfo(
        ssrc=ssrc,
        fraction_lost=int(loss * 256),
        packets_lost=0,
        highest_sequence=0,
        jitter=0,
        lsr=0,
        dlsr=0,
    )
    return RtcpRrPacket(ssrc=1, reports=[info])


async def test_auto_tier_moves_down_on_loss_and_back_up_with_hysteresis():
    high, low = Slot("video", "high"), Slot("video", "low")
    track = ForwardedTrack("video")
    track.follow(high)
    clock = _FakeClock()
    sender = _SenderStandIn()
    controller = TierController(sender, track, high, lambda: low, clock=clock)  # type: ignore[arg-type]

    async def report(loss: float, ssrc: int = 1234) -> None:
        await sender._handle_rtcp_packet(_receiver_report(ssrc, loss))

    await report(0.30, ssrc=999)  # another stream's report is ignored
    await report(0.30)
    assert track.slot is high  # one bad report is not enough
    await report(0.30)
    assert track.slot is low and controller.tier == "low"
    for _ in range(10):
        await report(0.0)
    assert track.slot is low  # clean reports, but too soon after the move
    clock.now += HOLD_LOW_SECONDS + 1
    await report(0.30)  # a bad report breaks the clean streak
    assert track.slot is low
    for _ in range(4):
        await report(0.0)
    assert track.slot is low
    await report(0.0)
    assert track.slot is high and controller.moves == 2
    track.stop()


async def test_an_auto_viewer_starts_on_the_full_stream(client, sessions):
    publisher, base, sid = await publish_vga(client, sessions)
    viewer = Viewer()
    try:
        assert (await viewer.play(client.session, base, sid, tier="auto")).status == 201
        await viewer.wait_for(lambda: viewer.video_frames >= 10, timeout=30)
        assert set(viewer.sizes) == {(640, 480)}
        assert client.app[LIVE].get(sid).router.low is None  # no transcoder until one is needed
    finally:
        await viewer.close()
        await publisher.close()


async def test_a_websocket_viewer_joins_audio_only_and_switches_with_one_message(client, sessions):
    created = await sessions.create(mode="broadcast")
    sid, base = created.session.id, base_url(client)
    host = WsParticipant(client.session, base)
    await host.join(session=sid, role="host", token=created.host_token, channel="presenter")
    listener = WsParticipant(client.session, base)
    try:
        joined = await listener.join(session=sid, channel="tablet", tier="audio")
        assert joined["type"] == "joined", joined
        await host.publish(BLUE)
        await listener.wait_for(lambda: sum(listener.audio_frames.values()) >= 50, timeout=30)
        assert sum(listener.frames.values()) == 0
        # One tap on the page: the full picture, on the same transceivers (no new offer).
        offers = sum(m["type"] == "offer" for m in listener.messages)
        await listener.send({"type": "tier", "tier": "low"})
        await listener.wait_for(
            lambda: colour_close(listener.colour_from(host.id), BLUE), timeout=30
        )
        assert client.app[LIVE].get(sid).router.low is not None
        await listener.send({"type": "tier", "tier": "ultra"})
        error = await listener.next_message(lambda m: m["type"] == "error")
        assert error["code"] == "invalid_message" and error["ref"] == "tier"
        assert sum(m["type"] == "offer" for m in listener.messages) == offers
        # The host is not a viewer: no tiers for it.
        await host.send({"type": "tier", "tier": "audio"})
        error = await host.next_message(lambda m: m["type"] == "error")
        assert error["code"] == "not_allowed"
    finally:
        await listener.close()
        await host.close()


def test_the_protocol_and_the_media_core_agree_on_tiers():
    assert PROTOCOL_TIERS == TIERS


async def test_the_low_tier_works_in_h264_too(aiohttp_client, settings):
    """H.264 is the server's default codec: the low tier must transcode it (libx264)."""
    app = create_app(settings.replace(video_codec="H264"))
    client = await aiohttp_client(app)
    publisher, base, sid = await publish_vga(client, Sessions(app[DATABASE]))
    viewer = Viewer()
    try:
        resp = await viewer.play(client.session, base, sid, tier="low")
        assert resp.status == 201, resp.body
        assert "H264" in resp.body
        await viewer.wait_for(
            lambda: viewer.video_frames >= 10 and colour_close(viewer.last_rgb, BLUE), timeout=30
        )
        assert set(viewer.sizes) == {(320, 240)}, set(viewer.sizes)
    finally:
        await viewer.close()
        await publisher.close()
