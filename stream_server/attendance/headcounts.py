"""In-person headcounts: how many people were in the room, per venue of a session.

A broadcast has several venues (the host venue and each receiving room's venue), each with
its own count. A count may be corrected: the latest per venue counts, and every earlier
value stays as the audit trail with who recorded it and when.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from stream_server.basics import DOORS, DoorTimes, utcnow
from stream_server.catalog.service import session_end
from stream_server.db.models import Device, Headcount, Session, StaffUser, Venue

#: Without a known room capacity, a count above this is surely a typing error.
ABSURD_COUNT = 5000


class HeadcountError(ValueError):
    """The count itself is wrong (negative, not a number, too large)."""


class HeadcountWrongVenue(HeadcountError):
    """The venue does not take part in the session, or the recorder belongs elsewhere."""


class HeadcountNotLive(HeadcountError):
    """A device counts only while the session is live and shortly after (staff any time)."""


#: A room device may still post (or correct) its count this long after the session's end.
DEVICE_COUNT_AFTER_END = dt.timedelta(hours=2)


def device_may_count(session: Session, now: dt.datetime, doors: DoorTimes = DOORS) -> bool:
    """From the session's doors opening until two hours after it ended."""
    opens = session.starts_at - doors.open_before
    return opens <= now <= session_end(session, doors) + DEVICE_COUNT_AFTER_END


@dataclasses.dataclass(frozen=True)
class Recorder:
    """Who records a count: a staff member or a registered room device (never both)."""

    staff_id: int | None = None
    device: Device | None = None


def session_venues(session: Session) -> dict[str, tuple[Venue, int | None]]:
    """The venues of a session by slug, with the capacity of the room used there.

    Where one venue has several rooms in a session (rare), their capacities add up.
    """
    venues: dict[str, tuple[Venue, int | None]] = {}
    rooms = [session.room, *(r.room for r in session.receivers)]
    for room in rooms:
        venue = room.venue
        if venue.slug in venues:
            _, known = venues[venue.slug]
            capacity = None if known is None or room.capacity is None else known + room.capacity
        else:
            capacity = room.capacity
        venues[venue.slug] = (venue, capacity)
    return venues


def validate_count(value: Any) -> int:
    # JSON true/false are ints in Python; a headcount is never a boolean.
    if isinstance(value, bool) or not isinstance(value, int):
        raise HeadcountError("count must be a whole number")
    if value < 0:
        raise HeadcountError("count cannot be negative")
    if value > ABSURD_COUNT:
        raise HeadcountError(f"count {value} is not believable (over {ABSURD_COUNT})")
    return value


async def record_headcount(
    db: AsyncSession,
    session: Session,
    venue_slug: str,
    count: Any,
    recorder: Recorder,
    now: dt.datetime | None = None,
    doors: DoorTimes = DOORS,
) -> Headcount:
    """Validate and store one count; the caller's transaction commits it.

    Staff may record or correct a count at any time (every value stays in the audit trail);
    a room device only while the session is live and up to two hours after its end, so a
    device cannot write counts into last month's sessions or next week's.
    """
    now = now or utcnow()
    count = validate_count(count)
    venues = session_venues(session)
    if venue_slug not in venues:
        raise HeadcountWrongVenue(
            f"venue {venue_slug!r} neither hosts nor receives session {session.id}"
        )
    venue, capacity = venues[venue_slug]
    if recorder.device is not None:
        device = recorder.device
        if device.kind.value == "tablet":
            raise HeadcountWrongVenue("a home tablet cannot record headcounts")
        if device.venue_id != venue.id:
            raise HeadcountWrongVenue("this device belongs to another venue")
        if not device_may_count(session, now, doors):
            raise HeadcountNotLive(
                f"session {session.id} is not live: a device counts from when its doors open "
                "until two hours after it ends (staff can correct counts later)"
            )
    if capacity is not None and count > capacity:
        raise HeadcountError(f"count {count} is over the room's capacity of {capacity}")
    row = Headcount(
        session_id=session.id,
        venue_id=venue.id,
        count=count,
        recorded_at=now,
        staff_id=recorder.staff_id,
        device_id=recorder.device.id if recorder.device else None,
    )
    db.add(row)
    await db.flush()
    return row


async def latest_headcounts(db: AsyncSession, session_id: str) -> dict[str, int]:
    """The count that stands for each venue (the latest recorded)."""
    latest = (
        select(func.max(Headcount.id))
        .where(Headcount.session_id == session_id)
        .group_by(Headcount.venue_id)
    )
    rows = await db.execute(
        select(Venue.slug, Headcount.count)
        .join(Venue, Venue.id == Headcount.venue_id)
        .where(Headcount.id.in_(latest))
    )
    return {slug: count for slug, count in rows.all()}


async def headcount_history(db: AsyncSession, session_id: str) -> list[dict[str, Any]]:
    """The audit trail: every value, oldest first, with who recorded it."""
    rows = await db.execute(
        select(Headcount, Venue.slug, StaffUser.name)
        .join(Venue, Venue.id == Headcount.venue_id)
        .outerjoin(StaffUser, StaffUser.id == Headcount.staff_id)
        .where(Headcount.session_id == session_id)
        .order_by(Headcount.id)
    )
    return [
        {
            "venue": slug,
            "count": row.count,
            "recorded_at": row.recorded_at.isoformat(),
            "staff": staff_name,
            "device_id": row.device_id,
        }
        for row, slug, staff_name in rows.all()
    ]
