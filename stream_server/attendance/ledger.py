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

from sqlalchemy import case, func, select, update

from stream_server.attendance.events import AttendanceEvents
from stream_server.catalog.service import hash_secret, utcnow
from stream_server.db.engine import Database
from stream_server.db.models import AttendanceInterval, Participant

logger = logging.getLogger(__name__)

#: People on their own devices: each one is an online participant.
ONLINE_CHANNELS = frozenset({"tablet", "browser", "whep"})
#: Room devices and media links: recorded, but the people in the room are counted by headcount.
DEVICE_CHANNELS = frozenset({"kiosk", "room-link", "whip", "presenter"})
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
    ) -> None:
        self._db = database
        self._clock = clock
        self.events = events or AttendanceEvents()

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
        """Live and cumulative counts for one session."""
        async with self._db.session() as db:
            open_participant = (
                select(AttendanceInterval.participant_id)
                .where(AttendanceInterval.left_at.is_(None))
                .distinct()
                .scalar_subquery()
            )
            rows = (
                await db.execute(
                    select(
                        Participant.channel,
                        func.count(Participant.id),
                        func.sum(case((Participant.id.in_(open_participant), 1), else_=0)),
                    )
                    .where(Participant.session_id == session_id)
                    .group_by(Participant.channel)
                )
            ).all()
        by_channel: dict[str, dict[str, int]] = {}
        online_now = online_total = devices_now = 0
        for channel, total, now in rows:
            now = int(now or 0)
            by_channel[channel] = {"now": now, "total": int(total)}
            if channel in ONLINE_CHANNELS:
                online_now += now
                online_total += int(total)
            else:
                devices_now += now
        return {
            "session_id": session_id,
            "online_now": online_now,
            "online_total": online_total,
            "devices_now": devices_now,
            "by_channel": by_channel,
        }
