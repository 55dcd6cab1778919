"""The programme's HTTP API: weekly series with one join code, changes, cancellations,
double booking, links, ending, in-person-only activities (README, "HTTP API: programme")."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from stream_server.basics import CITY_TZ, utcnow
from stream_server.catalog import recurrence
from tests.conftest import Api, Devices, base_url
from tests.test_pages import parse
from tests.ws_peer import WsParticipant

#: Any body will do: the in-person-only check comes before the offer is read.
SDP = "v=0\r\n"


def local_iso(moment: dt.datetime) -> str:
    return moment.astimezone(CITY_TZ).replace(tzinfo=None).isoformat(timespec="minutes")


def weekday_of(moment: dt.datetime) -> str:
    return recurrence.WEEKDAYS[moment.astimezone(CITY_TZ).weekday()]


def next_week_day(weekday: int, hour: int = 18) -> dt.datetime:
    """The next such weekday at least a week ahead, at ``hour`` local time."""
    today = utcnow().astimezone(CITY_TZ).date() + dt.timedelta(days=7)
    day = today + dt.timedelta(days=(weekday - today.weekday()) % 7)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=CITY_TZ)


def page_session(html: str) -> str | None:
    """The session a join page is for (its script's configuration)."""
    found = parse(html).find_all(id="kohtaamo-config")
    return json.loads(found[0].text())["session_id"] if found else None


def page_kind(html: str) -> str:
    """The page's body class, e.g. ``page-notice notice-upcoming``."""
    return str(parse(html).find("body").attrs.get("class"))


# -- creating ------------------------------------------------------------------------------------
async def test_a_weekly_series_is_made_with_one_join_code_and_tokens(api: Api) -> None:
    first = next_week_day(1)
    data = await api.create(
        starts=local_iso(first),
        minutes=45,
        mode="group",
        visibility="private",
        organiser="kotihoito",
        recurrence={"weekdays": ["tu", "th"], "count": 6},
    )
    assert set(data) >= {
        "id",
        "series_id",
        "join_code",
        "host_token",
        "publish_token",
        "caption_token",
        "occurrences",
    }
    assert data["series_id"] and data["id"] == data["occurrences"][0]["id"]
    assert len(data["occurrences"]) == 6
    for occurrence in data["occurrences"]:
        starts = dt.datetime.fromisoformat(occurrence["starts_at"])
        ends = dt.datetime.fromisoformat(occurrence["ends_at"])
        assert starts.utcoffset() is not None and occurrence["status"] == "scheduled"
        assert starts.astimezone(CITY_TZ).time() == dt.time(18, 0)
        assert ends - starts == dt.timedelta(minutes=45)
    status, series = await api.call("GET", f"/api/series/{data['series_id']}")
    assert status == 200 and series["join_code"] == data["join_code"]
    assert [o["id"] for o in series["occurrences"]] == [o["id"] for o in data["occurrences"]]
    assert {o["title"] for o in series["occurrences"]} == {"Kotihoidon jumppa"}
    assert series["recurrence"]["weekdays"] == ["tu", "th"]
    # Every occurrence answers to the one code and the one host token.
    for occurrence in data["occurrences"]:
        status, one = await api.call(
            "GET", f"/api/sessions/{occurrence['id']}?code=" + data["join_code"]
        )
        assert status == 200 and one["series_id"] == data["series_id"]


async def test_a_one_off_session_has_no_series(api: Api) -> None:
    data = await api.create(starts="2027-01-12T18:00+02:00", minutes=60)
    assert data["series_id"] is None and len(data["occurrences"]) == 1
    assert data["occurrences"][0]["starts_at"] == "2027-01-12T18:00:00+02:00"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": 5}, "title"),
        ({"venue": "atlantis"}, "venue"),
        ({"room": "kellari"}, "room"),
        ({"starts": "ensi tiistaina"}, "starts"),
        ({"minutes": 0}, "minutes"),
        ({"minutes": "60"}, "minutes"),
        ({"mode": "webinar"}, "mode"),
        ({"visibility": "secret"}, "visibility"),
        ({"online": "yes"}, "online"),
        ({"category": "sauna"}, "category"),
        ({"organiser": "nobody"}, "organiser"),
        ({"receivers": ["kantti/lava"]}, "receivers"),
        ({"receivers": ["nilsia"], "online": False}, "online"),
        ({"colour": "red"}, "colour"),
        ({"recurrence": {"weekdays": ["tu"]}}, "recurrence"),
    ],
)
async def test_a_wrong_field_is_400_invalid_field_naming_it(
    api: Api, fields: dict[str, Any], field: str
) -> None:
    body = {"title": "Luento", "venue": "kantti", "starts": "2027-01-12T18:00", **fields}
    status, data = await api.call("POST", "/api/sessions", body)
    assert status == 400, data
    assert data["error"]["code"] == "invalid_field" and data["error"]["field"] == field
    assert data["error"]["message"]


async def test_the_api_needs_a_staff_credential(client: TestClient) -> None:
    response = await client.post("/api/sessions", json={"title": "x"})
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "login_required"


# -- double booking ------------------------------------------------------------------------------
async def test_a_host_room_cannot_be_double_booked(api: Api) -> None:
    taken = await api.create(starts="2027-01-12T18:00", minutes=90)
    status, data = await api.call(
        "POST",
        "/api/sessions",
        {
            "title": "Päällekkäin",
            "venue": "kantti",
            "room": "kohtaamo",
            "starts": "2027-01-12T19:00",
        },
    )
    assert status == 409
    assert data["error"]["code"] == "room_taken" and data["error"]["conflict"] == taken["id"]
    # Another room, or right after the end, is fine.
    await api.create(starts="2027-01-12T19:00", room="lava")
    await api.create(starts="2027-01-12T19:30")
    # A series whose third Tuesday collides is refused whole.
    status, data = await api.call(
        "POST",
        "/api/sessions",
        {
            "title": "Sarja",
            "venue": "kantti",
            "room": "kohtaamo",
            "starts": "2026-12-29T18:30",
            "recurrence": {"weekdays": ["tu"], "count": 4},
        },
    )
    assert status == 409 and data["error"]["conflict"] == taken["id"]
    # Moving a session onto another is refused; a cancelled one no longer holds the room.
    other = await api.create(starts="2027-01-13T18:00")
    status, data = await api.call(
        "PATCH", f"/api/sessions/{other['id']}", {"starts": "2027-01-12T18:30"}
    )
    assert status == 409 and data["error"]["conflict"] == taken["id"]
    await api.call("POST", f"/api/sessions/{taken['id']}/cancel", {"reason": "Esiintyjä sairas"})
    status, _ = await api.call(
        "PATCH", f"/api/sessions/{other['id']}", {"starts": "2027-01-12T18:00"}
    )
    assert status == 200


# -- changes -------------------------------------------------------------------------------------
async def test_edit_one_occurrence_or_this_and_the_following(api: Api) -> None:
    first = next_week_day(1)  # a Tuesday
    data = await api.create(
        starts=local_iso(first), minutes=60, recurrence={"weekdays": ["tu"], "count": 4}
    )
    ids = [o["id"] for o in data["occurrences"]]
    status, one = await api.call("PATCH", f"/api/sessions/{ids[1]}", {"title": "Joulujumppa"})
    assert status == 200 and one["title"] == "Joulujumppa" and one["series_id"] == data["series_id"]
    status, bad = await api.call(
        "PATCH", f"/api/sessions/{ids[1]}", {"recurrence": {"weekdays": ["we"], "count": 2}}
    )
    assert status == 400 and bad["error"]["field"] == "recurrence"

    # From the third on: Wednesdays at 17:30, 90 minutes, in the hall.
    third = dt.datetime.fromisoformat(data["occurrences"][2]["starts_at"])
    moved = (third + dt.timedelta(days=1)).replace(hour=17, minute=30)
    status, series = await api.call(
        "PATCH",
        f"/api/series/{data['series_id']}",
        {
            "from": ids[2],
            "starts": local_iso(moved),
            "minutes": 90,
            "room": "lava",
            "title": "Keskiviikkojumppa",
        },
    )
    assert status == 200, series
    occurrences = series["occurrences"]
    assert [o["title"] for o in occurrences] == [
        "Kotihoidon jumppa",
        "Joulujumppa",
        "Keskiviikkojumppa",
        "Keskiviikkojumppa",
    ]
    for occurrence in occurrences[2:]:
        starts = dt.datetime.fromisoformat(occurrence["starts_at"]).astimezone(CITY_TZ)
        ends = dt.datetime.fromisoformat(occurrence["ends_at"])
        assert (starts.weekday(), starts.time()) == (2, dt.time(17, 30))
        assert ends - starts == dt.timedelta(minutes=90)
    for occurrence in occurrences[:2]:
        starts = dt.datetime.fromisoformat(occurrence["starts_at"]).astimezone(CITY_TZ)
        assert (starts.weekday(), starts.time()) == (1, dt.time(18, 0))
    assert series["recurrence"]["weekdays"] == ["we"] and series["time"] == "17:30"
    assert series["room"] == "lava"
    status, one = await api.call("GET", f"/api/sessions/{ids[3]}")
    assert one["room"] == "lava"

    status, bad = await api.call("PATCH", f"/api/series/{data['series_id']}", {"title": "x"})
    assert status == 400 and bad["error"]["field"] == "from"
    status, missing = await api.call("PATCH", "/api/series/nosuchseries", {"from": ids[0]})
    assert status == 404 and missing["error"]["code"] == "unknown_session"
    status, missing = await api.call("PATCH", "/api/sessions/nosuchsession", {"title": "x"})
    assert status == 404 and missing["error"]["code"] == "unknown_session"


async def test_cancel_one_occurrence_or_the_rest_with_a_reason(
    api: Api, client: TestClient, devices: Devices
) -> None:
    now = utcnow()
    data = await api.create(
        starts=local_iso(now + dt.timedelta(minutes=10)),
        visibility="private",
        mode="group",
        recurrence={"weekdays": [weekday_of(now)], "count": 4},
    )
    ids = [o["id"] for o in data["occurrences"]]
    status, bad = await api.call("POST", f"/api/sessions/{ids[0]}/cancel", {"reason": " "})
    assert status == 400 and bad["error"]["field"] == "reason"
    status, cancelled = await api.call(
        "POST", f"/api/sessions/{ids[0]}/cancel", {"reason": "Ohjaaja sairastui"}
    )
    assert status == 200
    assert cancelled["status"] == "cancelled" and cancelled["cancel_reason"] == "Ohjaaja sairastui"

    # Never joinable, by WHEP with the code, by the WebSocket, or its page.
    response = await client.post(
        f"/whep/{ids[0]}",
        data=SDP,
        headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {data['join_code']}"},
    )
    assert response.status == 410
    assert (await response.json())["error"]["code"] == "session_cancelled"
    page = WsParticipant(client.session, base_url(client))
    try:
        reply = await page.join(session=ids[0], code=data["join_code"])
        assert reply["type"] == "error" and reply["code"] == "session_cancelled"
    finally:
        await page.close()
    # The code now leads to next week's occurrence ("not started yet").
    html = await (await client.get(f"/j/{data['join_code']}")).text()
    assert "notice-upcoming" in page_kind(html)

    # A tablet invited to the series sees every occurrence, the cancelled one as cancelled.
    token = await devices.add("nilsia", kind="tablet")
    tablet = {"Authorization": f"Bearer {token}"}
    device_id = (await (await client.get("/api/device", headers=tablet)).json())["device"]["id"]
    status, _ = await api.call("POST", f"/api/sessions/{ids[1]}/invitations", {"device": device_id})
    assert status == 201
    schedule = await (await client.get("/api/device/schedule?days=14", headers=tablet)).json()
    shown = {s["id"]: s for s in schedule["sessions"]}
    assert set(ids[:2]) <= set(shown)  # the third is beyond the 14 days
    assert shown[ids[0]]["status"] == "cancelled"
    assert shown[ids[0]]["cancel_reason"] == "Ohjaaja sairastui"
    assert shown[ids[1]]["status"] == "scheduled"

    status, series = await api.call(
        "POST", f"/api/series/{data['series_id']}/cancel", {"from": ids[2], "reason": "Tauko"}
    )
    assert status == 200
    assert [o["status"] for o in series["occurrences"]] == [
        "cancelled",
        "scheduled",
        "cancelled",
        "cancelled",
    ]
    assert [o["cancel_reason"] for o in series["occurrences"]][2:] == ["Tauko", "Tauko"]


# -- one join code across a series ---------------------------------------------------------------
async def test_one_join_code_leads_to_the_live_occurrence_then_the_next(
    api: Api, client: TestClient
) -> None:
    now = utcnow()
    data = await api.create(
        starts=local_iso(now - dt.timedelta(minutes=10)),
        minutes=60,
        visibility="private",
        mode="group",
        recurrence={"weekdays": [weekday_of(now)], "count": 3},
    )
    code = data["join_code"]
    ids = [o["id"] for o in data["occurrences"]]
    # During the first occurrence: its join page, and a WebSocket join with the code.
    assert page_session(await (await client.get(f"/j/{code}")).text()) == ids[0]
    page = WsParticipant(client.session, base_url(client))
    try:
        joined = await page.join(code=code)
        assert joined["type"] == "joined" and joined["session"]["id"] == ids[0]
    finally:
        await page.close()
    # WHEP takes the code as its Bearer for any occurrence of the private series.
    response = await client.post(
        f"/whep/{ids[0]}", data=SDP, headers={"Content-Type": "application/sdp"}
    )
    assert response.status == 401
    response = await client.post(
        f"/whep/{ids[0]}",
        data=SDP,
        headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {code}"},
    )
    # Let in: what is refused now is the (deliberately empty) offer, not the code.
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_sdp"
    # Staff end it: the same code now leads to next week's ("not started yet").
    status, ended = await api.call("POST", f"/api/sessions/{ids[0]}/end")
    assert status == 200 and ended["status"] == "ended"
    html = await (await client.get(f"/j/{code}")).text()
    assert "notice-upcoming" in page_kind(html) and page_session(html) is None
    status, series = await api.call("GET", f"/api/series/{data['series_id']}")
    assert [o["status"] for o in series["occurrences"]] == ["ended", "scheduled", "scheduled"]
    # Ending is for sessions that have begun.
    status, refused = await api.call("POST", f"/api/sessions/{ids[1]}/end")
    assert status == 409 and refused["error"]["code"] == "session_not_started"


async def test_new_links_for_a_series_stop_the_old_ones_at_once(
    api: Api, client: TestClient
) -> None:
    now = utcnow()
    data = await api.create(
        starts=local_iso(now - dt.timedelta(minutes=5)),
        recurrence={"weekdays": [weekday_of(now)], "count": 2},
    )
    first = data["id"]
    old = data["host_token"]
    assert (await client.get(f"/host/{first}?token={old}")).status == 200
    series_host = await client.get(
        f"/series/{data['series_id']}/host?token={old}", allow_redirects=False
    )
    assert series_host.status == 303
    assert series_host.headers["Location"] == f"/host/{first}?token={old}"
    status, links = await api.call("POST", f"/api/series/{data['series_id']}/links")
    assert status == 200 and links["host_token"] != old
    assert (await client.get(f"/host/{first}?token={old}")).status == 403
    assert (await client.get(f"/host/{first}?token={links['host_token']}")).status == 200
    for occurrence in data["occurrences"]:
        response = await client.post(
            f"/api/sessions/{occurrence['id']}/recording",
            json={"on": False},
            headers={"Authorization": f"Bearer {data['publish_token']}"},
        )
        assert response.status in (403, 410)
    status, single = await api.call("POST", f"/api/sessions/{first}/links")
    assert status == 200 and single["host_token"] != links["host_token"]
    assert (await client.get(f"/host/{first}?token={links['host_token']}")).status == 403


# -- in person only ------------------------------------------------------------------------------
async def test_an_in_person_only_session_is_refused_by_every_media_entrance(
    api: Api, client: TestClient
) -> None:
    now = utcnow()
    data = await api.create(starts=local_iso(now - dt.timedelta(minutes=5)), online=False)
    sid = data["id"]
    for path, token in ((f"/whep/{sid}", None), (f"/whip/{sid}", data["publish_token"])):
        headers = {"Content-Type": "application/sdp"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = await client.post(path, data=SDP, headers=headers)
        assert response.status == 403, path
        assert (await response.json())["error"]["code"] == "not_online"
    events = await client.get(f"/api/sessions/{sid}/events")
    assert events.status == 403 and (await events.json())["error"]["code"] == "not_online"
    page = WsParticipant(client.session, base_url(client))
    try:
        reply = await page.join(session=sid)
        assert reply["type"] == "error" and reply["code"] == "not_online"
    finally:
        await page.close()
    html = await (await client.get(f"/j/{data['join_code']}")).text()
    assert "notice-in-person" in page_kind(html)


async def test_an_in_person_only_session_counts_in_the_reports(api: Api) -> None:
    now = utcnow()
    data = await api.create(
        starts=local_iso(now - dt.timedelta(hours=2)), minutes=60, online=False, category="crafts"
    )
    status, _ = await api.call(
        "POST", f"/api/sessions/{data['id']}/headcount", {"venue": "kantti", "count": 12}
    )
    assert status == 201
    status, report = await api.call("GET", "/api/reports/attendance?period=week&group_by=category")
    assert status == 200
    crafts = next(row for row in report["rows"] if row["key"] == "crafts")
    assert crafts["sessions_held"] == 1 and crafts["in_person"] == 12 and crafts["online"] == 0
    assert crafts["activity_hours"] == 1.0
