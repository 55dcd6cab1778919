"""The demo's test card: viewers of a live broadcast see it until a publisher takes over."""

from __future__ import annotations

import pytest

from stream_server.app import create_app
from stream_server.db.engine import Database
from tests.conftest import Sessions, base_url
from tests.peers import Publisher, Viewer, colour_close

BLUE = (40, 80, 200)


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_test_card_until_a_publisher_takes_over_and_after_it_leaves(
    aiohttp_client, settings, codec
):
    database = Database(settings.database_url)
    created = await Sessions(database).create(mode="broadcast")
    await database.close()
    client = await aiohttp_client(create_app(settings.replace(demo_feed=True, video_codec=codec)))
    base, sid = base_url(client), created.session.id

    viewer = Viewer()
    assert (await viewer.play(client.session, base, sid)).status == 201
    await viewer.wait_for(lambda: viewer.video_frames >= 10 and viewer.audio_frames >= 10)
    assert not colour_close(viewer.last_rgb, BLUE)  # colour bars, not a publisher

    publisher = Publisher(BLUE)
    resp = await publisher.publish(client.session, base, sid, created.publish_token)
    assert resp.status == 201
    await viewer.wait_for(lambda: colour_close(viewer.last_rgb, BLUE))

    async with client.session.delete(base + publisher.location) as r:
        assert r.status == 200
    await viewer.wait_for(
        lambda: viewer.last_rgb is not None and not colour_close(viewer.last_rgb, BLUE)
    )
    await publisher.close()
    await viewer.close()


async def test_private_and_group_sessions_get_no_test_card(aiohttp_client, settings):
    database = Database(settings.database_url)
    sessions = Sessions(database)
    group = await sessions.create(mode="group")
    await database.close()
    client = await aiohttp_client(create_app(settings.replace(demo_feed=True)))
    from stream_server.web.keys import LIVE

    assert group.session.id not in client.app[LIVE]._test_card_sessions
