"""The real Kohtaamo app as a benchmark server, alone in its process.

It migrates a fresh SQLite database, creates one broadcast session, prints
``{"session_id": ..., "token": ...}`` on stdout for the driver, then serves until signalled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from aiohttp import web

from stream_server.app import create_app
from stream_server.catalog import service as catalog
from stream_server.config import Settings
from stream_server.db.engine import Database, upgrade_database
from stream_server.media.peers import raise_open_file_limit


async def create_session(url: str) -> tuple[str, str]:
    """A session that is open now and for longer than any benchmark; returns id and token."""
    database = Database(url)
    try:
        async with database.session() as db:
            await catalog.sync_reference_data(db)
            created = await catalog.create_session(
                db, title="Benchmark", mode="broadcast", minutes=240
            )
            return created.session.id, created.publish_token
    finally:
        await database.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workdir", type=Path, required=True, help="where the database goes")
    parser.add_argument("--uvloop", action="store_true", help="serve on uvloop's event loop")
    args = parser.parse_args(argv)
    raise_open_file_limit()
    url = f"sqlite+aiosqlite:///{args.workdir}/kohtaamo.sqlite3"
    upgrade_database(url)
    session_id, token = asyncio.run(create_session(url))
    # Alembic may have configured logging; the server should log only what matters.
    logging.basicConfig(level=logging.WARNING, format="server: %(levelname)s %(name)s %(message)s")
    logging.getLogger().setLevel(logging.WARNING)
    settings = Settings(
        database_url=url,
        recordings_dir=args.workdir / "recordings",
        ice_host_addresses=("127.0.0.1",),
        video_codec="VP8",
        log_level="WARNING",
    )
    app = create_app(settings)
    sys.stdout.write(json.dumps({"session_id": session_id, "token": token}) + "\n")
    sys.stdout.flush()
    if args.uvloop:
        import uvloop  # optional: only the benchmark's --uvloop needs it

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
