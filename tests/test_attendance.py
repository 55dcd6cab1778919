"""The attendance ledger: intervals, reconnects, and nothing lost or doubled across crashes."""

from __future__ import annotations

import datetime as dt
import signal

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from stream_server.attendance.ledger import AttendanceError, AttendanceLedger
from stream_server.catalog import service as catalog
from stream_server.config import Settings
from stream_server.db.engine import Database
from stream_server.db.models import AttendanceInterval, Venue
from stream_server.web.keys import DATABASE
from tests.conftest import Sessions, Staff
from tests.peers import Viewer, wait_until
from tests.servers import free_port, start_server
from tests.ws_peer import WsParticipant

pytestmark = pytest.mark.database


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The default brief-visit threshold (60 s): these tests count brief visits by hand."""
    return settings.replace(brief_visit_seconds=60.0)


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


# The heartbeat often enough to see; seconds-long test visits would otherwise all be brief.
SERVER_ENV = {"KOHTAAMO_ATTENDANCE_HEARTBEAT_SECONDS": "0.3", "KOHTAAMO_BRIEF_VISIT_SECONDS": "0"}


async def test_attendance_survives_a_killed_server(settings):
    """SIGKILL the server while people watch: after a restart every interval is closed once,
    at the last moment it was known alive, and the totals are unchanged."""
    database = Database(settings.database_url)
    sid = await make_session(database)
    async with database.session() as db:
        session = await catalog.get_session(db, sid)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = await start_server(settings.database_url, port, SERVER_ENV)
    try:
        async with aiohttp.ClientSession() as http:
            person = WsParticipant(http, base)
            assert (await person.join(session=sid, channel="tablet"))["type"] == "joined"
            await person.publish((40, 80, 200), audio=False)  # counted once its media flows
            viewer = Viewer()
            assert (await viewer.play(http, base, sid)).status == 201

            async def touched() -> bool:
                async with database.session() as db:
                    rows = (await db.scalars(select(AttendanceInterval))).all()
                return len(rows) == 2 and all(r.last_seen_at > r.joined_at for r in rows)

            await wait_until(touched, timeout=15)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            killed_at = catalog.utcnow()
            await viewer.close()
            await person.close()
            proc = await start_server(settings.database_url, port, SERVER_ENV)
            async with http.get(f"{base}/api/sessions/{sid}/attendance") as resp:
                data = await resp.json()
            async with database.session() as db:
                rows = (await db.scalars(select(AttendanceInterval))).all()
            assert len(rows) == 2
            for row in rows:
                # Closed at the last heartbeat before the kill, not at the restart.
                assert row.left_at == row.last_seen_at > row.joined_at
                assert row.left_at is not None and row.left_at <= killed_at
                assert row.close_reason == "server-restart"
            connected = sum((r.left_at - r.joined_at).total_seconds() for r in rows if r.left_at)
            assert data["online_now"] == 0 and data["online_total"] == 2
            assert data["brief_visits"] == 0 and data["total"] == 2
            assert data["online_minutes"] == round(connected / 60, 1)
            assert data["by_channel"]["tablet"] == {"now": 0, "total": 1}
            assert data["by_channel"]["whep"] == {"now": 0, "total": 1}
            # A second restart finds nothing open: the intervals were closed exactly once.
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
            proc = await start_server(settings.database_url, port, SERVER_ENV)
            async with database.session() as db:
                again = (await db.scalars(select(AttendanceInterval))).all()
            assert [(r.id, r.left_at, r.close_reason) for r in again] == [
                (r.id, r.left_at, r.close_reason) for r in rows
            ]
            async with http.get(f"{base}/api/sessions/{sid}/attendance") as resp:
                assert await resp.json() == data
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
        await database.close()
    assert session is not None


# -- combined figures ---------------------------------------------------------------------------
async def venue_id(database: Database, slug: str) -> int:
    async with database.session() as db:
        return int(await db.scalar(select(Venue.id).where(Venue.slug == slug)))


async def test_broadcast_with_three_venues_combines_headcounts_and_online(
    client: TestClient, sessions: Sessions, staff: Staff
) -> None:
    """A lecture at KANTTI shown in Nilsiä and Juankoski, with people online.

    Worked by hand (seconds after t0):
      A whep     0–600                     600 s, host venue
      B tablet   60–120, again 300–(open)  connected now, host venue
      C browser  310–340                   30 s: a brief visit, host venue
      D tablet   200–1400 via a Nilsiä tablet, 1200 s, counts towards Nilsiä
      E kiosk    0–(open) in Juankoski     a room device: not a participant
    At 310–340 A, B, C and D are all connected: peak 4. Now = 1500 s, so B has 60 + 1200 s.
    Headcounts: KANTTI 40, Nilsiä 12 corrected to 14, Juankoski 7 -> in person 61.
    """
    database = client.app[DATABASE]
    created = await sessions.create(venue="kantti/lava", receivers=["nilsia", "juankoski"])
    sid = created.session.id
    await staff.add()
    token = await staff.api_token()
    auth = {"Authorization": f"Bearer {token}"}
    for venue, count in (("kantti", 40), ("nilsia", 12), ("juankoski", 7), ("nilsia", 14)):
        response = await client.post(
            f"/api/sessions/{sid}/headcount", json={"venue": venue, "count": count}, headers=auth
        )
        assert response.status == 201, await response.text()

    clock = Clock()
    clock.now = catalog.utcnow() - dt.timedelta(hours=2)
    ledger = AttendanceLedger(database, clock)
    nilsia = await venue_id(database, "nilsia")
    a = await ledger.join(sid, "whep")
    e = await ledger.join(sid, "kiosk")
    clock.advance(60)
    b = await ledger.join(sid, "tablet", attendee_key="b" * 20)
    clock.advance(60)  # 120
    await ledger.leave(b)
    clock.advance(80)  # 200
    d = await ledger.join(sid, "tablet", attendee_key="d" * 20, venue_id=nilsia)
    clock.advance(100)  # 300
    b = await ledger.join(sid, "tablet", attendee_key="b" * 20)
    clock.advance(10)  # 310
    c = await ledger.join(sid, "browser", attendee_key="c" * 20)
    clock.advance(30)  # 340
    await ledger.leave(c)
    clock.advance(260)  # 600
    await ledger.leave(a)
    clock.advance(800)  # 1400
    await ledger.leave(d)
    clock.advance(100)  # 1500

    figures = await ledger.summary(sid)
    assert figures["in_person"] == 61
    assert figures["headcounts"] == {"kantti": 40, "nilsia": 14, "juankoski": 7}
    assert figures["online_total"] == 3  # A, B, D; C was a brief visit
    assert figures["brief_visits"] == 1
    assert figures["online_now"] == 1  # B
    assert figures["peak_online"] == 4
    assert figures["total"] == 64
    assert figures["online_minutes"] == (600 + 1260 + 1200) / 60
    assert figures["devices_now"] == 1  # the Juankoski kiosk
    assert figures["by_channel"] == {
        "whep": {"now": 0, "total": 1},
        "tablet": {"now": 1, "total": 2},
        "browser": {"now": 0, "total": 0},
        "kiosk": {"now": 1, "total": 1},
    }
    assert figures["by_venue"] == {
        "kantti": {"in_person": 40, "online_total": 2, "brief_visits": 1, "total": 42},
        "nilsia": {"in_person": 14, "online_total": 1, "brief_visits": 0, "total": 15},
        "juankoski": {"in_person": 7, "online_total": 0, "brief_visits": 0, "total": 7},
    }
    # The public endpoint gives the same counts (its clock is the real one, two hours on).
    response = await client.get(f"/api/sessions/{sid}/attendance")
    assert response.status == 200
    public = await response.json()
    for key in ("in_person", "online_total", "online_now", "brief_visits", "total", "by_venue"):
        assert public[key] == figures[key], key
    assert (await client.get("/api/sessions/nosuchsession/attendance")).status == 404
    await ledger.leave(b)
    await ledger.leave(e)


async def test_brief_visits_follow_the_threshold_and_overlaps_count_once(settings):
    database = Database(settings.database_url)
    clock = Clock()
    sid = await make_session(database)
    strict = AttendanceLedger(database, clock, brief_visit_seconds=120)
    # Two overlapping connections of one person (a reconnect before the old socket closed):
    # 0–50 and 30–90 are 90 s connected, not 110 s.
    first = await strict.join(sid, "tablet", attendee_key="x" * 20)
    clock.advance(30)
    second = await strict.join(sid, "tablet", attendee_key="x" * 20)
    assert second.resumed
    clock.advance(20)
    await strict.leave(first)
    clock.advance(40)
    await strict.leave(second)
    figures = await strict.summary(sid)
    assert figures["online_total"] == 0 and figures["brief_visits"] == 1
    assert figures["peak_online"] == 1  # one person, however many sockets
    assert figures["online_minutes"] == 0
    lenient = AttendanceLedger(database, clock, brief_visit_seconds=60)
    figures = await lenient.summary(sid)
    assert figures["online_total"] == 1 and figures["brief_visits"] == 0
    assert figures["online_minutes"] == 1.5
    # While connected, a newcomer counts at once; leaving early turns them into a brief visit.
    newcomer = await lenient.join(sid, "whep")
    assert (await lenient.summary(sid))["online_total"] == 2
    clock.advance(10)
    await lenient.leave(newcomer)
    figures = await lenient.summary(sid)
    assert figures["online_total"] == 1 and figures["brief_visits"] == 1
    await database.close()
