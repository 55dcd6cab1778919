"""The forwarding core: key frames, bounded queues, skipping ahead, changing sources."""

from __future__ import annotations

import asyncio

import av

from stream_server.media.forwarding import (
    VIDEO_QUEUE_FRAMES,
    ForwardedTrack,
    MediaSource,
    Slot,
    is_keyframe,
)

VP8_KEY = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A]) + b"\x00" * 20  # P bit 0
VP8_DELTA = bytes([0x11, 0x02, 0x00]) + b"\x00" * 20  # P bit 1


def test_keyframe_detection():
    assert is_keyframe("VP8", VP8_KEY)
    assert not is_keyframe("VP8", VP8_DELTA)
    assert is_keyframe(
        "H264", b"\x00\x00\x00\x01\x67abc\x00\x00\x00\x01\x68x\x00\x00\x00\x01\x65yy"
    )
    assert not is_keyframe("H264", b"\x00\x00\x00\x01\x41zz")
    assert not is_keyframe("VP8", b"")
    assert is_keyframe("OPUS", b"\x01")


class PliCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


async def test_new_subscriber_starts_on_a_keyframe_and_asks_for_one():
    pli = PliCounter()
    source = MediaSource("video", "VP8", send_pli=pli)
    slot = Slot("video")
    slot.set_source(source)
    track = slot.subscribe()
    await asyncio.sleep(0)
    assert pli.count == 1  # the publisher was asked at once
    source.push(VP8_DELTA, 3000)
    source.push(VP8_KEY, 6000)
    source.push(VP8_DELTA, 9000)
    first = await track.recv()
    assert isinstance(first, av.Packet)
    assert bytes(first) == VP8_KEY  # the delta before it was dropped
    assert bytes(await track.recv()) == VP8_DELTA
    source.close()


async def test_keyframe_requests_are_coalesced_and_repeated_until_answered(monkeypatch):
    monkeypatch.setattr("stream_server.media.forwarding.KEYFRAME_RETRY_SECONDS", 0.05)
    pli = PliCounter()
    source = MediaSource("video", "VP8", send_pli=pli)
    slot = Slot("video")
    slot.set_source(source)
    tracks = [slot.subscribe() for _ in range(10)]
    await asyncio.sleep(0)
    assert pli.count == 1  # ten subscribers, one request
    await asyncio.sleep(0.18)
    assert pli.count >= 3  # unanswered requests are repeated, never lost
    source.push(VP8_KEY, 0)
    settled = pli.count
    await asyncio.sleep(0.15)
    assert pli.count == settled  # answered: no more requests
    for track in tracks:
        assert bytes(await track.recv()) == VP8_KEY
    source.close()


async def test_a_stalled_subscriber_is_bounded_and_skips_ahead_without_slowing_others():
    pli = PliCounter()
    source = MediaSource("video", "VP8", send_pli=pli)
    slot = Slot("video")
    slot.set_source(source)
    reader, stalled = slot.subscribe(), slot.subscribe()
    received = []

    async def read() -> None:
        while True:
            received.append(bytes(await reader.recv()))

    task = asyncio.create_task(read())
    total = 200
    for i in range(total):
        source.push(VP8_KEY if i % 100 == 0 else VP8_DELTA, i * 3000)
        await asyncio.sleep(0)  # the reader keeps up
    await asyncio.sleep(0)
    assert len(received) == total  # the healthy subscriber got every frame
    assert len(stalled._queue) <= VIDEO_QUEUE_FRAMES  # bounded memory
    assert stalled.skips >= 1 and stalled.frames_dropped > 0
    # When it catches up it resumes on a key frame, never on a broken delta frame.
    while stalled._queue:
        await stalled.recv()
    source.push(VP8_DELTA, total * 3000)
    source.push(VP8_KEY, (total + 1) * 3000)
    assert bytes(await stalled.recv()) == VP8_KEY
    task.cancel()
    source.close()


async def test_timestamps_stay_continuous_when_the_source_changes():
    slot = Slot("video")
    first = MediaSource("video", "VP8", send_pli=lambda: None)
    slot.set_source(first)
    track = slot.subscribe()
    first.push(VP8_KEY, 1_000_000)
    first.push(VP8_DELTA, 1_003_000)
    a = (await track.recv()).pts
    b = (await track.recv()).pts
    second = MediaSource("video", "VP8", send_pli=lambda: None)
    slot.set_source(second)
    second.push(VP8_KEY, 4_000_000_000)
    c = (await track.recv()).pts
    assert b - a == 3000
    assert 0 < c - b <= 3000 * 2
    first.close()
    second.close()


async def test_rtp_timestamp_wraparound_is_unwrapped():
    source = MediaSource("audio", "OPUS")
    slot = Slot("audio")
    slot.set_source(source)
    track = slot.subscribe()
    source.push(b"\x01", 0xFFFFFC40)
    source.push(b"\x02", 0x00000200)  # wrapped
    p1, p2 = await track.recv(), await track.recv()
    assert p2.pts - p1.pts == 0x200 + 0x3C0
    source.close()


async def test_closing_the_source_silences_subscribers_until_a_new_one_comes():
    slot = Slot("audio")
    source = MediaSource("audio", "OPUS")
    slot.set_source(source)
    track = slot.subscribe()
    source.close()
    assert slot.source is None
    waiter = asyncio.create_task(track.recv())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    replacement = MediaSource("audio", "OPUS")
    slot.set_source(replacement)
    replacement.push(b"\x05", 960)
    assert bytes(await asyncio.wait_for(waiter, 1)) == b"\x05"
    track.stop()
    assert slot.subscriber_count == 0


async def test_subscribers_of_one_source_share_one_packet_per_frame():
    """Per frame and subscriber only packetization should remain: no per-viewer copies."""
    source = MediaSource("video", "VP8", send_pli=lambda: None)
    slot = Slot("video")
    slot.set_source(source)
    tracks = [slot.subscribe() for _ in range(3)]
    source.push(VP8_KEY, 90_000)
    packets = [await track.recv() for track in tracks]
    assert packets[0] is packets[1] is packets[2]
    source.close()


class RecordingForwarder:
    """Stands in for a subscriber's network path (_RtpForwarder): records what it is given."""

    ready = True

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def send(
        self,
        payloads: list[bytes],
        timestamp: int,
        ntp_time: int,
        video: bool,
        blocks: dict[object, bytes] | None = None,
    ) -> bool:
        self.frames.append(b"".join(payloads))
        return True


async def test_a_fanout_backlog_is_dropped_and_a_key_frame_is_asked_for_again():
    """Regression: when a backlog overflow dropped the very key frame the subscribers were
    waiting for, nobody asked for another (they were already waiting) and video stopped for
    everyone until someone new joined."""
    pli = PliCounter()
    source = MediaSource("video", "VP8", send_pli=pli)
    slot = Slot("video")
    slot.set_source(source)
    tracks = [ForwardedTrack("video") for _ in range(3)]
    forwarders = [RecordingForwarder() for _ in tracks]
    for track, forwarder in zip(tracks, forwarders, strict=True):
        track._forwarder = forwarder  # type: ignore[assignment]
        track.follow(slot)
    # The fan-out task gets no turn while the loop is busy: frames pile up, then overflow.
    source.push(VP8_KEY, 0)
    for i in range(1, VIDEO_QUEUE_FRAMES + 1):
        source.push(VP8_DELTA, i * 3000)
    assert slot.fanout_overflows == 1
    source._keyframe_wanted = False  # as if the answer to that request had come...
    source.push(VP8_KEY, 1000 * 3000)  # ... and this is it, but the loop is still busy
    for i in range(VIDEO_QUEUE_FRAMES):
        source.push(VP8_DELTA, (1001 + i) * 3000)
    assert slot.fanout_overflows == 2  # that key frame went with the backlog
    assert source._keyframe_wanted  # so another one is asked for
    source.push(VP8_KEY, 2000 * 3000)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    for forwarder in forwarders:
        # Resumed on the key frame (as RTP payloads: VP8 payload descriptor, then the frame).
        assert len(forwarder.frames) == 1 and forwarder.frames[0].endswith(VP8_KEY)
    for track in tracks:
        track.stop()
    source.close()
