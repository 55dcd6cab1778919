"""The database schema (SQLAlchemy 2 declarative models).

Times are stored in UTC; the city's local time (Europe/Helsinki) is a presentation concern.
Attendance holds counts and intervals only: no names, no addresses, no device fingerprints.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SessionMode(enum.StrEnum):
    BROADCAST = "broadcast"
    GROUP = "group"


class Visibility(enum.StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


class OrganiserKind(enum.StrEnum):
    CITY = "city"
    ASSOCIATION = "association"
    PARTNER = "partner"
    RESIDENT = "resident"


class SessionStatus(enum.StrEnum):
    """What is stored; ``ended`` is derived from the clock and ``ended_at`` (see catalog)."""

    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class StaffRole(enum.StrEnum):
    """What a staff account may touch (stream_server/staff/scope.py decides)."""

    ADMIN = "admin"  # everything, staff accounts and the audit log
    STAFF = "staff"  # every venue
    LIBRARIAN = "librarian"  # one venue: its sessions, rooms, devices and headcounts
    COORDINATOR = "coordinator"  # one organiser: its sessions, series and invitations


class Area(Base):
    """A part of the city whose residents' participation is reported together."""

    __tablename__ = "areas"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name_fi: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    population: Mapped[int] = mapped_column(Integer)

    venues: Mapped[list[Venue]] = relationship(back_populates="area")


class Venue(Base):
    """A library (or other activity space)."""

    __tablename__ = "venues"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"))

    area: Mapped[Area] = relationship(back_populates="venues")
    rooms: Mapped[list[Room]] = relationship(back_populates="venue", order_by="Room.id")


class Room(Base):
    """A space inside a venue: where a session is held or where a screen shows it."""

    __tablename__ = "rooms"
    __table_args__ = (UniqueConstraint("venue_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venues.id"))
    slug: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120))
    # Seats or safe occupancy; a headcount above it is refused as a typing error.
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)

    venue: Mapped[Venue] = relationship(back_populates="rooms")


class Organiser(Base):
    """Who runs an activity: a city service, an association or a partner organisation."""

    __tablename__ = "organisers"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(160))
    kind: Mapped[OrganiserKind] = mapped_column(
        Enum(
            OrganiserKind,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    # The library's contact person for this organiser's activities, and how to reach it.
    contact_person: Mapped[str] = mapped_column(String(160), default="", server_default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="", server_default="")


class Series(Base):
    """A weekly activity: its rule, and what all its occurrences share.

    Occurrences are ordinary session rows (``Session.series_id``), materialised when the
    series is made, so each can be edited or cancelled alone. They share the join code and
    the host, publish and caption token digests stored here (copied onto each row, so every
    entrance checks a session as before).
    """

    __tablename__ = "series"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    weekdays: Mapped[str] = mapped_column(String(30))  # "mo,th": the days of the rule
    local_time: Mapped[str] = mapped_column(String(5))  # "18:00", Europe/Helsinki wall clock
    minutes: Mapped[int] = mapped_column(Integer)
    first_date: Mapped[dt.date] = mapped_column(Date)
    until: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    exceptions: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of YYYY-MM-DD
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"))
    organiser_id: Mapped[int | None] = mapped_column(ForeignKey("organisers.id"), nullable=True)
    join_code: Mapped[str] = mapped_column(String(16), unique=True)
    host_token_hash: Mapped[str] = mapped_column(String(64))
    publish_token_hash: Mapped[str] = mapped_column(String(64))
    caption_token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    room: Mapped[Room] = relationship()
    organiser: Mapped[Organiser | None] = relationship()


class Session(Base):
    """One scheduled activity that people can take part in, in person or remotely."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40), default="other")
    description: Mapped[str] = mapped_column(Text, default="")
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"))
    organiser_id: Mapped[int | None] = mapped_column(ForeignKey("organisers.id"))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    mode: Mapped[SessionMode] = mapped_column(
        Enum(
            SessionMode,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    visibility: Mapped[Visibility] = mapped_column(
        Enum(
            Visibility, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]
        )
    )
    # Unique per one-off session; the occurrences of a series share their series' code.
    join_code: Mapped[str] = mapped_column(String(16), index=True)
    # Only SHA-256 digests of the bearer tokens are kept; the tokens are shown once.
    host_token_hash: Mapped[str] = mapped_column(String(64))
    publish_token_hash: Mapped[str] = mapped_column(String(64))
    caption_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    series_id: Mapped[str | None] = mapped_column(
        ForeignKey("series.id", ondelete="SET NULL"), nullable=True, index=True
    )
    status: Mapped[SessionStatus] = mapped_column(
        Enum(
            SessionStatus,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=SessionStatus.SCHEDULED,
        server_default="scheduled",
    )
    cancel_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # False: an in-person activity only; in the programme and the reports, never streamed.
    online: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    room: Mapped[Room] = relationship()
    organiser: Mapped[Organiser | None] = relationship()
    series: Mapped[Series | None] = relationship()
    receivers: Mapped[list[SessionReceiver]] = relationship(
        back_populates="session", cascade="all, delete-orphan", order_by="SessionReceiver.id"
    )

    __table_args__ = (
        Index("ix_sessions_starts_at", "starts_at"),
        Index("ix_sessions_room_id_starts_at", "room_id", "starts_at"),
    )


class SessionReceiver(Base):
    """A room at another venue where a screen shows the session to an audience."""

    __tablename__ = "session_receivers"
    __table_args__ = (UniqueConstraint("session_id", "room_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"))

    session: Mapped[Session] = relationship(back_populates="receivers")
    room: Mapped[Room] = relationship()


class Participant(Base):
    """One person's device (or one room device) in one session; never a name.

    ``attendee_key_hash`` lets a reconnecting page continue the same participant, so a
    Wi-Fi blip does not count a person twice. It is a digest of a random key the page made
    for this session only.
    """

    __tablename__ = "participants"
    __table_args__ = (
        UniqueConstraint("session_id", "attendee_key_hash"),
        Index("ix_participants_session_channel", "session_id", "id", "channel", "venue_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(20))
    role: Mapped[str] = mapped_column(String(20), default="participant")  # vocabulary.Role
    is_device: Mapped[bool] = mapped_column(Boolean, default=False)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"), nullable=True)
    # The venue whose area the participant counts towards when it is not the session's host
    # venue: set only when joining through a device registered to another venue.
    venue_id: Mapped[int | None] = mapped_column(ForeignKey("venues.id"), nullable=True)
    attendee_key_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    first_joined_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Set once the participant has answered the satisfaction survey (one answer each); the
    # answer itself is stored apart, without any link back to the participant.
    surveyed: Mapped[bool] = mapped_column(Boolean, default=False)

    intervals: Mapped[list[AttendanceInterval]] = relationship(
        back_populates="participant", order_by="AttendanceInterval.id"
    )


class AttendanceInterval(Base):
    """One connected stretch of a participant; ``left_at`` is NULL while connected.

    ``last_seen_at`` is refreshed while the connection lives, so an interval left open by a
    crash is closed at the last moment the server knew it alive, not at the restart.
    """

    __tablename__ = "attendance_intervals"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    joined_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    left_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    close_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)

    participant: Mapped[Participant] = relationship(back_populates="intervals")

    __table_args__ = (
        Index("ix_attendance_intervals_participant_span", "participant_id", "joined_at", "left_at"),
    )


class DeviceKind(enum.StrEnum):
    KIOSK = "kiosk"
    TABLET = "tablet"
    ROOM_LINK = "room-link"


def _enum(kind: type[enum.StrEnum]) -> Enum:
    return Enum(kind, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class StaffUser(Base):
    """A member of staff who may see the dashboard, reports and record headcounts."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    role: Mapped[StaffRole] = mapped_column(
        _enum(StaffRole), default=StaffRole.ADMIN, server_default="admin"
    )
    # A librarian's venue, a coordinator's organiser (None for the other roles).
    venue_id: Mapped[int | None] = mapped_column(ForeignKey("venues.id"), nullable=True)
    organiser_id: Mapped[int | None] = mapped_column(ForeignKey("organisers.id"), nullable=True)


class AuditEntry(Base):
    """One change made by staff: who, what, when, and the target before and after (JSON).

    ``staff_name`` is copied so that the trail stays readable if an account is renamed.
    The planning page's undo reads ``before`` of the last change (``undone_at`` marks it).
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_staff_id_id", "staff_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), nullable=True)
    staff_name: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    target_kind: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[str] = mapped_column(String(40))
    before: Mapped[str | None] = mapped_column(Text, nullable=True)
    after: Mapped[str | None] = mapped_column(Text, nullable=True)
    undone_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class StaffLogin(Base):
    """A browser login: the cookie holds a random secret, the database only its digest."""

    __tablename__ = "staff_logins"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The CSRF token for this login's forms and fetches (synchroniser token pattern).
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    staff: Mapped[StaffUser] = relationship()


class StaffApiToken(Base):
    """A revocable bearer token for scripts and the city's reporting tools."""

    __tablename__ = "staff_api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    staff: Mapped[StaffUser] = relationship()


class Device(Base):
    """A kiosk, home-care tablet or room link registered to a venue (and maybe a room).

    A home tablet is a personal device: for it only ``last_seen_at`` is kept, never what it
    was doing (``state``/``session_id`` stay empty).
    """

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[DeviceKind] = mapped_column(_enum(DeviceKind))
    name: Mapped[str] = mapped_column(String(120))
    venue_id: Mapped[int] = mapped_column(ForeignKey("venues.id"))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"), nullable=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    state: Mapped[str | None] = mapped_column(String(20), nullable=True)
    state_session_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    state_detail: Mapped[str | None] = mapped_column(String(200), nullable=True)

    venue: Mapped[Venue] = relationship()
    room: Mapped[Room | None] = relationship()


class DeviceInvitation(Base):
    """A private session, or every occurrence of a series, on a tablet's home screen."""

    __tablename__ = "device_invitations"
    __table_args__ = (
        UniqueConstraint("device_id", "session_id"),
        UniqueConstraint("device_id", "series_id", name="uq_device_invitations_device_series"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), nullable=True
    )
    series_id: Mapped[str | None] = mapped_column(
        ForeignKey("series.id", ondelete="CASCADE"), nullable=True
    )


class Headcount(Base):
    """How many people were present at a venue for a session; the latest per venue counts.

    Earlier values stay as the audit trail, with who (staff account or device) and when.
    """

    __tablename__ = "headcounts"
    __table_args__ = (Index("ix_headcounts_session_venue", "session_id", "venue_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    venue_id: Mapped[int] = mapped_column(ForeignKey("venues.id"))
    count: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), nullable=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), nullable=True)

    venue: Mapped[Venue] = relationship()


class SurveyAnswer(Base):
    """One anonymous satisfaction answer (1-5 smileys): no participant, device or time of day."""

    __tablename__ = "survey_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(20))
    score: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_survey_answers_session_score", "session_id", "score"),)


class SessionRollup(Base):
    """One session's online attendance folded from its intervals: a cache for reports.

    Recomputed when ``dirty`` (set by the ledger on every join and leave, by new headcounts
    and survey answers, and kept while the session is running); a session without a row has
    not been computed yet. Counts only, like the ledger.
    """

    __tablename__ = "session_rollups"
    __table_args__ = (
        Index("ix_session_rollups_starts_at", "starts_at"),
        Index("ix_session_rollups_dirty", "dirty"),
    )

    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    dirty: Mapped[bool] = mapped_column(Boolean, default=False)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Held: started, and any headcount or any connection (people, room devices, publishers).
    held: Mapped[bool] = mapped_column(Boolean, default=False)
    connections: Mapped[int] = mapped_column(Integer, default=0)
    online_total: Mapped[int] = mapped_column(Integer, default=0)
    brief_visits: Mapped[int] = mapped_column(Integer, default=0)
    online_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    peak_online: Mapped[int] = mapped_column(Integer, default=0)
    # The session's participants and intervals were deleted (retention): the online figures
    # above are all that is left of them, and a recomputation keeps them.
    purged: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class VenueRollup(Base):
    """A session's figures at one venue: the rows the reports aggregate.

    One row per venue that hosts (``role`` 0) or receives (1) the session, or that online
    participants count towards without taking part otherwise (2). The session's attributes
    are copied in, so a year's report is one range scan of this table; on SQLite the rows
    are stored in ``starts_at`` order (no rowid), so that scan reads adjacent pages.
    """

    __tablename__ = "venue_rollups"
    __table_args__ = (
        Index("ix_venue_rollups_session_id", "session_id"),
        {"sqlite_with_rowid": False},
    )

    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    venue_id: Mapped[int] = mapped_column(ForeignKey("venues.id"), primary_key=True)
    area_id: Mapped[int] = mapped_column(Integer)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM of the start, Europe/Helsinki
    category: Mapped[str] = mapped_column(String(40))
    organiser_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    role: Mapped[int] = mapped_column(Integer)
    held: Mapped[bool] = mapped_column(Boolean)
    hours: Mapped[float] = mapped_column(Float)  # the session's realised activity hours
    in_person: Mapped[int] = mapped_column(Integer, default=0)
    online_total: Mapped[int] = mapped_column(Integer, default=0)
    brief_visits: Mapped[int] = mapped_column(Integer, default=0)
    online_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    survey_sum: Mapped[int] = mapped_column(Integer, default=0)  # on the host row only
    survey_count: Mapped[int] = mapped_column(Integer, default=0)


class RollupWatermark(Base):
    """How far the rollups have seen an append-only table (headcounts, survey answers), and
    the brief-visit threshold they were computed with."""

    __tablename__ = "rollup_watermarks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
