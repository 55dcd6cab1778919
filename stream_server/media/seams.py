"""Every private part of aiortc, aioice and pylibsrtp that Kohtaamo touches, in one place.

Forwarding encoded media at SFU speed needs a few doors that these libraries do not offer
publicly (aiortc decodes what it receives and encodes what it sends; aioice gathers from
every interface). Each such door is a *seam*: it is listed once in :data:`SEAMS`, reached
only through a function of this module, and checked by :func:`check_aiortc_seams` at
start-up and in the tests. An upgrade that moves one fails loudly, naming it, instead of
silently falling back to something slower or wrong. The libraries are pinned in
``pyproject.toml`` (aiortc, aioice and pylibsrtp) for the same reason.

Nothing outside ``stream_server/media/`` imports aiortc, aioice or pylibsrtp; nothing outside
this module reaches their private attributes.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import importlib
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import aioice.candidate
import aioice.ice
import aioice.turn
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import HeaderExtensionsMap


@dataclasses.dataclass(frozen=True)
class Seam:
    """One private attribute used, where it lives and why.

    ``how``: ``"attribute"`` (looked up on the owner), ``"code"`` (a name used inside the
    owner's methods: name-mangled instance attributes are only visible there), or
    ``"module"`` (a module-level name, ``owner`` empty).
    """

    name: str
    module: str
    owner: str
    attribute: str
    how: str
    why: str

    def present(self) -> bool:
        try:
            module = importlib.import_module(self.module)
        except ImportError:
            return False
        if self.how == "module":
            return hasattr(module, self.attribute)
        owner = getattr(module, self.owner, None)
        if not isinstance(owner, type):
            return False
        if self.how == "attribute":
            return hasattr(owner, self.attribute)
        return self.attribute in _names_used(owner)


_SENDER = "_RTCRtpSender__"
_RECEIVER_JITTER = "_RTCRtpReceiver__jitter_buffer"
_EXTENSION_IDS = "_HeaderExtensionsMap__ids"

#: The table :func:`check_aiortc_seams` walks (and ``tests/test_seams.py`` breaks one by one).
SEAMS: tuple[Seam, ...] = (
    Seam(
        "receiver jitter buffer",
        "aiortc.rtcrtpreceiver",
        "RTCRtpReceiver",
        _RECEIVER_JITTER,
        "code",
        "swapped for a frame tap: a publisher's frames are forwarded, never decoded",
    ),
    Seam(
        "receiver PLI",
        "aiortc.rtcrtpreceiver",
        "RTCRtpReceiver",
        "_send_rtcp_pli",
        "attribute",
        "asks the publisher for a key frame when a subscriber needs one",
    ),
    Seam(
        "sender key-frame hook",
        "aiortc.rtcrtpsender",
        "RTCRtpSender",
        "_send_keyframe",
        "attribute",
        "a subscriber's PLI/FIR is relayed upstream (a forwarding sender ignores it)",
    ),
    Seam(
        "sender RTP loop",
        "aiortc.rtcrtpsender",
        "RTCRtpSender",
        "_run_rtp",
        "attribute",
        "replaced by the direct path: packetized once per frame for every subscriber",
    ),
    Seam(
        "sender retransmission",
        "aiortc.rtcrtpsender",
        "RTCRtpSender",
        "_retransmit",
        "attribute",
        "NACKs are answered from the direct path's own history",
    ),
    Seam(
        "sender RTCP handler",
        "aiortc.rtcrtpsender",
        "RTCRtpSender",
        "_handle_rtcp_packet",
        "attribute",
        "an auto-tier viewer's receiver reports are observed",
    ),
    Seam(
        "sender SSRC",
        "aiortc.rtcrtpsender",
        "RTCRtpSender",
        "_ssrc",
        "code",
        "the direct path writes the sender's own SSRC",
    ),
    *(
        Seam(
            f"sender {attr.replace('_', ' ')}",
            "aiortc.rtcrtpsender",
            "RTCRtpSender",
            f"{_SENDER}{attr}",
            "code",
            "state the direct path shares with aiortc's RTCP task (sender reports, NACK)",
        )
        for attr in (
            "rtp_started",
            "rtp_exited",
            "rtp_history",
            "rtp_header_extensions_map",
            "ntp_timestamp",
            "rtp_timestamp",
            "octet_count",
            "packet_count",
            "mid",
        )
    ),
    Seam(
        "header extension ids",
        "aiortc.rtp",
        "HeaderExtensionsMap",
        _EXTENSION_IDS,
        "code",
        "the direct path writes the MID and abs-send-time extensions itself",
    ),
    Seam(
        "DTLS SRTP session",
        "aiortc.rtcdtlstransport",
        "RTCDtlsTransport",
        "_tx_srtp",
        "code",
        "the direct path protects packets with the transport's SRTP session",
    ),
    Seam(
        "ICE nominated pairs",
        "aioice.ice",
        "Connection",
        "_nominated",
        "code",
        "the direct path sends straight to the nominated pair's socket",
    ),
    Seam(
        "ICE sockets",
        "aioice.ice",
        "Connection",
        "_protocols",
        "code",
        "a publisher's sockets get a large receive buffer",
    ),
    Seam(
        "ICE host addresses",
        "aioice.ice",
        "",
        "get_host_addresses",
        "module",
        "gathering is restricted to configured addresses (aioice has no option for it)",
    ),
    Seam(
        "ICE component gathering",
        "aioice.ice",
        "Connection",
        "get_component_candidates",
        "attribute",
        "host sockets bound to ports of the configured range (aioice binds any free port)",
    ),
    Seam(
        "ICE STUN protocol",
        "aioice.ice",
        "",
        "StunProtocol",
        "module",
        "the protocol of a host socket bound to a port of the range",
    ),
    Seam(
        "ICE server-reflexive query",
        "aioice.ice",
        "",
        "server_reflexive_candidate",
        "module",
        "STUN still finds the public address of a socket bound to a port of the range",
    ),
    Seam(
        "ICE candidate foundation",
        "aioice.candidate",
        "",
        "candidate_foundation",
        "module",
        "host candidates of a port range are named as aioice names its own",
    ),
    Seam(
        "ICE candidate priority",
        "aioice.candidate",
        "",
        "candidate_priority",
        "module",
        "host candidates of a port range are ranked as aioice ranks its own",
    ),
    Seam(
        "ICE socket buffer size",
        "aioice.turn",
        "",
        "UDP_SOCKET_BUFFER_SIZE",
        "module",
        "a host socket of the range gets the receive buffer aioice gives its own",
    ),
    Seam(
        "ICE STUN server",
        "aioice.ice",
        "Connection",
        "stun_server",
        "code",
        "server-reflexive candidates are asked for only when a STUN server is configured",
    ),
    Seam(
        "peer connect task",
        "aiortc.rtcpeerconnection",
        "RTCPeerConnection",
        "_RTCPeerConnection__connect",
        "attribute",
        "a refused offer's connect task (a method of the peer) is found and collected "
        "(media/peers.py settle_tasks_of)",
    ),
    Seam(
        "SRTP binding",
        "pylibsrtp._binding",
        "",
        "lib",
        "module",
        "srtp_protect called on the session's own buffer (two Python frames less per packet)",
    ),
    Seam(
        "SRTP session internals",
        "pylibsrtp",
        "Session",
        "_cdata",
        "code",
        "the fast protect path uses the session's context, buffer and length cell",
    ),
)


def _names_used(cls: type) -> set[str]:
    """Names used in the code of ``cls``'s own functions (where mangled attributes appear)."""
    names: set[str] = set()
    for value in vars(cls).values():
        function = getattr(value, "__func__", value)
        code = getattr(function, "__code__", None)
        if code is not None:
            names.update(code.co_names)
    return names


def missing_seams() -> list[Seam]:
    return [seam for seam in SEAMS if not seam.present()]


def check_aiortc_seams() -> None:
    """Fail loudly, naming each, if a library upgrade moved a seam this server relies on."""
    missing = missing_seams()
    if missing:
        names = "; ".join(f"{s.name} ({s.module}.{s.owner or ''}.{s.attribute})" for s in missing)
        raise RuntimeError(f"aiortc/aioice/pylibsrtp seams have moved: {names}")
    from pylibsrtp import Policy, Session

    probe = Session(Policy(key=bytes(30), ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    srtp_protector(probe)  # raises if the session's layout changed


# -- receivers -------------------------------------------------------------------------------
def install_frame_tap(receiver: RTCRtpReceiver, tap: Any) -> None:
    """Put ``tap`` where the receiver's jitter buffer was (it then never feeds the decoder)."""
    if not hasattr(receiver, _RECEIVER_JITTER):
        raise RuntimeError("aiortc's RTCRtpReceiver has no jitter buffer to replace")
    setattr(receiver, _RECEIVER_JITTER, tap)


def send_receiver_pli(receiver: RTCRtpReceiver, media_ssrc: int) -> Awaitable[None]:
    return receiver._send_rtcp_pli(media_ssrc)  # type: ignore[no-any-return]


# -- senders ---------------------------------------------------------------------------------
def hook_keyframe_requests(sender: RTCRtpSender, on_request: Callable[[], None]) -> None:
    sender._send_keyframe = on_request  # type: ignore[method-assign]


def replace_rtp_loop(
    sender: RTCRtpSender,
    run: Callable[[Any], Coroutine[Any, Any, None]],
    retransmit: Callable[[int], Coroutine[Any, Any, None]],
) -> None:
    sender._run_rtp = run  # type: ignore[method-assign, assignment]
    sender._retransmit = retransmit  # type: ignore[method-assign, assignment]


async def retransmit_with_aiortc(sender: RTCRtpSender, sequence_number: int) -> None:
    """aiortc's own NACK answer (RTX), for a packet already put in its history."""
    await RTCRtpSender._retransmit(sender, sequence_number)


def sender_ssrc(sender: RTCRtpSender) -> int:
    return sender._ssrc


def sender_state(sender: RTCRtpSender, name: str) -> Any:
    """One of the sender's private fields (``rtp_started``, ``rtp_history``, …)."""
    return getattr(sender, _SENDER + name)


#: Attribute names of the sender-report counters the direct path refreshes.
SR_NTP = _SENDER + "ntp_timestamp"
SR_RTP = _SENDER + "rtp_timestamp"
SR_OCTETS = _SENDER + "octet_count"
SR_PACKETS = _SENDER + "packet_count"


def extension_ids(extensions_map: HeaderExtensionsMap) -> Any:
    return getattr(extensions_map, _EXTENSION_IDS)


def observe_rtcp(sender: RTCRtpSender, observer: Callable[[Any], None]) -> None:
    """Let ``observer`` see every RTCP packet addressed to ``sender`` (before aiortc does)."""
    original = sender._handle_rtcp_packet

    async def handle_rtcp_packet(packet: Any) -> None:
        observer(packet)
        await original(packet)

    sender._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]


# -- transports ------------------------------------------------------------------------------
def nominated_path(dtls: RTCDtlsTransport) -> tuple[Any, Any, Any] | None:
    """(asyncio datagram transport, remote address, SRTP session) once connected, else None."""
    pair = dtls.transport._connection._nominated.get(1)
    srtp = dtls._tx_srtp
    if pair is None or srtp is None:
        return None
    return pair.protocol.transport, pair.remote_addr, srtp


def ice_sockets(pc: RTCPeerConnection) -> Iterator[Any]:
    """The UDP sockets of every ICE transport of ``pc`` (after gathering)."""
    seen: set[int] = set()
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport._connection
        for protocol in connection._protocols:
            sock = protocol.transport.get_extra_info("socket") if protocol.transport else None
            if sock is not None and id(sock) not in seen:
                seen.add(id(sock))
                yield sock


# -- aioice module state ---------------------------------------------------------------------
ORIGINAL_HOST_ADDRESSES: Callable[..., list[str]] = aioice.ice.get_host_addresses


def set_host_address_lister(lister: Callable[[bool, bool], list[str]] | None) -> None:
    """Process-wide (aioice reads a module global when a connection gathers)."""
    aioice.ice.get_host_addresses = lister or ORIGINAL_HOST_ADDRESSES  # type: ignore[assignment]


def host_addresses() -> list[str]:
    return aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True)  # type: ignore[no-any-return]


# -- aioice host sockets (a fixed UDP port range) --------------------------------------------
logger = logging.getLogger(__name__)

#: Binds one UDP socket for a host address, while one of the server's peers gathers; None
#: (everyone else, e.g. the room agent in the same test process): aioice's own gathering.
_HOST_SOCKETS: contextvars.ContextVar[Callable[[str], socket.socket] | None] = (
    contextvars.ContextVar("kohtaamo_host_sockets", default=None)
)
ORIGINAL_COMPONENT_CANDIDATES: Callable[..., Coroutine[Any, Any, list[Any]]] = (
    aioice.ice.Connection.get_component_candidates
)


@contextlib.contextmanager
def host_sockets_from(bind: Callable[[str], socket.socket]) -> Iterator[None]:
    """Host candidates gathered in this block (in this task and the tasks it starts, which
    copy its context) use the sockets ``bind(address)`` returns."""
    token = _HOST_SOCKETS.set(bind)
    try:
        yield
    finally:
        _HOST_SOCKETS.reset(token)


def install_host_socket_seam() -> None:
    """Process-wide, idempotent; inert outside :func:`host_sockets_from`."""
    aioice.ice.Connection.get_component_candidates = _component_candidates  # type: ignore[method-assign, assignment]


def host_socket_seam_installed() -> bool:
    return aioice.ice.Connection.get_component_candidates is _component_candidates  # type: ignore[comparison-overlap]


async def _component_candidates(
    connection: aioice.ice.Connection, component: int, addresses: list[str], timeout: int = 5
) -> list[Any]:
    """aioice 0.13's ``get_component_candidates`` with host sockets from ``bind``.

    Host candidates are built as aioice builds them; server-reflexive ones come from
    aioice's own STUN query on those sockets; the TURN relay is gathered by aioice itself
    (the original method with no host addresses does only that), all within ``timeout``.
    If ``bind`` raises (e.g. the range is full), the sockets already bound are closed and
    the error goes up to whoever asked for the gathering.
    """
    bind = _HOST_SOCKETS.get()
    if bind is None:
        return await ORIGINAL_COMPONENT_CANDIDATES(connection, component, addresses, timeout)
    loop = asyncio.get_running_loop()
    protocols: list[Any] = []
    candidates: list[Any] = []
    try:
        for address in addresses:
            try:
                sock = bind(address)
            except OSError as exc:  # an address that cannot be bound at all: aioice skips it
                logger.info("ICE: could not bind to %s: %s", address, exc)
                continue
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, aioice.turn.UDP_SOCKET_BUFFER_SIZE)
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: aioice.ice.StunProtocol(connection), sock=sock
            )
            protocols.append(protocol)
            host, port = transport.get_extra_info("sockname")[:2]
            protocol.local_candidate = aioice.Candidate(
                foundation=aioice.candidate.candidate_foundation("host", "udp", host),
                component=component,
                transport="udp",
                priority=aioice.candidate.candidate_priority(component, "host"),
                host=host,
                port=port,
                type="host",
            )
            candidates.append(protocol.local_candidate)
    except BaseException:
        for protocol in protocols:
            protocol.transport.close()
        raise
    connection._protocols += protocols

    tasks: list[asyncio.Task[Any]] = []
    if connection.stun_server:
        for protocol in protocols:
            if ipaddress.ip_address(protocol.local_candidate.host).version == 4:
                tasks.append(
                    asyncio.create_task(
                        aioice.ice.server_reflexive_candidate(protocol, connection.stun_server)
                    )
                )
    relay: asyncio.Task[list[Any]] = asyncio.create_task(
        ORIGINAL_COMPONENT_CANDIDATES(connection, component, [], timeout)
    )
    if tasks:
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception() is None:
                candidates.append(task.result()[0])
    candidates += await relay
    return candidates


# -- pylibsrtp -------------------------------------------------------------------------------
def srtp_protector(session: Any) -> Callable[[bytes], bytes]:
    """A faster ``session.protect`` for the fan-out.

    pylibsrtp's ``protect`` allocates a length cell and goes through two Python frames per
    packet; here the session's own buffer is used directly (same thread, so sharing it with
    aiortc's SRTCP is safe). No fallback: :func:`check_aiortc_seams` refuses to start if the
    layout moved.
    """
    from pylibsrtp import Error
    from pylibsrtp._binding import ffi, lib

    try:
        srtp, cdata, buffer = session._srtp[0], session._cdata, session._buffer
    except (AttributeError, TypeError) as exc:
        raise RuntimeError(f"pylibsrtp's Session layout changed: {exc}") from exc
    capacity = len(buffer) - 16 - 128  # pylibsrtp's SRTP_MAX_TRAILER_LEN
    length = ffi.new("int *")
    srtp_protect = lib.srtp_protect

    # The closure holds the session itself: its context is freed when the session object
    # is collected, and ``srtp`` is a raw pointer into it.
    def protect(packet: bytes, _keep: Any = session) -> bytes:
        size = len(packet)
        if size > capacity:
            raise ValueError("packet is too long")
        buffer[0:size] = packet
        length[0] = size
        status = srtp_protect(srtp, cdata, length)
        if status:
            raise Error(f"srtp_protect failed ({status})")
        return buffer[0 : length[0]]  # type: ignore[no-any-return]

    return protect
