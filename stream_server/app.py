"""The application factory: ``create_app(settings)`` builds everything; no globals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from stream_server.attendance import retention
from stream_server.attendance.ledger import AttendanceLedger
from stream_server.config import PROJECT_ROOT, Settings
from stream_server.db.engine import Database
from stream_server.i18n import Catalogs, default_catalogs
from stream_server.live.registry import LiveRegistry
from stream_server.media.ice import restrict_host_addresses
from stream_server.media.seams import check_aiortc_seams
from stream_server.staff.service import PasswordHashing, hashing_pool
from stream_server.staff.throttle import LoginThrottle
from stream_server.web import (
    api,
    cards,
    device_api,
    events_api,
    feeds,
    health,
    kiosk_pages,
    metrics,
    pages,
    programme_api,
    programme_pages,
    public_pages,
    recording_api,
    reports_api,
    staff_areas,
    staff_auth,
    staff_events,
    staff_recordings,
    survey_api,
    whip,
    ws,
)
from stream_server.web.addresses import trusted_networks
from stream_server.web.errors import error_middleware
from stream_server.web.keys import (
    CATALOGS,
    DATABASE,
    LEDGER,
    LIVE,
    LOGIN_THROTTLE,
    PASSWORD_HASHING,
    SETTINGS,
    TRUSTED_PROXIES,
)
from stream_server.web.security import add_security_headers

logger = logging.getLogger(__name__)

WEB_ROOT = PROJECT_ROOT / "web"
#: Requests carry SDP or small JSON; nothing legitimate is bigger.
CLIENT_MAX_SIZE = 256 * 1024


async def _services(app: web.Application) -> AsyncIterator[None]:
    """Open the database, recover attendance left open by a crash, run the heartbeat (and the
    attendance retention, when ``attendance_retention_days`` is set)."""
    settings = app[SETTINGS]
    database = Database(settings.database_url)
    ledger = AttendanceLedger(database, brief_visit_seconds=settings.brief_visit_seconds)
    await ledger.close_stale_intervals()
    live = LiveRegistry(settings, database, ledger)
    app[DATABASE] = database
    app[LEDGER] = ledger
    app[LIVE] = live
    if settings.demo_feed:
        await live.start_test_cards()
    tasks = [asyncio.create_task(live.heartbeat())]
    if settings.attendance_retention_days is not None:
        tasks.append(
            asyncio.create_task(
                retention.retention_loop(
                    database, settings.attendance_retention_days, settings.brief_visit_seconds
                )
            )
        )
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await live.close()
        await database.close()


def server_options(settings: Settings) -> dict[str, Any]:
    """How the HTTP server treats its connections (``web.run_app`` / ``AppRunner`` options).

    ``keepalive_timeout`` is aiohttp's deadline for a connection that has no complete request
    waiting: it starts when the connection opens and again after each response, and more
    bytes do not extend it. So a client that sends half its headers (or nothing) is cut off
    after ``header_read_timeout_seconds``, like an idle keep-alive connection; a request being
    handled (a WebSocket, an event stream) is not affected. Bodies have their own deadline
    (``body_read_timeout_seconds``, :mod:`stream_server.web.bodies`).
    """
    return {"keepalive_timeout": settings.header_read_timeout_seconds}


async def _password_hashing(app: web.Application) -> AsyncIterator[None]:
    """The bounded thread pool staff passwords are hashed in, off the event loop."""
    pool = hashing_pool(app[SETTINGS].password_hash_workers)
    app[PASSWORD_HASHING] = PasswordHashing(pool)
    try:
        yield
    finally:
        # Queued hashes are dropped; a running one (a fraction of a second) is waited for.
        await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)


async def _stop_live(app: web.Application) -> None:
    """SIGTERM (aiohttp's graceful stop) runs this before waiting for handlers: every live
    session closes as ``server-shutdown`` — pages' WebSockets get 1001 (they reconnect to the
    next server), recordings are finished, attendance intervals are closed at this moment,
    peer connections are closed. Then the WebSocket handlers end by themselves instead of
    being cancelled after the shutdown timeout."""
    live = app.get(LIVE)
    if live is not None:
        await live.close()


def create_app(
    settings: Settings,
    *,
    login_throttle: LoginThrottle | None = None,
    catalogs: Catalogs | None = None,
) -> web.Application:
    """Build the aiohttp application. The database must already be migrated.

    ``login_throttle`` replaces the one built from the settings (tests give it their clock);
    ``catalogs`` the shipped translations (tests give it a temporary locale directory).
    """
    check_aiortc_seams()
    restrict_host_addresses(settings.ice_host_addresses)
    app = web.Application(middlewares=[error_middleware], client_max_size=CLIENT_MAX_SIZE)
    app[SETTINGS] = settings
    app[CATALOGS] = catalogs or default_catalogs()
    app[TRUSTED_PROXIES] = trusted_networks(settings.trusted_proxies)
    app.on_response_prepare.append(add_security_headers)
    if login_throttle is None:
        login_throttle = LoginThrottle(settings.login_failures_before_backoff)
    app[LOGIN_THROTTLE] = login_throttle
    app.cleanup_ctx.append(_password_hashing)
    app.cleanup_ctx.append(_services)
    app.on_shutdown.append(_stop_live)
    health.setup(app)  # GET /healthz and the event loop's lag
    metrics.setup(app)  # GET /metrics
    app.add_routes(whip.routes)
    app.add_routes(api.routes)
    app.add_routes(programme_api.routes)
    app.add_routes(ws.routes)
    app.add_routes(device_api.routes)
    app.add_routes(events_api.routes)
    app.add_routes(staff_auth.routes)
    app.add_routes(reports_api.routes)
    app.add_routes(staff_areas.routes)
    app.add_routes(staff_recordings.routes)
    staff_events.setup(app)  # the staff dashboard, reports page and live event stream
    app.add_routes(kiosk_pages.routes)
    survey_api.setup(app)
    recording_api.setup(app)  # recording control and the retention clean-up
    pages.setup(app)
    app.add_routes(public_pages.routes)  # the programme, its board and events, statements
    programme_pages.setup(app)  # the planning page, organisers, the audit log
    app.add_routes(cards.routes)  # join cards and posters
    app.add_routes(feeds.routes)  # /programme.ics and /programme.json
    if (WEB_ROOT / "static").is_dir():
        app.router.add_static("/static/", WEB_ROOT / "static", name="static")
    return app
