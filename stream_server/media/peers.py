"""Creating and closing aiortc peer connections the way the server needs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
from collections.abc import Sequence
from typing import Any

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


def _belongs_to(task: asyncio.Task[Any], pc: RTCPeerConnection) -> bool:
    """Whether ``task`` runs a method of ``pc`` (its coroutine's ``self``)."""
    frame = getattr(task.get_coro(), "cr_frame", None)
    return frame is not None and frame.f_locals.get("self") is pc


async def settle_tasks_of(pc: RTCPeerConnection, started: set[asyncio.Task[Any]]) -> None:
    """Cancel and collect the tasks ``pc`` started during a failed negotiation.

    aiortc schedules its connect task (``asyncio.ensure_future``, no reference kept) as soon
    as a description is set; when the rest of the negotiation then fails, that task runs on
    a half-made connection and fails too, and asyncio logs "Task exception was never
    retrieved" with a traceback long after the request was answered. Only tasks whose
    coroutine belongs to ``pc`` are touched (other peers' tasks started meanwhile are not).
    The connect method is a seam ("peer connect task" in :mod:`stream_server.media.seams`).
    """
    mine = [task for task in started if not task.done() and _belongs_to(task, pc)]
    mine += [task for task in started if task.done() and _belongs_to_done(task)]
    for task in mine:
        task.cancel()
    if mine:
        await asyncio.wait(mine, timeout=CLOSE_TIMEOUT)
    for task in mine:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: never logged as unretrieved


def _belongs_to_done(task: asyncio.Task[Any]) -> bool:
    # A finished task has no frame left to ask; a failed one of aiortc's is ours to collect
    # (only tasks started during this peer's own negotiation are ever passed in).
    if task.cancelled() or task.exception() is None:
        return False
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and "aiortc" in code.co_filename


async def close_peer(pc: RTCPeerConnection, label: str = "") -> None:
    """Close without ever hanging or raising: aiortc's close can do both on broken peers.

    When aiortc's own close fails part-way (a half-negotiated connection has transceivers
    without a transport), every transceiver and transport is stopped one by one, so no
    socket is left open; one log line says so, without a traceback.
    """
    try:
        await asyncio.wait_for(pc.close(), CLOSE_TIMEOUT)
        return
    except Exception as exc:
        logger.info(
            "%s: peer connection did not close cleanly (%s); stopping its parts",
            label,
            type(exc).__name__,
        )
    await _stop_parts(pc)


async def _stop_parts(pc: RTCPeerConnection) -> None:
    """Stop what a failed ``pc.close()`` may have left: senders, receivers, transports."""
    stops: list[Any] = []
    for transceiver in pc.getTransceivers():
        stops += [transceiver.sender.stop, transceiver.receiver.stop]
        for dtls in {transceiver.sender.transport, transceiver.receiver.transport}:
            if dtls is not None:
                stops.append(dtls.stop)
                if getattr(dtls, "transport", None) is not None:
                    stops.append(dtls.transport.stop)
    for stop in stops:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(stop(), CLOSE_TIMEOUT)


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
