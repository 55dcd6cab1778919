"""The programme's HTTP API for the city's other systems and the planning page.

Staff only: ``Authorization: Bearer ks_…`` (any role; its scope applies) or a login cookie
with its CSRF token. The routes, fields and error codes are documented in the README
("HTTP API: programme"); the rules live in :mod:`stream_server.catalog.programme`.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stream_server.basics import CITY_TZ, DoorTimes, utcnow
from stream_server.catalog import organisers, programme
from stream_server.db.models import Organiser, Venue
from stream_server.errors import BadRequest, InvalidField
from stream_server.staff import audit, scope
from stream_server.web.auth import require_staff
from stream_server.web.json_body import read_json_object
from stream_server.web.keys import DATABASE, LIVE, SETTINGS

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()


def _doors(request: web.Request) -> DoorTimes:
    return request.app[SETTINGS].door_times


# -- sessions and series -------------------------------------------------------------------------
@routes.post("/api/sessions")
async def create_sessions(request: web.Request) -> web.Response:
    """A one-off session, or a weekly series with ``recurrence``: ``201`` with the tokens."""
    identity = await require_staff(request)
    body = await read_json_object(request)
    now = utcnow()
    async with request.app[DATABASE].session() as db:
        created = await programme.create(db, identity, body, now)
        data = created.as_json(now, _doors(request))
    logger.info(
        "staff %s created %s (%d occurrence(s))",
        identity.name,
        data["series_id"] or data["id"],
        len(data["occurrences"]),
    )
    return web.json_response(data, status=201)


@routes.patch("/api/sessions/{session_id}")
async def edit_session(request: web.Request) -> web.Response:
    """One session, or one occurrence of a series (any field but ``recurrence``)."""
    identity = await require_staff(request)
    body = await read_json_object(request)
    now = utcnow()
    async with request.app[DATABASE].session() as db:
        session = await programme.edit_session(
            db, identity, request.match_info["session_id"], body, now, _doors(request)
        )
        data = programme.staff_session_json(session, now, _doors(request))
    await request.app[LIVE].sessions_changed([data["id"]])
    return web.json_response(data)


@routes.get("/api/series/{series_id}")
async def get_series(request: web.Request) -> web.Response:
    identity = await require_staff(request)
    now = utcnow()
    async with request.app[DATABASE].session() as db:
        series = await programme.load_series(db, request.match_info["series_id"])
        scope.require_manage_series(identity, series)
        occurrences = await programme.occurrences_of(db, series.id)
        data = programme.series_json(series, occurrences, now, _doors(request))
    return web.json_response(data)


@routes.patch("/api/series/{series_id}")
async def edit_following(request: web.Request) -> web.Response:
    """``{"from": SESSION_ID, ...fields}``: this occurrence and all following ones."""
    identity = await require_staff(request)
    body = await read_json_object(request)
    now = utcnow()
    async with request.app[DATABASE].session() as db:
        series = await programme.edit_following(
            db, identity, request.match_info["series_id"], body, now, _doors(request)
        )
        occurrences = await programme.occurrences_of(db, series.id)
        data = programme.series_json(series, occurrences, now, _doors(request))
    await request.app[LIVE].sessions_changed([o["id"] for o in data["occurrences"]])
    return web.json_response(data)


@routes.post("/api/sessions/{session_id}/cancel")
async def cancel_session(request: web.Request) -> web.Response:
    identity = await require_staff(request)
    body = await read_json_object(request)
    now = utcnow()
    async with request.app[DATABASE].session() as db:
        session = await programme.cancel_session(
            db, identity, request.match_info["session_id"], body, now, _doors(request)
        )
        data = programme.staff_session_json(session, now, _doors(request))
    await request.app[LIVE].sessions_changed([data["id"]])
    return web.json_response(data)


@routes.post("/api/series/{series_id}/cancel")
async def cancel_following(request: web.Request) -> web.Response:
    """``{"from": SESSION_ID, "reason": …}``: the rest of the series."""
    identity = await require_staff(request)
    body = await read_json_object(request)
    now = utcnow()
    async with request.app[DATABASE].session() as db:
        series, occurrences = await programme.cancel_following(
            db, identity, request.match_info["series_id"], body, now, _doors(request)
        )
        data = programme.series_json(series, occurrences, now, _doors(request))
    await request.app[LIVE].sessions_changed([o["id"] for o in data["occurrences"]])
    return web.json_response(data)


@routes.post("/api/sessions/{session_id}/end")
async def end_session(request: web.Request) -> web.Response:
    """The library's right to stop an event: everyone is disconnected, the session ends."""
    identity = await require_staff(request)
    session_id = request.match_info["session_id"]
    async with request.app[DATABASE].session() as db:
        session = await programme.check_end(db, identity, session_id, utcnow(), _doors(request))
        already = session.ended_at is not None
    if not already:
        await request.app[LIVE].end_session(session_id)
        async with request.app[DATABASE].session() as db:
            await programme.record_end(db, identity, session_id)
        logger.info("staff %s ended session %s", identity.name, session_id)
    async with request.app[DATABASE].session() as db:
        session = await programme.load_session(db, session_id)
        ended_at = session.ended_at
    return web.json_response(
        {
            "id": session_id,
            "status": "ended",
            "ended_at": ended_at.astimezone(CITY_TZ).isoformat() if ended_at else None,
        }
    )


async def _links(request: web.Request, *, series: bool) -> web.Response:
    identity = await require_staff(request)
    target = request.match_info["series_id" if series else "session_id"]
    async with request.app[DATABASE].session() as db:
        if series:
            tokens, ids = await programme.new_links(db, identity, series_id=target)
        else:
            tokens, ids = await programme.new_links(db, identity, session_id=target)
    await request.app[LIVE].sessions_changed(ids)
    host_path = f"/series/{target}/host" if series else f"/host/{target}"
    logger.info("staff %s issued new links for %s", identity.name, target)
    return web.json_response(
        {
            "id": target,
            "host_token": tokens.host,
            "publish_token": tokens.publish,
            "caption_token": tokens.caption,
            "host_url": f"{host_path}?token={tokens.host}",
            "sessions": ids,
        }
    )


@routes.post("/api/series/{series_id}/links")
async def series_links(request: web.Request) -> web.Response:
    """New host and publish tokens for every occurrence; the old ones stop working at once."""
    return await _links(request, series=True)


@routes.post("/api/sessions/{session_id}/links")
async def session_links(request: web.Request) -> web.Response:
    return await _links(request, series=False)


@routes.post("/api/sessions/{session_id}/invitations")
async def invite_tablet(request: web.Request) -> web.Response:
    """``{"device": ID}``: a private session (a series: all of it) on a tablet's home screen."""
    identity = await require_staff(request)
    body = await read_json_object(request)
    device = body.get("device")
    if isinstance(device, bool) or not isinstance(device, int):
        raise InvalidField("device", "device must be a device id")
    async with request.app[DATABASE].session() as db:
        invitation = await programme.invite_tablet(
            db, identity, device, request.match_info["session_id"]
        )
        data = {
            "device": invitation.device_id,
            "session_id": invitation.session_id,
            "series_id": invitation.series_id,
        }
    return web.json_response(data, status=201)


# -- the planning page's helpers -----------------------------------------------------------------
def parse_monday(value: str | None, today: dt.date) -> dt.date:
    """The Monday of the week that contains ``value`` (a date) or today."""
    day = today
    if value:
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise InvalidField("week", "week must be a date, YYYY-MM-DD") from None
    return day - dt.timedelta(days=day.weekday())


@routes.post("/api/programme/undo")
async def undo(request: web.Request) -> web.Response:
    """Take back this staff member's last programme change (409 ``nothing_to_undo``)."""
    identity = await require_staff(request)
    async with request.app[DATABASE].session() as db:
        entry = await programme.undo_last(db, identity)
        data = audit.entry_json(entry)
    ids = list((data["after"] or {}).get("sessions", {}))
    await request.app[LIVE].sessions_changed(ids)
    return web.json_response({"undone": data})


@routes.post("/api/programme/copy-week")
async def copy_week(request: web.Request) -> web.Response:
    """``{"week": "YYYY-MM-DD", "venue"?, "organiser"?, "category"?}``: one-off sessions of
    that week (within the caller's reach and the filters) to the next week."""
    identity = await require_staff(request)
    body = await read_json_object(request)
    today = utcnow().astimezone(CITY_TZ).date()
    week = body.get("week")
    if not isinstance(week, str):
        raise InvalidField("week", "week must be a date, YYYY-MM-DD")
    monday = parse_monday(week, today)
    async with request.app[DATABASE].session() as db:
        filters = await _filters(db, body)
        result = await programme.copy_week(db, identity, monday, **filters)
        data = {
            "copied": [programme.staff_session_json(s) for s in result.copied],
            "skipped": [{"id": s.id, "conflict": c} for s, c in result.skipped],
        }
    return web.json_response(data)


async def _filters(db: AsyncSession, body: dict[str, Any]) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if body.get("venue"):
        venue_id = await db.scalar(select(Venue.id).where(Venue.slug == body["venue"]))
        if venue_id is None:
            raise InvalidField("venue", "unknown venue")
        filters["venue_id"] = venue_id
    if body.get("organiser"):
        organiser_id = await db.scalar(
            select(Organiser.id).where(Organiser.slug == body["organiser"])
        )
        if organiser_id is None:
            raise InvalidField("organiser", "unknown organiser")
        filters["organiser_id"] = organiser_id
    if body.get("category"):
        if body["category"] not in programme.CATEGORIES:
            raise InvalidField("category", "unknown category")
        filters["category"] = body["category"]
    return filters


# -- organisers ----------------------------------------------------------------------------------
@routes.get("/api/organisers")
async def list_organisers(request: web.Request) -> web.Response:
    await require_staff(request)
    async with request.app[DATABASE].session() as db:
        rows = [organisers.organiser_json(o) for o in await organisers.list_organisers(db)]
    return web.json_response({"organisers": rows})


@routes.post("/api/organisers")
async def add_organiser(request: web.Request) -> web.Response:
    """``{"name", "kind", "slug"?, "contact_person"?, "contact_email"?}`` → ``201``."""
    identity = await require_staff(request)
    body = await read_json_object(request)
    async with request.app[DATABASE].session() as db:
        organiser = await organisers.add_organiser(db, identity, body)
        data = organisers.organiser_json(organiser)
    return web.json_response(data, status=201)


@routes.patch("/api/organisers/{slug}")
async def edit_organiser(request: web.Request) -> web.Response:
    identity = await require_staff(request)
    body = await read_json_object(request)
    async with request.app[DATABASE].session() as db:
        organiser = await organisers.edit_organiser(db, identity, request.match_info["slug"], body)
        data = organisers.organiser_json(organiser)
    return web.json_response(data)


# -- the audit log -------------------------------------------------------------------------------
@routes.get("/api/audit")
async def audit_log(request: web.Request) -> web.Response:
    """Admins only; newest first, ``?limit=`` (1-200, 50) and ``?before=ID`` to page on."""
    identity = await require_staff(request)
    scope.require_admin(identity)
    try:
        limit = int(request.query.get("limit", "50"))
        before = int(request.query["before"]) if "before" in request.query else None
    except ValueError:
        raise BadRequest("limit and before are whole numbers", code="invalid_param") from None
    if not 1 <= limit <= audit.MAX_PAGE:
        raise BadRequest(f"limit is from 1 to {audit.MAX_PAGE}", code="invalid_param")
    async with request.app[DATABASE].session() as db:
        entries = await audit.list_entries(db, before_id=before, limit=limit)
        data = [audit.entry_json(e) for e in entries]
    following = data[-1]["id"] if len(data) == limit else None
    return web.json_response({"entries": data, "next_before": following})
