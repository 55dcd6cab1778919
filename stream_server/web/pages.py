"""HTML pages: the session list, the join page and the presenter page.

The pages are thin: they decide which view a person should see (join UI, "not started
yet", "ended", not found, no access) and hand the session to the page scripts in
``web/static``, which speak the WebSocket protocol of docs/signaling.md.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from stream_server.basics import DoorTimes
from stream_server.catalog import service as catalog
from stream_server.config import PROJECT_ROOT
from stream_server.db.models import Session, SessionMode
from stream_server.i18n import Translator
from stream_server.web.addresses import client_address
from stream_server.web.keys import DATABASE, LIVE, SETTINGS
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


def _day_groups(
    views: list[dict[str, Any]], tr: Translator, now: dt.datetime
) -> list[dict[str, Any]]:
    """The front page's list in days: what is on now, later today, tomorrow, then each day.

    Today's groups are open; later days are folded (a heading with a count), so a phone shows
    a page and not a flat list of the week.
    """
    today = now.astimezone(catalog.CITY_TZ).date()
    groups: list[dict[str, Any]] = []

    def group_for(key: str, label: str, is_open: bool) -> dict[str, Any]:
        if not groups or groups[-1]["key"] != key:
            groups.append({"key": key, "label": label, "open": is_open, "sessions": []})
        return groups[-1]

    for view in sorted(views, key=lambda v: (not v["live"], v["starts_at"])):
        day = view["day"]
        if view["live"]:
            group = group_for("live", tr("index.live_now"), True)
        elif day == today:
            group = group_for("today", tr("index.later_today"), True)
        elif day == today + dt.timedelta(days=1):
            group = group_for("tomorrow", tr("index.tomorrow"), False)
        else:
            group = group_for(day.isoformat(), tr.day(day), False)
        group["sessions"].append(view)
    return groups


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


def _phase_page(request: web.Request, session: Session, now: dt.datetime) -> web.Response | None:
    """The "not started yet" or "ended" page, or None when doors are open."""
    tr = _translator(request)
    doors = request.app[SETTINGS].door_times
    phase = catalog.session_phase(session, now, doors)
    view = _session_view(session, tr, now, doors)
    if phase == catalog.Phase.UPCOMING:
        opens_in = (session.starts_at - doors.open_before - now).total_seconds()
        return _notice(
            request,
            "upcoming.heading",
            "upcoming.body",
            status=200,
            kind="upcoming",
            session=view,
            body_params={"when": view["starts_local"]},
            # The page reloads itself when doors open (a script timer; no meta refresh).
            reload_in=max(1, math.ceil(opens_in) + 1),
        )
    if phase == catalog.Phase.ENDED:
        return _notice(
            request, "ended.heading", "ended.body", status=200, kind="ended", session=view
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
    request: web.Request, session: Session, now: dt.datetime, join: dict[str, str]
) -> web.Response:
    tr = _translator(request)
    phase_page = _phase_page(request, session, now)
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
        },
    )


# -- routes -----------------------------------------------------------------------------------
@routes.get("/", name="index")
async def index(request: web.Request) -> web.Response:
    """Public sessions that are live or upcoming; private ones are never listed."""
    tr = _translator(request)
    now = catalog.utcnow()
    async with request.app[DATABASE].session() as db:
        doors = request.app[SETTINGS].door_times
        listed = await catalog.list_listed_sessions(db, now, doors)
        views = [_session_view(s, tr, now, doors) for s in listed]
    for view in views:
        view["url"] = _link(request, f"/sessions/{view['id']}")
    return _render(
        request,
        "index.html",
        {
            "title": tr("index.title"),
            "sessions": views,
            "days": _day_groups(views, tr, now),
        },
    )


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
    async with request.app[DATABASE].session() as db:
        session = await catalog.get_session_by_code(db, code, now) if code else None
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
    async with request.app[DATABASE].session() as db:
        session = await catalog.get_session_by_code(db, code, now) if code else None
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
        return _join_page(request, session, now, {"session": session.id})


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
            "join_url": f"{request.scheme}://{request.host}/j/{code}",
            "page_scripts": ["js/host.js"],
            "extra_styles": ["moderation.css"] if session.mode == SessionMode.GROUP else [],
        },
    )
