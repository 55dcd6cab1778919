"""Attendance retention: delete old participants and intervals, keep the figures.

The city keeps personal data only as long as needed. Attendance intervals say when a device
was connected; after a while only the figures are needed. :func:`purge_attendance` deletes
the participants and intervals of sessions that started before a date and are over, after
first bringing their rollups up to date and marking them ``purged``: reports read rollups, so
they show the same figures afterwards, and a later recomputation (a corrected headcount,
another brief-visit threshold) keeps the online figures the rollup holds instead of folding
the intervals that are gone. Headcounts and survey answers (counts, anonymous) are kept.

``kohtaamo attendance purge --before DATE`` runs it once; with ``attendance_retention_days``
set, the server runs it at start-up and daily (:func:`retention_loop`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy import delete, exists, func, select, update

from stream_server.attendance.rollups import BATCH, refresh_rollups
from stream_server.basics import CITY_TZ, utcnow
from stream_server.db.engine import Database
from stream_server.db.models import AttendanceInterval, Participant, Session, SessionRollup

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class PurgeResult:
    """What a purge deleted (or, dry, would delete)."""

    sessions: int = 0
    participants: int = 0
    intervals: int = 0


def start_of_day(day: dt.date) -> dt.datetime:
    """Midnight at the start of ``day`` in the city (Europe/Helsinki), as UTC."""
    return dt.datetime.combine(day, dt.time(), tzinfo=CITY_TZ).astimezone(dt.UTC)


def retention_cutoff(days: float, now: dt.datetime) -> dt.datetime:
    """Sessions that started before this are purged: the start of the city's day ``days``
    days ago (whole days, so a purge never cuts through one day's sessions)."""
    day = (now - dt.timedelta(days=days)).astimezone(CITY_TZ).date()
    return start_of_day(day)


async def purge_attendance(
    database: Database,
    before: dt.datetime,
    brief_visit_seconds: float,
    *,
    now: dt.datetime | None = None,
    dry_run: bool = False,
) -> PurgeResult:
    """Delete the participants and intervals of sessions that started before ``before`` and
    are over (ended or past their scheduled end, nobody connected); their rollups stay.

    Runs in batches, each its own transaction: a batch's rollups are refreshed and marked
    purged in the same transaction that deletes its intervals, so no batch is ever half done.
    """
    now = now or utcnow()
    if before > now:
        raise ValueError("the purge date must not be in the future")
    open_intervals = (
        select(Participant.session_id)
        .join(AttendanceInterval, AttendanceInterval.participant_id == Participant.id)
        .where(AttendanceInterval.left_at.is_(None))
    )
    candidates = (
        select(Session.id)
        .where(
            Session.starts_at < before,
            func.coalesce(Session.ended_at, Session.ends_at) < now,
            exists().where(Participant.session_id == Session.id),
            Session.id.not_in(open_intervals),
        )
        .order_by(Session.starts_at)
    )
    async with database.session() as db:
        session_ids = list((await db.scalars(candidates)).all())
    result = PurgeResult()
    for start in range(0, len(session_ids), BATCH):
        batch = session_ids[start : start + BATCH]
        async with database.session() as db:
            people = select(Participant.id).where(Participant.session_id.in_(batch))
            participants = int(
                await db.scalar(select(func.count()).select_from(people.subquery())) or 0
            )
            intervals = int(
                await db.scalar(
                    select(func.count()).where(AttendanceInterval.participant_id.in_(people))
                )
                or 0
            )
            result.sessions += len(batch)
            result.participants += participants
            result.intervals += intervals
            if dry_run:
                continue
            await refresh_rollups(db, batch, now, brief_visit_seconds)
            await db.execute(
                update(SessionRollup)
                .where(SessionRollup.session_id.in_(batch))
                .values(purged=True, dirty=False)
            )
            await db.execute(
                delete(AttendanceInterval).where(AttendanceInterval.participant_id.in_(people))
            )
            await db.execute(delete(Participant).where(Participant.session_id.in_(batch)))
    if result.sessions and not dry_run:
        logger.info(
            "attendance before %s purged: %d sessions, %d participants, %d intervals "
            "(their figures are kept in the rollups)",
            before.astimezone(CITY_TZ).date().isoformat(),
            result.sessions,
            result.participants,
            result.intervals,
        )
    return result


async def retention_loop(
    database: Database,
    days: float,
    brief_visit_seconds: float,
    every: float = 86400,
    clock: Callable[[], dt.datetime] = utcnow,
) -> None:
    """Purge attendance older than ``days`` now and then once a day."""
    while True:
        now = clock()
        try:
            await purge_attendance(
                database, retention_cutoff(days, now), brief_visit_seconds, now=now
            )
        except Exception:
            logger.exception("attendance retention failed")
        await asyncio.sleep(every)
