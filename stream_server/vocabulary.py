"""One vocabulary for the whole server: channels, roles, tiers and track names.

These names are a contract: the ledger stores them, reports group by them, the signaling
protocol and the WHEP ``?tier=`` parameter carry them, and pages and the room agent send
them. They are ``StrEnum``s, so each member *is* its string (``Role.HOST == "host"``).
"""

from __future__ import annotations

import enum


class Channel(enum.StrEnum):
    """How a connection reached the session (the ledger's ``channel`` column)."""

    TABLET = "tablet"  # a home tablet (a registered device; an online participant)
    BROWSER = "browser"  # a join page on someone's own device
    WHEP = "whep"  # any WHEP player
    KIOSK = "kiosk"  # a room screen (a registered device; the room is counted by headcount)
    ROOM_LINK = "room-link"  # a room PC running the agent (a registered device)
    WHIP = "whip"  # a broadcast encoder (OBS, GStreamer, the agent publishing)
    PRESENTER = "presenter"  # the presenter page


#: People on their own devices: each one is an online participant.
ONLINE_CHANNELS = frozenset({Channel.TABLET, Channel.BROWSER, Channel.WHEP})
#: Room devices and media links: recorded, but the people in a room are counted by headcount.
DEVICE_CHANNELS = frozenset({Channel.KIOSK, Channel.ROOM_LINK, Channel.WHIP, Channel.PRESENTER})
#: Channels that stand for a room, so only a registered device token may use them.
ROOM_DEVICE_CHANNELS = frozenset({Channel.KIOSK, Channel.ROOM_LINK})
#: Channels that stand for the host, so only the host's credential may use them.
HOST_CHANNELS = frozenset({Channel.PRESENTER})
#: Channels a page may name in the signaling ``join``.
SIGNALING_CHANNELS = (
    Channel.TABLET,
    Channel.BROWSER,
    Channel.KIOSK,
    Channel.ROOM_LINK,
    Channel.PRESENTER,
)


class Role(enum.StrEnum):
    """What a connection may do in a live session (the ledger's ``role`` column).

    A WHIP encoder and a presenter page are both the ``host``; a WHEP player and a join page
    are both a ``participant``.
    """

    HOST = "host"
    PARTICIPANT = "participant"


class Tier(enum.StrEnum):
    """What a broadcast viewer receives (see :mod:`stream_server.media.tiers`)."""

    HIGH = "high"  # the publisher's own stream
    LOW = "low"  # the session's shared 320x240 transcode
    AUDIO = "audio"  # no video
    AUTO = "auto"  # high, moved to low and back from the viewer's receiver reports


class Track(enum.StrEnum):
    """What a participant can send; a broadcast's program has one slot of each."""

    VIDEO = "video"  # the camera
    SCREEN = "screen"  # a shared screen or slides
    AUDIO = "audio"

    @property
    def kind(self) -> str:
        """The media kind it travels as."""
        return "audio" if self is Track.AUDIO else "video"
