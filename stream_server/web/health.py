"""``GET /healthz``: is this server fit to serve, for systemd, load balancers and monitoring.

``200 {"status": "ok", "database": "ok", "loop_lag_ms": N}`` when the database answers a
trivial query within :data:`DATABASE_TIMEOUT` and the event loop keeps time; otherwise ``503``
with ``"status": "degraded"`` and a ``"reason"`` in words. While the server stops (SIGTERM)
it answers 503 ``shutting down``, so a load balancer stops sending new people here first.

The event loop's lag is measured by :class:`LoopLagMonitor`: a task that sleeps a fixed
interval and notes how late it wakes. A loop that wakes late is a loop whose media, ICE
consent checks and joins all wait (a CPU-bound step on the loop, an overloaded machine).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import text

from stream_server.db.engine import Database
from stream_server.web.keys import DATABASE, LIVE, LOOP_LAG

routes = web.RouteTableDef()

#: A database that does not answer ``SELECT 1`` within this long is reported as down.
DATABASE_TIMEOUT = 2.0
#: Lag above this (the largest of the last few seconds) makes the server "degraded".
LAG_DEGRADED_SECONDS = 1.0


class LoopLagMonitor:
    """How late the event loop wakes a sleeping task: the time everything else waits too.

    One sleep per ``interval`` (a timer, no work); ``lag`` is the largest overshoot among the
    last ``window`` samples, so a stall is seen by a scrape or health check that comes a few
    seconds after it.
    """

    def __init__(self, interval: float = 0.25, window: int = 20) -> None:
        self.interval = interval
        self._samples: collections.deque[float] = collections.deque(maxlen=window)

    @property
    def lag(self) -> float:
        """The largest lag of the recent window, in seconds (0 before the first sample)."""
        return max(self._samples, default=0.0)

    def record(self, seconds: float) -> None:
        self._samples.append(max(0.0, seconds))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.interval)
            self.record(loop.time() - start - self.interval)


async def check_database(database: Database, timeout: float = DATABASE_TIMEOUT) -> str | None:
    """None if the database answers a trivial query in time, else why not (no URL, no
    password: only the kind of failure)."""
    try:
        async with asyncio.timeout(timeout):
            async with database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except TimeoutError:
        return f"database did not answer within {timeout:g} s"
    except Exception as exc:
        return f"database unreachable ({type(exc).__name__})"
    return None


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    app = request.app
    lag = app[LOOP_LAG].lag
    reasons: list[str] = []
    live = app.get(LIVE)
    if live is None or live.closed:
        reasons.append("shutting down" if live is not None else "starting")
    database = app.get(DATABASE)
    db_problem = await check_database(database) if database is not None else "no database"
    if db_problem is not None:
        reasons.append(db_problem)
    if lag > LAG_DEGRADED_SECONDS:
        reasons.append(f"event loop lag {lag * 1000:.0f} ms")
    body: dict[str, object] = {
        "status": "degraded" if reasons else "ok",
        "database": "ok" if db_problem is None else "error",
        "loop_lag_ms": round(lag * 1000, 1),
    }
    if reasons:
        body["reason"] = "; ".join(reasons)
    # Never cached: each probe must see the server as it is now.
    headers = {"Cache-Control": "no-store"}
    return web.json_response(body, status=503 if reasons else 200, headers=headers)


async def _lag_monitor(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[LOOP_LAG].run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def setup(app: web.Application) -> None:
    app[LOOP_LAG] = LoopLagMonitor()
    app.cleanup_ctx.append(_lag_monitor)
    app.add_routes(routes)
