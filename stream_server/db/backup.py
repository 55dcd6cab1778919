"""``kohtaamo db backup FILE``: a consistent copy of the database while the server runs.

* SQLite: SQLite's online backup API (the same as the ``sqlite3`` shell's ``.backup``): a
  consistent snapshot even while the server writes (WAL), into a plain database file. Restore
  by stopping the server and putting the file in place of the database (removing the old
  ``-wal`` and ``-shm`` files).
* PostgreSQL: ``pg_dump --format=custom`` (the password, if any, through ``PGPASSWORD``, never
  on the command line). Restore with ``pg_restore`` into an empty database.

``docs/operations.md`` has the whole procedure; ``tests/test_storage.py`` restores a backup
of each kind and finds the same report figures.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import URL

from stream_server.db.engine import async_url


class BackupError(RuntimeError):
    """The backup could not be made; the message says why."""


def libpq_uri(url: URL) -> str:
    """A ``postgresql://`` URI for libpq tools, without the password."""
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False)


def backup_database(url: str, target: Path) -> str:
    """Write a backup of the database at ``url`` to ``target``; returns what was done."""
    parsed = async_url(url)
    if parsed.get_backend_name() == "sqlite":
        source = parsed.database
        if not source or source == ":memory:" or not Path(source).is_file():
            raise BackupError(f"no SQLite database at {source!r}")
        partial = target.with_name(target.name + ".part")
        with contextlib.closing(sqlite3.connect(source)) as src:
            with contextlib.closing(sqlite3.connect(partial)) as dst:
                src.backup(dst)
        partial.replace(target)
        return f"SQLite database {source} copied to {target} (online backup)"
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump not found: install postgresql-client")
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    done = subprocess.run(
        [pg_dump, "--format=custom", "--no-owner", "--file", str(target), libpq_uri(parsed)],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed: {done.stderr.strip()}")
    return f"PostgreSQL database {parsed.database} dumped to {target} (pg_dump, custom format)"
