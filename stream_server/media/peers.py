"""Creating and closing aiortc peer connections the way the server needs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
from collections.abc import Sequence

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpTransceiver,
)
from aiortc.rtcrtpsender import RTCRtpSender

from stream_server.media import seams

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT = 5.0


def rtc_configuration(ice_servers: Sequence[dict[str, str]]) -> RTCConfiguration:
    """Always an explicit list: with none, aiortc would contact a public STUN server.

    max-bundle: with aiortc's default (balanced) policy a transceiver added in a later
    offer can be left on a transport that bundling already shut down, and gets no media.
    """
    return RTCConfiguration(
        bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
        iceServers=[
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in ice_servers
        ],
    )


def prefer_codec(transceiver: RTCRtpTransceiver, kind: str, codec_name: str) -> bool:
    """Restrict a transceiver to one codec (forwarding cannot translate between codecs).

    Returns False when the local side does not know the codec at all.
    """
    capabilities = RTCRtpSender.getCapabilities(kind)
    wanted = [
        c for c in capabilities.codecs if c.mimeType.lower() == f"{kind}/{codec_name}".lower()
    ]
    if not wanted:
        return False
    # RTX rides along so lost video packets can be retransmitted.
    rtx = [c for c in capabilities.codecs if c.mimeType.lower() == f"{kind}/rtx"]
    transceiver.setCodecPreferences(wanted + rtx)
    return True


#: A publisher's socket must not overflow while the loop is busy fanning out to viewers.
PUBLISHER_RECEIVE_BUFFER = 4 * 1024 * 1024


def enlarge_receive_buffers(pc: RTCPeerConnection, size: int = PUBLISHER_RECEIVE_BUFFER) -> int:
    """Give a publisher's ICE sockets a large receive buffer; returns how many were set.

    With many viewers the event loop spends most of each frame sending; a small kernel
    buffer then drops the publisher's packets (and ICE consent checks) before they are
    read. Call after ICE gathering (``setLocalDescription``). The kernel caps the size at
    ``net.core.rmem_max`` (raise it for large audiences).
    """
    count = 0
    for sock in seams.ice_sockets(pc):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            count += 1
    return count


async def close_peer(pc: RTCPeerConnection, label: str = "") -> None:
    """Close without ever hanging or raising: aiortc's close can do both on broken peers."""
    try:
        await asyncio.wait_for(pc.close(), CLOSE_TIMEOUT)
    except Exception:
        logger.warning("%s: peer connection did not close cleanly", label, exc_info=True)


#: File descriptors one peer connection holds: ICE and DTLS sockets, the direct RTP path's
#: duplicate of its socket (measured at 4-5).
FDS_PER_PEER = 5
#: Descriptors the server needs besides its peers: listening sockets, database connections,
#: recordings being written, HTTP and WebSocket connections of pages and staff.
FDS_RESERVED = 256


def open_file_limit_warning(limit: int, peers: int, estimated: bool = False) -> str | None:
    """A warning when ``limit`` open files cannot hold ``peers`` peer connections, else None.

    ``estimated``: ``peers`` is a guess, not a configured maximum (the text says so).
    """
    needed = peers * FDS_PER_PEER + FDS_RESERVED
    if limit >= needed:
        return None
    holds = max(0, (limit - FDS_RESERVED) // FDS_PER_PEER)
    what = f"an estimated {peers}" if estimated else f"max_peers = {peers}"
    return (
        f"the open file limit ({limit}) holds only about {holds} peer connections, not "
        f"{what} (about {needed} descriptors): raise it (systemd: LimitNOFILE=65536; "
        "shell: ulimit -n)"
    )


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.

    Each peer connection holds ~4 file descriptors, so the usual soft limit of 1024 runs
    out near 250 peers, long before the CPU does.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
