"""``kohtaamo staff …`` and ``kohtaamo devices …``: accounts and devices for IT staff."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from stream_server.basics import utcnow
from stream_server.catalog.service import sync_reference_data
from stream_server.config import Settings
from stream_server.db.engine import Database
from stream_server.db.models import StaffRole
from stream_server.devices import service as devices
from stream_server.staff import audit
from stream_server.staff import service as staff


def _run_db(settings: Settings, work: Any) -> Any:
    async def runner() -> Any:
        database = Database(settings.database_url)
        try:
            async with database.session() as db:
                return await work(db)
        finally:
            await database.close()

    return asyncio.run(runner())


def _read_password(confirm: bool = True) -> str:
    """From the terminal (asked twice) or, in scripts, the first line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Again: ") != first:
            raise staff.StaffError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_staff(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if args.staff_command == "add":
            password = _read_password()

            async def add(db: AsyncSession) -> None:
                await sync_reference_data(db)  # a fresh database knows no venues yet
                user = await staff.add_staff(
                    db, args.name, password, args.role, args.venue, args.organiser
                )
                await audit.record(
                    db,
                    None,
                    "add",
                    "staff",
                    user.id,
                    None,
                    {
                        "name": user.name,
                        "role": args.role,
                        "venue": args.venue,
                        "organiser": args.organiser,
                    },
                )

            _run_db(settings, add)
            print(f"staff member {args.name} added ({args.role})")
        elif args.staff_command == "password":
            password = _read_password()
            _run_db(settings, lambda db: staff.set_password(db, args.name, password))
            print(f"password of {args.name} changed; their browser logins ended")
        elif args.staff_command == "token":
            row, token = _run_db(settings, lambda db: staff.issue_api_token(db, args.name))
            print(
                f"# API token {row.id} for {args.name}; shown once. Revoke: "
                f"kohtaamo staff revoke-token {row.id}",
                file=sys.stderr,
            )
            print(token)
        elif args.staff_command == "revoke-token":
            if not _run_db(settings, lambda db: staff.revoke_api_token(db, args.token_id)):
                print(f"error: no active API token {args.token_id}", file=sys.stderr)
                return 2
            print(f"API token {args.token_id} revoked")
        elif args.staff_command == "list":
            users = _run_db(settings, staff.list_staff)
            tokens = _run_db(settings, staff.list_api_tokens)
            for user in users:
                state = "disabled" if user.disabled_at else "active"
                print(
                    f"{user.name:24} {user.role.value:11} {state:8} "
                    f"since {user.created_at:%Y-%m-%d}"
                )
            for token, name in tokens:
                state = "revoked" if token.revoked_at else "active"
                used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
                print(f"  token {token.id:<4} {name:18} {state:8} last used {used}")
    except staff.StaffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_devices(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if args.devices_command == "add":

            async def add(db: AsyncSession) -> devices.NewDevice:
                await sync_reference_data(db)  # a fresh database knows no venues yet
                return await devices.add_device(
                    db, args.venue, args.kind, args.room, args.name or ""
                )

            new = _run_db(settings, add)
            data: dict[str, Any] = devices.device_to_json(new.device)
            data["token"] = new.token
            data["enrol_url"] = args.base_url.rstrip("/") + devices.enrol_path(
                new.device.kind, new.token
            )
            if args.json:
                print(json.dumps(data, ensure_ascii=False, indent=2))
            else:
                print(
                    f"device {new.device.id} ({data['kind']}, {data['venue']}"
                    f"/{data['room'] or '-'}) registered; its token is shown once:"
                )
                print(new.token)
                print(f"enrolment link: {data['enrol_url']}")
        elif args.devices_command == "list":
            rows = _run_db(settings, devices.list_devices)
            now = utcnow()
            listing = [devices.device_to_json(d, now) for d in rows]
            if args.json:
                print(json.dumps(listing, ensure_ascii=False, indent=2))
            for item in [] if args.json else listing:
                state = (
                    "revoked" if item["revoked"] else ("online" if item["online"] else "offline")
                )
                where = f"{item['venue']}/{item['room'] or '-'}"
                print(f"{item['id']:>4} {item['kind']:9} {where:28} {state:8} {item['name']}")
        elif args.devices_command == "revoke":
            if not _run_db(settings, lambda db: devices.revoke_device(db, args.device_id)):
                print(f"error: no active device {args.device_id}", file=sys.stderr)
                return 2
            print(
                f"device {args.device_id} revoked; it is refused from now on and the running "
                "server closes its live connections at its next attendance heartbeat"
            )
        elif args.devices_command == "invite":
            _run_db(settings, lambda db: devices.invite(db, args.device_id, args.session_id))
            print(f"session {args.session_id} is on device {args.device_id}'s home screen")
    except devices.DeviceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def add_commands(sub: Any) -> None:
    """Register the ``staff`` and ``devices`` sub-commands on the main parser."""
    people = sub.add_parser("staff", help="staff accounts and API tokens")
    p_sub = people.add_subparsers(dest="staff_command", required=True)
    add = p_sub.add_parser("add", help="create an account; the password is read from stdin")
    add.add_argument("name")
    add.add_argument(
        "--role",
        choices=[role.value for role in StaffRole],
        default=StaffRole.ADMIN.value,
        help="admin (default), staff (all venues), librarian (--venue), coordinator (--organiser)",
    )
    add.add_argument("--venue", help="a librarian's venue slug")
    add.add_argument("--organiser", help="a coordinator's organiser slug")
    pw = p_sub.add_parser("password", help="set a new password (read from stdin)")
    pw.add_argument("name")
    token = p_sub.add_parser("token", help="print a new revocable API token for NAME")
    token.add_argument("name")
    revoke = p_sub.add_parser("revoke-token", help="revoke an API token by its number")
    revoke.add_argument("token_id", type=int)
    p_sub.add_parser("list", help="accounts and API tokens")
    people.set_defaults(func=cmd_staff)

    devs = sub.add_parser("devices", help="kiosks, home-care tablets and room links")
    d_sub = devs.add_subparsers(dest="devices_command", required=True)
    d_add = d_sub.add_parser("add", help="register a device and print its token once")
    d_add.add_argument("--venue", required=True, help="venue slug")
    d_add.add_argument("--room", help="room slug (kiosks and room links)")
    d_add.add_argument("--kind", required=True, choices=["kiosk", "tablet", "room-link"])
    d_add.add_argument("--name", help="a label staff recognise, e.g. 'Lava screen'")
    d_add.add_argument("--base-url", default="", help="prefix for the enrolment link")
    d_add.add_argument("--json", action="store_true")
    d_list = d_sub.add_parser("list", help="registered devices and whether they are online")
    d_list.add_argument("--json", action="store_true")
    d_rev = d_sub.add_parser("revoke", help="refuse a device from now on")
    d_rev.add_argument("device_id", type=int)
    d_inv = d_sub.add_parser("invite", help="put a private group on a tablet's home screen")
    d_inv.add_argument("device_id", type=int)
    d_inv.add_argument("session_id")
    devs.set_defaults(func=cmd_devices)
