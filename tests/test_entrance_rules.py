"""Who may enter when: the same time and credential rules on every entrance.

The probe found WHEP answering 201 (and counting a viewer) for a session seven hours ahead
while the WebSocket refused with ``not_started``; a room device posting headcounts into a
month-old or a future session; an anonymous page joining on the ``presenter`` channel (counted
as a device, not a participant); a venue's kiosk without a room receiving the private
home-care groups' titles and join codes; join codes of long-ended sessions still opening
their pages; and (fixed before) a ``join`` with an invalid device token disconnecting the
same attendee key's other connection before the token was refused.
"""

from __future__ import annotations

import datetime as dt
import json

from aiohttp.test_utils import TestClient

from stream_server.basics import utcnow
from stream_server.db.models import Session
from stream_server.web.keys import DATABASE
from tests.conftest import Devices, Sessions, Staff, base_url
from tests.peers import Publisher, Viewer, post_sdp
from tests.test_pages import get_page, heading
from tests.ws_peer import WsParticipant

LATER = dt.timedelta(hours=7)


async def _set_times(
    client: TestClient,
    session_id: str,
    *,
    shift: dt.timedelta,
    ended: bool = False,
) -> None:
    """Move a session in time (``shift`` earlier or later), optionally ended at its end."""
    async with client.app[DATABASE].session() as db:
        row = await db.get(Session, session_id)
        assert row is not None
        row.starts_at += shift
        row.ends_at += shift
        if ended:
            row.ended_at = row.ends_at


# -- not started ---------------------------------------------------------------------------------
async def test_whep_and_whip_refuse_a_session_before_its_doors_open(
    client: TestClient, sessions: Sessions
) -> None:
    """A WHEP viewer of a session seven hours ahead got 201 and was counted."""
    created = await sessions.create(starts_at=utcnow() + LATER)
    sid, base = created.session.id, base_url(client)
    viewer, publisher = Viewer(), Publisher()
    for answer in (
        await viewer.play(client.session, base, sid),
        await publisher.publish(client.session, base, sid, created.publish_token),
    ):
        assert answer.status == 403, answer.body
        error = json.loads(answer.body)["error"]
        assert error["code"] == "not_started"
        starts = dt.datetime.fromisoformat(error["starts_at"])
        assert abs(starts - (created.session.starts_at)) < dt.timedelta(seconds=1)
        assert error["starts_at"] in error["message"]
    await viewer.close()
    await publisher.close()
    async with client.get(f"/api/sessions/{sid}/attendance") as response:
        assert (await response.json())["online_total"] == 0


async def test_not_even_the_host_joins_before_the_doors_open(
    client: TestClient, sessions: Sessions
) -> None:
    created = await sessions.create(starts_at=utcnow() + LATER)
    host = WsParticipant(client.session, base_url(client))
    reply = await host.join(
        session=created.session.id, role="host", token=created.host_token, channel="presenter"
    )
    assert reply["type"] == "error" and reply["code"] == "not_started"
    await host.close()


# -- channels and credentials ----------------------------------------------------------------------
async def test_the_presenter_channel_needs_the_host_token(
    client: TestClient, sessions: Sessions
) -> None:
    """An anonymous page joined as ``presenter`` and was counted as a device."""
    created = await sessions.create()
    sid = created.session.id
    page = WsParticipant(client.session, base_url(client))
    reply = await page.join(session=sid, channel="presenter")
    assert reply["type"] == "error" and reply["code"] == "host_token_required"
    reply = await page.join(session=sid, channel="presenter", role="host", token=created.host_token)
    assert reply["type"] == "joined" and reply["role"] == "host"
    await page.close()
    for channel in ("kiosk", "room-link"):
        other = WsParticipant(client.session, base_url(client))
        reply = await other.join(session=sid, channel=channel)
        assert reply["code"] == "device_token_required"
        await other.close()


async def test_an_invalid_device_token_does_not_disconnect_the_keys_other_connection(
    client: TestClient, sessions: Sessions
) -> None:
    """A ``join`` with a bad device token disconnected the attendee key's other connection
    (``replaced``) before the token was refused: credentials come before anything else."""
    created = await sessions.create()
    sid, base = created.session.id, base_url(client)
    first = WsParticipant(client.session, base)
    assert (await first.join(session=sid, channel="tablet"))["type"] == "joined"
    intruder = WsParticipant(client.session, base)
    intruder.attendee_key = first.attendee_key
    for token in ("kd_not-a-device", "kd_" + "x" * 43):
        reply = await intruder.join(session=sid, device_token=token)
        assert reply["type"] == "error" and reply["code"] == "device_token_invalid"
    await first.send({"type": "ping"})
    await first.next_message(lambda m: m["type"] == "pong")
    assert not any(m.get("code") == "replaced" for m in first.messages)
    assert first.ws is not None and not first.ws.closed
    await intruder.close()
    await first.close()


# -- headcounts ---------------------------------------------------------------------------------
async def _post_count(client: TestClient, session_id: str, token: str, venue: str) -> int:
    response = await client.post(
        f"/api/sessions/{session_id}/headcount",
        json={"venue": venue, "count": 9},
        headers={"Authorization": f"Bearer {token}"},
    )
    if response.status != 201:
        assert (await response.json())["error"]["code"] == "session_not_live"
    return response.status


async def test_a_room_device_counts_only_while_the_session_is_live_or_just_over(
    client: TestClient, sessions: Sessions, devices: Devices, staff: Staff
) -> None:
    """A room device could post counts into a month-old or a future session of its venue."""
    kiosk = await devices.add("juankoski", "kiosk", "lukusali")
    staff_token = await staff.api_token(await staff.add())
    cases = [
        (-dt.timedelta(days=30), True, 409),  # a month ago
        (LATER, False, 409),  # seven hours ahead
        (dt.timedelta(minutes=-90), True, 201),  # ended half an hour ago
        (dt.timedelta(hours=-3, minutes=-30), True, 409),  # ended 2.5 hours ago
        (dt.timedelta(0), False, 201),  # on now
        (dt.timedelta(minutes=20), False, 201),  # doors open
    ]
    for shift, ended, status in cases:
        created = await sessions.create(venue="kantti/lava", receivers=["juankoski"])
        sid = created.session.id
        await _set_times(client, sid, shift=shift, ended=ended)
        assert await _post_count(client, sid, kiosk, "juankoski") == status, shift
        # Staff may correct any time (every value stays in the audit trail).
        assert await _post_count(client, sid, staff_token, "juankoski") == 201


# -- kiosks of a whole venue ---------------------------------------------------------------------
async def test_a_venue_kiosk_never_sees_a_private_group(
    client: TestClient, sessions: Sessions, devices: Devices
) -> None:
    """A kiosk with a venue and no room listed the private home-care groups' titles on its
    screen and received their join codes."""
    private = await sessions.create(
        venue="kantti/paja", mode="group", private=True, title="Kotihoidon ryhmä"
    )
    public = await sessions.create(venue="kantti/lava", title="Luento")
    lobby = await devices.add("kantti", "kiosk")  # no room
    paja = await devices.add("kantti", "kiosk", "paja")
    headers = {"Authorization": f"Bearer {lobby}"}
    schedule = await (await client.get("/api/device/schedule", headers=headers)).json()
    assert [s["id"] for s in schedule["sessions"]] == [public.session.id]
    assert "Kotihoidon" not in str(schedule) and private.session.join_code not in str(schedule)
    # Nor may it enter the group with its token.
    viewer = Viewer()
    answer = await viewer.play(client.session, base_url(client), private.session.id, lobby)
    assert answer.status == 403
    await viewer.close()
    # The kiosk of the group's own room does see it.
    headers = {"Authorization": f"Bearer {paja}"}
    schedule = await (await client.get("/api/device/schedule", headers=headers)).json()
    assert private.session.id in [s["id"] for s in schedule["sessions"]]


# -- old join codes -------------------------------------------------------------------------
async def test_join_codes_of_sessions_ended_over_a_week_ago_are_unknown(
    client: TestClient, sessions: Sessions
) -> None:
    """Ended sessions' codes still opened their pages (and confirmed a guessed code)."""
    recent = await sessions.create(private=True)
    old = await sessions.create(private=True)
    await _set_times(client, recent.session.id, shift=-dt.timedelta(days=6), ended=True)
    await _set_times(client, old.session.id, shift=-dt.timedelta(days=8), ended=True)
    status, doc, _ = await get_page(client, f"/j/{recent.session.join_code}?lang=en")
    assert status == 200 and heading(doc) == "This session has ended"
    status, doc, _ = await get_page(client, f"/j/{old.session.join_code}?lang=en")
    assert status == 404 and heading(doc) == heading((await get_page(client, "/j/ZZZZ?lang=en"))[1])
    page = WsParticipant(client.session, base_url(client))
    reply = await page.join(code=old.session.join_code)
    assert reply["code"] == "join_code_invalid"
    reply = await page.join(code=recent.session.join_code)
    assert reply["code"] == "session_ended"
    await page.close()


async def test_whep_with_a_guessed_code_is_refused(client: TestClient, sessions: Sessions) -> None:
    created = await sessions.create(private=True)
    viewer = Viewer()
    await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
    answer = await post_sdp(
        client.session,
        f"{base_url(client)}/whep/{created.session.id}",
        viewer.pc.localDescription.sdp,
        "AAAA2222",
    )
    assert answer.status == 403
    await viewer.close()
