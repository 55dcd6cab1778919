"""ICE settings for the client: which STUN/TURN servers, which local addresses, how fast a
dead server is noticed, and why a TURN relay could not be had.

Kept self-contained (room PCs install only the client), mirroring
``stream_server.media.ice``: aioice reads these module-level hooks when it gathers and while
it checks consent, so they are process-wide, installed once from the configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aioice.ice
import aioice.stun
import aioice.turn
from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCIceTransportPolicy

_TURN_URL = re.compile(
    r"(?P<scheme>turns?):(?P<host>\[[^\]]+\]|[^\s?:]+)(?::(?P<port>\d+))?"
    r"(?:\?transport=(?P<transport>\w+))?"
)


class RelayUnavailable(Exception):
    """``relay_only`` is set but no relay candidate was gathered (see :func:`diagnose_turn`)."""


_ORIGINAL: Callable[..., list[str]] = aioice.ice.get_host_addresses


def restrict_host_addresses(addresses: Sequence[str]) -> None:
    """Gather host candidates only from ``addresses``; empty restores every interface."""
    if not addresses:
        aioice.ice.get_host_addresses = _ORIGINAL
        return
    chosen = [ipaddress.ip_address(a.strip()) for a in addresses]

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [
            str(a) for a in chosen if (use_ipv4 and a.version == 4) or (use_ipv6 and a.version == 6)
        ]

    aioice.ice.get_host_addresses = get_host_addresses


def set_consent(interval: float, failures: int) -> None:
    """How quickly a vanished server is noticed: about ``interval * failures`` seconds
    (aioice's default is 5 s × 6). A room PC should notice a restarted server quickly."""
    aioice.ice.CONSENT_INTERVAL = interval  # type: ignore[assignment]  # used as seconds
    aioice.ice.CONSENT_FAILURES = failures


def rtc_configuration(
    servers: Sequence[Mapping[str, Any]], relay_only: bool = False
) -> RTCConfiguration:
    """Always an explicit list: with none, aiortc would contact a public STUN server.

    ``relay_only``: gather relay candidates only (a site whose firewall allows nothing but
    the TURN server), as a browser's ``iceTransportPolicy: "relay"``.
    """
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in servers
        ],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL,
    )


def _first_url(server: Mapping[str, Any]) -> str:
    urls = server.get("urls")
    if isinstance(urls, list | tuple):
        return str(urls[0]) if urls else ""
    return str(urls or "")


def parse_turn_url(url: str) -> tuple[str, int, str, bool] | None:
    """``(host, port, transport, tls)`` of a ``turn:``/``turns:`` URL; None for others."""
    match = _TURN_URL.fullmatch(url.strip())
    if match is None:
        return None
    tls = match["scheme"] == "turns"
    transport = (match["transport"] or ("tcp" if tls else "udp")).lower()
    port = int(match["port"] or (5349 if tls else 3478))
    return match["host"].strip("[]"), port, transport, tls


def choose_servers(
    servers: Sequence[Mapping[str, Any]], turn_transport: str = "any"
) -> list[Mapping[str, Any]]:
    """STUN servers as given, TURN servers of ``turn_transport`` first.

    aiortc uses only the first TURN server it can, so the order decides which one it is.
    """
    if turn_transport == "any":
        return list(servers)
    turn = [s for s in servers if parse_turn_url(_first_url(s)) is not None]
    other = [s for s in servers if s not in turn]
    chosen = [s for s in turn if parse_turn_url(_first_url(s))[2] == turn_transport]  # type: ignore[index]
    return other + chosen + [s for s in turn if s not in chosen]


def first_turn_server(servers: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The TURN server aiortc will use (the first one), if any."""
    for server in servers:
        if parse_turn_url(_first_url(server)) is not None:
            return server
    return None


def has_relay_candidate(sdp: str) -> bool:
    return re.search(r"^a=candidate:.* typ relay", sdp, re.M) is not None


async def diagnose_turn(servers: Sequence[Mapping[str, Any]], timeout: float = 5.0) -> str:
    """Why no relay came from the TURN server aiortc used: one line for the log.

    A TURN allocation is tried with the same credentials: a 401 means they are wrong or
    expired, silence means the server cannot be reached over that transport.
    """
    server = first_turn_server(servers)
    if server is None:
        return (
            "no TURN server: none in this PC's ice_servers and none offered by the server "
            "(set turn_urls and turn_secret on the server)"
        )
    url = _first_url(server)
    parsed = parse_turn_url(url)
    assert parsed is not None
    host, port, transport, tls = parsed
    closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.DatagramProtocol):
        def connection_lost(self, exc: Exception | None) -> None:
            if not closed.done():
                closed.set_result(None)

    try:
        turn, _ = await asyncio.wait_for(
            aioice.turn.create_turn_endpoint(
                Probe,
                (host, port),
                username=server.get("username"),
                password=server.get("credential"),
                ssl=tls,
                transport=transport,
            ),
            timeout,
        )
    except aioice.stun.TransactionFailed as exc:
        code = exc.response.attributes.get("ERROR-CODE", (0, ""))
        if code[0] == 401:
            return (
                f"TURN server {url} refused the credentials (401 {code[1]}): they are wrong "
                "or expired (the Kohtaamo server's turn_secret must equal the TURN server's "
                "static-auth-secret, and both clocks must be right)"
            )
        return f"TURN server {url} refused the allocation ({code[0]} {code[1]})"
    except (TimeoutError, aioice.stun.TransactionTimeout):
        return (
            f"TURN server {url} did not answer over {transport.upper()}: is it running, and "
            f"does this site's firewall let {transport.upper()} to port {port} through?"
        )
    except OSError as exc:
        return f"TURN server {url} cannot be reached over {transport.upper()}: {exc}"
    turn.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(closed, 2.0)
    return f"TURN server {url} accepts the credentials now (the relay failed for another reason)"
