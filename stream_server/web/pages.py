"""HTML pages: the join page and the presenter page (the programme is in public_pages).

The pages are thin: they decide which view a person should see (join UI, "not started
yet", "ended", not found, no access) and hand the session to the page scripts in
``web/static``, which speak the WebSocket protocol of docs/signaling.md.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from stream_server.basics import DoorTimes
from stream_server.catalog import feeds
from stream_server.catalog import service as catalog
from stream_server.config import PROJECT_ROOT
from stream_server.db.models import Series, Session, SessionMode, SessionStatus
from stream_server.i18n import Translator
from stream_server.web.addresses import client_address
from stream_server.web.keys import DATABASE, LIVE, SETTINGS
from stream_server.web.rendering import absolute_url as _absolute_url
from stream_server.web.rendering import base_url as _base_url
from stream_server.web.rendering import catalogs as _catalogs
from stream_server.web.rendering import link as _link
from stream_server.web.rendering import render as _render
from stream_server.web.rendering import translator as _translator

TEMPLATES = PROJECT_ROOT / "web" / "templates"
routes = web.RouteTableDef()

#: The page scripts' channel for a person's device; ``?channel=`` may pick another.
PARTICIPANT_CHANNELS = ("tablet", "browser", "kiosk", "room-link")


def setup(app: web.Application) -> None:
    """Register templates and page routes on ``app``."""
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    app.add_routes(routes)


def _session_view(
    session: Session, tr: Translator, now: dt.datetime, doors: DoorTimes
) -> dict[str, Any]:
    """What the templates show about a session, times already in Kuopio's local time."""
    data = catalog.session_to_json(session, now, doors)
    data["starts_local"] = tr.datetime(session.starts_at, now)
    data["ends_local"] = tr.time(session.ends_at)
    data["starts_iso"] = session.starts_at.astimezone(catalog.CITY_TZ).isoformat()
    data["mode_label"] = tr(f"mode.{session.mode.value}")
    # What a person looks for ("Laulu", "Liikunta"), not how it is delivered.
    category = f"reports.category.{session.category}"
    data["category_label"] = tr(category) if tr.has(category) else data["mode_label"]
    local = session.starts_at.astimezone(catalog.CITY_TZ)
    data["day"] = local.date()
    data["time_label"] = tr(
        "time.range", start=tr.time(session.starts_at), end=tr.time(session.ends_at)
    )
    return data


def _notice(
    request: web.Request, heading: str, body: str, status: int, **extra: Any
) -> web.Response:
    context = {"title": _translator(request)(heading), "heading": heading, "body": body}
    context.update(extra)
    return _render(request, "notice.html", context, status=status)


def _not_found(request: web.Request, by_code: bool, typed: str = "") -> web.Response:
    body = "notfound.code_body" if by_code else "notfound.session_body"
    # A wrong code gets the field again (with what was typed), to try once more at once.
    extra: dict[str, Any] = {"by_code": by_code, "retry": True}
    if by_code:
        extra["typed_code"] = typed[:20]
    return _notice(request, "notfound.title", body, status=404, kind="not-found", **extra)


def _phase_page(
    request: web.Request, session: Session, now: dt.datetime, extra: dict[str, Any] | None = None
) -> web.Response | None:
    """The "not started yet", "ended", "cancelled" or "in person only" page, or None when
    doors are open. ``extra`` goes into the page's context (a public page's JSON-LD)."""
    extra = extra or {}
    tr = _translator(request)
    doors = request.app[SETTINGS].door_times
    phase = catalog.session_phase(session, now, doors)
    view = _session_view(session, tr, now, doors)
    if session.status == SessionStatus.CANCELLED:
        return _notice(
            request,
            "cancelled.heading",
            "cancelled.body",
            status=200,
            kind="cancelled",
            session=view,
            **extra,
            body_params={"reason": session.cancel_reason or "–"},
        )
    if not session.online and phase != catalog.Phase.ENDED:
        return _notice(
            request,
            "in_person.heading",
            "in_person.body",
            status=200,
            kind="in-person",
            session=view,
            **extra,
            body_params={
                "place": f"{view['venue_name']}, {view['room_name']}",
                "when": view["starts_local"],
            },
        )
    if phase == catalog.Phase.UPCOMING:
        opens_in = (session.starts_at - doors.open_before - now).total_seconds()
        return _notice(
            request,
            "upcoming.heading",
            "upcoming.body",
            status=200,
            kind="upcoming",
            session=view,
            **extra,
            body_params={"when": view["starts_local"]},
            # The page reloads itself when doors open (a script timer; no meta refresh).
            reload_in=max(1, math.ceil(opens_in) + 1),
        )
    if phase == catalog.Phase.ENDED:
        return _notice(
            request, "ended.heading", "ended.body", status=200, kind="ended", session=view, **extra
        )
    return None


def _participant_channel(request: web.Request) -> str | None:
    """A ``?channel=`` override (kiosks, room links); otherwise the script decides."""
    channel = request.query.get("channel")
    return channel if channel in PARTICIPANT_CHANNELS else None


def _client_config(
    tr: Translator, session: Session, role: str, join: dict[str, str], channel: str | None
) -> dict[str, Any]:
    """What the page's script needs to join (rendered as JSON into the page)."""
    return {
        "lang": tr.lang,
        "role": role,
        "join": join,
        "session_id": session.id,
        "mode": session.mode.value,
        "channel": channel,
        "messages": tr.messages(),
    }


def _join_page(
    request: web.Request,
    session: Session,
    now: dt.datetime,
    join: dict[str, str],
    extra: dict[str, Any] | None = None,
) -> web.Response:
    tr = _translator(request)
    phase_page = _phase_page(request, session, now, extra)
    if phase_page is not None:
        return phase_page
    view = _session_view(session, tr, now, request.app[SETTINGS].door_times)
    config = _client_config(tr, session, "participant", join, _participant_channel(request))
    return _render(
        request,
        "join.html",
        {
            "title": session.title,
            "session": view,
            "config": config,
            "page_scripts": ["js/join.js"],
            "is_group": session.mode == SessionMode.GROUP,
            **(extra or {}),
        },
    )


# -- routes -----------------------------------------------------------------------------------
@routes.get("/j", name="join_code_form")
async def join_code_form(request: web.Request) -> web.Response:
    """The code form on the front page submits here; redirect to the code's page."""
    code = catalog.normalise_join_code(request.query.get("code", ""))
    if not code:
        raise web.HTTPFound(_link(request, "/"))
    raise web.HTTPFound(_link(request, f"/j/{code}"))


@routes.get("/j/{code}", name="join_by_code")
async def join_by_code(request: web.Request) -> web.Response:
    """A join code opens any session, private ones included (it is what people are given)."""
    code = catalog.normalise_join_code(request.match_info["code"])
    now = catalog.utcnow()
    limits = request.app[LIVE].limits
    address = client_address(request)
    limits.join(address)  # 429 when this address joins too often or guesses codes
    doors = request.app[SETTINGS].door_times
    async with request.app[DATABASE].session() as db:
        session = await catalog.get_session_by_code(db, code, now, doors) if code else None
        if session is None:
            limits.code_failed(address)
            return _not_found(request, by_code=True, typed=request.match_info["code"])
        return _join_page(request, session, now, {"code": code})


@routes.get("/api/join-codes/{code}", name="join_code_lookup")
async def join_code_lookup(request: web.Request) -> web.Response:
    """What a join code opens: the tablet page asks before joining in place.

    It tells no more than ``/j/{code}`` shows anyone holding the code.
    """
    code = catalog.normalise_join_code(request.match_info["code"])
    now = catalog.utcnow()
    limits = request.app[LIVE].limits
    address = client_address(request)
    limits.check_codes(address)
    doors = request.app[SETTINGS].door_times
    async with request.app[DATABASE].session() as db:
        session = await catalog.get_session_by_code(db, code, now, doors) if code else None
        if session is None:
            limits.code_failed(address)
            return web.json_response(
                {"error": {"code": "join_code_invalid", "message": "no session has this code"}},
                status=404,
            )
        data = catalog.session_to_json(session, now, request.app[SETTINGS].door_times)
    response = web.json_response({"session": data})
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.get("/sessions/{session_id}", name="session")
async def session_page(request: web.Request) -> web.Response:
    """Public sessions by id; a private one looks exactly like a missing one."""
    now = catalog.utcnow()
    async with request.app[DATABASE].session() as db:
        session = await catalog.get_session(db, request.match_info["session_id"])
        if session is None or not catalog.may_view(session, None):
            return _not_found(request, by_code=False)
        event = feeds.FeedEvent.of(session, _base_url(request))
        return _join_page(
            request, session, now, {"session": session.id}, _public_extras(request, event)
        )


def _public_extras(request: web.Request, event: feeds.FeedEvent) -> dict[str, Any]:
    """What a public session's page adds: its schema.org ``Event`` as JSON-LD (the same
    object as its entry in ``/programme.json``) and links to print its card and poster."""
    return {
        "jsonld": json_ld_script(feeds.event_jsonld(event)),
        "print_links": {
            "card": _link(request, f"/sessions/{event.id}/card"),
            "poster": _link(request, f"/sessions/{event.id}/poster"),
        },
    }


def json_ld_script(data: dict[str, Any]) -> Markup:
    """JSON for a ``<script type="application/ld+json">``: ``<``, ``>`` and ``&`` escaped so a
    title cannot close the script element."""
    text = json.dumps(data, ensure_ascii=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


@routes.get("/host/{session_id}", name="host")
async def host_page(request: web.Request) -> web.Response:
    """The presenter's page; only the host token (from the organiser's link) opens it."""
    tr = _translator(request)
    now = catalog.utcnow()
    token = request.query.get("token")
    async with request.app[DATABASE].session() as db:
        session = await catalog.get_session(db, request.match_info["session_id"])
        if session is None:
            return _not_found(request, by_code=False)
        if not catalog.secret_matches(token, session.host_token_hash):
            return _notice(
                request, "forbidden.title", "forbidden.host_body", status=403, kind="forbidden"
            )
        phase_page = _phase_page(request, session, now)
        if phase_page is not None:
            return phase_page
        view = _session_view(session, tr, now, request.app[SETTINGS].door_times)
        code = session.join_code
    config = _client_config(tr, session, "host", {"session": session.id}, "presenter")
    is_group = session.mode == SessionMode.GROUP
    title_key = "host.title_group" if is_group else "host.title"
    return _render(
        request,
        "host.html",
        {
            "title": f"{tr(title_key)}: {session.title}",
            "session": view,
            "config": config,
            # For the presenter to read out or paste into an invitation.
            "join_code_shown": f"{code[:4]} {code[4:]}",
            "join_url": _absolute_url(request, f"/j/{code}"),
            "page_scripts": ["js/host.js"],
            "extra_styles": ["moderation.css"] if session.mode == SessionMode.GROUP else [],
        },
    )


@routes.get("/series/{series_id}/host", name="series_host")
async def series_host(request: web.Request) -> web.StreamResponse:
    """A series' one host link: to the presenter page of its occurrence that is live or next."""
    token = request.query.get("token", "")
    now = catalog.utcnow()
    async with request.app[DATABASE].session() as db:
        series = await db.get(Series, request.match_info["series_id"])
        if series is None:
            return _not_found(request, by_code=False)
        if not catalog.secret_matches(token, series.host_token_hash):
            return _notice(
                request, "forbidden.title", "forbidden.host_body", status=403, kind="forbidden"
            )
        doors = request.app[SETTINGS].door_times
        session = await catalog.get_session_by_code(db, series.join_code, now, doors)
    if session is None:
        return _not_found(request, by_code=False)
    params = {"token": token}
    lang = _catalogs(request).supported(request.query.get("lang"))
    if lang:
        params["lang"] = lang
    query = urlencode(params)
    raise web.HTTPSeeOther(f"/host/{session.id}?{query}")
