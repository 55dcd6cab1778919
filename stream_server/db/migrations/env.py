"""Alembic environment: runs migrations on the connection ``upgrade_database`` hands over.

:func:`stream_server.db.engine.upgrade_database` opens the server's own async engine
(aiosqlite or asyncpg) and runs Alembic inside ``run_sync``, so no second, synchronous
driver is needed. Without a handed-over connection (the ``alembic`` command) a synchronous
engine is built from ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from stream_server.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        context.configure(connection=given, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
