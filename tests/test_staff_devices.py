"""Staff login, API tokens and CSRF; registered devices; in-person headcounts."""

from __future__ import annotations

import datetime as dt

from aiohttp.test_utils import TestClient

from stream_server.basics import CITY_TZ
from stream_server.devices import service as devices_service
from stream_server.web.keys import DATABASE, LIVE
from tests.conftest import Devices, Sessions, Staff, base_url
from tests.peers import Viewer, wait_until
from tests.ws_peer import WsParticipant


# -- staff ----------------------------------------------------------------------------------------
async def test_wrong_password_is_refused_like_an_unknown_name(
    client: TestClient, staff: Staff
) -> None:
    await staff.add("anna")
    wrong = await client.post("/staff/login", data={"name": "anna", "password": "nope nope nope"})
    unknown = await client.post("/staff/login", data={"name": "ghost", "password": "whatever!!"})
    assert wrong.status == unknown.status == 401
    assert (await client.get("/api/staff/me")).status == 401


async def test_login_sets_a_strict_httponly_cookie_and_logout_needs_csrf(
    client: TestClient, staff: Staff
) -> None:
    await staff.add("anna")
    response = await client.post(
        "/staff/login",
        data={"name": "anna", "password": Staff.PASSWORD},
        allow_redirects=False,
    )
    assert response.status == 303
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    me = await (await client.get("/api/staff/me")).json()
    assert me["name"] == "anna"
    forged = await client.post("/staff/logout", allow_redirects=False)
    assert forged.status == 403
    assert (await forged.json())["error"]["code"] == "csrf_failed"
    out = await client.post(
        "/staff/logout", headers={"X-CSRF-Token": me["csrf_token"]}, allow_redirects=False
    )
    assert out.status == 303
    assert (await client.get("/api/staff/me")).status == 401


async def test_login_redirect_stays_on_this_site(client: TestClient, staff: Staff) -> None:
    await staff.add("anna")
    response = await client.post(
        "/staff/login",
        data={"name": "anna", "password": Staff.PASSWORD, "next": "//evil.example/"},
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/staff"


async def test_api_token_needs_no_csrf_and_can_be_revoked(
    client: TestClient, staff: Staff, sessions: Sessions
) -> None:
    await staff.add("anna")
    token = await staff.api_token("anna")
    session = (await sessions.create()).session
    ok = await client.post(
        f"/api/sessions/{session.id}/headcount",
        json={"venue": "kantti", "count": 12},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert ok.status == 201, await ok.text()
    from stream_server.staff import service as staff_service
    from stream_server.web.keys import DATABASE

    async with client.app[DATABASE].session() as db:
        for row, _ in await staff_service.list_api_tokens(db):
            await staff_service.revoke_api_token(db, row.id)
    refused = await client.post(
        f"/api/sessions/{session.id}/headcount",
        json={"venue": "kantti", "count": 13},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert refused.status == 401


# -- headcounts -----------------------------------------------------------------------------------
async def test_headcount_is_refused_without_login(client: TestClient, sessions: Sessions) -> None:
    session = (await sessions.create()).session
    response = await client.post(
        f"/api/sessions/{session.id}/headcount", json={"venue": "kantti", "count": 5}
    )
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "login_required"


async def test_headcount_validation_and_corrections(
    client: TestClient, staff: Staff, sessions: Sessions
) -> None:
    csrf = await staff.login()
    session = (
        await sessions.create(venue="kantti/lava", receivers=["juankoski", "nilsia"])
    ).session
    url = f"/api/sessions/{session.id}/headcount"
    headers = {"X-CSRF-Token": csrf}

    async def post(body: object) -> tuple[int, dict]:
        response = await client.post(url, json=body, headers=headers)
        return response.status, await response.json()

    assert (await post({"venue": "kantti", "count": -1}))[0] == 400
    assert (await post({"venue": "kantti", "count": 2.5}))[0] == 400
    assert (await post({"venue": "kantti", "count": True}))[0] == 400
    status, body = await post({"venue": "kantti", "count": 151})  # Lava seats 150
    assert status == 400 and "capacity" in body["error"]["message"]
    status, body = await post({"venue": "pyoro", "count": 3})  # neither host nor receiver
    assert status == 403 and body["error"]["code"] == "headcount_wrong_venue"
    assert (await post({"venue": "kantti", "count": 40}))[0] == 201
    assert (await post({"venue": "juankoski", "count": 7}))[0] == 201
    status, body = await post({"venue": "kantti", "count": 42})  # a correction
    assert status == 201
    assert body["by_venue"] == {"kantti": 42, "juankoski": 7}
    assert body["in_person"] == 49
    missing_csrf = await client.post(url, json={"venue": "kantti", "count": 1})
    assert missing_csrf.status == 403

    from stream_server.attendance.headcounts import headcount_history
    from stream_server.web.keys import DATABASE

    async with client.app[DATABASE].session() as db:
        history = await headcount_history(db, session.id)
    assert [(h["venue"], h["count"], h["staff"]) for h in history] == [
        ("kantti", 40, "anna"),
        ("juankoski", 7, "anna"),
        ("kantti", 42, "anna"),
    ]


async def test_device_of_another_venue_cannot_post_headcounts(
    client: TestClient, devices: Devices, sessions: Sessions
) -> None:
    session = (await sessions.create(venue="kantti/lava", receivers=["juankoski"])).session
    juankoski = await devices.add("juankoski", "room-link", "lukusali")
    nilsia = await devices.add("nilsia", "room-link")
    tablet = await devices.add("juankoski", "tablet")
    url = f"/api/sessions/{session.id}/headcount"

    async def post(token: str, venue: str) -> int:
        response = await client.post(
            url, json={"venue": venue, "count": 9}, headers={"Authorization": f"Bearer {token}"}
        )
        return response.status

    assert await post(juankoski, "juankoski") == 201
    assert await post(juankoski, "kantti") == 403
    assert await post(nilsia, "juankoski") == 403
    assert await post(tablet, "juankoski") == 403


# -- devices --------------------------------------------------------------------------------------
async def test_device_schedule_lists_its_rooms_sessions_with_placement(
    client: TestClient, devices: Devices, sessions: Sessions
) -> None:
    lecture = (await sessions.create(venue="kantti/lava", receivers=["juankoski"])).session
    await sessions.create(venue="pyoro", title="Elsewhere")
    screen = await devices.add("juankoski", "room-link", "lukusali")
    camera = await devices.add("kantti", "kiosk", "lava")
    headers = {"Authorization": f"Bearer {screen}"}
    body = await (await client.get("/api/device/schedule", headers=headers)).json()
    assert [(s["id"], s["placement"], s["may_publish"]) for s in body["sessions"]] == [
        (lecture.id, "receiving-room", False)
    ]
    assert body["sessions"][0]["headcount_venue"] == "juankoski"
    headers = {"Authorization": f"Bearer {camera}"}
    body = await (await client.get("/api/device/schedule", headers=headers)).json()
    assert [(s["id"], s["placement"], s["may_publish"]) for s in body["sessions"]] == [
        (lecture.id, "host-room", True)
    ]


async def test_schedule_late_in_the_evening_reaches_past_midnight(
    client: TestClient, devices: Devices, sessions: Sessions
) -> None:
    # Five to midnight in the city: a session ten minutes later belongs to tomorrow, but a
    # kiosk must still see it in time to join its lead time before the start.
    evening = dt.datetime(2026, 11, 27, 23, 55, tzinfo=CITY_TZ).astimezone(dt.UTC)
    night = (
        await sessions.create(venue="kantti/paja", starts_at=evening + dt.timedelta(minutes=10))
    ).session
    await sessions.create(venue="kantti/paja", starts_at=evening + dt.timedelta(hours=9))
    await devices.add("kantti", "kiosk", "paja")
    async with client.app[DATABASE].session() as db:
        kiosk = (await devices_service.list_devices(db))[0]
        listed = await devices_service.schedule(db, kiosk, now=evening)
    assert [s["id"] for s in listed] == [night.id]  # tomorrow morning's waits for tomorrow


async def test_revoked_device_is_refused_at_once(client: TestClient, devices: Devices) -> None:
    token = await devices.add("kantti", "kiosk", "lava")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/device", headers=headers)).status == 200
    await devices.revoke_all()
    response = await client.get("/api/device", headers=headers)
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "device_revoked"
    bogus = await client.get("/api/device", headers={"Authorization": "Bearer kd_nope"})
    assert bogus.status == 401


async def test_heartbeat_records_state_but_a_tablet_only_its_last_seen(
    client: TestClient, devices: Devices
) -> None:
    kiosk = await devices.add("kantti", "kiosk", "lava")
    tablet = await devices.add("kantti", "tablet")
    for token in (kiosk, tablet):
        response = await client.post(
            "/api/device/heartbeat",
            json={"state": "playing", "session_id": "abc", "detail": "ok"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status == 200
    bad = await client.post(
        "/api/device/heartbeat",
        json={"state": "dancing"},
        headers={"Authorization": f"Bearer {kiosk}"},
    )
    assert bad.status == 400
    kiosk_info = (
        await (await client.get("/api/device", headers={"Authorization": f"Bearer {kiosk}"})).json()
    )["device"]
    tablet_info = (
        await (
            await client.get("/api/device", headers={"Authorization": f"Bearer {tablet}"})
        ).json()
    )["device"]
    assert kiosk_info["online"] and kiosk_info["state"] == "playing"
    assert tablet_info["online"] and "state" not in tablet_info and "session_id" not in tablet_info


async def _figure(client: TestClient, session_id: str, name: str, value: int) -> bool:
    summary = await (await client.get(f"/api/sessions/{session_id}/attendance")).json()
    return bool(summary[name] == value)


async def test_room_screen_plays_over_whep_as_a_device_not_an_online_participant(
    client: TestClient, devices: Devices, sessions: Sessions
) -> None:
    session = (await sessions.create(venue="kantti/lava", receivers=["juankoski"])).session
    screen_token = await devices.add("juankoski", "room-link", "lukusali")
    screen = Viewer()
    try:
        resp = await screen.play(client.session, base_url(client), session.id, screen_token)
        assert resp.status == 201
        await wait_until(lambda: _figure(client, session.id, "devices_now", 1))  # media flows
        summary = await (await client.get(f"/api/sessions/{session.id}/attendance")).json()
        assert summary["online_total"] == 0
        assert summary["by_channel"]["room-link"]["now"] == 1
    finally:
        await screen.close()
    elsewhere = Viewer()
    try:
        other_token = await devices.add("pyoro", "room-link")
        resp = await elsewhere.play(client.session, base_url(client), session.id, other_token)
        assert resp.status == 403
    finally:
        await elsewhere.close()


async def test_revoking_a_device_closes_its_live_connections_at_once(
    client: TestClient, devices: Devices, sessions: Sessions, staff: Staff
) -> None:
    session = (await sessions.create(venue="kantti/lava", receivers=["juankoski"])).session
    screen_token = await devices.add("juankoski", "room-link", "lukusali")
    kiosk_token = await devices.add("kantti", "kiosk", "lava")
    csrf = await staff.login()
    screen = Viewer()
    kiosk = WsParticipant(client.session, base_url(client))
    try:
        resp = await screen.play(client.session, base_url(client), session.id, screen_token)
        assert resp.status == 201
        joined = await kiosk.join(session=session.id, channel="kiosk", device_token=kiosk_token)
        assert joined["type"] == "joined", joined
        await wait_until(lambda: _figure(client, session.id, "devices_now", 2))  # media flows

        async with client.app[DATABASE].session() as db:
            ids = [d.id for d in await devices_service.list_devices(db)]
        for device_id in ids:
            revoked = await client.post(
                f"/staff/devices/{device_id}/revoke",
                data={"csrf_token": csrf},
                allow_redirects=False,
            )
            assert revoked.status == 303

        # The kiosk is told why before its socket closes.
        await kiosk.wait_for(lambda: any(m.get("code") == "device_revoked" for m in kiosk.messages))
        summary = await (await client.get(f"/api/sessions/{session.id}/attendance")).json()
        assert summary["devices_now"] == 0  # both closed before the revoke answered
    finally:
        await kiosk.close()
        await screen.close()


async def test_a_device_revoked_from_the_command_line_is_dropped_within_a_heartbeat(
    client: TestClient, devices: Devices, sessions: Sessions
) -> None:
    """``kohtaamo devices revoke`` writes only the database (another process); the server's
    heartbeat (0.5 s in tests) notices and closes the device's connections."""
    session = (await sessions.create(venue="kantti/lava", receivers=["juankoski"])).session
    screen_token = await devices.add("juankoski", "room-link", "lukusali")
    kept_token = await devices.add("juankoski", "room-link", "lukusali")
    kiosk_token = await devices.add("kantti", "kiosk", "lava")
    screen, kept = Viewer(), Viewer()
    kiosk = WsParticipant(client.session, base_url(client))
    live = client.app[LIVE]
    try:
        for viewer, token in ((screen, screen_token), (kept, kept_token)):
            resp = await viewer.play(client.session, base_url(client), session.id, token)
            assert resp.status == 201, resp.body
        joined = await kiosk.join(session=session.id, channel="kiosk", device_token=kiosk_token)
        assert joined["type"] == "joined", joined
        async with client.app[DATABASE].session() as db:
            screen_id, kept_id, kiosk_id = [d.id for d in await devices_service.list_devices(db)]
        assert live.connected_device_ids() == {screen_id, kept_id, kiosk_id}

        # As the CLI does: straight to the database, not through the live registry.
        async with client.app[DATABASE].session() as db:
            assert await devices_service.revoke_device(db, screen_id)
            assert await devices_service.revoke_device(db, kiosk_id)

        await kiosk.wait_for(lambda: any(m.get("code") == "device_revoked" for m in kiosk.messages))
        await kiosk.wait_for(lambda: kiosk.ws is not None and kiosk.ws.closed)
        await wait_until(lambda: live.connected_device_ids() == {kept_id}, timeout=30)
        summary = await (await client.get(f"/api/sessions/{session.id}/attendance")).json()
        assert summary["devices_now"] == 1  # the device still registered keeps watching
        assert live.client(kept.location.rsplit("/", 1)[-1]) is not None
        assert live.client(screen.location.rsplit("/", 1)[-1]) is None
    finally:
        await kiosk.close()
        await screen.close()
        await kept.close()
