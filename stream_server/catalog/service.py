"""Sessions, venues and who may do what with them (the domain; no aiohttp, no aiortc)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hmac
import secrets
import tomllib
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from stream_server.basics import CITY_TZ, DOORS, DoorTimes, hash_secret, secret_matches, utcnow
from stream_server.db.models import (
    Area,
    Organiser,
    OrganiserKind,
    Room,
    Series,
    Session,
    SessionMode,
    SessionReceiver,
    SessionStatus,
    Venue,
    Visibility,
)

__all__ = ["CITY_TZ", "hash_secret", "secret_matches", "utcnow"]  # also used as catalog.*

REFERENCE_FILE = Path(__file__).with_name("reference.toml")

#: Doors open this long before the scheduled start (publishers set up, viewers wait), by default.
DOORS_OPEN_BEFORE = DOORS.open_before
#: A session not ended by its host closes this long after its scheduled end, by default.
OVERRUN_GRACE = DOORS.grace

# No 0/O, 1/I/L: a join code may be read aloud over the phone to a home-care client.
JOIN_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
JOIN_CODE_LENGTH = 8
SESSION_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
#: A join code opens its session's page until this long after the session ended.
JOIN_CODE_LIFETIME = dt.timedelta(days=7)


class CatalogError(ValueError):
    """A request about sessions or venues that cannot be met; the message says why."""


class UnknownArea(CatalogError):
    pass


def new_join_code() -> str:
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_LENGTH))


def normalise_join_code(code: str) -> str:
    """People type codes with spaces, dashes and lower case; accept all of them."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def new_session_id() -> str:
    return "".join(secrets.choice(SESSION_ID_ALPHABET) for _ in range(10))


class Phase:
    UPCOMING = "upcoming"
    OPEN = "open"
    ENDED = "ended"


def phase_of(
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    ended_at: dt.datetime | None,
    cancelled: bool,
    now: dt.datetime,
    doors: DoorTimes = DOORS,
) -> str:
    """:func:`session_phase` from a session's times alone (for light-weight row reads)."""
    if cancelled:
        return Phase.ENDED  # never joinable; its status says why
    if ended_at is not None and ended_at <= now:
        return Phase.ENDED
    if now < starts_at - doors.open_before:
        return Phase.UPCOMING
    if now >= ends_at + doors.grace:
        return Phase.ENDED
    return Phase.OPEN


def session_phase(session: Session, now: dt.datetime, doors: DoorTimes = DOORS) -> str:
    """Whether people may connect now: ``upcoming`` before doors open, ``ended`` after (and
    for a cancelled session, whose ``status`` says so)."""
    return phase_of(
        session.starts_at,
        session.ends_at,
        session.ended_at,
        session.status == SessionStatus.CANCELLED,
        now,
        doors,
    )


def session_status(session: Session, now: dt.datetime, doors: DoorTimes = DOORS) -> str:
    """``scheduled``, ``cancelled`` or ``ended`` (its host or staff ended it, or it is past
    its end and the overrun grace)."""
    if session.status == SessionStatus.CANCELLED:
        return "cancelled"
    if session_phase(session, now, doors) == Phase.ENDED:
        return "ended"
    return "scheduled"


def is_live(session: Session, now: dt.datetime, doors: DoorTimes = DOORS) -> bool:
    """Scheduled time has come and the session has not ended."""
    return session_phase(session, now, doors) == Phase.OPEN and now >= session.starts_at


@dataclasses.dataclass(frozen=True)
class CreatedSession:
    """A new session and the bearer tokens that exist only at this moment."""

    session: Session
    host_token: str
    publish_token: str
    caption_token: str = ""


def session_to_json(
    session: Session, now: dt.datetime | None = None, doors: DoorTimes = DOORS
) -> dict[str, Any]:
    """The public description of a session (no tokens, no join code)."""
    now = now or utcnow()
    room = session.room
    return {
        "id": session.id,
        "title": session.title,
        "category": session.category,
        "description": session.description,
        "mode": session.mode.value,
        "visibility": session.visibility.value,
        "venue": room.venue.slug,
        "venue_name": room.venue.name,
        "area": room.venue.area.slug,
        "room": room.slug,
        "room_name": room.name,
        "receivers": [{"venue": r.room.venue.slug, "room": r.room.slug} for r in session.receivers],
        "organiser": session.organiser.name if session.organiser else None,
        "starts_at": session.starts_at.astimezone(CITY_TZ).isoformat(),
        "ends_at": session.ends_at.astimezone(CITY_TZ).isoformat(),
        "phase": session_phase(session, now, doors),
        "live": is_live(session, now, doors),
        "status": session_status(session, now, doors),
        "cancel_reason": session.cancel_reason,
        "online": session.online,
        "series_id": session.series_id,
        "whep_url": f"/whep/{session.id}",
    }


def session_query() -> Any:
    """Sessions with everything ``session_to_json`` reads, loaded eagerly (async-safe)."""
    return select(Session).options(
        selectinload(Session.room).selectinload(Room.venue).selectinload(Venue.area),
        selectinload(Session.receivers).selectinload(SessionReceiver.room).selectinload(Room.venue),
        selectinload(Session.organiser),
    )


@functools.cache
def _read_reference(path: Path) -> dict[str, Any]:
    """A small file shipped with the package; read once per process."""
    with path.open("rb") as fh:
        return tomllib.load(fh)


async def sync_reference_data(db: AsyncSession, path: Path = REFERENCE_FILE) -> None:
    """Insert the areas, venues, rooms and organisers that are missing (idempotent).

    Existing rows are left alone, so populations set by staff are not overwritten.
    """
    data = _read_reference(path)
    areas = {a.slug: a for a in (await db.scalars(select(Area))).all()}
    for item in data["areas"]:
        if item["slug"] not in areas:
            area = Area(**item)
            db.add(area)
            areas[area.slug] = area
    await db.flush()
    venues = {
        v.slug: v
        for v in (await db.scalars(select(Venue).options(selectinload(Venue.rooms)))).all()
    }
    for item in data["venues"]:
        venue = venues.get(item["slug"])
        if venue is None:
            venue = Venue(slug=item["slug"], name=item["name"], area=areas[item["area"]], rooms=[])
            db.add(venue)
        have = {r.slug: r for r in venue.rooms}
        for slug, name, capacity in item["rooms"]:
            if slug not in have:
                venue.rooms.append(Room(slug=slug, name=name, capacity=capacity))
            elif have[slug].capacity is None:
                have[slug].capacity = capacity
    organisers = set((await db.scalars(select(Organiser.slug))).all())
    for item in data["organisers"]:
        if item["slug"] not in organisers:
            db.add(
                Organiser(slug=item["slug"], name=item["name"], kind=OrganiserKind(item["kind"]))
            )
    await db.flush()


async def find_room(db: AsyncSession, ref: str) -> Room:
    """Resolve ``venue`` (its first room) or ``venue/room`` to a room."""
    venue_slug, _, room_slug = ref.partition("/")
    venue = await db.scalar(
        select(Venue).where(Venue.slug == venue_slug).options(selectinload(Venue.rooms))
    )
    if venue is None:
        raise CatalogError(f"unknown venue {venue_slug!r}")
    if not venue.rooms:
        raise CatalogError(f"venue {venue_slug!r} has no rooms")
    if not room_slug:
        return venue.rooms[0]
    for room in venue.rooms:
        if room.slug == room_slug:
            return room
    raise CatalogError(f"unknown room {room_slug!r} at {venue_slug!r}")


async def create_session(
    db: AsyncSession,
    *,
    title: str,
    mode: SessionMode | str,
    venue: str = "kantti",
    receivers: list[str] | tuple[str, ...] = (),
    private: bool = False,
    starts_at: dt.datetime | None = None,
    minutes: int = 60,
    category: str = "other",
    description: str = "",
    organiser: str | None = None,
    now: dt.datetime | None = None,
) -> CreatedSession:
    """Create a session; the returned tokens are never stored in clear text."""
    title = title.strip()
    if not title:
        raise CatalogError("title must not be empty")
    if minutes <= 0:
        raise CatalogError("minutes must be positive")
    try:
        mode = SessionMode(mode)
    except ValueError:
        raise CatalogError(f"mode must be broadcast or group, not {mode!r}") from None
    now = now or utcnow()
    starts_at = starts_at or now.replace(second=0, microsecond=0)
    if starts_at.tzinfo is None:
        starts_at = starts_at.replace(tzinfo=CITY_TZ)
    room = await find_room(db, venue)
    receiver_rooms: list[Room] = []
    for ref in receivers:
        receiver = await find_room(db, ref)
        if all(r.id != receiver.id for r in receiver_rooms):  # a room listed twice is one room
            receiver_rooms.append(receiver)
    if any(r.venue_id == room.venue_id for r in receiver_rooms):
        raise CatalogError("a receiving room must be at another venue than the host room")
    organiser_row = None
    if organiser:
        organiser_row = await db.scalar(select(Organiser).where(Organiser.slug == organiser))
        if organiser_row is None:
            raise CatalogError(f"unknown organiser {organiser!r}")
    host_token = secrets.token_urlsafe(24)
    publish_token = secrets.token_urlsafe(24)
    caption_token = secrets.token_urlsafe(24)
    join_code = await unused_join_code(db)
    session = Session(
        id=new_session_id(),
        title=title,
        category=category,
        description=description,
        room=room,
        organiser=organiser_row,
        # Duration in elapsed time: wall-clock arithmetic would be off by an hour across DST.
        starts_at=starts_at.astimezone(dt.UTC),
        ends_at=starts_at.astimezone(dt.UTC) + dt.timedelta(minutes=minutes),
        mode=mode,
        visibility=Visibility.PRIVATE if private else Visibility.PUBLIC,
        join_code=join_code,
        host_token_hash=hash_secret(host_token),
        publish_token_hash=hash_secret(publish_token),
        caption_token_hash=hash_secret(caption_token),
        created_at=now,
        receivers=[SessionReceiver(room=r) for r in receiver_rooms],
    )
    db.add(session)
    await db.flush()
    loaded = await get_session(db, session.id)
    assert loaded is not None
    return CreatedSession(loaded, host_token, publish_token, caption_token)


async def unused_join_code(db: AsyncSession) -> str:
    """A fresh code that no session and no series has."""
    while True:
        code = new_join_code()
        taken = await db.scalar(select(func.count()).where(Session.join_code == code))
        taken = taken or await db.scalar(select(func.count()).where(Series.join_code == code))
        if not taken:
            return code


async def get_session(db: AsyncSession, session_id: str) -> Session | None:
    return await db.scalar(session_query().where(Session.id == session_id))


def session_end(session: Session, doors: DoorTimes = DOORS) -> dt.datetime:
    """When the session ended: its host or staff ended it, or it closed after its grace."""
    return session.ended_at if session.ended_at is not None else session.ends_at + doors.grace


async def get_session_by_code(
    db: AsyncSession, code: str, now: dt.datetime | None = None, doors: DoorTimes = DOORS
) -> Session | None:
    """The session a join code leads to now.

    A one-off session has its own code; the occurrences of a weekly series share one, and it
    leads to the occurrence that is live or next, so the card a home-care client keeps works
    every week. See :func:`pick_occurrence`. A code of a session that ended more than
    :data:`JOIN_CODE_LIFETIME` ago is unknown.
    """
    rows = (
        await db.execute(
            select(Session.id, Session.starts_at, Session.ends_at, Session.ended_at, Session.status)
            .where(Session.join_code == normalise_join_code(code))
            .order_by(Session.starts_at, Session.id)
        )
    ).all()
    if not rows:
        return None
    chosen = pick_occurrence(
        [
            Occurrence(
                r.id, r.starts_at, r.ends_at, r.ended_at, r.status == SessionStatus.CANCELLED
            )
            for r in rows
        ],
        now or utcnow(),
        doors,
    )
    session = await get_session(db, chosen)
    # Old codes are not a way in, nor an oracle: a code whose last occurrence ended more than
    # JOIN_CODE_LIFETIME ago is unknown.
    if session is None or session_end(session, doors) + JOIN_CODE_LIFETIME < (now or utcnow()):
        return None
    return session


@dataclasses.dataclass(frozen=True)
class Occurrence:
    """What choosing among the occurrences of a code needs to know of each."""

    id: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    ended_at: dt.datetime | None
    cancelled: bool


def pick_occurrence(
    occurrences: list[Occurrence], now: dt.datetime, doors: DoorTimes = DOORS
) -> str:
    """Which occurrence (sorted by start) a join code leads to at ``now``.

    Cancelled occurrences are skipped. In order: one running by the clock (started, not yet
    at its scheduled end, not ended); one whose doors are open before its start; one still
    running into its overrun grace; the next one to come. When none is left, the last one
    (so the page says the series has ended, or that its last occurrence was cancelled).
    """
    held = [o for o in occurrences if not o.cancelled]

    def phase(o: Occurrence) -> str:
        return phase_of(o.starts_at, o.ends_at, o.ended_at, False, now, doors)

    open_now = [o for o in held if phase(o) == Phase.OPEN]
    for rule in (
        lambda o: o.starts_at <= now < o.ends_at,
        lambda o: now < o.starts_at,
        lambda o: True,
    ):
        found = next((o for o in open_now if rule(o)), None)
        if found is not None:
            return found.id
    upcoming = next((o for o in held if phase(o) == Phase.UPCOMING), None)
    if upcoming is not None:
        return upcoming.id
    return occurrences[-1].id


async def list_listed_sessions(
    db: AsyncSession, now: dt.datetime | None = None, doors: DoorTimes = DOORS
) -> list[Session]:
    """Public sessions that are live or upcoming, soonest first (private ones are never listed)."""
    now = now or utcnow()
    rows = await db.scalars(
        session_query()
        .where(Session.visibility == Visibility.PUBLIC)
        .where(Session.ends_at > now - doors.grace)
        .order_by(Session.starts_at, Session.id)
    )
    return [s for s in rows.all() if session_phase(s, now, doors) != Phase.ENDED]


async def end_session(db: AsyncSession, session_id: str, now: dt.datetime | None = None) -> None:
    """Mark a session ended (its host or staff ended it); idempotent."""
    session = await db.get(Session, session_id)
    if session is None:
        raise CatalogError(f"unknown session {session_id!r}")
    if session.ended_at is None:
        session.ended_at = now or utcnow()


def may_view(session: Session, bearer: str | None) -> bool:
    """Public sessions are open to all; private ones need the join code (or a session token)."""
    if session.visibility == Visibility.PUBLIC:
        return True
    if bearer is None:
        return False
    # Bytes, not str: compare_digest raises TypeError on non-ASCII strings (e.g. "ä" typed).
    code = normalise_join_code(bearer).encode("utf-8")
    if hmac.compare_digest(code, session.join_code.encode("utf-8")):
        return True
    return secret_matches(bearer, session.host_token_hash)


def may_publish(session: Session, bearer: str | None) -> bool:
    return secret_matches(bearer, session.publish_token_hash) or secret_matches(
        bearer, session.host_token_hash
    )


#: A population above this is a typing error (the whole of Finland has 5.6 million).
MAX_POPULATION = 10_000_000


async def list_areas(db: AsyncSession) -> list[Area]:
    return list((await db.scalars(select(Area).order_by(Area.id))).all())


async def set_area_population(db: AsyncSession, slug: str, population: Any) -> Area:
    """Staff keep area populations current (reports divide by them); refuses nonsense."""
    if not isinstance(population, int) or isinstance(population, bool):
        raise CatalogError("the population must be a whole number")
    if not 0 <= population <= MAX_POPULATION:
        raise CatalogError(f"the population must be between 0 and {MAX_POPULATION:,}")
    area = await db.scalar(select(Area).where(Area.slug == slug))
    if area is None:
        raise UnknownArea(f"unknown area {slug!r}")
    area.population = population
    return area
