"""A burst of joins and leaves: how long the last participant waits for its attendance row.

Run from the project root::

    .venv/bin/python -m bench.join_burst
    make bench-join-burst BENCH_ARGS="--burst 50,150,300 --runs 5"

When a lecture starts, a hundred viewers or more join within a second, and each WHEP answer
waits until its attendance row is committed (so nothing is acknowledged before it is durable).
This fires ``--burst`` concurrent ``ledger.join`` calls at a fresh, migrated SQLite file (WAL,
``synchronous=FULL``, like production), then as many concurrent ``ledger.leave`` calls, and
prints per-call latency (median and max over all runs) and commits per burst, for

- **group commit** (what the server does: one writer, as many units per transaction as wait);
- **a transaction each** (the baseline: every call opens its own transaction at once, and
  SQLite's busy handler decides who writes next).

No network is used.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from stream_server.attendance.ledger import AttendanceLedger
from stream_server.catalog import service as catalog
from stream_server.db.engine import Database, upgrade_database
from stream_server.db.group_commit import GroupCommit


class TransactionEach(GroupCommit):
    """The baseline: no queue, every unit in a transaction of its own, all at once."""

    async def run_many(self, write_many: Any, item: Any) -> Any:
        (result,) = await self._transaction([(write_many, item, None)])
        return result


async def burst(ledger: AttendanceLedger, session_id: str, size: int) -> dict[str, Any]:
    async def timed(work: Awaitable[Any]) -> tuple[float, Any]:
        start = time.perf_counter()
        result = await work
        return (time.perf_counter() - start) * 1000, result

    writes = ledger._db.writes
    before = writes.transactions
    joined = await asyncio.gather(*(timed(ledger.join(session_id, "whep")) for _ in range(size)))
    join_commits = writes.transactions - before
    before = writes.transactions
    left = await asyncio.gather(*(timed(ledger.leave(presence)) for _, presence in joined))
    return {
        "join": [ms for ms, _ in joined],
        "leave": [ms for ms, _ in left],
        "join_commits": join_commits,
        "leave_commits": writes.transactions - before,
        "all_left": all(closed for _, closed in left),
    }


async def measure(folder: Path, sizes: list[int], runs: int) -> list[dict[str, Any]]:
    rows = []
    for label, writer in (("group commit", GroupCommit), ("a transaction each", TransactionEach)):
        for size in sizes:
            url = f"sqlite+aiosqlite:///{folder / f'{label[0]}-{size}.sqlite3'}"
            upgrade_database(url)
            database = Database(url)
            database.writes = writer(database.session)
            ledger = AttendanceLedger(database, brief_visit_seconds=0)
            async with database.session() as db:
                await catalog.sync_reference_data(db)
                created = await catalog.create_session(db, title="Burst", mode="broadcast")
            joins: list[float] = []
            leaves: list[float] = []
            commits: list[int] = []
            for _ in range(runs):
                result = await burst(ledger, created.session.id, size)
                assert result["all_left"], "a leave closed nothing"
                joins += result["join"]
                leaves += result["leave"]
                commits.append(result["join_commits"])
            summary = await ledger.summary(created.session.id)
            assert summary["online_total"] == size * runs, summary  # nothing lost or doubled
            await database.close()
            rows.append(
                {
                    "writer": label,
                    "burst": size,
                    "join_median": statistics.median(joins),
                    "join_max": max(joins),
                    "leave_median": statistics.median(leaves),
                    "leave_max": max(leaves),
                    "commits": statistics.median(commits),
                }
            )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| writer | burst | join median / max | leave median / max | commits per join burst |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['writer']} | {r['burst']} | {r['join_median']:.0f} / {r['join_max']:.0f} ms "
            f"| {r['leave_median']:.0f} / {r['leave_max']:.0f} ms | {r['commits']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", default="50,150,300", help="concurrent joins per burst")
    parser.add_argument("--runs", type=int, default=3, help="bursts per size")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.burst.split(",")]
    with tempfile.TemporaryDirectory(prefix="kohtaamo-burst-") as folder:
        rows = asyncio.run(measure(Path(folder), sizes, args.runs))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
