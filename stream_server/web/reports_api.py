"""Staff reports: ``GET /api/reports/attendance`` (JSON) and ``/api/reports/attendance.csv``.

Staff only (login cookie or ``Authorization: Bearer ks_…``); the measures are defined in
:mod:`stream_server.attendance.reports` and the README.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from aiohttp import web
from sqlalchemy.exc import OperationalError

from stream_server.attendance import reports, rollups
from stream_server.basics import CITY_TZ, utcnow
from stream_server.db.engine import Database
from stream_server.errors import BadRequest
from stream_server.staff import scope
from stream_server.web.auth import require_staff
from stream_server.web.keys import DATABASE, SETTINGS
from stream_server.web.rendering import language

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()
FRESHEN_ATTEMPTS = 4


async def _freshen(
    database: Database, query: reports.ReportQuery, now: dt.datetime, brief: float
) -> None:
    """Recompute stale rollups in a short transaction of its own.

    It writes while joins and leaves write too; should SQLite still report "database is
    locked" after its busy timeout, the work is simply retried.
    """
    lo, hi = reports.period_bounds(query)
    for attempt in range(FRESHEN_ATTEMPTS):
        try:
            async with database.session() as db:
                await rollups.freshen(db, lo, hi, now, brief)
            return
        except OperationalError:
            if attempt == FRESHEN_ATTEMPTS - 1:
                raise
            logger.info("report rollups: database busy, retrying")
            await asyncio.sleep(0.05 * (attempt + 1))


async def _report(request: web.Request, fmt: str | None) -> web.StreamResponse:
    identity = await require_staff(request)
    venue_id, organiser_id = scope.report_scope(identity)
    now = utcnow()
    try:
        query = reports.parse_query(
            request.query,
            now.astimezone(CITY_TZ).date(),
            fmt=fmt,
            lang=language(request),
        )
    except reports.ReportError as exc:
        raise BadRequest(str(exc), code=exc.code) from None
    database = request.app[DATABASE]
    brief = request.app[SETTINGS].brief_visit_seconds
    await _freshen(database, query, now, brief)
    async with database.session() as db:
        data = await reports.attendance_report(
            db, query, now, brief, freshen=False, venue_id=venue_id, organiser_id=organiser_id
        )
    if query.format == "csv":
        return web.Response(
            body=reports.report_csv(data, query),
            content_type="text/csv",
            charset="utf-8",
            headers={
                "Content-Disposition": (f'attachment; filename="{reports.csv_filename(query)}"'),
                "Cache-Control": "no-store",
            },
        )
    return web.json_response(data, headers={"Cache-Control": "no-store"})


@routes.get("/api/reports/attendance")
async def attendance_report(request: web.Request) -> web.StreamResponse:
    return await _report(request, None)


@routes.get("/api/reports/attendance.csv")
async def attendance_report_csv(request: web.Request) -> web.StreamResponse:
    return await _report(request, "csv")
