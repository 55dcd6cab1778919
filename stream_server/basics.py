"""Small things every layer may use: the clock, the city's time zone, secret digests."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
from zoneinfo import ZoneInfo

#: The city's wall-clock time zone (the settings table's ``city_timezone`` default).
CITY_TZ = ZoneInfo("Europe/Helsinki")


@dataclasses.dataclass(frozen=True)
class DoorTimes:
    """When people may connect to a session: doors open ``open_before`` its start, and a
    session its host has not ended closes ``grace`` after its scheduled end. The settings
    table's ``doors_open_minutes`` and ``overrun_grace_minutes``."""

    open_before: dt.timedelta = dt.timedelta(minutes=30)
    grace: dt.timedelta = dt.timedelta(minutes=60)


#: The defaults (a server passes its settings' ``door_times``).
DOORS = DoorTimes()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def hash_secret(secret: str) -> str:
    """Tokens and attendee keys are high-entropy, so a plain SHA-256 digest suffices."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secret_matches(secret: str | None, digest: str) -> bool:
    if not secret:
        return False
    return hmac.compare_digest(hash_secret(secret), digest)


def absolute_url(base: str, path: str) -> str:
    """A root-relative ``path`` on ``base`` (``scheme://host[:port]`` and any path prefix).

    Every link that leaves the server (feeds, cards, QR codes, command-line output) is made
    here, so an address pasted into OBS or printed on paper works wherever it is opened.
    """
    return base.rstrip("/") + (path if path.startswith("/") else f"/{path}")
