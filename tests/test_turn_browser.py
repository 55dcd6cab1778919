"""The join page in Chromium through a real TURN server, relay only (``iceTransportPolicy:
"relay"``), with the credentials the server puts in ``joined``; and what the page says when
media cannot connect from its network.

The relay-only policy is forced from outside, by wrapping ``RTCPeerConnection`` before the
page's scripts run, so the page itself is exactly what people get.
"""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page

from stream_server import i18n
from stream_server.turn import ClientIceServers
from stream_server.web.keys import LIVE
from tests import browser as browser_helpers
from tests.browser import (
    assert_no_page_errors,
    new_watched_page,
    page_log,
    wait_colour,
    wait_playing,
)
from tests.conftest import Devices, Sessions, base_url
from tests.peers import Publisher
from tests.turn_server import Coturn, coturn  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser
chromium = browser_helpers.chromium  # the fixture, by the name the tests ask for

PUBLISHER_RGB = (40, 80, 200)
CAMERA = 'video[data-slot="camera"]'


@pytest.fixture
def settings(settings, coturn: Coturn):  # noqa: F811
    return settings.replace(
        turn_urls=(coturn.url("udp"), coturn.url("tcp")),
        turn_secret=coturn.secret,
        udp_ports=(40200, 40299),
    )


def relay_only(transport: str) -> str:
    """An init script: every RTCPeerConnection gathers relay candidates only, from the
    TURN URLs of one transport (as a browser on a network that blocks everything else)."""
    return """(() => {
      const Original = window.RTCPeerConnection;
      const transport = TRANSPORT;
      function RelayOnly(config = {}, ...rest) {
        const iceServers = (config.iceServers || []).filter((server) =>
          [].concat(server.urls).every((url) => url.endsWith("transport=" + transport)));
        window.kohtaamoIceServers = iceServers;
        return new Original({ ...config, iceServers, iceTransportPolicy: "relay" }, ...rest);
      }
      RelayOnly.prototype = Original.prototype;
      Object.setPrototypeOf(RelayOnly, Original);
      window.RTCPeerConnection = RelayOnly;
    })();""".replace("TRANSPORT", json.dumps(transport))


#: The selected candidate pair's local candidate, from the page's own getStats().
SELECTED_LOCAL = """async () => {
  const pc = window.kohtaamoCall?.pc;
  if (!pc) return null;
  const stats = await pc.getStats();
  let pairId = null;
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
  });
  const pair = pairId && stats.get(pairId);
  const local = pair && stats.get(pair.localCandidateId);
  return local ? { type: local.candidateType, relayProtocol: local.relayProtocol ?? null } : null;
}"""


async def open_relay_page(browser: Browser, url: str, transport: str, locale: str) -> Page:
    page = await new_watched_page(browser, locale, init_script=relay_only(transport))
    await page.goto(url, wait_until="commit")
    await page.wait_for_selector("#join-button")
    await page.wait_for_load_state("domcontentloaded")
    return page


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_the_join_page_plays_through_coturn_relay_only(
    client: TestClient,
    sessions: Sessions,
    chromium: Browser,
    coturn: Coturn,  # noqa: F811
    transport: str,
) -> None:
    """The page's only candidates are relayed by coturn (credentials from ``joined``), and
    the publisher's colour plays; getStats says the selected pair is ``relay`` over
    UDP or TCP."""
    created = await sessions.create(title="Tuolijumppa")
    sid = created.session.id
    base = base_url(client)
    publisher = Publisher(PUBLISHER_RGB)
    try:
        resp = await publisher.publish(client.session, base, sid, created.publish_token)
        assert resp.status == 201, resp.body
        page = await open_relay_page(chromium, f"{base}/sessions/{sid}", transport, "fi-FI")
        await page.get_by_role("button", name="Liity").click()
        await wait_playing(page, CAMERA)
        await wait_colour(page, CAMERA, PUBLISHER_RGB)
        handle = await page.wait_for_function(
            f"async () => (await ({SELECTED_LOCAL})()) || null", timeout=20_000, polling=250
        )
        selected = await handle.json_value()
        assert selected == {"type": "relay", "relayProtocol": transport}, page_log(page)
        servers = await page.evaluate("() => window.kohtaamoIceServers")
        assert [s["urls"] for s in servers] == [coturn.url(transport)]
        username = servers[0]["username"]
        assert f"user <{username}>: incoming packet ALLOCATE processed, success" in (
            coturn.log_text()
        )
        assert_no_page_errors(page)
        await page.close()
    finally:
        await publisher.close()


@pytest.mark.parametrize(("kind", "locale"), [("join", "en-US"), ("tablet", "fi-FI")])
async def test_the_page_says_plainly_when_media_cannot_connect_from_its_network(
    client: TestClient,
    sessions: Sessions,
    devices: Devices,
    chromium: Browser,
    coturn: Coturn,  # noqa: F811
    kind: str,
    locale: str,
) -> None:
    """Relay only, and the TURN server refuses the credentials (another secret): no media
    path exists. Within ~20 s the join page (in English here) and the tablet page (in
    Finnish) say so, with what to try, and keep saying it while they retry; not
    "connecting…" forever."""
    live = client.app[LIVE]
    live.client_ice = ClientIceServers((), live.settings.turn_urls, "not-the-secret", 600)
    created = await sessions.create(title="Tuolijumppa", venue="kantti")
    base = base_url(client)
    if kind == "join":
        page = await open_relay_page(
            chromium, f"{base}/sessions/{created.session.id}", "udp", locale
        )
        await page.get_by_role("button", name="Join").click()
    else:
        token = await devices.add("kantti", "tablet")
        page = await new_watched_page(chromium, locale, init_script=relay_only("udp"))
        await page.goto(f"{base}/tablet#device={token}", wait_until="commit")
        await page.wait_for_selector(".card", state="attached", timeout=30_000)
        await page.locator("#more summary").click()  # a public session: in the folded rest
        await page.get_by_role("button", name="Liity: Tuolijumppa").click()
    expected = i18n.translate("status.media_blocked", locale[:2])
    assert expected.startswith(
        "Media cannot connect from this network"
        if kind == "join"
        else "Kuva ja ääni eivät toimi tällä yhteydellä"
    )
    try:
        await page.wait_for_function(
            "(text) => document.getElementById('status').textContent === text",
            arg=expected,
            timeout=35_000,
        )
    except Exception as exc:
        raise AssertionError(f"no message; page log:\n{page_log(page)}") from exc
    # It keeps trying (a new join), and the message stays instead of "reconnecting".
    await page.wait_for_function(
        "() => window.kohtaamoCall?.attempt >= 1 || window.kohtaamoTablet?.call?.attempt >= 1",
        timeout=20_000,
    )
    await page.wait_for_timeout(1500)
    assert await page.locator("#status").text_content() == expected
    assert "401" in page_log(page)  # the console says why, for support staff
    assert_no_page_errors(page)
    await page.close()
