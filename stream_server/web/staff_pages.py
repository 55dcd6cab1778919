"""The staff dashboard (today's sessions with live figures) and the reports page.

The dashboard is rendered complete on the server, so it is useful even before its script
runs; the script then keeps the figures current from the server-sent events of
:mod:`stream_server.web.staff_events`. The reports page is a form and empty tables that its
script fills from the report API (``/api/reports/attendance``), drawing charts with the
vendored Chart.js.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from stream_server.attendance.headcounts import latest_headcounts, session_venues
from stream_server.attendance.ledger import AttendanceLedger
from stream_server.basics import DOORS, DoorTimes
from stream_server.catalog import service as catalog
from stream_server.db.models import Session, StaffRole, Visibility
from stream_server.errors import BadRequest
from stream_server.i18n import Translator
from stream_server.staff import scope
from stream_server.staff.service import StaffIdentity
from stream_server.web.auth import require_staff, require_staff_page
from stream_server.web.keys import DATABASE, LEDGER, SETTINGS
from stream_server.web.rendering import catalogs, language, link, render, translator

routes = web.RouteTableDef()

#: Message ids the staff pages' scripts need (the whole catalogue would be mostly unused).
SCRIPT_MESSAGE_PREFIXES = ("dash.", "reports.", "mode.", "error.generic")
PERIODS = ("week", "month", "year", "custom")
GROUPS = ("area", "venue", "organiser", "category", "month")
#: How often the dashboard re-reads the day (sessions created elsewhere, phases moving with
#: the clock); ``/staff?refresh=SECONDS`` picks another period within these bounds.
REFRESH_SECONDS = 60
REFRESH_BOUNDS = (1, 3600)
#: At most this many cards are asked for at once (a day has far fewer sessions).
MAX_CARDS = 200
#: Custom periods longer than this are almost surely a typing error in the year.
MAX_PERIOD_DAYS = 366 * 5


#: The report API (built apart); the CSV twin answers the same query with ``.csv``.
REPORT_URL = "/api/reports/attendance"


def staff_links(
    request: web.Request, current: str, identity: StaffIdentity | None = None
) -> list[dict[str, Any]]:
    """The staff pages this person's role reaches (the audit log is for admins)."""
    pages = [
        ("/staff", "dash.dashboard_link"),
        ("/staff/programme", "dash.programme_link"),
        ("/staff/reports", "dash.reports_link"),
        ("/staff/organisers", "dash.organisers_link"),
    ]
    if identity is None or identity.role != StaffRole.COORDINATOR:
        pages.append(("/staff/devices", "dash.devices_link"))
    pages.append(("/staff/areas", "dash.areas_link"))
    if scope.everywhere(identity):
        pages.append(("/staff/recordings", "dash.recordings_link"))
    if scope.is_admin(identity):
        pages.append(("/staff/audit", "dash.audit_link"))
    return [
        {"url": link(request, path), "label": label, "current": path == current}
        for path, label in pages
    ]


def staff_page_context(
    request: web.Request, identity: StaffIdentity, path: str, title_key: str
) -> dict[str, Any]:
    """What every staff page's template needs: the title, the nav and the logout form."""
    return {
        "title": translator(request)(title_key),
        "staff_name": identity.name,
        "csrf_token": identity.csrf_token or "",
        "staff_links": staff_links(request, path, identity),
        "extra_styles": ["staff.css"],
    }


def csv_url(choice: dict[str, Any], decimal: str, lang: str) -> str:
    """The CSV download for the chosen report; ``decimal=comma`` suits Finnish spreadsheets.

    ``lang`` keeps the column headings in the language of the page.
    """
    query = urlencode(
        {
            "from": choice["from"],
            "to": choice["to"],
            "group_by": choice["group_by"],
            "decimal": decimal,
            "lang": lang,
        }
    )
    return f"{REPORT_URL}.csv?{query}"


def _script_messages(tr: Translator) -> dict[str, str | dict[str, str]]:
    return {
        key: text for key, text in tr.messages().items() if key.startswith(SCRIPT_MESSAGE_PREFIXES)
    }


# -- today's sessions and their figures -----------------------------------------------------------
def local_day(now: dt.datetime) -> tuple[dt.date, dt.datetime, dt.datetime]:
    """Today in Kuopio and its bounds in UTC (a day is 23 or 25 hours at DST changes)."""
    day = now.astimezone(catalog.CITY_TZ).date()
    start = dt.datetime.combine(day, dt.time(0), tzinfo=catalog.CITY_TZ)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=catalog.CITY_TZ)
    return day, start.astimezone(dt.UTC), end.astimezone(dt.UTC)


async def todays_sessions(
    db: AsyncSession, now: dt.datetime, identity: StaffIdentity | None = None
) -> list[Session]:
    """Sessions that overlap today's local day, private ones included, within the staff
    member's reach (a librarian's venue, a coordinator's organiser; the others see all)."""
    _, start, end = local_day(now)
    query = (
        catalog.session_query()
        .where(Session.starts_at < end, Session.ends_at > start)
        .order_by(Session.starts_at, Session.id)
    )
    clause = scope.visible_sessions_clause(identity)
    if clause is not None:
        query = query.where(clause)
    return list((await db.scalars(query)).all())


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def session_figures(
    db: AsyncSession,
    ledger: AttendanceLedger,
    session: Session,
    now: dt.datetime,
    tr: Translator,
    doors: DoorTimes = DOORS,
) -> dict[str, Any]:
    """One session as the dashboard shows it: schedule, venues with headcounts, live counts.

    ``in_person`` and ``total`` come from the ledger's summary when it has them; otherwise
    they are derived here from the latest headcounts, so both agree on one definition.
    """
    summary = await ledger.summary(session.id)
    counts = await latest_headcounts(db, session.id)
    online_now = _whole(summary.get("online_now")) or 0
    online_total = _whole(summary.get("online_total")) or 0
    in_person = _whole(summary.get("in_person"))
    if in_person is None:
        in_person = sum(counts.values())
    total = _whole(summary.get("total"))
    if total is None:
        total = in_person + online_total
    host_venue_id = session.room.venue_id
    venues = [
        {
            "slug": slug,
            "name": venue.name,
            "host": venue.id == host_venue_id,
            "capacity": capacity,
            "count": counts.get(slug),
        }
        for slug, (venue, capacity) in session_venues(session).items()
    ]
    figures: dict[str, Any] = {
        "id": session.id,
        "title": session.title,
        "starts_at": session.starts_at.astimezone(catalog.CITY_TZ).isoformat(),
        "ends_at": session.ends_at.astimezone(catalog.CITY_TZ).isoformat(),
        "time_label": tr(
            "time.range", start=tr.time(session.starts_at), end=tr.time(session.ends_at)
        ),
        "mode": session.mode.value,
        # How staff reach the session or tell someone how to: its code and its page.
        "join_code": session.join_code,
        "join_url": f"/j/{session.join_code}",
        "private": session.visibility != Visibility.PUBLIC,
        "phase": catalog.session_phase(session, now, doors),
        "live": catalog.is_live(session, now, doors),
        "venues": venues,
        "in_person": in_person,
        "online_now": online_now,
        "online_total": online_total,
        "total": total,
    }
    peak = _whole(summary.get("peak_online"))
    if peak is not None:
        figures["peak_online"] = peak
    return figures


async def today_figures(
    request: web.Request,
    lang: str,
    identity: StaffIdentity | None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    now = now or catalog.utcnow()
    day, _, _ = local_day(now)
    ledger = request.app[LEDGER]
    async with request.app[DATABASE].session() as db:
        sessions = await todays_sessions(db, now, identity)
        doors = request.app[SETTINGS].door_times
        tr = catalogs(request).translator(lang)
        items = [await session_figures(db, ledger, s, now, tr, doors) for s in sessions]
    return {"date": day.isoformat(), "sessions": items}


async def figures_for_session(
    request: web.Request, session_id: str, lang: str, identity: StaffIdentity | None = None
) -> dict[str, Any] | None:
    """Fresh figures for one session, or None when it no longer exists or is outside the
    staff member's reach."""
    now = catalog.utcnow()
    async with request.app[DATABASE].session() as db:
        session = await db.scalar(catalog.session_query().where(Session.id == session_id))
        if session is None or not scope.may_see_session(identity, session):
            return None
        doors = request.app[SETTINGS].door_times
        tr = catalogs(request).translator(lang)
        figures = await session_figures(db, request.app[LEDGER], session, now, tr, doors)
    _, start, end = local_day(now)
    figures["today"] = session.starts_at < end and session.ends_at > start
    return figures


# -- reports: the period picker -------------------------------------------------------------------
def period_bounds(period: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """The calendar week (Monday first), month or year that contains ``today``, inclusive."""
    if period == "week":
        start = today - dt.timedelta(days=today.weekday())
        return start, start + dt.timedelta(days=6)
    if period == "year":
        return dt.date(today.year, 1, 1), dt.date(today.year, 12, 31)
    start = today.replace(day=1)
    following = (start + dt.timedelta(days=32)).replace(day=1)
    return start, following - dt.timedelta(days=1)


def _parse_date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def report_choice(query: Any, today: dt.date) -> dict[str, Any]:
    """What the reports form asks for; a bad or missing value falls back, with a note."""
    period = query.get("period") or "month"
    if period not in PERIODS:
        period = "month"
    group_by = query.get("group_by") or "area"
    if group_by not in GROUPS:
        group_by = "area"
    problem = None
    if period == "custom":
        start, end = _parse_date(query.get("from")), _parse_date(query.get("to"))
        if start is None or end is None:
            problem = "reports.error.dates_missing"
        elif end < start:
            problem = "reports.error.dates_order"
        elif (end - start).days > MAX_PERIOD_DAYS:
            problem = "reports.error.dates_long"
        if problem is not None:
            period = "month"
    if period != "custom":
        start, end = period_bounds(period, today)
    assert start is not None and end is not None
    # The trend needs several months: the twelve months up to the period's end.
    months = end.year * 12 + end.month - 1 - 11
    trend_start = dt.date(months // 12, months % 12 + 1, 1)
    if start < trend_start:
        trend_start = start.replace(day=1)
    return {
        "period": period,
        "group_by": group_by,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "trend_from": trend_start.isoformat(),
        "problem": problem,
    }


# -- routes ---------------------------------------------------------------------------------------
def refresh_seconds(value: str | None) -> int:
    """The dashboard's re-read period; a bad value falls back to the default (a page, not an
    API: the person still gets a working dashboard)."""
    try:
        seconds = int(value) if value else REFRESH_SECONDS
    except ValueError:
        return REFRESH_SECONDS
    low, high = REFRESH_BOUNDS
    return seconds if low <= seconds <= high else REFRESH_SECONDS


@routes.get("/staff", name="staff_dashboard")
async def dashboard(request: web.Request) -> web.Response:
    identity = await require_staff_page(request)
    tr = translator(request)
    lang = tr.lang
    data = await today_figures(request, lang, identity)
    day = dt.date.fromisoformat(data["date"])
    return render(
        request,
        "staff_dashboard.html",
        {
            **staff_page_context(request, identity, "/staff", "dash.title"),
            "today": data,
            "day_label": tr.weekday_date(day),
            "page_scripts": ["js/staff/dashboard.js"],
            "config": {
                "lang": lang,
                "csrf_token": identity.csrf_token,
                "date": data["date"],
                "refresh_seconds": refresh_seconds(request.query.get("refresh")),
                "messages": _script_messages(tr),
            },
        },
    )


@routes.get("/staff/dashboard/cards")
async def dashboard_cards(request: web.Request) -> web.Response:
    """Cards (HTML, the dashboard's own template) for today's sessions named by ``?id=``:
    how the dashboard adds sessions created after it loaded, e.g. by the command line."""
    identity = await require_staff(request)
    wanted = request.query.getall("id", [])
    if not wanted or len(wanted) > MAX_CARDS:
        raise BadRequest(f"name 1 to {MAX_CARDS} sessions with ?id=", code="invalid_ids")
    lang = language(request)
    data = await today_figures(request, lang, identity)
    chosen = set(wanted)
    return render(
        request,
        "staff_dashboard_cards.html",
        {"sessions": [s for s in data["sessions"] if s["id"] in chosen]},
    )


@routes.get("/staff/reports", name="staff_reports")
async def reports_page(request: web.Request) -> web.Response:
    identity = await require_staff_page(request)
    tr = translator(request)
    lang = tr.lang
    today = catalog.utcnow().astimezone(catalog.CITY_TZ).date()
    choice = report_choice(request.query, today)
    shown = {
        key: tr.date(dt.date.fromisoformat(choice[key])) for key in ("from", "to", "trend_from")
    }
    return render(
        request,
        "staff_reports.html",
        {
            **staff_page_context(request, identity, "/staff/reports", "reports.title"),
            "choice": choice,
            "shown": shown,
            "periods": PERIODS,
            "groups": GROUPS,
            "csv_comma_url": csv_url(choice, "comma", lang),
            "csv_point_url": csv_url(choice, "point", lang),
            "page_scripts": ["vendor/chartjs/chart.umd.min.js", "js/staff/reports.js"],
            "config": {
                "lang": lang,
                "choice": choice,
                # The trend stops at this month and marks it unfinished.
                "today": today.isoformat(),
                "today_label": tr.date(today),
                "report_url": REPORT_URL,
                "messages": _script_messages(tr),
            },
        },
    )


@routes.get("/api/staff/today")
async def today(request: web.Request) -> web.Response:
    """Today's sessions with their figures: the dashboard's first paint and its resyncs."""
    identity = await require_staff(request)
    response = web.json_response(await today_figures(request, language(request), identity))
    response.headers["Cache-Control"] = "no-store"
    return response
