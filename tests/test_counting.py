"""Nothing is counted that did not happen: a connection counts when its media flows.

The probe sent ten WHEP offers whose ICE never completed. The server closed them after
63-65 s as ``connection-failed`` — just over the 60 s brief-visit limit — so the staff report
showed ten participants and 10.6 online minutes for nobody; the same half-open offers held
all 16 places of a group for a minute, and a real participant got ``session_full``.

Now a client is counted (and holds a group's place) when its peer connection reports
``connected`` (ICE and DTLS), and a client whose media has not connected within
``connect_timeout_seconds`` of its offer is closed and never counted: no participant row,
no brief visit.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from stream_server.app import create_app
from stream_server.config import Settings
from stream_server.db.models import AttendanceInterval, Participant
from stream_server.web.keys import DATABASE, LIVE
from tests.conftest import Sessions, base_url
from tests.peers import Viewer, post_sdp, wait_until
from tests.ws_peer import WsParticipant

CONNECT_TIMEOUT = 1.5


async def _app(aiohttp_client: Any, settings: Settings, **changes: Any) -> TestClient:
    changes.setdefault("connect_timeout_seconds", CONNECT_TIMEOUT)
    client: TestClient = await aiohttp_client(create_app(settings.replace(**changes)))
    return client


async def _figures(client: TestClient, sid: str) -> dict[str, Any]:
    async with client.get(f"/api/sessions/{sid}/attendance") as response:
        data: dict[str, Any] = await response.json()
        return data


async def _rows(client: TestClient) -> tuple[int, int]:
    async with client.app[DATABASE].session() as db:
        participants = await db.scalar(select(func.count(Participant.id)))
        intervals = await db.scalar(select(func.count(AttendanceInterval.id)))
    return int(participants or 0), int(intervals or 0)


async def half_open_offer(client: TestClient, sid: str) -> tuple[int, Viewer]:
    """A WHEP offer whose sender never takes the answer: its ICE can never complete."""
    viewer = Viewer()
    await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
    answer = await post_sdp(
        client.session, f"{base_url(client)}/whep/{sid}", viewer.pc.localDescription.sdp
    )
    return answer.status, viewer


async def test_offers_that_never_connect_are_closed_in_time_and_never_counted(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await _app(aiohttp_client, settings.replace(brief_visit_seconds=60.0))
    created = await Sessions(client.app[DATABASE]).create()
    sid = created.session.id
    started = time.monotonic()
    offers = [await half_open_offer(client, sid) for _ in range(10)]
    assert [status for status, _ in offers] == [201] * 10
    live = client.app[LIVE]
    assert len(live.clients()) == 10  # they exist, uncounted
    assert (await _figures(client, sid))["online_now"] == 0
    await wait_until(lambda: not live.clients(), timeout=CONNECT_TIMEOUT + 10)
    elapsed = time.monotonic() - started
    assert CONNECT_TIMEOUT <= elapsed < CONNECT_TIMEOUT + 10
    figures = await _figures(client, sid)
    assert figures["online_total"] == 0 and figures["brief_visits"] == 0
    assert figures["online_minutes"] == 0
    assert await _rows(client) == (0, 0)  # not a participant, not a visit: nothing
    for _, viewer in offers:
        await viewer.close()


async def test_half_open_offers_hold_no_place_in_a_group(
    aiohttp_client: Any, settings: Settings
) -> None:
    """Sixteen half-open offers filled a 16-place group for a minute (session_full)."""
    client = await _app(aiohttp_client, settings, connect_timeout_seconds=30.0)
    created = await Sessions(client.app[DATABASE]).create(mode="group")
    sid = created.session.id
    limit = settings.group_max_participants
    half_open = [await half_open_offer(client, sid) for _ in range(limit)]
    assert [status for status, _ in half_open] == [201] * limit
    real = Viewer()
    assert (await real.play(client.session, base_url(client), sid)).status == 201
    await wait_until(lambda: _counted(client, sid, 1))
    person = WsParticipant(client.session, base_url(client))
    assert (await person.join(session=sid))["type"] == "joined"
    for _, viewer in half_open:
        await viewer.close()
    await real.close()
    await person.close()


async def _counted(client: TestClient, sid: str, expected: int) -> bool:
    return bool((await _figures(client, sid))["online_total"] == expected)


async def test_when_two_connect_for_the_last_place_the_second_is_closed(
    aiohttp_client: Any, settings: Settings
) -> None:
    """Both were admitted (nobody held the place yet); the one whose media connected first
    takes it, the other is closed when its media connects, and only one is counted."""
    client = await _app(aiohttp_client, settings, group_max_participants=1)
    created = await Sessions(client.app[DATABASE]).create(mode="group")
    sid, base = created.session.id, base_url(client)
    first, second = Viewer(), Viewer()
    assert (await first.play(client.session, base, sid)).status == 201
    assert (await second.play(client.session, base, sid)).status == 201
    await wait_until(
        lambda: (
            {first.pc.connectionState, second.pc.connectionState} >= {"closed"}
            or "failed" in {first.pc.connectionState, second.pc.connectionState}
        ),
        timeout=30,
    )
    await wait_until(lambda: len(client.app[LIVE].clients()) == 1)
    figures = await _figures(client, sid)
    assert figures["online_now"] == 1 and figures["online_total"] == 1
    await first.close()
    await second.close()


async def test_a_page_whose_media_never_connects_is_told_and_not_counted(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await _app(aiohttp_client, settings)
    created = await Sessions(client.app[DATABASE]).create()
    sid = created.session.id
    page = WsParticipant(client.session, base_url(client), auto_answer=False)
    assert (await page.join(session=sid))["type"] == "joined"
    await page.next_message(lambda m: m["type"] == "offer")  # never answered
    error = await page.next_message(
        lambda m: m.get("code") == "media_timeout", timeout=CONNECT_TIMEOUT + 10
    )
    assert error["type"] == "error"
    await wait_until(lambda: page.ws is not None and page.ws.closed)
    assert page.ws is not None and page.ws.close_code == 4002
    assert await _rows(client) == (0, 0)
    await page.close()


async def test_a_page_in_a_group_nobody_publishes_in_waits_uncounted(
    aiohttp_client: Any, settings: Settings
) -> None:
    """A page with nothing to send or receive has no media connection yet: it is in the
    session (chat, roster) but not counted, and not timed out, until media flows."""
    client = await _app(aiohttp_client, settings)
    created = await Sessions(client.app[DATABASE]).create(mode="group")
    sid = created.session.id
    page = WsParticipant(client.session, base_url(client))
    assert (await page.join(session=sid))["type"] == "joined"
    waited = time.monotonic()
    while time.monotonic() - waited < CONNECT_TIMEOUT + 1:
        await page.send({"type": "ping"})
        await page.next_message(lambda m: m["type"] == "pong")
    assert page.ws is not None and not page.ws.closed
    assert (await _figures(client, sid))["online_total"] == 0
    # Someone publishes: the page receives media, and now it counts.
    host = WsParticipant(client.session, base_url(client))
    await host.join(session=sid, role="host", token=created.host_token, channel="presenter")
    await host.publish((200, 40, 40), audio=False)
    await wait_until(lambda: _counted(client, sid, 1), timeout=30)
    await page.close()
    await host.close()
