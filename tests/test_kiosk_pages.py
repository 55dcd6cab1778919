"""Kiosk, tablet and staff device pages: the server side here, the browser side below.

The browser tests drive the real pages in headless Chromium against a real server: a kiosk
joins its room's session by itself, counts as a device, posts headcounts, and comes back
after the server process is killed and restarted; a revoked kiosk shows its refusal; a
tablet lists its sessions and joins with one tap.
"""

from __future__ import annotations

import datetime as dt
import signal
from typing import Any
from urllib.parse import unquote

import aiohttp
import pytest
import segno
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page
from sqlalchemy import select

from stream_server.attendance import headcounts
from stream_server.catalog import service as catalog
from stream_server.db.engine import Database
from stream_server.db.models import Participant, SurveyAnswer
from stream_server.devices import service as devices_service
from stream_server.web.keys import DATABASE, LIVE, SETTINGS
from tests import browser as browser_helpers
from tests.browser import (
    MEDIA_TIMEOUT_MS,
    assert_no_page_errors,
    open_page,
    page_log,
    poll,
    wait_colour,
    wait_playing,
)
from tests.conftest import Devices, Sessions, Staff, base_url
from tests.peers import Publisher, wait_until
from tests.servers import free_port, start_server
from tests.test_pages import config_of, get_page, parse
from tests.ws_peer import WsParticipant

chromium = browser_helpers.chromium
CAMERA = 'video[data-slot="camera"]'


# -- pages without a browser ------------------------------------------------------------------
async def test_kiosk_and_tablet_pages_are_shells_with_their_config(client: TestClient) -> None:
    status, doc, headers = await get_page(client, "/kiosk?lead=12")
    assert status == 200
    assert headers["X-Frame-Options"] == "DENY"
    config = config_of(doc)
    assert config["page"] == "kiosk" and config["lead_seconds"] == 720
    assert config["messages"]["kiosk.refused_heading"] == "Laite ei ole käytössä"
    # A lead beyond the doors' opening (30 min) cannot work: it is capped, nonsense ignored.
    assert config_of((await get_page(client, "/kiosk?lead=90"))[1])["lead_seconds"] == 1800
    assert config_of((await get_page(client, "/kiosk?lead=x"))[1])["lead_seconds"] == 300
    status, doc, _ = await get_page(client, "/tablet?lang=en")
    assert status == 200 and doc.find("html").attrs["lang"] == "en"
    assert config_of(doc)["days"] == 7
    assert doc.by_id("camera-switch").attrs["aria-checked"] == "false"  # camera off by default
    # The service worker is served from the root so that it may control /kiosk and /tablet.
    async with client.get("/kiosk-sw.js") as resp:
        assert resp.status == 200 and resp.content_type == "text/javascript"
        assert '"/static/js/kiosk.js"' in await resp.text()


async def test_staff_devices_page_needs_a_login(client: TestClient) -> None:
    async with client.get("/staff/devices", allow_redirects=False) as resp:
        assert resp.status == 303
        assert unquote(resp.headers["Location"]) == "/staff/login?next=/staff/devices"
    async with client.post("/staff/devices", data={"venue": "kantti", "kind": "kiosk"}) as resp:
        assert resp.status == 401
    async with client.post("/staff/devices/1/revoke") as resp:
        assert resp.status == 401


async def register(client: TestClient, csrf: str, **form: str) -> tuple[int, Any]:
    async with client.post("/staff/devices", data={"csrf_token": csrf, **form}) as resp:
        return resp.status, parse(await resp.text())


async def test_registration_shows_the_token_once_with_a_qr_code_and_revoke_is_immediate(
    client: TestClient, staff: Staff, sessions: Sessions
) -> None:
    await sessions.create(venue="puijonlaakso")  # loads the venues
    csrf = await staff.login()
    # Without the CSRF token a logged-in browser cannot be made to register a device.
    async with client.post("/staff/devices", data={"venue": "kantti", "kind": "kiosk"}) as resp:
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "csrf_failed"
    status, doc = await register(
        client, csrf, venue="puijonlaakso", room="puijonlaakso/ryhmatila", kind="kiosk", name="Aula"
    )
    assert status == 201
    token = doc.by_id("created-token").text()
    assert token.startswith("kd_")
    link = doc.by_id("enrol-link").attrs["href"]
    # An absolute link on the configured public_url (it is opened on another device).
    assert link == f"{client.app[SETTINGS].public_url}/kiosk#device={token}"
    qr = doc.by_id("enrol-qr").attrs
    assert qr["alt"] == "QR-koodi käyttöönottolinkistä"
    assert qr["src"].startswith("data:image/svg+xml")
    assert "<svg" in unquote(qr["src"]) and "<path" in unquote(qr["src"])
    # The QR code encodes exactly the enrolment link (same matrix as segno makes for it).
    assert qr["src"] == segno.make(link, error="m").svg_data_uri(scale=6, border=4, dark="#000")
    async with client.get("/api/device", headers={"Authorization": f"Bearer {token}"}) as resp:
        device = (await resp.json())["device"]
    assert (device["kind"], device["venue"], device["room"]) == (
        "kiosk",
        "puijonlaakso",
        "ryhmatila",
    )
    # The list shows it; the token is not on the plain page again.
    async with client.get("/staff/devices") as resp:
        html = await resp.text()
    assert token not in html
    row = parse(html).find("tr", **{"data-device-id": str(device["id"])})
    assert "Aula" in row.text() and "Ei verkossa" in row.text()
    # Revoking needs the CSRF token too; then the token is refused at once.
    async with client.post(f"/staff/devices/{device['id']}/revoke") as resp:
        assert resp.status == 403
    # The list's button leads to a confirmation page first: nothing is revoked by one press.
    revoke_link = row.find("a", **{"class": "button button-danger"}).attrs["href"]
    assert revoke_link == f"/staff/devices/{device['id']}/revoke"
    status, confirm, _ = await get_page(client, str(revoke_link))
    assert status == 200 and "Aula" in confirm.text()
    async with client.get("/api/device", headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200  # still working until confirmed
    async with client.post(
        f"/staff/devices/{device['id']}/revoke", data={"csrf_token": csrf}, allow_redirects=False
    ) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == f"/staff/devices?revoked={device['id']}"
    async with client.get("/api/device", headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "device_revoked"
    status, doc, _ = await get_page(client, f"/staff/devices?revoked={device['id']}")
    row = doc.find("tr", **{"data-device-id": str(device["id"])})
    assert "Peruttu" in row.text()
    # An undo, there and then: the same token works again.
    assert doc.by_id("undo-revoke").text() == "Palauta käyttöoikeus"
    async with client.post(
        f"/staff/devices/{device['id']}/restore", data={"csrf_token": csrf}, allow_redirects=False
    ) as resp:
        assert resp.status == 303
    async with client.get("/api/device", headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200


async def test_registration_errors_are_shown_on_the_form(
    client: TestClient, staff: Staff, sessions: Sessions
) -> None:
    await sessions.create()
    csrf = await staff.login()
    # A room chosen under another library must not silently become this library's room.
    status, doc = await register(
        client, csrf, venue="kantti", room="puijonlaakso/ryhmatila", kind="kiosk"
    )
    assert status == 400
    assert "ei onnistunut" in doc.by_id("register-error").text()
    status, doc = await register(client, csrf, venue="kantti", room="kantti/lava", kind="tablet")
    assert status == 400 and "tablet" in doc.by_id("register-error").text()
    assert not doc.find_all(id="created-token")


async def test_staff_see_what_a_room_device_does_but_only_whether_a_tablet_is_online(
    client: TestClient, staff: Staff, sessions: Sessions, devices: Devices
) -> None:
    sid = (await sessions.create(venue="puijonlaakso")).session.id
    kiosk = await devices.add("puijonlaakso", "kiosk", "ryhmatila")
    tablet = await devices.add("puijonlaakso", "tablet")
    idle = await devices.add("kantti", "kiosk")
    async with client.post(
        "/api/device/heartbeat",
        json={"state": "idle", "session_id": None, "detail": None},
        headers={"Authorization": f"Bearer {idle}"},
    ) as resp:
        assert resp.status == 200  # a state without a session (once made the page fail)
    for token in (kiosk, tablet):
        async with client.post(
            "/api/device/heartbeat",
            json={"state": "playing", "session_id": sid, "detail": None},
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            assert resp.status == 200
    await staff.login()
    async with client.get("/staff/devices") as resp:
        doc = parse(await resp.text())
    kiosk_row = doc.find("tr", **{"data-kind": "kiosk"})
    tablet_row = doc.find("tr", **{"data-kind": "tablet"})
    # What it shows, by the session's title (its id means nothing to staff).
    assert "Näyttää tapahtumaa: Testiluento" in kiosk_row.text() and sid not in kiosk_row.text()
    assert "Verkossa" in tablet_row.text()
    assert sid not in tablet_row.text() and "Näyttää" not in tablet_row.text()
    assert "yksityisyys" in tablet_row.text()


# -- in headless Chromium -------------------------------------------------------------------
async def open_device_page(
    browser: Browser, url: str, ready: str, init_script: str | None = None
) -> Page:
    """Like tests.browser.open_page, for pages without a join button."""
    page = await browser_helpers.new_watched_page(browser, init_script=init_script)
    await page.goto(url, wait_until="commit")
    try:
        await page.wait_for_selector(ready, timeout=MEDIA_TIMEOUT_MS)
    except Exception as exc:
        raise AssertionError(f"{ready} never showed; page log:\n{page_log(page)}") from exc
    return page


# The demo test card feeds live broadcasts; heartbeats often enough to see.
SERVER_ENV = {"KOHTAAMO_DEMO_FEED": "true", "KOHTAAMO_ATTENDANCE_HEARTBEAT_SECONDS": "0.5"}


FRAMES = """(selector) => {
  const video = document.querySelector(selector);
  const track = video?.srcObject?.getVideoTracks()[0];
  if (!video || !track || track.readyState !== "live") return -1;
  return video.getVideoPlaybackQuality().totalVideoFrames;
}"""


async def wait_frames_advancing(page: Page, selector: str, timeout: float) -> None:
    """New frames arrive (not a frozen last picture): the decoded-frame count grows."""
    first = await page.evaluate(FRAMES, selector)

    async def frames() -> int:
        return int(await page.evaluate(FRAMES, selector))

    try:
        await poll(frames, lambda n: first >= 0 and n >= first + 20, timeout=timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; page log:\n{page_log(page)}") from exc


async def room_screen_broadcast(
    database: Database, title: str
) -> tuple[catalog.CreatedSession, str]:
    """A broadcast held at KANTTI, starting now, shown on the screen of Puijonlaakso's group
    room, and that room's kiosk token."""
    async with database.session() as db:
        await catalog.sync_reference_data(db)
        created = await catalog.create_session(
            db, title=title, mode="broadcast", receivers=["puijonlaakso"]
        )
        device = await devices_service.add_device(db, "puijonlaakso", "kiosk", "ryhmatila")
    return created, device.token


@pytest.mark.browser
async def test_kiosk_joins_by_itself_counts_as_a_device_and_rejoins_after_a_restart(
    settings: Any, chromium: Browser
) -> None:
    database = Database(settings.database_url)
    created, token = await room_screen_broadcast(database, "Kirjailijavierailu")
    sid = created.session.id
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = await start_server(settings.database_url, port, SERVER_ENV)
    try:
        page = await open_device_page(chromium, f"{base}/kiosk#device={token}", "main")
        # Nobody touches it: it joins the session shown in its room and plays the test card.
        await wait_playing(page, f"#stage {CAMERA}")
        assert await page.evaluate("location.hash") == ""  # the token left the address bar
        assert await page.evaluate("localStorage.getItem('kohtaamo:device-token')") == token
        assert await page.locator("#call-heading").inner_text() == "Kirjailijavierailu"

        async with aiohttp.ClientSession() as http:

            async def attendance() -> dict[str, Any]:
                async with http.get(f"{base}/api/sessions/{sid}/attendance") as resp:
                    return await resp.json()  # type: ignore[no-any-return]

            counts = await poll(
                attendance, lambda a: a["by_channel"].get("kiosk", {}).get("now") == 1, timeout=20
            )
            # The screen is a device: the people in front of it are counted by headcount.
            assert counts["online_now"] == 0 and counts["online_total"] == 0, counts

            # Headcount: three presses on "+" become one saved count for this venue.
            plus = page.get_by_role("button", name="Yksi lisää")
            for _ in range(3):
                await plus.click()
            await page.wait_for_function(
                "() => document.getElementById('headcount-feedback').dataset.state === 'saved'",
                timeout=MEDIA_TIMEOUT_MS,
            )
            feedback = await page.locator("#headcount-feedback").inner_text()
            assert feedback == "Tallennettu. Paikalla on 3 ihmistä.", feedback
            await page.get_by_role("button", name="Yksi vähemmän").click()
            await page.wait_for_function(
                "() => document.getElementById('headcount-feedback').textContent.includes('on 2 ')",
                timeout=MEDIA_TIMEOUT_MS,
            )
            async with database.session() as db:
                assert await headcounts.latest_headcounts(db, sid) == {"puijonlaakso": 2}
            # More people than the room holds (25): refused, and said in the room's language.
            await page.fill("#headcount-value", "30")
            await plus.click()
            await page.wait_for_function(
                "() => document.getElementById('headcount-feedback').dataset.state === 'error'",
                timeout=MEDIA_TIMEOUT_MS,
            )
            feedback = await page.locator("#headcount-feedback").inner_text()
            assert feedback == (
                "Ihmisten määrää ei tallennettu. Määrä on liian suuri tähän tilaan. Tarkista määrä."
            ), feedback
            await page.fill("#headcount-value", "3")
            await page.get_by_role("button", name="Yksi vähemmän").click()
            await page.wait_for_function(
                "() => document.getElementById('headcount-feedback').dataset.state === 'saved'",
                timeout=MEDIA_TIMEOUT_MS,
            )
            async with database.session() as db:
                assert await headcounts.latest_headcounts(db, sid) == {"puijonlaakso": 2}
            counts = await attendance()
            if "in_person" in counts:  # the reports branch adds the in-person figures
                assert counts["in_person"] == 2, counts

            # Kill the server outright and start it again on the same port and database.
            joins = await page.evaluate("window.kohtaamoKiosk.joins")
            assert joins == 1
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            proc = await start_server(settings.database_url, port, SERVER_ENV)
            await page.wait_for_function(
                f"() => window.kohtaamoKiosk.joins > {joins}", timeout=90_000, polling=250
            )
            await wait_playing(page, f"#stage {CAMERA}", timeout_ms=90_000)
            await wait_frames_advancing(page, f"#stage {CAMERA}", timeout=60)
            counts = await poll(
                attendance, lambda a: a["by_channel"].get("kiosk", {}).get("now") == 1, timeout=30
            )
            # The same device continued: still one kiosk participant, still nobody online.
            assert counts["by_channel"]["kiosk"]["total"] == 1, counts
            assert counts["online_total"] == 0, counts

            # The host ends the session: the kiosk leaves and shows the smileys.
            host = WsParticipant(http, base)
            joined = await host.join(
                session=sid, role="host", token=created.host_token, channel="presenter"
            )
            assert joined["type"] == "joined", joined
            await host.send({"type": "end"})
            face = page.get_by_role("button", name="Erinomainen")
            await face.wait_for(timeout=MEDIA_TIMEOUT_MS)
            await face.click()
            await page.wait_for_selector(".survey[data-answers='1']", timeout=MEDIA_TIMEOUT_MS)
            await host.close()
        async with database.session() as db:
            rows = (await db.scalars(select(SurveyAnswer))).all()
        assert [(r.session_id, r.channel, r.score) for r in rows] == [(sid, "kiosk", 5)]
        assert_no_page_errors(page)
        await page.context.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
        await database.close()


@pytest.mark.browser
async def test_kiosk_page_comes_up_while_the_server_is_down_and_joins_when_it_is_back(
    settings: Any, chromium: Browser
) -> None:
    """A screen switched on (or its browser restarted) during an outage must not be stuck on
    the browser's error page: the service worker serves the cached shell, which retries."""
    database = Database(settings.database_url)
    async with database.session() as db:
        await catalog.sync_reference_data(db)
        await catalog.create_session(
            db, title="Etäluento", mode="broadcast", receivers=["puijonlaakso"]
        )
        token = (await devices_service.add_device(db, "puijonlaakso", "kiosk", "ryhmatila")).token
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = await start_server(settings.database_url, port, SERVER_ENV)
    try:
        page = await open_device_page(chromium, f"{base}/kiosk#device={token}", "main")
        await wait_playing(page, f"#stage {CAMERA}")
        await page.wait_for_function(
            "() => navigator.serviceWorker.controller !== null", timeout=MEDIA_TIMEOUT_MS
        )
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        await page.reload(wait_until="commit")
        await page.wait_for_selector("#programme", timeout=MEDIA_TIMEOUT_MS)
        await page.wait_for_function(
            "() => document.getElementById('status').textContent.includes('Yhteys ei toimi')",
            timeout=MEDIA_TIMEOUT_MS,
        )
        assert await page.evaluate("window.kohtaamoKiosk.joins") == 0
        proc = await start_server(settings.database_url, port, SERVER_ENV)
        await page.wait_for_function(
            "() => window.kohtaamoKiosk.joins >= 1", timeout=90_000, polling=250
        )
        await wait_playing(page, f"#stage {CAMERA}", timeout_ms=90_000)
        assert_no_page_errors(page)
        await page.context.close()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
        await database.close()


@pytest.mark.browser
async def test_a_revoked_or_unknown_kiosk_shows_the_refusal(
    client: TestClient, devices: Devices, chromium: Browser
) -> None:
    base = base_url(client)
    token = await devices.add("puijonlaakso", "kiosk", "ryhmatila")
    page = await open_device_page(chromium, f"{base}/kiosk#device={token}", "#programme")
    await page.wait_for_selector("#no-sessions")  # nothing today in this room
    assert "Puijonlaakson kirjasto" in await page.locator("#place").inner_text()
    await devices.revoke_all()
    # Coming back online makes the page ask at once (otherwise within its next poll).
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    await page.wait_for_selector("#refused", timeout=MEDIA_TIMEOUT_MS)
    assert await page.locator("#programme").is_hidden()
    text = await page.locator("#refused").inner_text()
    assert "Laite ei ole käytössä" in text and "käyttöoikeus on peruttu" in text, text
    # After a reload the stored token is still refused, straight away.
    await page.reload(wait_until="commit")
    await page.wait_for_selector("#refused", timeout=MEDIA_TIMEOUT_MS)
    assert_no_page_errors(page)
    await page.context.close()

    unknown = await open_device_page(
        chromium, f"{base}/kiosk?lang=en#device=kd_{'x' * 43}", "#refused"
    )
    assert "not recognised" in await unknown.locator("#refused-reason").inner_text()
    await unknown.context.close()
    # Without any token the page says how to set it up.
    bare = await open_device_page(chromium, f"{base}/kiosk", "#not-enrolled")
    assert "käyttöönottolinkki" in await bare.locator("#not-enrolled").inner_text()
    await bare.context.close()


@pytest.mark.browser
async def test_kiosk_joins_its_lead_time_before_the_start_and_not_earlier(
    client: TestClient, sessions: Sessions, devices: Devices, chromium: Browser
) -> None:
    base = base_url(client)
    start = catalog.utcnow() + dt.timedelta(minutes=10)
    sid = (
        await sessions.create(title="Lukupiiri", venue="kantti/paja", starts_at=start)
    ).session.id
    await sessions.create(title="Muualla", venue="kantti/lava")  # another room: not joined
    token = await devices.add("kantti", "kiosk", "paja")
    # Five minutes' lead: ten minutes before, it shows when it will join and waits.
    early = await open_device_page(chromium, f"{base}/kiosk#device={token}", "#programme")
    await early.wait_for_selector(".programme-item")
    assert await early.locator(".programme-title").all_inner_texts() == ["Lukupiiri"]
    assert "liittyy tapahtumaan itse kello" in await early.locator("#next-up").inner_text()
    assert await early.evaluate("window.kohtaamoKiosk.joins") == 0
    assert await early.evaluate("window.kohtaamoKiosk.current") is None
    await early.context.close()
    # Fifteen minutes' lead: the same moment is inside it, so it joins by itself.
    page = await open_device_page(chromium, f"{base}/kiosk?lead=15#device={token}", "#call")
    await page.wait_for_function("() => window.kohtaamoKiosk.joins === 1", timeout=MEDIA_TIMEOUT_MS)
    counts = await poll(
        lambda: attendance(client, sid),
        lambda a: a["by_channel"].get("kiosk", {}).get("now") == 1,
        timeout=20,
    )
    assert counts["online_total"] == 0, counts
    assert_no_page_errors(page)
    await page.context.close()


@pytest.mark.browser
async def test_tablet_lists_its_sessions_and_one_tap_joins_as_a_tablet(
    client: TestClient, sessions: Sessions, devices: Devices, chromium: Browser
) -> None:
    base = base_url(client)
    now = catalog.utcnow()
    live = await sessions.create(title="Satutunti", venue="kantti")
    group = await sessions.create(title="Muistelupiiri", mode="group", private=True)
    later = await sessions.create(title="Runoilta", starts_at=now + dt.timedelta(days=1))
    secret = await sessions.create(title="Salainen", mode="group", private=True)  # not invited
    # Over this morning (if today began three hours ago): not on the cards at all.
    await sessions.create(title="Aamujumppa", starts_at=now - dt.timedelta(hours=3), minutes=30)
    token = await devices.add("kantti", "tablet")
    async with client.app[DATABASE].session() as db:
        tablet = (await devices_service.list_devices(db))[0]
        await devices_service.invite(db, tablet.id, group.session.id)
    publisher = Publisher((40, 80, 200))
    try:
        resp = await publisher.publish(client.session, base, live.session.id, live.publish_token)
        assert resp.status == 201, resp.body
        page = await open_device_page(chromium, f"{base}/tablet#device={token}", ".card")
        # The client's own (invited) group of today first; the rest folded away, soonest first;
        # the uninvited private one is absent.
        own = await page.locator("#own-sessions .card-title").all_inner_texts()
        assert own == ["Muistelupiiri"]
        others = await page.locator("#sessions .card-title").all_text_contents()
        assert others == ["Satutunti", "Runoilta"], others
        assert "Aamujumppa" not in others
        assert not await page.locator("#sessions").is_visible()  # folded
        tomorrow = page.locator(f".card[data-session-id='{later.session.id}']")
        assert await tomorrow.locator("button").count() == 0  # doors open half an hour before
        assert await page.locator("#camera-switch").get_attribute("aria-checked") == "false"

        # One tap, once the rest of the programme is opened.
        await page.locator("#more summary").click()
        await page.get_by_role("button", name="Liity: Satutunti").click()
        await wait_playing(page, f"#stage {CAMERA}")
        await wait_colour(page, f"#stage {CAMERA}", (40, 80, 200))
        counts = await poll(
            lambda: attendance(client, live.session.id),
            lambda a: a["by_channel"].get("tablet", {}).get("now") == 1,
            timeout=20,
        )
        assert counts["online_now"] == 1, counts  # a tablet's user is an online participant
        assert await page.locator("#camera-button").is_hidden()  # a broadcast viewer

        # Leaving offers the smileys; one answer is stored for the tablet channel.
        await page.get_by_role("button", name="Poistu").click()
        await page.get_by_role("button", name="Hyvä", exact=True).click()
        await page.wait_for_selector(".survey[data-done='true']", timeout=MEDIA_TIMEOUT_MS)
        assert "Kiitos" in await page.locator(".survey-result").inner_text()
        async with client.app[DATABASE].session() as db:
            rows = (await db.scalars(select(SurveyAnswer))).all()
            people = (await db.scalars(select(Participant))).all()
        assert [(r.channel, r.score) for r in rows] == [("tablet", 4)]
        assert [(p.channel, p.surveyed) for p in people if p.channel == "tablet"] == [
            ("tablet", True)
        ]

        # Sound only: the join asks for the audio tier and the page draws no video.
        await page.get_by_role("button", name="Takaisin tapahtumiin").click()
        await page.get_by_role("switch", name="Vain ääni. Valitse, jos kuva pätkii.").click()
        sent: list[str] = []
        page.on("websocket", lambda ws: ws.on("framesent", lambda p: sent.append(str(p))))
        await page.get_by_role("button", name="Liity: Satutunti").click()
        await page.wait_for_function(
            """() => [...document.querySelectorAll("audio")].some((a) => a.srcObject
                 && !a.paused && a.srcObject.getAudioTracks()[0]?.readyState === "live")""",
            timeout=MEDIA_TIMEOUT_MS,
        )
        assert await page.locator("#audio-only-note").is_visible()
        assert await page.locator("#stage video").count() == 0
        assert any('"tier":"audio"' in frame for frame in sent), sent[:3]

        # A join code reaches a group the tablet was not invited to (the code is the invitation).
        await page.get_by_role("button", name="Poistu").click()
        await page.get_by_role("button", name="Takaisin tapahtumiin").click()
        await page.get_by_label("Liittymiskoodi").fill("zzzz 2222")
        await page.locator("#code-submit").click()
        await page.wait_for_function(
            "() => document.getElementById('tablet-code-feedback').textContent.includes('Tarkista')"
        )
        await page.get_by_label("Liittymiskoodi").fill(secret.session.join_code.lower())
        await page.locator("#code-submit").click()
        await page.get_by_role("button", name="Poistu").wait_for()
        assert await page.locator("#call-heading").inner_text() == "Salainen"

        # In the group now (its camera is off and nobody publishes there, so no media flows
        # and it is not counted yet: counting waits for media, tests/test_counting.py).
        def joined_the_group() -> bool:
            live_group = client.app[LIVE].get(secret.session.id)
            return live_group is not None and [m.channel for m in live_group.membership] == [
                "tablet"
            ]

        await wait_until(joined_the_group)
        assert_no_page_errors(page)
        await page.context.close()
    finally:
        await publisher.close()


@pytest.mark.browser
async def test_join_page_offers_the_survey_after_leaving_once(
    client: TestClient, sessions: Sessions, chromium: Browser
) -> None:
    sid = (await sessions.create(title="Kuorolaulu")).session.id
    page = await open_page(chromium, f"{base_url(client)}/sessions/{sid}")
    await page.get_by_role("button", name="Liity").click()
    await poll(lambda: attendance(client, sid), lambda a: a["online_now"] == 1, timeout=30)
    await page.get_by_role("button", name="Poistu").click()
    survey = page.get_by_role("region", name="Millainen tapahtuma oli?")
    await survey.wait_for()
    # Keyboard: focus the first face, arrow to the fourth, Enter answers.
    await page.get_by_role("button", name="Todella huono").focus()
    for _ in range(3):
        await page.keyboard.press("ArrowRight")
    await page.keyboard.press("Enter")
    await page.wait_for_selector(".survey[data-done='true']", timeout=MEDIA_TIMEOUT_MS)
    async with client.app[DATABASE].session() as db:
        rows = (await db.scalars(select(SurveyAnswer))).all()
    assert [(r.session_id, r.channel, r.score) for r in rows] == [(sid, "browser", 4)]
    # The same page's key cannot answer a second time, and rejoining does not ask again.
    key = await page.evaluate("(sid) => sessionStorage.getItem('kohtaamo:attendee:' + sid)", sid)
    async with client.post(
        f"/api/sessions/{sid}/survey", json={"score": 1, "attendee_key": key}
    ) as resp:
        assert resp.status == 409
    await page.get_by_role("button", name="Liity uudelleen").click()
    await page.get_by_role("button", name="Poistu").click()
    assert await page.locator(".survey").count() == 1
    assert_no_page_errors(page)
    await page.context.close()


async def attendance(client: TestClient, session_id: str) -> dict[str, Any]:
    async with client.get(f"/api/sessions/{session_id}/attendance") as resp:
        assert resp.status == 200
        return await resp.json()  # type: ignore[no-any-return]
