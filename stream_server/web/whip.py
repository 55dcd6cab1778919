"""WHIP ingest (RFC 9725) and WHEP playback endpoints."""

from __future__ import annotations

from aiohttp import web

from stream_server.errors import BadRequest, UnsupportedMediaType
from stream_server.web.addresses import client_address
from stream_server.web.auth import bearer_token
from stream_server.web.bodies import read_body
from stream_server.web.keys import LIVE, SETTINGS

routes = web.RouteTableDef()

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, DELETE, PATCH, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, Link, ETag",
}


async def read_sdp(request: web.Request) -> str:
    """The whole SDP offer, however many pieces it arrives in (413 past ``max_sdp_bytes``)."""
    if request.content_type != "application/sdp":
        raise UnsupportedMediaType(
            f"Content-Type must be application/sdp, not {request.content_type or 'missing'}",
            code="wrong_content_type",
        )
    limit = request.app[SETTINGS].max_sdp_bytes
    body = await read_body(request, limit, too_large_code="sdp_too_large", what="SDP")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("SDP is not valid UTF-8", code="invalid_sdp") from None


def ice_server_links(request: web.Request, turn: bool = True) -> list[str]:
    """RFC 9725 section 4.6: tell the client which STUN/TURN servers to use.

    TURN comes with credentials minted for this client (each response a fresh pair), and
    only with ``turn`` (the caller checked that this client may connect at all)."""
    live = request.app[LIVE]
    servers = live.client_ice.for_client() if turn else live.client_ice.configured
    links = []
    for server in servers:
        link = f'<{server.urls}>; rel="ice-server"'
        if server.username:
            link += f'; username="{server.username}"; credential="{server.credential or ""}"'
            link += '; credential-type="password"'
        links.append(link)
    return links


def created(
    request: web.Request, kind: str, session_id: str, resource_id: str, sdp: str
) -> web.Response:
    response = web.Response(status=201, text=sdp, content_type="application/sdp")
    response.headers["Location"] = f"/{kind}/{session_id}/{resource_id}"
    response.headers["ETag"] = f'"{resource_id}"'
    for link in ice_server_links(request):
        response.headers.add("Link", link)
    response.headers.update(CORS_HEADERS)
    return response


@routes.post("/whip/{session_id}")
async def whip_publish(request: web.Request) -> web.Response:
    session_id = request.match_info["session_id"]
    sdp = await read_sdp(request)
    answer = await request.app[LIVE].publish(
        session_id, bearer_token(request), sdp, client_address(request)
    )
    return created(request, "whip", session_id, answer.resource_id, answer.sdp)


@routes.post("/whep/{session_id}")
async def whep_play(request: web.Request) -> web.Response:
    session_id = request.match_info["session_id"]
    sdp = await read_sdp(request)
    tier = request.query.get("tier", "high")
    answer = await request.app[LIVE].play(
        session_id, bearer_token(request), sdp, tier, client_address(request)
    )
    return created(request, "whep", session_id, answer.resource_id, answer.sdp)


async def _delete(request: web.Request, kind: str) -> web.Response:
    await request.app[LIVE].delete(
        kind, request.match_info["session_id"], request.match_info["resource_id"]
    )
    return web.Response(status=200, headers=CORS_HEADERS)


@routes.delete("/whip/{session_id}/{resource_id}")
async def whip_delete(request: web.Request) -> web.Response:
    return await _delete(request, "whip")


@routes.delete("/whep/{session_id}/{resource_id}")
async def whep_delete(request: web.Request) -> web.Response:
    return await _delete(request, "whep")


@routes.patch("/whip/{session_id}/{resource_id}")
@routes.patch("/whep/{session_id}/{resource_id}")
async def trickle(request: web.Request) -> web.Response:
    """Trickle ICE is not supported: the answer already carries every candidate."""
    return web.json_response(
        {"error": {"code": "trickle_not_supported", "message": "send a complete offer instead"}},
        status=405,
        headers={"Allow": "DELETE, OPTIONS", **CORS_HEADERS},
    )


@routes.options("/whip/{session_id}")
@routes.options("/whep/{session_id}")
@routes.options("/whip/{session_id}/{resource_id}")
@routes.options("/whep/{session_id}/{resource_id}")
async def preflight(request: web.Request) -> web.Response:
    """CORS, and the ICE servers for a client that gathers before it offers (aiortc, OBS).

    TURN credentials only to a client that may connect to this session (the bearer is
    checked as a POST would check it): a browser's CORS preflight carries no bearer, so for
    a private session it gets the configured servers only (and TURN with its answer).
    """
    response = web.Response(status=204, headers=CORS_HEADERS)
    response.headers["Accept-Post"] = "application/sdp"
    live = request.app[LIVE]
    turn = (
        live.client_ice.has_turn
        and "resource_id" not in request.match_info
        and await live.admits(
            request.path.split("/")[1],
            request.match_info["session_id"],
            bearer_token(request),
            client_address(request),
        )
    )
    for link in ice_server_links(request, turn=turn):
        response.headers.add("Link", link)
    return response
