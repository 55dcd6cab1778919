"""The attendance ledger: intervals, reconnects, and nothing lost or doubled across crashes."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import socket
import sys

import aiohttp
from sqlalchemy import select

from stream_server.attendance.ledger import AttendanceError, AttendanceLedger
from stream_server.catalog import service as catalog
from stream_server.db.engine import Database
from stream_server.db.models import AttendanceInterval
from tests.peers import Viewer, wait_until
from tests.ws_peer import WsParticipant


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 1, 16, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


async def make_session(database: Database) -> str:
    async with database.session() as db:
        await catalog.sync_reference_data(db)
        created = await catalog.create_session(db, title="Tuolijumppa", mode="group")
    return created.session.id


async def test_intervals_counts_and_reconnects(settings):
    database = Database(settings.database_url)
    clock = Clock()
    ledger = AttendanceLedger(database, clock)
    sid = await make_session(database)
    tablet = await ledger.join(sid, "tablet", attendee_key="k" * 20)
    viewer = await ledger.join(sid, "whep")
    kiosk = await ledger.join(sid, "kiosk")
    summary = await ledger.summary(sid)
    assert summary["online_now"] == 2 and summary["online_total"] == 2
    assert summary["devices_now"] == 1
    clock.advance(60)
    assert await ledger.leave(tablet, "closed") is True
    assert await ledger.leave(tablet, "closed") is False  # closing twice changes nothing
    again = await ledger.join(sid, "tablet", attendee_key="k" * 20)
    assert again.resumed and again.participant_id == tablet.participant_id
    summary = await ledger.summary(sid)
    assert summary["online_total"] == 2  # the reconnect is the same person
    assert summary["by_channel"]["tablet"] == {"now": 1, "total": 1}
    # The same key in another session is someone else there: keys are per session.
    other = await make_session(database)
    elsewhere = await ledger.join(other, "tablet", attendee_key="k" * 20)
    assert not elsewhere.resumed
    for presence in (again, viewer, kiosk, elsewhere):
        await ledger.leave(presence)
    assert (await ledger.summary(sid))["online_now"] == 0
    await database.close()


async def test_unknown_channel_is_refused(settings):
    database = Database(settings.database_url)
    ledger = AttendanceLedger(database)
    sid = await make_session(database)
    try:
        await ledger.join(sid, "carrier-pigeon")
    except AttendanceError as exc:
        assert "unknown channel" in str(exc)
    else:
        raise AssertionError("an unknown channel was accepted")
    await database.close()


async def test_a_restart_closes_open_intervals_at_their_last_heartbeat(settings):
    database = Database(settings.database_url)
    clock = Clock()
    ledger = AttendanceLedger(database, clock)
    sid = await make_session(database)
    first = await ledger.join(sid, "tablet", attendee_key="a" * 20)
    second = await ledger.join(sid, "whep")
    clock.advance(90)
    await ledger.touch([first.interval_id, second.interval_id])
    clock.advance(600)  # the process died; nobody touched the intervals since
    restarted = AttendanceLedger(database, clock)
    assert await restarted.close_stale_intervals() == 2
    assert await restarted.close_stale_intervals() == 0  # never closed twice
    async with database.session() as db:
        rows = (await db.scalars(select(AttendanceInterval))).all()
    for row in rows:
        assert row.left_at == row.joined_at + dt.timedelta(seconds=90)
        assert row.close_reason == "server-restart"
    summary = await restarted.summary(sid)
    # 90 s each, closed at the heartbeat: not the 690 s until the restart.
    assert summary["online_now"] == 0 and summary["online_total"] == 2
    assert summary["online_minutes"] == 3.0 and summary["brief_visits"] == 0
    await database.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def start_server(settings, port: int) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "KOHTAAMO_DATABASE_URL": settings.database_url,
        "KOHTAAMO_ICE_HOST_ADDRESSES": "127.0.0.1",
        "KOHTAAMO_VIDEO_CODEC": "VP8",
        "KOHTAAMO_ATTENDANCE_HEARTBEAT_SECONDS": "0.3",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stream_server",
        "serve",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )

    async def healthy() -> bool:
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    return resp.status == 200
        except aiohttp.ClientError:
            return False

    await wait_until(healthy, timeout=30, interval=0.1)
    return proc


async def test_attendance_survives_a_killed_server(settings):
    """SIGKILL the server while people watch: after a restart every interval is closed once,
    at the last moment it was known alive, and the totals are unchanged."""
    database = Database(settings.database_url)
    sid = await make_session(database)
    async with database.session() as db:
        session = await catalog.get_session(db, sid)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = await start_server(settings, port)
    try:
        async with aiohttp.ClientSession() as http:
            person = WsParticipant(http, base)
            assert (await person.join(session=sid, channel="tablet"))["type"] == "joined"
            viewer = Viewer()
            assert (await viewer.play(http, base, sid)).status == 201

            async def touched() -> bool:
                async with database.session() as db:
                    rows = (await db.scalars(select(AttendanceInterval))).all()
                return len(rows) == 2 and all(r.last_seen_at > r.joined_at for r in rows)

            await wait_until(touched, timeout=15)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            await viewer.close()
            await person.close()
            proc = await start_server(settings, port)
            async with http.get(f"{base}/api/sessions/{sid}/attendance") as resp:
                data = await resp.json()
        assert data["online_now"] == 0 and data["online_total"] == 2
        async with database.session() as db:
            rows = (await db.scalars(select(AttendanceInterval))).all()
        assert len(rows) == 2
        for row in rows:
            assert row.left_at == row.last_seen_at > row.joined_at
            assert row.close_reason == "server-restart"
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
        await database.close()
    assert session is not None
