"""The public programme as a list: which occurrences a filtered view shows.

The programme page, its notice-board view and the calendar and JSON feeds all narrow the
programme the same way (``?venue=``, ``?category=``, ``?organiser=``, ``?area=``,
``?online=1``), so the filter is parsed and applied here, once. A filtered view is a URL a
person bookmarks or a library puts on a screen: a wrong value is refused (``400
invalid_field`` naming the field) rather than silently showing everything.

Private groups are never listed; cancelled occurrences are (shown as cancelled).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from stream_server.basics import CITY_TZ, utcnow
from stream_server.catalog.programme import CATEGORIES
from stream_server.catalog.service import session_query
from stream_server.db.models import (
    Area,
    Organiser,
    Room,
    Session,
    SessionReceiver,
    Venue,
    Visibility,
)
from stream_server.errors import InvalidField

#: The query parameters a filter reads; others (``lang``, ``view``…) belong to the page.
FILTER_FIELDS = ("venue", "category", "organiser", "area", "online")
#: How far ahead the feeds reach: the coming twelve months.
HORIZON = dt.timedelta(days=365)
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")
_ONLINE = {"1": True, "true": True, "0": False, "false": False, "": False}


@dataclasses.dataclass(frozen=True)
class ProgrammeFilter:
    """A narrowed view of the public programme; ``None`` (or ``False``): not narrowed."""

    venue: str | None = None
    category: str | None = None
    organiser: str | None = None
    area: str | None = None
    online_only: bool = False

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> ProgrammeFilter:
        """Read ``?venue=&category=&organiser=&area=&online=`` (checked for shape only;
        :func:`check_filter` checks that the named places exist)."""

        def slug(field: str) -> str | None:
            value = query.get(field, "").strip().lower()
            if not value:
                return None
            if not _SLUG.match(value):
                raise InvalidField(field, f"{field} must be a slug, not {value[:40]!r}")
            return value

        category = slug("category")
        if category is not None and category not in CATEGORIES:
            raise InvalidField("category", "category must be one of " + ", ".join(CATEGORIES))
        online = query.get("online", "").strip().lower()
        if online not in _ONLINE:
            raise InvalidField("online", "online must be 1 or 0")
        return cls(
            venue=slug("venue"),
            category=category,
            organiser=slug("organiser"),
            area=slug("area"),
            online_only=_ONLINE[online],
        )

    def as_query(self) -> dict[str, str]:
        """The filter as query parameters again (for links that keep it)."""
        query = {
            name: value
            for name, value in (
                ("venue", self.venue),
                ("category", self.category),
                ("organiser", self.organiser),
                ("area", self.area),
            )
            if value
        }
        if self.online_only:
            query["online"] = "1"
        return query


async def check_filter(db: AsyncSession, wanted: ProgrammeFilter) -> None:
    """Refuse a venue, organiser or area that does not exist (``invalid_field``)."""
    for field, column in (
        ("venue", Venue.slug),
        ("organiser", Organiser.slug),
        ("area", Area.slug),
    ):
        value = getattr(wanted, field)
        if value is not None and await db.scalar(select(column).where(column == value)) is None:
            raise InvalidField(field, f"unknown {field} {value!r}")


def window(now: dt.datetime, horizon: dt.timedelta = HORIZON) -> tuple[dt.datetime, dt.datetime]:
    """From the start of today (Helsinki) to ``horizon`` ahead: today's earlier sessions stay
    in a subscribed calendar for the rest of the day."""
    today = now.astimezone(CITY_TZ).date()
    start = dt.datetime.combine(today, dt.time(0), tzinfo=CITY_TZ).astimezone(dt.UTC)
    return start, now + horizon


async def public_occurrences(
    db: AsyncSession,
    wanted: ProgrammeFilter,
    start: dt.datetime,
    end: dt.datetime,
) -> list[Session]:
    """Public sessions (one-off ones and series occurrences, cancelled ones too) that end
    after ``start`` and begin before ``end``, soonest first. A venue or area filter also
    finds sessions shown in a receiving room there. Call :func:`check_filter` first."""
    query = (
        session_query()
        .where(
            Session.visibility == Visibility.PUBLIC,
            Session.ends_at > start,
            Session.starts_at < end,
        )
        .order_by(Session.starts_at, Session.id)
    )
    if wanted.venue is not None or wanted.area is not None:
        rooms = select(Room.id).join(Venue, Room.venue_id == Venue.id)
        if wanted.venue is not None:
            rooms = rooms.where(Venue.slug == wanted.venue)
        if wanted.area is not None:
            rooms = rooms.where(Venue.area_id.in_(select(Area.id).where(Area.slug == wanted.area)))
        # A session shown on a screen in a library's room is on at that library too.
        shown_there = select(SessionReceiver.session_id).where(SessionReceiver.room_id.in_(rooms))
        query = query.where(or_(Session.room_id.in_(rooms), Session.id.in_(shown_there)))
    if wanted.category is not None:
        query = query.where(Session.category == wanted.category)
    if wanted.organiser is not None:
        query = query.where(
            Session.organiser_id.in_(select(Organiser.id).where(Organiser.slug == wanted.organiser))
        )
    if wanted.online_only:
        query = query.where(Session.online.is_(True))
    return list((await db.scalars(query)).all())


async def listed(
    db: AsyncSession,
    query: Mapping[str, str],
    now: dt.datetime | None = None,
    horizon: dt.timedelta = HORIZON,
) -> tuple[ProgrammeFilter, list[Session]]:
    """Parse, check and apply a filter from a request's query, over the coming ``horizon``."""
    wanted = ProgrammeFilter.from_query(query)
    await check_filter(db, wanted)
    start, end = window(now or utcnow(), horizon)
    return wanted, await public_occurrences(db, wanted, start, end)
