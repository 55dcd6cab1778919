"""What every benchmark process shares: loopback-only peers and one fixed video bitrate."""

from __future__ import annotations

import aiortc.codecs.vpx
from aiortc import RTCConfiguration, RTCPeerConnection

from stream_server.media.ice import restrict_host_addresses

#: Bitrate of every VP8 encoder in the benchmark, publisher's and baseline viewers' alike.
DEFAULT_KBPS = 1000


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
