"""Request bodies that arrive in pieces: every handler reads the whole body, within limits.

Handlers read ``request.content.read(n)``, which returns what has arrived so far, not ``n``
bytes: a body split across TCP segments was cut at the first segment. aiohttp's test client
writes a small body in one go, so on loopback every test passed; on a real network a 3-6 KB
SDP offer spans several segments and OBS, GStreamer and WHEP players failed at random. These
tests write each body through a raw socket in pieces with pauses between them, framed by
``Content-Length`` and as ``Transfer-Encoding: chunked``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import json
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from aiortc import RTCSessionDescription

from stream_server.app import CLIENT_MAX_SIZE, create_app
from stream_server.basics import CITY_TZ, utcnow
from stream_server.catalog import programme
from stream_server.config import PROJECT_ROOT, Settings
from stream_server.devices import service as devices_service
from stream_server.web.auth import STAFF_COOKIE
from stream_server.web.json_body import MAX_JSON_BYTES
from stream_server.web.keys import DATABASE, LEDGER, SETTINGS
from tests.conftest import Devices, Sessions, Staff
from tests.peers import Publisher, Viewer, wait_until
from tests.raw_http import FRAMINGS, RawConnection, RawResponse, send_in_pieces, split

#: Small enough that an oversized offer is quick to send; real offers are 3-6 KB.
MAX_SDP = 16384
#: The body deadline of the ``impatient`` app, for the tests of bodies that do not arrive.
IMPATIENT_SECONDS = 0.5
KEY = "k" * 24


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A deadline far longer than any body below takes to arrive (about a second at most).
    return settings.replace(max_sdp_bytes=MAX_SDP, body_read_timeout_seconds=5.0)


@pytest.fixture
async def impatient(aiohttp_client: Any, settings: Settings) -> TestClient:
    """A server that waits only ``IMPATIENT_SECONDS`` for a whole body."""
    app = create_app(settings.replace(body_read_timeout_seconds=IMPATIENT_SECONDS))
    client: TestClient = await aiohttp_client(app)
    return client


def address(client: TestClient) -> tuple[str, int]:
    return str(client.host), int(client.port)


async def send(
    client: TestClient,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    framing: str,
    pieces: int = 4,
) -> RawResponse:
    """``body`` in ``pieces`` pieces, each written on its own after a pause."""
    size = max(1, math.ceil(len(body) / pieces))
    return await send_in_pieces(
        address(client), method, path, body, headers, framing=framing, piece_size=size
    )


# -- WHIP and WHEP ------------------------------------------------------------------------------
@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("kind", ["whip", "whep"])
async def test_an_offer_sent_in_pieces_is_answered(
    client: TestClient, sessions: Sessions, kind: str, framing: str
) -> None:
    """A genuine offer split across TCP segments was cut at the first segment and refused
    with ``400 invalid_sdp: video section has no DTLS fingerprint``."""
    created = await sessions.create()
    sid = created.session.id
    peer = Publisher() if kind == "whip" else Viewer()
    try:
        await peer.pc.setLocalDescription(await peer.pc.createOffer())
        offer = peer.pc.localDescription.sdp.encode()
        assert len(offer) > 2000  # several pieces of 700 bytes, as on a real network
        headers = {"Content-Type": "application/sdp"}
        if kind == "whip":
            headers["Authorization"] = f"Bearer {created.publish_token}"
        response = await send_in_pieces(
            address(client),
            "POST",
            f"/{kind}/{sid}",
            offer,
            headers,
            framing=framing,
            piece_size=700,
        )
        assert response.status == 201, response.body
        assert response.headers["Content-Type"].startswith("application/sdp")
        assert response.headers["Location"].startswith(f"/{kind}/{sid}/")
        await peer.pc.setRemoteDescription(RTCSessionDescription(response.body.decode(), "answer"))
    finally:
        await peer.close()


async def test_the_offer_of_the_issue_in_two_pieces_200_ms_apart(
    client: TestClient, sessions: Sessions
) -> None:
    """The reported case: a WHEP offer sent as 1,000 bytes, then the rest 200 ms later, got
    400 invalid_sdp while the same offer in one piece got 201."""
    sid = (await sessions.create()).session.id
    viewer = Viewer()
    try:
        await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
        offer = viewer.pc.localDescription.sdp.encode()
        response = await send_in_pieces(
            address(client),
            "POST",
            f"/whep/{sid}",
            offer,
            {"Content-Type": "application/sdp"},
            framing="content-length",
            pieces=[offer[:1000], offer[1000:]],
            pause=0.2,
        )
        assert response.status == 201, response.body
    finally:
        await viewer.close()


# -- the JSON routes ----------------------------------------------------------------------------
@dataclass
class Fixtures:
    client: TestClient
    sessions: Sessions
    staff: Staff
    devices: Devices

    async def staff_token(self) -> dict[str, str]:
        await self.staff.add()
        return {"Authorization": f"Bearer {await self.staff.api_token()}"}

    async def staff_cookie(self) -> tuple[dict[str, str], str]:
        """A logged-in staff member's cookie header, and the login's CSRF token."""
        csrf = await self.staff.login()
        cookies = self.client.session.cookie_jar.filter_cookies(self.client.make_url("/"))
        return {"Cookie": f"{STAFF_COOKIE}={cookies[STAFF_COOKIE].value}"}, csrf


@dataclass
class Case:
    """One request to send in pieces, and what a complete body gets."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    #: Checks the answer further (the body must have been read in full to get it).
    check: Callable[[RawResponse], None] = field(default=lambda response: None)


def json_case(
    path: str,
    headers: dict[str, str],
    body: dict[str, Any],
    status: int,
    check: Callable[[RawResponse], None] = lambda response: None,
) -> Case:
    return Case(
        path,
        {"Content-Type": "application/json", **headers},
        json.dumps(body).encode(),
        status,
        check,
    )


async def headcount(f: Fixtures) -> Case:
    sid = (await f.sessions.create()).session.id

    def check(response: RawResponse) -> None:
        assert response.json()["headcount"]["count"] == 12

    return json_case(
        f"/api/sessions/{sid}/headcount",
        await f.staff_token(),
        {"venue": "kantti", "count": 12},
        201,
        check,
    )


async def area_population(f: Fixtures) -> Case:
    await f.sessions.create()  # loads the areas

    def check(response: RawResponse) -> None:
        assert response.json()["population"] == 20000

    return json_case("/api/areas/north", await f.staff_token(), {"population": 20000}, 200, check)


async def survey_answer(f: Fixtures) -> Case:
    sid = (await f.sessions.create()).session.id
    await f.client.app[LEDGER].join(sid, "browser", attendee_key=KEY)

    def check(response: RawResponse) -> None:
        assert response.json() == {"ok": True, "channel": "browser"}

    return json_case(
        f"/api/sessions/{sid}/survey", {}, {"score": 4, "attendee_key": KEY}, 201, check
    )


async def recording_control(f: Fixtures) -> Case:
    created = await f.sessions.create()

    def check(response: RawResponse) -> None:
        assert response.json() == {"recording": False, "since": None}

    return json_case(
        f"/api/sessions/{created.session.id}/recording",
        {"Authorization": f"Bearer {created.publish_token}"},
        {"on": False},
        200,
        check,
    )


async def device_heartbeat(f: Fixtures) -> Case:
    token = await f.devices.add("puijonlaakso", "kiosk", "ryhmatila")

    def check(response: RawResponse) -> None:
        assert response.json()["ok"] is True

    return json_case(
        "/api/device/heartbeat",
        {"Authorization": f"Bearer {token}"},
        {"state": "idle", "session_id": None, "detail": "waiting for the next session"},
        200,
        check,
    )


# -- the programme (issue 12) --------------------------------------------------------------------
def next_monday() -> dt.date:
    today = utcnow().astimezone(CITY_TZ).date()
    return today + dt.timedelta(days=7 - today.weekday())


async def weekly(f: Fixtures, **fields: Any) -> dict[str, Any]:
    """A weekly series of three at KANTTI's Kohtaamo, made as the command line would."""
    await f.sessions.create(venue="pyoro")  # loads the reference data
    body = {
        "title": "Lukupiiri",
        "venue": "kantti",
        "room": "kohtaamo",
        "starts": f"{next_monday()}T18:00",
        "recurrence": {"weekdays": ["mo"], "count": 3},
        **fields,
    }
    async with f.client.app[DATABASE].session() as db:
        created = await programme.create(db, None, body)
        return created.as_json(utcnow())


def programme_case(
    method: str, path: str, body: dict[str, Any], status: int, **expected: Any
) -> Callable[[Fixtures], Awaitable[Case]]:
    """A programme call with an admin's token; the answer carries ``expected`` (read from
    the body's last field, so a body cut short cannot give it)."""

    async def make(f: Fixtures) -> Case:
        series = await weekly(f)
        ids = [o["id"] for o in series["occurrences"]]
        names = {"S": ids[0], "S2": ids[1], "SERIES": series["series_id"]}
        filled = json.loads(json.dumps(body) % names) if "%" in json.dumps(body) else body

        def check(response: RawResponse) -> None:
            answer = response.json()
            for key, value in expected.items():
                assert answer[key] == value, answer

        return json_case(path % names, await f.staff_token(), filled, status, check)

    return make


async def invitation(f: Fixtures) -> Case:
    group = await weekly(f, visibility="private", mode="group")
    token = await f.devices.add("kantti", "tablet")
    async with f.client.app[DATABASE].session() as db:
        device = await devices_service.identify_device(db, token)
    return json_case(
        f"/api/sessions/{group['id']}/invitations",
        await f.staff_token(),
        {"device": device.id},
        201,
    )


#: Every route that reads a JSON body (a test below checks that none is missing).
JSON_ROUTES: dict[str, Callable[[Fixtures], Awaitable[Case]]] = {
    "POST /api/sessions/{session_id}/headcount": headcount,
    "PUT /api/areas/{slug}": area_population,
    "POST /api/sessions/{session_id}/survey": survey_answer,
    "POST /api/sessions/{session_id}/recording": recording_control,
    "POST /api/device/heartbeat": device_heartbeat,
    "POST /api/sessions": programme_case(
        "POST",
        "/api/sessions",
        {
            "title": "Tuolijumppa",
            "venue": "kantti",
            "room": "paja",
            "starts": f"{next_monday()}T10:00",
            "minutes": 45,
            "recurrence": {"weekdays": ["tu", "th"], "count": 4},
        },
        201,
    ),
    "PATCH /api/sessions/{session_id}": programme_case(
        "PATCH", "/api/sessions/%(S)s", {"minutes": 45, "title": "Lukupiiri ja kahvit"}, 200
    ),
    "PATCH /api/series/{series_id}": programme_case(
        "PATCH", "/api/series/%(SERIES)s", {"from": "%(S2)s", "title": "Kevään lukupiiri"}, 200
    ),
    "POST /api/sessions/{session_id}/cancel": programme_case(
        "POST",
        "/api/sessions/%(S)s/cancel",
        {"reason": "Vetäjä sairastui"},
        200,
        cancel_reason="Vetäjä sairastui",
    ),
    "POST /api/series/{series_id}/cancel": programme_case(
        "POST", "/api/series/%(SERIES)s/cancel", {"from": "%(S2)s", "reason": "Kesätauko"}, 200
    ),
    "POST /api/sessions/{session_id}/invitations": invitation,
    "POST /api/programme/copy-week": programme_case(
        "POST", "/api/programme/copy-week", {"week": str(next_monday())}, 200
    ),
    "POST /api/organisers": programme_case(
        "POST",
        "/api/organisers",
        {"kind": "association", "name": "Kuopion Martat ry"},
        201,
        name="Kuopion Martat ry",
    ),
    "PATCH /api/organisers/{slug}": programme_case(
        "PATCH",
        "/api/organisers/kotihoito",
        {"contact_person": "Liisa Koskinen"},
        200,
        contact_person="Liisa Koskinen",
    ),
}


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("route", list(JSON_ROUTES))
async def test_every_json_route_reads_a_body_sent_in_pieces(
    client: TestClient,
    sessions: Sessions,
    staff: Staff,
    devices: Devices,
    route: str,
    framing: str,
) -> None:
    """A JSON body split across TCP segments was cut at the first one: 400 invalid_json."""
    case = await JSON_ROUTES[route](Fixtures(client, sessions, staff, devices))
    method = route.split()[0]
    response = await send(client, method, case.path, case.body, case.headers, framing)
    assert response.status == case.status, response.body
    case.check(response)


# -- the forms ----------------------------------------------------------------------------------
def form_case(path: str, headers: dict[str, str], fields: list[tuple[str, str]], **kw: Any) -> Case:
    content_type = {"Content-Type": "application/x-www-form-urlencoded"}
    return Case(path, {**content_type, **headers}, urlencode(fields).encode(), **kw)


def redirects_to(location: str) -> Callable[[RawResponse], None]:
    def check(response: RawResponse) -> None:
        assert response.headers["Location"] == location

    return check


async def staff_login(f: Fixtures) -> Case:
    await f.staff.add("anna")

    def check(response: RawResponse) -> None:
        assert response.headers["Location"] == "/api/staff/me"
        assert response.headers["Set-Cookie"].startswith(f"{STAFF_COOKIE}=")

    # The password comes last: a form cut short fails the login (401).
    fields = [("name", "anna"), ("next", "/api/staff/me"), ("password", Staff.PASSWORD)]
    return form_case("/staff/login", {}, fields, status=303, check=check)


async def staff_logout(f: Fixtures) -> Case:
    cookie, csrf = await f.staff_cookie()
    fields = [("csrf_token", csrf)]
    return form_case(
        "/staff/logout", cookie, fields, status=303, check=redirects_to("/staff/login")
    )


async def area_form(f: Fixtures) -> Case:
    cookie, csrf = await f.staff_cookie()
    await f.sessions.create()  # loads the areas
    # The CSRF token comes last: a form cut short is refused (403 csrf_failed).
    fields = [("population-north", "15 000"), ("population-south", "21000"), ("csrf_token", csrf)]
    saved = redirects_to("/staff/areas?saved=1")
    return form_case("/staff/areas", cookie, fields, status=303, check=saved)


async def device_registration(f: Fixtures) -> Case:
    cookie, csrf = await f.staff_cookie()
    await f.sessions.create()  # loads the venues and rooms

    def check(response: RawResponse) -> None:
        assert b"created-token" in response.body

    fields = [
        ("venue", "puijonlaakso"),
        ("room", "puijonlaakso/ryhmatila"),
        ("kind", "kiosk"),
        ("name", "Aula"),
        ("csrf_token", csrf),
    ]
    return form_case("/staff/devices", cookie, fields, status=201, check=check)


async def device_revocation(f: Fixtures) -> Case:
    cookie, csrf = await f.staff_cookie()
    await f.devices.add("puijonlaakso", "kiosk", "ryhmatila")
    async with f.client.app[DATABASE].session() as db:
        (device,) = await devices_service.list_devices(db)
    path = f"/staff/devices/{device.id}/revoke"
    fields = [("csrf_token", csrf)]
    return form_case(
        path, cookie, fields, status=303, check=redirects_to("/staff/devices?revoked=1")
    )


async def device_restoration(f: Fixtures) -> Case:
    cookie, csrf = await f.staff_cookie()
    await f.devices.add("puijonlaakso", "kiosk", "ryhmatila")
    await f.devices.revoke_all()
    async with f.client.app[DATABASE].session() as db:
        (device,) = await devices_service.list_devices(db)
    path = f"/staff/devices/{device.id}/restore"
    fields = [("csrf_token", csrf)]
    return form_case(path, cookie, fields, status=303, check=redirects_to("/staff/devices"))


async def recording_deletion(f: Fixtures) -> Case:
    cookie, csrf = await f.staff_cookie()
    directory = f.client.app[SETTINGS].recordings_dir
    directory.mkdir(parents=True, exist_ok=True)
    name = "abc123-20261203T090000Z.mkv"
    (directory / name).write_bytes(b"\x1a\x45\xdf\xa3 a stand-in recording")
    path = f"/staff/recordings/{name}/delete"
    fields = [("csrf_token", csrf)]

    def check(response: RawResponse) -> None:
        assert response.headers["Location"].startswith("/staff/recordings")
        assert not (directory / name).exists()

    return form_case(path, cookie, fields, status=303, check=check)


def programme_form(
    path: str, fields: list[tuple[str, str]], status: int
) -> Callable[[Fixtures], Awaitable[Case]]:
    """A planning form (or a staff action) sent with a login cookie, the CSRF token last."""

    async def make(f: Fixtures) -> Case:
        series = await weekly(f)
        ids = [o["id"] for o in series["occurrences"]]
        names = {"S": ids[0], "SERIES": series["series_id"]}
        cookie, csrf = await f.staff_cookie()
        filled = [(name, value % names) for name, value in fields]
        return form_case(path % names, cookie, [*filled, ("csrf_token", csrf)], status=status)

    return make


SESSION_FORM = [
    ("title", "Lukupiiri"),
    ("description", ""),
    ("category", "discussion"),
    ("room", "kantti/paja"),
    ("organiser", ""),
    ("date", str(next_monday() + dt.timedelta(days=1))),
    ("time", "12:00"),
    ("minutes", "60"),
    ("mode", "group"),
    ("visibility", "public"),
    ("online", "1"),
]


async def tablet_invitation_form(f: Fixtures) -> Case:
    group = await weekly(f, visibility="private", mode="group")
    token = await f.devices.add("kantti", "tablet")
    async with f.client.app[DATABASE].session() as db:
        device = await devices_service.identify_device(db, token)
    cookie, csrf = await f.staff_cookie()
    fields = [("device", str(device.id)), ("csrf_token", csrf)]
    return form_case(f"/staff/programme/sessions/{group['id']}/invite", cookie, fields, status=303)


#: Every route that reads a form: the handlers that call ``read_form`` and the staff actions
#: whose only field is the CSRF token (a test below checks that none is missing).
FORM_ROUTES: dict[str, Callable[[Fixtures], Awaitable[Case]]] = {
    "POST /staff/login": staff_login,
    "POST /staff/logout": staff_logout,
    "POST /staff/areas": area_form,
    "POST /staff/devices": device_registration,
    "POST /staff/devices/{device_id}/revoke": device_revocation,
    "POST /staff/devices/{device_id}/restore": device_restoration,
    "POST /staff/recordings/{name}/delete": recording_deletion,
    "POST /staff/programme/new": programme_form("/staff/programme/new", SESSION_FORM, 201),
    "POST /staff/programme/sessions/{session_id}": programme_form(
        "/staff/programme/sessions/%(S)s", [*SESSION_FORM, ("scope", "one")], 303
    ),
    "POST /staff/programme/sessions/{session_id}/cancel": programme_form(
        "/staff/programme/sessions/%(S)s/cancel", [("scope", "one"), ("reason", "Sairaus")], 303
    ),
    # Not live: 409 (the body was read to find the CSRF token first).
    "POST /staff/programme/sessions/{session_id}/end": programme_form(
        "/staff/programme/sessions/%(S)s/end", [], 409
    ),
    "POST /staff/programme/sessions/{session_id}/links": programme_form(
        "/staff/programme/sessions/%(S)s/links", [("scope", "series")], 201
    ),
    "POST /staff/programme/sessions/{session_id}/invite": tablet_invitation_form,
    "POST /staff/programme/undo": programme_form("/staff/programme/undo", [], 303),
    "POST /staff/programme/copy-week": programme_form(
        "/staff/programme/copy-week", [("week", str(next_monday()))], 303
    ),
    "POST /staff/organisers": programme_form(
        "/staff/organisers", [("kind", "association"), ("name", "Kuopion Martat ry")], 303
    ),
    "POST /staff/organisers/{slug}": programme_form(
        "/staff/organisers/kotihoito",
        [("name", "Kotihoito"), ("kind", "city"), ("contact_person", "Liisa")],
        303,
    ),
    # JSON routes that take no body: a cookie's CSRF token may come as a form.
    "POST /api/programme/undo": programme_form("/api/programme/undo", [], 409),
    "POST /api/sessions/{session_id}/end": programme_form("/api/sessions/%(S)s/end", [], 409),
}


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("route", list(FORM_ROUTES))
async def test_every_form_is_read_when_sent_in_pieces(
    client: TestClient,
    sessions: Sessions,
    staff: Staff,
    devices: Devices,
    route: str,
    framing: str,
) -> None:
    """aiohttp's ``request.post()`` reads the whole body; this checks it, for every form, with
    the CSRF token or the password in the last piece."""
    case = await FORM_ROUTES[route](Fixtures(client, sessions, staff, devices))
    response = await send(client, "POST", case.path, case.body, case.headers, framing)
    assert response.status == case.status, response.body
    case.check(response)


def handler_key(route: web.AbstractRoute) -> str:
    assert route.resource is not None
    return f"{route.method} {route.resource.canonical}"


def test_the_tables_name_every_handler_that_reads_a_body(app: web.Application) -> None:
    """A body reader added later must be tested in pieces too: the tables above list them all
    (a staff action reads a form for its CSRF token even when it has no other field)."""
    json_readers, sdp_readers, form_readers = set(), set(), set()
    for route in app.router.routes():
        source = inspect.getsource(route.handler)
        key = handler_key(route)
        if "read_json_object(" in source:
            json_readers.add(key)
        elif "read_sdp(" in source:
            sdp_readers.add(key)
        elif "read_form(" in source or (
            route.method in ("POST", "PUT") and "require_staff(" in source
        ):
            form_readers.add(key)
    assert json_readers == set(JSON_ROUTES)
    assert sdp_readers == {"POST /whip/{session_id}", "POST /whep/{session_id}"}
    assert form_readers == set(FORM_ROUTES)


def test_only_the_bodies_module_reads_request_bodies() -> None:
    """One rule for every body: nothing else reads ``request.content`` or calls aiohttp's
    whole-body readers, which have no deadline."""
    pattern = re.compile(r"request\.(content\b|post\(|read\(|text\(|json\(|multipart\()")
    offenders = []
    for path in sorted((PROJECT_ROOT / "stream_server").rglob("*.py")):
        if path == PROJECT_ROOT / "stream_server" / "web" / "bodies.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}")
    assert offenders == []


@asynccontextmanager
async def sending(
    connection: RawConnection, pieces: list[bytes], *, chunked: bool, pause: float
) -> AsyncIterator[None]:
    """Keep writing ``pieces`` while the test waits for the answer; stop writing after."""
    task = asyncio.create_task(connection.pieces(pieces, chunked=chunked, pause=pause))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- limits: size -------------------------------------------------------------------------------
@dataclass
class Limit:
    path: str
    content_type: str
    limit: int
    code: str

    def body(self, size: int) -> bytes:
        if self.content_type == "application/sdp":
            start = b"v=0\r\na=x-padding:"
        elif self.content_type == "application/json":
            start = b'{"score": 5, "pad": "'
        else:
            start = b"name=anna&pad="
        return start + b"x" * (size - len(start))


#: Each kind of body with its limit. The handlers read the body before anything else, so
#: the session named need not exist.
LIMITS = {
    "sdp": Limit("/whep/no-such-session", "application/sdp", MAX_SDP, "sdp_too_large"),
    "json": Limit(
        "/api/sessions/no-such-session/survey", "application/json", MAX_JSON_BYTES, "too_large"
    ),
    "form": Limit(
        "/staff/login", "application/x-www-form-urlencoded", CLIENT_MAX_SIZE, "too_large"
    ),
}


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("kind", list(LIMITS))
async def test_an_oversized_body_arriving_slowly_is_refused_before_it_ends(
    client: TestClient, kind: str, framing: str
) -> None:
    """413 as soon as the body is known to be too large: at once when Content-Length says so,
    otherwise when the chunks received pass the limit; the connection then closes."""
    limit = LIMITS[kind]
    body = limit.body(4 * limit.limit)
    pieces = split(body, limit.limit // 4)  # 16 pieces, 0.15 s apart
    connection = await RawConnection.open(*address(client))
    try:
        headers = {"Content-Type": limit.content_type}
        if framing == "content-length":
            headers["Content-Length"] = str(len(body))
        await connection.head("POST", limit.path, headers, framing=framing)
        async with sending(connection, pieces, chunked=framing == "chunked", pause=0.15):
            response = await connection.response()
            sent_when_refused = connection.sent
        assert response.status == 413, response.body
        assert response.error_code == limit.code
        assert response.headers["Connection"] == "close"
        if framing == "content-length":
            assert sent_when_refused <= limit.limit  # refused on the announced length
        else:
            assert limit.limit < sent_when_refused < len(body)
        assert await connection.closed_by_server(timeout=3.0), "the connection was left open"
    finally:
        await connection.close()


@pytest.mark.parametrize("extra", [0, 1])
async def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_not(
    client: TestClient, sessions: Sessions, extra: int
) -> None:
    """The limit is inclusive and counts every piece together, not each piece alone."""
    sid = (await sessions.create()).session.id
    await client.app[LEDGER].join(sid, "browser", attendee_key=KEY)
    start = json.dumps({"score": 3, "attendee_key": KEY, "pad": ""}).encode()[:-2]
    body = start + b"x" * (MAX_JSON_BYTES + extra - len(start) - 2) + b'"}'
    assert len(body) == MAX_JSON_BYTES + extra
    response = await send(
        client,
        "POST",
        f"/api/sessions/{sid}/survey",
        body,
        {"Content-Type": "application/json"},
        "chunked",
    )
    if extra:
        assert (response.status, response.error_code) == (413, "too_large")
    else:
        assert response.status == 201, response.body


# -- limits: time -------------------------------------------------------------------------------
@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("kind", list(LIMITS))
async def test_a_body_that_stops_arriving_is_refused_with_408(
    impatient: TestClient, kind: str, framing: str
) -> None:
    """A sender that stops half-way through its body held the handler until it went away."""
    limit = LIMITS[kind]
    body = limit.body(2000)
    connection = await RawConnection.open(*address(impatient))
    try:
        headers = {"Content-Type": limit.content_type}
        if framing == "content-length":
            headers["Content-Length"] = str(len(body))
        await connection.head("POST", limit.path, headers, framing=framing)
        await connection.pieces(
            [body[:500], body[500:1000]], chunked=framing == "chunked", last=False
        )
        response = await connection.response()  # and then nothing more is sent
        assert (response.status, response.error_code) == (408, "body_timeout")
        assert IMPATIENT_SECONDS < response.elapsed < IMPATIENT_SECONDS + 3.0
        assert response.headers["Connection"] == "close"
        assert await connection.closed_by_server(timeout=3.0), "the connection was left open"
    finally:
        await connection.close()


@pytest.mark.parametrize("kind", list(LIMITS))
async def test_a_body_trickling_in_is_refused_when_the_whole_takes_too_long(
    impatient: TestClient, kind: str
) -> None:
    """A slow-loris sender keeps every single read short; the deadline is for the whole body."""
    limit = LIMITS[kind]
    body = limit.body(400)
    pieces = split(body, 10)  # 40 pieces, one every 0.1 s: 4 s in all
    connection = await RawConnection.open(*address(impatient))
    try:
        headers = {"Content-Type": limit.content_type, "Content-Length": str(len(body))}
        await connection.head("POST", limit.path, headers, framing="content-length")
        async with sending(connection, pieces, chunked=False, pause=0.1):
            response = await connection.response()
            sent_when_refused = connection.sent
        assert (response.status, response.error_code) == (408, "body_timeout")
        assert sent_when_refused < len(body)
    finally:
        await connection.close()


@pytest.fixture
async def served(app: web.Application) -> AsyncIterator[tuple[str, int]]:
    """The app served as ``kohtaamo serve`` serves it: aiohttp's test server cancels a handler
    whose client went away, ``web.run_app`` lets it run on."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield host, port
    await runner.cleanup()


async def test_a_sender_that_goes_away_mid_body_is_no_server_error(
    served: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    """A disconnection half-way through a body is the sender's doing: an info line
    (400 body_incomplete), not a 500 with a traceback in the error log."""
    limit = LIMITS["sdp"]
    connection = await RawConnection.open(*served)
    headers = {"Content-Type": limit.content_type, "Content-Length": "2000"}
    await connection.head("POST", limit.path, headers, framing="content-length")
    await connection.pieces([limit.body(500)], chunked=False)
    with caplog.at_level("INFO", logger="stream_server.web.errors"):
        await connection.close()
        await wait_until(
            lambda: any("400 body_incomplete" in r.getMessage() for r in caplog.records), 5
        )
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
