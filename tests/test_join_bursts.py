"""Bursts of writes: many joins and leaves at once, each durable before it is acknowledged."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from stream_server.attendance.ledger import AttendanceLedger
from stream_server.config import Settings
from stream_server.db.engine import Database
from stream_server.db.group_commit import GroupCommit
from stream_server.db.models import AttendanceInterval, Participant
from stream_server.live.registry import SessionCache
from tests.test_attendance import make_session

pytestmark = pytest.mark.database


async def test_a_burst_of_joins_shares_commits_and_counts_everyone_once(
    settings: Settings,
) -> None:
    database = Database(settings.database_url)
    ledger = AttendanceLedger(database)
    sid = await make_session(database)
    other = await make_session(database)
    before = database.writes.transactions
    keys = [f"page-{n:02d}-" + "x" * 16 for n in range(20)]
    presences = await asyncio.gather(
        *(ledger.join(sid, "whep") for _ in range(60)),
        *(ledger.join(sid, "tablet", attendee_key=key) for key in keys),
        *(ledger.join(other, "kiosk") for _ in range(3)),
        # The same page twice within the burst (a quick reconnect): one participant.
        ledger.join(sid, "tablet", attendee_key=keys[0]),
    )
    assert database.writes.transactions - before < len(presences) / 4  # shared commits
    assert len({p.interval_id for p in presences}) == len(presences)
    first, repeat = presences[60], presences[-1]
    assert repeat.resumed and repeat.participant_id == first.participant_id
    assert [p.session_id for p in presences[80:83]] == [other] * 3
    summary = await ledger.summary(sid)
    assert summary["online_total"] == 80 and summary["online_now"] == 80  # people, not links
    assert (await ledger.summary(other))["devices_now"] == 3
    # What was acknowledged is on disk, seen from a connection of its own.
    fresh = Database(settings.database_url)
    async with fresh.session() as db:
        assert await db.scalar(select(func.count(AttendanceInterval.id))) == 84
        assert await db.scalar(select(func.count(Participant.id))) == 83
    await fresh.close()

    # A burst of leaves (the lecture ends), the same presence twice among them.
    closed = await asyncio.gather(*(ledger.leave(p) for p in presences), ledger.leave(first))
    assert closed.count(True) == len(presences) and closed.count(False) == 1
    assert (await ledger.summary(sid))["online_now"] == 0
    # Rejoining after the burst continues the same participant.
    again = await ledger.join(sid, "tablet", attendee_key=keys[5])
    assert again.resumed and again.participant_id == presences[65].participant_id
    await database.close()


async def test_one_failing_write_fails_alone(settings: Settings) -> None:
    database = Database(settings.database_url)
    writes = GroupCommit(database.session)
    await make_session(database)  # the schema and reference data

    def insert(value: str):
        async def unit(db: AsyncSession) -> str:
            await db.execute(
                text("INSERT INTO rollup_watermarks (name, value) VALUES (:n, 1)"), {"n": value}
            )
            return value

        return unit

    async def broken(db: AsyncSession) -> None:
        raise ValueError("this write is wrong")

    results = await asyncio.gather(
        writes.run(insert("a")),
        writes.run(broken),
        writes.run(insert("b")),
        return_exceptions=True,
    )
    assert results[0] == "a" and results[2] == "b"
    assert isinstance(results[1], ValueError)
    async with database.session() as db:
        names = (await db.scalars(text("SELECT name FROM rollup_watermarks"))).all()
    assert sorted(names) == ["a", "b"]  # the others were written, each once
    await database.close()


async def test_writes_queued_at_shutdown_are_written(settings: Settings) -> None:
    database = Database(settings.database_url)
    ledger = AttendanceLedger(database)
    sid = await make_session(database)
    joins = [asyncio.ensure_future(ledger.join(sid, "whep")) for _ in range(10)]
    await asyncio.sleep(0)  # queued, not yet written
    await database.close()  # waits for the queue
    assert len(await asyncio.gather(*joins)) == 10
    again = Database(settings.database_url)
    async with again.session() as db:
        assert await db.scalar(select(func.count(AttendanceInterval.id))) == 10
    await again.close()


@pytest.mark.parametrize("size", [1, 2])
async def test_small_batches_still_write_everything(settings: Settings, size: int) -> None:
    database = Database(settings.database_url)
    database.writes = GroupCommit(database.session, max_batch=size)
    ledger = AttendanceLedger(database)
    sid = await make_session(database)
    await asyncio.gather(*(ledger.join(sid, "whep") for _ in range(7)))
    assert (await ledger.summary(sid))["online_now"] == 7
    await database.close()


async def test_a_burst_of_joins_reads_the_session_once(settings: Settings) -> None:
    database = Database(settings.database_url)
    sid = await make_session(database)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM sessions" in statement:
            statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    cache = SessionCache(database, ttl=60)
    found = await asyncio.gather(*(cache.get(sid) for _ in range(30)))
    assert {s.id for s in found if s is not None} == {sid} and len(statements) == 1
    assert found[0] is not None and found[0].room.venue_id  # loaded with what joins read
    cache.forget(sid)  # e.g. the host ended it: the next join reads it afresh
    await cache.get(sid)
    assert len(statements) == 2
    assert await cache.get("no-such-session") is None
    await database.close()
