"""The join and presenter pages in a real headless Chromium, against the real server."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page

from tests import browser as browser_helpers
from tests.browser import (
    CAMERA_RGB,
    MEDIA_TIMEOUT_MS,
    assert_no_page_errors,
    open_page,
    page_log,
    poll,
    wait_colour,
    wait_playing,
)
from tests.conftest import Sessions, base_url
from tests.peers import Publisher

pytestmark = pytest.mark.browser
chromium = browser_helpers.chromium  # the fixture, by the name the tests ask for

PUBLISHER_RGB = (40, 80, 200)
CAMERA = 'video[data-slot="camera"]'
SCREEN = 'video[data-slot="screen"]'


async def attendance(client: TestClient, session_id: str) -> dict[str, Any]:
    async with client.get(f"/api/sessions/{session_id}/attendance") as resp:
        assert resp.status == 200
        return await resp.json()  # type: ignore[no-any-return]


async def test_join_page_plays_a_whip_publisher_and_counts_the_viewer(
    client: TestClient, sessions: Sessions, chromium: Browser
) -> None:
    created = await sessions.create(title="Tuolijumppa", private=True)
    sid = created.session.id
    base = base_url(client)
    publisher = Publisher(PUBLISHER_RGB)
    try:
        resp = await publisher.publish(client.session, base, sid, created.publish_token)
        assert resp.status == 201, resp.body

        page = await open_page(chromium, f"{base}/j/{created.session.join_code}")
        await page.get_by_role("button", name="Liity").click()
        await wait_playing(page, CAMERA)
        await wait_colour(page, CAMERA, PUBLISHER_RGB)
        # A broadcast viewer has no camera or microphone buttons, only "leave".
        assert await page.locator("#mic-button").is_hidden()
        assert await page.locator("#camera-button").is_hidden()
        assert await page.get_by_role("button", name="Poistu").is_visible()
        # The publisher's audio plays too.
        await page.wait_for_function(
            """() => [...document.querySelectorAll("audio")].some((a) => a.srcObject
                 && !a.paused && a.srcObject.getAudioTracks()[0]?.readyState === "live")""",
            timeout=MEDIA_TIMEOUT_MS,
        )

        counts = await poll(
            lambda: attendance(client, sid), lambda a: a["online_now"] == 1, timeout=20
        )
        assert counts["by_channel"]["browser"]["now"] == 1, counts
        key = await page.evaluate(
            "(sid) => sessionStorage.getItem('kohtaamo:attendee:' + sid)", sid
        )
        assert key and len(key) == 32, key

        assert_no_page_errors(page)
        # Closing the tab ends the attendance (pagehide sends "leave"; the socket closes anyway).
        await page.close()
        await poll(lambda: attendance(client, sid), lambda a: a["online_now"] == 0, timeout=40)
    finally:
        await publisher.close()


async def start_presenter(browser: Browser, base: str, sid: str, token: str) -> Page:
    """The presenter page, connected, with camera, microphone and screen on."""
    host = await open_page(browser, f"{base}/host/{sid}?token={token}")
    await host.get_by_role("button", name="Avaa lähetys").click()
    await host.wait_for_function("() => window.kohtaamoCall.joinedInfo !== null", timeout=20_000)
    await host.get_by_role("button", name="Kamera ja mikrofoni päälle").click()
    await host.get_by_role("button", name="Jaa näyttö").click()
    await wait_playing(host, "#self-view")
    await wait_playing(host, "#screen-view")
    return host


async def test_presenter_camera_and_screen_reach_a_viewer(
    client: TestClient, sessions: Sessions, chromium: Browser
) -> None:
    """getDisplayMedia works headless with the fake-media flags: no canvas stand-in needed."""
    created = await sessions.create(title="Luento")
    sid = created.session.id
    base = base_url(client)
    host = await start_presenter(chromium, base, sid, created.host_token)

    viewer = await open_page(chromium, f"{base}/sessions/{sid}")
    await viewer.get_by_role("button", name="Liity").click()
    await wait_playing(viewer, SCREEN)
    await wait_playing(viewer, CAMERA)
    await wait_colour(viewer, CAMERA, CAMERA_RGB)
    # The shared screen is large, the camera small beside it.
    screen_box = await viewer.locator(SCREEN).bounding_box()
    camera_box = await viewer.locator(CAMERA).bounding_box()
    assert screen_box and camera_box
    assert (
        screen_box["width"] * screen_box["height"] > 4 * camera_box["width"] * camera_box["height"]
    )

    # The presenter sees one person online (itself is a room device, not counted).
    await host.wait_for_function(
        "() => document.getElementById('online-now').textContent === '1'", timeout=20_000
    )

    # Stop sharing: the viewer's camera takes the whole stage again.
    await host.get_by_role("button", name="Lopeta jakaminen").click()
    await viewer.wait_for_function(
        f"() => !document.querySelector('{SCREEN}') && "
        "document.getElementById('stage').dataset.layout === 'grid'",
        timeout=MEDIA_TIMEOUT_MS,
    )
    await wait_playing(viewer, CAMERA)
    assert_no_page_errors(viewer)
    assert_no_page_errors(host)


async def test_presenter_ends_the_session_for_everyone(
    client: TestClient, sessions: Sessions, chromium: Browser
) -> None:
    created = await sessions.create(title="Luento")
    sid = created.session.id
    base = base_url(client)
    host = await start_presenter(chromium, base, sid, created.host_token)
    viewer = await open_page(chromium, f"{base}/sessions/{sid}?lang=en")
    await viewer.get_by_role("button", name="Join").click()
    await wait_playing(viewer, CAMERA)
    await poll(lambda: attendance(client, sid), lambda a: a["online_now"] == 1, timeout=20)

    # Ending needs a confirmation; "Cancel" keeps the session going.
    await host.get_by_role("button", name="Päätä tapahtuma").click()
    await host.get_by_role("button", name="Peruuta").click()
    assert await host.locator("#end-dialog").is_hidden()
    await host.get_by_role("button", name="Päätä tapahtuma").click()
    await host.get_by_role("button", name="Kyllä, päätä").click()
    for page in (viewer, host):
        try:
            await page.wait_for_selector("#ended:not([hidden])", timeout=20_000)
        except Exception as exc:
            raise AssertionError(page_log(page)) from exc
    assert await viewer.locator("#ended-heading").inner_text() == "This session has ended"
    try:
        await poll(lambda: attendance(client, sid), lambda a: a["online_now"] == 0, timeout=20)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nviewer:\n{page_log(viewer)}") from exc


async def test_group_participants_see_each_other(
    client: TestClient, sessions: Sessions, chromium: Browser
) -> None:
    """Camera and microphone start only from their buttons; each person gets one tile."""
    created = await sessions.create(title="Muistikahvila", mode="group", private=True)
    base = base_url(client)
    url = f"{base}/j/{created.session.join_code}?channel=tablet"
    people = [await open_page(chromium, url) for _ in range(2)]
    for page in people:
        await page.get_by_role("button", name="Liity").click()
        await page.get_by_role("button", name="Kamera päälle").wait_for()
        # Nothing is captured before the person asks.
        assert await page.evaluate("() => window.kohtaamoCall.publishing().length") == 0
    for page in people:
        await page.get_by_role("button", name="Kamera päälle").click()
        await page.get_by_role("button", name="Mikrofoni päälle").click()
        await page.get_by_role("button", name="Kamera pois").wait_for()
        await page.get_by_role("button", name="Mikrofoni pois").wait_for()
    for page in people:
        await wait_playing(page, CAMERA)
        await wait_colour(page, CAMERA, CAMERA_RGB)
        assert await page.locator(CAMERA).count() == 1  # the other person, not oneself
        await page.wait_for_function(
            "() => document.querySelectorAll('audio').length === 1", timeout=MEDIA_TIMEOUT_MS
        )
    counts = await poll(
        lambda: attendance(client, created.session.id),
        lambda a: a["online_now"] == 2,
        timeout=20,
    )
    assert counts["by_channel"]["tablet"]["now"] == 2

    # Turning the camera off releases it, and the other person's tile goes away.
    first, second = people
    await first.get_by_role("button", name="Kamera pois").click()
    assert await first.evaluate("() => window.kohtaamoCall.local.camera") is None
    await second.wait_for_function(
        f"() => !document.querySelector('{CAMERA}')", timeout=MEDIA_TIMEOUT_MS
    )
    for page in people:
        assert_no_page_errors(page)


async def test_reconnects_with_the_same_attendee_key(
    client: TestClient, sessions: Sessions, chromium: Browser
) -> None:
    """A dropped WebSocket: a calm status, a new join with the same key, counted once."""
    created = await sessions.create(title="Tuolijumppa")
    sid = created.session.id
    base = base_url(client)
    publisher = Publisher(PUBLISHER_RGB)
    try:
        resp = await publisher.publish(client.session, base, sid, created.publish_token)
        assert resp.status == 201, resp.body
        page = await open_page(chromium, f"{base}/sessions/{sid}")
        await page.get_by_role("button", name="Liity").click()
        await wait_playing(page, CAMERA)
        key = await page.evaluate("() => window.kohtaamoCall.attendeeKey")

        # Drop the socket the way a Wi-Fi blip would (the page did not ask to leave).
        await page.evaluate("() => window.kohtaamoCall.ws.close()")
        await page.wait_for_function(
            "() => document.getElementById('status').textContent.includes('Yhteys katkesi')",
            timeout=10_000,
        )
        await page.wait_for_function(
            "() => document.getElementById('status').textContent === 'Yhteys palasi.'",
            timeout=20_000,
        )
        assert await page.evaluate("() => window.kohtaamoCall.joinedInfo.resumed") is True
        assert await page.evaluate("() => window.kohtaamoCall.attendeeKey") == key
        await wait_colour(page, CAMERA, PUBLISHER_RGB)
        counts = await poll(
            lambda: attendance(client, sid), lambda a: a["online_now"] == 1, timeout=20
        )
        assert counts["online_total"] == 1, counts
        # Leaving by the button closes the attendance at once.
        await page.get_by_role("button", name="Poistu").click()
        await page.get_by_role("button", name="Liity uudelleen").wait_for()
        await poll(lambda: attendance(client, sid), lambda a: a["online_now"] == 0, timeout=10)
    finally:
        await publisher.close()


async def test_default_h264_works_from_browser_presenter_to_browser_viewer(
    aiohttp_client: Any, settings: Any, chromium: Browser
) -> None:
    """The server's default codec is H.264 (for OBS): Chromium publishes it (OpenH264) and
    another Chromium plays it, forwarded without transcoding."""
    from stream_server.app import create_app
    from stream_server.web.keys import DATABASE

    app = create_app(settings.replace(video_codec="H264"))
    client = await aiohttp_client(app)
    created = await Sessions(app[DATABASE]).create(title="Luento H.264")
    sid, base = created.session.id, base_url(client)
    host = await start_presenter(chromium, base, sid, created.host_token)
    viewer = await open_page(chromium, f"{base}/sessions/{sid}")
    await viewer.get_by_role("button", name="Liity").click()
    await wait_playing(viewer, CAMERA)
    await wait_colour(viewer, CAMERA, CAMERA_RGB)
    codec = await viewer.evaluate(
        """async () => {
            const pc = window.kohtaamoCall.pc;
            if (!pc) return null;
            const stats = await pc.getStats();
            for (const report of stats.values()) {
                if (report.type === "codec" && report.mimeType.startsWith("video/")) {
                    return report.mimeType;
                }
            }
            return null;
        }"""
    )
    assert codec == "video/H264", codec
    assert_no_page_errors(viewer)
    assert_no_page_errors(host)


async def test_join_and_leave_with_the_keyboard_alone(
    client: TestClient, sessions: Sessions, chromium: Browser
) -> None:
    """Tab to the big button, Enter to join; focus follows to the call; Tab and Enter leave.
    The status is announced through the polite live region."""
    created = await sessions.create(title="Muistikahvila", mode="broadcast")
    sid, base = created.session.id, base_url(client)
    page = await open_page(chromium, f"{base}/sessions/{sid}")
    await page.wait_for_selector("#join-button")
    for _ in range(15):
        if await page.evaluate("() => document.activeElement?.id") == "join-button":
            break
        await page.keyboard.press("Tab")
    assert await page.evaluate("() => document.activeElement?.id") == "join-button"
    await page.keyboard.press("Enter")
    await page.wait_for_function(
        "() => document.getElementById('status').textContent.includes('Olet mukana')",
        timeout=20_000,
    )
    assert await page.evaluate("() => document.activeElement?.id") == "call-heading"
    await poll(lambda: attendance(client, sid), lambda a: a["online_now"] == 1, timeout=20)
    for _ in range(15):
        if await page.evaluate("() => document.activeElement?.id") == "leave-button":
            break
        await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#left:not([hidden])", timeout=20_000)
    await poll(lambda: attendance(client, sid), lambda a: a["online_now"] == 0, timeout=20)
    assert_no_page_errors(page)
