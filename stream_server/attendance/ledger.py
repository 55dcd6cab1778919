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

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stream_server.attendance import rollups
from stream_server.attendance.events import AttendanceEvents
from stream_server.attendance.figures import (
    empty_figures,
    session_figures,
)
from stream_server.basics import hash_secret, utcnow
from stream_server.db.engine import Database
from stream_server.db.models import AttendanceInterval, Participant, SessionRollup
from stream_server.vocabulary import DEVICE_CHANNELS, ONLINE_CHANNELS, Role

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


@dataclasses.dataclass(frozen=True)
class _JoinRequest:
    session_id: str
    channel: str
    role: str
    key_hash: str | None
    room_id: int | None
    venue_id: int | None
    at: dt.datetime

    @property
    def key(self) -> tuple[str, str] | None:
        return (self.session_id, self.key_hash) if self.key_hash is not None else None


async def _write_joins(db: AsyncSession, requests: list[_JoinRequest]) -> list[Presence]:
    """Write a burst of joins with a few multi-row statements, not a few per join.

    A request with a known attendee key continues that participant (also one that an
    earlier request of the same burst created).
    """
    known: dict[tuple[str, str], tuple[int, str]] = {}  # (session, key) -> (id, channel)
    for request in requests:
        key = request.key
        if key is None or key in known:
            continue
        row = (
            await db.execute(
                select(Participant.id, Participant.channel).where(
                    Participant.session_id == request.session_id,
                    Participant.attendee_key_hash == request.key_hash,
                )
            )
        ).first()
        if row is not None:
            known[key] = (row[0], row[1])
    resumed = [False] * len(requests)
    creating: list[int] = []  # indexes of the requests that make a new participant
    created_keys: set[tuple[str, str]] = set()
    for index, request in enumerate(requests):
        key = request.key
        if key is not None and (key in known or key in created_keys):
            resumed[index] = True  # also the same page twice in one burst: one participant
            continue
        creating.append(index)
        if key is not None:
            created_keys.add(key)
    placed: dict[int, tuple[int, str]] = {}
    if creating:
        ids = (
            await db.scalars(
                insert(Participant).returning(Participant.id, sort_by_parameter_order=True),
                [
                    {
                        "session_id": r.session_id,
                        "channel": r.channel,
                        "role": r.role,
                        "is_device": r.channel in DEVICE_CHANNELS,
                        "room_id": r.room_id,
                        "venue_id": r.venue_id,
                        "attendee_key_hash": r.key_hash,
                        "first_joined_at": r.at,
                        "surveyed": False,
                    }
                    for r in (requests[i] for i in creating)
                ],
            )
        ).all()
        for index, participant_id in zip(creating, ids, strict=True):
            placed[index] = (participant_id, requests[index].channel)
            key = requests[index].key
            if key is not None:
                known[key] = placed[index]
    for index, request in enumerate(requests):
        if index not in placed:
            key = request.key
            assert key is not None
            placed[index] = known[key]
    interval_ids = list(
        (
            await db.scalars(
                insert(AttendanceInterval).returning(
                    AttendanceInterval.id, sort_by_parameter_order=True
                ),
                [
                    {"participant_id": placed[i][0], "joined_at": r.at, "last_seen_at": r.at}
                    for i, r in enumerate(requests)
                ],
            )
        ).all()
    )
    for session_id in dict.fromkeys(r.session_id for r in requests):
        await rollups.mark_dirty(db, session_id)
    return [
        Presence(placed[i][0], interval_id, r.session_id, placed[i][1], resumed[i])
        for i, (r, interval_id) in enumerate(zip(requests, interval_ids, strict=True))
    ]


@dataclasses.dataclass(frozen=True)
class _LeaveRequest:
    presence: Presence
    reason: str
    at: dt.datetime


async def _write_leaves(db: AsyncSession, requests: list[_LeaveRequest]) -> list[bool]:
    """Close a burst of intervals (a lecture ends) with two statements; True where closed."""
    ids = {r.presence.interval_id for r in requests}
    still_open = set(
        (
            await db.scalars(
                select(AttendanceInterval.id).where(
                    AttendanceInterval.id.in_(ids), AttendanceInterval.left_at.is_(None)
                )
            )
        ).all()
    )
    closing: list[_LeaveRequest] = []
    closed: list[bool] = []
    for request in requests:
        interval_id = request.presence.interval_id
        closed.append(interval_id in still_open)
        if closed[-1]:
            still_open.discard(interval_id)  # the same interval twice in a burst: once
            closing.append(request)
    if closing:
        await db.execute(
            update(AttendanceInterval),
            [
                {
                    "id": r.presence.interval_id,
                    "left_at": r.at,
                    "last_seen_at": r.at,
                    "close_reason": r.reason,
                }
                for r in closing
            ],
        )
    for session_id in dict.fromkeys(r.presence.session_id for r in closing):
        await rollups.mark_dirty(db, session_id)
    return closed


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
        role: str = Role.PARTICIPANT,
        attendee_key: str | None = None,
        room_id: int | None = None,
        venue_id: int | None = None,
    ) -> Presence:
        """Open an interval; the same ``attendee_key`` continues the same participant."""
        if channel not in CHANNELS:
            raise AttendanceError(f"unknown channel {channel!r}")
        request = _JoinRequest(
            session_id=session_id,
            channel=channel,
            role=role,
            key_hash=hash_secret(f"{session_id}:{attendee_key}") if attendee_key else None,
            room_id=room_id,
            venue_id=venue_id,
            at=self._clock(),
        )
        # Committed before returning, together with whatever other joins arrived meanwhile.
        presence = await self._db.writes.run_many(_write_joins, request)
        logger.info(
            "session %s: %s joined (participant %d, interval %d)",
            session_id,
            channel,
            presence.participant_id,
            presence.interval_id,
        )
        self.changed(session_id, "join")
        return presence

    async def known_attendee(self, session_id: str, attendee_key: str) -> bool:
        """Whether this attendee key (a page) was counted in this session before."""
        key_hash = hash_secret(f"{session_id}:{attendee_key}")
        async with self._db.session() as db:
            found = await db.scalar(
                select(Participant.id)
                .where(Participant.session_id == session_id)
                .where(Participant.attendee_key_hash == key_hash)
                .limit(1)
            )
        return found is not None

    async def leave(self, presence: Presence, reason: str = "left") -> bool:
        """Close the interval; closing twice is harmless (returns False the second time)."""
        closed = await self._db.writes.run_many(
            _write_leaves, _LeaveRequest(presence, reason, self._clock())
        )
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
        now = self._clock()

        async def write(db: AsyncSession) -> None:
            await db.execute(
                update(AttendanceInterval)
                .where(AttendanceInterval.id.in_(ids), AttendanceInterval.left_at.is_(None))
                .values(last_seen_at=now)
            )

        await self._db.writes.run(write)

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
