"""The JSON API."""

from __future__ import annotations

from aiohttp import web

from stream_server.catalog import service as catalog
from stream_server.errors import NotFound
from stream_server.web.keys import DATABASE, LEDGER

routes = web.RouteTableDef()


@routes.get("/api/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    """Public sessions that are live or upcoming; private ones are never listed."""
    now = catalog.utcnow()
    async with request.app[DATABASE].session() as db:
        sessions = await catalog.list_listed_sessions(db, now)
        return web.json_response({"sessions": [catalog.session_to_json(s, now) for s in sessions]})


@routes.get("/api/sessions/{session_id}")
async def get_session(request: web.Request) -> web.Response:
    """A private session is described only to whoever gives its join code (``?code=``)."""
    async with request.app[DATABASE].session() as db:
        session = await catalog.get_session(db, request.match_info["session_id"])
        if session is None or not catalog.may_view(session, request.query.get("code")):
            raise NotFound("no such session", code="unknown_session")
        return web.json_response(catalog.session_to_json(session))


@routes.get("/api/sessions/{session_id}/attendance")
async def attendance(request: web.Request) -> web.Response:
    session_id = request.match_info["session_id"]
    async with request.app[DATABASE].session() as db:
        if await catalog.get_session(db, session_id) is None:
            raise NotFound("no such session", code="unknown_session")
    return web.json_response(await request.app[LEDGER].summary(session_id))


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
