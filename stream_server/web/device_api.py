"""The device API: what kiosks, tablets and room PCs ask of the server (see docs/api.md, Devices).

Every call carries ``Authorization: Bearer kd_…``; a revoked device is refused at once.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from stream_server.basics import utcnow
from stream_server.devices import service as devices
from stream_server.errors import BadRequest
from stream_server.web.auth import device_from_token
from stream_server.web.json_body import read_json_object
from stream_server.web.keys import DATABASE, LIVE, SETTINGS

routes = web.RouteTableDef()


@routes.get("/api/device")
async def whoami(request: web.Request) -> web.Response:
    device = await device_from_token(request)
    return web.json_response(
        {"device": devices.device_to_json(device), "ice_servers": _ice_servers(request)}
    )


def _ice_servers(request: web.Request) -> list[dict[str, str]]:
    """STUN/TURN servers for the device's own peer connections (TURN credentials minted
    for it, valid ``turn_ttl`` seconds: a room agent takes fresh ones with each schedule)."""
    return request.app[LIVE].client_ice.as_dicts()


@routes.get("/api/device/schedule")
async def device_schedule(request: web.Request) -> web.Response:
    device = await device_from_token(request)
    try:
        days = int(request.query.get("days", "1"))
    except ValueError:
        raise BadRequest("days must be a whole number", code="invalid_query") from None
    now = utcnow()
    async with request.app[DATABASE].session() as db:
        sessions = await devices.schedule(db, device, now, days, request.app[SETTINGS].door_times)
    return web.json_response(
        {
            "device": devices.device_to_json(device, now),
            "now": now.isoformat(),
            "sessions": sessions,
            "ice_servers": _ice_servers(request),
        }
    )


@routes.post("/api/device/heartbeat")
async def device_heartbeat(request: web.Request) -> web.Response:
    device = await device_from_token(request)
    body = await read_json_object(request)
    state = body.get("state", "idle")
    session_id = body.get("session_id")
    detail = body.get("detail")
    if not isinstance(state, str) or state not in devices.DEVICE_STATES:
        raise BadRequest(
            f"state must be one of {', '.join(sorted(devices.DEVICE_STATES))}",
            code="invalid_heartbeat",
        )
    if session_id is not None and not isinstance(session_id, str):
        raise BadRequest("session_id must be a string or null", code="invalid_heartbeat")
    if detail is not None and not isinstance(detail, str):
        raise BadRequest("detail must be a string or null", code="invalid_heartbeat")
    now = utcnow()
    async with request.app[DATABASE].session() as db:
        row = await devices.get_device(db, device.id)
        assert row is not None
        await devices.record_heartbeat(db, row, state, session_id, detail, now)
    response: dict[str, Any] = {"ok": True, "server_time": now.isoformat()}
    return web.json_response(response)
