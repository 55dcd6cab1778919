"""Real city networks, the parts loopback shows by itself: a fixed UDP port range for media
(every server candidate in it, a full range a prompt 503 / protocol error, ports back when
peers close) and TURN credentials minted per client from a secret that never leaves.

The relay itself, through a real coturn, is in tests/test_turn_relay.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import socket
import time

import pytest

from stream_server.config import ConfigError, IceServer, load_settings
from stream_server.media import seams
from stream_server.media.ports import MediaPortsExhausted, PortRange
from stream_server.turn import ClientIceServers, turn_credentials
from stream_server.web.keys import LIVE
from tests.conftest import base_url
from tests.peers import Response, Viewer, new_peer, post_sdp
from tests.ws_peer import WsParticipant

#: Below the kernel's ephemeral ports (32768-60999), so no client socket lands in it.
RANGE = (31000, 31002)
SECRET = "kirjaston-turn-salaisuus-123"
TURN_URLS = (
    "turn:turn.example.org:3478?transport=udp",
    "turns:turn.example.org:443?transport=tcp",
)


def candidate_ports(sdp: str) -> list[int]:
    """The port of every ``a=candidate`` line (and of every m-line) in ``sdp``."""
    ports = [int(m.split()[5]) for m in re.findall(r"^a=candidate:(.*)$", sdp, re.M)]
    return ports + [int(p) for p in re.findall(r"^m=\w+ (\d+) ", sdp, re.M) if p != "9"]


# -- settings ------------------------------------------------------------------------------------
def test_udp_ports_and_turn_settings_from_the_environment() -> None:
    settings = load_settings(
        environ={
            "KOHTAAMO_UDP_PORTS": "40000-40999",
            "KOHTAAMO_TURN_URLS": ",".join(TURN_URLS),
            "KOHTAAMO_TURN_SECRET": SECRET,
            "KOHTAAMO_TURN_TTL": "3600",
        }
    )
    assert settings.udp_ports == (40000, 40999)
    assert settings.turn_urls == TURN_URLS
    assert settings.turn_secret == SECRET and settings.turn_ttl == 3600
    assert SECRET not in repr(settings)  # a logged Settings would not give it away
    assert load_settings(environ={}).turn_ttl == 86400


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"KOHTAAMO_UDP_PORTS": "40000"}, "udp_ports must look like 40000-40999"),
        ({"KOHTAAMO_UDP_PORTS": "40999-40000"}, "udp_ports: 40999-40000 is not a range"),
        ({"KOHTAAMO_UDP_PORTS": "0-10"}, "udp_ports: 0-10 is not a range"),
        ({"KOHTAAMO_TURN_URLS": TURN_URLS[0]}, "turn_urls needs turn_secret"),
        ({"KOHTAAMO_TURN_SECRET": SECRET}, "turn_secret is set but turn_urls is empty"),
        (
            {"KOHTAAMO_TURN_URLS": "stun:stun.example.org", "KOHTAAMO_TURN_SECRET": SECRET},
            "turn_urls: 'stun:stun.example.org' is not a turn: or turns: URL",
        ),
        (
            {
                "KOHTAAMO_TURN_URLS": "turn:t.example.org?transport=sctp",
                "KOHTAAMO_TURN_SECRET": SECRET,
            },
            "is not a turn: or turns: URL",
        ),
        ({"KOHTAAMO_TURN_TTL": "0"}, "turn_ttl: invalid value '0'"),
    ],
)
def test_bad_network_settings_are_refused_by_name(environ: dict, message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_settings(environ=environ)
    assert message in str(excinfo.value)


# -- TURN credentials ------------------------------------------------------------------------------
def test_credentials_follow_the_turn_rest_scheme_coturn_checks() -> None:
    """username ``EXPIRY:RANDOM``, password base64(HMAC-SHA1(secret, username))."""
    username, password = turn_credentials(SECRET, 600, now=1_800_000_000.7, tag="abc")
    assert username == "1800000600:abc"
    expected = hmac.new(SECRET.encode(), username.encode(), hashlib.sha1).digest()
    assert password == base64.b64encode(expected).decode()
    first, second = turn_credentials(SECRET, 600, 0)[0], turn_credentials(SECRET, 600, 0)[0]
    assert first != second and first.startswith("600:")


def test_each_client_gets_its_own_credentials_after_the_configured_servers() -> None:
    stun = IceServer("stun:stun.example.org:3478")
    ice = ClientIceServers([stun], TURN_URLS, SECRET, ttl=120, clock=lambda: 1000.0)
    one, two = ice.for_client(), ice.for_client()
    assert one[0] == stun and [s.urls for s in one[1:]] == list(TURN_URLS)
    assert one[1].username == one[2].username and one[1].username.startswith("1120:")
    assert one[1].username != two[1].username
    assert all(SECRET not in json.dumps(s.as_dict()) for s in one)
    assert ClientIceServers([stun]).for_client() == [stun]
    with pytest.raises(ValueError):
        ClientIceServers([], TURN_URLS, None)


@pytest.fixture
def settings(settings):
    return settings.replace(
        udp_ports=RANGE,
        turn_urls=TURN_URLS,
        turn_secret=SECRET,
        turn_ttl=600,
        ice_servers=(IceServer("stun:stun.example.org:3478"),),
    )


def links(headers) -> list[str]:
    return headers.getall("Link", [])


async def test_every_entrance_hands_out_turn_credentials_but_never_the_secret(
    client, sessions, devices, caplog
):
    """WHEP preflight and answer, the WebSocket's ``joined`` and the device API each give a
    client TURN URLs with credentials of its own; the secret is in no response and no log."""
    caplog.set_level(logging.DEBUG)
    created = await sessions.create(venue="kantti/lava")
    sid = created.session.id
    base = base_url(client)
    seen: list[str] = []

    preflight = await client.options(f"/whep/{sid}")
    assert preflight.status == 204
    seen += links(preflight.headers)
    viewer = Viewer()
    await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
    answer = await post_sdp(client.session, f"{base}/whep/{sid}", viewer.pc.localDescription.sdp)
    assert answer.status == 201, answer.body
    seen += links(answer.headers)
    seen.append(answer.body)

    member = WsParticipant(client.session, base, auto_answer=False)
    joined = await member.join(session=sid)
    assert joined["type"] == "joined", joined
    seen.append(json.dumps(joined))

    token = await devices.add("kantti", "kiosk", "lava")
    auth = {"Authorization": f"Bearer {token}"}
    for path in ("/api/device", "/api/device/schedule"):
        resp = await client.get(path, headers=auth)
        assert resp.status == 200
        body = await resp.text()
        seen.append(body)
        servers = json.loads(body)["ice_servers"]
        assert [s["urls"] for s in servers] == ["stun:stun.example.org:3478", *TURN_URLS]

    for link in links(preflight.headers)[1:] + links(answer.headers)[1:]:
        assert re.fullmatch(
            r'<turns?:turn\.example\.org:\d+\?transport=(udp|tcp)>; rel="ice-server"; '
            r'username="\d+:[\w-]+"; credential="[A-Za-z0-9+/=]+"; credential-type="password"',
            link,
        ), link
    assert links(preflight.headers)[0] == '<stun:stun.example.org:3478>; rel="ice-server"'
    usernames = set(re.findall(r'username(?:=|": )"([^"]+)"', " ".join(seen)))
    assert len(usernames) >= 5, usernames  # preflight, answer, joined, two device calls
    for username in usernames:
        expiry = int(username.split(":")[0])
        assert 590 <= expiry - time.time() <= 610
    everything = "\n".join(seen) + caplog.text
    assert SECRET not in everything
    await member.close()
    await viewer.close()


async def test_a_private_sessions_preflight_gives_turn_only_with_the_join_code(client, sessions):
    """A CORS preflight has no bearer: TURN credentials go only to who may connect."""
    created = await sessions.create(private=True)
    sid = created.session.id
    anonymous = await client.options(f"/whep/{sid}")
    assert links(anonymous.headers) == ['<stun:stun.example.org:3478>; rel="ice-server"']
    coded = await client.options(
        f"/whep/{sid}", headers={"Authorization": f"Bearer {created.session.join_code}"}
    )
    assert len(links(coded.headers)) == 3
    nobody = await client.options("/whep/no-such-session")
    assert len(links(nobody.headers)) == 1
    publisher = await client.options(
        f"/whip/{sid}", headers={"Authorization": f"Bearer {created.publish_token}"}
    )
    assert len(links(publisher.headers)) == 3


# -- the port range --------------------------------------------------------------------------------
def test_a_port_range_hands_out_free_ports_round_robin_and_says_when_full() -> None:
    ports = PortRange(*RANGE)
    held = [ports.bind("127.0.0.1") for _ in range(3)]
    assert sorted(s.getsockname()[1] for s in held) == [31000, 31001, 31002]
    with pytest.raises(MediaPortsExhausted, match=r"all 3 media ports \(31000-31002\) are in use"):
        ports.bind("127.0.0.1")
    held.pop(1).close()
    again = ports.bind("127.0.0.1")
    assert again.getsockname()[1] == 31001
    with pytest.raises(OSError):
        ports.bind("192.0.2.1")  # not this machine's address: aioice skips such addresses
    for sock in [*held, again]:
        sock.close()


async def whep(client, sid: str) -> tuple[Viewer, Response, float]:
    viewer = Viewer()
    await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
    started = time.monotonic()
    resp = await post_sdp(
        client.session, f"{base_url(client)}/whep/{sid}", viewer.pc.localDescription.sdp
    )
    return viewer, resp, time.monotonic() - started


async def test_server_candidates_stay_in_the_range_and_a_full_range_is_a_prompt_503(
    client, sessions
):
    """Fill the range with WHEP viewers: every candidate port of every answer is in the
    range; the next viewer gets 503 ``media_ports_exhausted`` at once, not a hang; a viewer
    that leaves gives its port back."""
    assert seams.host_socket_seam_installed()
    sid = (await sessions.create()).session.id
    viewers: list[Viewer] = []
    try:
        while True:
            viewer, resp, took = await whep(client, sid)
            viewers.append(viewer)
            if resp.status != 201:
                break
            if len(viewers) == 1:
                first_location = resp.headers["Location"]
            ports = candidate_ports(resp.body)
            assert ports and all(RANGE[0] <= p <= RANGE[1] for p in ports), ports
            assert len(viewers) <= 3, "more viewers than ports"
        # One port per peer connection (everything is bundled): three in, the fourth out.
        assert len(viewers) == RANGE[1] - RANGE[0] + 2
        assert resp.status == 503, resp.body
        assert json.loads(resp.body)["error"]["code"] == "media_ports_exhausted"
        assert took < 2.0, f"the refusal took {took:.1f} s"
        live = client.app[LIVE].get(sid)
        assert live is not None and len(live.members()) == len(viewers) - 1
        # The client's own aiortc peer in this process still gathers anywhere: the range
        # is for the server's peers only.
        outside = new_peer()
        outside.addTransceiver("audio", direction="recvonly")
        await outside.setLocalDescription(await outside.createOffer())
        assert all(
            p not in range(RANGE[0], RANGE[1] + 1)
            for p in candidate_ports(outside.localDescription.sdp)
        )
        await outside.close()
        # One viewer leaves (DELETE): its port comes back.
        assert (await client.delete(first_location)).status == 200
        viewer, resp, _ = await whep(client, sid)
        viewers.append(viewer)
        assert resp.status == 201, resp.body
        assert all(RANGE[0] <= p <= RANGE[1] for p in candidate_ports(resp.body))
    finally:
        for viewer in viewers:
            await viewer.close()


async def test_a_page_gets_a_protocol_error_and_close_1013_when_the_range_is_full(client, sessions):
    """The WebSocket's way of saying 503: ``error`` ``media_ports_exhausted``, then the
    socket closes with 1013 (try again later), so the page reconnects with its back-off."""
    sid = (await sessions.create()).session.id
    with contextlib.ExitStack() as held:
        for port in range(RANGE[0], RANGE[1] + 1):  # someone else holds every port
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            sock.bind(("127.0.0.1", port))
        member = WsParticipant(client.session, base_url(client), auto_answer=False)
        joined = await member.join(session=sid)
        assert joined["type"] == "joined"
        error = await member.next_message(lambda m: m["type"] == "error", timeout=5)
        assert error["code"] == "media_ports_exhausted"
        assert "31000-31002" in error["message"]
        assert member.ws is not None
        await member.wait_for(lambda: member.ws.closed, timeout=5)
        assert member.ws.close_code == 1013
        live = client.app[LIVE].get(sid)
        assert live is None or not live.members()
        await member.close()
    # With the ports free again, the same page gets in and is offered media.
    member = WsParticipant(client.session, base_url(client), auto_answer=False)
    assert (await member.join(session=sid))["type"] == "joined"
    offer = await member.next_message(lambda m: m["type"] == "offer", timeout=10)
    assert all(RANGE[0] <= p <= RANGE[1] for p in candidate_ports(offer["sdp"]))
    await member.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_refused_peers_leak_no_sockets_or_places(client, sessions):
    """Regression guard for the refusal path: a peer refused for want of ports is closed
    with everything it opened (its other sockets, its place, no attendance), however often
    it happens."""
    sid = (await sessions.create()).session.id
    with contextlib.ExitStack() as held:
        for port in range(RANGE[0], RANGE[1] + 1):
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            sock.bind(("127.0.0.1", port))
        viewer, resp, _ = await whep(client, sid)  # warm-up: imports, the session's state
        await viewer.close()
        assert resp.status == 503
        baseline = open_fds()
        for _ in range(20):
            viewer, resp, _ = await whep(client, sid)
            await viewer.close()
            assert resp.status == 503, resp.body
        await asyncio.sleep(0.2)  # transports close on the next loop iterations
        assert open_fds() <= baseline + 3, (baseline, open_fds())
        live = client.app[LIVE].get(sid)
        assert live is None or not live.members()
        assert client.app[LIVE].open_interval_ids() == []
