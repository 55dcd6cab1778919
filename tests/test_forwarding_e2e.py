"""WHIP in, WHEP out: encoded media forwarded to real aiortc viewers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import base_url
from tests.peers import Publisher, Viewer, colour_close

BLUE = (40, 80, 200)
ORANGE = (230, 140, 30)


async def test_viewer_receives_publishers_video_and_audio(client, sessions):
    created = await sessions.create()
    http, base = client.session, base_url(client)
    publisher = Publisher(BLUE)
    resp = await publisher.publish(http, base, created.session.id, created.publish_token)
    assert resp.status == 201, resp.body
    assert resp.headers["Content-Type"].startswith("application/sdp")
    assert resp.headers["Location"].startswith(f"/whip/{created.session.id}/")

    viewer = Viewer()
    resp = await viewer.play(http, base, created.session.id)
    assert resp.status == 201, resp.body
    await viewer.wait_for(lambda: viewer.video_frames >= 20 and viewer.audio_frames >= 20)
    await viewer.wait_for(lambda: colour_close(viewer.last_rgb, BLUE))

    # The colour follows the publisher: frames are the publisher's, not a cached picture.
    publisher.video.rgb = ORANGE
    await viewer.wait_for(lambda: colour_close(viewer.last_rgb, ORANGE))
    await viewer.close()
    await publisher.close()


async def test_several_viewers_each_get_the_stream(client, sessions):
    created = await sessions.create()
    http, base = client.session, base_url(client)
    publisher = Publisher(BLUE)
    assert (
        await publisher.publish(http, base, created.session.id, created.publish_token)
    ).status == 201
    viewers = [Viewer() for _ in range(4)]
    for viewer in viewers:
        assert (await viewer.play(http, base, created.session.id)).status == 201
    await asyncio.gather(
        *(
            v.wait_for(lambda v=v: v.video_frames >= 15 and colour_close(v.last_rgb, BLUE))
            for v in viewers
        )
    )
    for viewer in viewers:
        await viewer.close()
    await publisher.close()


async def test_publisher_sockets_get_a_large_receive_buffer(client, sessions):
    """Ingest must not overflow while the loop fans out to many viewers (WEBRTC-NOTES)."""
    from stream_server.web.keys import LIVE

    created = await sessions.create()
    publisher = Publisher(BLUE)
    resp = await publisher.publish(
        client.session, base_url(client), created.session.id, created.publish_token
    )
    assert resp.status == 201
    resource = client.app[LIVE].client(resp.headers["Location"].rsplit("/", 1)[1])
    default = int(Path("/proc/sys/net/core/rmem_default").read_text())  # noqa: ASYNC240
    sizes = resource.peer.receive_buffer_sizes()
    assert sizes and all(size > default for size in sizes), (sizes, default)
    await publisher.close()
