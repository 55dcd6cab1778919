"""Recording from the presenter page, and the indicator on a viewer's page (headless Chromium)."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser

from stream_server.web.keys import LIVE
from tests import browser as browser_helpers
from tests.browser import assert_no_page_errors, open_page, page_log, wait_playing
from tests.conftest import Sessions, base_url
from tests.peers import wait_until

pytestmark = pytest.mark.browser
chromium = browser_helpers.chromium

CAMERA = 'video[data-slot="camera"]'


async def test_host_records_with_the_keyboard_and_the_viewer_is_told(
    client: TestClient, sessions: Sessions, chromium: Browser
) -> None:
    created = await sessions.create(title="Luento")
    sid = created.session.id
    base = base_url(client)
    host = await open_page(chromium, f"{base}/host/{sid}?token={created.host_token}")
    await host.get_by_role("button", name="Avaa lähetys").click()
    await host.wait_for_function("() => window.kohtaamoCall.joinedInfo !== null", timeout=20_000)
    await host.get_by_role("button", name="Kamera ja mikrofoni päälle").click()
    await wait_playing(host, "#self-view")

    viewer = await open_page(chromium, f"{base}/sessions/{sid}?lang=en")
    await viewer.get_by_role("button", name="Join").click()
    await wait_playing(viewer, CAMERA)
    assert await viewer.locator(".recording-indicator").is_hidden()

    record = host.get_by_role("button", name="Tallenna")
    assert await record.get_attribute("aria-pressed") == "false"
    await record.focus()
    await host.keyboard.press("Enter")
    try:
        await viewer.wait_for_selector(".recording-indicator:not([hidden])", timeout=20_000)
    except Exception as exc:
        raise AssertionError(page_log(viewer)) from exc
    assert "● Recording" in await viewer.locator(".recording-indicator").inner_text()
    await viewer.wait_for_function(
        "() => [...document.querySelectorAll('[role=status]')]"
        ".some((e) => e.textContent.startsWith('Recording started'))",
        timeout=10_000,
    )
    await host.wait_for_selector('#record-button[aria-pressed="true"]', timeout=10_000)
    assert "● Tallennetaan" in await host.locator(".recording-indicator").inner_text()

    recorder = client.app[LIVE].recorder(sid)
    assert recorder is not None
    await wait_until(lambda: recorder.video_frames >= 30, 60)

    await host.locator("#record-button").focus()
    await host.keyboard.press("Space")
    await viewer.wait_for_selector(".recording-indicator", state="hidden", timeout=20_000)
    await viewer.wait_for_function(
        "() => [...document.querySelectorAll('[role=status]')]"
        ".some((e) => e.textContent === 'Recording stopped.')",
        timeout=10_000,
    )
    await host.wait_for_selector('#record-button[aria-pressed="false"]', timeout=10_000)
    await wait_until(lambda: recorder.finished is not None, 30)
    assert recorder.path.exists()
    assert (recorder.width, recorder.height) != (0, 0)
    assert_no_page_errors(viewer)
    assert_no_page_errors(host)
