"""Storage: the async engine, sessions, and Alembic migrations."""

from stream_server.db.engine import Database, sync_url, upgrade_database

__all__ = ["Database", "sync_url", "upgrade_database"]
