"""Per-session online rollups: the reports read these instead of a year of intervals.

A report over a year would otherwise fold a million intervals on every request. The ledger
marks a session's rollup dirty on every join and leave; the report recomputes dirty and
missing rollups of its period (normally only today's sessions) before it aggregates. A
rollup computed while intervals were open stays dirty, so it is redone next time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stream_server.attendance.figures import compute_online, interval_rows
from stream_server.db.models import Room, Session, SessionRollup, VenueRollup

#: Sessions recomputed per query; keeps the ``IN (...)`` list within SQLite's limits.
BATCH = 400


async def mark_dirty(db: AsyncSession, session_id: str) -> None:
    """Called by the ledger on join and leave, in the same transaction."""
    await db.execute(
        update(SessionRollup).where(SessionRollup.session_id == session_id).values(dirty=True)
    )


async def stale_sessions(
    db: AsyncSession, session_ids_query: object, brief_visit_seconds: float
) -> list[str]:
    """Of the sessions selected by ``session_ids_query``, those needing a (re)computation."""
    rows = await db.scalars(
        select(Session.id)
        .outerjoin(SessionRollup, SessionRollup.session_id == Session.id)
        .where(Session.id.in_(session_ids_query))  # type: ignore[arg-type]
        .where(
            or_(
                SessionRollup.session_id.is_(None),
                SessionRollup.dirty.is_(True),
                SessionRollup.brief_visit_seconds != brief_visit_seconds,
            )
        )
    )
    return list(rows.all())


async def refresh_rollups(
    db: AsyncSession, session_ids: Sequence[str], now: dt.datetime, brief_visit_seconds: float
) -> int:
    """Recompute the rollups of the given sessions; returns how many were computed."""
    done = 0
    for start in range(0, len(session_ids), BATCH):
        batch = list(session_ids[start : start + BATCH])
        hosts = dict(
            (
                await db.execute(
                    select(Session.id, Room.venue_id)
                    .join(Room, Room.id == Session.room_id)
                    .where(Session.id.in_(batch))
                )
            ).all()
        )
        rows = await interval_rows(db, batch)
        await db.execute(delete(VenueRollup).where(VenueRollup.session_id.in_(batch)))
        await db.execute(delete(SessionRollup).where(SessionRollup.session_id.in_(batch)))
        session_rows: list[dict[str, Any]] = []
        venue_rows: list[dict[str, Any]] = []
        for sid in batch:
            online = compute_online(rows[sid], now, brief_visit_seconds)
            session_rows.append(
                {
                    "session_id": sid,
                    "dirty": online.any_open,
                    "computed_at": now,
                    "brief_visit_seconds": brief_visit_seconds,
                    "connections": online.connections,
                    "online_total": online.totals.online_total,
                    "brief_visits": online.totals.brief_visits,
                    "online_seconds": online.totals.online_seconds,
                    "peak_online": online.peak_online,
                }
            )
            merged: dict[int, list[float]] = {}
            for venue_id, counts in online.by_venue.items():
                key = hosts[sid] if venue_id is None else venue_id
                entry = merged.setdefault(key, [0, 0, 0.0])
                entry[0] += counts.online_total
                entry[1] += counts.brief_visits
                entry[2] += counts.online_seconds
            venue_rows.extend(
                {
                    "session_id": sid,
                    "venue_id": venue_id,
                    "online_total": int(total),
                    "brief_visits": int(brief),
                    "online_seconds": seconds,
                }
                for venue_id, (total, brief, seconds) in merged.items()
            )
        if session_rows:
            await db.execute(insert(SessionRollup), session_rows)
        if venue_rows:
            await db.execute(insert(VenueRollup), venue_rows)
        done += len(batch)
    return done
