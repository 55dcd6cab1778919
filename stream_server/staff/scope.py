"""Who may touch what: staff roles against venues, organisers, sessions and devices.

Every staff route asks here, so the rules live in one place:

- ``admin``: everything, staff accounts and the audit log;
- ``staff``: every venue, organiser and session;
- ``librarian``: one venue: the sessions held there (and, for sessions shown on a screen
  there, that audience's headcount and figures), its rooms and its devices;
- ``coordinator``: one organiser: its sessions and series (in any library's rooms), tablet
  invitations to them, their attendance figures.

``None`` as the identity is the command line (``kohtaamo …`` run by IT staff with the
server's own configuration): it reaches everything. Refusals are :class:`OutOfScope`
(``403 out_of_scope``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from stream_server.db.models import (
    Device,
    DeviceKind,
    Room,
    Series,
    Session,
    SessionReceiver,
    StaffRole,
)
from stream_server.errors import OutOfScope
from stream_server.staff.service import StaffIdentity

Identity = StaffIdentity | None
EVERYWHERE = frozenset({StaffRole.ADMIN, StaffRole.STAFF})


def everywhere(identity: Identity) -> bool:
    """Admins, all-venue staff and the command line."""
    return identity is None or identity.role in EVERYWHERE


def is_admin(identity: Identity) -> bool:
    return identity is None or identity.role == StaffRole.ADMIN


def require_admin(identity: Identity) -> None:
    if not is_admin(identity):
        raise OutOfScope("only an administrator may do this")


def require_everywhere(identity: Identity, what: str) -> None:
    """City-wide settings (area populations): admins and all-venue staff only."""
    if not everywhere(identity):
        raise OutOfScope(f"{what} is for staff of every venue")


# -- sessions and series ---------------------------------------------------------------------------
def may_manage_session(identity: Identity, session: Session) -> bool:
    """Edit, cancel, end, reissue links, invite tablets, control recording."""
    if everywhere(identity):
        return True
    assert identity is not None
    if identity.role == StaffRole.LIBRARIAN:
        return session.room.venue_id == identity.venue_id
    return session.organiser_id is not None and session.organiser_id == identity.organiser_id


def require_manage_session(identity: Identity, session: Session) -> None:
    if not may_manage_session(identity, session):
        raise OutOfScope(f"session {session.id} is outside {_reach(identity)}")


def may_manage_series(identity: Identity, series: Series) -> bool:
    if everywhere(identity):
        return True
    assert identity is not None
    if identity.role == StaffRole.LIBRARIAN:
        return series.room.venue_id == identity.venue_id
    return series.organiser_id is not None and series.organiser_id == identity.organiser_id


def require_manage_series(identity: Identity, series: Series) -> None:
    if not may_manage_series(identity, series):
        raise OutOfScope(f"series {series.id} is outside {_reach(identity)}")


def may_see_session(identity: Identity, session: Session) -> bool:
    """The dashboard and figures: what one manages, and for a librarian also the sessions
    shown on a screen of their venue (they count that audience)."""
    if may_manage_session(identity, session):
        return True
    assert identity is not None
    return identity.role == StaffRole.LIBRARIAN and any(
        r.room.venue_id == identity.venue_id for r in session.receivers
    )


def require_see_session(identity: Identity, session: Session) -> None:
    if not may_see_session(identity, session):
        raise OutOfScope(f"session {session.id} is outside {_reach(identity)}")


def visible_sessions_clause(identity: Identity) -> Any:
    """A WHERE clause for the sessions :func:`may_see_session` allows (None: all)."""
    if everywhere(identity):
        return None
    assert identity is not None
    if identity.role == StaffRole.LIBRARIAN:
        rooms = select(Room.id).where(Room.venue_id == identity.venue_id)
        shown = select(SessionReceiver.session_id).where(SessionReceiver.room_id.in_(rooms))
        return or_(Session.room_id.in_(rooms), Session.id.in_(shown))
    return Session.organiser_id == identity.organiser_id


def require_book_room(identity: Identity, room: Room) -> None:
    """Hold a session in ``room``: a librarian only at their venue."""
    if everywhere(identity):
        return
    assert identity is not None
    if identity.role == StaffRole.LIBRARIAN and room.venue_id != identity.venue_id:
        raise OutOfScope(f"a librarian plans only their own venue's rooms, not {room.slug!r}")


def require_organiser(identity: Identity, organiser_id: int | None) -> None:
    """A coordinator's sessions are always their own organiser's."""
    if identity is not None and identity.role == StaffRole.COORDINATOR:
        if organiser_id != identity.organiser_id:
            raise OutOfScope("a coordinator plans only their own organiser's sessions")


def default_organiser(identity: Identity) -> int | None:
    """The organiser a new session gets when none is named."""
    if identity is not None and identity.role == StaffRole.COORDINATOR:
        return identity.organiser_id
    return None


# -- headcounts, organisers, devices, reports --------------------------------------------------
def require_count_at(identity: Identity, session: Session, venue_id: int) -> None:
    """Record a headcount: a librarian for their venue's audience, a coordinator for their
    own sessions."""
    if everywhere(identity):
        return
    assert identity is not None
    if identity.role == StaffRole.LIBRARIAN and venue_id == identity.venue_id:
        return
    if identity.role == StaffRole.COORDINATOR and may_manage_session(identity, session):
        return
    raise OutOfScope(f"this headcount is outside {_reach(identity)}")


def may_manage_organisers(identity: Identity) -> bool:
    """Add and edit organiser records: everyone but coordinators (whose record it is)."""
    return identity is None or identity.role != StaffRole.COORDINATOR


def require_manage_organisers(identity: Identity) -> None:
    if not may_manage_organisers(identity):
        raise OutOfScope("a coordinator cannot edit organiser records")


def may_manage_device(identity: Identity, device: Device) -> bool:
    """Register, list and revoke: a librarian their venue's devices; coordinators none."""
    if everywhere(identity):
        return True
    assert identity is not None
    return identity.role == StaffRole.LIBRARIAN and device.venue_id == identity.venue_id


def require_register_device(identity: Identity, venue_id: int) -> None:
    if everywhere(identity):
        return
    assert identity is not None
    if identity.role != StaffRole.LIBRARIAN or venue_id != identity.venue_id:
        raise OutOfScope(f"registering this device is outside {_reach(identity)}")


def require_manage_device(identity: Identity, device: Device) -> None:
    if not may_manage_device(identity, device):
        raise OutOfScope(f"device {device.id} is outside {_reach(identity)}")


def may_invite(identity: Identity, device: Device) -> bool:
    """Which tablets one may put a session on: any tablet for coordinators (their clients'
    tablets are registered by libraries), a librarian's own venue's."""
    if device.kind != DeviceKind.TABLET:
        return False
    if identity is not None and identity.role == StaffRole.COORDINATOR:
        return True
    return may_manage_device(identity, device)


def report_scope(identity: Identity) -> tuple[int | None, int | None]:
    """The reports' filter: ``(venue_id, organiser_id)``; ``(None, None)`` is the whole city."""
    if everywhere(identity):
        return None, None
    assert identity is not None
    if identity.role == StaffRole.LIBRARIAN:
        return identity.venue_id, None
    return None, identity.organiser_id


def _reach(identity: Identity) -> str:
    if identity is None or identity.role in EVERYWHERE:
        return "your reach"
    if identity.role == StaffRole.LIBRARIAN:
        return "your venue"
    return "your organiser's sessions"
