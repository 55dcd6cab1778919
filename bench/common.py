"""What every benchmark process shares: loopback-only peers and one fixed video bitrate; and
what the client processes (:mod:`bench.clients`, :mod:`bench.fanout_clients`) share: the line
protocol with their driver, WHIP/WHEP negotiation, a batch of viewers, the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar

import aiortc.codecs.vpx
from aiohttp import ClientSession
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from stream_server.media.ice import restrict_host_addresses
from stream_server.media.peers import close_peer

#: Bitrate of every VP8 encoder in the benchmark, publisher's and baseline viewers' alike.
DEFAULT_KBPS = 1000
#: Offers a client process has in flight at once, so a batch does not stall the server's loop.
CONNECT_CONCURRENCY = 4
CONNECT_TIMEOUT = 30.0

logger = logging.getLogger("bench.common")


def loopback_only() -> None:
    """ICE host candidates from 127.0.0.1 only (aioice would otherwise use every interface)."""
    restrict_host_addresses(["127.0.0.1"])


def new_peer() -> RTCPeerConnection:
    """An explicit empty server list: otherwise aiortc would ask a public STUN server."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def pin_vp8_bitrate(kbps: int) -> None:
    """Hold every aiortc VP8 encoder in this process at ``kbps``, whatever REMB says.

    aiortc starts VP8 at 500 kbps and follows the receiver's REMB up to 1.5 Mbps; the
    publisher (estimated by the server) and the baseline's per-viewer encoders (estimated by
    the viewers) ramp differently, so without a pin the two paths would carry different
    bitrates. The limits are module globals read at each use, so setting them is enough.
    """
    bps = kbps * 1000
    aiortc.codecs.vpx.DEFAULT_BITRATE = bps
    aiortc.codecs.vpx.MIN_BITRATE = bps
    aiortc.codecs.vpx.MAX_BITRATE = bps


def reply(message: dict[str, Any]) -> None:
    """One JSON line to the driver."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def stdin_reader() -> asyncio.StreamReader:
    """The driver's commands; end of stdin means quit, so a client never outlives its driver."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def driver_commands(reader: asyncio.StreamReader) -> AsyncIterator[str]:
    """The driver's command lines, until ``quit`` or the end of stdin."""
    while (line := (await reader.readline()).decode().strip()) not in ("", "quit"):
        yield line


async def post_offer(
    pc: RTCPeerConnection, http: ClientSession, url: str, token: str | None
) -> str:
    """WHIP/WHEP: POST the complete offer (aiortc gathers before answering); the answer SDP."""
    await pc.setLocalDescription(await pc.createOffer())
    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with http.post(url, data=pc.localDescription.sdp.encode(), headers=headers) as resp:
        body = await resp.text()
        if resp.status != 201:
            raise RuntimeError(f"{url}: HTTP {resp.status}: {body[:200]}")
    return body


async def negotiate(
    pc: RTCPeerConnection, http: ClientSession, url: str, token: str | None
) -> None:
    """:func:`post_offer`, then apply the answer."""
    answer = await post_offer(pc, http, url, token)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))


class BenchViewer(Protocol):
    pc: RTCPeerConnection

    async def play(self, http: ClientSession, url: str, token: str | None) -> None: ...


V = TypeVar("V", bound=BenchViewer)


def viewer_connector(
    make: Callable[[], V], url: str, token: str | None
) -> Callable[[ClientSession], Awaitable[V | None]]:
    """``connect(http)``: one more viewer playing ``url``, or None (logged) if it failed; at
    most :data:`CONNECT_CONCURRENCY` offers in flight from this process."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def connect(http: ClientSession) -> V | None:
        viewer = make()
        try:
            async with gate:
                await viewer.play(http, url, token)
            return viewer
        except Exception as exc:
            logger.warning("viewer failed to connect: %r", exc)
            await close_peer(viewer.pc, "viewer")
            return None

    return connect


def client_parser(description: str, roles: tuple[str, ...]) -> argparse.ArgumentParser:
    """The command line every client process takes from its driver."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("role", choices=roles)
    parser.add_argument("--base", required=True, help="server URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--session", required=True)
    parser.add_argument("--token", default=None)
    parser.add_argument("--kbps", type=int, default=DEFAULT_KBPS, help="publisher's VP8 bitrate")
    parser.add_argument("--no-audio", dest="audio", action="store_false", help="video only")
    return parser


def setup_client(args: argparse.Namespace) -> None:
    """Logging tagged with the role, loopback-only ICE, the pinned VP8 bitrate."""
    logging.basicConfig(level=logging.WARNING, format=f"{args.role}: %(levelname)s %(message)s")
    loopback_only()
    pin_vp8_bitrate(args.kbps)
