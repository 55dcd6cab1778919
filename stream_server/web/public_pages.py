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

from stream_server.basics import CITY_TZ, DoorTimes, utcnow
from stream_server.catalog import public_listing
from stream_server.catalog import service as catalog
from stream_server.catalog.listing import Choices, ProgrammeFilter, filter_choices
from stream_server.config import Settings
from stream_server.db.models import Session, SessionStatus
from stream_server.i18n import Translator
from stream_server.web.keys import DATABASE, LIVE, SETTINGS
from stream_server.web.rendering import catalogs, link, render, translator

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
    request: web.Request, session: Session, tr: Translator, now: dt.datetime, doors: DoorTimes
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
        "time_label": tr(
            "time.range", start=tr.time(session.starts_at), end=tr.time(session.ends_at)
        ),
        "place": f"{session.room.venue.name}, {session.room.name}",
        "also_at": receivers,
        "organiser": session.organiser.name if session.organiser else None,
        "category_label": tr(category) if tr.has(category) else "",
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
    tr: Translator,
    now: dt.datetime,
    doors: DoorTimes,
) -> list[dict[str, Any]]:
    """The entries by local day; a session running past midnight stays on its first day."""
    days: list[dict[str, Any]] = []
    for session in sessions:
        day = max(session.starts_at.astimezone(CITY_TZ).date(), first_day)
        if not days or days[-1]["date"] != day:
            if day == first_day:
                label = tr("programme.today", day=tr.day(day))
            elif day == first_day + dt.timedelta(days=1):
                label = tr("programme.tomorrow", day=tr.day(day))
            else:
                label = _capitalised(tr.day(day))
            days.append({"date": day, "key": day.isoformat(), "label": label, "entries": []})
        days[-1]["entries"].append(_entry(request, session, tr, now, doors))
    return days


def _capitalised(text: str) -> str:
    """A heading's first letter in capitals (Finnish day names are written in lower case)."""
    return text[:1].upper() + text[1:]


async def _listing(
    request: web.Request, days: int
) -> tuple[ProgrammeFilter, Choices, list[Session], dt.date, dt.datetime]:
    now = utcnow()
    today = now.astimezone(CITY_TZ).date()
    doors = request.app[SETTINGS].door_times
    async with request.app[DATABASE].session() as db:
        choices = await filter_choices(db)
        page_filter = ProgrammeFilter.forgiving(request.query, choices)
        sessions = await public_listing.list_programme(db, page_filter, today, days, now, doors)
    return page_filter, choices, sessions, today, now


def _weeks(request: web.Request) -> int:
    try:
        weeks = int(request.query.get("weeks", WEEKS_SHOWN))
    except ValueError:
        return WEEKS_SHOWN
    return max(1, min(weeks, MAX_WEEKS))


def _query(page_filter: ProgrammeFilter, lang: str | None, **extra: str) -> str:
    pairs = page_filter.as_query() + list(extra.items())
    if lang:
        pairs.append(("lang", lang))
    return urlencode(pairs)


@routes.get("/", name="index")
async def programme_page(request: web.Request) -> web.Response:
    """The public programme; ``view=board`` is the notice-board screen."""
    if request.query.get("view") == "board":
        return await _board(request)
    tr = translator(request)
    weeks = _weeks(request)
    page_filter, choices, sessions, today, now = await _listing(request, weeks * 7)
    doors = request.app[SETTINGS].door_times
    picked_lang = catalogs(request).supported(request.query.get("lang"))
    more = None
    if weeks < MAX_WEEKS:
        more = "/?" + _query(page_filter, picked_lang, weeks=str(weeks + WEEKS_SHOWN))
    return render(
        request,
        "programme.html",
        {
            "title": tr("programme.title"),
            "days": _days(request, sessions, today, tr, now, doors),
            "filter": page_filter,
            "filtered": bool(page_filter.as_query()),
            "choices": choices,
            "weeks": weeks,
            "more_url": more,
            "until": tr.day(today + dt.timedelta(days=weeks * 7 - 1)),
            "clear_url": link(request, "/"),
            "extra_styles": ["listing.css"],
        },
    )


async def _board(request: web.Request) -> web.Response:
    tr = translator(request)
    page_filter, choices, sessions, today, now = await _listing(request, BOARD_DAYS)
    settings: Settings = request.app[SETTINGS]
    doors = settings.door_times
    context: dict[str, Any] = {
        "days": _days(request, sessions, today, tr, now, doors),
        "next_change": public_listing.next_change(sessions, now, doors).isoformat(),
        "board": True,
    }
    if request.query.get("fragment") == "1":
        response = aiohttp_jinja2.render_template(
            "_programme_days.html", request, {**context, "_": tr}
        )
        response.headers["Cache-Control"] = "no-store"
        return response
    venue = next((v for v in choices.venues if v.slug == page_filter.venue), None)
    heading = tr("programme.board_heading_at", place=venue.name) if venue else tr("programme.title")
    picked_lang = catalogs(request).supported(request.query.get("lang"))
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
    tr = translator(request)
    settings: Settings = request.app[SETTINGS]
    return render(
        request,
        "accessibility.html",
        {
            "title": tr("a11y.title"),
            "contact": settings.accessibility_contact,
            "prepared": tr.date(STATEMENT_PREPARED),
            "extra_styles": ["listing.css"],
        },
    )


@routes.get("/tietosuoja", name="privacy")
async def privacy(request: web.Request) -> web.Response:
    """What is stored about people who take part, why, and for how long."""
    tr = translator(request)
    settings: Settings = request.app[SETTINGS]
    days = settings.recording_retention_days
    attendance = settings.attendance_retention_days
    return render(
        request,
        "privacy.html",
        {
            "title": tr("privacy.title"),
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
