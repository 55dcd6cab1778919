"""One session's attendance figures: in person (headcounts) plus online (intervals).

Definitions (also in docs/librarian.md, "What the figures mean"):

- An **online participant** is one person on their own device (channel ``tablet``,
  ``browser`` or ``whep``) in one session; reconnecting with the same attendee key continues
  the same participant. Room devices and media links (``kiosk``, ``room-link``, ``whip``,
  ``presenter``) are not participants: the people in front of a room screen are counted by
  headcount.
- A participant's **connected time** is the union of their intervals (overlaps count once);
  an interval still open counts up to now.
- A **brief visit** is an online participant whose connected time stayed under
  ``brief_visit_seconds`` and who is no longer connected. Brief visits are reported apart and
  are *not* in ``online_total``, ``total`` or ``online_minutes``. A participant connected now
  counts in ``online_total`` at once (so ``online_total >= online_now`` on a live dashboard)
  and moves to ``brief_visits`` only if they leave before the threshold.
- ``in_person`` is the sum of the latest headcount of each venue; ``total`` is
  ``in_person + online_total``.
- Online participants count towards the session's host venue unless they joined through a
  device registered to another venue (``Participant.venue_id``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Float, bindparam, cast, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from stream_server.db.models import (
    AttendanceInterval,
    Headcount,
    Participant,
    Room,
    Session,
    SessionReceiver,
    SessionRollup,
    Venue,
    VenueRollup,
)
from stream_server.vocabulary import ONLINE_CHANNELS


class IntervalRow(NamedTuple):
    """One interval with what the figures need of its participant; times in epoch seconds
    (computed by the database: a session's figures must not parse hundreds of datetimes)."""

    participant_id: int
    channel: str
    venue_id: int | None
    joined_at: float
    left_at: float | None


@dataclasses.dataclass
class OnlineCounts:
    """Online participants of one venue (or a whole session)."""

    online_total: int = 0
    brief_visits: int = 0
    online_seconds: float = 0.0


@dataclasses.dataclass
class OnlineFigures:
    """What the intervals of one session say, before headcounts are added."""

    online_now: int = 0
    peak_online: int = 0
    devices_now: int = 0
    #: Every participant, device or person: whether anything happened at all.
    connections: int = 0
    totals: OnlineCounts = dataclasses.field(default_factory=OnlineCounts)
    #: By attributed venue id (``None`` = the host venue).
    by_venue: dict[int | None, OnlineCounts] = dataclasses.field(default_factory=dict)
    #: Channel -> {"now", "total"} (brief visits are in neither).
    by_channel: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    any_open: bool = False


def _merged(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    spans.sort()
    merged: list[tuple[float, float]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def compute_online(
    rows: Iterable[IntervalRow], now: dt.datetime, brief_visit_seconds: float
) -> OnlineFigures:
    """Fold one session's intervals into counts (pure: no database, no clock)."""
    now_s = now.timestamp()
    spans: dict[int, list[tuple[float, float]]] = {}
    info: dict[int, tuple[str, int | None]] = {}
    open_now: set[int] = set()
    for pid, channel, venue_id, joined, left in rows:
        if left is None:
            open_now.add(pid)
            left = max(now_s, joined)
        if pid in spans:
            spans[pid].append((joined, left))
        else:
            spans[pid] = [(joined, left)]
            info[pid] = (channel, venue_id)
    figures = OnlineFigures(connections=len(spans), any_open=bool(open_now))
    events: list[tuple[float, int]] = []
    for pid, participant_spans in spans.items():
        channel, venue_id = info[pid]
        connected = pid in open_now
        entry = figures.by_channel.setdefault(channel, {"now": 0, "total": 0})
        if connected:
            entry["now"] += 1
        if channel not in ONLINE_CHANNELS:
            entry["total"] += 1
            if connected:
                figures.devices_now += 1
            continue
        merged = _merged(participant_spans) if len(participant_spans) > 1 else participant_spans
        seconds = sum(end - start for start, end in merged)
        venue = figures.by_venue.setdefault(venue_id, OnlineCounts())
        if connected:
            figures.online_now += 1
        if connected or seconds >= brief_visit_seconds:
            entry["total"] += 1
            for counts in (figures.totals, venue):
                counts.online_total += 1
                counts.online_seconds += seconds
        else:
            figures.totals.brief_visits += 1
            venue.brief_visits += 1
        for start, end in merged:
            events.append((start, 1))
            events.append((end, -1))
    # Ends sort before starts at the same instant: a hand-over is not two people at once.
    events.sort()
    current = 0
    for _, step in events:
        current += step
        if current > figures.peak_online:
            figures.peak_online = current
    return figures


def epoch_seconds(dialect: str, column: Any) -> Any:
    """A UTC datetime column as seconds since 1970, computed by the database."""
    if dialect == "sqlite":
        # Stored as ISO text in UTC; julianday() parses it in C.
        return (func.julianday(column) - 2440587.5) * 86400.0
    # PostgreSQL: stored as timestamp without time zone, in UTC, which extract() reads as
    # UTC. It returns numeric (a Decimal in Python) since PostgreSQL 14: make it a float.
    return cast(func.extract("epoch", column), Float)


# The live figures run on every dashboard update: their statements are built once (with a
# bound parameter) rather than per call, which costs more than SQLite's work for them.
@functools.cache
def _venues_statement() -> Any:
    session_id: Any = bindparam("session_id")
    host = (
        select(literal(0).label("kind"), Venue.id, Venue.slug, literal(0).label("value"))
        .select_from(Session)
        .join(Room, Room.id == Session.room_id)
        .join(Venue, Venue.id == Room.venue_id)
        .where(Session.id == session_id)
    )
    receivers = (
        select(literal(1), Venue.id, Venue.slug, SessionReceiver.id)
        .select_from(SessionReceiver)
        .join(Room, Room.id == SessionReceiver.room_id)
        .join(Venue, Venue.id == Room.venue_id)
        .where(SessionReceiver.session_id == session_id)
    )
    latest = (
        select(func.max(Headcount.id))
        .where(Headcount.session_id == session_id)
        .group_by(Headcount.venue_id)
    )
    heads = (
        select(literal(2), Venue.id, Venue.slug, Headcount.count)
        .select_from(Headcount)
        .join(Venue, Venue.id == Headcount.venue_id)
        .where(Headcount.id.in_(latest))
    )
    return union_all(host, receivers, heads)


def _interval_columns(dialect: str) -> tuple[Any, ...]:
    return (
        Participant.session_id,
        Participant.id,
        Participant.channel,
        Participant.venue_id,
        epoch_seconds(dialect, AttendanceInterval.joined_at),
        epoch_seconds(dialect, AttendanceInterval.left_at),
    )


@functools.cache
def _one_session_intervals(dialect: str) -> Any:
    return (
        select(*_interval_columns(dialect))
        .join(AttendanceInterval, AttendanceInterval.participant_id == Participant.id)
        .where(Participant.session_id == bindparam("session_id"))
    )


async def venues_and_headcounts(
    db: AsyncSession, session_id: str
) -> tuple[list[tuple[int, str]], dict[int, int], dict[int, str]] | None:
    """One query for the session's venues (host first, then receivers) and the standing
    headcount of each venue; ``None`` for an unknown session."""
    connection = await db.connection()
    result = await connection.execute(_venues_statement(), {"session_id": session_id})
    rows = list(result.all())
    if not any(kind == 0 for kind, *_ in rows):
        return None
    venues = sorted(((kind, value, vid, slug) for kind, vid, slug, value in rows if kind < 2))
    counts = {int(vid): int(value) for kind, vid, _, value in rows if kind == 2}
    slugs = {int(vid): str(slug) for _, vid, slug, _ in rows}
    ordered: list[tuple[int, str]] = []
    for _, _, vid, slug in venues:
        if all(vid != known for known, _ in ordered):
            ordered.append((int(vid), str(slug)))
    return ordered, counts, slugs


async def interval_rows(
    db: AsyncSession, session_ids: Sequence[str]
) -> dict[str, list[IntervalRow]]:
    """Every interval of the given sessions, grouped by session.

    Core execution and plain tuples: the ORM's row machinery would cost more than the
    figures themselves for a session of a few hundred intervals.
    """
    connection = await db.connection()
    dialect = connection.dialect.name
    if len(session_ids) == 1:
        result = await connection.execute(
            _one_session_intervals(dialect), {"session_id": session_ids[0]}
        )
    else:
        result = await connection.execute(
            select(*_interval_columns(dialect))
            .join(AttendanceInterval, AttendanceInterval.participant_id == Participant.id)
            .where(Participant.session_id.in_(session_ids))
        )
    grouped: dict[str, list[IntervalRow]] = {sid: [] for sid in session_ids}
    for row in result.all():
        grouped[row[0]].append(row[1:])  # type: ignore[arg-type]
    return grouped


async def purged_online(db: AsyncSession, session_ids: Sequence[str]) -> dict[str, OnlineFigures]:
    """The online figures of those sessions whose attendance was purged (retention), as their
    rollups keep them: totals and per venue; nothing per channel, nobody connected."""
    if not session_ids:
        return {}
    rows = await db.execute(
        select(
            SessionRollup.session_id,
            SessionRollup.connections,
            SessionRollup.online_total,
            SessionRollup.brief_visits,
            SessionRollup.online_seconds,
            SessionRollup.peak_online,
        ).where(SessionRollup.session_id.in_(session_ids), SessionRollup.purged.is_(True))
    )
    found: dict[str, OnlineFigures] = {}
    for sid, connections, online_total, brief_visits, online_seconds, peak in rows.all():
        found[sid] = OnlineFigures(
            peak_online=peak,
            connections=connections,
            totals=OnlineCounts(online_total, brief_visits, online_seconds),
        )
    if found:
        venues = await db.execute(
            select(
                VenueRollup.session_id,
                VenueRollup.venue_id,
                VenueRollup.online_total,
                VenueRollup.brief_visits,
                VenueRollup.online_seconds,
            ).where(VenueRollup.session_id.in_(list(found)))
        )
        for sid, venue_id, online_total, brief_visits, online_seconds in venues.all():
            if online_total or brief_visits or online_seconds:
                found[sid].by_venue[venue_id] = OnlineCounts(
                    online_total, brief_visits, online_seconds
                )
    return found


def empty_figures(session_id: str) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "in_person": 0,
        "online_total": 0,
        "online_now": 0,
        "peak_online": 0,
        "total": 0,
        "brief_visits": 0,
        "online_minutes": 0.0,
        "devices_now": 0,
        "by_channel": {},
        "by_venue": {},
        "headcounts": {},
    }


async def session_figures(
    db: AsyncSession, session_id: str, now: dt.datetime, brief_visit_seconds: float
) -> dict[str, Any] | None:
    """The figures of ``GET /api/sessions/{id}/attendance``; ``None`` for an unknown session."""
    found = await venues_and_headcounts(db, session_id)
    if found is None:
        return None
    venues, heads, known = found
    host_id = venues[0][0]
    slugs = dict(venues)
    slugs.update({v: slug for v, slug in known.items() if v in heads})
    rows = (await interval_rows(db, [session_id]))[session_id]
    online = compute_online(rows, now, brief_visit_seconds)
    if not rows:  # no intervals: none yet, or purged (then the rollup has the figures)
        online = (await purged_online(db, [session_id])).get(session_id, online)
    missing = {v for v in online.by_venue if v is not None and v not in slugs}
    if missing:
        extra = await db.execute(select(Venue.id, Venue.slug).where(Venue.id.in_(missing)))
        slugs.update({int(i): str(s) for i, s in extra.all()})
    by_venue: dict[str, dict[str, int]] = {}
    for venue_id, slug in slugs.items():
        by_venue[slug] = {"in_person": heads.get(venue_id, 0), "online_total": 0, "brief_visits": 0}
    for attributed, counts in online.by_venue.items():
        entry = by_venue[slugs[host_id if attributed is None else attributed]]
        entry["online_total"] += counts.online_total
        entry["brief_visits"] += counts.brief_visits
    for entry in by_venue.values():
        entry["total"] = entry["in_person"] + entry["online_total"]
    in_person = sum(heads.values())
    return {
        "session_id": session_id,
        "in_person": in_person,
        "online_total": online.totals.online_total,
        "online_now": online.online_now,
        "peak_online": online.peak_online,
        "total": in_person + online.totals.online_total,
        "brief_visits": online.totals.brief_visits,
        "online_minutes": round(online.totals.online_seconds / 60, 1),
        "devices_now": online.devices_now,
        "by_channel": online.by_channel,
        "by_venue": by_venue,
        "headcounts": {slugs[v]: c for v, c in heads.items()},
    }
