"""``GET /api/sessions/{id}/events``: a session's news as Server-Sent Events.

For clients without the signaling WebSocket — WHEP players, the room agent — the same news
pages get: ``recording`` (on/off), ``ended``, and later ``caption`` and ``pin``. Each event's
``data`` is the WebSocket message itself (JSON, with its ``type``). The current recording
state comes first; a comment line every :data:`KEEPALIVE_SECONDS` keeps proxies from closing
an idle stream. Access is WHEP's: open for a public session, the join code (or a device
token) as ``Authorization: Bearer`` for a private one.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from stream_server.web.addresses import client_address
from stream_server.web.auth import bearer_token
from stream_server.web.keys import LIVE

routes = web.RouteTableDef()

KEEPALIVE_SECONDS = 15.0


def sse_event(message: dict[str, Any]) -> bytes:
    data = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    return f"event: {message['type']}\ndata: {data}\n\n".encode()


@routes.get("/api/sessions/{session_id}/events")
async def session_events(request: web.Request) -> web.StreamResponse:
    registry = request.app[LIVE]
    session = await registry.listener_session(
        request.match_info["session_id"], bearer_token(request), client_address(request)
    )
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
            "Access-Control-Allow-Origin": "*",
        }
    )
    with registry.news.listen(session.id) as news:
        await response.prepare(request)
        live = registry.get(session.id)
        await response.write(
            sse_event({"type": "recording", "on": live is not None and live.recording})
        )
        while True:
            try:
                message = await asyncio.wait_for(news.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if message is None:  # fell behind, or the server is stopping: reconnect
                break
            await response.write(sse_event(message))
            if message["type"] == "ended":
                break
    return response
