"""WHIP (RFC 9725) and WHEP endpoints: status codes, error bodies, resources, privacy."""

from __future__ import annotations

import asyncio
import os
import re

import pytest

from stream_server.web.keys import LIVE
from tests.conftest import base_url
from tests.peers import Publisher, Viewer, colour_close, post_sdp, wait_until


async def viewer_offer() -> tuple[Viewer, str]:
    viewer = Viewer()
    await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
    return viewer, viewer.pc.localDescription.sdp


def error_code(resp) -> str:
    import json

    return json.loads(resp.body)["error"]["code"]


async def _online_now(client, sid: str, expected: int) -> bool:
    async with client.get(f"/api/sessions/{sid}/attendance") as resp:
        return bool((await resp.json())["online_now"] == expected)


@pytest.fixture
async def live_session(sessions):
    return await sessions.create()


async def test_whip_requires_the_publish_token(client, live_session):
    publisher = Publisher()
    offer = await publisher.offer()
    url = f"/whip/{live_session.session.id}"
    missing = await post_sdp(client.session, base_url(client) + url, offer)
    assert missing.status == 401 and error_code(missing) == "token_missing"
    wrong = await post_sdp(client.session, base_url(client) + url, offer, "not-the-token")
    assert wrong.status == 403 and error_code(wrong) == "token_invalid"
    # The join code lets people watch, never publish.
    code = await post_sdp(
        client.session, base_url(client) + url, offer, live_session.session.join_code
    )
    assert code.status == 403
    assert client.app[LIVE].open_interval_ids() == []
    await publisher.close()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("v=0\r\n", "text/plain", 415, "wrong_content_type"),
        ("hello world", "application/sdp", 400, "invalid_sdp"),
        ("", "application/sdp", 400, "invalid_sdp"),
        (
            "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
            "application/sdp",
            400,
            "invalid_sdp",
        ),
    ],
)
async def test_whep_rejects_malformed_offers_with_a_reason(
    client, live_session, body, content_type, status, code
):
    resp = await post_sdp(
        client.session,
        f"{base_url(client)}/whep/{live_session.session.id}",
        body,
        content_type=content_type,
    )
    assert resp.status == status
    assert error_code(resp) == code
    assert client.app[LIVE].open_interval_ids() == []


async def test_offer_without_fingerprint_is_refused_before_aiortc_sees_it(client, live_session):
    viewer, offer = await viewer_offer()
    stripped = "\r\n".join(
        line for line in offer.split("\r\n") if not line.startswith("a=fingerprint")
    )
    resp = await post_sdp(
        client.session, f"{base_url(client)}/whep/{live_session.session.id}", stripped
    )
    assert resp.status == 400
    assert "fingerprint" in resp.body
    await viewer.close()


async def test_oversized_offer_is_refused(client, live_session):
    viewer, offer = await viewer_offer()
    padded = offer + "a=x-padding:" + "x" * 70_000 + "\r\n"
    resp = await post_sdp(
        client.session, f"{base_url(client)}/whep/{live_session.session.id}", padded
    )
    assert resp.status == 413 and error_code(resp) == "sdp_too_large"
    await viewer.close()


async def test_offer_without_the_forwarded_codec_is_not_acceptable(client, live_session):
    viewer, offer = await viewer_offer()
    # Drop VP8 from the video section: the server cannot transcode.
    vp8 = re.search(r"a=rtpmap:(\d+) VP8/90000", offer).group(1)
    without = "\r\n".join(line for line in offer.split("\r\n") if f":{vp8} " not in line)
    resp = await post_sdp(
        client.session, f"{base_url(client)}/whep/{live_session.session.id}", without
    )
    assert resp.status == 406 and error_code(resp) == "codec_not_offered"
    assert "VP8" in resp.body
    await viewer.close()


async def test_semantically_broken_offer_is_rejected_and_its_peer_closed(client, live_session):
    viewer, offer = await viewer_offer()
    broken = re.sub(r"a=fingerprint:sha-256 \S+", "a=fingerprint:sha-256 ZZ", offer)
    broken = broken.replace("a=setup:actpass", "a=setup:bogus")
    resp = await post_sdp(
        client.session, f"{base_url(client)}/whep/{live_session.session.id}", broken
    )
    assert 400 <= resp.status < 500
    assert client.app[LIVE].open_interval_ids() == []
    # The server carries on: a good offer right after works.
    good = Viewer()
    assert (
        await good.play(client.session, base_url(client), live_session.session.id)
    ).status == 201
    await good.close()
    await viewer.close()


async def test_unknown_session_and_unknown_resource(client):
    viewer, offer = await viewer_offer()
    resp = await post_sdp(client.session, f"{base_url(client)}/whep/nosuchsession", offer)
    assert resp.status == 404 and error_code(resp) == "unknown_session"
    async with client.session.delete(f"{base_url(client)}/whep/nosuchsession/abc") as resp:
        assert resp.status == 404
    await viewer.close()


async def test_ended_session_refuses_new_connections(client, sessions):
    created = await sessions.create()
    await sessions.end(created.session.id)
    viewer, offer = await viewer_offer()
    resp = await post_sdp(client.session, f"{base_url(client)}/whep/{created.session.id}", offer)
    assert resp.status == 410 and error_code(resp) == "session_ended"
    await viewer.close()


async def test_private_session_needs_the_join_code_to_watch(client, sessions):
    created = await sessions.create(private=True, mode="group")
    base = base_url(client)
    anonymous = Viewer()
    resp = await anonymous.play(client.session, base, created.session.id)
    assert resp.status == 401 and error_code(resp) == "join_code_missing"
    wrong = Viewer()
    resp = await wrong.play(client.session, base, created.session.id, "WRONGCODE")
    assert resp.status == 403 and error_code(resp) == "join_code_invalid"
    # Codes are accepted the way people type them.
    code = created.session.join_code.lower()
    right = Viewer()
    resp = await right.play(client.session, base, created.session.id, f"{code[:4]}-{code[4:]}")
    assert resp.status == 201
    for viewer in (anonymous, wrong, right):
        await viewer.close()


async def test_delete_ends_the_resource_and_closes_attendance(client, live_session):
    base, sid = base_url(client), live_session.session.id
    viewer = Viewer()
    resp = await viewer.play(client.session, base, sid)
    assert resp.status == 201
    await wait_until(lambda: _online_now(client, sid, 1))  # counted once its media flows
    async with client.session.delete(base + viewer.location) as r:
        assert r.status == 200
    async with client.get(f"/api/sessions/{sid}/attendance") as r:
        data = await r.json()
    assert data["online_now"] == 0 and data["online_total"] == 1
    async with client.session.delete(base + viewer.location) as r:
        assert r.status == 404  # already gone
    await viewer.close()


async def test_trickle_patch_is_declined_and_options_advertises_sdp(client, live_session):
    base, sid = base_url(client), live_session.session.id
    async with client.session.patch(f"{base}/whep/{sid}/x", data=b"a=candidate") as r:
        assert r.status == 405
    async with client.session.options(f"{base}/whip/{sid}") as r:
        assert r.status == 204
        assert r.headers["Accept-Post"] == "application/sdp"
        assert "Location" in r.headers["Access-Control-Expose-Headers"]


async def test_a_new_publisher_takes_over_the_program(client, live_session):
    base, sid, token = base_url(client), live_session.session.id, live_session.publish_token
    first = Publisher((40, 80, 200))
    assert (await first.publish(client.session, base, sid, token)).status == 201
    viewer = Viewer()
    assert (await viewer.play(client.session, base, sid)).status == 201
    await viewer.wait_for(lambda: colour_close(viewer.last_rgb, (40, 80, 200)))
    # OBS reconnecting after a network blip: the newest publisher wins, the viewer follows
    # without renegotiating.
    second = Publisher((230, 140, 30))
    assert (await second.publish(client.session, base, sid, token)).status == 201
    await viewer.wait_for(lambda: colour_close(viewer.last_rgb, (230, 140, 30)))
    for peer in (viewer, first, second):
        await peer.close()


async def test_repeated_connections_leak_no_descriptors(client, live_session):
    """Create and delete WHEP resources repeatedly; open files return near the baseline."""
    base, sid = base_url(client), live_session.session.id

    async def cycle() -> None:
        viewer = Viewer()
        assert (await viewer.play(client.session, base, sid)).status == 201
        async with client.session.delete(base + viewer.location) as r:
            assert r.status == 200
        await viewer.close()

    await cycle()
    baseline = len(os.listdir("/proc/self/fd"))
    for _ in range(15):
        await cycle()
    await asyncio.sleep(0)
    await wait_until(lambda: len(os.listdir("/proc/self/fd")) <= baseline + 8, timeout=10)
    assert client.app[LIVE].open_interval_ids() == []


async def test_a_full_group_refuses_more_whep_viewers_with_a_reason(aiohttp_client, settings):
    from stream_server.app import create_app
    from stream_server.web.keys import DATABASE
    from tests.conftest import Sessions

    app = create_app(settings.replace(group_max_participants=1))
    client = await aiohttp_client(app)
    created = await Sessions(app[DATABASE]).create(mode="group")
    base, sid = base_url(client), created.session.id
    first, second = Viewer(), Viewer()
    assert (await first.play(client.session, base, sid)).status == 201
    await wait_until(lambda: _online_now(client, sid, 1))  # its place is held once connected
    resp = await second.play(client.session, base, sid)
    assert resp.status == 409 and error_code(resp) == "session_full"
    await first.close()
    await second.close()
