"""The ``kohtaamo`` command line: serve, db, demo, sessions, areas, attendance, docs, staff,
devices."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import re
import ssl
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, select
from sqlalchemy.exc import DBAPIError

from stream_server import admin_cli, i18n
from stream_server.basics import absolute_url
from stream_server.catalog import organisers
from stream_server.catalog import service as catalog
from stream_server.config import ConfigError, Settings, load_settings
from stream_server.db.engine import Database, run_blocking, schema_problem, upgrade_database
from stream_server.db.models import Area, StaffUser
from stream_server.errors import KohtaamoError
from stream_server.logs import configure_logging

logger = logging.getLogger("kohtaamo")

DEMO_TOKENS_FILE = Path("var/demo-tokens.json")


def _run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def _with_db(settings: Settings, work: Callable[[Database], Awaitable[Any]]) -> Any:
    database = Database(settings.database_url)
    try:
        return await work(database)
    finally:
        await database.close()


def created_session_json(created: catalog.CreatedSession, base_url: str) -> dict[str, Any]:
    """A new session with its tokens, every link absolute on ``base_url`` (OBS and
    e-mails cannot use a path)."""
    session = created.session
    data = catalog.session_to_json(session)

    def url(path: str) -> str:
        return absolute_url(base_url, path)

    data.update(
        join_code=session.join_code,
        host_token=created.host_token,
        publish_token=created.publish_token,
        session_url=url(f"/sessions/{session.id}"),
        whip_url=url(f"/whip/{session.id}"),
        whep_url=url(f"/whep/{session.id}"),
        join_url=url(f"/j/{session.join_code}"),
        host_url=url(f"/host/{session.id}?token={created.host_token}"),
        card_url=url(f"/j/{session.join_code}/card"),
        poster_url=url(f"/sessions/{session.id}/poster?token={created.host_token}"),
    )
    return data


# -- commands -----------------------------------------------------------------------------------
def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from aiohttp import web

    from stream_server.app import create_app, server_options
    from stream_server.web.access_log import AccessLogger

    settings = settings.replace(host=args.host or settings.host, port=args.port or settings.port)
    problem = run_blocking(schema_problem(settings.database_url))
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    ssl_context = None
    if settings.tls_cert and settings.tls_key:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(settings.tls_cert, settings.tls_key)
    scheme = "https" if ssl_context else "http"
    print(f"Kohtaamo serving on {scheme}://{settings.host}:{settings.port}", flush=True)
    if DEMO_TOKENS_FILE.exists():
        # The demo's links again, on this server's real address (the port may differ from the
        # one `kohtaamo demo` was run with).
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        print(f"demo links ({DEMO_TOKENS_FILE}):")
        print_demo_links(_read_demo_file(), f"{scheme}://{host}:{settings.port}")
        sys.stdout.flush()
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ssl_context=ssl_context,
        print=None,
        shutdown_timeout=10,
        access_log_class=AccessLogger,
        **server_options(settings),
    )
    return 0


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    upgrade_database(settings.database_url)
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    print(f"database is at the newest schema ({shown})")
    return 0


def cmd_db_backup(settings: Settings, args: argparse.Namespace) -> int:
    from stream_server.db.backup import BackupError, backup_database

    try:
        print(backup_database(settings.database_url, Path(args.file)))
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _read_demo_file() -> dict[str, Any]:
    """``{"staff": {...}, "sessions": [...]}``; an older file held only the session list."""
    if not DEMO_TOKENS_FILE.exists():
        return {"staff": None, "sessions": [], "devices": []}
    data = json.loads(DEMO_TOKENS_FILE.read_text())
    if isinstance(data, list):
        return {"staff": None, "sessions": data, "devices": []}
    return {
        "staff": data.get("staff"),
        "sessions": data.get("sessions", []),
        "devices": data.get("devices", []),
    }


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from stream_server.catalog import demo

    known = _read_demo_file()
    known_password = (known["staff"] or {}).get("password")

    async def work(
        database: Database,
    ) -> tuple[list[catalog.CreatedSession], list[dict[str, str]], int, str, str]:
        now = catalog.utcnow()
        async with database.session() as db:
            await catalog.sync_reference_data(db)
            created = await demo.load_demo(db, now)
            new_devices = await demo.load_demo_devices(db, created)
            name, password = await demo.ensure_demo_staff(db, known_password)
            staff_id = await db.scalar(select(StaffUser.id).where(StaffUser.name == name))
            past = await demo.load_history(db, now, staff_id)
        return created, new_devices, past, name, password

    created, new_devices, past, name, password = _run(_with_db(settings, work))
    # The configured address (KOHTAAMO_HOST/KOHTAAMO_PORT or the config file); `kohtaamo serve`
    # prints the links again with the address it really serves on.
    base = settings.cli_base_url
    sessions = [created_session_json(c, base) for c in created] or [
        {k: rebase_url(v, base) if k.endswith("_url") else v for k, v in row.items()}
        for row in known["sessions"]
    ]
    data = {
        "staff": {"name": name, "password": password, "login_url": f"{base}/staff/login"},
        "sessions": sessions,
        "devices": new_devices or known["devices"],
    }
    moved = sessions != known["sessions"] and not created
    if created or moved or password != known_password or not DEMO_TOKENS_FILE.exists():
        DEMO_TOKENS_FILE.parent.mkdir(parents=True, exist_ok=True)
        DEMO_TOKENS_FILE.write_text(json.dumps(data, indent=2, ensure_ascii=False))
        DEMO_TOKENS_FILE.chmod(0o600)
    if created:
        print(f"demo: created {len(created)} sessions; links and tokens in {DEMO_TOKENS_FILE}")
    else:
        print(f"demo: data already loaded; links and tokens in {DEMO_TOKENS_FILE}")
    if past:
        print(f"demo: created {past} past sessions with attendance and survey answers")
    print_demo_links(data, base)
    return 0


def rebase_url(url: str, base: str) -> str:
    """A link kept in the demo file, on another address (the file keeps the one it was made
    with)."""
    return base + re.sub(r"^[a-z]+://[^/]*", "", url)


def print_demo_links(data: dict[str, Any], base: str) -> None:
    """The demo's staff login, device enrolment links and the sessions on now or soon."""
    staff = data.get("staff")
    if staff:
        print(
            f"  staff dashboard and reports: {base}/staff/login"
            f"  name: {staff['name']}  password: {staff['password']}"
        )
    for device in data.get("devices", []):
        print(f"  demo {device['kind']} ({device['place']}): {base}{device['enrol_path']}")
    now = catalog.utcnow()
    for row in data.get("sessions", []):
        starts = dt.datetime.fromisoformat(row["starts_at"]).astimezone(dt.UTC)
        # "ended" already counts the overrun grace: a session past its scheduled end but
        # still open is live, and shown.
        if row.get("phase") == "ended" or starts > now + dt.timedelta(hours=3):
            continue
        print(
            f"  {row['title']} ({row['mode']}, {row['visibility']}, {row['venue']})\n"
            f"    watch: {rebase_url(row['join_url'], base)}"
            f"   present: {rebase_url(row['host_url'], base)}\n"
            f"    WHIP: {rebase_url(row['whip_url'], base)}"
            f"   publish token: {row['publish_token']}"
        )


def cmd_sessions_create(settings: Settings, args: argparse.Namespace) -> int:
    starts = None
    if args.starts:
        try:
            starts = dt.datetime.fromisoformat(args.starts)
        except ValueError:
            print(f"error: --starts is not an ISO date-time: {args.starts}", file=sys.stderr)
            return 2
    receivers = [r.strip() for r in (args.receivers or "").split(",") if r.strip()]

    async def work(database: Database) -> catalog.CreatedSession:
        async with database.session() as db:
            await catalog.sync_reference_data(db)
            return await catalog.create_session(
                db,
                title=args.title,
                mode=args.mode,
                venue=args.venue,
                receivers=receivers,
                private=args.private,
                starts_at=starts,
                minutes=args.minutes,
                category=args.category,
                organiser=args.organiser,
            )

    try:
        created = _run(_with_db(settings, work))
    except catalog.CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data = created_session_json(created, settings.cli_base_url)
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        for key in ("id", "title", "starts_at", "join_code", "publish_token", "host_url"):
            print(f"{key:14} {data[key]}")
    return 0


def cmd_sessions_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(database: Database) -> list[dict[str, Any]]:
        async with database.session() as db:
            doors = settings.door_times
            listed = await catalog.list_listed_sessions(db, doors=doors)
            return [catalog.session_to_json(s, doors=doors) for s in listed]

    rows = _run(_with_db(settings, work))
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        # The same words and Babel dates as the pages, in Kuopio time.
        tr = i18n.translator(args.lang)
        for row in rows:
            when = tr.datetime(dt.datetime.fromisoformat(row["starts_at"]))
            mode = tr(f"mode.{row['mode']}")
            print(f"{row['id']}  {when:22} {mode:8} {row['venue']:12} {row['title']}")
    return 0


def cmd_organisers(settings: Settings, args: argparse.Namespace) -> int:
    async def work(database: Database) -> Any:
        async with database.session() as db:
            await catalog.sync_reference_data(db)
            if args.organisers_command == "add":
                values = {"name": args.name, "kind": args.kind}
                if args.slug:
                    values["slug"] = args.slug
                for field in ("contact_person", "contact_email"):
                    if getattr(args, field):
                        values[field] = getattr(args, field)
                return organisers.organiser_json(await organisers.add_organiser(db, None, values))
            return [organisers.organiser_json(o) for o in await organisers.list_organisers(db)]

    try:
        data = _run(_with_db(settings, work))
    except KohtaamoError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    elif args.organisers_command == "add":
        print(f"organiser {data['slug']} added ({data['kind']}): {data['name']}")
    else:
        for row in data:
            print(f"{row['slug']:32} {row['kind']:12} {row['name']}")
    return 0


def cmd_areas(settings: Settings, args: argparse.Namespace) -> int:
    async def work(database: Database) -> list[Area]:
        async with database.session() as db:
            await catalog.sync_reference_data(db)
            if args.areas_command == "set-population":
                await catalog.set_area_population(db, args.slug, args.population)
        async with database.session() as db:
            return await catalog.list_areas(db)

    try:
        areas = _run(_with_db(settings, work))
    except catalog.CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for area in areas:
        print(f"{area.slug:8} {area.population:>8}  {area.name_en}")
    return 0


def cmd_attendance_purge(settings: Settings, args: argparse.Namespace) -> int:
    from stream_server.attendance import retention

    now = catalog.utcnow()
    if args.before:
        try:
            before = retention.start_of_day(dt.date.fromisoformat(args.before))
        except ValueError:
            print(f"error: --before is not a date (YYYY-MM-DD): {args.before}", file=sys.stderr)
            return 2
    elif settings.attendance_retention_days is not None:
        before = retention.retention_cutoff(settings.attendance_retention_days, now)
    else:
        print("error: give --before DATE (attendance_retention_days is unset)", file=sys.stderr)
        return 2
    if before > now:
        print("error: --before must not be in the future", file=sys.stderr)
        return 2

    async def work(database: Database) -> retention.PurgeResult:
        return await retention.purge_attendance(
            database, before, settings.brief_visit_seconds, now=now, dry_run=args.dry_run
        )

    result = _run(_with_db(settings, work))
    day = before.astimezone(catalog.CITY_TZ).date().isoformat()
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"sessions before {day}: {verb} {result.participants} participants and "
        f"{result.intervals} intervals of {result.sessions} sessions; reports keep their figures"
    )
    return 0


def cmd_docs(settings: Settings, args: argparse.Namespace) -> int:
    """Regenerate (``--write``) or check the tables in docs/ that the code declares."""
    from stream_server import docs

    try:
        if args.write:
            for path in docs.write_tables():
                print(f"wrote {path}")
            return 0
        stale = docs.stale_tables()
    except docs.DocsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        # An installed copy has no docs/: this command is for a source checkout.
        print(f"error: {exc.filename} not found (run it in a source checkout)", file=sys.stderr)
        return 2
    for line in stale:
        print(f"out of date: {line}", file=sys.stderr)
    if stale:
        print("run `kohtaamo docs --write` and commit the result", file=sys.stderr)
    return 1 if stale else 0


# -- parser -------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kohtaamo", description=__doc__)
    parser.add_argument("--config", help="TOML configuration file (or KOHTAAMO_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply Alembic migrations").set_defaults(func=cmd_db_upgrade)
    backup = db_sub.add_parser(
        "backup", help="a consistent copy while the server runs (SQLite file, or pg_dump)"
    )
    backup.add_argument("file", help="where to write it")
    backup.set_defaults(func=cmd_db_backup)

    sub.add_parser(
        "demo", help="load a week of demo sessions, three past months and a staff account"
    ).set_defaults(func=cmd_demo)

    sessions = sub.add_parser("sessions", help="create and list sessions")
    s_sub = sessions.add_subparsers(dest="sessions_command", required=True)
    create = s_sub.add_parser("create", help="create a session and print its tokens")
    create.add_argument("--title", required=True)
    create.add_argument("--mode", choices=["broadcast", "group"], required=True)
    create.add_argument("--venue", default="kantti", help="venue slug, or venue/room")
    create.add_argument("--receivers", help="comma-separated venue slugs showing the session")
    create.add_argument("--private", action="store_true", help="unlisted; joining needs the code")
    create.add_argument("--starts", help="ISO date-time (Europe/Helsinki if no offset); now")
    create.add_argument("--minutes", type=int, default=60)
    create.add_argument("--category", default="other")
    create.add_argument("--organiser", help="organiser slug")
    create.add_argument("--json", action="store_true", help="print JSON")
    create.set_defaults(func=cmd_sessions_create)
    listing = s_sub.add_parser("list", help="list public live and upcoming sessions")
    listing.add_argument("--json", action="store_true")
    listing.add_argument(
        "--lang", default=i18n.DEFAULT_LANGUAGE, choices=i18n.default_catalogs().languages
    )
    listing.set_defaults(func=cmd_sessions_list)

    orgs = sub.add_parser("organisers", help="who produces the activities")
    o_sub = orgs.add_subparsers(dest="organisers_command", required=True)
    o_add = o_sub.add_parser("add", help="add an organiser")
    o_add.add_argument("--name", required=True)
    o_add.add_argument("--kind", required=True, choices=organisers.KINDS)
    o_add.add_argument("--slug", help="short id (made from the name if not given)")
    o_add.add_argument("--contact-person", dest="contact_person", help="library contact person")
    o_add.add_argument("--contact-email", dest="contact_email")
    o_add.add_argument("--json", action="store_true")
    o_add.set_defaults(func=cmd_organisers)
    o_list = o_sub.add_parser("list", help="list organisers")
    o_list.add_argument("--json", action="store_true")
    o_list.set_defaults(func=cmd_organisers)

    areas = sub.add_parser("areas", help="areas and their resident populations")
    a_sub = areas.add_subparsers(dest="areas_command", required=True)
    a_sub.add_parser("list", help="areas with their resident populations").set_defaults(
        func=cmd_areas
    )
    setpop = a_sub.add_parser(
        "set-population", help="the resident population an area's figures are related to"
    )
    setpop.add_argument("slug")
    setpop.add_argument("population", type=int)
    setpop.set_defaults(func=cmd_areas)

    attendance = sub.add_parser("attendance", help="attendance data retention")
    at_sub = attendance.add_subparsers(dest="attendance_command", required=True)
    purge = at_sub.add_parser(
        "purge",
        help="delete the participants and intervals of sessions before DATE "
        "(reports keep their figures)",
    )
    purge.add_argument(
        "--before",
        metavar="DATE",
        help="YYYY-MM-DD, Europe/Helsinki; default: today minus attendance_retention_days",
    )
    purge.add_argument("--dry-run", action="store_true", help="count only, delete nothing")
    purge.set_defaults(func=cmd_attendance_purge)

    docs = sub.add_parser(
        "docs",
        help="check the tables in docs/ generated from the code (settings, commands, error "
        "and close codes); --write regenerates them",
    )
    docs.add_argument("--write", action="store_true", help="rewrite the tables in place")
    docs.set_defaults(func=cmd_docs)

    admin_cli.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, client_addresses=settings.log_client_addresses)
    try:
        result: int = args.func(settings, args)
    except (DBAPIError, OSError) as exc:
        # The database went away or was never there: one line, not a traceback (the URL is
        # not repeated: it may hold a password).
        first = (str(getattr(exc, "orig", None) or exc).splitlines() or [""])[0][:200]
        print(f"error: database: {type(exc).__name__}: {first}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
