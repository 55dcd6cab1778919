"""The JSON API."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from stream_server.attendance import headcounts
from stream_server.attendance.headcounts import Recorder
from stream_server.catalog import service as catalog
from stream_server.db.models import SessionStatus
from stream_server.errors import BadRequest, Conflict, Forbidden, NotFound
from stream_server.staff import audit, scope
from stream_server.web.addresses import client_address
from stream_server.web.auth import bearer_token, device_from_token, is_device_token, require_staff
from stream_server.web.json_body import read_json_object
from stream_server.web.keys import DATABASE, LEDGER, LIVE, SETTINGS
from stream_server.web.rendering import absolute_url

routes = web.RouteTableDef()


@routes.get("/api/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    """Public sessions that are live or upcoming; private ones are never listed."""
    now = catalog.utcnow()
    async with request.app[DATABASE].session() as db:
        doors = request.app[SETTINGS].door_times
        sessions = await catalog.list_listed_sessions(db, now, doors)
        listed = [
            _with_absolute_links(request, catalog.session_to_json(s, now, doors)) for s in sessions
        ]
        return web.json_response({"sessions": listed})


@routes.get("/api/sessions/{session_id}")
async def get_session(request: web.Request) -> web.Response:
    """A private session is described only to whoever gives its join code (``?code=``)."""
    code = request.query.get("code")
    limits = request.app[LIVE].limits
    address = client_address(request)
    if code is not None:
        limits.check_codes(address)
    async with request.app[DATABASE].session() as db:
        session = await catalog.get_session(db, request.match_info["session_id"])
        if session is None or not catalog.may_view(session, code):
            if code is not None:
                limits.code_failed(address)  # a guessed code is a failed code
            raise NotFound("no such session", code="unknown_session")
        data = catalog.session_to_json(session, doors=request.app[SETTINGS].door_times)
        return web.json_response(_with_absolute_links(request, data))


def _with_absolute_links(request: web.Request, data: dict[str, Any]) -> dict[str, Any]:
    """The API's links leave the server (a WHEP player is given ``whep_url`` as it is):
    absolute, on ``public_url`` or this request's origin."""
    return {
        key: absolute_url(request, value)
        if key.endswith("_url") and isinstance(value, str) and value.startswith("/")
        else value
        for key, value in data.items()
    }


@routes.get("/api/sessions/{session_id}/attendance")
async def attendance(request: web.Request) -> web.Response:
    """Public on purpose: counts only, never who (see docs/api.md, Attendance)."""
    figures = await request.app[LEDGER].figures(request.match_info["session_id"])
    if figures is None:
        raise NotFound("no such session", code="unknown_session")
    return web.json_response(figures)


@routes.post("/api/sessions/{session_id}/headcount")
async def record_headcount(request: web.Request) -> web.Response:
    """Staff (cookie + CSRF, or API token) or a room device of that venue records a count."""
    identity = None
    if is_device_token(bearer_token(request)):
        recorder = Recorder(device=await device_from_token(request))
    else:
        identity = await require_staff(request)
        recorder = Recorder(staff_id=identity.staff_id)
    body = await read_json_object(request)
    venue = body.get("venue")
    if not isinstance(venue, str) or not venue:
        raise BadRequest("venue must be a venue slug", code="headcount_invalid")
    session_id = request.match_info["session_id"]
    async with request.app[DATABASE].session() as db:
        session = await catalog.get_session(db, session_id)
        if session is None:
            raise NotFound("no such session", code="unknown_session")
        if session.status == SessionStatus.CANCELLED:
            raise Conflict("a cancelled session has no headcount", code="session_cancelled")
        place = headcounts.session_venues(session).get(venue)
        if recorder.staff_id is not None and place is not None:
            scope.require_count_at(identity, session, place[0].id)
        try:
            row = await headcounts.record_headcount(
                db,
                session,
                venue,
                body.get("count"),
                recorder,
                doors=request.app[SETTINGS].door_times,
            )
        except headcounts.HeadcountWrongVenue as exc:
            raise Forbidden(str(exc), code="headcount_wrong_venue") from None
        except headcounts.HeadcountNotLive as exc:
            raise Conflict(str(exc), code="session_not_live") from None
        except headcounts.HeadcountError as exc:
            raise BadRequest(str(exc), code="headcount_invalid") from None
        latest = await headcounts.latest_headcounts(db, session_id)
        if recorder.staff_id is not None:
            await audit.record(
                db,
                identity,
                "headcount",
                "session",
                session_id,
                None,
                {"venue": venue, "count": row.count},
            )
    request.app[LEDGER].changed(session_id, "headcount")
    return web.json_response(
        {
            "headcount": {
                "venue": venue,
                "count": row.count,
                "recorded_at": row.recorded_at.isoformat(),
            },
            "in_person": sum(latest.values()),
            "by_venue": latest,
        },
        status=201,
    )
