"""Attendance retention: old participants and intervals are deleted, the figures are not.

What was missing: the README had to say that attendance could not be deleted at all. Now
``kohtaamo attendance purge --before DATE`` (or ``attendance_retention_days``) deletes them,
and every report — and a session's own figures — reads the same before and after, also when a
purged session's rollup is recomputed later (a corrected headcount, another brief-visit
threshold), because the rollup keeps what the intervals said.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from stream_server.app import create_app
from stream_server.attendance.ledger import AttendanceLedger
from stream_server.attendance.retention import purge_attendance, retention_cutoff, start_of_day
from stream_server.basics import CITY_TZ
from stream_server.cli import main
from stream_server.config import Settings
from stream_server.db.engine import Database
from stream_server.db.models import AttendanceInterval, Participant, SessionRollup
from stream_server.web.keys import DATABASE
from tests import test_reports
from tests.conftest import Sessions
from tests.peers import wait_until
from tests.test_reports import PERIOD, Month

pytestmark = pytest.mark.database

# The worked month of tests/test_reports.py (October 2025), with its 60 s brief-visit threshold.
settings = test_reports.settings
month = test_reports.month

NOVEMBER = start_of_day(dt.date(2025, 11, 1))
GROUPINGS = ("area", "venue", "organiser", "category", "month")


async def reports(client: TestClient, auth: dict[str, str]) -> dict[str, Any]:
    """Every grouping as JSON (without its generation time) and as CSV."""
    found: dict[str, Any] = {}
    for group_by in GROUPINGS:
        query = f"{PERIOD}&group_by={group_by}&lang=en"
        response = await client.get(f"/api/reports/attendance?{query}", headers=auth)
        assert response.status == 200, await response.text()
        data = await response.json()
        data.pop("generated_at")
        found[group_by] = data
        csv = await client.get(f"/api/reports/attendance.csv?{query}", headers=auth)
        assert csv.status == 200
        found[f"{group_by}.csv"] = await csv.read()
    return found


async def figures(client: TestClient, session_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/sessions/{session_id}/attendance")
    assert response.status == 200
    data = await response.json()
    data.pop("by_channel")  # per channel is not kept (see docs/privacy.md)
    return data


async def counts(database: Database) -> tuple[int, int]:
    async with database.session() as db:
        people = await db.scalar(select(func.count()).select_from(Participant))
        spans = await db.scalar(select(func.count()).select_from(AttendanceInterval))
    return int(people or 0), int(spans or 0)


async def test_a_purge_deletes_old_attendance_and_every_report_stays_the_same(
    month: Month,
) -> None:
    client, database = month.client, month.client.app[DATABASE]
    before_reports = await reports(client, month.auth)
    before_figures = await figures(client, month.s1)
    assert before_figures["online_total"] == 3 and before_figures["brief_visits"] == 1
    assert await counts(database) == (6, 6)  # five visits and the WHIP encoder

    result = await purge_attendance(database, NOVEMBER, brief_visit_seconds=60.0)

    assert (result.sessions, result.participants, result.intervals) == (2, 6, 6)
    assert await counts(database) == (0, 0)
    async with database.session() as db:
        purged = (await db.scalars(select(SessionRollup).where(SessionRollup.purged))).all()
    assert len(purged) == 2
    assert await reports(client, month.auth) == before_reports
    assert await figures(client, month.s1) == before_figures
    # Purging again finds nothing more.
    again = await purge_attendance(database, NOVEMBER, brief_visit_seconds=60.0)
    assert again.sessions == 0


async def test_purged_figures_survive_a_corrected_headcount_and_another_threshold(
    month: Month, settings: Settings, aiohttp_client: Any
) -> None:
    """A recomputation after the purge keeps the online figures: only what changed changes."""
    client, database = month.client, month.client.app[DATABASE]
    before = await reports(client, month.auth)
    await purge_attendance(database, NOVEMBER, brief_visit_seconds=60.0)

    # Another brief-visit threshold makes every rollup stale; purged ones keep their figures.
    other = await aiohttp_client(create_app(settings.replace(brief_visit_seconds=0.0)))
    assert await reports(other, month.auth) == {
        key: ({**value, "brief_visit_seconds": 0.0} if isinstance(value, dict) else value)
        for key, value in before.items()
    }

    corrected = await client.post(
        f"/api/sessions/{month.s1}/headcount",
        json={"venue": "kantti", "count": 55},
        headers=month.auth,
    )
    assert corrected.status == 201
    query = f"{PERIOD}&group_by=area&lang=en"
    response = await client.get(f"/api/reports/attendance?{query}", headers=month.auth)
    after = await response.json()
    was = before["area"]
    assert after["totals"]["in_person"] == was["totals"]["in_person"] + 5
    for key in ("online", "online_hours", "brief_visits", "sessions_held"):
        assert after["totals"][key] == was["totals"][key], key


async def test_running_and_later_sessions_are_kept(
    client: TestClient, sessions: Sessions, settings: Settings
) -> None:
    database = client.app[DATABASE]
    now = dt.datetime.now(dt.UTC)
    ledger = AttendanceLedger(database)
    # Started three hours ago, scheduled until an hour ago, but someone is still connected.
    overrun = await sessions.create(starts_at=now - dt.timedelta(hours=3), minutes=120)
    # Started an hour ago and still running.
    running = await sessions.create(starts_at=now - dt.timedelta(hours=1), minutes=120)
    # Ended two hours ago: the only one to purge.
    over = await sessions.create(starts_at=now - dt.timedelta(hours=4), minutes=60)
    await ledger.join(overrun.session.id, "browser")
    await ledger.join(running.session.id, "browser")
    presence = await ledger.join(over.session.id, "browser")
    await ledger.leave(presence)
    result = await purge_attendance(database, now, brief_visit_seconds=0.0)
    assert result.sessions == 1
    async with database.session() as db:
        left = set((await db.scalars(select(Participant.session_id))).all())
    assert left == {overrun.session.id, running.session.id}


async def test_a_purge_date_in_the_future_is_refused(client: TestClient) -> None:
    with pytest.raises(ValueError, match="future"):
        await purge_attendance(
            client.app[DATABASE],
            dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
            brief_visit_seconds=60.0,
        )


def test_the_cutoff_is_the_start_of_a_city_day() -> None:
    now = dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)  # 04:30 in Helsinki (summer time)
    cutoff = retention_cutoff(30, now)
    assert cutoff.astimezone(CITY_TZ) == dt.datetime(2026, 2, 27, tzinfo=CITY_TZ)


async def test_the_command_purges_counts_with_dry_run_and_explains_mistakes(
    month: Month,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
) -> None:
    database = month.client.app[DATABASE]
    monkeypatch.setenv("KOHTAAMO_DATABASE_URL", settings.database_url)
    capsys.readouterr()

    async def run(*args: str) -> tuple[int, str, str]:
        # The command runs its own event loop: in a thread, as a separate process would.
        code = await asyncio.to_thread(main, list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    code, out, _ = await run("attendance", "purge", "--before", "2025-11-01", "--dry-run")
    assert code == 0 and "would delete 6 participants and 6 intervals of 2 sessions" in out
    assert await counts(database) == (6, 6)
    code, out, _ = await run("attendance", "purge", "--before", "2025-11-01")
    assert code == 0 and "deleted 6 participants and 6 intervals of 2 sessions" in out
    assert await counts(database) == (0, 0)
    code, _, err = await run("attendance", "purge")
    assert code == 2 and "attendance_retention_days is unset" in err
    code, _, err = await run("attendance", "purge", "--before", "1.11.2025")
    assert code == 2 and "not a date" in err
    code, _, err = await run("attendance", "purge", "--before", "2999-01-01")
    assert code == 2 and "future" in err


async def test_the_server_purges_by_itself_with_a_retention_period(
    month: Month, settings: Settings, aiohttp_client: Any
) -> None:
    """``attendance_retention_days``: the server purges at start-up (and daily)."""
    database = month.client.app[DATABASE]
    before = await reports(month.client, month.auth)
    await aiohttp_client(create_app(settings.replace(attendance_retention_days=30.0)))

    async def purged() -> bool:
        return await counts(database) == (0, 0)

    await wait_until(purged, timeout=20)
    assert await reports(month.client, month.auth) == before


def test_the_setting_is_at_least_a_day() -> None:
    from stream_server.config import ConfigError, load_settings

    assert load_settings(environ={}).attendance_retention_days is None
    assert (
        load_settings(
            environ={"KOHTAAMO_ATTENDANCE_RETENTION_DAYS": "400"}
        ).attendance_retention_days
        == 400.0
    )
    with pytest.raises(ConfigError, match="at least 1 day"):
        load_settings(environ={"KOHTAAMO_ATTENDANCE_RETENTION_DAYS": "0"})
