"""Recording a broadcast to disk: real WHIP publisher, real files, read back with PyAV."""

from __future__ import annotations

import itertools
import os
import shutil
import time
from pathlib import Path

import av
import pytest

from stream_server.live.recording import purge_old_recordings
from stream_server.media.recorder import recording_name
from stream_server.web.keys import LIVE
from tests.conftest import base_url
from tests.peers import Publisher, colour_close, wait_until
from tests.ws_peer import WsParticipant

CARD = (40, 80, 200)


def recording_url(session_id: str) -> str:
    return f"/api/sessions/{session_id}/recording"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def start_recording(client, session_id: str, token: str):
    """Start over the HTTP API, as a broadcast tool would; the session's recorder."""
    resp = await client.post(recording_url(session_id), json={"on": True}, headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return client.app[LIVE].recorder(session_id)


async def publish(client, created) -> Publisher:
    publisher = Publisher(CARD)
    resp = await publisher.publish(
        client.session, base_url(client), created.session.id, created.publish_token
    )
    assert resp.status == 201, resp.body
    return publisher


def decodable_frames(part: Path, tmp_path: Path) -> int:
    """Pictures a player gets from a copy of the unfinished file (as a crash would leave it)."""
    copy = tmp_path / "crash-copy.mkv"
    shutil.copyfile(part, copy)
    try:
        with av.open(str(copy)) as container:
            return sum(1 for _ in container.decode(video=0))
    except av.error.FFmpegError:
        return 0


def read_back(path: Path) -> dict:
    """What a player would see: streams, the first picture's colour, timestamps."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        info = {
            "video_codec": video.codec_context.name,
            "size": (video.codec_context.width, video.codec_context.height),
            "audio_codec": audio.codec_context.name,
            "duration": container.duration / av.time_base if container.duration else 0.0,
        }
        pts: dict[str, list[int]] = {"video": [], "audio": []}
        for packet in container.demux():
            if packet.pts is not None:
                pts[packet.stream.type].append(packet.pts)
        info["pts"] = pts
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
            info["rgb"] = tuple(float(c) for c in rgb)
            break
    return info


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_a_broadcast_is_recorded_without_transcoding(
    aiohttp_client, settings, tmp_path, codec
):
    from stream_server.app import create_app
    from tests.conftest import Sessions

    client = await aiohttp_client(create_app(settings.replace(video_codec=codec)))
    from stream_server.web.keys import DATABASE

    created = await Sessions(client.app[DATABASE]).create()
    session_id = created.session.id
    publisher = await publish(client, created)
    live = client.app[LIVE]
    url = recording_url(session_id)

    resp = await client.post(url, json={"on": True}, headers=bearer(created.publish_token))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["recording"] is True and body["since"]
    recorder = live.recorder(session_id)
    assert recorder is not None
    # While it runs the file is visibly unfinished.
    assert recorder.part_path.name == recorder.path.name + ".part"
    await wait_until(lambda: recorder.video_frames >= 60 and recorder.audio_packets >= 50, 60)
    assert recorder.part_path.exists() and not recorder.path.exists()
    # A crash now would leave a .part that plays up to about a second ago.
    await wait_until(lambda: decodable_frames(recorder.part_path, tmp_path) > 0, 30)
    status = await client.get(url, headers=bearer(created.publish_token))
    assert (await status.json())["recording"] is True

    resp = await client.post(url, json={"on": False}, headers=bearer(created.publish_token))
    assert resp.status == 200 and (await resp.json()) == {"recording": False, "since": None}
    assert recorder.finished == recorder.path
    assert recorder.path.exists() and not recorder.part_path.exists()
    assert recorder.path.parent == settings.recordings_dir
    assert recorder.path.name.startswith(f"{session_id}-") and recorder.path.suffix == ".mkv"

    info = read_back(recorder.path)
    assert info["video_codec"] == codec.lower()
    assert info["size"] == (320, 240)
    assert info["audio_codec"] == "opus"
    assert colour_close(info["rgb"], CARD, tol=30), info["rgb"]
    for kind in ("video", "audio"):
        stamps = info["pts"][kind]
        assert stamps, kind
        assert all(b > a for a, b in itertools.pairwise(stamps)), kind
    assert info["pts"]["video"][0] == 0
    frames = recorder.video_frames
    # 30 fps: the file lasts about as long as the frames it holds (not 0, not hours).
    assert frames / 30 * 0.5 <= info["duration"] <= frames / 30 * 2 + 1, info["duration"]
    # Audio and video cover the same stretch of time (within half a second).
    video_end = info["pts"]["video"][-1] / 1000  # Matroska's 1 ms time base
    audio_end = info["pts"]["audio"][-1] / 1000
    assert abs(video_end - audio_end) < 0.5, (video_end, audio_end)
    await publisher.close()


async def test_a_replaced_publisher_keeps_the_file_monotonic(client, sessions):
    created = await sessions.create()
    session_id = created.session.id
    first = await publish(client, created)
    live = client.app[LIVE]
    recorder = await start_recording(client, session_id, created.host_token)
    await wait_until(lambda: recorder.video_frames >= 30, 60)
    # OBS reconnecting: a new publisher takes over, with RTP timestamps of its own.
    second = Publisher((200, 40, 40))
    resp = await second.publish(client.session, base_url(client), session_id, created.publish_token)
    assert resp.status == 201
    before = recorder.video_frames
    await wait_until(lambda: recorder.video_frames >= before + 30, 60)
    path = await live.stop_recording(session_id, "test")
    assert path is not None
    info = read_back(path)
    for kind in ("video", "audio"):
        stamps = info["pts"][kind]
        assert all(b > a for a, b in itertools.pairwise(stamps)), kind
    # Still together after the change of publisher (Matroska times are in ms).
    assert abs(info["pts"]["video"][-1] - info["pts"]["audio"][-1]) < 500
    with av.open(str(path)) as container:
        colours = [
            tuple(frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0))
            for frame in container.decode(video=0)
        ]
    assert colour_close(colours[0], CARD, tol=30)
    assert colour_close(colours[-1], (200, 40, 40), tol=30)
    await first.close()
    await second.close()


async def test_recording_needs_the_publish_host_or_staff_token(client, sessions, staff):
    created = await sessions.create()
    other = await sessions.create()
    publisher = await publish(client, created)
    url = recording_url(created.session.id)
    resp = await client.post(url, json={"on": True})
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "login_required"
    resp = await client.post(url, json={"on": True}, headers=bearer("wrong"))
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "token_invalid"
    # Another session's token and the join code are not enough.
    resp = await client.post(url, json={"on": True}, headers=bearer(other.publish_token))
    assert resp.status == 403
    resp = await client.post(url, json={"on": True}, headers=bearer(created.session.join_code))
    assert resp.status == 403
    resp = await client.get(url, headers=bearer("wrong"))
    assert resp.status == 403
    resp = await client.post(url, json={"on": "yes"}, headers=bearer(created.publish_token))
    assert resp.status == 400
    assert client.app[LIVE].is_recording(created.session.id) is False
    # A staff API token may.
    await staff.add()
    token = await staff.api_token()
    resp = await client.post(url, json={"on": True}, headers=bearer(token))
    assert resp.status == 200 and (await resp.json())["recording"] is True
    resp = await client.post(url, json={"on": False}, headers=bearer(token))
    assert resp.status == 200
    await publisher.close()


async def test_group_sessions_are_not_recorded(client, sessions):
    created = await sessions.create(mode="group")
    resp = await client.post(
        recording_url(created.session.id), json={"on": True}, headers=bearer(created.host_token)
    )
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "recording_group_unsupported"


async def test_a_deployment_can_forbid_recording(aiohttp_client, settings):
    from stream_server.app import create_app
    from stream_server.web.keys import DATABASE
    from tests.conftest import Sessions

    client = await aiohttp_client(create_app(settings.replace(recording_enabled=False)))
    created = await Sessions(client.app[DATABASE]).create()
    resp = await client.post(
        recording_url(created.session.id), json={"on": True}, headers=bearer(created.host_token)
    )
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "recording_disabled"


async def test_nothing_to_record_before_anyone_connects(client, sessions):
    created = await sessions.create()
    resp = await client.post(
        recording_url(created.session.id), json={"on": True}, headers=bearer(created.host_token)
    )
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "session_not_live"


def told(person: WsParticipant, on: bool) -> bool:
    return {"type": "recording", "on": on} in person.messages


async def test_everyone_is_told_and_only_the_host_may_record(client, sessions):
    created = await sessions.create()
    session_id = created.session.id
    base = base_url(client)
    host = WsParticipant(client.session, base)
    joined = await host.join(
        session=session_id, role="host", token=created.host_token, channel="presenter"
    )
    assert joined["type"] == "joined" and joined["recording"] is False
    viewer = WsParticipant(client.session, base)
    joined = await viewer.join(session=session_id)
    assert joined["recording"] is False

    await viewer.send({"type": "record", "on": True})
    error = await viewer.next_message(lambda m: m["type"] == "error")
    assert error["code"] == "not_host" and error["ref"] == "record"
    assert client.app[LIVE].is_recording(session_id) is False

    await host.send({"type": "record", "on": True})
    for person in (host, viewer):
        await person.wait_for(lambda p=person: told(p, True))
    late = WsParticipant(client.session, base)
    assert (await late.join(session=session_id))["recording"] is True

    await host.send({"type": "record", "on": False})
    for person in (host, viewer, late):
        await person.wait_for(lambda p=person: told(p, False))
    assert client.app[LIVE].is_recording(session_id) is False
    for person in (host, viewer, late):
        await person.close()


async def test_recording_stops_when_the_room_empties(client, sessions):
    created = await sessions.create()
    session_id = created.session.id
    publisher = await publish(client, created)
    live = client.app[LIVE]
    recorder = await start_recording(client, session_id, created.publish_token)
    await wait_until(lambda: recorder.video_frames >= 10, 60)
    async with client.session.delete(base_url(client) + publisher.location) as deleted:
        assert deleted.status == 200
    await wait_until(lambda: not live.is_recording(session_id) and recorder.finished, 30)
    assert recorder.path.exists() and not recorder.part_path.exists()
    await publisher.close()


def test_retention_deletes_old_recordings_and_keeps_new_ones(tmp_path):
    now = time.time()
    old = tmp_path / "s1-20250101T100000Z.mkv"
    old_part = tmp_path / "s1-20250101T120000Z.mkv.part"
    new = tmp_path / "s2-20260101T100000Z.mkv"
    other = tmp_path / "notes.txt"
    for path in (old, old_part, new, other):
        path.write_bytes(b"x")
    for path in (old, old_part, other):
        os.utime(path, (now - 31 * 86400, now - 31 * 86400))
    os.utime(new, (now - 29 * 86400, now - 29 * 86400))
    assert purge_old_recordings(tmp_path, 30, now) == 2
    assert not old.exists() and not old_part.exists()
    assert new.exists() and other.exists()  # other files are not ours to delete
    assert purge_old_recordings(tmp_path, 0, now) == 0  # 0 keeps everything
    assert purge_old_recordings(tmp_path / "missing", 30, now) == 0


def test_recording_file_name():
    import datetime as dt

    started = dt.datetime(2026, 11, 27, 18, 5, 9, tzinfo=dt.UTC)
    assert recording_name("abc", started) == "abc-20261127T180509Z.mkv"


async def test_a_slow_disk_drops_to_the_next_key_frame_and_memory_stays_bounded(
    client, sessions, monkeypatch
):
    """The writer is made to fall behind (it drains every 2 s into a 10-item queue): the
    recorder drops, resumes on a key frame, and the file is still whole and monotonic."""
    from stream_server.media import recorder as recorder_module

    monkeypatch.setattr(recorder_module, "QUEUE_ITEMS", 10)
    monkeypatch.setattr(recorder_module, "DRAIN_SECONDS", 2.0)
    created = await sessions.create()
    session_id = created.session.id
    publisher = await publish(client, created)
    live = client.app[LIVE]
    recorder = await start_recording(client, session_id, created.publish_token)
    await wait_until(lambda: recorder.overflows >= 1 and recorder.video_frames >= 10, 60)
    assert recorder.dropped > 0
    assert recorder._queue.qsize() <= 10
    path = await live.stop_recording(session_id, "test")
    assert path is not None
    with av.open(str(path)) as container:
        decoded = list(container.decode(video=0))
    assert len(decoded) == recorder.video_frames
    assert all(colour_close(_mean(f), CARD, tol=30) for f in decoded)
    info = read_back(path)
    for kind in ("video", "audio"):
        assert all(b > a for a, b in itertools.pairwise(info["pts"][kind])), kind
    await publisher.close()


def _mean(frame) -> tuple[float, float, float]:
    rgb = frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))


async def test_an_unwritable_folder_stops_the_recording_and_says_so(
    aiohttp_client, settings, tmp_path
):
    from stream_server.app import create_app
    from stream_server.web.keys import DATABASE
    from tests.conftest import Sessions

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the recordings folder should be")
    client = await aiohttp_client(create_app(settings.replace(recordings_dir=blocked)))
    created = await Sessions(client.app[DATABASE]).create()
    viewer = WsParticipant(client.session, base_url(client))
    await viewer.join(session=created.session.id)
    resp = await client.post(
        recording_url(created.session.id), json={"on": True}, headers=bearer(created.host_token)
    )
    assert resp.status == 200
    live = client.app[LIVE]
    await viewer.wait_for(lambda: told(viewer, True) and told(viewer, False))
    assert not live.is_recording(created.session.id)
    await viewer.close()


def test_a_second_recording_in_the_same_second_does_not_overwrite(tmp_path):
    from stream_server.media.forwarding import Slot
    from stream_server.media.recorder import Recorder

    recorder = Recorder("abc", Slot("video"), Slot("audio"), tmp_path, "VP8")
    recorder.path.write_bytes(b"earlier recording")
    recorder._free_name()
    assert recorder.path.name.endswith("-2.mkv") and not recorder.path.exists()
    assert recorder.part_path.name == recorder.path.name + ".part"
