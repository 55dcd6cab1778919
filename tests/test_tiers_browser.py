"""The join page's one-tap tier buttons, in a real headless Chromium against the real server."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser

from stream_server.web.keys import LIVE
from tests import browser as browser_helpers
from tests.browser import MEDIA_TIMEOUT_MS, assert_no_page_errors, open_page, poll, wait_playing
from tests.conftest import Sessions, base_url
from tests.peers import ColourTrack, Publisher

pytestmark = pytest.mark.browser
chromium = browser_helpers.chromium  # the fixture, by the name the tests ask for

RGB = (40, 80, 200)
CAMERA = 'video[data-slot="camera"]'


async def test_audio_only_and_lower_quality_buttons_switch_the_viewer(
    client: TestClient, sessions: Sessions, chromium: Browser
) -> None:
    created = await sessions.create()
    sid, base = created.session.id, base_url(client)
    publisher = Publisher(RGB)
    publisher.video = ColourTrack(RGB, size=(640, 480))
    publisher.pc.getTransceivers()[0].sender.replaceTrack(publisher.video)
    registry = client.app[LIVE]

    async def tier() -> Any:
        live = registry.get(sid)
        people = [c for c in live.members() if c.kind == "ws"] if live else []
        return getattr(people[0], "tier", None) if people else None

    try:
        assert (
            await publisher.publish(client.session, base, sid, created.publish_token)
        ).status == 201
        page = await open_page(chromium, f"{base}/j/{created.session.join_code}")
        await page.get_by_role("button", name="Liity").click()
        await wait_playing(page, CAMERA)
        assert await poll(tier, lambda t: t == "auto", timeout=20) == "auto"
        width = "(s) => document.querySelector(s)?.videoWidth"
        await page.wait_for_function(
            f"() => ({width})('{CAMERA}') === 640", timeout=MEDIA_TIMEOUT_MS
        )

        audio_only = page.get_by_role("button", name="Vain ääni")
        await audio_only.click()
        assert await audio_only.get_attribute("aria-pressed") == "true"
        await poll(tier, lambda t: t == "audio", timeout=20)
        await audio_only.click()
        await poll(tier, lambda t: t == "auto", timeout=20)

        lower = page.get_by_role("button", name="Kevyempi kuva")
        await lower.click()
        await poll(tier, lambda t: t == "low", timeout=20)
        # The same <video> now shows the shared low tier's smaller picture.
        await page.wait_for_function(
            f"() => ({width})('{CAMERA}') === 320", timeout=MEDIA_TIMEOUT_MS
        )
        assert_no_page_errors(page)
        await page.close()
    finally:
        await publisher.close()
