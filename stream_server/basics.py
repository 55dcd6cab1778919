"""Small things every layer may use: the clock, the city's time zone, secret digests."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from zoneinfo import ZoneInfo

#: The city's wall-clock time zone (the settings table's ``city_timezone`` default).
CITY_TZ = ZoneInfo("Europe/Helsinki")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def hash_secret(secret: str) -> str:
    """Tokens and attendee keys are high-entropy, so a plain SHA-256 digest suffices."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secret_matches(secret: str | None, digest: str) -> bool:
    if not secret:
        return False
    return hmac.compare_digest(hash_secret(secret), digest)
