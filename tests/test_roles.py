"""Staff roles: every staff route checks role and scope (one table), and what each role sees.

The four roles (README, "Staff accounts"): ``admin`` and ``staff`` reach everything (only an
admin reads the audit log); a ``librarian`` of KANTTI reaches KANTTI's sessions, rooms,
devices and headcounts; a ``coordinator`` of Kotihoito reaches Kotihoito's sessions and
series (in any library), tablet invitations to them and their figures. Out of scope is
``403 out_of_scope``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from stream_server.basics import CITY_TZ, utcnow
from stream_server.catalog import service as catalog
from stream_server.db.models import Device
from stream_server.devices import service as devices_service
from stream_server.web.keys import DATABASE
from tests.conftest import Devices, Staff

ROLES = ("admin", "staff", "librarian", "coordinator")
ACCOUNTS: dict[str, dict[str, str]] = {
    "admin": {"role": "admin"},
    "staff": {"role": "staff"},
    "librarian": {"role": "librarian", "venue": "kantti"},
    "coordinator": {"role": "coordinator", "organiser": "kotihoito"},
}
#: Sessions at KANTTI by the library, and at Nilsiä by Kotihoito (the coordinator's).
AT_KANTTI = {"venue": "kantti", "room": "paja", "organiser": "kuopion-kaupunginkirjasto"}
AT_NILSIA = {"venue": "nilsia", "organiser": "kotihoito"}


class World:
    """An app with one account per role, and fresh sessions made by the admin on demand."""

    def __init__(self, client: TestClient, tokens: dict[str, str], devices: Devices) -> None:
        self.client = client
        self.tokens = tokens
        self.devices = devices
        self._slots = itertools.count(1)

    async def call(
        self, role: str, method: str, path: str, body: Any = None, form: Any = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        if form is not None:
            response = await self.client.request(
                method, path, data=form, headers=headers, allow_redirects=False
            )
        else:
            response = await self.client.request(
                method, path, json=body, headers=headers, allow_redirects=False
            )
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()

    def slot(self) -> str:
        """A start time of its own (no double booking between rows), weeks ahead."""
        day = utcnow().astimezone(CITY_TZ).date() + dt.timedelta(days=30 + next(self._slots))
        return f"{day.isoformat()}T10:00"

    async def session(self, where: dict[str, str], **fields: Any) -> dict[str, Any]:
        body = {"title": "Ryhmä", "starts": self.slot(), **where, **fields}
        status, data = await self.call("admin", "POST", "/api/sessions", body)
        assert status == 201, data
        return data  # type: ignore[no-any-return]

    async def live_session(self, where: dict[str, str]) -> dict[str, Any]:
        """Doors open (it began minutes ago, within its overrun grace); a minute of its own."""
        starts = (utcnow() - dt.timedelta(minutes=2 + next(self._slots))).astimezone(CITY_TZ)
        return await self.session(where, starts=starts.isoformat(timespec="minutes"), minutes=1)

    async def device(self, venue: str, kind: str) -> Device:
        token = await self.devices.add(venue, kind=kind)
        async with self.client.app[DATABASE].session() as db:
            return await devices_service.identify_device(db, token)

    async def series(self, where: dict[str, str]) -> dict[str, Any]:
        starts = dt.date.fromisoformat(self.slot()[:10])
        weekday = ("mo", "tu", "we", "th", "fr", "sa", "su")[starts.weekday()]
        return await self.session(
            where, starts=f"{starts}T12:00", recurrence={"weekdays": [weekday], "count": 2}
        )


@pytest.fixture
async def world(client: TestClient, staff: Staff, devices: Devices) -> World:
    async with client.app[DATABASE].session() as db:
        await catalog.sync_reference_data(db)
    tokens = {}
    for role in ROLES:
        await staff.add(role, **ACCOUNTS[role])
        tokens[role] = await staff.api_token(role)
    return World(client, tokens, devices)


Request = tuple[str, str, Any] | tuple[str, str, Any, Any]
Prepare = Callable[[World], Awaitable[Request]]


@dataclasses.dataclass(frozen=True)
class Route:
    name: str
    prepare: Prepare
    statuses: tuple[int, int, int, int]  # admin, staff, librarian, coordinator

    def __str__(self) -> str:
        return self.name


async def _create_at_kantti(w: World) -> Request:
    return ("POST", "/api/sessions", {"title": "Luento", "starts": w.slot(), **AT_KANTTI})


async def _create_at_nilsia(w: World) -> Request:
    return ("POST", "/api/sessions", {"title": "Ryhmä", "starts": w.slot(), **AT_NILSIA})


def _on_session(where: dict[str, str], method: str, suffix: str, body: Any = None) -> Prepare:
    async def prepare(w: World) -> Request:
        session = await w.session(where)
        return (method, f"/api/sessions/{session['id']}{suffix}", body)

    return prepare


def _on_live_session(where: dict[str, str], method: str, suffix: str, body: Any = None) -> Prepare:
    async def prepare(w: World) -> Request:
        session = await w.live_session(where)
        return (method, f"/api/sessions/{session['id']}{suffix}", body)

    return prepare


def _on_series(where: dict[str, str], method: str, suffix: str, body: Any = None) -> Prepare:
    async def prepare(w: World) -> Request:
        series = await w.series(where)
        filled = {**body, "from": series["id"]} if isinstance(body, dict) else body
        return (method, f"/api/series/{series['series_id']}{suffix}", filled)

    return prepare


def _fixed(method: str, path: str, body: Any = None) -> Prepare:
    async def prepare(w: World) -> Request:
        return (method, path, body)

    return prepare


async def _invite(w: World) -> Request:
    session = await w.session(AT_NILSIA, visibility="private", mode="group")
    device = await w.device("nilsia", "tablet")
    return ("POST", f"/api/sessions/{session['id']}/invitations", {"device": device.id})


def _register_device(venue: str) -> Prepare:
    async def prepare(w: World) -> Request:
        return ("POST", "/staff/devices", None, {"venue": venue, "kind": "kiosk", "room": ""})

    return prepare


def _revoke_device(venue: str) -> Prepare:
    async def prepare(w: World) -> Request:
        device = await w.device(venue, "kiosk")
        return ("POST", f"/staff/devices/{device.id}/revoke", None, {})

    return prepare


ALL = (200, 200, 200, 200)
CITY_WIDE = (200, 200, 403, 403)
KANTTI = (200, 200, 200, 403)
KOTIHOITO = (200, 200, 403, 200)
ROUTES = [
    # -- the programme API
    Route("POST /api/sessions at KANTTI", _create_at_kantti, (201, 201, 201, 403)),
    Route("POST /api/sessions by Kotihoito at Nilsiä", _create_at_nilsia, (201, 201, 403, 201)),
    Route(
        "PATCH /api/sessions/{KANTTI}", _on_session(AT_KANTTI, "PATCH", "", {"title": "x"}), KANTTI
    ),
    Route(
        "PATCH /api/sessions/{Kotihoito}",
        _on_session(AT_NILSIA, "PATCH", "", {"title": "x"}),
        KOTIHOITO,
    ),
    Route("GET /api/series/{KANTTI}", _on_series(AT_KANTTI, "GET", ""), KANTTI),
    Route("GET /api/series/{Kotihoito}", _on_series(AT_NILSIA, "GET", ""), KOTIHOITO),
    Route("PATCH /api/series/{KANTTI}", _on_series(AT_KANTTI, "PATCH", "", {"title": "y"}), KANTTI),
    Route(
        "PATCH /api/series/{Kotihoito}",
        _on_series(AT_NILSIA, "PATCH", "", {"title": "y"}),
        KOTIHOITO,
    ),
    Route(
        "POST /api/sessions/{KANTTI}/cancel",
        _on_session(AT_KANTTI, "POST", "/cancel", {"reason": "Sairastuminen"}),
        KANTTI,
    ),
    Route(
        "POST /api/series/{Kotihoito}/cancel",
        _on_series(AT_NILSIA, "POST", "/cancel", {"reason": "Tauko"}),
        KOTIHOITO,
    ),
    Route(
        "POST /api/sessions/{KANTTI, live}/end", _on_live_session(AT_KANTTI, "POST", "/end"), KANTTI
    ),
    Route(
        "POST /api/sessions/{Kotihoito, live}/end",
        _on_live_session(AT_NILSIA, "POST", "/end"),
        KOTIHOITO,
    ),
    Route("POST /api/sessions/{KANTTI}/links", _on_session(AT_KANTTI, "POST", "/links"), KANTTI),
    Route("POST /api/series/{Kotihoito}/links", _on_series(AT_NILSIA, "POST", "/links"), KOTIHOITO),
    Route("POST /api/sessions/{Kotihoito}/invitations", _invite, (201, 201, 403, 201)),
    Route(
        "POST /api/programme/copy-week",
        _fixed("POST", "/api/programme/copy-week", {"week": "2026-01-05"}),
        ALL,
    ),
    Route("GET /api/organisers", _fixed("GET", "/api/organisers"), ALL),
    Route(
        "POST /api/organisers",
        _fixed("POST", "/api/organisers", {"name": "Kuopion Martat ry", "kind": "association"}),
        (201, 400, 400, 403),  # the second and third add find the slug taken (400)
    ),
    Route(
        "PATCH /api/organisers/kotihoito",
        _fixed("PATCH", "/api/organisers/kotihoito", {"contact_person": "Liisa"}),
        (200, 200, 200, 403),
    ),
    Route("GET /api/audit", _fixed("GET", "/api/audit"), (200, 403, 403, 403)),
    # -- routes that came before roles
    Route(
        "POST /api/sessions/{KANTTI}/headcount at KANTTI",
        _on_session(AT_KANTTI, "POST", "/headcount", {"venue": "kantti", "count": 5}),
        (201, 201, 201, 403),
    ),
    Route(
        "POST /api/sessions/{Kotihoito}/headcount at Nilsiä",
        _on_session(AT_NILSIA, "POST", "/headcount", {"venue": "nilsia", "count": 5}),
        (201, 201, 403, 201),
    ),
    Route(
        "GET /api/sessions/{KANTTI, live}/recording",
        _on_live_session(AT_KANTTI, "GET", "/recording"),
        KANTTI,
    ),
    Route(
        "POST /api/sessions/{Kotihoito, live}/recording",
        _on_live_session(AT_NILSIA, "POST", "/recording", {"on": False}),
        KOTIHOITO,
    ),
    Route("GET /api/staff/today", _fixed("GET", "/api/staff/today"), ALL),
    Route("GET /api/reports/attendance", _fixed("GET", "/api/reports/attendance"), ALL),
    Route("GET /api/areas", _fixed("GET", "/api/areas"), ALL),
    Route(
        "PUT /api/areas/north", _fixed("PUT", "/api/areas/north", {"population": 15000}), CITY_WIDE
    ),
    Route("POST /staff/devices at KANTTI", _register_device("kantti"), (201, 201, 201, 403)),
    Route("POST /staff/devices at Nilsiä", _register_device("nilsia"), (201, 201, 403, 403)),
    Route("POST /staff/devices/{Nilsiä}/revoke", _revoke_device("nilsia"), (303, 303, 403, 403)),
    Route("POST /staff/devices/{KANTTI}/revoke", _revoke_device("kantti"), (303, 303, 303, 403)),
    Route("GET /staff/devices", _fixed("GET", "/staff/devices"), (200, 200, 200, 403)),
    Route("GET /api/staff/me", _fixed("GET", "/api/staff/me"), ALL),
    # Recordings are not sorted by venue or organiser on disk: city-wide staff only.
    Route("GET /staff/recordings", _fixed("GET", "/staff/recordings"), CITY_WIDE),
    Route(
        "GET /staff/recordings/{name}",
        _fixed("GET", "/staff/recordings/none.mkv"),
        (404, 404, 403, 403),
    ),
]


@pytest.mark.parametrize("route", ROUTES, ids=str)
async def test_every_staff_route_checks_role_and_scope(world: World, route: Route) -> None:
    for role, expected in zip(ROLES, route.statuses, strict=True):
        request = await route.prepare(world)
        method, path, body = request[:3]
        form = request[3] if len(request) == 4 else None
        status, answer = await world.call(role, method, path, body, form)
        assert status == expected, f"{role}: {method} {path} -> {status} {answer}"
        if status == 403 and isinstance(answer, dict):
            assert answer["error"]["code"] == "out_of_scope", f"{role}: {answer}"


# -- what each role sees -------------------------------------------------------------------------
async def test_the_dashboard_lists_only_the_sessions_a_role_reaches(world: World) -> None:
    now = utcnow().astimezone(CITY_TZ)
    kantti = await world.session(AT_KANTTI, starts=now.isoformat(timespec="minutes"))
    nilsia = await world.session(AT_NILSIA, starts=now.isoformat(timespec="minutes"))
    shown_at_kantti = await world.session(
        {"venue": "juankoski", "organiser": "elakeliitto"},
        starts=now.isoformat(timespec="minutes"),
        receivers=["kantti/lava"],
    )
    seen = {}
    for role in ROLES:
        status, today = await world.call(role, "GET", "/api/staff/today")
        assert status == 200
        seen[role] = {s["id"] for s in today["sessions"]}
    everything = {kantti["id"], nilsia["id"], shown_at_kantti["id"]}
    assert seen["admin"] == seen["staff"] == everything
    # A librarian counts the audience of a broadcast shown on their venue's screen too.
    assert seen["librarian"] == {kantti["id"], shown_at_kantti["id"]}
    assert seen["coordinator"] == {nilsia["id"]}


async def test_reports_are_narrowed_to_the_role_s_venue_or_organiser(world: World) -> None:
    earlier = (utcnow() - dt.timedelta(hours=3)).astimezone(CITY_TZ)
    for where, count in ((AT_KANTTI, 20), (AT_NILSIA, 7)):
        session = await world.session(where, starts=earlier.isoformat(timespec="minutes"))
        venue = where["venue"]
        status, _ = await world.call(
            "admin",
            "POST",
            f"/api/sessions/{session['id']}/headcount",
            {"venue": venue, "count": count},
        )
        assert status == 201
    totals = {}
    for role in ROLES:
        status, report = await world.call(role, "GET", "/api/reports/attendance?period=week")
        assert status == 200
        totals[role] = (report["totals"]["sessions_held"], report["totals"]["in_person"])
    assert totals["admin"] == totals["staff"] == (2, 27)
    assert totals["librarian"] == (1, 20)
    assert totals["coordinator"] == (1, 7)


async def test_a_coordinator_s_new_session_is_their_organiser_s(world: World) -> None:
    status, data = await world.call(
        "coordinator",
        "POST",
        "/api/sessions",
        {"title": "Muistikahvila", "venue": "kantti", "room": "paja", "starts": world.slot()},
    )
    assert status == 201
    status, session = await world.call("coordinator", "GET", f"/api/sessions/{data['id']}")
    assert session["organiser"] == "Kotihoito, Pohjois-Savon hyvinvointialue"
    status, moved = await world.call(
        "coordinator", "PATCH", f"/api/sessions/{data['id']}", {"organiser": "elakeliitto"}
    )
    assert status == 403 and moved["error"]["code"] == "out_of_scope"
    status, moved = await world.call(
        "librarian", "PATCH", f"/api/sessions/{data['id']}", {"title": "Muistikahvila KANTISSA"}
    )
    assert status == 200  # held at KANTTI: the librarian's venue
    status, moved = await world.call(
        "librarian", "PATCH", f"/api/sessions/{data['id']}", {"venue": "nilsia"}
    )
    assert status == 403 and moved["error"]["code"] == "out_of_scope"
