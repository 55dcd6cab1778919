"""Attendance reports for a period, grouped by area, venue, organiser, category or month.

The measures and how a broadcast is attributed are defined in docs/librarian.md ("What
the figures mean"); in short:

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
from collections.abc import Mapping
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from stream_server import i18n
from stream_server.attendance import rollups
from stream_server.basics import CITY_TZ
from stream_server.db.models import Area, Organiser, Venue, VenueRollup

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
    languages = i18n.default_catalogs().languages
    if "lang" in params and params["lang"] not in languages:
        raise ReportError("invalid_lang", f"lang must be one of {', '.join(languages)}")
    chosen = params.get("lang") or lang or i18n.DEFAULT_LANGUAGE
    return ReportQuery(start, end, group_by, fmt, chosen, decimal)


def local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=CITY_TZ).astimezone(dt.UTC)


@dataclasses.dataclass
class Row:
    """One group's sums, as the database aggregated them."""

    key: str
    label: str
    sessions_held: int = 0
    hours: float = 0.0
    in_person: int = 0
    #: Of ``in_person``: counted in rooms that showed another venue's broadcast on a screen.
    in_person_receiving: int = 0
    online: int = 0
    online_seconds: float = 0.0
    brief_visits: int = 0
    organisers: int = 0
    score_sum: int = 0
    answers: int = 0
    areas: set[int] = dataclasses.field(default_factory=set)

    def as_json(self, populations: Mapping[int, int]) -> dict[str, Any]:
        population = sum(populations.get(a, 0) for a in self.areas)
        values: dict[str, float] = {
            "sessions_held": self.sessions_held,
            "activity_hours": round(self.hours, 2),
            "in_person": self.in_person,
            "online": self.online,
            "online_hours": round(self.online_seconds / 3600, 2),
            "brief_visits": self.brief_visits,
            "total": self.in_person + self.online,
            "organisers": self.organisers,
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
            # Explains a row whose people came to a screen: a broadcast's hours and the
            # session count at its host, its receiving rooms' headcounts at their own venue.
            "in_person_receiving": self.in_person_receiving,
            "satisfaction_mean": round(self.score_sum / self.answers, 2) if self.answers else None,
            "satisfaction_answers": self.answers,
            "per_1000": per_1000,
        }


def month_label(key: str, lang: str) -> str:
    year, month = (int(part) for part in key.split("-"))
    return i18n.translator(lang).month(year, month)


def category_label(category: str, lang: str) -> str:
    message_id = f"reports.category.{category}"
    translate = i18n.translator(lang)
    return translate(message_id) if translate.has(message_id) else category


def _months(start: dt.date, end: dt.date) -> list[str]:
    keys = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return keys


_KEYS: dict[str, Any] = {
    "area": VenueRollup.area_id,
    "venue": VenueRollup.venue_id,
    "organiser": VenueRollup.organiser_id,
    "category": VenueRollup.category,
    "month": VenueRollup.month,
}


def _session_sums(counted: Any) -> list[Any]:
    """Over the rows that count a session (see ``counted``); the host's come apart for the
    totals, where a broadcast counts once even when grouped by venue."""
    host = VenueRollup.role == rollups.HOST
    return [
        func.count(),
        func.sum(VenueRollup.hours),
        func.sum(case((host, 1), else_=0)),
        func.sum(case((host, VenueRollup.hours), else_=0.0)),
        func.sum(VenueRollup.survey_sum),
        func.sum(VenueRollup.survey_count),
    ]


def period_bounds(query: ReportQuery) -> tuple[dt.datetime, dt.datetime]:
    """The period as UTC instants: from the first day's local midnight to the next day's."""
    return local_midnight(query.start), local_midnight(query.end + dt.timedelta(days=1))


async def attendance_report(
    db: AsyncSession,
    query: ReportQuery,
    now: dt.datetime,
    brief_visit_seconds: float,
    *,
    freshen: bool = True,
    venue_id: int | None = None,
    organiser_id: int | None = None,
) -> dict[str, Any]:
    """The report as JSON-ready data: ``rows`` (one per group) and ``totals``.

    ``freshen=False`` when the caller has just brought the rollups up to date itself.
    ``venue_id`` or ``organiser_id`` narrow it to one venue's rows (a librarian's) or one
    organiser's sessions (a coordinator's).
    """
    lo, hi = period_bounds(query)
    if freshen:
        await rollups.freshen(db, lo, hi, now, brief_visit_seconds)
    lang = query.lang
    group_by = query.group_by
    in_period: tuple[Any, ...] = (
        VenueRollup.starts_at >= lo,
        VenueRollup.starts_at < hi,
        VenueRollup.starts_at <= now,
        VenueRollup.held.is_(True),
    )
    if venue_id is not None:
        in_period += (VenueRollup.venue_id == venue_id,)
    if organiser_id is not None:
        in_period += (VenueRollup.organiser_id == organiser_id,)
    # Grouped by venue a broadcast counts at its host and at each receiving venue; otherwise
    # once, at the host (so the areas' sessions and hours add up to the city's).
    counted = (
        VenueRollup.role.in_((rollups.HOST, rollups.RECEIVER))
        if group_by == "venue"
        else VenueRollup.role == rollups.HOST
    )
    key_column = _KEYS[group_by]
    # Two passes over the period's rows: people by (group, area) — the areas give each group
    # its population — and the sessions by (group, organiser), over the rows that count a
    # session. The totals are the sums of the groups, counting a broadcast once.
    people = (
        await db.execute(
            select(
                key_column,
                VenueRollup.area_id,
                func.sum(VenueRollup.in_person),
                func.sum(
                    case((VenueRollup.role == rollups.RECEIVER, VenueRollup.in_person), else_=0)
                ),
                func.sum(VenueRollup.online_total),
                func.sum(VenueRollup.brief_visits),
                func.sum(VenueRollup.online_seconds),
            )
            .where(*in_period)
            .group_by(key_column, VenueRollup.area_id)
        )
    ).all()
    held = (
        await db.execute(
            select(key_column, VenueRollup.organiser_id, *_session_sums(counted))
            .where(*in_period, counted)
            .group_by(key_column, VenueRollup.organiser_id)
        )
    ).all()

    areas = (await db.execute(select(Area.id, Area.slug, Area.name_fi, Area.name_en))).all()
    populations = {a_id: 0 for a_id, *_ in areas}
    populations.update(dict((await db.execute(select(Area.id, Area.population))).all()))
    rows: dict[Any, Row] = {}
    if group_by == "area":
        for area in areas:
            label = area.name_en if lang == "en" else area.name_fi
            rows[area.id] = Row(area.slug, label, areas={area.id})
    elif group_by == "venue":
        for venue in (
            await db.execute(select(Venue.id, Venue.slug, Venue.name, Venue.area_id))
        ).all():
            rows[venue.id] = Row(venue.slug, venue.name, areas={venue.area_id})
    elif group_by == "month":
        for key in _months(query.start, query.end):
            rows[key] = Row(key, month_label(key, lang))
    elif group_by == "organiser":
        names = dict(
            (o_id, (slug, name))
            for o_id, slug, name in (
                await db.execute(select(Organiser.id, Organiser.slug, Organiser.name))
            ).all()
        )
        for key, *_ in people:
            slug, name = names.get(key, ("none", i18n.translator(lang)("reports.no_organiser")))
            rows.setdefault(key, Row(slug, name))
    else:
        for key, *_ in people:
            rows.setdefault(key, Row(key, category_label(key, lang)))
    totals = Row("total", i18n.translator(lang)("reports.total"), areas=set(populations))
    for key, area_id, in_person, receiving, online, brief, seconds in people:
        for row in (rows[key], totals):
            row.in_person += int(in_person or 0)
            row.in_person_receiving += int(receiving or 0)
            row.online += int(online or 0)
            row.brief_visits += int(brief or 0)
            row.online_seconds += float(seconds or 0)
        if group_by not in ("area", "venue"):
            rows[key].areas.add(area_id)
    organisers: set[int] = set()
    for key, organiser_id, count, hours, host_count, host_hours, score, answers in held:
        row = rows[key]
        row.sessions_held += int(count)
        row.hours += float(hours or 0)
        totals.sessions_held += int(host_count or 0)
        totals.hours += float(host_hours or 0)
        for target in (row, totals):
            target.score_sum += int(score or 0)
            target.answers += int(answers or 0)
        if organiser_id is not None:
            row.organisers += 1  # one (group, organiser) pair per result row
            organisers.add(organiser_id)
    totals.organisers = len(organisers)

    ordered = list(rows.values())
    if group_by in ("organiser", "category"):
        ordered.sort(key=lambda r: r.label.casefold())
    elif group_by == "month":
        ordered.sort(key=lambda r: r.key)
    return {
        "from": query.start.isoformat(),
        "to": query.end.isoformat(),
        "group_by": group_by,
        "lang": lang,
        "brief_visit_seconds": brief_visit_seconds,
        "generated_at": now.isoformat(),
        "rows": [r.as_json(populations) for r in ordered],
        "totals": totals.as_json(populations),
    }


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
    tr = i18n.translator(lang)
    header = [tr(f"reports.col.{name}") for name, _ in CSV_COLUMNS]
    per = tr("reports.col.per_1000")
    header += [f"{tr(f'reports.col.{m}')} {per}" for m in MEASURES]
    writer.writerow(header)
    for row in [*report["rows"], report["totals"]]:
        cells = [_cell(row[name], decimals, query.decimal) for name, decimals in CSV_COLUMNS]
        cells += [_cell(row["per_1000"][m], 3, query.decimal) for m in MEASURES]
        writer.writerow(cells)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def csv_filename(query: ReportQuery) -> str:
    return f"kohtaamo-attendance-{query.group_by}-{query.start}-{query.end}.csv"
