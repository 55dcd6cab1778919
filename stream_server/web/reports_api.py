"""Staff reports: ``GET /api/reports/attendance`` (JSON) and ``/api/reports/attendance.csv``.

Staff only (login cookie or ``Authorization: Bearer ks_…``); the measures are defined in
:mod:`stream_server.attendance.reports` and the README.
"""

from __future__ import annotations

from aiohttp import web

from stream_server.attendance import reports
from stream_server.catalog.service import CITY_TZ, utcnow
from stream_server.errors import BadRequest
from stream_server.web.auth import require_staff
from stream_server.web.keys import DATABASE, SETTINGS
from stream_server.web.rendering import language

routes = web.RouteTableDef()


async def _report(request: web.Request, fmt: str | None) -> web.StreamResponse:
    await require_staff(request)
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
    async with request.app[DATABASE].session() as db:
        data = await reports.attendance_report(
            db, query, now, request.app[SETTINGS].brief_visit_seconds
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
