"""Headers and checks every response and the WebSocket share.

* Every response says ``X-Content-Type-Options: nosniff`` (JSON, static files and errors
  too, not only pages), so no browser runs a JSON answer or an uploaded-looking file as a
  script or a page.
* The signaling WebSocket is refused (403, before the upgrade) to pages of other origins: a
  browser always sends ``Origin`` on a WebSocket, and it must be this server's own — the
  ``public_url`` setting's origin, or the host the request was sent to. Clients that are not
  browsers (the room agent, tests) send no ``Origin`` and are let through.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from stream_server.errors import Forbidden
from stream_server.web.keys import SETTINGS


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: headers for every response, whatever produced it."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


def own_origin(request: web.Request, origin: str) -> bool:
    """Whether ``origin`` is this server: ``public_url``'s origin or the request's host."""
    configured = request.app[SETTINGS].public_origin
    origin = origin.strip().lower()
    if configured is not None and origin == configured:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    return parts.netloc == (request.host or "").lower()


def check_websocket_origin(request: web.Request) -> None:
    """403 ``origin_not_allowed`` for a browser page of another origin (cross-site WebSocket)."""
    origin = request.headers.get("Origin")
    if origin is not None and not own_origin(request, origin):
        raise Forbidden(
            "this WebSocket is only for pages of this server", code="origin_not_allowed"
        )
