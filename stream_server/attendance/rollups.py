"""Per-session rollups: the reports read these instead of a year of intervals.

A report over a year would otherwise fold a million intervals on every request. Each session
gets a :class:`SessionRollup` and one :class:`VenueRollup` row per venue it involves, with the
session's attributes copied in, so a report is a range scan and a GROUP BY.

Freshness without hooks in every writer: the ledger marks a session dirty on every join and
leave (and at start-up when it closes intervals left open); headcounts and survey answers
are append-only, so a watermark (the highest id seen) finds the sessions that got new ones;
a rollup computed while its session was running or had open intervals stays dirty. Before
aggregating, a report recomputes the dirty and missing rollups of its period — normally only
today's sessions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stream_server.attendance.figures import compute_online, interval_rows, purged_online
from stream_server.basics import CITY_TZ
from stream_server.db.models import (
    Headcount,
    RollupWatermark,
    Room,
    Session,
    SessionReceiver,
    SessionRollup,
    SessionStatus,
    SurveyAnswer,
    Venue,
    VenueRollup,
)

#: Sessions recomputed per query; keeps the ``IN (...)`` list within SQLite's limits.
BATCH = 400
HOST, RECEIVER, ELSEWHERE = 0, 1, 2


async def mark_dirty(db: AsyncSession, session_id: str) -> None:
    """Called by the ledger on join and leave, in the same transaction (once per session
    per transaction: a burst of joins shares one)."""
    marked: set[str] = db.info.setdefault("rollups_marked_dirty", set())
    if session_id in marked:
        return
    marked.add(session_id)
    await db.execute(
        update(SessionRollup).where(SessionRollup.session_id == session_id).values(dirty=True)
    )


async def _watermarks(db: AsyncSession) -> dict[str, float]:
    rows = await db.execute(select(RollupWatermark.name, RollupWatermark.value))
    return {name: float(value) for name, value in rows.all()}


async def freshen(
    db: AsyncSession,
    lo: dt.datetime,
    hi: dt.datetime,
    now: dt.datetime,
    brief_visit_seconds: float,
) -> int:
    """Recompute what is stale among sessions starting in ``[lo, hi)`` and before ``now``."""
    marks = await _watermarks(db)
    if marks.get("brief_visit_seconds") != brief_visit_seconds:
        await db.execute(update(SessionRollup).values(dirty=True))
        await db.merge(RollupWatermark(name="brief_visit_seconds", value=brief_visit_seconds))
    for name, table in (("headcounts", Headcount), ("survey_answers", SurveyAnswer)):
        top = await db.scalar(select(func.max(table.id)))
        seen = int(marks.get(name, 0))
        if top is not None and top > seen:
            changed = select(table.session_id).where(table.id > seen)
            await db.execute(
                update(SessionRollup)
                .where(SessionRollup.session_id.in_(changed))
                .values(dirty=True)
            )
            await db.merge(RollupWatermark(name=name, value=top))
    in_range = (Session.starts_at >= lo, Session.starts_at < hi, Session.starts_at <= now)
    sessions = await db.scalar(select(func.count()).select_from(Session).where(*in_range))
    known = await db.scalar(
        select(func.count())
        .select_from(SessionRollup)
        .where(
            SessionRollup.starts_at >= lo,
            SessionRollup.starts_at < hi,
            SessionRollup.starts_at <= now,
        )
    )
    stale: list[str] = []
    if sessions != known:
        stale += (
            await db.scalars(
                select(Session.id)
                .outerjoin(SessionRollup, SessionRollup.session_id == Session.id)
                .where(*in_range, SessionRollup.session_id.is_(None))
            )
        ).all()
    stale += (
        await db.scalars(
            select(SessionRollup.session_id).where(
                SessionRollup.dirty.is_(True),
                SessionRollup.starts_at >= lo,
                SessionRollup.starts_at < hi,
                SessionRollup.starts_at <= now,
            )
        )
    ).all()
    if stale:
        await refresh_rollups(db, stale, now, brief_visit_seconds)
    return len(stale)


def _venue_row(
    rows: dict[int, dict[str, Any]],
    common: dict[str, Any],
    venue_id: int,
    area_id: int,
    role: int,
) -> dict[str, Any]:
    """The venue's row of one session, made on first use with the role it was first seen in."""
    if venue_id not in rows:
        rows[venue_id] = {
            **common,
            "venue_id": venue_id,
            "area_id": area_id,
            "role": role,
            "in_person": 0,
            "online_total": 0,
            "brief_visits": 0,
            "online_seconds": 0.0,
            "survey_sum": 0,
            "survey_count": 0,
        }
    return rows[venue_id]


def realised_hours(
    starts_at: dt.datetime, ends_at: dt.datetime, ended_at: dt.datetime | None, now: dt.datetime
) -> float:
    """Scheduled length, cut short if the host ended early or the session is still running."""
    end = min(ends_at, ended_at or ends_at, now)
    return max(0.0, (end - starts_at).total_seconds() / 3600)


async def refresh_rollups(
    db: AsyncSession, session_ids: Sequence[str], now: dt.datetime, brief_visit_seconds: float
) -> int:
    """Recompute the rollups of the given sessions; returns how many were computed."""
    area_of = dict((await db.execute(select(Venue.id, Venue.area_id))).all())
    done = 0
    for start in range(0, len(session_ids), BATCH):
        batch = list(session_ids[start : start + BATCH])
        sessions = (
            await db.execute(
                select(
                    Session.id,
                    Session.starts_at,
                    Session.ends_at,
                    Session.ended_at,
                    Session.category,
                    Session.organiser_id,
                    Room.venue_id,
                    Session.status,
                )
                .join(Room, Room.id == Session.room_id)
                .where(Session.id.in_(batch))
            )
        ).all()
        receivers: dict[str, list[int]] = {}
        for sid, venue_id in (
            await db.execute(
                select(SessionReceiver.session_id, Room.venue_id)
                .join(Room, Room.id == SessionReceiver.room_id)
                .where(SessionReceiver.session_id.in_(batch))
            )
        ).all():
            receivers.setdefault(sid, []).append(venue_id)
        latest = (
            select(func.max(Headcount.id))
            .where(Headcount.session_id.in_(batch))
            .group_by(Headcount.session_id, Headcount.venue_id)
        )
        heads: dict[str, dict[int, int]] = {}
        for sid, venue_id, count in (
            await db.execute(
                select(Headcount.session_id, Headcount.venue_id, Headcount.count).where(
                    Headcount.id.in_(latest)
                )
            )
        ).all():
            heads.setdefault(sid, {})[venue_id] = count
        surveys = {
            sid: (int(total or 0), int(answers))
            for sid, total, answers in (
                await db.execute(
                    select(SurveyAnswer.session_id, func.sum(SurveyAnswer.score), func.count())
                    .where(SurveyAnswer.session_id.in_(batch))
                    .group_by(SurveyAnswer.session_id)
                )
            ).all()
        }
        intervals = await interval_rows(db, batch)
        # Sessions whose intervals were purged keep the online figures their rollups hold.
        purged = await purged_online(db, batch)
        await db.execute(delete(VenueRollup).where(VenueRollup.session_id.in_(batch)))
        await db.execute(delete(SessionRollup).where(SessionRollup.session_id.in_(batch)))
        session_rows: list[dict[str, Any]] = []
        venue_rows: list[dict[str, Any]] = []
        for sid, starts_at, ends_at, ended_at, category, organiser_id, host, status in sessions:
            online = purged.get(sid) or compute_online(intervals[sid], now, brief_visit_seconds)
            counts = heads.get(sid, {})
            # A cancelled session was never held, whatever was recorded before it was.
            held = (
                starts_at <= now
                and status != SessionStatus.CANCELLED
                and bool(online.connections or counts)
            )
            running = now < min(ends_at, ended_at or ends_at)
            session_rows.append(
                {
                    "session_id": sid,
                    "starts_at": starts_at,
                    "dirty": running or online.any_open,
                    "computed_at": now,
                    "held": held,
                    "connections": online.connections,
                    "online_total": online.totals.online_total,
                    "brief_visits": online.totals.brief_visits,
                    "online_seconds": online.totals.online_seconds,
                    "peak_online": online.peak_online,
                    "purged": sid in purged,
                }
            )
            common = {
                "starts_at": starts_at,
                "session_id": sid,
                "month": starts_at.astimezone(CITY_TZ).strftime("%Y-%m"),
                "category": category,
                "organiser_id": organiser_id,
                "held": held,
                "hours": realised_hours(starts_at, ends_at, ended_at, now),
            }
            rows: dict[int, dict[str, Any]] = {}

            def row(venue_id: int, role: int) -> dict[str, Any]:
                return _venue_row(rows, common, venue_id, area_of[venue_id], role)  # noqa: B023

            host_row = row(host, HOST)
            host_row["survey_sum"], host_row["survey_count"] = surveys.get(sid, (0, 0))
            for venue_id in receivers.get(sid, []):
                row(venue_id, RECEIVER)
            for venue_id, count in counts.items():
                row(venue_id, ELSEWHERE)["in_person"] += count
            for attributed, figures in online.by_venue.items():
                entry = row(host if attributed is None else attributed, ELSEWHERE)
                entry["online_total"] += figures.online_total
                entry["brief_visits"] += figures.brief_visits
                entry["online_seconds"] += figures.online_seconds
            venue_rows.extend(rows.values())
        if session_rows:
            await db.execute(insert(SessionRollup), session_rows)
        if venue_rows:
            await db.execute(insert(VenueRollup), venue_rows)
        done += len(batch)
    return done
