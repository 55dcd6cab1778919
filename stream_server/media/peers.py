"""Creating and closing aiortc peer connections the way the server needs them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpTransceiver
from aiortc.rtcrtpsender import RTCRtpSender

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT = 5.0


def rtc_configuration(ice_servers: Sequence[dict[str, str]]) -> RTCConfiguration:
    """Always an explicit list: with none, aiortc would contact a public STUN server."""
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in ice_servers
        ]
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


async def close_peer(pc: RTCPeerConnection, label: str = "") -> None:
    """Close without ever hanging or raising: aiortc's close can do both on broken peers."""
    try:
        await asyncio.wait_for(pc.close(), CLOSE_TIMEOUT)
    except Exception:
        logger.warning("%s: peer connection did not close cleanly", label, exc_info=True)
