"""Pages for registered devices and the staff page that registers them.

``/kiosk`` (a Chromebook in kiosk mode, a room screen) and ``/tablet`` (a home-care tablet)
are static shells: the device token arrives in the URL fragment, which never reaches the
server, and the page scripts use it against the device API (``/api/device/...``) and the
signaling WebSocket. ``/staff/devices`` lists, registers and revokes devices.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import segno
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from stream_server.catalog import service as catalog
from stream_server.config import PROJECT_ROOT
from stream_server.db.models import Session, StaffRole, Venue
from stream_server.devices import service as devices
from stream_server.errors import OutOfScope
from stream_server.staff import audit, scope
from stream_server.staff.service import StaffIdentity
from stream_server.web.auth import require_staff, require_staff_page
from stream_server.web.bodies import read_form
from stream_server.web.keys import DATABASE, LIVE, SETTINGS
from stream_server.web.rendering import (
    absolute_url,
    link,
    out_of_scope_page,
    render,
    translator,
)
from stream_server.web.staff_pages import staff_page_context

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()

#: A kiosk joins this long before the start (``?lead=`` minutes overrides it); at most as
#: early as the doors open (the ``doors_open_minutes`` setting).
KIOSK_LEAD_MINUTES = 5.0
#: Seconds between heartbeats (the staff list shows a device offline after 90 s of silence).
HEARTBEAT_SECONDS = 30
#: How long a kiosk keeps the smileys up after a session before returning to the programme.
KIOSK_SURVEY_SECONDS = 180
DEVICE_KINDS = ("kiosk", "room-link", "tablet")
SERVICE_WORKER = PROJECT_ROOT / "web" / "static" / "js" / "kiosk-sw.js"


def _lead_minutes(request: web.Request) -> float:
    raw = request.query.get("lead")
    if raw is None:
        return KIOSK_LEAD_MINUTES
    try:
        value = float(raw)
    except ValueError:
        return KIOSK_LEAD_MINUTES
    if value != value:  # NaN
        return KIOSK_LEAD_MINUTES
    return max(0.0, min(value, request.app[SETTINGS].doors_open_minutes))


def _device_page(request: web.Request, page: str, extra: dict[str, Any]) -> web.Response:
    tr = translator(request)
    config: dict[str, Any] = {
        "lang": tr.lang,
        "page": page,
        "heartbeat_seconds": HEARTBEAT_SECONDS,
        "messages": tr.messages(),
    }
    config.update(extra)
    response = render(
        request,
        f"{page}.html",
        {
            "title": tr(f"{page}.title"),
            "config": config,
            "page_scripts": [f"js/{page}.js"],
            "extra_styles": ["kiosk.css"],
        },
    )
    # The page holds a bearer token in local storage: nothing else may frame or embed it.
    response.headers["X-Frame-Options"] = "DENY"
    return response


@routes.get("/kiosk", name="kiosk")
async def kiosk_page(request: web.Request) -> web.Response:
    """A room's screen: today's programme, joins its sessions by itself."""
    return _device_page(
        request,
        "kiosk",
        {
            "lead_seconds": _lead_minutes(request) * 60,
            "survey_seconds": KIOSK_SURVEY_SECONDS,
            # In its own room, a group session gets the room's camera and microphone.
            "publish_room": request.query.get("camera") != "0",
        },
    )


@routes.get("/tablet", name="tablet")
async def tablet_page(request: web.Request) -> web.Response:
    """A home-care client's tablet: a week of sessions as large cards, one tap joins."""
    return _device_page(request, "tablet", {"days": 7})


@routes.get("/kiosk-sw.js", name="device_service_worker")
async def device_service_worker(request: web.Request) -> web.StreamResponse:
    """The kiosk/tablet service worker, served from the root so it may control /kiosk and
    /tablet (a worker's scope cannot be above its own path)."""
    return web.FileResponse(
        SERVICE_WORKER,
        headers={"Content-Type": "text/javascript", "Cache-Control": "no-cache"},
    )


# -- staff: devices -----------------------------------------------------------------------------
def qr_data_uri(url: str) -> str:
    """The enrolment link as an SVG QR code (a data URI: the page CSP allows ``data:``)."""
    return str(segno.make(url, error="m").svg_data_uri(scale=6, border=4, dark="#000"))


async def _venues(request: web.Request, identity: StaffIdentity) -> list[dict[str, Any]]:
    """The venues this staff member may register devices at (a librarian: their own)."""
    async with request.app[DATABASE].session() as db:
        query = select(Venue).options(selectinload(Venue.rooms)).order_by(Venue.name)
        if not scope.everywhere(identity):
            query = query.where(Venue.id == identity.venue_id)
        venues = (await db.scalars(query)).all()
        return [
            {
                "slug": v.slug,
                "name": v.name,
                "rooms": [{"slug": r.slug, "name": r.name} for r in v.rooms],
            }
            for v in venues
        ]


async def _devices_page(
    request: web.Request,
    identity: StaffIdentity,
    *,
    created: dict[str, Any] | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    tr = translator(request)
    now = catalog.utcnow()
    async with request.app[DATABASE].session() as db:
        rows = [
            devices.device_to_json(d, now)
            for d in await devices.list_devices(db)
            if scope.may_manage_device(identity, d)
        ]
        # What a room device is doing, by the session's title (its id means nothing to staff).
        ids = {row["session_id"] for row in rows if row.get("session_id")}
        titles: dict[str, str] = {}
        if ids:
            found = await db.execute(select(Session.id, Session.title).where(Session.id.in_(ids)))
            titles = {sid: title for sid, title in found.all()}
    just_revoked = request.query.get("revoked")
    undo = next((r for r in rows if str(r["id"]) == just_revoked and r["revoked"]), None)
    for row in rows:
        sid = row.get("session_id")
        row["session_title"] = titles.get(sid, sid) if sid else None
        if row.get("last_seen_at"):
            seen = dt.datetime.fromisoformat(row["last_seen_at"])
            row["last_seen_local"] = tr.datetime(seen, now)
        row["state_label"] = tr(f"devices.state.{row['state']}") if row.get("state") else None
    return render(
        request,
        "staff_devices.html",
        {
            **staff_page_context(request, identity, "/staff/devices", "devices.title"),
            "devices": rows,
            "venues": await _venues(request, identity),
            "kinds": DEVICE_KINDS,
            "created": created,
            "error": error,
            "undo": undo,
            "form": form or dict.fromkeys(("venue", "room", "kind", "name"), ""),
        },
        status=status,
    )


@routes.get("/staff/devices", name="staff_devices")
async def staff_devices(request: web.Request) -> web.Response:
    identity = await require_staff_page(request)
    if identity.role == StaffRole.COORDINATOR:
        return out_of_scope_page(request)
    return await _devices_page(request, identity)


@routes.post("/staff/devices")
async def register_device(request: web.Request) -> web.Response:
    """Register a device; the token is shown on this response only (never stored in clear)."""
    identity = await require_staff(request)
    if identity.role == StaffRole.COORDINATOR:
        raise OutOfScope("coordinators do not register devices")
    form = await read_form(request)
    values = {k: str(form.get(k, "")).strip()[:120] for k in ("venue", "room", "kind", "name")}
    # The room list names rooms as venue/room (room slugs repeat across libraries).
    room_venue, _, room = values["room"].rpartition("/")
    try:
        if room_venue and room_venue != values["venue"]:
            raise devices.DeviceError(f"room {values['room']!r} is not at {values['venue']!r}")
        async with request.app[DATABASE].session() as db:
            new = await devices.add_device(
                db, values["venue"], values["kind"], room or None, values["name"]
            )
            scope.require_register_device(identity, new.device.venue_id)
            device = devices.device_to_json(new.device)
            await audit.record(db, identity, "register", "device", new.device.id, None, device)
    except devices.DeviceError as exc:
        logger.info("staff %s: device registration refused: %s", identity.name, exc)
        return await _devices_page(
            request,
            identity,
            error=translator(request)("devices.form_error", reason=str(exc)),
            form=values,
            status=400,
        )
    path = devices.enrol_path(new.device.kind, new.token)
    url = absolute_url(request, path)
    logger.info("staff %s registered device %d (%s)", identity.name, device["id"], device["kind"])
    created = {"device": device, "token": new.token, "url": url, "qr": qr_data_uri(url)}
    return await _devices_page(request, identity, created=created, status=201)


@routes.get("/staff/devices/{device_id:[0-9]{1,9}}/revoke")
async def confirm_revoke(request: web.Request) -> web.Response:
    """Ask first: revoking stops a screen or a client's tablet at once."""
    identity = await require_staff_page(request)
    async with request.app[DATABASE].session() as db:
        device = await devices.get_device(db, int(request.match_info["device_id"]))
        if device is None:
            raise web.HTTPNotFound(reason="no such device")
        if not scope.may_manage_device(identity, device):
            return out_of_scope_page(request)
        row = devices.device_to_json(device)
    return render(
        request,
        "staff_device_revoke.html",
        {
            **staff_page_context(request, identity, "/staff/devices", "devices.revoke_title"),
            "device": row,
            "back_url": link(request, "/staff/devices"),
            "title": translator(request)("devices.revoke_title"),
        },
    )


@routes.post("/staff/devices/{device_id:[0-9]{1,9}}/restore")
async def restore_device(request: web.Request) -> web.StreamResponse:
    """Undo a revocation made by mistake: the same token works again."""
    identity = await require_staff(request)
    device_id = int(request.match_info["device_id"])
    async with request.app[DATABASE].session() as db:
        device = await devices.get_device(db, device_id)
        if device is None:
            raise web.HTTPNotFound(reason="no such device")
        scope.require_manage_device(identity, device)
        restored = await devices.restore_device(db, device_id)
        if restored:
            await audit.record(db, identity, "restore", "device", device_id)
    logger.info("staff %s restored device %d (%s)", identity.name, device_id, restored)
    raise web.HTTPSeeOther(link(request, "/staff/devices"))


@routes.post("/staff/devices/{device_id:[0-9]{1,9}}/revoke")
async def revoke_device(request: web.Request) -> web.StreamResponse:
    """Revoke at once: live connections close, and every later request is refused.

    The page asks for confirmation first (the GET above) and offers an undo afterwards."""
    identity = await require_staff(request)
    device_id = int(request.match_info["device_id"])
    async with request.app[DATABASE].session() as db:
        device = await devices.get_device(db, device_id)
        if device is None:
            raise web.HTTPNotFound(reason="no such device")
        scope.require_manage_device(identity, device)
        revoked = await devices.revoke_device(db, device_id)
        if revoked:
            await audit.record(db, identity, "revoke", "device", device_id)
    dropped = await request.app[LIVE].drop_device(device_id)
    logger.info(
        "staff %s revoked device %d (%s, %d live connection(s) closed)",
        identity.name,
        device_id,
        revoked,
        dropped,
    )
    target = link(request, "/staff/devices")
    raise web.HTTPSeeOther(f"{target}{'&' if '?' in target else '?'}revoked={device_id}")
