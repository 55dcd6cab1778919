"""Join cards (A6) and posters (A4): the way in, on paper.

A home-care nurse hands a client a card; a library pins a poster by the door. Both say what,
when (for a weekly series: "joka tiistai klo 18.00–19.00 31.5. asti"), where, who organises,
that it is free and needs no registration, and carry the short join code in large type and a
QR code of the absolute join link (``public_url``, see :func:`rendering.absolute_url`), so a
phone camera opens the session from the paper.

``/sessions/{id}/card`` and ``/sessions/{id}/poster`` are open for public sessions; a private
group's need its host token (``?token=``) or a staff login that reaches the session, since
they print the group's join code. ``/j/{code}/card`` (the links nurses already have) renders
the same card: the code it is opened with is what the card carries anyway.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import segno
from aiohttp import web
from markupsafe import Markup

from stream_server.basics import CITY_TZ, utcnow
from stream_server.catalog import programme, recurrence
from stream_server.catalog import service as catalog
from stream_server.db.models import Series, Session, SessionStatus, Visibility
from stream_server.i18n import Translator
from stream_server.staff import scope
from stream_server.web.addresses import client_address
from stream_server.web.auth import staff_identity
from stream_server.web.keys import DATABASE, LIVE, SETTINGS
from stream_server.web.rendering import absolute_url, render, translator

routes = web.RouteTableDef()

#: The two printed sizes: their stylesheet sets ``@page { size: … }``.
FORMATS = {"card": "print-a6.css", "poster": "print-a4.css"}


def series_text(series: Series, tr: Translator, today: dt.date) -> str:
    """A weekly series as a person says it: "joka tiistai klo 18.00–19.00 31.5. asti"."""
    rule = programme.rule_of(series)
    names = [tr(f"cards.weekday.{recurrence.WEEKDAYS[d]}") for d in rule.weekdays]
    days = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {tr('cards.and')} {names[-1]}"
    starts = dt.datetime.combine(today, rule.local_time, tzinfo=CITY_TZ)
    ends = starts + dt.timedelta(minutes=series.minutes)
    until = (
        tr("cards.rule.until", date=tr.short_date(rule.until, today))
        if rule.until is not None
        else tr("cards.rule.count", count=rule.count)
    )
    return tr(
        "cards.rule", days=days, start=tr.time(starts), end=tr.time(ends), until=until
    ).strip()


def qr_svg(url: str) -> Markup:
    """The QR code as inline SVG (sharp at any print size; no image request, no data: URI)."""
    svg = segno.make(url, error="m").svg_inline(border=4, omitsize=True, dark="#000", light="#fff")
    # The picture is named by its wrapper (role="img"); the SVG itself is decoration.
    return Markup(svg.replace("<svg ", '<svg aria-hidden="true" focusable="false" ', 1))


async def _series_of(request: web.Request, session: Session) -> Series | None:
    if session.series_id is None:
        return None
    async with request.app[DATABASE].session() as db:
        return await db.get(Series, session.series_id)


async def _page(request: web.Request, session: Session, series: Series | None, kind: str) -> Any:
    tr = translator(request)
    now = utcnow()
    code = session.join_code
    join_url = absolute_url(request, f"/j/{code}")
    today = now.astimezone(CITY_TZ).date()
    if series is not None:
        when = series_text(series, tr, today)
    else:
        when = tr(
            "cards.once", when=tr.datetime(session.starts_at, now), end=tr.time(session.ends_at)
        )
    cancelled = series is None and session.status == SessionStatus.CANCELLED
    return render(
        request,
        "join_card.html",
        {
            "title": session.title,
            "extra_styles": ["cards.css", FORMATS[kind]],
            "kind": kind,
            "session_title": session.title,
            "when": when,
            "place": f"{session.room.name}, {session.room.venue.name}",
            "organiser": session.organiser.name if session.organiser else None,
            "cancel_reason": (session.cancel_reason or "–") if cancelled else None,
            "online": session.online,
            "code": code,
            "spaced_code": f"{code[:4]} {code[4:]}",
            "url": join_url,
            "qr": qr_svg(join_url),
        },
    )


def _notice(request: web.Request, body: str, status: int) -> web.Response:
    heading = "forbidden.title" if status == 403 else "notfound.title"
    return render(
        request,
        "notice.html",
        {
            "title": translator(request)(heading),
            "heading": heading,
            "body": body,
            "kind": "forbidden" if status == 403 else "not-found",
        },
        status=status,
    )


async def _may_print(request: web.Request, session: Session, series: Series | None) -> bool:
    """Public: anyone. Private: the session's (or series') host token, or staff who reach it."""
    if session.visibility == Visibility.PUBLIC:
        return True
    token = request.query.get("token")
    if catalog.secret_matches(token, session.host_token_hash):
        return True
    if series is not None and catalog.secret_matches(token, series.host_token_hash):
        return True
    identity = await staff_identity(request)
    return identity is not None and scope.may_see_session(identity, session)


async def _by_id(request: web.Request, kind: str) -> web.Response:
    async with request.app[DATABASE].session() as db:
        session = await catalog.get_session(db, request.match_info["session_id"])
    if session is None:
        return _notice(request, "notfound.session_body", 404)
    series = await _series_of(request, session)
    if not await _may_print(request, session, series):
        return _notice(request, "cards.forbidden_body", 403)
    return await _page(request, session, series, kind)


@routes.get("/sessions/{session_id}/card", name="session_card")
async def session_card(request: web.Request) -> web.Response:
    """An A6 card for the session, or for its series when it belongs to one."""
    return await _by_id(request, "card")


@routes.get("/sessions/{session_id}/poster", name="session_poster")
async def session_poster(request: web.Request) -> web.Response:
    """An A4 poster: the same as the card, sized for a notice board."""
    return await _by_id(request, "poster")


@routes.get("/j/{code}/card", name="join_card")
async def join_card(request: web.Request) -> web.Response:
    """The card by its join code (links handed out before the cards had a session address).

    Anyone with the code may open it; wrong codes count against the guessing limit."""
    code = catalog.normalise_join_code(request.match_info["code"])
    limits = request.app[LIVE].limits
    address = client_address(request)
    limits.check_codes(address)  # the card is a code look-up too: 429 for a guesser
    async with request.app[DATABASE].session() as db:
        session = (
            await catalog.get_session_by_code(db, code, utcnow(), request.app[SETTINGS].door_times)
            if code
            else None
        )
    if session is None:
        limits.code_failed(address)
        raise web.HTTPNotFound(reason="no such join code")
    return await _page(request, session, await _series_of(request, session), "card")
