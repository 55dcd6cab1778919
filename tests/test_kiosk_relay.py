"""The room agent on a site whose firewall lets nothing through but the TURN server
(``relay_only``): it takes TURN credentials from the device API and plays through a real
coturn (tests/turn_server.py), over TURN/UDP and TURN/TCP; refused credentials are one
clear line in its log, not a silent retry loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time

import pytest

from kiosk_client.agent import Agent, State
from kiosk_client.clock import ManualClock
from kiosk_client.config import ConfigError
from kiosk_client.ice import choose_servers, parse_turn_url
from stream_server.turn import ClientIceServers
from stream_server.web.keys import LIVE
from tests.conftest import base_url
from tests.peers import Publisher, wait_until
from tests.test_kiosk_client import add_device, agent_config, stop_agent
from tests.turn_server import Coturn, coturn  # noqa: F401  (the fixture)

BLUE = (40, 80, 200)


@pytest.fixture
def settings(settings, coturn: Coturn):  # noqa: F811
    return settings.replace(
        turn_urls=(coturn.url("udp"), coturn.url("tcp")),
        turn_secret=coturn.secret,
        udp_ports=(40100, 40199),
    )


def test_turn_urls_are_read_and_the_chosen_transport_goes_first() -> None:
    assert parse_turn_url("turn:t.example.org:3478?transport=tcp") == (
        "t.example.org",
        3478,
        "tcp",
        False,
    )
    assert parse_turn_url("turns:t.example.org") == ("t.example.org", 5349, "tcp", True)
    assert parse_turn_url("turn:[2001:db8::1]") == ("2001:db8::1", 3478, "udp", False)
    assert parse_turn_url("stun:s.example.org") is None
    servers = [
        {"urls": "turn:t.example.org?transport=udp"},
        {"urls": "stun:s.example.org"},
        {"urls": "turns:t.example.org:443?transport=tcp"},
    ]
    assert [s["urls"] for s in choose_servers(servers, "tcp")] == [
        "stun:s.example.org",
        "turns:t.example.org:443?transport=tcp",
        "turn:t.example.org?transport=udp",
    ]
    assert choose_servers(servers, "any") == servers
    with pytest.raises(ConfigError, match="turn_transport: must be one of any, udp, tcp"):
        agent_config("http://x", "kd_x", turn_transport="sctp")


def candidate_types(sdp: str) -> set[str]:
    return set(re.findall(r"^a=candidate:.* typ (\w+)", sdp, re.M))


def selected_path(agent: Agent) -> tuple[str, str]:
    """The agent's selected pair: local candidate type and its leg to the TURN server
    (a test-only peek into aioice)."""
    assert agent.connection is not None
    transport = agent.connection.pc.getTransceivers()[0].receiver.transport.transport
    pair = transport._connection._nominated[1]
    inner = getattr(pair.protocol.transport, "_TurnTransport__inner_protocol", None)
    return pair.local_candidate.type, "tcp" if "Tcp" in type(inner).__name__ else "udp"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_a_relay_only_room_agent_plays_through_coturn(
    client,
    sessions,
    settings,
    coturn: Coturn,  # noqa: F811
    transport: str,
):
    """A receiving room's agent with ``relay_only`` and ``turn_transport``: its offer has
    relay candidates only, its TURN credentials are the device API's, and the picture
    arrives through coturn over the chosen transport."""
    created = await sessions.create(venue="kantti/lava", receivers=["nilsia"], minutes=60)
    sid = created.session.id
    device = await add_device(settings, "nilsia", "lukusali", "room-link")
    base = base_url(client)
    publisher = Publisher(rgb=BLUE)
    config = agent_config(base, device["token"], relay_only=True, turn_transport=transport)
    agent = Agent(config, clock=ManualClock(dt.datetime.now(dt.UTC)))
    task = asyncio.ensure_future(agent.run())
    try:
        resp = await publisher.publish(client.session, base, sid, created.publish_token)
        assert resp.status == 201, resp.body
        await agent.wait_for(lambda a: a.state == State.PLAYING, timeout=30)
        sink = agent.sink
        assert sink is not None
        await wait_until(lambda: sink.counter.video >= 10, 30)
        assert agent.connection is not None
        assert candidate_types(agent.connection.pc.localDescription.sdp) == {"relay"}
        assert selected_path(agent) == ("relay", transport)
        used = agent.ice_servers()
        assert [s["urls"] for s in used] == [
            coturn.url(transport),
            coturn.url("udp" if transport == "tcp" else "tcp"),
        ]
        username = used[0]["username"]
        assert f"user <{username}>: incoming packet ALLOCATE processed, success" in (
            coturn.log_text()
        )
    finally:
        await publisher.close()
        await stop_agent(agent, task)


@pytest.mark.parametrize("kind", ["wrong", "expired"])
async def test_refused_turn_credentials_are_one_clear_line_in_the_agents_log(
    client,
    sessions,
    settings,
    coturn: Coturn,  # noqa: F811
    caplog,
    kind: str,
):
    """The server hands out credentials coturn refuses (another secret, or its clock hours
    behind): the agent does not offer a connection that cannot work; it logs why, in words
    IT staff can act on, and retries later. Neither credential reaches the log."""
    live = client.app[LIVE]
    if kind == "wrong":
        live.client_ice = ClientIceServers((), settings.turn_urls, "not-the-secret", 600)
    else:
        behind = time.time() - 7200
        live.client_ice = ClientIceServers(
            (), settings.turn_urls, coturn.secret, 600, lambda: behind
        )
    created = await sessions.create(venue="kantti/lava", receivers=["nilsia"], minutes=60)
    device = await add_device(settings, "nilsia", "lukusali", "room-link")
    config = agent_config(base_url(client), device["token"], relay_only=True)
    agent = Agent(config, clock=ManualClock(dt.datetime.now(dt.UTC)))
    task = asyncio.ensure_future(agent.run())
    try:
        await wait_until(lambda: "cannot connect: relay_only" in caplog.text, 30)
        line = next(r.getMessage() for r in caplog.records if "relay_only" in r.getMessage())
        assert f"session {created.session.id}: cannot connect" in line
        assert f"TURN server {coturn.url('udp')} refused the credentials (401" in line, line
        assert "wrong or expired" in line and "static-auth-secret" in line
        assert agent.state == State.JOINING and agent.detail == "no TURN relay"
        assert agent.connections_made == 0
        assert live.open_interval_ids() == []  # nothing was offered to the server
        for server in agent.server_ice_servers:
            assert server.get("credential", "") not in caplog.text
    finally:
        await stop_agent(agent, task)
