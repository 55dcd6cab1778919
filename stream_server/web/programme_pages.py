"""The planning page (``/staff/programme``) and its forms, organisers and the audit log.

Plain HTML forms rendered on the server, so every control is a native one (keyboard and
screen-reader friendly without scripts) and the page works the same in Finnish and English.
The forms call the same domain functions as the JSON API (:mod:`stream_server.catalog.
programme`): a form is turned into the API's fields, and an error comes back as a message
next to its field (a double booking links the session in the way).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from stream_server.basics import CITY_TZ, utcnow
from stream_server.catalog import organisers, programme, recurrence
from stream_server.catalog import service as catalog
from stream_server.db.models import (
    AuditEntry,
    Device,
    DeviceKind,
    Organiser,
    Series,
    Session,
    SessionMode,
    SessionStatus,
    StaffRole,
    Venue,
    Visibility,
)
from stream_server.errors import InvalidField, KohtaamoError, OutOfScope, RoomTaken
from stream_server.i18n import Translator
from stream_server.staff import audit, scope
from stream_server.staff.service import StaffIdentity
from stream_server.web.auth import require_staff, require_staff_page
from stream_server.web.bodies import read_form
from stream_server.web.keys import DATABASE, LIVE, SETTINGS
from stream_server.web.rendering import (
    base_url,
    catalogs,
    link,
    out_of_scope_page,
    render,
    translator,
)
from stream_server.web.staff_pages import staff_page_context

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()

PAGE = "/staff/programme"
WEEKDAY_KEYS = tuple(f"prog.weekday.{d}" for d in recurrence.WEEKDAYS)
#: Form fields, in the order the error summary lists them.
FORM_FIELDS = (
    "title",
    "description",
    "category",
    "room",
    "organiser",
    "date",
    "time",
    "minutes",
    "mode",
    "visibility",
    "online",
    "receivers",
    "weekdays",
    "until",
    "count",
    "except",
    "reason",
    "device",
)
#: An API field's error is shown next to this form field.
FIELD_OF = {
    "venue": "room",
    "starts": "date",
    "recurrence": "weekdays",
    "recurrence.weekdays": "weekdays",
    "recurrence.until": "until",
    "recurrence.count": "count",
    "recurrence.except": "except",
    "from": "scope",
}


def _local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(CITY_TZ)


def _query(**params: str | None) -> str:
    kept = {k: v for k, v in params.items() if v}
    return f"?{urlencode(kept)}" if kept else ""


# -- the week ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Filters:
    venue: str | None
    organiser: str | None
    category: str | None

    def params(self) -> dict[str, str | None]:
        return {"venue": self.venue, "organiser": self.organiser, "category": self.category}


def _filters(request: web.Request, identity: StaffIdentity) -> Filters:
    venue = request.query.get("venue") or None
    if venue is None and "venue" not in request.query and identity.role == StaffRole.LIBRARIAN:
        venue = "__own__"  # a librarian's page opens on their own venue
    return Filters(
        venue,
        request.query.get("organiser") or None,
        request.query.get("category")
        if request.query.get("category") in programme.CATEGORIES
        else None,
    )


async def _venues(db: AsyncSession) -> list[Venue]:
    query = select(Venue).options(selectinload(Venue.rooms)).order_by(Venue.id)
    return list((await db.scalars(query)).all())


def _session_item(
    session: Session,
    identity: StaffIdentity,
    now: dt.datetime,
    request: web.Request,
    tr: Translator,
) -> dict[str, Any]:
    manage = scope.may_manage_session(identity, session)
    doors = request.app[SETTINGS].door_times
    return {
        "id": session.id,
        "title": session.title,
        "time": tr("time.range", start=tr.time(session.starts_at), end=tr.time(session.ends_at)),
        "organiser": session.organiser.name if session.organiser else None,
        "status": catalog.session_status(session, now, doors),
        "cancel_reason": session.cancel_reason,
        "online": session.online,
        "private": session.visibility == Visibility.PRIVATE,
        "group": session.mode == SessionMode.GROUP,
        "series": session.series_id is not None,
        "receivers": [r.room.venue.name for r in session.receivers],
        "manage": manage,
        "join_code": session.join_code if manage else None,
        "card_url": f"/sessions/{session.id}/card" if manage else None,
        "url": link(request, f"{PAGE}/sessions/{session.id}") if manage else None,
    }


async def week_view(
    db: AsyncSession,
    request: web.Request,
    identity: StaffIdentity,
    monday: dt.date,
    filters: Filters,
    tr: Translator,
) -> list[dict[str, Any]]:
    """Per venue (rooms as rows, days as columns) the week's sessions, filtered."""
    now = utcnow()
    start, end = programme.week_bounds(monday)
    query = (
        catalog.session_query()
        .where(Session.starts_at < end, Session.ends_at > start)
        .order_by(Session.starts_at, Session.id)
    )
    if filters.organiser:
        query = query.where(
            Session.organiser_id.in_(
                select(Organiser.id).where(Organiser.slug == filters.organiser)
            )
        )
    if filters.category:
        query = query.where(Session.category == filters.category)
    sessions = list((await db.scalars(query)).all())
    days = [monday + dt.timedelta(days=n) for n in range(7)]
    tables = []
    for venue in await _venues(db):
        if filters.venue == "__own__" and venue.id != identity.venue_id:
            continue
        if filters.venue not in (None, "__own__") and venue.slug != filters.venue:
            continue
        at_venue = [s for s in sessions if s.room.venue_id == venue.id]
        if not at_venue and filters.venue is None:
            continue
        rows = []
        for room in venue.rooms:
            cells = []
            for day in days:
                items = [
                    _session_item(s, identity, now, request, tr)
                    for s in at_venue
                    if s.room_id == room.id and _local(s.starts_at).date() == day
                ]
                cells.append(items)
            rows.append({"room": room, "cells": cells})
        tables.append({"venue": venue, "rows": rows, "count": len(at_venue)})
    return tables


async def _undo_label(db: AsyncSession, identity: StaffIdentity, tr: Translator) -> str | None:
    entry = await programme.last_undoable(db, identity)
    if entry is None:
        return None
    return tr(f"prog.undo.{entry.action}", what=_entry_title(entry) or entry.target_id)


def _entry_title(entry: AuditEntry) -> str | None:
    for state in (entry.after, entry.before):
        if state:
            sessions = json.loads(state).get("sessions") or {}
            for snapshot in sessions.values():
                if snapshot:
                    return str(snapshot.get("title"))
    return None


@routes.get(PAGE, name="staff_programme")
async def programme_page(request: web.Request) -> web.Response:
    identity = await require_staff_page(request)
    tr = translator(request)
    today = _local(utcnow()).date()
    try:
        monday = _monday(request.query.get("week"), today)
    except InvalidField:
        monday = _monday(None, today)
    filters = _filters(request, identity)
    async with request.app[DATABASE].session() as db:
        tables = await week_view(db, request, identity, monday, filters, tr)
        venues = await _venues(db)
        organiser_rows = await organisers.list_organisers(db)
        undo_label = await _undo_label(db, identity, tr)
    own_venue = next((v.slug for v in venues if v.id == identity.venue_id), None)
    venue_choice = own_venue if filters.venue == "__own__" else filters.venue
    params = {**filters.params(), "venue": venue_choice, "lang": request.query.get("lang")}
    week_link = lambda day: f"{PAGE}{_query(week=day.isoformat(), **params)}"  # noqa: E731
    days = [monday + dt.timedelta(days=n) for n in range(7)]
    return render(
        request,
        "staff_programme.html",
        {
            **staff_page_context(request, identity, PAGE, "prog.title"),
            "extra_styles": ["staff.css", "programme.css"],
            "week_label": tr(
                "prog.week",
                number=monday.isocalendar().week,
                first=tr.date(monday),
                last=tr.date(days[-1]),
            ),
            "monday": monday.isoformat(),
            "days": [{"date": d, "label": tr.weekday_date(d)} for d in days],
            "tables": tables,
            "previous_url": week_link(monday - dt.timedelta(days=7)),
            "next_url": week_link(monday + dt.timedelta(days=7)),
            "this_week_url": week_link(today),
            "new_url": f"{PAGE}/new"
            + _query(week=monday.isoformat(), venue=venue_choice, lang=request.query.get("lang")),
            "venues": venues,
            "organisers": organiser_rows,
            "categories": programme.CATEGORIES,
            "chosen": {**filters.params(), "venue": venue_choice},
            "undo_label": undo_label,
            "notice": _notice_text(request, tr),
            "conflict_url": _conflict_link(request),
        },
    )


def _monday(value: str | None, today: dt.date) -> dt.date:
    day = today
    if value:
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise InvalidField("week", "week must be a date") from None
    return day - dt.timedelta(days=day.weekday())


NOTICES = (
    "saved",
    "cancelled",
    "ended",
    "undone",
    "copied",
    "nothing",
    "undo_failed",
    "invited",
)


def _notice_text(request: web.Request, tr: Translator) -> str | None:
    notice = request.query.get("notice")
    if notice not in NOTICES:
        return None
    if notice == "copied":
        # The plural form follows how many were copied.
        copied, skipped = (_count(request.query.get(name)) for name in ("copied", "skipped"))
        return tr("prog.notice.copied", count=copied, skipped=skipped)
    return tr(f"prog.notice.{notice}")


def _count(value: str | None) -> int:
    """A count from a notice's query (a hand-edited URL shows 0 rather than failing)."""
    return int(value) if value and value.isdigit() and len(value) < 6 else 0


def _conflict_link(request: web.Request) -> str | None:
    conflict = request.query.get("conflict")
    if conflict and conflict.isalnum() and len(conflict) <= 16:
        return link(request, f"{PAGE}/sessions/{conflict}")
    return None


# -- forms ---------------------------------------------------------------------------------------
def _form_values(form: Any) -> dict[str, Any]:
    def text(name: str, limit: int = 4000) -> str:
        return str(form.get(name, "")).strip()[:limit]

    return {
        "title": text("title", 300),
        "description": text("description"),
        "category": text("category", 40),
        "room": text("room", 100),
        "organiser": text("organiser", 80),
        "date": text("date", 20),
        "time": text("time", 10),
        "minutes": text("minutes", 10),
        "mode": text("mode", 20),
        "visibility": text("visibility", 20),
        "online": form.get("online") == "1",
        "receivers": [str(v)[:60] for v in form.getall("receivers", [])][:40],
        "weekdays": [str(v)[:2] for v in form.getall("weekdays", [])][:7],
        "ends": text("ends", 10),
        "until": text("until", 20),
        "count": text("count", 10),
        "except": text("except", 1000),
        "scope": text("scope", 20),
        "reason": text("reason", 600),
    }


def _api_body(values: dict[str, Any], *, with_recurrence: bool) -> dict[str, Any]:
    """The API's fields from the form's (what the JSON API would be sent)."""
    venue, _, room = values["room"].partition("/")
    body: dict[str, Any] = {
        "title": values["title"],
        "description": values["description"],
        "category": values["category"] or "other",
        "venue": venue,
        "room": room or None,
        "organiser": values["organiser"] or None,
        "mode": values["mode"] or "broadcast",
        "visibility": values["visibility"] or "public",
        "online": values["online"],
        "receivers": values["receivers"],
    }
    if not values["date"]:
        raise InvalidField("starts", "date missing")
    if not values["time"]:
        raise InvalidField("time", "time missing")
    body["starts"] = f"{values['date']}T{values['time']}"
    try:
        body["minutes"] = int(values["minutes"])
    except ValueError:
        raise InvalidField("minutes", "minutes must be a whole number") from None
    if with_recurrence and values["weekdays"]:
        rule: dict[str, Any] = {"weekdays": values["weekdays"]}
        if values["ends"] == "count":
            try:
                rule["count"] = int(values["count"])
            except ValueError:
                raise InvalidField("recurrence.count", "count must be a number") from None
        else:
            rule["until"] = values["until"]
        if values["except"]:
            rule["except"] = [
                d.strip() for d in values["except"].replace(";", ",").split(",") if d.strip()
            ]
        body["recurrence"] = rule
    return body


def _error_for(exc: KohtaamoError, tr: Translator) -> tuple[str, str]:
    """(form field, message in the page's language) for an error from the domain."""
    if isinstance(exc, RoomTaken):
        return "date", tr("prog.error.room_taken")
    if isinstance(exc, InvalidField):
        field = FIELD_OF.get(exc.field, exc.field)
        key = f"prog.error.{field}"
        return field, tr(key) if tr.has(key) else exc.message
    key = f"error.{exc.code}"
    return "form", tr(key) if tr.has(key) else exc.message


async def _form_context(
    db: AsyncSession, request: web.Request, identity: StaffIdentity
) -> dict[str, Any]:
    venues = await _venues(db)
    bookable = [
        v
        for v in venues
        if scope.everywhere(identity)
        or identity.role != StaffRole.LIBRARIAN
        or v.id == identity.venue_id
    ]
    organiser_rows = await organisers.list_organisers(db)
    if identity.role == StaffRole.COORDINATOR:
        organiser_rows = [o for o in organiser_rows if o.id == identity.organiser_id]
    tr = translator(request)
    return {
        "venues": venues,
        "bookable": bookable,
        "organisers": organiser_rows,
        "categories": programme.CATEGORIES,
        "weekdays": [
            {"code": code, "label": tr(key)}
            for code, key in zip(recurrence.WEEKDAYS, WEEKDAY_KEYS, strict=True)
        ],
        "coordinator": identity.role == StaffRole.COORDINATOR,
    }


def _blank_values(
    request: web.Request, identity: StaffIdentity, venues: list[Venue]
) -> dict[str, Any]:
    today = _local(utcnow()).date()
    week = request.query.get("week")
    day = today
    if week:
        try:
            day = max(dt.date.fromisoformat(week), today)
        except ValueError:
            pass
    venue_slug = request.query.get("venue") or next(
        (v.slug for v in venues if v.id == identity.venue_id), None
    )
    venue = next((v for v in venues if v.slug == venue_slug), None) or venues[0]
    return {
        "title": "",
        "description": "",
        "category": "other",
        "room": f"{venue.slug}/{venue.rooms[0].slug}" if venue.rooms else venue.slug,
        "organiser": "",
        "date": day.isoformat(),
        "time": "18:00",
        "minutes": "60",
        "mode": "broadcast",
        "visibility": "public",
        "online": True,
        "receivers": [],
        "weekdays": [],
        "ends": "until",
        "until": "",
        "count": "",
        "except": "",
        "scope": "one",
        "reason": "",
    }


def _render_form(
    request: web.Request,
    identity: StaffIdentity,
    context: dict[str, Any],
    values: dict[str, Any],
    errors: dict[str, str],
    *,
    template: str,
    title_key: str,
    status: int = 200,
    extra: dict[str, Any] | None = None,
) -> web.Response:
    summary = [
        {"field": f, "message": errors[f]} for f in (*FORM_FIELDS, "scope", "form") if f in errors
    ]
    return render(
        request,
        template,
        {
            **staff_page_context(request, identity, PAGE, title_key),
            "extra_styles": ["staff.css", "programme.css"],
            **context,
            "values": values,
            "errors": errors,
            "error_summary": summary,
            **(extra or {}),
        },
        status=status,
    )


@routes.get(f"{PAGE}/new", name="staff_programme_new")
async def new_form(request: web.Request) -> web.Response:
    identity = await require_staff_page(request)
    async with request.app[DATABASE].session() as db:
        context = await _form_context(db, request, identity)
    values = _blank_values(request, identity, context["bookable"] or context["venues"])
    if identity.role == StaffRole.COORDINATOR and context["organisers"]:
        values["organiser"] = context["organisers"][0].slug
    return _render_form(
        request,
        identity,
        context,
        values,
        {},
        template="staff_programme_new.html",
        title_key="prog.new",
    )


@routes.post(f"{PAGE}/new")
async def create_from_form(request: web.Request) -> web.Response:
    identity = await require_staff(request)
    form = await read_form(request)
    values = _form_values(form)
    tr = translator(request)
    now = utcnow()
    errors: dict[str, str] = {}
    conflict = None
    try:
        body = _api_body(values, with_recurrence=True)
        async with request.app[DATABASE].session() as db:
            created = await programme.create(db, identity, body, now)
            data = created.as_json(now, request.app[SETTINGS].door_times)
            first = created.first
            series = created.series
            rule_text = _rule_text(series, tr) if series is not None else None
    except OutOfScope as exc:
        errors["form"] = exc.message
    except RoomTaken as exc:
        field, errors[field] = _error_for(exc, tr)
        conflict = exc.conflict
    except KohtaamoError as exc:
        field, message = _error_for(exc, tr)
        errors[field] = message
    if errors:
        async with request.app[DATABASE].session() as db:
            context = await _form_context(db, request, identity)
        return _render_form(
            request,
            identity,
            context,
            values,
            errors,
            template="staff_programme_new.html",
            title_key="prog.new",
            status=409 if conflict else 400,
            extra={
                "conflict_url": link(request, f"{PAGE}/sessions/{conflict}") if conflict else None
            },
        )
    logger.info(
        "staff %s created %s from the planning page", identity.name, data["series_id"] or data["id"]
    )
    base = base_url(request)
    return render(
        request,
        "staff_programme_created.html",
        {
            **staff_page_context(request, identity, PAGE, "prog.created"),
            "extra_styles": ["staff.css", "programme.css"],
            "created": data,
            "title_text": first.title,
            "rule_text": rule_text,
            "base": base,
            "week_url": f"{PAGE}"
            + _query(
                week=_local(first.starts_at).date().isoformat(), lang=request.query.get("lang")
            ),
            "session_url": link(request, f"{PAGE}/sessions/{first.id}"),
            "occurrences": [
                {"label": tr.datetime(dt.datetime.fromisoformat(o["starts_at"]), now)}
                for o in data["occurrences"]
            ],
        },
        status=201,
    )


def _rule_text(series: Series, tr: Translator) -> str:
    rule = programme.rule_of(series)
    days = ", ".join(tr(WEEKDAY_KEYS[d]) for d in rule.weekdays)
    end = (
        tr("prog.rule.until", date=tr.date(rule.until))
        if rule.until
        else tr("prog.rule.count", count=rule.count)
    )
    starts = dt.datetime.combine(rule.first_date, rule.local_time, tzinfo=CITY_TZ)
    return tr("prog.rule", days=days, time=tr.time(starts), end=end)


# -- one session ---------------------------------------------------------------------------------
def _values_of(session: Session) -> dict[str, Any]:
    starts = _local(session.starts_at)
    receivers = sorted({r.room.venue.slug for r in session.receivers})
    return {
        "title": session.title,
        "description": session.description,
        "category": session.category,
        "room": f"{session.room.venue.slug}/{session.room.slug}",
        "organiser": session.organiser.slug if session.organiser else "",
        "date": starts.date().isoformat(),
        "time": starts.strftime("%H:%M"),
        "minutes": str(round((session.ends_at - session.starts_at).total_seconds() / 60)),
        "mode": session.mode.value,
        "visibility": session.visibility.value,
        "online": session.online,
        "receivers": receivers,
        "weekdays": [],
        "ends": "until",
        "until": "",
        "count": "",
        "except": "",
        "scope": "one",
        "reason": "",
    }


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The API fields a submitted edit form changes (unchanged ones are not sent, so "this
    and following" keeps what was set on single occurrences)."""
    full = _api_body(after, with_recurrence=False)
    changes: dict[str, Any] = {}
    for field in ("title", "description", "category", "mode", "visibility", "online"):
        if full[field] != before[field]:
            changes[field] = full[field]
    if after["room"] != before["room"]:
        changes["venue"], changes["room"] = full["venue"], full["room"]
    if after["organiser"] != before["organiser"]:
        changes["organiser"] = full["organiser"]
    if (after["date"], after["time"]) != (before["date"], before["time"]):
        changes["starts"] = full["starts"]
    if after["minutes"] != before["minutes"]:
        changes["minutes"] = full["minutes"]
    if sorted(after["receivers"]) != sorted(before["receivers"]):
        changes["receivers"] = full["receivers"]
    return changes


async def _session_page(
    request: web.Request,
    identity: StaffIdentity,
    session_id: str,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    links: dict[str, Any] | None = None,
    conflict: str | None = None,
) -> web.Response:
    tr = translator(request)
    now = utcnow()
    doors = request.app[SETTINGS].door_times
    async with request.app[DATABASE].session() as db:
        session = await programme.load_session(db, session_id)
        if not scope.may_manage_session(identity, session):
            return out_of_scope_page(request)
        context = await _form_context(db, request, identity)
        series = (
            await db.scalar(select(Series).where(Series.id == session.series_id))
            if session.series_id
            else None
        )
        tablets = [
            d
            for d in (
                await db.scalars(
                    select(Device)
                    .where(Device.kind == DeviceKind.TABLET, Device.revoked_at.is_(None))
                    .options(selectinload(Device.venue))
                    .order_by(Device.id)
                )
            ).all()
            if scope.may_invite(identity, d)
        ]
        view = programme.staff_session_json(session, now, doors)
        phase = catalog.session_phase(session, now, doors)
        current = _values_of(session)
        rule_text = _rule_text(series, tr) if series is not None else None
    summary = [
        {"field": f, "message": (errors or {})[f]}
        for f in (*FORM_FIELDS, "scope", "form")
        if f in (errors or {})
    ]
    host_path = f"/series/{session.series_id}/host" if session.series_id else f"/host/{session.id}"
    return render(
        request,
        "staff_programme_session.html",
        {
            **staff_page_context(request, identity, PAGE, "prog.session"),
            "extra_styles": ["staff.css", "programme.css"],
            **context,
            "session": view,
            "when": tr.datetime(session.starts_at, now),
            "ends": tr.time(session.ends_at),
            "cancelled": session.status == SessionStatus.CANCELLED,
            "ended": phase == catalog.Phase.ENDED and session.status != SessionStatus.CANCELLED,
            "live": phase == catalog.Phase.OPEN and session.status != SessionStatus.CANCELLED,
            "in_series": series is not None,
            "rule_text": rule_text,
            "values": values or current,
            "errors": errors or {},
            "error_summary": summary,
            "tablets": tablets,
            "links": links,
            "host_path": host_path,
            "base": base_url(request),
            "week_url": f"{PAGE}"
            + _query(
                week=_local(session.starts_at).date().isoformat(), lang=request.query.get("lang")
            ),
            "conflict_url": link(request, f"{PAGE}/sessions/{conflict}") if conflict else None,
        },
        status=status,
    )


@routes.get(f"{PAGE}/sessions/{{session_id}}", name="staff_programme_session")
async def session_page(request: web.Request) -> web.Response:
    identity = await require_staff_page(request)
    return await _session_page(request, identity, request.match_info["session_id"])


def _back_to_week(
    request: web.Request, session: Session | None, notice: str, **extra: str
) -> web.HTTPSeeOther:
    week = _local(session.starts_at).date().isoformat() if session is not None else None
    lang = request.query.get("lang")
    anchor = f"#session-{session.id}" if session is not None else ""
    return web.HTTPSeeOther(f"{PAGE}{_query(week=week, notice=notice, lang=lang, **extra)}{anchor}")


@routes.post(f"{PAGE}/sessions/{{session_id}}")
async def edit_from_form(request: web.Request) -> web.StreamResponse:
    """Save an edit: this occurrence only, or (``scope=following``) it and the later ones."""
    identity = await require_staff(request)
    session_id = request.match_info["session_id"]
    form = await read_form(request)
    values = _form_values(form)
    tr = translator(request)
    doors = request.app[SETTINGS].door_times
    errors: dict[str, str] = {}
    conflict = None
    try:
        async with request.app[DATABASE].session() as db:
            session = await programme.load_session(db, session_id)
            scope.require_manage_session(identity, session)
            changes = _changes(_values_of(session), values)
            if values["scope"] == "following" and session.series_id:
                series = await programme.edit_following(
                    db, identity, session.series_id, {"from": session.id, **changes}, doors=doors
                )
                changed = [s.id for s in await programme.occurrences_of(db, series.id)]
            elif changes:
                await programme.edit_session(db, identity, session.id, changes, doors=doors)
                changed = [session.id]
            else:
                changed = []
            session = await programme.load_session(db, session_id)
    except RoomTaken as exc:
        field, errors[field] = _error_for(exc, tr)
        conflict = exc.conflict
    except KohtaamoError as exc:
        field, errors[field] = _error_for(exc, tr)
    if errors:
        return await _session_page(
            request,
            identity,
            session_id,
            values=values,
            errors=errors,
            status=409 if conflict else 400,
            conflict=conflict,
        )
    await request.app[LIVE].sessions_changed(changed)
    raise _back_to_week(request, session, "saved")


@routes.post(f"{PAGE}/sessions/{{session_id}}/cancel")
async def cancel_from_form(request: web.Request) -> web.StreamResponse:
    identity = await require_staff(request)
    session_id = request.match_info["session_id"]
    form = await read_form(request)
    values = _form_values(form)
    tr = translator(request)
    doors = request.app[SETTINGS].door_times
    try:
        async with request.app[DATABASE].session() as db:
            session = await programme.load_session(db, session_id)
            if values["scope"] == "following" and session.series_id:
                _, occurrences = await programme.cancel_following(
                    db,
                    identity,
                    session.series_id,
                    {"from": session.id, "reason": values["reason"]},
                    doors=doors,
                )
                changed = [s.id for s in occurrences]
            else:
                await programme.cancel_session(
                    db, identity, session.id, {"reason": values["reason"]}, doors=doors
                )
                changed = [session.id]
    except KohtaamoError as exc:
        field, message = _error_for(exc, tr)
        return await _session_page(
            request, identity, session_id, errors={field: message}, status=exc.status
        )
    await request.app[LIVE].sessions_changed(changed)
    raise _back_to_week(request, session, "cancelled")


@routes.post(f"{PAGE}/sessions/{{session_id}}/end")
async def end_from_form(request: web.Request) -> web.StreamResponse:
    identity = await require_staff(request)
    session_id = request.match_info["session_id"]
    tr = translator(request)
    try:
        async with request.app[DATABASE].session() as db:
            session = await programme.check_end(
                db, identity, session_id, doors=request.app[SETTINGS].door_times
            )
    except KohtaamoError as exc:
        field, message = _error_for(exc, tr)
        return await _session_page(
            request, identity, session_id, errors={field: message}, status=exc.status
        )
    await request.app[LIVE].end_session(session_id)
    async with request.app[DATABASE].session() as db:
        await programme.record_end(db, identity, session_id)
    raise _back_to_week(request, session, "ended")


@routes.post(f"{PAGE}/sessions/{{session_id}}/links")
async def links_from_form(request: web.Request) -> web.Response:
    """New host and publish links, shown once on the page (the old ones stop working)."""
    identity = await require_staff(request)
    session_id = request.match_info["session_id"]
    form = await read_form(request)
    whole_series = form.get("scope") == "series"
    async with request.app[DATABASE].session() as db:
        session = await programme.load_session(db, session_id)
        if whole_series and session.series_id:
            tokens, ids = await programme.new_links(db, identity, series_id=session.series_id)
            host_path = f"/series/{session.series_id}/host"
        else:
            tokens, ids = await programme.new_links(db, identity, session_id=session.id)
            host_path = f"/host/{session.id}"
    await request.app[LIVE].sessions_changed(ids)
    base = base_url(request)
    links = {
        "host_url": f"{base}{host_path}?token={tokens.host}",
        "publish_token": tokens.publish,
        "whip_url": f"{base}/whip/{session.id}",
        "series": whole_series and session.series_id is not None,
    }
    return await _session_page(request, identity, session_id, links=links, status=201)


@routes.post(f"{PAGE}/sessions/{{session_id}}/invite")
async def invite_from_form(request: web.Request) -> web.StreamResponse:
    identity = await require_staff(request)
    session_id = request.match_info["session_id"]
    form = await read_form(request)
    tr = translator(request)
    try:
        device_id = int(str(form.get("device", "")))
        async with request.app[DATABASE].session() as db:
            await programme.invite_tablet(db, identity, device_id, session_id)
            session = await programme.load_session(db, session_id)
    except ValueError:
        return await _session_page(
            request,
            identity,
            session_id,
            errors={"device": tr("prog.error.device")},
            status=400,
        )
    except KohtaamoError as exc:
        field, message = _error_for(exc, tr)
        return await _session_page(
            request, identity, session_id, errors={field: message}, status=exc.status
        )
    raise _back_to_week(request, session, "invited")


@routes.post(f"{PAGE}/undo")
async def undo_from_form(request: web.Request) -> web.StreamResponse:
    identity = await require_staff(request)
    form = await read_form(request)
    week = str(form.get("week", ""))[:10] or None
    lang = request.query.get("lang")
    try:
        async with request.app[DATABASE].session() as db:
            entry = await programme.undo_last(db, identity)
            ids = list(json.loads(entry.after or "{}").get("sessions", {}))
    except KohtaamoError as exc:
        notice = "nothing" if exc.code == "nothing_to_undo" else "undo_failed"
        raise web.HTTPSeeOther(f"{PAGE}{_query(week=week, notice=notice, lang=lang)}") from None
    await request.app[LIVE].sessions_changed(ids)
    raise web.HTTPSeeOther(f"{PAGE}{_query(week=week, notice='undone', lang=lang)}")


@routes.post(f"{PAGE}/copy-week")
async def copy_week_from_form(request: web.Request) -> web.StreamResponse:
    identity = await require_staff(request)
    form = await read_form(request)
    lang = request.query.get("lang")
    monday = _monday(str(form.get("week", "")) or None, _local(utcnow()).date())
    params = {k: str(form.get(k, "")) or None for k in ("venue", "organiser", "category")}
    async with request.app[DATABASE].session() as db:
        filters: dict[str, Any] = {}
        if params["venue"]:
            filters["venue_id"] = await db.scalar(
                select(Venue.id).where(Venue.slug == params["venue"])
            )
        if params["organiser"]:
            filters["organiser_id"] = await db.scalar(
                select(Organiser.id).where(Organiser.slug == params["organiser"])
            )
        if params["category"] in programme.CATEGORIES:
            filters["category"] = params["category"]
        result = await programme.copy_week(db, identity, monday, **filters)
    next_week = (monday + dt.timedelta(days=7)).isoformat()
    extra = {"conflict": result.skipped[0][1]} if result.skipped else {}
    query = _query(
        week=next_week,
        notice="copied",
        copied=str(len(result.copied)),
        skipped=str(len(result.skipped)),
        lang=lang,
        **params,
        **extra,
    )
    raise web.HTTPSeeOther(f"{PAGE}{query}")


# -- organisers ----------------------------------------------------------------------------------
async def _organisers_page(
    request: web.Request,
    identity: StaffIdentity,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    saved: bool = False,
    status: int = 200,
) -> web.Response:
    async with request.app[DATABASE].session() as db:
        rows = [organisers.organiser_json(o) for o in await organisers.list_organisers(db)]
    return render(
        request,
        "staff_organisers.html",
        {
            **staff_page_context(request, identity, "/staff/organisers", "org.title"),
            "extra_styles": ["staff.css", "programme.css"],
            "organisers": rows,
            "kinds": organisers.KINDS,
            "may_edit": scope.may_manage_organisers(identity),
            "values": values
            or {"name": "", "kind": "association", "contact_person": "", "contact_email": ""},
            "errors": errors or {},
            "saved": saved or request.query.get("saved") == "1",
        },
        status=status,
    )


@routes.get("/staff/organisers", name="staff_organisers")
async def organisers_page(request: web.Request) -> web.Response:
    identity = await require_staff_page(request)
    return await _organisers_page(request, identity)


@routes.post("/staff/organisers")
async def add_organiser_from_form(request: web.Request) -> web.StreamResponse:
    identity = await require_staff(request)
    form = await read_form(request)
    tr = translator(request)
    values = {k: str(form.get(k, "")).strip()[:254] for k in organisers.EDITABLE}
    try:
        async with request.app[DATABASE].session() as db:
            await organisers.add_organiser(db, identity, values)
    except InvalidField as exc:
        return await _organisers_page(
            request, identity, values=values, errors=_organiser_error(tr, exc), status=400
        )
    raise _back_to_organisers(request)


@routes.get("/staff/organisers/{slug}", name="staff_organiser")
async def organiser_page(request: web.Request) -> web.Response:
    identity = await require_staff_page(request)
    if not scope.may_manage_organisers(identity):
        return out_of_scope_page(request)
    async with request.app[DATABASE].session() as db:
        organiser = await organisers.get_organiser(db, request.match_info["slug"])
        values = organisers.organiser_json(organiser)
    return _organiser_form(request, identity, values, {})


def _organiser_form(
    request: web.Request,
    identity: StaffIdentity,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> web.Response:
    return render(
        request,
        "staff_organiser_edit.html",
        {
            **staff_page_context(request, identity, "/staff/organisers", "org.edit"),
            "extra_styles": ["staff.css", "programme.css"],
            "values": values,
            "errors": errors,
            "kinds": organisers.KINDS,
        },
        status=status,
    )


@routes.post("/staff/organisers/{slug}")
async def edit_organiser_from_form(request: web.Request) -> web.StreamResponse:
    identity = await require_staff(request)
    slug = request.match_info["slug"]
    form = await read_form(request)
    tr = translator(request)
    values = {k: str(form.get(k, "")).strip()[:254] for k in organisers.EDITABLE}
    try:
        async with request.app[DATABASE].session() as db:
            await organisers.edit_organiser(db, identity, slug, values)
    except InvalidField as exc:
        return _organiser_form(
            request, identity, {**values, "slug": slug}, _organiser_error(tr, exc), status=400
        )
    raise _back_to_organisers(request)


def _organiser_error(tr: Translator, exc: InvalidField) -> dict[str, str]:
    """The refused field's message, next to it (the catalog's words when it has them)."""
    key = f"org.error.{exc.field}"
    return {exc.field: tr(key) if tr.has(key) else exc.message}


def _back_to_organisers(request: web.Request) -> web.HTTPSeeOther:
    picked = catalogs(request).supported(request.query.get("lang"))
    suffix = f"&lang={picked}" if picked else ""
    return web.HTTPSeeOther(f"/staff/organisers?saved=1{suffix}")


# -- the audit log -------------------------------------------------------------------------------
@routes.get("/staff/audit", name="staff_audit")
async def audit_page(request: web.Request) -> web.Response:
    identity = await require_staff_page(request)
    if not scope.is_admin(identity):
        return out_of_scope_page(request)
    tr = translator(request)
    try:
        before = int(request.query["before"]) if "before" in request.query else None
    except ValueError:
        before = None
    async with request.app[DATABASE].session() as db:
        entries = await audit.list_entries(db, before_id=before, limit=50)
    now = utcnow()
    rows = []
    for entry in entries:
        data = audit.entry_json(entry)
        data["when"] = tr.datetime(entry.at, now)
        data["what"] = _entry_title(entry)
        data["before_text"] = (
            json.dumps(data["before"], ensure_ascii=False, indent=1)
            if data["before"] is not None
            else ""
        )
        data["after_text"] = (
            json.dumps(data["after"], ensure_ascii=False, indent=1)
            if data["after"] is not None
            else ""
        )
        rows.append(data)
    older = rows[-1]["id"] if len(rows) == 50 else None
    return render(
        request,
        "staff_audit.html",
        {
            **staff_page_context(request, identity, "/staff/audit", "audit.title"),
            "extra_styles": ["staff.css", "programme.css"],
            "entries": rows,
            "older_url": f"/staff/audit{_query(before=str(older), lang=request.query.get('lang'))}"
            if older
            else None,
        },
    )


def setup(app: web.Application) -> None:
    app.add_routes(routes)
