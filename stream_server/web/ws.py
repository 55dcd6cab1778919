"""The signaling WebSocket (docs/signaling.md): transport, limits and dispatch.

Validation lives in :mod:`stream_server.signaling.protocol`, behaviour in
:mod:`stream_server.live.member`; this module only moves messages.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import WSMsgType, web

from stream_server.live.member import WsMember
from stream_server.signaling.protocol import (
    HARD_FRAME_BYTES,
    SILENCE_TIMEOUT,
    Answer,
    Chat,
    ChatDelete,
    Join,
    Moderate,
    Mute,
    ProtocolError,
    Publish,
    RateLimiter,
    Record,
    SetTier,
    Simple,
    Unpublish,
    parse_message,
)
from stream_server.web.addresses import client_address
from stream_server.web.keys import LIVE, METRICS
from stream_server.web.security import check_websocket_origin

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()

#: After this many rate-limit errors in a row the client is not listening: close.
MAX_STRIKES = 50
#: Join refusals that are about load, not about the page: it should come back later.
RETRY_LATER = frozenset({"rate_limited", "server_busy"})
#: RFC 6455's "Try Again Later".
TRY_AGAIN_LATER = 1013


class SocketChannel:
    """Adapts an aiohttp WebSocket to the service's ``Channel`` protocol."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        if not self._ws.closed:
            await self._ws.send_json(message)

    async def close(self, code: int, reason: str) -> None:
        if not self._ws.closed:
            await self._ws.close(code=code, message=reason.encode())


async def dispatch(member: WsMember, message: Any) -> bool:
    """Act on one message from a joined member; False when the connection should end."""
    if isinstance(message, Answer):
        await member.accept_answer(message.sdp)
    elif isinstance(message, Publish):
        await member.publish(message.tracks)
    elif isinstance(message, Unpublish):
        await member.unpublish(message.tracks)
    elif isinstance(message, Mute):
        await member.mute(message.audio, message.video)
    elif isinstance(message, SetTier):
        await member.set_tier(message.tier)
    elif isinstance(message, Moderate):
        await member.moderate(message.participant, message.action)
    elif isinstance(message, Record):
        await member.record(message.on)
    elif isinstance(message, Chat):
        await member.chat(message.text)
    elif isinstance(message, ChatDelete):
        await member.delete_chat(message.id)
    elif isinstance(message, Join):
        raise ProtocolError("already_joined", "this connection has already joined", "join")
    elif isinstance(message, Simple):
        if message.type == "ping":
            await member.send({"type": "pong"})
        elif message.type == "leave":
            return False
        elif message.type == "end":
            await member.end()
            return False
    return True


@routes.get("/ws")
async def signaling(request: web.Request) -> web.WebSocketResponse:
    check_websocket_origin(request)
    ws = web.WebSocketResponse(max_msg_size=HARD_FRAME_BYTES, heartbeat=None)
    await ws.prepare(request)
    channel = SocketChannel(ws)
    live = request.app[LIVE]
    protocol_errors = request.app[METRICS].protocol_errors
    address = client_address(request)  # for the join limits only: never logged
    limiter = RateLimiter()
    participant: WsMember | None = None
    strikes = 0
    reason = "left"
    try:
        while True:
            try:
                msg = await ws.receive(timeout=SILENCE_TIMEOUT)
            except TimeoutError:
                reason = "silent"
                protocol_errors.labels("silent").inc()
                await channel.send(ProtocolError("silent", "no message for 15 s").as_message())
                break
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                reason = "closed"
                break
            if msg.type == WSMsgType.ERROR:
                reason = "socket-error"
                break
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            if not limiter.allow():
                strikes += 1
                protocol_errors.labels("rate_limited").inc()
                await channel.send(ProtocolError("rate_limited", "too many messages").as_message())
                if strikes > MAX_STRIKES:
                    reason = "rate-limited"
                    break
                continue
            strikes = 0
            try:
                message = parse_message(msg.data)
                if participant is None:
                    if not isinstance(message, Join):
                        raise ProtocolError("not_joined", "send 'join' first", None)
                    try:
                        participant = await live.join(message, channel, address)
                    except ProtocolError as exc:
                        if exc.code in RETRY_LATER:
                            # Busy, not refused: close so that the page reconnects after
                            # its back-off instead of waiting on an open socket.
                            await channel.send(exc.as_message())
                            reason = exc.code
                            await channel.close(TRY_AGAIN_LATER, exc.code)
                            break
                        raise
                    continue
                if participant.closed:
                    reason = "replaced"
                    break
                if not await dispatch(participant, message):
                    break
            except ProtocolError as exc:
                # By session, never by the client's address (docs/privacy.md promises that).
                where = participant.live.id if participant is not None else "(not joined)"
                logger.info("ws %s: %s: %s", where, exc.code, exc.message)
                protocol_errors.labels(exc.code).inc()
                await channel.send(exc.as_message())
    except asyncio.CancelledError:
        reason = "server-shutdown"
        raise
    finally:
        if participant is not None:
            # aiohttp cancels this handler when the client's TCP connection drops; the
            # clean-up (attendance above all) must finish regardless, so it runs shielded.
            await asyncio.shield(live.spawn(participant.close(reason)))
        await channel.close(1000, reason)
    return ws
