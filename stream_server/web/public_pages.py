"""The public programme (``/``), its notice-board view and event stream, and the
accessibility statement and privacy notice.

``/`` lists today and the coming weeks by day, filtered by area, library, category and
"can be joined online" through a plain GET form, so every view is a bookmarkable URL and
works without JavaScript. ``/?venue=X&view=board`` is the same listing for a library's
notice-board screen: large type, a few days, no form; it listens to
``GET /api/programme/events`` and swaps in ``&fragment=1`` on each ``programme`` event, so
it changes when the programme does, without reloading.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from stream_server import i18n
from stream_server.basics import CITY_TZ, DoorTimes, utcnow
from stream_server.catalog import public_listing
from stream_server.catalog import service as catalog
from stream_server.catalog.public_listing import Choices, PageFilter
from stream_server.config import Settings
from stream_server.db.models import Session, SessionStatus
from stream_server.web.keys import DATABASE, LIVE, SETTINGS
from stream_server.web.rendering import language, link, render

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()

#: Weeks the page shows at first, and how many more each "more" link adds, up to the most.
WEEKS_SHOWN = 4
MAX_WEEKS = 12
#: Days a notice board shows: today and the next two.
BOARD_DAYS = 3
#: The event stream: a comment this often keeps proxies from closing it; the browser waits
#: this long before reconnecting after the stream drops (EventSource ``retry:``).
KEEPALIVE_SECONDS = 15.0
RETRY_MS = 3000
#: When the accessibility statement was prepared (update it with the text).
STATEMENT_PREPARED = dt.date(2026, 12, 3)


# -- the listing ------------------------------------------------------------------------------
def _entry(
    request: web.Request, session: Session, lang: str, now: dt.datetime, doors: DoorTimes
) -> dict[str, Any]:
    """What one entry says: where, when, who organises, online or not, join or cancelled."""
    cancelled = session.status == SessionStatus.CANCELLED
    phase = catalog.session_phase(session, now, doors)
    category = f"reports.category.{session.category}"
    receivers = [f"{r.room.venue.name}, {r.room.name}" for r in session.receivers]
    return {
        "id": session.id,
        "title": session.title,
        "url": link(request, f"/sessions/{session.id}"),
        "starts_iso": session.starts_at.astimezone(CITY_TZ).isoformat(),
        "time_label": i18n.translate(
            "time.range",
            lang,
            start=i18n.format_time(session.starts_at, lang),
            end=i18n.format_time(session.ends_at, lang),
        ),
        "place": f"{session.room.venue.name}, {session.room.name}",
        "also_at": receivers,
        "organiser": session.organiser.name if session.organiser else None,
        "category_label": i18n.translate(category, lang) if category in i18n.MESSAGES else "",
        "online": session.online,
        "cancelled": cancelled,
        "cancel_reason": session.cancel_reason or "",
        "live": not cancelled and catalog.is_live(session, now, doors),
        # Doors are open: the join page lets people in now.
        "joinable": not cancelled and session.online and phase == catalog.Phase.OPEN,
    }


def _days(
    request: web.Request,
    sessions: list[Session],
    first_day: dt.date,
    lang: str,
    now: dt.datetime,
    doors: DoorTimes,
) -> list[dict[str, Any]]:
    """The entries by local day; a session running past midnight stays on its first day."""
    days: list[dict[str, Any]] = []
    for session in sessions:
        day = max(session.starts_at.astimezone(CITY_TZ).date(), first_day)
        if not days or days[-1]["date"] != day:
            if day == first_day:
                label = i18n.translate("programme.today", lang, day=i18n.format_day(day, lang))
            elif day == first_day + dt.timedelta(days=1):
                label = i18n.translate("programme.tomorrow", lang, day=i18n.format_day(day, lang))
            else:
                label = i18n.format_day(day, lang).capitalize()
            days.append({"date": day, "key": day.isoformat(), "label": label, "entries": []})
        days[-1]["entries"].append(_entry(request, session, lang, now, doors))
    return days


async def _listing(
    request: web.Request, days: int
) -> tuple[PageFilter, Choices, list[Session], dt.date, dt.datetime]:
    now = utcnow()
    today = now.astimezone(CITY_TZ).date()
    doors = request.app[SETTINGS].door_times
    async with request.app[DATABASE].session() as db:
        choices = await public_listing.filter_choices(db)
        page_filter = PageFilter.from_query(request.query, choices)
        sessions = await public_listing.list_programme(db, page_filter, today, days, now, doors)
    return page_filter, choices, sessions, today, now


def _weeks(request: web.Request) -> int:
    try:
        weeks = int(request.query.get("weeks", WEEKS_SHOWN))
    except ValueError:
        return WEEKS_SHOWN
    return max(1, min(weeks, MAX_WEEKS))


def _query(page_filter: PageFilter, lang: str | None, **extra: str) -> str:
    pairs = page_filter.as_query() + list(extra.items())
    if lang:
        pairs.append(("lang", lang))
    return urlencode(pairs)


@routes.get("/", name="index")
async def programme_page(request: web.Request) -> web.Response:
    """The public programme; ``view=board`` is the notice-board screen."""
    if request.query.get("view") == "board":
        return await _board(request)
    lang = language(request)
    weeks = _weeks(request)
    page_filter, choices, sessions, today, now = await _listing(request, weeks * 7)
    doors = request.app[SETTINGS].door_times
    picked_lang = request.query.get("lang") if request.query.get("lang") in i18n.LANGUAGES else None
    more = None
    if weeks < MAX_WEEKS:
        more = "/?" + _query(page_filter, picked_lang, weeks=str(weeks + WEEKS_SHOWN))
    return render(
        request,
        "programme.html",
        {
            "title": i18n.translate("programme.title", lang),
            "days": _days(request, sessions, today, lang, now, doors),
            "filter": page_filter,
            "filtered": bool(page_filter.as_query()),
            "choices": choices,
            "weeks": weeks,
            "more_url": more,
            "until": i18n.format_day(today + dt.timedelta(days=weeks * 7 - 1), lang),
            "clear_url": link(request, "/"),
            "extra_styles": ["listing.css"],
        },
    )


async def _board(request: web.Request) -> web.Response:
    lang = language(request)
    page_filter, choices, sessions, today, now = await _listing(request, BOARD_DAYS)
    settings: Settings = request.app[SETTINGS]
    doors = settings.door_times
    context: dict[str, Any] = {
        "days": _days(request, sessions, today, lang, now, doors),
        "next_change": public_listing.next_change(sessions, now, doors).isoformat(),
        "board": True,
    }
    if request.query.get("fragment") == "1":
        response = aiohttp_jinja2.render_template(
            "_programme_days.html", request, {**context, "_": i18n.Translator(lang)}
        )
        response.headers["Cache-Control"] = "no-store"
        return response
    venue = next((v for v in choices.venues if v.slug == page_filter.venue), None)
    heading = (
        i18n.translate("programme.board_heading_at", lang, place=venue.name)
        if venue
        else i18n.translate("programme.title", lang)
    )
    picked_lang = request.query.get("lang") if request.query.get("lang") in i18n.LANGUAGES else None
    return render(
        request,
        "programme_board.html",
        {
            **context,
            "title": heading,
            "heading": heading,
            "config": {
                "fragment_url": "/?" + _query(page_filter, picked_lang, view="board", fragment="1"),
                "events_url": "/api/programme/events",
            },
            "page_scripts": ["js/board.js"],
            "extra_styles": ["listing.css"],
        },
    )


# -- the event stream ------------------------------------------------------------------------
def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


@routes.get("/api/programme/events")
async def programme_events(request: web.Request) -> web.StreamResponse:
    """``event: programme`` whenever the public programme may have changed, and once at
    connect (a board that reconnects after a server restart re-reads what it missed).

    Public and non-identifying: the data is a change counter, nothing about who or what.
    """
    news = request.app[LIVE].programme_news
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # a reverse proxy must not hold events back
        }
    )
    await response.prepare(request)
    seen = news.version
    try:
        await response.write(f"retry: {RETRY_MS}\n".encode() + _event(seen))
        while not news.closed and not _client_gone(request):
            version = await news.wait(seen, KEEPALIVE_SECONDS)
            if news.closed:
                break
            if version == seen:
                await response.write(b": keep-alive\n\n")
                continue
            seen = version
            await response.write(_event(seen))
    except ConnectionResetError:
        logger.debug("programme event stream: client gone")
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


def _event(version: int) -> bytes:
    return f'event: programme\ndata: {{"version":{version}}}\n\n'.encode()


# -- the accessibility statement and the privacy notice ---------------------------------------
@routes.get("/saavutettavuus", name="accessibility")
async def accessibility(request: web.Request) -> web.Response:
    """The accessibility statement the Act on the Provision of Digital Services requires."""
    lang = language(request)
    settings: Settings = request.app[SETTINGS]
    return render(
        request,
        "accessibility.html",
        {
            "title": i18n.translate("a11y.title", lang),
            "contact": settings.accessibility_contact,
            "prepared": i18n.format_date(STATEMENT_PREPARED, lang),
            "extra_styles": ["listing.css"],
        },
    )


@routes.get("/tietosuoja", name="privacy")
async def privacy(request: web.Request) -> web.Response:
    """What is stored about people who take part, why, and for how long."""
    lang = language(request)
    settings: Settings = request.app[SETTINGS]
    days = settings.recording_retention_days
    attendance = settings.attendance_retention_days
    return render(
        request,
        "privacy.html",
        {
            "title": i18n.translate("privacy.title", lang),
            "recording_days": f"{days:g}" if days else None,
            "attendance_days": f"{attendance:g}" if attendance else None,
            "contact": settings.accessibility_contact,
            "extra_styles": ["listing.css"],
        },
    )


@routes.get("/accessibility")
async def accessibility_en(request: web.Request) -> web.Response:
    """The English address of the statement: the same page in English."""
    raise web.HTTPFound("/saavutettavuus?lang=en")


@routes.get("/privacy")
async def privacy_en(request: web.Request) -> web.Response:
    raise web.HTTPFound("/tietosuoja?lang=en")
