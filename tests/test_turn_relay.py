"""Media through a real TURN server: Debian's coturn on loopback (tests/turn_server.py), with
the credentials the server mints, and clients that may use nothing but the relay.

What loopback alone cannot show: that the credentials Kohtaamo mints are the ones coturn
accepts (``use-auth-secret``), that a relay-only client receives video over TURN/UDP and
TURN/TCP, and that wrong or expired credentials fail plainly. The room agent's and the join
page's relay tests are in tests/test_kiosk_relay.py and tests/test_turn_browser.py.
"""

from __future__ import annotations

import re
import time

import pytest
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from stream_server.config import IceServer
from stream_server.turn import turn_credentials
from stream_server.web.keys import LIVE
from tests.conftest import base_url
from tests.peers import Publisher, Viewer, colour_close, post_sdp
from tests.turn_server import Coturn, coturn  # noqa: F401  (the fixture)

BLUE = (40, 80, 200)
#: A range of the server's own, so that the relay is shown to reach ports IT opened.
MEDIA_PORTS = (40000, 40099)


@pytest.fixture
def settings(settings, coturn: Coturn):  # noqa: F811
    return settings.replace(
        turn_urls=(coturn.url("udp"), coturn.url("tcp")),
        turn_secret=coturn.secret,
        turn_ttl=600,
        udp_ports=MEDIA_PORTS,
    )


def parse_links(headers) -> list[dict[str, str]]:
    """RFC 9725 ``Link: <url>; rel="ice-server"; username=…; credential=…`` headers."""
    servers = []
    for link in headers.getall("Link", []):
        url = re.match(r"<([^>]+)>", link)
        assert url is not None, link
        params = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', link))
        if params.get("rel") == "ice-server":
            servers.append({"urls": url.group(1), **params})
    return servers


def candidate_types(sdp: str) -> set[str]:
    return set(re.findall(r"^a=candidate:.* typ (\w+)", sdp, re.M))


class RelayViewer(Viewer):
    """A WHEP viewer that asks the preflight for ICE servers, keeps the TURN URL of one
    transport, and gathers with ``iceTransportPolicy=relay``: it can only be reached
    through the relay."""

    def __init__(self, servers: list[dict[str, str]], transport: str) -> None:
        super().__init__()
        turn = [s for s in servers if s["urls"].endswith(f"transport={transport}")]
        assert len(turn) == 1, servers
        self.turn = turn[0]
        self.pc = RTCPeerConnection(
            RTCConfiguration(
                iceServers=[
                    RTCIceServer(
                        urls=self.turn["urls"],
                        username=self.turn["username"],
                        credential=self.turn["credential"],
                    )
                ],
                iceTransportPolicy=RTCIceTransportPolicy.RELAY,
            )
        )
        self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        self.pc.on("track", self._on_track)

    def selected_path(self) -> tuple[str, str]:
        """The selected pair's local candidate type (relay, host…) and, for a relay, the
        transport of the client's leg to the TURN server (a test-only peek into aioice)."""
        transport = self.pc.getTransceivers()[0].receiver.transport.transport
        pair = transport._connection._nominated[1]
        inner = getattr(pair.protocol.transport, "_TurnTransport__inner_protocol", None)
        leg = "tcp" if "Tcp" in type(inner).__name__ else "udp"
        return pair.local_candidate.type, leg


async def preflight_servers(client, sid: str) -> list[dict[str, str]]:
    resp = await client.options(f"/whep/{sid}")
    assert resp.status == 204
    return parse_links(resp.headers)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_a_relay_only_whep_viewer_receives_video_through_coturn(
    client,
    sessions,
    coturn: Coturn,  # noqa: F811
    transport: str,
):
    """The viewer offers nothing but a ``typ relay`` candidate (allocated on coturn with the
    credentials from the server's Link header), and still decodes the publisher's colour:
    every packet went through the relay, over TURN/UDP or TURN/TCP to coturn."""
    created = await sessions.create()
    sid = created.session.id
    base = base_url(client)
    publisher = Publisher(rgb=BLUE)
    viewer = RelayViewer(await preflight_servers(client, sid), transport)
    try:
        resp = await publisher.publish(client.session, base, sid, created.publish_token)
        assert resp.status == 201, resp.body
        await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
        offer = viewer.pc.localDescription.sdp
        assert candidate_types(offer) == {"relay"}, offer
        answer = await post_sdp(client.session, f"{base}/whep/{sid}", offer)
        assert answer.status == 201, answer.body
        ports = [
            int(p) for p in re.findall(r"^a=candidate:\S+ 1 udp \d+ \S+ (\d+)", answer.body, re.M)
        ]
        assert ports and all(MEDIA_PORTS[0] <= p <= MEDIA_PORTS[1] for p in ports)
        await viewer.pc.setRemoteDescription(RTCSessionDescription(answer.body, "answer"))
        await viewer.wait_for(lambda: viewer.video_frames >= 10, timeout=30)
        assert colour_close(viewer.last_rgb, BLUE), viewer.last_rgb
        assert viewer.selected_path() == ("relay", transport)
        # coturn's side: our minted username allocated, and it relayed to the server's
        # media port, one of the range the firewall would open.
        log = coturn.log_text()
        username = viewer.turn["username"]
        assert f"user <{username}>: incoming packet ALLOCATE processed, success" in log, log
        peers = [int(p) for p in re.findall(r"peer 127\.0\.0\.1:(\d+) lifetime updated", log)]
        assert peers and all(MEDIA_PORTS[0] <= p <= MEDIA_PORTS[1] for p in peers), log
    finally:
        await viewer.close()
        await publisher.close()


@pytest.mark.parametrize("kind", ["wrong", "expired"])
async def test_wrong_or_expired_credentials_get_no_relay_and_coturn_says_why(
    client,
    sessions,
    coturn: Coturn,  # noqa: F811
    kind: str,
):
    """A relay-only client with credentials coturn refuses gets no candidate at all (so it
    must not hang waiting: the agent and the page turn this into a message)."""
    sid = (await sessions.create()).session.id
    servers = await preflight_servers(client, sid)
    if kind == "wrong":
        username, password = turn_credentials("not-the-secret", 600, time.time())
    else:
        username, password = turn_credentials(coturn.secret, 60, time.time() - 3600)
    servers = [{**s, "username": username, "credential": password} for s in servers]
    viewer = RelayViewer(servers, "udp")
    try:
        started = time.monotonic()
        await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
        assert time.monotonic() - started < 10
        assert candidate_types(viewer.pc.localDescription.sdp) == set()
        log = coturn.log_text()
        assert f"Cannot find credentials of user <{username}>" in log, log[-3000:]
        assert f"user <{username}>: incoming packet message processed, error 401" in log
    finally:
        await viewer.close()
    assert client.app[LIVE].open_interval_ids() == []


async def test_the_servers_own_stun_and_turn_gathering_still_work_inside_the_port_range(
    client,
    sessions,
    coturn: Coturn,  # noqa: F811
):
    """The port-range seam replaces only aioice's host sockets: with coturn as the server's
    own STUN and TURN server (``ice_servers``), the answer still has a server-reflexive
    candidate (from a socket of the range) and a relay candidate (allocated by aioice)."""
    username, password = turn_credentials(coturn.secret, 600, time.time())
    live = client.app[LIVE]
    live.settings = live.settings.replace(
        ice_servers=(
            IceServer(f"stun:127.0.0.1:{coturn.port}"),
            IceServer(coturn.url("udp"), username, password),
        )
    )
    sid = (await sessions.create()).session.id
    viewer = Viewer()
    try:
        await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
        answer = await post_sdp(
            client.session, f"{base_url(client)}/whep/{sid}", viewer.pc.localDescription.sdp
        )
        assert answer.status == 201, answer.body
        found = re.findall(r"^a=candidate:\S+ 1 udp \d+ \S+ (\d+) typ (\w+)", answer.body, re.M)
        types = {kind for _, kind in found}
        assert types == {"host", "srflx", "relay"}, answer.body
        for port, kind in found:
            if kind != "relay":  # a relay's port is coturn's, not the server's
                assert MEDIA_PORTS[0] <= int(port) <= MEDIA_PORTS[1], (port, kind)
        assert f"user <{username}>: incoming packet ALLOCATE processed, success" in (
            coturn.log_text()
        )
    finally:
        await viewer.close()
