"""Storage as IT runs it: database URLs as they write them, start-up checks, backup and restore.

What broke: a plain ``postgresql://`` or ``sqlite:///`` URL (as IT writes them) crashed deep in
SQLAlchemy ("The asyncio extension requires an async driver"), any other URL with a
traceback; ``kohtaamo serve`` on a database that had not been migrated started and failed on
the first request; PostgreSQL was untested (and its reports failed: ``extract(epoch)`` is a
Decimal there); backups were not documented.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from stream_server.app import create_app
from stream_server.cli import main
from stream_server.config import ConfigError, Settings, load_settings
from stream_server.db.backup import libpq_uri
from stream_server.db.engine import Database, async_url, make_engine, upgrade_database
from stream_server.db.models import AttendanceInterval, Base
from tests import test_reports
from tests.test_reports import PERIOD, Month
from tests.test_retention import GROUPINGS

settings = test_reports.settings
month = test_reports.month


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///var/kohtaamo.sqlite3", "sqlite+aiosqlite:///var/kohtaamo.sqlite3"),
        ("sqlite:////srv/kohtaamo/db.sqlite3", "sqlite+aiosqlite:////srv/kohtaamo/db.sqlite3"),
        ("sqlite+aiosqlite:///x.sqlite3", "sqlite+aiosqlite:///x.sqlite3"),
        ("postgresql://kohtaamo@db.example/kohtaamo", "postgresql+asyncpg://kohtaamo@db.example/kohtaamo"),
        ("postgres://kohtaamo:pw@db:5433/k", "postgresql+asyncpg://kohtaamo:pw@db:5433/k"),
        ("postgresql+psycopg2://u@h/k", "postgresql+asyncpg://u@h/k"),
        ("postgresql://u@/k?host=/run/postgresql", "postgresql+asyncpg://u@/k?host=%2Frun%2Fpostgresql"),
    ],
)  # fmt: skip
def test_plain_urls_get_their_async_drivers(given: str, expected: str) -> None:
    settings = load_settings(environ={"KOHTAAMO_DATABASE_URL": given})
    assert make_url(settings.database_url) == make_url(expected)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("mysql://kohtaamo:s3cret-pw@db/kohtaamo", "'mysql' databases are not supported"),
        ("oracle+cx_oracle://u:s3cret-pw@h/x", "'oracle+cx_oracle' databases are not supported"),
        ("kohtaamo.sqlite3", "is not a database URL"),
    ],
)
def test_other_urls_are_refused_in_one_line_without_the_password(given: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(environ={"KOHTAAMO_DATABASE_URL": given})
    text = str(refused.value)
    assert message in text and "\n" not in text and "s3cret" not in text
    assert "postgresql://" in text and "sqlite:///" in text  # what to write instead


@pytest.mark.parametrize("command", [["serve"], ["db", "upgrade"]])
def test_an_unsupported_url_stops_the_server_with_one_line_and_status_2(
    command: list[str], tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stream_server", *command],
        env={"KOHTAAMO_DATABASE_URL": "mysql://k:s3cret-pw@db/k", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert "'mysql' databases are not supported" in done.stderr
    assert "s3cret" not in done.stderr + done.stdout


@pytest.mark.parametrize("command", [["serve"], ["db", "upgrade"], ["sessions", "list"]])
def test_an_unreachable_database_is_one_line_not_a_traceback(
    command: list[str], tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stream_server", *command],
        env={
            "KOHTAAMO_DATABASE_URL": f"postgresql://k:s3cret-pw@/k?host={tmp_path}/no-server",
            "PATH": "/usr/bin:/bin",
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (1, 2)
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error:") and "s3cret" not in done.stderr


def _serve(url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stream_server", "serve", "--port", "9"],
        env={"KOHTAAMO_DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.database
async def test_serve_refuses_a_database_without_the_newest_schema(
    new_database: Callable[..., str], tmp_path: Path
) -> None:
    """Upgrades: the new version does not start on the old schema; it says what to run."""
    empty = new_database("empty", migrated=False)
    done = await asyncio.to_thread(_serve, empty, tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no schema yet: run `kohtaamo db upgrade`" in done.stderr
    await asyncio.to_thread(upgrade_database, empty, "0005")
    done = await asyncio.to_thread(_serve, empty, tmp_path)
    assert done.returncode == 2
    assert "at revision 0005, this version needs 0006: run `kohtaamo db upgrade`" in done.stderr


@pytest.mark.database
async def test_plain_urls_work_end_to_end(
    new_database: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``kohtaamo db upgrade`` and the server's engine with the URL exactly as IT writes it."""
    url = async_url(new_database("plain", migrated=False))
    plain = url.set(drivername=url.get_backend_name()).render_as_string(hide_password=False)
    assert plain.startswith(("sqlite:///", "postgresql://"))
    monkeypatch.setenv("KOHTAAMO_DATABASE_URL", plain)
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["db", "upgrade"]) == 0
    assert "database is at the newest schema" in capsys.readouterr().out
    database = Database(plain)
    try:
        async with database.session() as db:
            assert await db.scalar(select(func.count()).select_from(AttendanceInterval)) == 0
    finally:
        await database.close()


@pytest.mark.database
async def test_the_migrations_build_exactly_the_models(settings: Settings) -> None:
    """No drift between the models and what Alembic creates, on either database."""
    engine = make_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await engine.dispose()
    assert differences == []


async def reports(client: Any, auth: dict[str, str]) -> dict[str, Any]:
    found = {}
    for group_by in GROUPINGS:
        query = f"{PERIOD}&group_by={group_by}&lang=en"
        response = await client.get(f"/api/reports/attendance?{query}", headers=auth)
        assert response.status == 200, await response.text()
        data = await response.json()
        data.pop("generated_at")
        found[group_by] = data
    return found


@pytest.mark.database
async def test_a_restored_backup_has_the_same_figures(
    month: Month,
    settings: Settings,
    new_database: Callable[..., str],
    aiohttp_client: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``kohtaamo db backup`` while the server runs, restored as docs/operations.md says."""
    before = await reports(month.client, month.auth)
    backup = tmp_path / "kohtaamo.backup"
    monkeypatch.setenv("KOHTAAMO_DATABASE_URL", settings.database_url)
    assert await asyncio.to_thread(main, ["db", "backup", str(backup)]) == 0
    assert backup.stat().st_size > 0
    url = async_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        # Restore: the server stopped, the backup file put in place of the database.
        restored = tmp_path / "restored.sqlite3"
        shutil.copyfile(backup, restored)
        restored_url = f"sqlite:///{restored}"
    else:
        # Restore: pg_restore into an empty database.
        restored_url = new_database("restored", migrated=False)
        pg_restore = shutil.which("pg_restore")
        assert pg_restore is not None, "pg_restore is needed with PostgreSQL"
        done = await asyncio.to_thread(
            subprocess.run,
            [pg_restore, "--no-owner", "--exit-on-error", "--dbname",
             libpq_uri(async_url(restored_url)), str(backup)],
            capture_output=True,
            text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    restored_client = await aiohttp_client(create_app(settings.replace(database_url=restored_url)))
    assert await reports(restored_client, month.auth) == before
    engine = make_engine(restored_url)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM participants"))).scalar()
    finally:
        await engine.dispose()
