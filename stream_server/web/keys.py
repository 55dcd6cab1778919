"""Typed application state (aiohttp ``AppKey``s) shared by the handlers."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from aiohttp import web

from stream_server.attendance.ledger import AttendanceLedger
from stream_server.config import Settings
from stream_server.db.engine import Database
from stream_server.i18n import Catalogs
from stream_server.live.registry import LiveRegistry
from stream_server.staff.service import PasswordHashing
from stream_server.staff.throttle import LoginThrottle

if TYPE_CHECKING:
    from stream_server.web.health import LoopLagMonitor
    from stream_server.web.metrics import Metrics

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
LEDGER = web.AppKey("ledger", AttendanceLedger)
LIVE = web.AppKey("live", LiveRegistry)
#: The translation catalogs found on disk, compiled once when the app is built.
CATALOGS = web.AppKey("catalogs", Catalogs)
#: Staff passwords are hashed and checked here, in the app's bounded thread pool.
PASSWORD_HASHING = web.AppKey("password_hashing", PasswordHashing)
LOGIN_THROTTLE = web.AppKey("login_throttle", LoginThrottle)
#: The ``trusted_proxies`` setting, parsed once.
TRUSTED_PROXIES: web.AppKey[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]] = web.AppKey(
    "trusted_proxies"
)
#: The event loop's lag (web/health.py) and the app's metrics (web/metrics.py).
LOOP_LAG: web.AppKey[LoopLagMonitor] = web.AppKey("loop_lag")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
