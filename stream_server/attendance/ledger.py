"""The attendance ledger: who was connected to which session, when — counts, never names.

Every join and leave is committed at once, so a crash loses nothing that was recorded.
Open intervals are touched every few seconds (``last_seen_at``); after a crash, start-up
closes them at that moment, so a restart neither loses nor inflates attendance.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select, update

from stream_server.attendance import rollups
from stream_server.attendance.events import AttendanceEvents
from stream_server.attendance.figures import (
    DEVICE_CHANNELS,
    ONLINE_CHANNELS,
    empty_figures,
    session_figures,
)
from stream_server.catalog.service import hash_secret, utcnow
from stream_server.db.engine import Database
from stream_server.db.models import AttendanceInterval, Participant, SessionRollup

logger = logging.getLogger(__name__)

__all__ = ["CHANNELS", "DEVICE_CHANNELS", "ONLINE_CHANNELS", "AttendanceLedger", "Presence"]

CHANNELS = ONLINE_CHANNELS | DEVICE_CHANNELS


class AttendanceError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Presence:
    """A handle on one open interval; give it back to :meth:`AttendanceLedger.leave`."""

    participant_id: int
    interval_id: int
    session_id: str
    channel: str
    resumed: bool = False


class AttendanceLedger:
    """Records attendance intervals in the database."""

    def __init__(
        self,
        database: Database,
        clock: Callable[[], dt.datetime] = utcnow,
        events: AttendanceEvents | None = None,
        *,
        brief_visit_seconds: float = 60.0,
    ) -> None:
        self._db = database
        self._clock = clock
        self.events = events or AttendanceEvents()
        self.brief_visit_seconds = brief_visit_seconds

    def changed(self, session_id: str, what: str) -> None:
        """Tell live subscribers (the staff dashboard) that a session's figures moved."""
        self.events.publish({"type": what, "session_id": session_id})

    async def join(
        self,
        session_id: str,
        channel: str,
        *,
        role: str = "viewer",
        attendee_key: str | None = None,
        room_id: int | None = None,
        venue_id: int | None = None,
    ) -> Presence:
        """Open an interval; the same ``attendee_key`` continues the same participant."""
        if channel not in CHANNELS:
            raise AttendanceError(f"unknown channel {channel!r}")
        now = self._clock()
        key_hash = hash_secret(f"{session_id}:{attendee_key}") if attendee_key else None
        async with self._db.session() as db:
            participant = None
            resumed = False
            if key_hash is not None:
                participant = await db.scalar(
                    select(Participant).where(
                        Participant.session_id == session_id,
                        Participant.attendee_key_hash == key_hash,
                    )
                )
            resumed = participant is not None
            if participant is None:
                participant = Participant(
                    session_id=session_id,
                    channel=channel,
                    role=role,
                    is_device=channel in DEVICE_CHANNELS,
                    room_id=room_id,
                    venue_id=venue_id,
                    attendee_key_hash=key_hash,
                    first_joined_at=now,
                )
                db.add(participant)
                await db.flush()
            interval = AttendanceInterval(
                participant_id=participant.id, joined_at=now, last_seen_at=now
            )
            db.add(interval)
            await db.flush()
            await rollups.mark_dirty(db, session_id)
            presence = Presence(
                participant.id, interval.id, session_id, participant.channel, resumed
            )
        logger.info(
            "session %s: %s joined (participant %d, interval %d)",
            session_id,
            channel,
            presence.participant_id,
            presence.interval_id,
        )
        self.changed(session_id, "join")
        return presence

    async def leave(self, presence: Presence, reason: str = "left") -> bool:
        """Close the interval; closing twice is harmless (returns False the second time)."""
        now = self._clock()
        async with self._db.session() as db:
            result = await db.execute(
                update(AttendanceInterval)
                .where(
                    AttendanceInterval.id == presence.interval_id,
                    AttendanceInterval.left_at.is_(None),
                )
                .values(left_at=now, last_seen_at=now, close_reason=reason)
            )
            await rollups.mark_dirty(db, presence.session_id)
        closed = bool(result.rowcount)  # type: ignore[attr-defined]
        if closed:
            logger.info(
                "session %s: %s left (%s, interval %d)",
                presence.session_id,
                presence.channel,
                reason,
                presence.interval_id,
            )
            self.changed(presence.session_id, "leave")
        return closed

    async def touch(self, interval_ids: Iterable[int]) -> None:
        """Mark open intervals as alive now (called periodically by the app)."""
        ids = list(interval_ids)
        if not ids:
            return
        async with self._db.session() as db:
            await db.execute(
                update(AttendanceInterval)
                .where(AttendanceInterval.id.in_(ids), AttendanceInterval.left_at.is_(None))
                .values(last_seen_at=self._clock())
            )

    async def close_stale_intervals(self) -> int:
        """At start-up: intervals still open belong to a previous process; close them at the
        last moment they were known alive."""
        async with self._db.session() as db:
            open_sessions = (
                select(Participant.session_id)
                .join(AttendanceInterval, AttendanceInterval.participant_id == Participant.id)
                .where(AttendanceInterval.left_at.is_(None))
            )
            await db.execute(
                update(SessionRollup)
                .where(SessionRollup.session_id.in_(open_sessions))
                .values(dirty=True)
            )
            result = await db.execute(
                update(AttendanceInterval)
                .where(AttendanceInterval.left_at.is_(None))
                .values(left_at=AttendanceInterval.last_seen_at, close_reason="server-restart")
            )
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if count:
            logger.warning("closed %d attendance interval(s) left open by a previous run", count)
        return count

    async def summary(self, session_id: str) -> dict[str, Any]:
        """Live and cumulative figures for one session (see :mod:`.figures` for definitions);
        an unknown session gives zeros."""
        async with self._db.session() as db:
            result = await session_figures(db, session_id, self._clock(), self.brief_visit_seconds)
        return result if result is not None else empty_figures(session_id)

    async def figures(self, session_id: str) -> dict[str, Any] | None:
        """Like :meth:`summary`, but ``None`` for an unknown session (the API answers 404)."""
        async with self._db.session() as db:
            return await session_figures(db, session_id, self._clock(), self.brief_visit_seconds)
