"""The database handle the app and the CLI share.

SQLite is the embedded default: WAL journal and ``synchronous=FULL`` so attendance that was
committed survives a crash of the process or of the machine.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from stream_server.db.group_commit import GroupCommit

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

T = TypeVar("T")

#: URLs as IT writes them, and the async driver each one means. SQLAlchemy's async engine
#: takes only async drivers, and refuses the others deep in a traceback ("The asyncio
#: extension requires an async driver"), so plain URLs are mapped here, before it sees them.
ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
}


class DatabaseUrlError(ValueError):
    """A database URL the server cannot use; the message says what to write instead."""


def async_url(url: str | URL) -> URL:
    """The URL with its async driver: ``postgresql://…`` → ``postgresql+asyncpg://…``,
    ``sqlite:///…`` → ``sqlite+aiosqlite:///…``; anything else is a :class:`DatabaseUrlError`.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError(
            "database_url is not a database URL; write postgresql://USER@HOST/NAME "
            "or sqlite:///PATH"
        ) from None
    driver = ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise DatabaseUrlError(
            f"database_url: {parsed.drivername!r} databases are not supported; "
            "use postgresql://USER@HOST/NAME or sqlite:///PATH"
        )
    return parsed.set(drivername=driver)


def normalise_url(url: str) -> str:
    """:func:`async_url` as a string (the settings keep strings), password included."""
    return async_url(url).render_as_string(hide_password=False)


def _ensure_sqlite_folder(url: URL) -> None:
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str | URL, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` (plain URLs mapped), with SQLite's pragmas."""
    parsed = async_url(url)
    _ensure_sqlite_folder(parsed)
    engine = create_async_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to the end from synchronous code, also from inside a running event
    loop (then in a thread of its own, which blocks the caller as a sync call would)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name="kohtaamo-migrate")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # For offline (--sql) use only: online runs hand env.py a connection.
    config.set_main_option(
        "sqlalchemy.url", async_url(url).render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


async def _upgrade(url: str, revision: str) -> None:
    engine = make_engine(url)
    config = alembic_config(url)

    def upgrade(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade)
    finally:
        await engine.dispose()


def upgrade_database(url: str, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` with Alembic (never ``create_all``), on the
    same async driver the server uses (so PostgreSQL needs asyncpg only)."""
    run_blocking(_upgrade(url, revision))


def head_revision() -> str:
    """The newest migration this version of the server has."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


async def schema_problem(url: str, timeout: float = 10.0) -> str | None:
    """Why the server cannot start on this database (one line), or None: unreachable, not
    migrated, or migrated by another version. Never names the password."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as connection:
                current = await connection.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
    except TimeoutError:
        return f"the database did not answer within {timeout:g} s"
    except Exception as exc:
        detail = str(exc).splitlines()[0] if str(exc) else ""
        return f"cannot reach the database ({type(exc).__name__}: {detail[:200]})"
    finally:
        await engine.dispose()
    head = head_revision()
    if current is None:
        return "the database has no schema yet: run `kohtaamo db upgrade` first"
    if current != head:
        from alembic.script import ScriptDirectory

        known = {
            rev.revision
            for rev in ScriptDirectory.from_config(alembic_config(url)).walk_revisions()
        }
        if current in known:
            return (
                f"the database schema is at revision {current}, this version needs {head}: "
                "run `kohtaamo db upgrade` (after a backup)"
            )
        return (
            f"the database schema is at revision {current}, newer than this version knows "
            f"({head}): run the newer version, or restore the backup made before upgrading"
        )
    return None


class Database:
    """An async engine plus a session factory; one per app."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine: AsyncEngine = make_engine(url)
        #: ``sqlite`` or ``postgresql``.
        self.backend = self.engine.dialect.name
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        #: Frequent small writes (attendance joins and leaves) go through here, many per commit.
        self.writes = GroupCommit(self.session)
        #: Called with a unit of work's ``info`` after it committed: services mark there what
        #: they changed (e.g. the programme) and others learn of it only once it is durable.
        self.after_commit: list[Callable[[dict[Any, Any]], None]] = []

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed on success, rolled back on error."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
            if session.info:
                for listener in self.after_commit:
                    listener(session.info)

    async def close(self) -> None:
        await self.writes.close()
        await self.engine.dispose()
