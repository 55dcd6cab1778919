"""Attendance at city scale: a year of intervals, the area report, one session's figures, and
how soon a join reaches a dashboard.

Run from the project root, in a loopback-only network namespace::

    unshare -rn sh -c 'ip link set lo up && exec .venv/bin/python -m bench.attendance'
    make bench-attendance BENCH_ARGS="--rows 1000000 --runs 7"

It fills a fresh SQLite file (migrated with Alembic, like production) with ``--rows``
attendance intervals over the past year at all 11 venues — about three sessions a day per
venue, a fifth of them broadcasts to two or three receiving rooms, with headcounts and survey
answers — using bulk inserts. It then builds the per-session rollups once (the running server
keeps them current as people join and leave), starts the real app on 127.0.0.1 and measures,
as the median of ``--runs`` runs:

- the year's area report (``GET /api/reports/attendance?period=year&group_by=area``) and the
  same report as the domain call alone;
- one session's figures (``GET /api/sessions/{id}/attendance`` and ``ledger.summary`` alone)
  for random sessions, and for the largest session;
- the delay from ``ledger.join`` in the running app to a subscriber of ``ledger.events``
  (what the dashboard's server push listens to) having the event *and* the refreshed figures
  over HTTP. The dashboard's own SSE endpoint is built on another branch; this measures the
  path up to it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

from stream_server.app import create_app
from stream_server.attendance import rollups
from stream_server.attendance.reports import ReportQuery, attendance_report
from stream_server.catalog import service as catalog
from stream_server.config import Settings
from stream_server.db.engine import Database, upgrade_database
from stream_server.db.models import Area, Organiser, Room, Session, StaffUser, Venue
from stream_server.staff import service as staff_service
from stream_server.web.keys import DATABASE, LEDGER

DATETIME = "%Y-%m-%d %H:%M:%S.%f"
CATEGORIES = ("lecture", "exercise", "music", "discussion", "digital-help", "crafts", "culture")


def stamp(moment: dt.datetime) -> str:
    """The text SQLAlchemy's SQLite dialect stores for a UTC datetime."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None).strftime(DATETIME)


async def reference(url: str) -> dict[str, Any]:
    database = Database(url)
    async with database.session() as db:
        await catalog.sync_reference_data(db)
        rooms = (await db.execute(select(Room.id, Room.venue_id, Room.capacity))).all()
        venues = (await db.execute(select(Venue.id, Venue.slug))).all()
        organisers = list((await db.scalars(select(Organiser.id))).all())
    await database.close()
    first_room: dict[int, tuple[int, int]] = {}
    for room_id, venue_id, capacity in rooms:
        first_room.setdefault(venue_id, (room_id, capacity or 25))
    return {"rooms": first_room, "venues": dict(venues), "organisers": organisers}


def fill(path: Path, target_rows: int, ref: dict[str, Any], seed: int) -> dict[str, int]:
    """Bulk-insert a year of sessions and ``target_rows`` intervals with plain sqlite3."""
    rng = random.Random(seed)
    venues = sorted(ref["rooms"])
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    plan: list[tuple[dt.datetime, int]] = []
    for days_ago in range(365, 0, -1):
        for venue in venues:
            for _ in range(3):
                plan.append((today - dt.timedelta(days=days_ago), venue))
    # Broadcasts draw more viewers; scale everyone so the intervals come out at the target.
    weights = [rng.choice((1, 1, 1, 1, 4)) * rng.uniform(0.5, 1.5) for _ in plan]
    per_weight = target_rows / sum(weights)
    sessions: list[tuple[Any, ...]] = []
    receivers: list[tuple[Any, ...]] = []
    participants: list[tuple[Any, ...]] = []
    intervals: list[tuple[Any, ...]] = []
    headcounts: list[tuple[Any, ...]] = []
    answers: list[tuple[Any, ...]] = []
    pid = iid = 0
    for n, ((day, venue), weight) in enumerate(zip(plan, weights, strict=True)):
        sid = f"b{n:09d}"
        start = day + dt.timedelta(hours=rng.choice((7, 9, 11, 13, 15)))
        minutes = rng.choice((45, 60, 90, 120))
        end = start + dt.timedelta(minutes=minutes)
        room = ref["rooms"][venue][0]
        broadcast = weight > 2
        sessions.append(
            (
                sid,
                f"Bench {n}",
                rng.choice(CATEGORIES),
                "",
                room,
                rng.choice(ref["organisers"]),
                stamp(start),
                stamp(end),
                "broadcast" if broadcast else "group",
                "public",
                f"BENCH{n:09d}",
                "0" * 64,
                "0" * 64,
                None,
                stamp(start),
            )
        )
        session_venues = [venue]
        if broadcast:
            for other in rng.sample([v for v in venues if v != venue], rng.choice((2, 3))):
                receivers.append((sid, ref["rooms"][other][0]))
                session_venues.append(other)
        for v in session_venues:
            headcounts.append(
                (sid, v, rng.randint(0, min(30, ref["rooms"][v][1])), stamp(end), None, None)
            )
        n_intervals = max(1, round(weight * per_weight))
        made = 0
        while made < n_intervals:
            pid += 1
            channel = rng.choice(("whep", "browser", "tablet", "tablet"))
            attributed = rng.choice(venues) if channel == "tablet" and rng.random() < 0.3 else None
            first = start + dt.timedelta(seconds=rng.uniform(-300, minutes * 45))
            participants.append(
                (pid, sid, channel, "viewer", 0, None, attributed, None, stamp(first), 0)
            )
            joined = first
            for _ in range(min(rng.choice((1, 1, 1, 2, 3)), n_intervals - made)):
                length = dt.timedelta(seconds=rng.choice((20, 300, 1200, 2400, 3600)))
                left = joined + length
                iid += 1
                intervals.append((iid, pid, stamp(joined), stamp(left), stamp(left), "left"))
                joined = left + dt.timedelta(seconds=rng.uniform(5, 120))
                made += 1
            if rng.random() < 0.15:
                answers.append((sid, channel, rng.choice((3, 4, 4, 5, 5, 5))))
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    with connection:
        connection.executemany(
            "INSERT INTO sessions (id, title, category, description, room_id, organiser_id, "
            "starts_at, ends_at, mode, visibility, join_code, host_token_hash, "
            "publish_token_hash, ended_at, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            sessions,
        )
        connection.executemany(
            "INSERT INTO session_receivers (session_id, room_id) VALUES (?,?)", receivers
        )
        connection.executemany(
            "INSERT INTO participants (id, session_id, channel, role, is_device, room_id, "
            "venue_id, attendee_key_hash, first_joined_at, surveyed) VALUES (?,?,?,?,?,?,?,?,?,?)",
            participants,
        )
        connection.executemany(
            "INSERT INTO attendance_intervals (id, participant_id, joined_at, last_seen_at, "
            "left_at, close_reason) VALUES (?,?,?,?,?,?)",
            intervals,
        )
        connection.executemany(
            "INSERT INTO headcounts (session_id, venue_id, count, recorded_at, staff_id, "
            "device_id) VALUES (?,?,?,?,?,?)",
            headcounts,
        )
        connection.executemany(
            "INSERT INTO survey_answers (session_id, channel, score) VALUES (?,?,?)", answers
        )
    connection.execute("ANALYZE")
    connection.close()
    return {
        "sessions": len(sessions),
        "participants": len(participants),
        "intervals": len(intervals),
        "headcounts": len(headcounts),
        "answers": len(answers),
    }


#: (name, wall-clock milliseconds per run, CPU milliseconds per run, target)
Result = tuple[str, list[float], list[float], str]


async def timed(work: Callable[[], Awaitable[Any]], runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and process CPU milliseconds per run (after one untimed warm-up run).

    The CPU time (every thread of this process: the event loop, the SQLite thread, and for
    HTTP rows the client too) shows how much of the wall time is waiting for a busy machine.
    """
    await work()
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        await work()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return wall, cpu


async def measure(url: str, runs: int, seed: int) -> list[Result]:
    rng = random.Random(seed)
    settings = Settings(
        database_url=url,
        ice_host_addresses=("127.0.0.1",),
        port=0,
        # Every simulated client comes from 127.0.0.1: no per-address caps or throttles.
        max_peers_per_address=0,
        joins_per_address_per_minute=0,
    )
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    database = app[DATABASE]
    ledger = app[LEDGER]
    results: list[Result] = []
    try:
        async with database.session() as db:
            if not await db.scalar(select(func.count()).select_from(StaffUser)):
                await staff_service.add_staff(db, "bench", "bench password 123")
            _, token = await staff_service.issue_api_token(db, "bench")
            ids = list((await db.scalars(select(Session.id))).all())
            biggest = await biggest_session(db)
            areas = await db.scalar(select(func.count()).select_from(Area))
        auth = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as http:

            async def http_report(group_by: str = "area") -> None:
                async with http.get(
                    f"{base}/api/reports/attendance?period=year&group_by={group_by}", headers=auth
                ) as resp:
                    assert resp.status == 200, await resp.text()
                    data = await resp.json()
                    assert len(data["rows"]) == areas or group_by != "area"

            today = catalog.utcnow().astimezone(catalog.CITY_TZ).date()
            query = ReportQuery(today - dt.timedelta(days=364), today, "area")

            async def domain_report() -> None:
                async with database.session() as db:
                    await attendance_report(db, query, catalog.utcnow(), 60.0)

            results.append(("area report, year, HTTP", *await timed(http_report, runs), "< 200 ms"))
            results.append(
                ("area report, year, domain call", *await timed(domain_report, runs), "")
            )

            async def month_report() -> None:
                await http_report("month")

            results.append(("month report, year, HTTP", *await timed(month_report, runs), ""))
            sample = rng.sample(ids, min(len(ids), runs * 20))
            picks = iter(sample * 2)

            async def http_session() -> None:
                async with http.get(f"{base}/api/sessions/{next(picks)}/attendance") as resp:
                    assert resp.status == 200

            async def summary() -> None:
                await ledger.summary(next(picks))

            count = len(sample) - 1
            results.append(
                ("session figures, HTTP (random sessions)", *await timed(http_session, count), "")
            )
            results.append(
                ("session figures, ledger.summary (random)", *await timed(summary, count), "< 5 ms")
            )

            async def biggest_summary() -> None:
                await ledger.summary(biggest[0])

            results.append(
                (
                    f"session figures, largest session ({biggest[1]} intervals)",
                    *await timed(biggest_summary, runs),
                    "< 5 ms",
                )
            )

            live = await create_live_session(database)
            delays, delay_cpu = [], []
            async with ledger.events.subscribe() as queue:
                for _ in range(max(runs, 10)):
                    start, start_cpu = time.perf_counter(), time.process_time()
                    presence = await ledger.join(live, "whep")
                    while (await queue.get())["session_id"] != live:
                        pass
                    async with http.get(f"{base}/api/sessions/{live}/attendance") as resp:
                        figures = await resp.json()
                    assert figures["online_now"] == 1
                    delays.append((time.perf_counter() - start) * 1000)
                    delay_cpu.append((time.process_time() - start_cpu) * 1000)
                    await ledger.leave(presence)
                    await queue.get()
            results.append(
                (
                    "join -> ledger.events subscriber -> figures over HTTP",
                    delays,
                    delay_cpu,
                    "< 1000 ms",
                )
            )
    finally:
        await runner.cleanup()
    return results


async def biggest_session(db: Any) -> tuple[str, int]:
    from stream_server.db.models import AttendanceInterval, Participant

    row = (
        await db.execute(
            select(Participant.session_id, func.count(AttendanceInterval.id))
            .join(AttendanceInterval, AttendanceInterval.participant_id == Participant.id)
            .group_by(Participant.session_id)
            .order_by(func.count(AttendanceInterval.id).desc())
            .limit(1)
        )
    ).one()
    return str(row[0]), int(row[1])


async def create_live_session(database: Database) -> str:
    async with database.session() as db:
        created = await catalog.create_session(
            db, title="Bench live", mode="broadcast", venue="kantti/lava"
        )
    return created.session.id


async def build_rollups(url: str) -> tuple[int, float]:
    database = Database(url)
    start = time.perf_counter()
    async with database.session() as db:
        ids = list((await db.scalars(select(Session.id))).all())
        done = await rollups.refresh_rollups(db, ids, catalog.utcnow(), 60.0)
    elapsed = time.perf_counter() - start
    await database.close()
    return done, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="attendance intervals")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per measurement")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--keep", help="write the database here instead of a temporary folder")
    parser.add_argument(
        "--reuse", action="store_true", help="measure the --keep database filled by a former run"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kohtaamo-bench-") as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "bench.sqlite3"
        url = f"sqlite+aiosqlite:///{path}"
        if args.reuse and args.keep and path.exists():
            print(f"measuring the database in {path}", flush=True)
        else:
            if path.exists():
                print(f"{path} exists; remove it first or give --reuse", file=sys.stderr)
                return 2
            upgrade_database(url)
            ref = asyncio.run(reference(url))
            start = time.perf_counter()
            sizes = fill(path, args.rows, ref, args.seed)
            fill_seconds = time.perf_counter() - start
            print(
                f"filled {sizes['intervals']:,} intervals, {sizes['participants']:,} "
                f"participants, {sizes['sessions']:,} sessions, {sizes['headcounts']:,} "
                f"headcounts, {sizes['answers']:,} survey answers at {len(ref['rooms'])} "
                f"venues in {fill_seconds:.1f} s ({path.stat().st_size / 1e6:.0f} MB)",
                flush=True,
            )
            done, rollup_seconds = asyncio.run(build_rollups(url))
            print(f"built rollups of {done:,} sessions once in {rollup_seconds:.1f} s", flush=True)
        results = asyncio.run(measure(url, args.runs, args.seed))
    print()
    print("| measurement | median | min | max | CPU (median) | runs | target |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, times, cpu, target in results:
        print(
            f"| {name} | {statistics.median(times):.2f} ms | {min(times):.2f} ms "
            f"| {max(times):.2f} ms | {statistics.median(cpu):.2f} ms | {len(times)} "
            f"| {target} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
