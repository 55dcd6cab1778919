"""Storage: the async engine, sessions, and Alembic migrations."""

from stream_server.db.engine import Database, DatabaseUrlError, async_url, upgrade_database

__all__ = ["Database", "DatabaseUrlError", "async_url", "upgrade_database"]
