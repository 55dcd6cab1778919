"""The programme: one-off sessions and weekly series, their changes, cancellations and undo.

This is what the planning page and ``/api/sessions`` / ``/api/series`` do, as one domain
module: every change is checked against the actor's role (:mod:`stream_server.staff.scope`),
against double booking of the host room, and written to the audit log
(:mod:`stream_server.staff.audit`) in the same transaction.

A series' occurrences are materialised as session rows when it is made (a series needs an
end, ``until`` or ``count``, within a year: see :mod:`stream_server.catalog.recurrence`), so
each can be edited, moved or cancelled on its own, and they share one join code and one set
of host, publish and caption tokens.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from stream_server.basics import CITY_TZ, DOORS, DoorTimes, hash_secret, utcnow
from stream_server.catalog import recurrence
from stream_server.catalog.service import (
    Phase,
    get_session,
    new_session_id,
    session_phase,
    session_query,
    session_status,
    session_to_json,
    unused_join_code,
)
from stream_server.db.models import (
    AuditEntry,
    Device,
    DeviceInvitation,
    Headcount,
    Organiser,
    Participant,
    Room,
    Series,
    Session,
    SessionMode,
    SessionReceiver,
    SessionRollup,
    SessionStatus,
    Venue,
    VenueRollup,
    Visibility,
)
from stream_server.errors import Conflict, InvalidField, NotFound, RoomTaken
from stream_server.staff import audit, scope
from stream_server.staff.service import StaffIdentity

Actor = StaffIdentity | None

#: The categories the reports and the planning page know (labels: ``reports.category.*``).
CATEGORIES = (
    "lecture",
    "exercise",
    "music",
    "discussion",
    "digital-help",
    "crafts",
    "culture",
    "other",
)
FIELDS = (
    "title",
    "description",
    "category",
    "venue",
    "room",
    "organiser",
    "starts",
    "minutes",
    "mode",
    "visibility",
    "online",
    "receivers",
)
MAX_MINUTES = 24 * 60
MAX_RECEIVERS = 20
MAX_TITLE = 200
MAX_DESCRIPTION = 4000
MAX_REASON = 500
#: What the planning page's undo can take back (see docs/librarian.md, Planning the programme).
UNDOABLE = frozenset(
    {"create", "edit", "edit_following", "cancel", "cancel_following", "copy_week"}
)


# -- reading the request ---------------------------------------------------------------------------
@dataclasses.dataclass
class Values:
    """A request's fields, checked and resolved (``None``: not given)."""

    title: str | None = None
    description: str | None = None
    category: str | None = None
    room: Room | None = None
    organiser: Organiser | None = None
    organiser_given: bool = False
    starts: dt.datetime | None = None
    minutes: int | None = None
    mode: SessionMode | None = None
    visibility: Visibility | None = None
    online: bool | None = None
    receivers: list[Room] | None = None


def _text(body: Mapping[str, Any], field: str, limit: int, required: bool) -> str | None:
    if field not in body:
        if required:
            raise InvalidField(field, f"{field} is required")
        return None
    value = body[field]
    if not isinstance(value, str):
        raise InvalidField(field, f"{field} must be text")
    value = value.strip()
    if required and not value:
        raise InvalidField(field, f"{field} must not be empty")
    if len(value) > limit:
        raise InvalidField(field, f"{field} is longer than {limit} characters")
    return value


def parse_starts(value: Any, field: str = "starts") -> dt.datetime:
    """ISO 8601; a time without an offset is Helsinki wall-clock time."""
    if not isinstance(value, str):
        raise InvalidField(field, f"{field} must be an ISO 8601 date and time")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidField(
            field, f"{field} must be an ISO 8601 date and time, not {value[:40]!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CITY_TZ)
    return moment.astimezone(dt.UTC)


async def _venue(db: AsyncSession, slug: Any, field: str) -> Venue:
    if not isinstance(slug, str) or not slug:
        raise InvalidField(field, f"{field} must be a venue slug")
    venue = await db.scalar(
        select(Venue).where(Venue.slug == slug).options(selectinload(Venue.rooms))
    )
    if venue is None:
        raise InvalidField(field, f"unknown venue {slug[:40]!r}")
    if not venue.rooms:
        raise InvalidField(field, f"venue {slug!r} has no rooms")
    return venue


def _room_at(venue: Venue, slug: Any, field: str) -> Room:
    if slug is None:
        return venue.rooms[0]
    if not isinstance(slug, str):
        raise InvalidField(field, f"{field} must be a room slug")
    for room in venue.rooms:
        if room.slug == slug:
            return room
    raise InvalidField(field, f"unknown room {slug[:40]!r} at {venue.slug!r}")


async def read_values(
    db: AsyncSession,
    body: Mapping[str, Any],
    *,
    creating: bool,
    current_room: Room | None = None,
    allowed: Iterable[str] = FIELDS,
) -> Values:
    """Check every given field; raise :class:`InvalidField` for the first wrong one."""
    allowed = set(allowed)
    for name in body:
        if name not in allowed:
            raise InvalidField(name, f"unknown field {name[:40]!r}")
    values = Values()
    values.title = _text(body, "title", MAX_TITLE, required=creating)
    if "title" in body and not values.title:
        raise InvalidField("title", "title must not be empty")
    values.description = _text(body, "description", MAX_DESCRIPTION, required=False)
    if "category" in body:
        if body["category"] not in CATEGORIES:
            raise InvalidField("category", "category must be one of " + ", ".join(CATEGORIES))
        values.category = body["category"]
    if creating and "venue" not in body:
        raise InvalidField("venue", "venue is required")
    if "venue" in body or "room" in body:
        if "venue" in body:
            venue = await _venue(db, body["venue"], "venue")
        else:
            assert current_room is not None
            venue = await _venue(db, current_room.venue.slug, "venue")
        room_slug = body.get("room")
        if room_slug is None and current_room is not None and current_room.venue_id == venue.id:
            room_slug = current_room.slug
        values.room = _room_at(venue, room_slug, "room")
    if "organiser" in body:
        values.organiser_given = True
        slug = body["organiser"]
        if slug is not None:
            if not isinstance(slug, str):
                raise InvalidField("organiser", "organiser must be an organiser slug or null")
            values.organiser = await db.scalar(select(Organiser).where(Organiser.slug == slug))
            if values.organiser is None:
                raise InvalidField("organiser", f"unknown organiser {slug[:40]!r}")
    if creating and "starts" not in body:
        raise InvalidField("starts", "starts is required")
    if "starts" in body:
        values.starts = parse_starts(body["starts"])
    if "minutes" in body:
        minutes = body["minutes"]
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            raise InvalidField("minutes", "minutes must be a whole number")
        if not 1 <= minutes <= MAX_MINUTES:
            raise InvalidField("minutes", f"minutes must be from 1 to {MAX_MINUTES}")
        values.minutes = minutes
    if "mode" in body:
        try:
            values.mode = SessionMode(body["mode"])
        except ValueError:
            raise InvalidField("mode", "mode must be broadcast or group") from None
    if "visibility" in body:
        try:
            values.visibility = Visibility(body["visibility"])
        except ValueError:
            raise InvalidField("visibility", "visibility must be public or private") from None
    if "online" in body:
        if not isinstance(body["online"], bool):
            raise InvalidField("online", "online must be true or false")
        values.online = body["online"]
    if "receivers" in body:
        refs = body["receivers"]
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise InvalidField("receivers", "receivers must be a list of venue or venue/room")
        if len(refs) > MAX_RECEIVERS:
            raise InvalidField("receivers", f"at most {MAX_RECEIVERS} receiving rooms")
        rooms: list[Room] = []
        for ref in refs:
            venue_slug, _, room_slug = ref.partition("/")
            room = _room_at(
                await _venue(db, venue_slug, "receivers"), room_slug or None, "receivers"
            )
            if all(r.id != room.id for r in rooms):
                rooms.append(room)
        values.receivers = rooms
    return values


def _check_shape(room: Room, receivers: list[Room], online: bool) -> None:
    if any(r.venue_id == room.venue_id for r in receivers):
        raise InvalidField("receivers", "a receiving room must be at another venue than the host")
    if receivers and not online:
        raise InvalidField("online", "an in-person-only session cannot be shown in other rooms")


def _reason(body: Mapping[str, Any]) -> str:
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidField("reason", "a cancellation needs a reason (people are shown it)")
    if len(reason.strip()) > MAX_REASON:
        raise InvalidField("reason", f"the reason is longer than {MAX_REASON} characters")
    return reason.strip()


# -- snapshots (the audit log's before and after, and what undo restores) --------------------------
def snapshot(session: Session) -> dict[str, Any]:
    """A session's editable state, readable by people and restorable by undo."""
    return {
        "title": session.title,
        "description": session.description,
        "category": session.category,
        "room_id": session.room_id,
        "venue": session.room.venue.slug,
        "room": session.room.slug,
        "organiser_id": session.organiser_id,
        "organiser": session.organiser.slug if session.organiser else None,
        "starts_at": session.starts_at.isoformat(),
        "ends_at": session.ends_at.isoformat(),
        "mode": session.mode.value,
        "visibility": session.visibility.value,
        "online": session.online,
        "receivers": [r.room_id for r in session.receivers],
        "status": session.status.value,
        "cancel_reason": session.cancel_reason,
        "series_id": session.series_id,
    }


def series_snapshot(series: Series) -> dict[str, Any]:
    return {
        "weekdays": series.weekdays,
        "local_time": series.local_time,
        "minutes": series.minutes,
        "first_date": series.first_date.isoformat(),
        "until": series.until.isoformat() if series.until else None,
        "count": series.count,
        "exceptions": series.exceptions,
        "room_id": series.room_id,
        "organiser_id": series.organiser_id,
    }


#: Fields compared to tell whether something changed since an audited change.
_COMPARED = (
    "title",
    "description",
    "category",
    "room_id",
    "organiser_id",
    "starts_at",
    "ends_at",
    "mode",
    "visibility",
    "online",
    "receivers",
    "status",
    "cancel_reason",
)


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in _COMPARED)


# -- loading ---------------------------------------------------------------------------------------
def _series_query() -> Any:
    return select(Series).options(
        selectinload(Series.room).selectinload(Room.venue), selectinload(Series.organiser)
    )


async def load_session(db: AsyncSession, session_id: str) -> Session:
    session = await get_session(db, session_id)
    if session is None:
        raise NotFound(f"no session {session_id[:40]!r}", code="unknown_session")
    return session


async def load_series(db: AsyncSession, series_id: str) -> Series:
    query = _series_query().where(Series.id == series_id)
    series = await db.scalar(query.execution_options(populate_existing=True))
    if series is None:
        # The contract has one not-found code for the programme's sessions and series.
        raise NotFound(f"no series {series_id[:40]!r}", code="unknown_session")
    return series


async def occurrences_of(db: AsyncSession, series_id: str) -> list[Session]:
    rows = await db.scalars(
        session_query()
        .where(Session.series_id == series_id)
        .order_by(Session.starts_at, Session.id)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


# -- double booking --------------------------------------------------------------------------------
async def check_room(
    db: AsyncSession,
    slots: list[tuple[int, dt.datetime, dt.datetime]],
    exclude: set[str],
) -> None:
    """Raise :class:`RoomTaken` if any ``(room_id, starts, ends)`` overlaps a session that is
    not cancelled in the same host room (or another of ``slots``)."""
    by_room: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {}
    for room_id, starts, ends in slots:
        by_room.setdefault(room_id, []).append((starts, ends))
    for room_id, spans in by_room.items():
        spans.sort()
        for (_, end_a), (start_b, _) in itertools.pairwise(spans):
            if start_b < end_a:
                raise InvalidField("minutes", "the occurrences would overlap each other")
        lo = min(s for s, _ in spans)
        hi = max(e for _, e in spans)
        query = select(Session.id, Session.starts_at, Session.ends_at, Session.title).where(
            Session.room_id == room_id,
            Session.status != SessionStatus.CANCELLED,
            Session.starts_at < hi,
            Session.ends_at > lo,
        )
        if exclude:
            query = query.where(Session.id.not_in(exclude))
        for other in (await db.execute(query.order_by(Session.starts_at))).all():
            for starts, ends in spans:
                if other.starts_at < ends and starts < other.ends_at:
                    local = other.starts_at.astimezone(CITY_TZ)
                    raise RoomTaken(
                        f"the room is already booked for {other.title!r} at {local:%Y-%m-%d %H:%M}",
                        conflict=other.id,
                    )


# -- tokens ----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Tokens:
    host: str
    publish: str
    caption: str

    @classmethod
    def new(cls) -> Tokens:
        return cls(*(secrets.token_urlsafe(24) for _ in range(3)))

    def apply(self, row: Session | Series) -> None:
        row.host_token_hash = hash_secret(self.host)
        row.publish_token_hash = hash_secret(self.publish)
        row.caption_token_hash = hash_secret(self.caption)


# -- JSON ------------------------------------------------------------------------------------------
def occurrence_json(session: Session, now: dt.datetime, doors: DoorTimes = DOORS) -> dict[str, Any]:
    return {
        "id": session.id,
        "title": session.title,
        "starts_at": session.starts_at.astimezone(CITY_TZ).isoformat(),
        "ends_at": session.ends_at.astimezone(CITY_TZ).isoformat(),
        "status": session_status(session, now, doors),
        "cancel_reason": session.cancel_reason,
    }


def staff_session_json(
    session: Session, now: dt.datetime | None = None, doors: DoorTimes = DOORS
) -> dict[str, Any]:
    """A session as staff see it: the public description plus the join code and links."""
    now = now or utcnow()
    data = session_to_json(session, now, doors)
    data.update(
        join_code=session.join_code,
        organiser_slug=session.organiser.slug if session.organiser else None,
        minutes=round((session.ends_at - session.starts_at).total_seconds() / 60),
        receivers=[f"{r.room.venue.slug}/{r.room.slug}" for r in session.receivers],
        join_url=f"/j/{session.join_code}",
        card_url=f"/sessions/{session.id}/card",
        poster_url=f"/sessions/{session.id}/poster",
    )
    return data


def series_json(
    series: Series, occurrences: list[Session], now: dt.datetime, doors: DoorTimes = DOORS
) -> dict[str, Any]:
    rule = rule_of(series)
    return {
        "id": series.id,
        "join_code": series.join_code,
        "join_url": f"/j/{series.join_code}",
        "card_url": f"/j/{series.join_code}/card",
        "venue": series.room.venue.slug,
        "room": series.room.slug,
        "organiser": series.organiser.slug if series.organiser else None,
        "time": series.local_time,
        "minutes": series.minutes,
        "recurrence": rule.as_json(),
        "occurrences": [occurrence_json(s, now, doors) for s in occurrences],
    }


def rule_of(series: Series) -> recurrence.Rule:
    hours, minutes = (int(p) for p in series.local_time.split(":"))
    return recurrence.Rule(
        weekdays=tuple(recurrence.WEEKDAYS.index(d) for d in series.weekdays.split(",") if d),
        local_time=dt.time(hours, minutes),
        first_date=series.first_date,
        until=series.until,
        count=series.count,
        exceptions=tuple(dt.date.fromisoformat(d) for d in json.loads(series.exceptions)),
    )


# -- creating --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Created:
    """New sessions (one, or a series' occurrences) and tokens that exist only now."""

    sessions: list[Session]
    series: Series | None
    tokens: Tokens

    @property
    def first(self) -> Session:
        return self.sessions[0]

    def as_json(self, now: dt.datetime, doors: DoorTimes = DOORS) -> dict[str, Any]:
        first = self.first
        host_path = (
            f"/series/{self.series.id}/host" if self.series is not None else f"/host/{first.id}"
        )
        return {
            "id": first.id,
            "series_id": self.series.id if self.series is not None else None,
            "join_code": first.join_code,
            "host_token": self.tokens.host,
            "publish_token": self.tokens.publish,
            "caption_token": self.tokens.caption,
            "join_url": f"/j/{first.join_code}",
            "card_url": f"/sessions/{first.id}/card",
            "poster_url": f"/sessions/{first.id}/poster",
            "host_url": f"{host_path}?token={self.tokens.host}",
            "whip_url": f"/whip/{first.id}",
            "occurrences": [
                {
                    "id": s.id,
                    "starts_at": s.starts_at.astimezone(CITY_TZ).isoformat(),
                    "ends_at": s.ends_at.astimezone(CITY_TZ).isoformat(),
                    "status": session_status(s, now, doors),
                }
                for s in self.sessions
            ],
        }


async def create(
    db: AsyncSession, actor: Actor, body: Mapping[str, Any], now: dt.datetime | None = None
) -> Created:
    """``POST /api/sessions``: a one-off session, or a weekly series with ``recurrence``."""
    now = now or utcnow()
    values = await read_values(db, body, creating=True, allowed=(*FIELDS, "recurrence"))
    assert values.room is not None and values.starts is not None and values.title is not None
    organiser_id = (
        values.organiser.id if values.organiser is not None else scope.default_organiser(actor)
    )
    scope.require_book_room(actor, values.room)
    scope.require_organiser(actor, organiser_id)
    minutes = values.minutes or 60
    receivers = values.receivers or []
    online = True if values.online is None else values.online
    _check_shape(values.room, receivers, online)
    rule = None
    if body.get("recurrence") is not None:
        rule = recurrence.parse_rule(body["recurrence"], values.starts)
        slots = recurrence.occurrences(rule, minutes)
    else:
        slots = [(values.starts, values.starts + dt.timedelta(minutes=minutes))]
    await check_room(db, [(values.room.id, s, e) for s, e in slots], set())
    tokens = Tokens.new()
    join_code = await unused_join_code(db)
    series = None
    if rule is not None:
        series = Series(
            id=new_session_id(),
            weekdays=",".join(rule.weekday_codes()),
            local_time=rule.local_time.strftime("%H:%M"),
            minutes=minutes,
            first_date=rule.first_date,
            until=rule.until,
            count=rule.count,
            exceptions=json.dumps([d.isoformat() for d in rule.exceptions]),
            room_id=values.room.id,
            organiser_id=organiser_id,
            join_code=join_code,
            created_at=now,
        )
        tokens.apply(series)
        db.add(series)
    ids: list[str] = []
    for starts, ends in slots:
        session = Session(
            id=new_session_id(),
            title=values.title,
            description=values.description or "",
            category=values.category or "other",
            room_id=values.room.id,
            organiser_id=organiser_id,
            starts_at=starts,
            ends_at=ends,
            mode=values.mode or SessionMode.BROADCAST,
            visibility=values.visibility or Visibility.PUBLIC,
            online=online,
            join_code=join_code,
            created_at=now,
            series_id=series.id if series is not None else None,
            status=SessionStatus.SCHEDULED,
            receivers=[SessionReceiver(room_id=r.id) for r in receivers],
        )
        tokens.apply(session)
        db.add(session)
        ids.append(session.id)
    await db.flush()
    sessions = await _load_many(db, ids)
    if series is not None:
        series = await load_series(db, series.id)
        before = {"series": {series.id: None}, "sessions": {s.id: None for s in sessions}}
        after = {
            "series": {series.id: series_snapshot(series)},
            "sessions": {s.id: snapshot(s) for s in sessions},
        }
        await audit.record(db, actor, "create", "series", series.id, before, after, now)
    else:
        first = sessions[0]
        await audit.record(
            db,
            actor,
            "create",
            "session",
            first.id,
            {"sessions": {first.id: None}},
            {"sessions": {first.id: snapshot(first)}},
            now,
        )
    return Created(sessions, series, tokens)


async def _load_many(db: AsyncSession, ids: list[str]) -> list[Session]:
    """These sessions as the database has them now (relationships reloaded after a change)."""
    query = session_query().where(Session.id.in_(ids)).execution_options(populate_existing=True)
    rows = {s.id: s for s in (await db.scalars(query))}
    return [rows[i] for i in ids if i in rows]


# -- changing --------------------------------------------------------------------------------------
def _refuse_ended(session: Session, now: dt.datetime, doors: DoorTimes) -> None:
    if session.status != SessionStatus.CANCELLED and session_phase(session, now, doors) == (
        Phase.ENDED
    ):
        raise Conflict(f"session {session.id} has ended", code="session_ended")


def _apply(
    session: Session, values: Values, starts: dt.datetime | None, minutes: int | None
) -> None:
    if values.title is not None:
        session.title = values.title
    if values.description is not None:
        session.description = values.description
    if values.category is not None:
        session.category = values.category
    if values.room is not None:
        session.room_id = values.room.id
        session.room = values.room
    if values.organiser_given:
        session.organiser_id = values.organiser.id if values.organiser is not None else None
        session.organiser = values.organiser
    length = session.ends_at - session.starts_at
    if minutes is not None:
        length = dt.timedelta(minutes=minutes)
    if starts is not None:
        session.starts_at = starts
    session.ends_at = session.starts_at + length
    if values.mode is not None:
        session.mode = values.mode
    if values.visibility is not None:
        session.visibility = values.visibility
    if values.online is not None:
        session.online = values.online
    if values.receivers is not None:
        session.receivers = [SessionReceiver(room_id=r.id, room=r) for r in values.receivers]


def _moved(before: Mapping[str, Any], session: Session) -> bool:
    """Whether a change took the session to another room or time: only then can it collide
    (a title change is never refused over bookings older than the double-booking check)."""
    return (
        before["room_id"] != session.room_id
        or before["starts_at"] != session.starts_at.isoformat()
        or before["ends_at"] != session.ends_at.isoformat()
    )


def _check_result(actor: Actor, session: Session) -> None:
    """After a change: still in the actor's reach, still a sensible session."""
    scope.require_book_room(actor, session.room)
    scope.require_organiser(actor, session.organiser_id)
    _check_shape(session.room, [r.room for r in session.receivers], session.online)


async def _forget_rollups(db: AsyncSession, ids: Iterable[str]) -> None:
    """A moved or cancelled session is recomputed by the next report that covers it."""
    ids = list(ids)
    await db.execute(delete(VenueRollup).where(VenueRollup.session_id.in_(ids)))
    await db.execute(delete(SessionRollup).where(SessionRollup.session_id.in_(ids)))


async def edit_session(
    db: AsyncSession,
    actor: Actor,
    session_id: str,
    body: Mapping[str, Any],
    now: dt.datetime | None = None,
    doors: DoorTimes = DOORS,
) -> Session:
    """``PATCH /api/sessions/{id}``: one session (or one occurrence of a series)."""
    now = now or utcnow()
    session = await load_session(db, session_id)
    scope.require_manage_session(actor, session)
    if "recurrence" in body:
        raise InvalidField(
            "recurrence", "one occurrence has no recurrence; change the series instead"
        )
    values = await read_values(db, body, creating=False, current_room=session.room)
    _refuse_ended(session, now, doors)
    before = snapshot(session)
    _apply(session, values, values.starts, values.minutes)
    _check_result(actor, session)
    if session.status != SessionStatus.CANCELLED and _moved(before, session):
        await check_room(db, [(session.room_id, session.starts_at, session.ends_at)], {session.id})
    await db.flush()
    session = (await _load_many(db, [session.id]))[0]
    await _record_change(db, actor, "edit", session, before, now)
    return session


async def _record_change(
    db: AsyncSession,
    actor: Actor,
    action: str,
    session: Session,
    before: dict[str, Any],
    now: dt.datetime,
) -> None:
    """One session changed: its report figures are recounted and the audit log gets
    before and after (nothing when the change changed nothing)."""
    after = snapshot(session)
    if after != before:
        await _forget_rollups(db, [session.id])
        await audit.record(
            db,
            actor,
            action,
            "session",
            session.id,
            {"sessions": {session.id: before}},
            {"sessions": {session.id: after}},
            now,
        )


async def _tail(
    db: AsyncSession, series: Series, body: Mapping[str, Any], now: dt.datetime, doors: DoorTimes
) -> tuple[Session, list[Session]]:
    """The ``from`` occurrence and every occurrence of the series from it on that has not
    ended."""
    from_id = body.get("from")
    if not isinstance(from_id, str) or not from_id:
        raise InvalidField("from", "from must name an occurrence of the series")
    occurrences = await occurrences_of(db, series.id)
    first = next((s for s in occurrences if s.id == from_id), None)
    if first is None:
        raise InvalidField("from", f"{from_id[:40]!r} is not an occurrence of this series")
    _refuse_ended(first, now, doors)
    tail = [
        s
        for s in occurrences
        if (s.starts_at, s.id) >= (first.starts_at, first.id)
        and (s.status == SessionStatus.CANCELLED or session_phase(s, now, doors) != Phase.ENDED)
    ]
    return first, tail


async def edit_following(
    db: AsyncSession,
    actor: Actor,
    series_id: str,
    body: Mapping[str, Any],
    now: dt.datetime | None = None,
    doors: DoorTimes = DOORS,
) -> Series:
    """``PATCH /api/series/{id}`` with ``from``: this occurrence and all following ones.

    A new ``starts`` moves ``from`` there; each following occurrence moves by as many days
    and to the same local time (so "from Tuesdays 18:00 to Wednesdays 17:30" holds on every
    week, across the daylight-saving changes). The series' rule follows.
    """
    now = now or utcnow()
    series = await load_series(db, series_id)
    scope.require_manage_series(actor, series)
    changes = {k: v for k, v in body.items() if k != "from"}
    if "recurrence" in changes:
        raise InvalidField("recurrence", "the recurrence of a series cannot be changed")
    values = await read_values(db, changes, creating=False, current_room=series.room)
    first, tail = await _tail(db, series, body, now, doors)
    before = {s.id: snapshot(s) for s in tail}
    series_before = series_snapshot(series)
    day_shift = dt.timedelta(0)
    new_time: dt.time | None = None
    if values.starts is not None:
        old_local = first.starts_at.astimezone(CITY_TZ)
        new_local = values.starts.astimezone(CITY_TZ)
        day_shift = new_local.date() - old_local.date()
        new_time = new_local.time().replace(tzinfo=None)
    for session in tail:
        starts = None
        if new_time is not None:
            local_day = session.starts_at.astimezone(CITY_TZ).date() + day_shift
            starts = recurrence.local_start(local_day, new_time)
        _apply(session, values, starts, values.minutes)
        _check_result(actor, session)
    await check_room(
        db,
        [
            (s.room_id, s.starts_at, s.ends_at)
            for s in tail
            if s.status != SessionStatus.CANCELLED and _moved(before[s.id], s)
        ],
        {s.id for s in tail},
    )
    if values.room is not None:
        series.room_id = values.room.id
    if values.organiser_given:
        series.organiser_id = values.organiser.id if values.organiser is not None else None
    if values.minutes is not None:
        series.minutes = values.minutes
    if new_time is not None:
        series.local_time = new_time.strftime("%H:%M")
        if day_shift:
            days = [recurrence.WEEKDAYS.index(d) for d in series.weekdays.split(",")]
            shifted = sorted({(d + day_shift.days) % 7 for d in days})
            series.weekdays = ",".join(recurrence.WEEKDAYS[d] for d in shifted)
    await db.flush()
    changed = await _load_many(db, [s.id for s in tail])
    series = await load_series(db, series.id)
    after = {s.id: snapshot(s) for s in changed}
    moved = [sid for sid in after if after[sid] != before[sid]]
    if moved or series_snapshot(series) != series_before:
        await _forget_rollups(db, moved)
        await audit.record(
            db,
            actor,
            "edit_following",
            "series",
            series.id,
            {"series": {series.id: series_before}, "sessions": {k: before[k] for k in moved}},
            {
                "series": {series.id: series_snapshot(series)},
                "sessions": {k: after[k] for k in moved},
            },
            now,
        )
    return series


async def cancel_session(
    db: AsyncSession,
    actor: Actor,
    session_id: str,
    body: Mapping[str, Any],
    now: dt.datetime | None = None,
    doors: DoorTimes = DOORS,
) -> Session:
    """``POST /api/sessions/{id}/cancel``: shown as cancelled, with the reason; never joinable."""
    now = now or utcnow()
    session = await load_session(db, session_id)
    scope.require_manage_session(actor, session)
    reason = _reason(body)
    _refuse_ended(session, now, doors)
    before = snapshot(session)
    session.status = SessionStatus.CANCELLED
    session.cancel_reason = reason
    await db.flush()
    await _record_change(db, actor, "cancel", session, before, now)
    return session


async def cancel_following(
    db: AsyncSession,
    actor: Actor,
    series_id: str,
    body: Mapping[str, Any],
    now: dt.datetime | None = None,
    doors: DoorTimes = DOORS,
) -> tuple[Series, list[Session]]:
    """``POST /api/series/{id}/cancel``: ``from`` and every later occurrence not yet ended."""
    now = now or utcnow()
    series = await load_series(db, series_id)
    scope.require_manage_series(actor, series)
    reason = _reason(body)
    _, tail = await _tail(db, series, body, now, doors)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for session in tail:
        if session.status == SessionStatus.CANCELLED:
            continue
        before[session.id] = snapshot(session)
        session.status = SessionStatus.CANCELLED
        session.cancel_reason = reason
        after[session.id] = snapshot(session)
    await db.flush()
    if after:
        await _forget_rollups(db, after)
        await audit.record(
            db,
            actor,
            "cancel_following",
            "series",
            series.id,
            {"sessions": before},
            {"sessions": after},
            now,
        )
    return series, await occurrences_of(db, series.id)


async def check_end(
    db: AsyncSession,
    actor: Actor,
    session_id: str,
    now: dt.datetime | None = None,
    doors: DoorTimes = DOORS,
) -> Session:
    """May ``actor`` end this session now? (``POST /api/sessions/{id}/end``; the live layer
    does the ending.) A cancelled session or one whose doors have not opened cannot be."""
    now = now or utcnow()
    session = await load_session(db, session_id)
    scope.require_manage_session(actor, session)
    if session.status == SessionStatus.CANCELLED:
        raise Conflict(f"session {session.id} was cancelled", code="session_cancelled")
    if session_phase(session, now, doors) == Phase.UPCOMING:
        raise Conflict(
            f"session {session.id} has not started: cancel it instead", code="session_not_started"
        )
    return session


async def record_end(db: AsyncSession, actor: Actor, session_id: str) -> None:
    await audit.record(db, actor, "end", "session", session_id, None, {"ended": True})


async def new_links(
    db: AsyncSession, actor: Actor, *, session_id: str | None = None, series_id: str | None = None
) -> tuple[Tokens, list[str]]:
    """New host, publish and caption tokens; the old ones stop working at once. For a series
    every occurrence gets them (one host link for all); returns the tokens and the ids of
    the sessions whose tokens changed."""
    tokens = Tokens.new()
    if series_id is not None:
        series = await load_series(db, series_id)
        scope.require_manage_series(actor, series)
        tokens.apply(series)
        sessions = await occurrences_of(db, series.id)
        target = ("series", series.id)
    else:
        assert session_id is not None
        session = await load_session(db, session_id)
        scope.require_manage_session(actor, session)
        sessions = [session]
        target = ("session", session.id)
    for session in sessions:
        tokens.apply(session)
    await audit.record(
        db, actor, "new_links", *target, None, {"links": "host, publish and caption tokens"}
    )
    return tokens, [s.id for s in sessions]


# -- copying a week --------------------------------------------------------------------------------
def week_bounds(monday: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(monday, dt.time(0), tzinfo=CITY_TZ)
    end = dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(0), tzinfo=CITY_TZ)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


@dataclasses.dataclass(frozen=True)
class CopyResult:
    copied: list[Session]
    skipped: list[tuple[Session, str]]  # (session, the id of the one in its way)


async def copy_week(
    db: AsyncSession,
    actor: Actor,
    monday: dt.date,
    *,
    venue_id: int | None = None,
    organiser_id: int | None = None,
    category: str | None = None,
    now: dt.datetime | None = None,
) -> CopyResult:
    """Copy the week's one-off sessions (within the actor's reach and the given filters) to
    the next week, same weekday and local time, as new one-off sessions with codes of their
    own. Series occurrences are not copied (the series already recurs), nor cancelled
    sessions. A copy whose room is taken is skipped and reported, the others are made."""
    now = now or utcnow()
    start, end = week_bounds(monday)
    query = (
        session_query()
        .where(
            Session.starts_at >= start,
            Session.starts_at < end,
            Session.series_id.is_(None),
            Session.status != SessionStatus.CANCELLED,
        )
        .order_by(Session.starts_at, Session.id)
    )
    if venue_id is not None:
        query = query.where(Session.room_id.in_(select(Room.id).where(Room.venue_id == venue_id)))
    if organiser_id is not None:
        query = query.where(Session.organiser_id == organiser_id)
    if category is not None:
        query = query.where(Session.category == category)
    originals = [s for s in (await db.scalars(query)).all() if scope.may_manage_session(actor, s)]
    made: list[str] = []
    skipped: list[tuple[Session, str]] = []
    for original in originals:
        local = original.starts_at.astimezone(CITY_TZ)
        starts = recurrence.local_start(
            local.date() + dt.timedelta(days=7), local.time().replace(tzinfo=None)
        )
        ends = starts + (original.ends_at - original.starts_at)
        try:
            await check_room(db, [(original.room_id, starts, ends)], set())
        except RoomTaken as exc:
            skipped.append((original, exc.conflict))
            continue
        copy = Session(
            id=new_session_id(),
            title=original.title,
            description=original.description,
            category=original.category,
            room_id=original.room_id,
            organiser_id=original.organiser_id,
            starts_at=starts,
            ends_at=ends,
            mode=original.mode,
            visibility=original.visibility,
            online=original.online,
            join_code=await unused_join_code(db),
            created_at=now,
            status=SessionStatus.SCHEDULED,
            receivers=[SessionReceiver(room_id=r.room_id) for r in original.receivers],
        )
        Tokens.new().apply(copy)
        db.add(copy)
        await db.flush()
        made.append(copy.id)
    copies = await _load_many(db, made) if made else []
    if copies:
        await audit.record(
            db,
            actor,
            "copy_week",
            "week",
            monday.isoformat(),
            {"sessions": {s.id: None for s in copies}},
            {"sessions": {s.id: snapshot(s) for s in copies}},
            now,
        )
    return CopyResult(copies, skipped)


# -- undo ------------------------------------------------------------------------------------------
async def last_undoable(db: AsyncSession, actor: StaffIdentity) -> AuditEntry | None:
    return await db.scalar(
        select(AuditEntry)
        .where(
            AuditEntry.staff_id == actor.staff_id,
            AuditEntry.action.in_(UNDOABLE),
            AuditEntry.undone_at.is_(None),
        )
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )


async def undo_last(
    db: AsyncSession, actor: StaffIdentity, now: dt.datetime | None = None
) -> AuditEntry:
    """Take back this staff member's last programme change (see :data:`UNDOABLE`) from its
    audit entry's ``before``: made sessions are removed, changed ones restored. Refused
    (409 ``undo_conflict``) if someone changed them since, or people already took part in a
    session that would be removed; 409 ``nothing_to_undo`` when there is nothing."""
    now = now or utcnow()
    entry = await last_undoable(db, actor)
    if entry is None:
        raise Conflict("there is no change of yours to undo", code="nothing_to_undo")
    before = json.loads(entry.before) if entry.before else {}
    after = json.loads(entry.after) if entry.after else {}
    session_ids = list(after.get("sessions", {}))
    current = {s.id: s for s in await _load_many(db, session_ids)} if session_ids else {}
    for sid, state in after.get("sessions", {}).items():
        session = current.get(sid)
        if session is None or not _same(snapshot(session), state):
            raise Conflict(
                f"session {sid} has changed since; undo it by hand", code="undo_conflict"
            )
        scope.require_manage_session(actor, session)
    restored: list[Session] = []
    removed: list[str] = []
    for sid, state in before.get("sessions", {}).items():
        session = current[sid]
        if state is None:
            taken_part = await db.scalar(
                select(func.count()).select_from(Participant).where(Participant.session_id == sid)
            )
            counted = await db.scalar(
                select(func.count()).select_from(Headcount).where(Headcount.session_id == sid)
            )
            if taken_part or counted:
                raise Conflict(
                    f"people already took part in session {sid}; cancel it instead",
                    code="undo_conflict",
                )
            removed.append(sid)
        else:
            _restore(session, state)
            restored.append(session)
    await check_room(
        db,
        [
            (s.room_id, s.starts_at, s.ends_at)
            for s in restored
            if s.status != SessionStatus.CANCELLED
        ],
        {s.id for s in restored},
    )
    if removed:
        await db.execute(delete(DeviceInvitation).where(DeviceInvitation.session_id.in_(removed)))
        await _forget_rollups(db, removed)
        await db.execute(delete(SessionReceiver).where(SessionReceiver.session_id.in_(removed)))
        await db.execute(delete(Session).where(Session.id.in_(removed)))
    for series_id, state in before.get("series", {}).items():
        series = await db.get(Series, series_id)
        if series is None:
            continue
        if state is None:
            await db.execute(
                delete(DeviceInvitation).where(DeviceInvitation.series_id == series_id)
            )
            await db.delete(series)
        else:
            series.room_id = state["room_id"]
            series.organiser_id = state["organiser_id"]
            series.minutes = state["minutes"]
            series.local_time = state["local_time"]
            series.weekdays = state["weekdays"]
    await _forget_rollups(db, [s.id for s in restored])
    entry.undone_at = now
    await db.flush()
    await audit.record(
        db,
        actor,
        "undo",
        entry.target_kind,
        entry.target_id,
        after,
        before | {"undid": entry.id},
        now,
    )
    return entry


def _restore(session: Session, state: Mapping[str, Any]) -> None:
    session.title = state["title"]
    session.description = state["description"]
    session.category = state["category"]
    session.room_id = state["room_id"]
    session.organiser_id = state["organiser_id"]
    session.starts_at = dt.datetime.fromisoformat(state["starts_at"])
    session.ends_at = dt.datetime.fromisoformat(state["ends_at"])
    session.mode = SessionMode(state["mode"])
    session.visibility = Visibility(state["visibility"])
    session.online = state["online"]
    session.receivers = [SessionReceiver(room_id=room_id) for room_id in state["receivers"]]
    session.status = SessionStatus(state["status"])
    session.cancel_reason = state["cancel_reason"]


# -- tablets ---------------------------------------------------------------------------------------
async def invite_tablet(
    db: AsyncSession, actor: Actor, device_id: int, session_id: str
) -> DeviceInvitation:
    """Put a private session on a tablet's home screen; a series occurrence invites the
    tablet to the whole series (every occurrence, and their cancellations, show on it)."""
    session = await load_session(db, session_id)
    scope.require_manage_session(actor, session)
    device = await db.get(Device, device_id)
    if device is None or device.revoked_at is not None:
        raise InvalidField("device", f"no active device {device_id}")
    if not scope.may_invite(actor, device):
        raise InvalidField("device", f"device {device_id} is not a tablet you may invite")
    column, value = (
        (DeviceInvitation.series_id, session.series_id)
        if session.series_id is not None
        else (DeviceInvitation.session_id, session.id)
    )
    found = await db.scalar(
        select(DeviceInvitation).where(DeviceInvitation.device_id == device_id, column == value)
    )
    if found is not None:
        return found
    invitation = (
        DeviceInvitation(device_id=device_id, series_id=session.series_id)
        if session.series_id is not None
        else DeviceInvitation(device_id=device_id, session_id=session.id)
    )
    db.add(invitation)
    await db.flush()
    await audit.record(
        db,
        actor,
        "invite",
        "series" if session.series_id else "session",
        session.series_id or session.id,
        None,
        {"device": device_id},
    )
    return invitation
