"""What the public programme page lists: public sessions of a stretch of days, filtered.

The page filters as the feeds do (:mod:`stream_server.catalog.listing`, read forgivingly:
an old bookmark keeps working, it just shows more). A library filter matches the sessions
held there *and* the broadcasts received there: the same content in town and countryside.
Private sessions are never listed; cancelled ones are, so that nobody comes in vain.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from stream_server.basics import CITY_TZ, DOORS, DoorTimes
from stream_server.catalog.listing import ProgrammeFilter, public_occurrences
from stream_server.catalog.service import Phase, session_phase
from stream_server.db.models import Session, SessionStatus


def day_start(day: dt.date) -> dt.datetime:
    """Midnight in Kuopio, as an aware datetime (days are local days, not UTC ones)."""
    return dt.datetime.combine(day, dt.time(), CITY_TZ)


async def list_programme(
    db: AsyncSession,
    wanted: ProgrammeFilter,
    first_day: dt.date,
    days: int,
    now: dt.datetime,
    doors: DoorTimes = DOORS,
) -> list[Session]:
    """Public sessions starting on ``days`` local days from ``first_day``, soonest first.

    Sessions that are over are left out (the page is for what is still to come); cancelled
    ones stay until their scheduled end, so the cancellation is seen.
    """
    start = day_start(first_day)
    end = day_start(first_day + dt.timedelta(days=days))
    since = max(start, now - doors.grace).astimezone(dt.UTC)
    listed = []
    for session in await public_occurrences(db, wanted, since, end.astimezone(dt.UTC)):
        if session.status == SessionStatus.CANCELLED:
            if session.ends_at <= now:
                continue
        elif session_phase(session, now, doors) == Phase.ENDED:
            continue
        listed.append(session)
    return listed


def next_change(sessions: list[Session], now: dt.datetime, doors: DoorTimes = DOORS) -> dt.datetime:
    """The next moment the listing changes by the clock alone: doors open, a start, an end
    (or its grace), a cancelled session's end, or midnight. A notice board re-reads its
    entries then, besides on every pushed change."""
    midnight = day_start(now.astimezone(CITY_TZ).date() + dt.timedelta(days=1))
    moments = [midnight]
    for session in sessions:
        moments += [
            session.starts_at - doors.open_before,
            session.starts_at,
            session.ends_at,
            session.ends_at + doors.grace,
        ]
    return min(m for m in moments if m > now)
