"""Live figures for the staff dashboard as server-sent events (``GET /api/staff/events``).

The ledger publishes only "session X changed"; each stream reads the session's current
figures itself and sends them as ``event: attendance``. Events that pile up while a stream
is busy are merged per session, so a burst of joins costs one query per session, and the
subscriber queue is bounded (:mod:`stream_server.attendance.events`), so a stalled client
holds no growing memory. SSE rather than a WebSocket: one direction is all that is needed,
and the browser's ``EventSource`` reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import web

from stream_server.web import staff_pages
from stream_server.web.auth import require_staff
from stream_server.web.keys import LEDGER
from stream_server.web.rendering import language
from stream_server.web.staff_pages import figures_for_session

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()

#: A comment line this often keeps proxies and the browser from timing the stream out.
KEEPALIVE_SECONDS = 15.0
#: How often a waiting stream checks whether its client went away or the server stops.
TICK_SECONDS = 1.0
#: The browser's reconnection delay after the stream drops (EventSource ``retry:``).
RETRY_MS = 2000


class EventStreams:
    """The open streams, so that shutting the server down ends them at once."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self.open = 0


STREAMS = web.AppKey("staff_event_streams", EventStreams)


def setup(app: web.Application) -> None:
    """Register the staff pages and the event stream on ``app``."""
    app[STREAMS] = EventStreams()
    app.add_routes(staff_pages.routes)
    app.add_routes(routes)
    app.on_shutdown.append(_stop_streams)


async def _stop_streams(app: web.Application) -> None:
    app[STREAMS].stopping.set()


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def format_event(event: str, data: dict[str, Any]) -> bytes:
    """One SSE message; JSON has no raw newlines, so a single ``data:`` line suffices."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@routes.get("/api/staff/events")
async def staff_events(request: web.Request) -> web.StreamResponse:
    """Push each changed session's fresh figures to a logged-in staff member's dashboard."""
    identity = await require_staff(request)
    lang = language(request)
    streams = request.app[STREAMS]
    ledger = request.app[LEDGER]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # a reverse proxy must not hold events back
        }
    )
    streams.open += 1
    try:
        async with ledger.events.subscribe() as queue:
            await response.prepare(request)
            await response.write(f"retry: {RETRY_MS}\n: connected\n\n".encode())
            idle = 0.0
            while not streams.stopping.is_set() and not _client_gone(request):
                try:
                    first = await asyncio.wait_for(queue.get(), TICK_SECONDS)
                except TimeoutError:
                    idle += TICK_SECONDS
                    if idle >= KEEPALIVE_SECONDS:
                        idle = 0.0
                        await response.write(b": keep-alive\n\n")
                    continue
                idle = 0.0
                changed = {first["session_id"]: first["type"]}
                while not queue.empty():
                    event = queue.get_nowait()
                    changed[event["session_id"]] = event["type"]
                for session_id, what in changed.items():
                    figures = await figures_for_session(request, session_id, lang, identity)
                    if figures is None:
                        continue
                    figures["what"] = what
                    await response.write(format_event("attendance", figures))
    except ConnectionResetError:
        # The client went away mid-write: leaving the block unsubscribed it.
        logger.debug("staff event stream: client gone")
    finally:
        streams.open -= 1
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response
