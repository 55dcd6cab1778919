"""Attendance reports for a period, grouped by area, venue, organiser, category or month.

The measures and how a broadcast is attributed are defined in the README ("Reports and
definitions"); in short:

- a session is **held** if it started in the period (Europe/Helsinki dates), before now, and
  has any headcount or any recorded connection (participant, room device or publisher);
- its **activity hours** are its scheduled length, cut short if the host ended it early or
  it is still running; they count once, for the host venue (and so the host's area), except
  that grouped by venue every receiving venue counts the session and its hours too;
- **in-person** participants count where the headcount was taken; **online** participants
  towards the host venue, unless they joined through a device registered to another venue;
- satisfaction answers belong to the session's host venue;
- **per 1,000 residents** divides by the population of the areas the row is attributed to:
  grouped by area its own, by venue the venue's area, by organiser, category or month the
  areas where the row's sessions were held or had participants; the totals the whole city.

The domain knows nothing of HTTP: parameters arrive as a mapping, errors as
:class:`ReportError` with a stable code.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from stream_server import i18n
from stream_server.attendance import rollups
from stream_server.catalog.service import CITY_TZ
from stream_server.db.models import (
    Area,
    Headcount,
    Organiser,
    Room,
    Session,
    SessionReceiver,
    SessionRollup,
    SurveyAnswer,
    Venue,
    VenueRollup,
)

GROUPS = ("area", "venue", "organiser", "category", "month")
#: ``period=`` shortcuts: this many days ending today (inclusive).
PERIODS = {"week": 7, "month": 30, "year": 365}
#: Longest custom range: ten years.
MAX_DAYS = 3660
FORMATS = ("json", "csv")
DECIMALS = ("comma", "point")
PARAMS = frozenset({"from", "to", "period", "group_by", "format", "lang", "decimal"})

#: The counted measures, in column order; each also appears per 1,000 residents.
MEASURES = (
    "sessions_held",
    "activity_hours",
    "in_person",
    "online",
    "online_hours",
    "brief_visits",
    "total",
    "organisers",
)


class ReportError(ValueError):
    """A report parameter is wrong; ``code`` is stable, the message says what to send."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclasses.dataclass(frozen=True)
class ReportQuery:
    start: dt.date  # first day, inclusive
    end: dt.date  # last day, inclusive
    group_by: str
    format: str = "json"
    lang: str = i18n.DEFAULT_LANGUAGE
    decimal: str = "comma"


def _date(params: Mapping[str, str], name: str) -> dt.date:
    text = params[name]
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ReportError(
            "invalid_date", f"{name} must be a date YYYY-MM-DD, not {text!r}"
        ) from None


def parse_query(
    params: Mapping[str, str], today: dt.date, *, fmt: str | None = None, lang: str | None = None
) -> ReportQuery:
    """Validate the query string; ``fmt`` (from a ``.csv`` path) wins over ``format=``."""
    unknown = sorted(set(params) - PARAMS)
    if unknown:
        raise ReportError(
            "unknown_param",
            f"unknown parameter {unknown[0]!r}; use from, to, period, group_by, format, "
            "lang, decimal",
        )
    group_by = params.get("group_by", "area")
    if group_by not in GROUPS:
        raise ReportError("invalid_group_by", f"group_by must be one of {', '.join(GROUPS)}")
    has_dates = "from" in params or "to" in params
    if has_dates and "period" in params:
        raise ReportError("conflicting_params", "give either period or from and to, not both")
    if has_dates:
        if "from" not in params or "to" not in params:
            raise ReportError("invalid_range", "from and to go together")
        start, end = _date(params, "from"), _date(params, "to")
        if end < start:
            raise ReportError("invalid_range", "to is before from")
        if (end - start).days >= MAX_DAYS:
            raise ReportError("invalid_range", f"a report covers at most {MAX_DAYS} days")
    else:
        period = params.get("period", "month")
        if period not in PERIODS:
            raise ReportError("invalid_period", f"period must be one of {', '.join(PERIODS)}")
        end = today
        start = today - dt.timedelta(days=PERIODS[period] - 1)
    fmt = fmt or params.get("format", "json")
    if fmt not in FORMATS:
        raise ReportError("invalid_format", "format must be json or csv")
    decimal = params.get("decimal", "comma")
    if decimal not in DECIMALS:
        raise ReportError("invalid_decimal", "decimal must be comma or point")
    if "lang" in params and params["lang"] not in i18n.LANGUAGES:
        raise ReportError("invalid_lang", f"lang must be one of {', '.join(i18n.LANGUAGES)}")
    chosen = params.get("lang") or lang or i18n.DEFAULT_LANGUAGE
    return ReportQuery(start, end, group_by, fmt, chosen, decimal)


def local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=CITY_TZ).astimezone(dt.UTC)


@dataclasses.dataclass
class Row:
    """One group's sums while the report is being built."""

    key: str
    label: str
    sessions_held: int = 0
    hours: float = 0.0
    in_person: int = 0
    online: int = 0
    online_seconds: float = 0.0
    brief_visits: int = 0
    organisers: set[int] = dataclasses.field(default_factory=set)
    score_sum: int = 0
    answers: int = 0
    areas: set[int] = dataclasses.field(default_factory=set)

    def as_json(self, populations: Mapping[int, int]) -> dict[str, Any]:
        population = sum(populations[a] for a in self.areas)
        values: dict[str, float] = {
            "sessions_held": self.sessions_held,
            "activity_hours": round(self.hours, 2),
            "in_person": self.in_person,
            "online": self.online,
            "online_hours": round(self.online_seconds / 3600, 2),
            "brief_visits": self.brief_visits,
            "total": self.in_person + self.online,
            "organisers": len(self.organisers),
        }
        per_1000 = {
            name: (round(value * 1000 / population, 3) if population else None)
            for name, value in values.items()
        }
        return {
            "key": self.key,
            "label": self.label,
            "population": population,
            **values,
            "satisfaction_mean": round(self.score_sum / self.answers, 2) if self.answers else None,
            "satisfaction_answers": self.answers,
            "per_1000": per_1000,
        }


@dataclasses.dataclass
class HeldSession:
    id: str
    starts_at: dt.datetime
    hours: float
    category: str
    organiser_id: int | None
    host_venue: int
    receivers: list[int] = dataclasses.field(default_factory=list)
    # venue id -> [in_person, online, brief, online_seconds]
    venues: dict[int, list[float]] = dataclasses.field(default_factory=dict)
    connections: int = 0
    score_sum: int = 0
    answers: int = 0


def _realised_hours(
    starts_at: dt.datetime, ends_at: dt.datetime, ended_at: dt.datetime | None, now: dt.datetime
) -> float:
    end = min(ends_at, ended_at or ends_at, now)
    return max(0.0, (end - starts_at).total_seconds() / 3600)


async def _held_sessions(
    db: AsyncSession, query: ReportQuery, now: dt.datetime, brief_visit_seconds: float
) -> list[HeldSession]:
    lo, hi = local_midnight(query.start), local_midnight(query.end + dt.timedelta(days=1))
    in_range = select(Session.id).where(
        Session.starts_at >= lo, Session.starts_at < hi, Session.starts_at <= now
    )
    stale = await rollups.stale_sessions(db, in_range, brief_visit_seconds)
    if stale:
        await rollups.refresh_rollups(db, stale, now, brief_visit_seconds)
    sessions: dict[str, HeldSession] = {}
    rows = await db.execute(
        select(
            Session.id,
            Session.starts_at,
            Session.ends_at,
            Session.ended_at,
            Session.category,
            Session.organiser_id,
            Room.venue_id,
        )
        .join(Room, Room.id == Session.room_id)
        .where(Session.id.in_(in_range))
    )
    for sid, starts, ends, ended, category, organiser_id, venue_id in rows.all():
        sessions[sid] = HeldSession(
            sid, starts, _realised_hours(starts, ends, ended, now), category, organiser_id, venue_id
        )
    receivers = await db.execute(
        select(SessionReceiver.session_id, Room.venue_id)
        .join(Room, Room.id == SessionReceiver.room_id)
        .where(SessionReceiver.session_id.in_(in_range))
    )
    for sid, venue_id in receivers.all():
        if venue_id not in sessions[sid].receivers:
            sessions[sid].receivers.append(venue_id)
    for sid, connections in (
        await db.execute(
            select(SessionRollup.session_id, SessionRollup.connections).where(
                SessionRollup.session_id.in_(in_range)
            )
        )
    ).all():
        sessions[sid].connections = connections
    for sid, venue_id, online, brief, seconds in (
        await db.execute(
            select(
                VenueRollup.session_id,
                VenueRollup.venue_id,
                VenueRollup.online_total,
                VenueRollup.brief_visits,
                VenueRollup.online_seconds,
            ).where(VenueRollup.session_id.in_(in_range))
        )
    ).all():
        entry = sessions[sid].venues.setdefault(venue_id, [0, 0, 0, 0.0])
        entry[1] += online
        entry[2] += brief
        entry[3] += seconds
    latest = (
        select(func.max(Headcount.id))
        .where(Headcount.session_id.in_(in_range))
        .group_by(Headcount.session_id, Headcount.venue_id)
    )
    headcounted: set[str] = set()
    for sid, venue_id, count in (
        await db.execute(
            select(Headcount.session_id, Headcount.venue_id, Headcount.count).where(
                Headcount.id.in_(latest)
            )
        )
    ).all():
        sessions[sid].venues.setdefault(venue_id, [0, 0, 0, 0.0])[0] += count
        headcounted.add(sid)
    for sid, total, answers in (
        await db.execute(
            select(SurveyAnswer.session_id, func.sum(SurveyAnswer.score), func.count())
            .where(SurveyAnswer.session_id.in_(in_range))
            .group_by(SurveyAnswer.session_id)
        )
    ).all():
        sessions[sid].score_sum, sessions[sid].answers = int(total or 0), int(answers)
    return [s for s in sessions.values() if s.connections or s.id in headcounted]


MONTHS_FI = (
    "tammikuu",
    "helmikuu",
    "maaliskuu",
    "huhtikuu",
    "toukokuu",
    "kesäkuu",
    "heinäkuu",
    "elokuu",
    "syyskuu",
    "lokakuu",
    "marraskuu",
    "joulukuu",
)
MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def month_label(key: str, lang: str) -> str:
    year, month = (int(part) for part in key.split("-"))
    names = MONTHS_EN if lang == "en" else MONTHS_FI
    return f"{names[month - 1]} {year}"


def category_label(category: str, lang: str) -> str:
    message_id = f"reports.category.{category}"
    return i18n.translate(message_id, lang) if message_id in i18n.MESSAGES else category


def _months(start: dt.date, end: dt.date) -> list[str]:
    keys = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return keys


async def attendance_report(
    db: AsyncSession, query: ReportQuery, now: dt.datetime, brief_visit_seconds: float
) -> dict[str, Any]:
    """The report as JSON-ready data: ``rows`` (one per group) and ``totals``."""
    held = await _held_sessions(db, query, now, brief_visit_seconds)
    areas = (await db.execute(select(Area.id, Area.slug, Area.name_fi, Area.name_en))).all()
    venues = (await db.execute(select(Venue.id, Venue.slug, Venue.name, Venue.area_id))).all()
    organisers = (await db.execute(select(Organiser.id, Organiser.slug, Organiser.name))).all()
    populations = dict((await db.execute(select(Area.id, Area.population))).all())
    area_of = {v.id: v.area_id for v in venues}
    lang = query.lang

    rows: dict[str, Row] = {}
    by_id: dict[int, str] = {}  # area or venue id -> row key
    if query.group_by == "area":
        for area in areas:
            label = area.name_en if lang == "en" else area.name_fi
            rows[area.slug] = Row(area.slug, label, areas={area.id})
            by_id[area.id] = area.slug
    elif query.group_by == "venue":
        for venue in venues:
            rows[venue.slug] = Row(venue.slug, venue.name, areas={venue.area_id})
            by_id[venue.id] = venue.slug
    elif query.group_by == "month":
        for key in _months(query.start, query.end):
            rows[key] = Row(key, month_label(key, lang))
    organiser_names = {o.id: (o.slug, o.name) for o in organisers}
    totals = Row("total", i18n.translate("reports.total", lang), areas=set(populations))

    def row_for_session(session: HeldSession) -> Row:
        if query.group_by == "organiser":
            slug, name = organiser_names.get(
                session.organiser_id or -1, ("none", i18n.translate("reports.no_organiser", lang))
            )
            key, label = slug, name
        elif query.group_by == "category":
            key, label = session.category, category_label(session.category, lang)
        else:
            key = session.starts_at.astimezone(CITY_TZ).strftime("%Y-%m")
            label = month_label(key, lang)
        if key not in rows:
            rows[key] = Row(key, label)
        return rows[key]

    def venue_row(venue_id: int) -> Row:
        return rows[by_id[area_of[venue_id] if query.group_by == "area" else venue_id]]

    for session in held:
        host_area = area_of[session.host_venue]
        if query.group_by in ("area", "venue"):
            hosts: Iterable[int] = (
                [session.host_venue, *session.receivers]
                if query.group_by == "venue"
                else [session.host_venue]
            )
            for venue_id in hosts:
                _add_session(venue_row(venue_id), session)
            _add_survey(venue_row(session.host_venue), session)
            for venue_id, figures in session.venues.items():
                _add_people(venue_row(venue_id), figures)
        else:
            row = row_for_session(session)
            _add_session(row, session)
            _add_survey(row, session)
            row.areas.add(host_area)
            row.areas.update(area_of[v] for v in session.receivers)
            for venue_id, figures in session.venues.items():
                _add_people(row, figures)
                row.areas.add(area_of[venue_id])
        _add_session(totals, session)
        _add_survey(totals, session)
        for figures in session.venues.values():
            _add_people(totals, figures)

    ordered = list(rows.values())
    if query.group_by in ("organiser", "category"):
        ordered.sort(key=lambda r: r.label.casefold())
    elif query.group_by == "month":
        ordered.sort(key=lambda r: r.key)
    return {
        "from": query.start.isoformat(),
        "to": query.end.isoformat(),
        "group_by": query.group_by,
        "lang": lang,
        "brief_visit_seconds": brief_visit_seconds,
        "generated_at": now.isoformat(),
        "rows": [r.as_json(populations) for r in ordered],
        "totals": totals.as_json(populations),
    }


def _add_session(row: Row, session: HeldSession) -> None:
    row.sessions_held += 1
    row.hours += session.hours
    if session.organiser_id is not None:
        row.organisers.add(session.organiser_id)


def _add_survey(row: Row, session: HeldSession) -> None:
    row.score_sum += session.score_sum
    row.answers += session.answers


def _add_people(row: Row, figures: list[float]) -> None:
    row.in_person += int(figures[0])
    row.online += int(figures[1])
    row.brief_visits += int(figures[2])
    row.online_seconds += figures[3]


# -- CSV ------------------------------------------------------------------------------------------
#: (JSON field, decimals or None for whole numbers); per-1,000 columns follow these.
CSV_COLUMNS: tuple[tuple[str, int | None], ...] = (
    ("key", None),
    ("label", None),
    ("population", 0),
    ("sessions_held", 0),
    ("activity_hours", 2),
    ("in_person", 0),
    ("online", 0),
    ("online_hours", 2),
    ("brief_visits", 0),
    ("total", 0),
    ("organisers", 0),
    ("satisfaction_mean", 2),
    ("satisfaction_answers", 0),
)


def _cell(value: Any, decimals: int | None, decimal: str) -> str:
    if value is None:
        return ""
    if decimals is None:
        return str(value)
    text = f"{value:.{decimals}f}"
    return text.replace(".", ",") if decimal == "comma" else text


def report_csv(report: Mapping[str, Any], query: ReportQuery) -> bytes:
    """UTF-8 with a BOM and ``;`` separators: what Finnish Excel and LibreOffice open as is."""
    lang = query.lang
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    header = [i18n.translate(f"reports.col.{name}", lang) for name, _ in CSV_COLUMNS]
    per = i18n.translate("reports.col.per_1000", lang)
    header += [f"{i18n.translate(f'reports.col.{m}', lang)} {per}" for m in MEASURES]
    writer.writerow(header)
    for row in [*report["rows"], report["totals"]]:
        cells = [_cell(row[name], decimals, query.decimal) for name, decimals in CSV_COLUMNS]
        cells += [_cell(row["per_1000"][m], 3, query.decimal) for m in MEASURES]
        writer.writerow(cells)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def csv_filename(query: ReportQuery) -> str:
    return f"kohtaamo-attendance-{query.group_by}-{query.start}-{query.end}.csv"
