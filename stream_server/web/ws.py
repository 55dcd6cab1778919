"""The signaling WebSocket (see docs/signaling.md)."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
