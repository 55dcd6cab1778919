"""The real Kohtaamo app as a benchmark server, alone in its process.

It migrates a fresh SQLite database, creates one broadcast session (and, with ``--staff``, a
staff account), prints ``{"session_id": ..., "token": ...}`` on stdout for the driver, then
serves until signalled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from aiohttp import web

from stream_server.app import create_app
from stream_server.catalog import service as catalog
from stream_server.config import Settings
from stream_server.db.engine import Database, upgrade_database
from stream_server.media.peers import raise_open_file_limit
from stream_server.staff import service as staff
from stream_server.web.keys import LIVE


async def create_session(url: str, staff_login: str | None = None) -> tuple[str, str]:
    """A session that is open now and for longer than any benchmark; returns id and token.
    ``staff_login`` (``NAME:PASSWORD``) adds a staff account too."""
    database = Database(url)
    try:
        async with database.session() as db:
            if staff_login:
                name, _, password = staff_login.partition(":")
                await staff.add_staff(db, name, password)
            await catalog.sync_reference_data(db)
            created = await catalog.create_session(
                db, title="Benchmark", mode="broadcast", minutes=240
            )
            return created.session.id, created.publish_token
    finally:
        await database.close()


async def log_stats(app: web.Application) -> None:
    """Every 5 s, the forwarding counters of each program slot, to stderr (the server log)."""
    live = app[LIVE]
    while True:
        await asyncio.sleep(5)
        for session_id, router in [(s.id, s.router) for s in live.live_sessions()]:
            if router.low is not None:
                logging.getLogger("bench.stats").warning(
                    "%s low tier: frames in %d out %d, transcoder thread CPU %.2f s",
                    session_id,
                    router.low.frames_in,
                    router.low.frames_out,
                    router.low.cpu_seconds,
                )
            for slot in (router.camera, router.audio):
                tracks = list(slot._tracks)
                source = slot.source
                logging.getLogger("bench.stats").warning(
                    "%s %s: subscribers %d overflows %d skips %d dropped %d out %d "
                    "keyframes in %d requests %d",
                    session_id,
                    slot.kind,
                    len(tracks),
                    slot.fanout_overflows,
                    sum(t.skips for t in tracks),
                    sum(t.frames_dropped for t in tracks),
                    sum(t.frames_out for t in tracks),
                    source.keyframes_in if source else -1,
                    source.keyframe_requests_sent if source else -1,
                )


STATS_TASK = web.AppKey("bench_stats", asyncio.Task[None])


async def start_stats(app: web.Application) -> None:
    app[STATS_TASK] = asyncio.get_running_loop().create_task(log_stats(app))


LAG = web.AppKey("bench_lag", dict)
LAG_TASK = web.AppKey("bench_lag_task", asyncio.Task[None])
#: How often the loop-lag probe wakes; its lateness is the loop's lag.
LAG_TICK = 0.01


async def _watch_lag(lag: dict[str, float]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(LAG_TICK)
        late = loop.time() - start - LAG_TICK
        lag["worst"] = max(lag["worst"], late)
        lag["ticks"] += 1
        if late > 0.05:
            lag["over_50ms"] += 1


async def start_lag_monitor(app: web.Application) -> None:
    app[LAG] = {"worst": 0.0, "ticks": 0, "over_50ms": 0}
    app[LAG_TASK] = asyncio.get_running_loop().create_task(_watch_lag(app[LAG]))


async def lag_report(request: web.Request) -> web.Response:
    """The worst event-loop lag since the last report (``?reset=1`` starts afresh); bench only,
    the real app has no such route."""
    lag = request.app[LAG]
    report = {"worst_ms": lag["worst"] * 1000, "ticks": lag["ticks"], "over_50ms": lag["over_50ms"]}
    if request.query.get("reset"):
        lag.update(worst=0.0, ticks=0, over_50ms=0)
    return web.json_response(report)


async def peer_count(request: web.Request) -> web.Response:
    """Peer connections the server holds now (bench only)."""
    live = request.app[LIVE]
    return web.json_response({"peers": live.limits.peers.total, "clients": len(live.clients())})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workdir", type=Path, required=True, help="where the database goes")
    parser.add_argument("--uvloop", action="store_true", help="serve on uvloop's event loop")
    parser.add_argument(
        "--per-address-limits",
        action="store_true",
        help="keep the default per-address caps; clients name their address in "
        "X-Forwarded-For (127.0.0.1 is a trusted proxy) — the join storm",
    )
    parser.add_argument("--staff", default=None, help="NAME:PASSWORD of a staff account to add")
    parser.add_argument(
        "--login-failures",
        type=int,
        default=Settings.login_failures_before_backoff,
        help="login_failures_before_backoff (a huge number turns the throttle off)",
    )
    parser.add_argument("--hash-workers", type=int, default=Settings.password_hash_workers)
    args = parser.parse_args(argv)
    raise_open_file_limit()
    url = f"sqlite+aiosqlite:///{args.workdir}/kohtaamo.sqlite3"
    upgrade_database(url)
    session_id, token = asyncio.run(create_session(url, args.staff))
    # Alembic may have configured logging; the server should log only what matters.
    logging.basicConfig(level=logging.WARNING, format="server: %(levelname)s %(name)s %(message)s")
    logging.getLogger().setLevel(logging.WARNING)
    settings = Settings(
        database_url=url,
        recordings_dir=args.workdir / "recordings",
        ice_host_addresses=("127.0.0.1",),
        video_codec="VP8",
        log_level="WARNING",
        # Every simulated viewer comes from 127.0.0.1: no per-address caps or throttles.
        max_peers_per_address=0,
        joins_per_address_per_minute=0,
        login_failures_before_backoff=args.login_failures,
        password_hash_workers=args.hash_workers,
    )
    if args.per_address_limits:
        settings = settings.replace(
            max_peers_per_address=Settings.max_peers_per_address,
            joins_per_address_per_minute=Settings.joins_per_address_per_minute,
            trusted_proxies=("127.0.0.1/32",),
        )
    app = create_app(settings)
    app.on_startup.append(start_stats)
    app.on_startup.append(start_lag_monitor)
    app.router.add_get("/bench/lag", lag_report)
    app.router.add_get("/bench/peers", peer_count)
    sys.stdout.write(json.dumps({"session_id": session_id, "token": token}) + "\n")
    sys.stdout.flush()
    if args.uvloop:
        import uvloop  # optional: only the benchmark's --uvloop needs it

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
