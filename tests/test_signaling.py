"""Participants over the signaling WebSocket with real aiortc peers."""

from __future__ import annotations

import asyncio

from tests.conftest import base_url
from tests.peers import colour_close, wait_until
from tests.ws_peer import WsParticipant

COLOURS = [(40, 80, 200), (230, 140, 30), (60, 200, 70), (200, 50, 160)]


async def online_now(client, sid) -> int:
    async with client.get(f"/api/sessions/{sid}/attendance") as resp:
        return (await resp.json())["online_now"]


async def test_group_of_three_publishers_each_sees_the_other_two(client, sessions):
    created = await sessions.create(mode="group")
    sid = created.session.id
    people = [WsParticipant(client.session, base_url(client)) for _ in range(3)]
    for person in people:
        joined = await person.join(session=sid)
        assert joined["type"] == "joined" and joined["may_publish"] is True
    for person, rgb in zip(people, COLOURS, strict=False):
        await person.publish(rgb)
    for person in people:
        others = [(p.id, rgb) for p, rgb in zip(people, COLOURS, strict=False) if p is not person]
        await person.wait_for(
            lambda person=person, others=others: all(
                colour_close(person.colour_from(pid), rgb) for pid, rgb in others
            ),
            timeout=30,
        )
        assert person.colour_from(person.id) is None  # nobody is sent their own video
    await wait_until(lambda: _is(online_now(client, sid), 3))  # counted as media flows
    for person in people:
        await person.close()
    await wait_until(lambda: _is(online_now(client, sid), 0))


async def _is(awaitable, value) -> bool:
    return (await awaitable) == value


async def test_renegotiation_when_a_publisher_leaves_and_others_join(client, sessions):
    created = await sessions.create(mode="group")
    sid = created.session.id
    base = base_url(client)
    a, b, c = (WsParticipant(client.session, base) for _ in range(3))
    for person, rgb in ((a, COLOURS[0]), (b, COLOURS[1]), (c, COLOURS[2])):
        await person.join(session=sid)
        await person.publish(rgb)
    await a.wait_for(lambda: colour_close(a.colour_from(c.id), COLOURS[2]), timeout=30)
    offers_before = sum(1 for m in a.messages if m["type"] == "offer")

    # c leaves: a's transceiver for c falls idle (a `tracks` update, no new SDP) ...
    c_id = c.id
    await c.close()
    await a.wait_for(lambda: a.mid_of(c_id) is None)
    # ... d joins and takes over the idle transceiver: still no new offer for a.
    d = WsParticipant(client.session, base)
    await d.join(session=sid)
    await d.publish(COLOURS[3])
    await a.wait_for(lambda: colour_close(a.colour_from(d.id), COLOURS[3]), timeout=30)
    assert sum(1 for m in a.messages if m["type"] == "offer") == offers_before
    # e joins while a has no idle transceivers: a gets a new offer (SDP renegotiation).
    e = WsParticipant(client.session, base)
    await e.join(session=sid)
    await e.publish(COLOURS[0])
    await a.wait_for(lambda: colour_close(a.colour_from(e.id), COLOURS[0]), timeout=30)
    assert sum(1 for m in a.messages if m["type"] == "offer") > offers_before
    # d, who joined late, sees everyone who publishes
    await d.wait_for(lambda: colour_close(d.colour_from(b.id), COLOURS[1]), timeout=30)
    for person in (a, b, d, e):
        await person.close()


async def test_broadcast_host_publishes_and_viewers_watch(client, sessions):
    created = await sessions.create(mode="broadcast")
    sid, base = created.session.id, base_url(client)
    host = WsParticipant(client.session, base)
    joined = await host.join(
        session=sid, role="host", token=created.host_token, channel="presenter"
    )
    assert joined["role"] == "host"
    viewer = WsParticipant(client.session, base)
    joined = await viewer.join(session=sid, channel="tablet")
    assert joined["may_publish"] is False
    await host.publish(COLOURS[1])
    await viewer.wait_for(lambda: colour_close(viewer.colour_from(host.id), COLOURS[1]), timeout=30)
    # A viewer may not publish in a broadcast; it is told why and stays connected.
    await viewer.send({"type": "publish", "tracks": ["video"]})
    error = await viewer.next_message(lambda m: m["type"] == "error")
    assert error["code"] == "not_allowed"
    frames = sum(viewer.frames.values())
    await viewer.wait_for(lambda: sum(viewer.frames.values()) > frames + 10)
    for person in (host, viewer):
        await person.close()


async def test_bad_messages_get_error_codes_and_disturb_nobody(client, sessions):
    created = await sessions.create(mode="group")
    sid, base = created.session.id, base_url(client)
    good = WsParticipant(client.session, base)
    bad = WsParticipant(client.session, base, auto_answer=False)
    await good.join(session=sid)
    await good.publish(COLOURS[0])
    await bad.connect()
    cases = [
        ("{not json", "invalid_json"),
        ('["a list"]', "invalid_message"),
        ('{"type": "answer", "sdp": "v=0"}', "not_joined"),
        ('{"type": "join", "session": "' + sid + '"}', "invalid_message"),
        (
            '{"type": "join", "session": "nosuch", "attendee_key": "' + "k" * 20 + '"}',
            "unknown_session",
        ),
        ('{"type": "teleport"}', "unknown_type"),
        ('{"type": "ping", "pad": "' + "x" * 70_000 + '"}', "too_large"),
    ]
    for raw, code in cases:
        await bad.send(raw)
        error = await bad.next_message(lambda m: m["type"] == "error")
        assert error["code"] == code, (raw[:40], error)
    joined = await bad.join(session=sid)
    assert joined["type"] == "joined"
    offer = await bad.next_message(lambda m: m["type"] == "offer")
    for raw, code in [
        ('{"type": "publish", "tracks": ["smell"]}', "invalid_message"),
        ('{"type": "mute", "audio": "yes", "video": false}', "invalid_message"),
        ('{"type": "answer", "sdp": "hello"}', "invalid_sdp"),
        (
            '{"type": "answer", "sdp": "v=0\\r\\nm=video 9 UDP/TLS/RTP/SAVPF 96\\r\\n"}',
            "invalid_sdp",
        ),
        (
            '{"type": "join", "session": "' + sid + '", "attendee_key": "' + "k" * 20 + '"}',
            "already_joined",
        ),
    ]:
        await bad.send(raw)
        error = await bad.next_message(lambda m: m["type"] == "error")
        assert error["code"] == code, (raw[:40], error)
    # The sender is still connected, can still answer, and nobody was disturbed.
    await bad.answer(offer)
    await bad.send({"type": "answer", "sdp": bad.pc.localDescription.sdp})
    assert (await bad.next_message(lambda m: m["type"] == "error"))["code"] == "unexpected_answer"
    await bad.send({"type": "ping"})
    await bad.next_message(lambda m: m["type"] == "pong")
    await bad.wait_for(lambda: colour_close(bad.colour_from(good.id), COLOURS[0]), timeout=30)
    for person in (good, bad):
        await person.close()


async def test_rate_limit_answers_with_an_error(client, sessions):
    created = await sessions.create(mode="group")
    person = WsParticipant(client.session, base_url(client))
    await person.join(session=created.session.id)
    for _ in range(60):
        await person.send({"type": "ping"})
    error = await person.next_message(lambda m: m.get("code") == "rate_limited")
    assert error["type"] == "error"
    await person.close()


async def test_reconnect_with_the_same_attendee_key_counts_once(client, sessions):
    created = await sessions.create(mode="broadcast")
    sid, base = created.session.id, base_url(client)
    first = WsParticipant(client.session, base)
    joined = await first.join(session=sid, channel="tablet")
    assert joined["resumed"] is False
    await wait_until(lambda: _is(online_now(client, sid), 1))  # counted once media flows
    # Wi-Fi blip: the old socket is still open on the server when the page comes back.
    again = WsParticipant(client.session, base)
    again.attendee_key = first.attendee_key
    joined = await again.join(session=sid, channel="tablet")
    assert joined["resumed"] is True
    await first.wait_for(lambda: any(m.get("code") == "replaced" for m in first.messages))
    await wait_until(lambda: _is(online_now(client, sid), 1))
    async with client.get(f"/api/sessions/{sid}/attendance") as resp:
        data = await resp.json()
    assert data["online_now"] == 1 and data["online_total"] == 1
    assert data["by_channel"]["tablet"] == {"now": 1, "total": 1}
    await first.close()
    await again.close()
    await wait_until(lambda: _is(online_now(client, sid), 0))
    async with client.get(f"/api/sessions/{sid}/attendance") as resp:
        assert (await resp.json())["online_total"] == 1


async def test_closing_the_socket_closes_attendance_at_once(client, sessions):
    created = await sessions.create(mode="broadcast")
    sid = created.session.id
    person = WsParticipant(client.session, base_url(client))
    await person.join(session=sid)
    await wait_until(lambda: _is(online_now(client, sid), 1))  # its media connected
    await person.ws.close()
    await wait_until(lambda: _is(online_now(client, sid), 0), timeout=5)
    await person.close()


async def test_private_session_needs_code_and_group_has_a_limit(aiohttp_client, settings):
    """A group's places are held by participants whose media connected (here: receiving the
    host's camera); the next page is refused with session_full."""
    from stream_server.app import create_app
    from stream_server.web.keys import DATABASE
    from tests.conftest import Sessions

    limit = 3
    client = await aiohttp_client(create_app(settings.replace(group_max_participants=limit)))
    created = await Sessions(client.app[DATABASE]).create(mode="group", private=True)
    sid, base = created.session.id, base_url(client)
    person = WsParticipant(client.session, base)
    error = await person.join(session=sid)
    assert error["code"] == "join_code_required"
    wrong = WsParticipant(client.session, base)
    assert (await wrong.join(code="AAAAAAAA"))["code"] == "join_code_invalid"
    host = WsParticipant(client.session, base)
    joined = await host.join(
        session=sid, role="host", token=created.host_token, channel="presenter"
    )
    assert joined["type"] == "joined"
    await host.publish(COLOURS[0], audio=False)
    people = []
    for _ in range(limit):
        p = WsParticipant(client.session, base)
        assert (await p.join(code=created.session.join_code))["type"] == "joined"
        people.append(p)
    await wait_until(lambda: _is(online_now(client, sid), limit), timeout=30)
    extra = WsParticipant(client.session, base)
    error = await extra.join(code=created.session.join_code)
    assert error["code"] == "session_full"
    for p in [person, wrong, extra, host, *people]:
        await p.close()


async def test_host_ends_the_session_for_everyone(client, sessions):
    created = await sessions.create(mode="broadcast")
    sid, base = created.session.id, base_url(client)
    host = WsParticipant(client.session, base)
    await host.join(session=sid, role="host", token=created.host_token, channel="presenter")
    viewer = WsParticipant(client.session, base)
    await viewer.join(session=sid)
    wrong = WsParticipant(client.session, base)
    assert (await wrong.join(session=sid, role="host", token="nope"))["code"] == "token_invalid"
    await viewer.send({"type": "end"})
    assert (await viewer.next_message(lambda m: m["type"] == "error"))["code"] == "not_allowed"
    await host.send({"type": "end"})
    await viewer.next_message(lambda m: m["type"] == "ended")
    late = WsParticipant(client.session, base)
    assert (await late.join(session=sid))["code"] == "session_ended"
    await asyncio.gather(*(p.close() for p in (host, viewer, wrong, late)))


async def test_repeated_joins_and_leaves_leak_nothing(client, sessions):
    """Join, receive, leave, many times: descriptors and live state return to the baseline."""
    import os

    from stream_server.web.keys import LIVE

    created = await sessions.create(mode="group")
    sid, base = created.session.id, base_url(client)
    host = WsParticipant(client.session, base)
    await host.join(session=sid)
    await host.publish(COLOURS[0])

    async def cycle() -> None:
        person = WsParticipant(client.session, base)
        await person.join(session=sid)
        await person.wait_for(lambda: colour_close(person.colour_from(host.id), COLOURS[0]))
        await person.send({"type": "leave"})
        await person.close()

    await cycle()
    await wait_until(lambda: _is(online_now(client, sid), 1))
    baseline = len(os.listdir("/proc/self/fd"))
    for _ in range(8):
        await cycle()
    await wait_until(lambda: _is(online_now(client, sid), 1))
    await wait_until(lambda: len(os.listdir("/proc/self/fd")) <= baseline + 8, timeout=10)
    assert len(client.app[LIVE].get(sid).members()) == 1
    await host.close()
