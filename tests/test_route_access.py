"""Every route × every kind of credential: the status each combination gets.

Each role is here too (an admin, city-wide staff, a librarian and a coordinator whose scope
leaves the fixtures out: 403 ``out_of_scope``); tests/test_roles.py has in-scope cases.
The probe found no bypass of a staff route in 567 access-control cases; this table keeps it
so. It walks every route of the app (HEAD is GET's twin and follows it) with no credential, a
wrong one, a revoked one, one of another venue or another session, and each role's, and
asserts the status. A route added without a row here fails
:func:`test_every_route_has_a_row`: a new route needs its access rule written down.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from stream_server.basics import CITY_TZ, utcnow
from stream_server.catalog import programme
from stream_server.config import Settings
from stream_server.devices import service as devices_service
from stream_server.staff import service as staff_service
from stream_server.web.auth import STAFF_COOKIE
from stream_server.web.keys import DATABASE
from tests.conftest import Devices, Sessions, Staff

#: Every kind of credential a request may carry.
CREDENTIALS = (
    "none",
    "wrong-bearer",  # a made-up bearer token
    "wrong-staff",  # ks_… that is no staff token
    "revoked-staff",  # a staff API token that was revoked
    "wrong-device",  # kd_… that is no device
    "revoked-device",  # a kiosk revoked by staff
    "other-venue-device",  # a kiosk at a venue that has no part in the session
    "room-device",  # the kiosk in the session's own room
    "receiving-device",  # a kiosk in a receiving room
    "tablet",  # a home-care tablet
    "host",  # the session's host token
    "publish",  # the session's publish token
    "other-session-host",  # another session's host token
    "join-code",  # the private group's join code
    "other-code",  # another session's join code
    "staff",  # a staff API token (an admin's)
    "city-staff",  # the token of a ``staff`` account (every venue, no audit log)
    "librarian",  # the token of a librarian of another venue (Pyörö)
    "coordinator",  # the token of a coordinator of another organiser (Kotihoito)
    "staff-cookie-no-csrf",  # a staff login cookie without the login's CSRF token
    "staff-cookie",  # the cookie with its CSRF token (last: logging out ends the login)
)
DEVICES = ("room-device", "receiving-device", "tablet", "other-venue-device")
#: Staff API tokens of each role; the admin's is "staff".
BEARERS = ("staff", "city-staff", "librarian", "coordinator")
STAFF = (*BEARERS, "staff-cookie", "staff-cookie-no-csrf")
#: Roles whose scope leaves out the fixtures' sessions at KANTTI by the library.
OUT_OF_SCOPE = ("librarian", "coordinator")


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(CREDENTIALS, status)


def staff_reads(ok: int = 200, other: int = 401) -> dict[str, int]:
    """Staff only (a GET: the CSRF token is not needed)."""
    return {**everyone(other), **dict.fromkeys(STAFF, ok)}


def staff_writes(ok: int) -> dict[str, int]:
    """Staff only; a cookie needs its CSRF token."""
    return {**staff_reads(ok), "staff-cookie-no-csrf": 403}


def scoped(
    rule: dict[str, int], status: int = 403, roles: tuple[str, ...] = OUT_OF_SCOPE
) -> dict[str, int]:
    """``rule``, but the roles whose scope leaves the route's object out get ``status``
    (403 ``out_of_scope``)."""
    return {**rule, **dict.fromkeys(roles, status)}


def admin_only(rule: dict[str, int]) -> dict[str, int]:
    """The audit log: admins only."""
    return scoped(rule, roles=("city-staff", *OUT_OF_SCOPE))


def staff_pages() -> dict[str, int]:
    """Staff pages send everyone else to the login form."""
    return staff_reads(200, 303)


def devices_only(ok: int = 200) -> dict[str, int]:
    """``Authorization: Bearer kd_…`` of a registered device; revoked: 403."""
    return {**everyone(401), **dict.fromkeys(DEVICES, ok), "revoked-device": 403}


def viewers(ok: int, *, private: bool = False) -> dict[str, int]:
    """WHEP's rule: anyone for a public session, the code (or host token) for a private
    one, or a device placed in the session."""
    rule = everyone(403 if private else ok)
    if private:
        # "host" is the public session's host token: no key to the private group.
        rule.update({"none": 401, "join-code": ok})
        rule.update(dict.fromkeys(STAFF, 401))  # a cookie is no bearer: join_code_missing
        rule.update(dict.fromkeys(BEARERS, 403))  # a bearer that is not the code
        # The kiosk in the public session's room has no part in the private group.
        rule.update({"room-device": 403, "receiving-device": 403, "tablet": 403})
    else:
        rule.update({"other-venue-device": 403})
    rule.update({"wrong-device": 401, "revoked-device": 403})
    return rule


def publishers(ok: int) -> dict[str, int]:
    """WHIP's rule: the publish or host token, or the device in the session's own room."""
    rule = everyone(403)
    rule.update({"none": 401, "host": ok, "publish": ok, "room-device": ok})
    rule.update({"wrong-device": 401, "revoked-device": 403})
    rule.update(dict.fromkeys(STAFF, 401))  # cookies carry no bearer: token_missing
    rule.update(dict.fromkeys(BEARERS, 403))  # a bearer that is not the session's token
    return rule


def recording_control(ok: int, write: bool) -> dict[str, int]:
    """The publish or host token, or staff."""
    rule = everyone(403)
    rule.update({"none": 401, "host": ok, "publish": ok})
    rule.update({"wrong-staff": 401, "revoked-staff": 401})  # ks_…: the staff check
    rule.update(dict.fromkeys(STAFF, ok))
    if write:
        rule["staff-cookie-no-csrf"] = 403
    return rule


def headcounts() -> dict[str, int]:
    """Staff, or a room device of a venue of the session (here: the host venue's count)."""
    rule = staff_writes(201)
    rule.update({"wrong-device": 401, "revoked-device": 403, "room-device": 201})
    rule.update({"receiving-device": 403, "other-venue-device": 403, "tablet": 403})
    return rule


def surveys() -> dict[str, int]:
    """Anyone with an attendee key (this one was never counted: 404), or a room device."""
    rule = everyone(404)
    rule.update({"wrong-device": 401, "revoked-device": 403, "other-venue-device": 403})
    rule.update({"room-device": 201, "receiving-device": 201})
    return rule


def host_page() -> dict[str, int]:
    """The host token in ``?token=`` opens the presenter page."""
    return {**everyone(403), "host": 200}


def private_card() -> dict[str, int]:
    """A private group's card or poster: its host token in ``?token=`` (tested in
    tests/test_join_cards.py: no credential here is that group's) or staff who reach it
    (a librarian of another venue or a coordinator of another organiser does not)."""
    return {**everyone(403), **dict.fromkeys(STAFF, 200), **dict.fromkeys(OUT_OF_SCOPE, 403)}


@dataclasses.dataclass(frozen=True)
class Row:
    """How to call a route and what each credential gets."""

    path: str
    expect: dict[str, int]
    method: str = "GET"
    json: Any = None
    form: dict[str, str] | None = None
    sdp: str | None = None
    #: The credential's secret goes in ``?token=`` instead of a header.
    token_in_query: bool = False


S = "{S}"  # the public broadcast
P = "{P}"  # the private group
BAD_SDP = "v=0\r\n"

#: The access rule of every route (HEAD follows GET). Paths name the fixtures' objects.
TABLE: dict[str, list[Row]] = {
    "GET /": [
        Row("/", everyone(200)),
        Row("/?venue=nilsia&view=board", everyone(200)),
        Row("/?venue=nilsia&view=board&fragment=1", everyone(200)),
    ],
    # Public and non-identifying: a change counter for notice boards.
    "GET /api/programme/events": [Row("/api/programme/events", everyone(200))],
    "GET /saavutettavuus": [Row("/saavutettavuus", everyone(200))],
    "GET /accessibility": [Row("/accessibility", everyone(302))],
    "GET /tietosuoja": [Row("/tietosuoja", everyone(200))],
    "GET /privacy": [Row("/privacy", everyone(302))],
    "GET /healthz": [Row("/healthz", everyone(200))],
    # Direct loopback (the test client) needs no token; elsewhere, metrics_token (test_monitoring).
    "GET /metrics": [Row("/metrics", everyone(200))],
    "GET /static": [Row("/static/kohtaamo.css", everyone(200))],
    "GET /kiosk": [Row("/kiosk", everyone(200))],
    "GET /tablet": [Row("/tablet", everyone(200))],
    "GET /kiosk-sw.js": [Row("/kiosk-sw.js", everyone(200))],
    "GET /ws": [Row("/ws", everyone(400))],  # credentials come in the join message
    "GET /j": [Row("/j?code=AB", everyone(302))],
    "GET /j/{code}": [Row("/j/{P_CODE}", everyone(200)), Row("/j/ZZZZ2222", everyone(404))],
    "GET /sessions/{session_id}": [
        Row(f"/sessions/{S}", everyone(200)),
        Row(f"/sessions/{P}", everyone(404)),  # private: looks missing
    ],
    "GET /host/{session_id}": [Row(f"/host/{S}", host_page(), token_in_query=True)],
    "GET /api/sessions": [Row("/api/sessions", everyone(200))],
    "GET /api/sessions/{session_id}": [
        Row(f"/api/sessions/{S}", everyone(200)),
        Row(f"/api/sessions/{P}", everyone(404)),  # without ?code=
    ],
    "GET /api/join-codes/{code}": [Row("/api/join-codes/{P_CODE}", everyone(200))],
    "GET /api/sessions/{session_id}/attendance": [
        Row(f"/api/sessions/{S}/attendance", everyone(200))
    ],
    "GET /api/sessions/{session_id}/events": [
        Row(f"/api/sessions/{S}/events", viewers(200)),
        Row(f"/api/sessions/{P}/events", viewers(200, private=True)),
    ],
    "GET /api/sessions/{session_id}/recording": [
        Row(f"/api/sessions/{S}/recording", scoped(recording_control(200, write=False)))
    ],
    "POST /api/sessions/{session_id}/recording": [
        Row(
            f"/api/sessions/{S}/recording",
            scoped(recording_control(200, write=True)),
            "POST",
            json={"on": False},
        )
    ],
    "POST /api/sessions/{session_id}/headcount": [
        Row(
            f"/api/sessions/{S}/headcount",
            scoped(headcounts()),
            "POST",
            json={"venue": "kantti", "count": 1},
        )
    ],
    "POST /api/sessions/{session_id}/survey": [
        Row(
            f"/api/sessions/{S}/survey",
            surveys(),
            "POST",
            json={"score": 3, "attendee_key": "k" * 24},
        )
    ],
    "POST /whip/{session_id}": [Row(f"/whip/{S}", publishers(400), "POST", sdp=BAD_SDP)],
    "POST /whep/{session_id}": [
        Row(f"/whep/{S}", viewers(400), "POST", sdp=BAD_SDP),
        Row(f"/whep/{P}", viewers(400, private=True), "POST", sdp=BAD_SDP),
    ],
    # The resource id is the credential: an unknown one is 404 whoever asks.
    "DELETE /whip/{session_id}/{resource_id}": [Row(f"/whip/{S}/nope", everyone(404), "DELETE")],
    "DELETE /whep/{session_id}/{resource_id}": [Row(f"/whep/{S}/nope", everyone(404), "DELETE")],
    "PATCH /whip/{session_id}/{resource_id}": [Row(f"/whip/{S}/nope", everyone(405), "PATCH")],
    "PATCH /whep/{session_id}/{resource_id}": [Row(f"/whep/{S}/nope", everyone(405), "PATCH")],
    "OPTIONS /whip/{session_id}": [Row(f"/whip/{S}", everyone(204), "OPTIONS")],
    "OPTIONS /whep/{session_id}": [Row(f"/whep/{S}", everyone(204), "OPTIONS")],
    "OPTIONS /whip/{session_id}/{resource_id}": [Row(f"/whip/{S}/x", everyone(204), "OPTIONS")],
    "OPTIONS /whep/{session_id}/{resource_id}": [Row(f"/whep/{S}/x", everyone(204), "OPTIONS")],
    "GET /api/device": [Row("/api/device", devices_only())],
    "GET /api/device/schedule": [Row("/api/device/schedule", devices_only())],
    "POST /api/device/heartbeat": [
        Row("/api/device/heartbeat", devices_only(), "POST", json={"state": "idle"})
    ],
    "GET /api/areas": [Row("/api/areas", staff_reads())],
    "PUT /api/areas/{slug}": [
        Row("/api/areas/north", scoped(staff_writes(200)), "PUT", json={"population": 14300})
    ],
    "GET /api/reports/attendance": [Row("/api/reports/attendance", staff_reads())],
    "GET /api/reports/attendance.csv": [Row("/api/reports/attendance.csv", staff_reads())],
    "GET /api/staff/me": [Row("/api/staff/me", staff_reads())],
    "GET /api/staff/today": [Row("/api/staff/today", staff_reads())],
    "GET /api/staff/events": [Row("/api/staff/events", staff_reads())],
    "GET /staff": [Row("/staff", staff_pages())],
    "GET /staff/areas": [Row("/staff/areas", staff_pages())],
    "GET /staff/reports": [Row("/staff/reports", staff_pages())],
    "GET /staff/devices": [Row("/staff/devices", scoped(staff_pages(), roles=("coordinator",)))],
    "GET /staff/recordings": [Row("/staff/recordings", scoped(staff_pages()))],
    # An unknown recording: staff learn it is missing, everyone else is sent to log in.
    "GET /staff/recordings/{name}": [
        Row("/staff/recordings/none.mkv", scoped(staff_reads(404, 303)))
    ],
    "GET /staff/recordings/{name}/delete": [
        Row("/staff/recordings/none.mkv/delete", scoped(staff_reads(404, 303)))
    ],
    "POST /staff/recordings/{name}/delete": [
        Row("/staff/recordings/none.mkv/delete", scoped(staff_writes(404)), "POST", form={})
    ],
    "GET /staff/dashboard/cards": [Row("/staff/dashboard/cards?id={S}", staff_reads())],
    "GET /staff/devices/{device_id}/revoke": [
        Row("/staff/devices/{SPARE}/revoke", scoped(staff_pages()))
    ],
    "POST /staff/areas": [
        Row("/staff/areas", scoped(staff_writes(303)), "POST", form={"population-north": "14300"})
    ],
    "POST /staff/devices": [
        Row(
            "/staff/devices",
            scoped(staff_writes(201), roles=("coordinator",)),
            "POST",
            form={"venue": "pyoro", "room": "", "kind": "kiosk", "name": "x"},
        )
    ],
    "POST /staff/devices/{device_id}/revoke": [
        Row("/staff/devices/{SPARE}/revoke", scoped(staff_writes(303)), "POST", form={})
    ],
    "POST /staff/devices/{device_id}/restore": [
        Row("/staff/devices/{SPARE}/restore", scoped(staff_writes(303)), "POST", form={})
    ],
    # -- the programme (issue 12); roles and scope: tests/test_roles.py. Writes here are
    # refused by validation (400) or aimed at the throw-away session {X}, so the rows
    # after them still find {S} as it was.
    "POST /api/sessions": [Row("/api/sessions", staff_writes(400), "POST", json={})],
    "PATCH /api/sessions/{session_id}": [
        Row(f"/api/sessions/{S}", scoped(staff_writes(400)), "PATCH", json={"minutes": -1})
    ],
    "GET /api/series/{series_id}": [Row("/api/series/{SERIES}", scoped(staff_reads()))],
    "PATCH /api/series/{series_id}": [
        Row("/api/series/{SERIES}", scoped(staff_writes(400)), "PATCH", json={"minutes": -1})
    ],
    "POST /api/series/{series_id}/cancel": [
        Row("/api/series/{SERIES}/cancel", scoped(staff_writes(400)), "POST", json={"reason": "x"})
    ],
    "POST /api/series/{series_id}/links": [
        Row("/api/series/{SERIES}/links", scoped(staff_writes(200)), "POST", json={})
    ],
    "POST /api/sessions/{session_id}/cancel": [
        Row(
            "/api/sessions/{X}/cancel",
            scoped(staff_writes(200)),
            "POST",
            json={"reason": "Sairaus"},
        )
    ],
    "POST /api/sessions/{session_id}/end": [
        Row("/api/sessions/{X}/end", scoped(staff_writes(409)), "POST", json={})
    ],
    "POST /api/sessions/{session_id}/links": [
        Row("/api/sessions/{X}/links", scoped(staff_writes(200)), "POST", json={})
    ],
    "POST /api/sessions/{session_id}/invitations": [
        Row(f"/api/sessions/{P}/invitations", staff_writes(400), "POST", json={})
    ],
    "POST /api/programme/copy-week": [
        Row("/api/programme/copy-week", staff_writes(400), "POST", json={"week": "ensi viikko"})
    ],
    # anna (the admin's token) undoes her last change; the others made none to undo (409).
    "POST /api/programme/undo": [
        Row(
            "/api/programme/undo",
            {**staff_writes(409), "staff": 200},
            "POST",
            json={},
        )
    ],
    "GET /api/organisers": [Row("/api/organisers", staff_reads())],
    "POST /api/organisers": [
        Row("/api/organisers", scoped(staff_writes(400), roles=("coordinator",)), "POST", json={})
    ],
    "PATCH /api/organisers/{slug}": [
        Row(
            "/api/organisers/kotihoito",
            scoped(staff_writes(400), roles=("coordinator",)),
            "PATCH",
            json={"kind": "bogus"},
        )
    ],
    "GET /api/audit": [Row("/api/audit", admin_only(staff_reads()))],
    "GET /staff/programme": [Row("/staff/programme", staff_pages())],
    "GET /staff/programme/new": [Row("/staff/programme/new", staff_pages())],
    "GET /staff/programme/sessions/{session_id}": [
        Row(f"/staff/programme/sessions/{S}", scoped(staff_pages()))
    ],
    "POST /staff/programme/new": [
        Row("/staff/programme/new", staff_writes(400), "POST", form={"title": ""})
    ],
    "POST /staff/programme/sessions/{session_id}": [
        Row(
            f"/staff/programme/sessions/{S}",
            scoped(staff_writes(400)),
            "POST",
            form={"minutes": "-1"},
        )
    ],
    "POST /staff/programme/sessions/{session_id}/cancel": [
        Row(
            "/staff/programme/sessions/{X}/cancel",
            scoped(staff_writes(303)),
            "POST",
            form={"reason": "Sairaus"},
        )
    ],
    "POST /staff/programme/sessions/{session_id}/end": [
        Row("/staff/programme/sessions/{X}/end", scoped(staff_writes(409)), "POST", form={})
    ],
    "POST /staff/programme/sessions/{session_id}/links": [
        Row("/staff/programme/sessions/{X}/links", scoped(staff_writes(201)), "POST", form={})
    ],
    "POST /staff/programme/sessions/{session_id}/invite": [
        Row(f"/staff/programme/sessions/{P}/invite", scoped(staff_writes(400)), "POST", form={})
    ],
    "POST /staff/programme/undo": [
        Row("/staff/programme/undo", staff_writes(303), "POST", form={})
    ],
    "POST /staff/programme/copy-week": [
        Row("/staff/programme/copy-week", staff_writes(400), "POST", form={"week": "x"})
    ],
    "GET /staff/organisers": [Row("/staff/organisers", staff_pages())],
    "GET /staff/organisers/{slug}": [
        Row("/staff/organisers/kotihoito", scoped(staff_pages(), roles=("coordinator",)))
    ],
    "POST /staff/organisers": [
        Row("/staff/organisers", scoped(staff_writes(400), roles=("coordinator",)), "POST", form={})
    ],
    "POST /staff/organisers/{slug}": [
        Row(
            "/staff/organisers/kotihoito",
            scoped(staff_writes(400), roles=("coordinator",)),
            "POST",
            form={"kind": "bogus"},
        )
    ],
    "GET /staff/audit": [
        Row(
            "/staff/audit",
            admin_only(staff_pages()),
        )
    ],
    # The code is the key to the card; the series' host link takes the series' host token.
    "GET /j/{code}/card": [
        Row("/j/{P_CODE}/card", everyone(200)),
        Row("/j/ZZZZ2222/card", everyone(404)),
    ],
    # -- the public programme's feeds, cards and posters (issue 17): public ones are open; a
    # private group's card needs its host token or staff (tests/test_join_cards.py).
    "GET /programme.ics": [
        Row("/programme.ics", everyone(200)),
        Row("/programme.ics?venue=nowhere", everyone(400)),
    ],
    "GET /programme.json": [
        Row("/programme.json", everyone(200)),
        Row("/programme.json?online=maybe", everyone(400)),
    ],
    "GET /sessions/{session_id}/card": [
        Row(f"/sessions/{S}/card", everyone(200)),
        Row(f"/sessions/{P}/card", private_card()),
        Row("/sessions/nosuchsess/card", everyone(404)),
    ],
    "GET /sessions/{session_id}/poster": [
        Row(f"/sessions/{S}/poster", everyone(200)),
        Row(f"/sessions/{P}/poster", private_card()),
    ],
    # (no credential of the table is the series' own host token: tests/test_programme_api.py)
    "GET /series/{series_id}/host": [
        Row("/series/{SERIES}/host", everyone(403), token_in_query=True)
    ],
    "GET /staff/login": [
        # Logged in already: on to the dashboard.
        Row("/staff/login", {**everyone(200), **dict.fromkeys(STAFF, 303)})
    ],
    "POST /staff/login": [
        Row("/staff/login", everyone(401), "POST", form={"name": "anna", "password": "wrong"})
    ],
    # Last: it ends the cookie's login.
    "POST /staff/logout": [Row("/staff/logout", staff_writes(303), "POST", form={})],
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The login throttle would answer the 6th wrong login with 429: it has its own tests
    (tests/test_staff_login_throttle.py); here every credential gets its first try."""
    return settings.replace(login_failures_before_backoff=10_000)


@dataclasses.dataclass
class World:
    """The objects the table's paths and credentials name."""

    names: dict[str, str]  # {S}, {P}, {P_CODE}, {SPARE}
    bearers: dict[str, str]  # credential -> Authorization bearer value
    cookie: str
    csrf: str
    secrets: dict[str, str]  # credential -> the secret for ``?token=``

    def path(self, template: str) -> str:
        for name, value in self.names.items():
            template = template.replace("{" + name + "}", value)
        return template

    def headers(self, credential: str) -> dict[str, str]:
        if credential in self.bearers:
            return {"Authorization": f"Bearer {self.bearers[credential]}"}
        if credential == "staff-cookie":
            return {"Cookie": f"{STAFF_COOKIE}={self.cookie}", "X-CSRF-Token": self.csrf}
        if credential == "staff-cookie-no-csrf":
            return {"Cookie": f"{STAFF_COOKIE}={self.cookie}"}
        return {}


@pytest.fixture
async def world(client: TestClient, sessions: Sessions, staff: Staff, devices: Devices) -> World:
    public = await sessions.create(venue="kantti/lava", receivers=["juankoski"])
    private = await sessions.create(venue="kantti/paja", mode="group", private=True)
    other = await sessions.create(venue="pyoro")
    doomed = await sessions.create(venue="neulamaki")  # the programme rows cancel and end it
    async with client.app[DATABASE].session() as db:
        weekly = await programme.create(
            db,
            None,
            {
                "title": "Kotijumppa",
                "venue": "nilsia",
                "starts": (utcnow() + dt.timedelta(days=3)).astimezone(CITY_TZ).isoformat(),
                "recurrence": {"weekdays": ["mo"], "count": 3},
            },
        )
        assert weekly.series is not None
        series_id = weekly.series.id
    revoked = await devices.add("kantti", "kiosk", "lava")
    async with client.app[DATABASE].session() as db:
        for device in await devices_service.list_devices(db):
            await devices_service.revoke_device(db, device.id)
    await devices.add("neulamaki", "kiosk")  # staff revoke and restore this one
    async with client.app[DATABASE].session() as db:
        spare_id = (await devices_service.list_devices(db))[-1].id
    staff_token = await staff.api_token(await staff.add())
    role_tokens = {
        "city-staff": await staff.api_token(await staff.add("cecilia", "staff")),
        "librarian": await staff.api_token(await staff.add("lauri", "librarian", venue="pyoro")),
        "coordinator": await staff.api_token(
            await staff.add("kaisa", "coordinator", organiser="kotihoito")
        ),
    }
    revoked_staff = await staff.api_token()
    async with client.app[DATABASE].session() as db:
        tokens = await staff_service.list_api_tokens(db)
        await staff_service.revoke_api_token(db, tokens[-1][0].id)
    csrf = await staff.login("berit")
    jar = client.session.cookie_jar
    cookie = jar.filter_cookies(client.make_url("/"))[STAFF_COOKIE].value
    jar.clear()  # each request carries exactly the credential it is given
    bearers = {
        "wrong-bearer": "not-a-token",
        "wrong-staff": "ks_" + "x" * 40,
        "revoked-staff": revoked_staff,
        "wrong-device": "kd_" + "x" * 43,
        "revoked-device": revoked,
        "other-venue-device": await devices.add("pyoro", "kiosk"),
        "room-device": await devices.add("kantti", "kiosk", "lava"),
        "receiving-device": await devices.add("juankoski", "kiosk", "lukusali"),
        "tablet": await devices.add("kantti", "tablet"),
        "host": public.host_token,
        "publish": public.publish_token,
        "other-session-host": other.host_token,
        "join-code": private.session.join_code,
        "other-code": other.session.join_code,
        "staff": staff_token,
        **role_tokens,
    }
    secrets = {name: value for name, value in bearers.items() if name not in BEARERS}
    names = {
        "S": public.session.id,
        "P": private.session.id,
        "P_CODE": private.session.join_code,
        "SPARE": str(spare_id),
        "X": doomed.session.id,
        "SERIES": series_id,
    }
    return World(names, bearers, cookie, csrf, secrets)


def _routes(client: TestClient) -> set[str]:
    keys = set()
    for route in client.app.router.routes():
        if route.method == "HEAD":
            continue  # GET's twin
        assert route.resource is not None
        keys.add(f"{route.method} {route.resource.canonical}")
    return keys


async def test_every_route_has_a_row(client: TestClient) -> None:
    """A route without an access rule in TABLE is a route nobody decided about."""
    routes = _routes(client)
    assert routes - set(TABLE) == set(), "routes without a row in TABLE"
    assert set(TABLE) - routes == set(), "rows for routes that no longer exist"
    assert all(set(row.expect) == set(CREDENTIALS) for rows in TABLE.values() for row in rows)


async def _call(client: TestClient, row: Row, credential: str, world: World) -> int:
    path = world.path(row.path)
    headers = world.headers(credential)
    if row.token_in_query:
        headers = {}
        secret = world.secrets.get(credential)
        if secret is not None:
            path += f"?token={secret}"
    kwargs: dict[str, Any] = {"headers": headers, "allow_redirects": False}
    if row.json is not None:
        kwargs["json"] = row.json
    elif row.form is not None:
        form = dict(row.form)
        if credential == "staff-cookie":
            form["csrf_token"] = world.csrf
        kwargs["data"] = form
    elif row.sdp is not None:
        kwargs["data"] = row.sdp.encode()
        headers["Content-Type"] = "application/sdp"
    async with client.request(row.method, path, **kwargs) as response:
        return response.status


async def test_every_route_with_every_credential(client: TestClient, world: World) -> None:
    mismatches: list[str] = []
    calls = 0
    for key, rows in TABLE.items():
        for row in rows:
            for credential in CREDENTIALS:
                status = await _call(client, row, credential, world)
                calls += 1
                want = row.expect[credential]
                if status != want:
                    mismatches.append(f"{key} {row.path} as {credential}: {status}, want {want}")
    assert not mismatches, "\n".join(mismatches)
    assert calls >= len(TABLE) * len(CREDENTIALS)
