"""Who may enter a live session, and as what: every entrance's credentials in one place.

WHIP, WHEP, the event stream and the signaling ``join`` all end here, so a rule (a device's
placement, a private session's join code, a host token, an in-person-only activity) is
decided once, and the answer is one :class:`Entrance`: the role and channel the connection
is counted with.
"""

from __future__ import annotations

import dataclasses

from stream_server.catalog import service as catalog
from stream_server.db.engine import Database
from stream_server.db.models import Session
from stream_server.devices import service as devices
from stream_server.errors import Forbidden, Unauthorized
from stream_server.vocabulary import HOST_CHANNELS, ROOM_DEVICE_CHANNELS, Channel, Role


@dataclasses.dataclass(frozen=True)
class Entrance:
    """How one connection takes part: its role, its ledger channel, and (for a registered
    device) the device and the venue its presence is attributed to."""

    role: Role
    channel: Channel
    venue_id: int | None = None
    device_id: int | None = None


def is_device_token(token: str | None) -> bool:
    return token is not None and token.startswith(devices.DEVICE_TOKEN_PREFIX)


def require_online(session: Session) -> None:
    """An in-person-only activity (``online: false``) is in the programme and counted by
    headcount, but nothing is streamed: every media entrance refuses it."""
    if not session.online:
        raise Forbidden("this activity is in person only; it is not streamed", code="not_online")


async def device_entrance(database: Database, session: Session, token: str, role: Role) -> Entrance:
    """A registered device in ``session``; raises 401/403 with the reason.

    ``role`` host (publishing) is allowed only to a device in the session's own room.
    """
    async with database.session() as db:
        device = await devices.authenticate(db, token)
        place = await devices.placement(db, device, session)
    if place is None:
        # No device id or session id in the text: it reaches the log, and a home tablet's
        # id tied to a session would say who was trying to join what.
        raise Forbidden("this device has no part in this session", code="device_not_allowed")
    if role == Role.HOST and not place.may_publish:
        raise Forbidden(
            "only a device in the session's own room may publish", code="device_not_allowed"
        )
    return Entrance(
        role,
        Channel(devices.participant_channel(device)),
        devices.attributed_venue_id(device, session),
        device.id,
    )


async def publisher_entrance(database: Database, session: Session, bearer: str | None) -> Entrance:
    """WHIP: the session's publish or host token, or a device in the host room."""
    require_online(session)
    if is_device_token(bearer):
        assert bearer is not None
        return await device_entrance(database, session, bearer, Role.HOST)
    if bearer is None:
        raise Unauthorized("publishing needs the session's publish token", code="token_missing")
    if not catalog.may_publish(session, bearer):
        raise Forbidden("wrong publish token", code="token_invalid")
    return Entrance(Role.HOST, Channel.WHIP)


async def viewer_entrance(database: Database, session: Session, bearer: str | None) -> Entrance:
    """WHEP and the event stream: anyone for a public session; the join code (or host token)
    for a private one; or a registered device placed in the session."""
    require_online(session)
    if is_device_token(bearer):
        assert bearer is not None
        return await device_entrance(database, session, bearer, Role.PARTICIPANT)
    if not catalog.may_view(session, bearer):
        if bearer is None:
            raise Unauthorized(
                "this session is private: give its join code as the Bearer token",
                code="join_code_missing",
            )
        raise Forbidden("wrong join code", code="join_code_invalid")
    return Entrance(Role.PARTICIPANT, Channel.WHEP)


async def member_entrance(
    database: Database,
    session: Session,
    role: str,
    host_token: str | None,
    channel: str,
    device_token: str | None,
) -> Entrance:
    """The signaling ``join``: the host needs the host token; a room channel needs a device."""
    require_online(session)
    wanted = Role.HOST if role == Role.HOST else Role.PARTICIPANT
    if wanted == Role.HOST and not catalog.secret_matches(host_token, session.host_token_hash):
        raise Forbidden("wrong host token", code="token_invalid")
    if device_token is not None:
        entrance = await device_entrance(database, session, device_token, Role.PARTICIPANT)
        return dataclasses.replace(entrance, role=wanted)
    if channel in ROOM_DEVICE_CHANNELS:
        raise Forbidden(
            f"only a registered device may join as {channel}", code="device_token_required"
        )
    if channel in HOST_CHANNELS and wanted != Role.HOST:
        # Otherwise an anonymous page is counted as a device, not as a participant.
        raise Forbidden(f"only the host may join as {channel}", code="host_token_required")
    return Entrance(wanted, Channel(channel))
