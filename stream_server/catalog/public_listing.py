"""What the public programme page lists: public sessions of a stretch of days, filtered.

The page's filters (area, library, category, "can be joined online") arrive as URL query
values; :class:`PageFilter` reads them, dropping values that name nothing (an old bookmark
keeps working, it just shows more). A library filter matches the sessions held there *and*
the broadcasts received there: the same content in town and countryside. Private sessions
are never listed; cancelled ones are, so that nobody comes in vain.

The calendar and JSON feeds have their own filter parser; the two are meant to merge.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from stream_server.basics import CITY_TZ, DOORS, DoorTimes
from stream_server.catalog.programme import CATEGORIES
from stream_server.catalog.service import Phase, session_phase, session_query
from stream_server.db.models import (
    Area,
    Room,
    Session,
    SessionReceiver,
    SessionStatus,
    Venue,
    Visibility,
)

#: The filter fields, in the order the form and its URLs use them.
FILTER_FIELDS = ("area", "venue", "category", "online")


@dataclasses.dataclass(frozen=True)
class Choices:
    """What the filter form offers: the areas and libraries that exist, and the categories."""

    areas: list[Area]
    venues: list[Venue]
    categories: tuple[str, ...] = CATEGORIES


@dataclasses.dataclass(frozen=True)
class PageFilter:
    """One filtered view of the programme; the empty filter shows everything public."""

    area: str | None = None
    venue: str | None = None
    category: str | None = None
    online: bool = False

    @classmethod
    def from_query(cls, query: Mapping[str, str], choices: Choices) -> PageFilter:
        """Read ``?area=&venue=&category=&online=1``; a value that names nothing is ignored."""

        def known(name: str, allowed: Iterable[str]) -> str | None:
            value = query.get(name, "").strip()
            return value if value in set(allowed) else None

        return cls(
            area=known("area", (a.slug for a in choices.areas)),
            venue=known("venue", (v.slug for v in choices.venues)),
            category=known("category", choices.categories),
            online=query.get("online", "") in ("1", "true", "on"),
        )

    def as_query(self) -> list[tuple[str, str]]:
        """The filter as URL query pairs (only what is set), for links that keep it."""
        pairs = [("area", self.area), ("venue", self.venue), ("category", self.category)]
        query = [(name, value) for name, value in pairs if value]
        if self.online:
            query.append(("online", "1"))
        return query

    def matches(self, session: Session) -> bool:
        """Whether a loaded session belongs to this view (host venue or a receiving one)."""
        if self.category and session.category != self.category:
            return False
        if self.online and (not session.online or session.status == SessionStatus.CANCELLED):
            return False
        venues = [session.room.venue, *(r.room.venue for r in session.receivers)]
        if self.venue and all(v.slug != self.venue for v in venues):
            return False
        return not (self.area and all(v.area.slug != self.area for v in venues))


async def filter_choices(db: AsyncSession) -> Choices:
    areas = (await db.scalars(select(Area).order_by(Area.id))).all()
    venues = (
        await db.scalars(select(Venue).options(selectinload(Venue.area)).order_by(Venue.name))
    ).all()
    return Choices(list(areas), list(venues))


def day_start(day: dt.date) -> dt.datetime:
    """Midnight in Kuopio, as an aware datetime (days are local days, not UTC ones)."""
    return dt.datetime.combine(day, dt.time(), CITY_TZ)


async def list_programme(
    db: AsyncSession,
    page_filter: PageFilter,
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
    rows = await db.scalars(
        session_query()
        .options(
            selectinload(Session.receivers)
            .selectinload(SessionReceiver.room)
            .selectinload(Room.venue)
            .selectinload(Venue.area)
        )
        .where(Session.visibility == Visibility.PUBLIC)
        .where(Session.starts_at < end.astimezone(dt.UTC))
        .where(Session.ends_at > max(start, now - doors.grace).astimezone(dt.UTC))
        .order_by(Session.starts_at, Session.id)
    )
    listed = []
    for session in rows.all():
        if session.status == SessionStatus.CANCELLED:
            if session.ends_at <= now:
                continue
        elif session_phase(session, now, doors) == Phase.ENDED:
            continue
        if page_filter.matches(session):
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
