"""Registered devices: kiosks, home-care tablets and room links (the domain; no aiohttp).

A device is registered by staff for a venue (and usually a room) and holds a bearer token
(``kd_…``) of which only the digest is stored. What a device may do follows from where it is:
a room device publishes the sessions held in its room and plays those shown in it; a tablet is
a person's device and joins sessions as an online participant.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import secrets
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from stream_server.basics import CITY_TZ, DOORS, DoorTimes, hash_secret, utcnow
from stream_server.catalog import service as catalog
from stream_server.db.models import (
    Device,
    DeviceInvitation,
    DeviceKind,
    Room,
    Series,
    Session,
    SessionReceiver,
    SessionStatus,
    Venue,
    Visibility,
)
from stream_server.errors import Forbidden, Unauthorized

logger = logging.getLogger(__name__)

DEVICE_TOKEN_PREFIX = "kd_"
#: States a device may report; anything else is refused.
DEVICE_STATES = frozenset({"idle", "waiting", "joining", "playing", "publishing", "error"})
#: A device unheard of for this long is shown as offline.
ONLINE_WITHIN = dt.timedelta(seconds=90)
MAX_SCHEDULE_DAYS = 14
#: The schedule always reaches this far ahead, so that a session just after midnight is
#: still joined its lead time before the start although it belongs to tomorrow.
SCHEDULE_LOOKAHEAD = dt.timedelta(hours=3)


class DeviceError(ValueError):
    pass


class DeviceTokenInvalid(DeviceError):
    pass


class DeviceRevoked(DeviceError):
    pass


@dataclasses.dataclass(frozen=True)
class Placement:
    """How a session relates to a device."""

    kind: str  # host-room | receiving-room | venue | invited | public
    may_publish: bool
    headcount_venue: str | None


@dataclasses.dataclass(frozen=True)
class NewDevice:
    device: Device
    token: str


def device_to_json(device: Device, now: dt.datetime | None = None) -> dict[str, Any]:
    """What staff and the device itself see; for tablets, only whether it is online."""
    now = now or utcnow()
    online = device.last_seen_at is not None and now - device.last_seen_at < ONLINE_WITHIN
    data: dict[str, Any] = {
        "id": device.id,
        "kind": device.kind.value,
        "name": device.name,
        "venue": device.venue.slug,
        "venue_name": device.venue.name,
        "room": device.room.slug if device.room else None,
        "room_name": device.room.name if device.room else None,
        "revoked": device.revoked_at is not None,
        "online": online,
    }
    if device.kind != DeviceKind.TABLET:
        data["last_seen_at"] = device.last_seen_at.isoformat() if device.last_seen_at else None
        data["state"] = device.state
        data["session_id"] = device.state_session_id
        data["detail"] = device.state_detail
    return data


def _device_query() -> Any:
    return select(Device).options(
        selectinload(Device.venue), selectinload(Device.room).selectinload(Room.venue)
    )


async def add_device(
    db: AsyncSession, venue_slug: str, kind: str, room_slug: str | None = None, name: str = ""
) -> NewDevice:
    try:
        device_kind = DeviceKind(kind)
    except ValueError:
        raise DeviceError(f"kind must be kiosk, tablet or room-link, not {kind!r}") from None
    venue = await db.scalar(
        select(Venue).where(Venue.slug == venue_slug).options(selectinload(Venue.rooms))
    )
    if venue is None:
        raise DeviceError(f"unknown venue {venue_slug!r}")
    room = None
    if room_slug:
        room = next((r for r in venue.rooms if r.slug == room_slug), None)
        if room is None:
            raise DeviceError(f"unknown room {room_slug!r} at {venue_slug!r}")
    if device_kind == DeviceKind.TABLET and room is not None:
        raise DeviceError("a home-care tablet belongs to a venue, not to a room")
    token = DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    device = Device(
        kind=device_kind,
        name=name.strip()[:120] or f"{device_kind.value} {venue.slug}/{room_slug or '-'}",
        venue_id=venue.id,
        room_id=room.id if room else None,
        token_hash=hash_secret(token),
        created_at=utcnow(),
    )
    db.add(device)
    await db.flush()
    loaded = await db.scalar(_device_query().where(Device.id == device.id))
    assert loaded is not None
    return NewDevice(loaded, token)


async def list_devices(db: AsyncSession, include_revoked: bool = True) -> list[Device]:
    query = _device_query().order_by(Device.id)
    if not include_revoked:
        query = query.where(Device.revoked_at.is_(None))
    return list((await db.scalars(query)).all())


async def get_device(db: AsyncSession, device_id: int) -> Device | None:
    return await db.scalar(_device_query().where(Device.id == device_id))


async def revoke_device(db: AsyncSession, device_id: int) -> bool:
    result = await db.execute(
        update(Device)
        .where(Device.id == device_id, Device.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def restore_device(db: AsyncSession, device_id: int) -> bool:
    """Undo a revocation (staff pressed revoke by mistake): the same token works again."""
    result = await db.execute(
        update(Device)
        .where(Device.id == device_id, Device.revoked_at.is_not(None))
        .values(revoked_at=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def revoked_among(db: AsyncSession, device_ids: set[int]) -> list[int]:
    """Which of these devices are revoked: one indexed query, so the server can notice
    revocations made in another process (``kohtaamo devices revoke``) cheaply."""
    if not device_ids:
        return []
    rows = await db.scalars(
        select(Device.id).where(Device.id.in_(device_ids), Device.revoked_at.is_not(None))
    )
    return sorted(rows.all())


async def identify_device(db: AsyncSession, token: str) -> Device:
    """The device holding this token; raises for unknown and revoked tokens."""
    if not token.startswith(DEVICE_TOKEN_PREFIX):
        raise DeviceTokenInvalid("not a device token")
    device = await db.scalar(_device_query().where(Device.token_hash == hash_secret(token)))
    if device is None:
        raise DeviceTokenInvalid("unknown device token")
    if device.revoked_at is not None:
        raise DeviceRevoked(f"device {device.id} has been revoked")
    return device


async def authenticate(db: AsyncSession, token: str) -> Device:
    """:func:`identify_device` with the errors a client is shown (401 unknown, 403 revoked)."""
    try:
        return await identify_device(db, token)
    except DeviceRevoked:
        logger.warning("refused a revoked device token")
        raise Forbidden(
            "this device has been revoked; ask the library staff to register it again",
            code="device_revoked",
        ) from None
    except DeviceTokenInvalid:
        raise Unauthorized("unknown device token", code="device_token_invalid") from None


async def record_heartbeat(
    db: AsyncSession,
    device: Device,
    state: str,
    session_id: str | None = None,
    detail: str | None = None,
    now: dt.datetime | None = None,
) -> None:
    if state not in DEVICE_STATES:
        raise DeviceError(f"state must be one of {', '.join(sorted(DEVICE_STATES))}")
    device.last_seen_at = now or utcnow()
    if device.kind != DeviceKind.TABLET:
        device.state = state
        device.state_session_id = session_id[:16] if session_id else None
        device.state_detail = detail[:200] if detail else None


async def invite(db: AsyncSession, device_id: int, session_id: str) -> None:
    """Put a private group on a tablet's home screen ("Omat ryhmät"); an occurrence of a
    series (or the series' id) puts the whole series there.

    Refuses what would silently do nothing: a device that is not a tablet or is revoked, and
    a session that does not exist (a join code given by mistake for the id, say).
    """
    device = await db.get(Device, device_id)
    if device is None:
        raise DeviceError(f"no device {device_id}")
    if device.kind != DeviceKind.TABLET:
        raise DeviceError(f"device {device_id} is a {device.kind.value}, not a tablet")
    if device.revoked_at is not None:
        raise DeviceError(f"device {device_id} has been revoked")
    session = await db.get(Session, session_id)
    if session is not None and session.series_id is None:
        column, value = DeviceInvitation.session_id, session_id
    else:
        series_id = session.series_id if session is not None else None
        series_id = series_id or await db.scalar(select(Series.id).where(Series.id == session_id))
        if series_id is None:
            raise DeviceError(f"no session {session_id!r} (give the session id, not its join code)")
        column, value = DeviceInvitation.series_id, series_id
    exists = await db.scalar(
        select(DeviceInvitation.id).where(DeviceInvitation.device_id == device_id, column == value)
    )
    if exists is None:
        if column is DeviceInvitation.series_id:
            db.add(DeviceInvitation(device_id=device_id, series_id=value))
        else:
            db.add(DeviceInvitation(device_id=device_id, session_id=value))
        await db.flush()


def _invited(device_id: int) -> Any:
    """The sessions a tablet is invited to: one by one, or every occurrence of a series."""
    sessions = select(DeviceInvitation.session_id).where(
        DeviceInvitation.device_id == device_id, DeviceInvitation.session_id.is_not(None)
    )
    series = select(DeviceInvitation.series_id).where(
        DeviceInvitation.device_id == device_id, DeviceInvitation.series_id.is_not(None)
    )
    return or_(Session.id.in_(sessions), Session.series_id.in_(series))


async def placement(db: AsyncSession, device: Device, session: Session) -> Placement | None:
    """How this device may take part in this session, or None if it may not."""
    invited = False
    if device.kind == DeviceKind.TABLET and session.visibility != Visibility.PUBLIC:
        invited = (
            await db.scalar(select(Session.id).where(Session.id == session.id, _invited(device.id)))
            is not None
        )
    return _placement(device, session, invited)


def _placement(device: Device, session: Session, invited: bool) -> Placement | None:
    """:func:`placement` once it is known whether a tablet is invited (no I/O)."""
    if device.kind == DeviceKind.TABLET:
        if session.visibility == Visibility.PUBLIC:
            return Placement("public", False, None)
        return Placement("invited", False, None) if invited else None
    venue_slug = device.venue.slug
    if device.room_id is not None:
        if session.room_id == device.room_id:
            return Placement("host-room", True, venue_slug)
        if any(r.room_id == device.room_id for r in session.receivers):
            return Placement("receiving-room", False, venue_slug)
        return None
    if session.visibility != Visibility.PUBLIC:
        # A screen of a whole venue is in no room: a private group (home-care clients) is
        # shown only on the screens of the rooms it is placed in, never on a venue's.
        return None
    if session.room.venue_id == device.venue_id:
        return Placement("venue", False, venue_slug)
    if any(r.room.venue_id == device.venue_id for r in session.receivers):
        return Placement("receiving-room", False, venue_slug)
    return None


def local_day_bounds(now: dt.datetime, days: int) -> tuple[dt.datetime, dt.datetime]:
    """From the start of today (city time) to the end of the ``days``-th day, in UTC."""
    local = now.astimezone(CITY_TZ)
    start = dt.datetime.combine(local.date(), dt.time(), CITY_TZ)
    end = dt.datetime.combine(local.date() + dt.timedelta(days=days), dt.time(), CITY_TZ)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


async def schedule(
    db: AsyncSession,
    device: Device,
    now: dt.datetime | None = None,
    days: int = 1,
    doors: DoorTimes = DOORS,
) -> list[dict[str, Any]]:
    """The sessions this device takes part in from today on, soonest first.

    The window ends at the end of the ``days``-th day (city time) but never less than
    ``SCHEDULE_LOOKAHEAD`` from now. In-person-only activities are left out (nothing to
    join); a tablet also gets its cancelled sessions, with ``status`` ``cancelled`` and the
    reason, so the person sees that this week's group is off rather than finding it gone
    (room devices, which join by themselves, never get them).
    """
    now = now or utcnow()
    days = max(1, min(days, MAX_SCHEDULE_DAYS))
    start, end = local_day_bounds(now, days)
    end = max(end, now + SCHEDULE_LOOKAHEAD)
    query = (
        catalog.session_query()
        .where(
            Session.starts_at < end,
            Session.ends_at > start,
            Session.ended_at.is_(None),
            Session.online.is_(True),
        )
        .order_by(Session.starts_at, Session.id)
    )
    if device.kind != DeviceKind.TABLET:
        query = query.where(Session.status != SessionStatus.CANCELLED)
    if device.kind == DeviceKind.TABLET:
        query = query.where(or_(Session.visibility == Visibility.PUBLIC, _invited(device.id)))
    elif device.room_id is not None:
        receiving = select(SessionReceiver.session_id).where(
            SessionReceiver.room_id == device.room_id
        )
        query = query.where(or_(Session.room_id == device.room_id, Session.id.in_(receiving)))
    else:
        rooms = select(Room.id).where(Room.venue_id == device.venue_id)
        receiving = select(SessionReceiver.session_id).where(SessionReceiver.room_id.in_(rooms))
        query = query.where(
            or_(Session.room_id.in_(rooms), Session.id.in_(receiving)),
            Session.visibility == Visibility.PUBLIC,  # see _placement
        )
    result = []
    for session in (await db.scalars(query)).all():
        # The query above already kept only the private sessions this tablet is invited to.
        place = _placement(device, session, invited=True)
        if place is None:
            continue
        item = catalog.session_to_json(session, now, doors)
        item.update(
            placement=place.kind,
            may_publish=place.may_publish,
            headcount_venue=place.headcount_venue,
            join_code=session.join_code,
            join_url=f"/j/{session.join_code}",
            whip_url=f"/whip/{session.id}" if place.may_publish else None,
        )
        result.append(item)
    return result


def participant_channel(device: Device) -> str:
    """The attendance channel of a device: a tablet's user is an online participant."""
    return device.kind.value


def attributed_venue_id(device: Device, session: Session) -> int | None:
    """The venue to count a device's participation towards, when not the host venue."""
    return None if device.venue_id == session.room.venue_id else device.venue_id


def enrol_path(kind: DeviceKind, token: str) -> str:
    """The link that sets a device up when opened on it (also shown as a QR code).

    The token rides in the fragment, which browsers never send to a server, so it stays out
    of access logs and proxies; the page moves it to local storage and clears the address.
    """
    page = "/tablet" if kind == DeviceKind.TABLET else "/kiosk"
    return f"{page}#device={token}"
