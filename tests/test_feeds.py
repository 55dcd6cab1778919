"""The public programme as feeds: ``/programme.ics`` (parsed back with icalendar) and
``/programme.json`` (schema.org events), and the same event as JSON-LD on the session page."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import icalendar
import pytest
from aiohttp.test_utils import TestClient

from stream_server.app import create_app
from stream_server.basics import CITY_TZ, utcnow
from stream_server.config import Settings
from stream_server.web.keys import DATABASE
from tests.conftest import Api, Sessions, base_url
from tests.test_pages import parse

PUBLIC_URL = "https://kohtaamo.example.fi"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(public_url=PUBLIC_URL)


def local(day: dt.date, hour: int = 18) -> str:
    return dt.datetime.combine(day, dt.time(hour)).isoformat()


def days_ahead(days: int) -> dt.date:
    return (utcnow() + dt.timedelta(days=days)).astimezone(CITY_TZ).date()


def next_dst_change(after: dt.date) -> dt.date:
    """The next day on which Helsinki's UTC offset changes (the last Sunday of March or
    October)."""
    day = after
    while True:
        noon = dt.datetime.combine(day, dt.time(12), tzinfo=CITY_TZ)
        before = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(12), tzinfo=CITY_TZ)
        if noon.utcoffset() != before.utcoffset():
            return day
        day += dt.timedelta(days=1)


async def fetch_ics(client: TestClient, query: str = "") -> icalendar.Calendar:
    response = await client.get(f"/programme.ics{query}")
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    return icalendar.Calendar.from_ical(await response.read())


def vevents(calendar: icalendar.Calendar) -> list[icalendar.Event]:
    return list(calendar.walk("VEVENT"))


def uids(calendar: icalendar.Calendar) -> set[str]:
    return {str(e["UID"]) for e in vevents(calendar)}


def uid(session_id: str) -> str:
    return f"{session_id}@kohtaamo.example.fi"


async def fetch_json(client: TestClient, query: str = "") -> list[dict[str, Any]]:
    response = await client.get(f"/programme.json{query}")
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    events = (await response.json())["events"]
    assert isinstance(events, list)
    return events


# -- iCalendar -------------------------------------------------------------------------------------
async def test_a_weekly_series_keeps_its_wall_clock_time_across_the_daylight_saving_change(
    client: TestClient, api: Api
) -> None:
    change = next_dst_change(days_ahead(14))
    first = change - dt.timedelta(days=(change.weekday() - 1) % 7 + 7)  # a Tuesday before
    created = await api.create(
        title="Iltajumppa",
        starts=local(first),
        minutes=60,
        recurrence={"weekdays": ["tu"], "count": 4},
    )
    calendar = await fetch_ics(client)
    ours = sorted(
        (e for e in vevents(calendar) if str(e["SUMMARY"]) == "Iltajumppa"),
        key=lambda e: e.decoded("DTSTART"),
    )
    assert [str(e["UID"]) for e in ours] == [uid(o["id"]) for o in created["occurrences"]]
    starts = [e.decoded("DTSTART") for e in ours]
    ends = [e.decoded("DTEND") for e in ours]
    assert all(s.tzinfo is not None and str(s.tzinfo) == "Europe/Helsinki" for s in starts)
    assert all(e["DTSTART"].params["TZID"] == "Europe/Helsinki" for e in ours)
    assert [(s.hour, s.minute) for s in starts] == [(18, 0)] * 4
    assert [(e.hour, e.minute) for e in ends] == [(19, 0)] * 4
    offsets = [s.utcoffset() for s in starts]
    assert offsets[0] != offsets[-1], "the series does not cross the change"
    assert {s.astimezone(dt.UTC).hour for s in starts} == {15, 16}
    assert "RRULE" not in ours[0]
    zones = [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")]
    assert zones == ["Europe/Helsinki"]


async def test_a_cancelled_occurrence_stays_in_the_feed_as_cancelled(
    client: TestClient, api: Api
) -> None:
    created = await api.create(
        title="Lukupiiri", starts=local(days_ahead(3)), recurrence={"weekdays": ["we"], "count": 3}
    )
    second = created["occurrences"][1]["id"]
    status, _ = await api.call("POST", f"/api/sessions/{second}/cancel", {"reason": "Sairaus"})
    assert status == 200
    events = {str(e["UID"]): e for e in vevents(await fetch_ics(client))}
    assert str(events[uid(second)]["STATUS"]) == "CANCELLED"
    assert str(events[uid(second)]["SUMMARY"]) == "Peruttu: Lukupiiri"
    assert "Sairaus" in str(events[uid(second)]["DESCRIPTION"])
    others = [o["id"] for o in created["occurrences"] if o["id"] != second]
    assert [str(events[uid(o)]["STATUS"]) for o in others] == ["CONFIRMED", "CONFIRMED"]


async def test_uids_are_the_same_in_every_fetch_and_an_unchanged_feed_is_not_sent_again(
    client: TestClient, api: Api
) -> None:
    await api.create(title="A", starts=local(days_ahead(2)))
    await api.create(
        title="B", starts=local(days_ahead(5)), recurrence={"weekdays": ["fr"], "count": 2}
    )
    first = await client.get("/programme.ics")
    second = await client.get("/programme.ics")
    assert await first.read() == await second.read()
    one = icalendar.Calendar.from_ical(await first.read())
    two = icalendar.Calendar.from_ical(await second.read())
    assert uids(one) == uids(two) and len(uids(one)) == 3
    assert all(re.fullmatch(r"[a-z0-9]{10}@kohtaamo\.example\.fi", u) for u in uids(one))
    etag = first.headers["ETag"]
    assert (await client.get("/programme.ics", headers={"If-None-Match": etag})).status == 304
    head = await client.head("/programme.ics")
    assert head.status == 200
    assert head.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert head.headers["ETag"] == etag


async def test_each_event_names_its_page_place_and_organiser(client: TestClient, api: Api) -> None:
    created = await api.create(
        title="Digitreffit",
        starts=local(days_ahead(4), 13),
        venue="nilsia",
        room="lukusali",
        organiser="kotihoito",
        category="digital-help",
    )
    calendar = await fetch_ics(client, "?lang=en")
    assert str(calendar["X-WR-CALNAME"]) == "Kohtaamo: library programme"
    (event,) = vevents(calendar)
    assert str(event["URL"]) == f"{PUBLIC_URL}/sessions/{created['id']}"
    assert str(event["LOCATION"]) == "Lukusali, Nilsiän kirjasto"
    description = str(event["DESCRIPTION"])
    assert "Organiser: Kotihoito, Pohjois-Savon hyvinvointialue" in description
    assert "Free, no registration." in description
    assert f"{PUBLIC_URL}/sessions/{created['id']}" in description


async def test_each_filter_narrows_the_feed(client: TestClient, api: Api) -> None:
    day = days_ahead(6)
    made = {
        "kantti": await api.create(title="K", starts=local(day, 10), venue="kantti", room="lava"),
        "nilsia": await api.create(
            title="N", starts=local(day, 11), venue="nilsia", room="lukusali", category="music"
        ),
        "coordinated": await api.create(
            title="C", starts=local(day, 12), venue="kantti", room="paja", organiser="kotihoito"
        ),
        "in-person": await api.create(
            title="P", starts=local(day, 13), venue="kantti", room="kohtaamo", online=False
        ),
    }
    ids = {name: uid(data["id"]) for name, data in made.items()}
    everything = uids(await fetch_ics(client))
    assert everything == set(ids.values())
    expected = {
        "?venue=nilsia": {ids["nilsia"]},
        "?category=music": {ids["nilsia"]},
        "?organiser=kotihoito": {ids["coordinated"]},
        "?area=north": {ids["nilsia"]},
        "?area=urban": everything - {ids["nilsia"]},
        "?online=1": everything - {ids["in-person"]},
        "?venue=kantti&online=1": {ids["kantti"], ids["coordinated"]},
    }
    for query, want in expected.items():
        assert uids(await fetch_ics(client, query)) == want, query
        json_ids = {
            f"{e['identifier']}@kohtaamo.example.fi" for e in await fetch_json(client, query)
        }
        assert json_ids == want, query


async def test_a_session_shown_in_a_receiving_room_is_on_at_that_library_too(
    client: TestClient, api: Api
) -> None:
    shown = await api.create(
        title="Luento",
        starts=local(days_ahead(3)),
        venue="kantti",
        room="lava",
        receivers=["nilsia"],
    )
    assert uids(await fetch_ics(client, "?venue=nilsia")) == {uid(shown["id"])}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?venue=nowhere", "venue"),
        ("?category=juggling", "category"),
        ("?organiser=nobody", "organiser"),
        ("?area=moon", "area"),
        ("?online=maybe", "online"),
        ("?venue=%3Cscript%3E", "venue"),
    ],
)
async def test_an_unknown_filter_value_is_refused_naming_the_field(
    client: TestClient, api: Api, query: str, field: str
) -> None:
    for feed in ("/programme.ics", "/programme.json"):
        response = await client.get(feed + query)
        assert response.status == 400
        error = (await response.json())["error"]
        assert (error["code"], error["field"]) == ("invalid_field", field)


async def test_private_groups_never_appear(
    client: TestClient, api: Api, sessions: Sessions
) -> None:
    public = await api.create(title="Avoin", starts=local(days_ahead(2)))
    await api.create(
        title="Kotihoidon ryhmä", starts=local(days_ahead(2), 10), visibility="private"
    )
    await sessions.create(title="Yksityinen", private=True, venue="pyoro")
    assert uids(await fetch_ics(client)) == {uid(public["id"])}
    assert [e["name"] for e in await fetch_json(client)] == ["Avoin"]
    assert uids(await fetch_ics(client, "?venue=pyoro")) == set()


async def test_the_feed_reaches_twelve_months_ahead_and_keeps_today(
    client: TestClient, api: Api, sessions: Sessions
) -> None:
    now = utcnow()
    earlier_today = await sessions.create(
        title="Aamulla", starts_at=now - dt.timedelta(minutes=150), minutes=60
    )
    yesterday = await sessions.create(title="Eilen", starts_at=now - dt.timedelta(days=1, hours=2))
    within = await api.create(title="Ensi vuonna", starts=local(days_ahead(360)))
    beyond = await api.create(title="Liian kaukana", starts=local(days_ahead(372)))
    found = uids(await fetch_ics(client))
    local_now = now.astimezone(CITY_TZ)
    if (local_now - dt.timedelta(minutes=150)).date() == local_now.date():
        assert uid(earlier_today.session.id) in found
    assert uid(yesterday.session.id) not in found
    assert uid(within["id"]) in found
    assert uid(beyond["id"]) not in found


async def test_without_public_url_links_use_the_requests_own_origin(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings.replace(public_url="")))
    created = await Sessions(client.app[DATABASE]).create(
        title="A", starts_at=utcnow() + dt.timedelta(days=2)
    )
    (event,) = vevents(await fetch_ics(client))
    assert str(event["URL"]) == f"{base_url(client)}/sessions/{created.session.id}"
    assert str(event["UID"]) == f"{created.session.id}@127.0.0.1"


async def test_the_session_api_gives_a_whep_player_an_absolute_url(
    aiohttp_client: Any, settings: Settings
) -> None:
    """``whep_url`` is handed to players as it is: on public_url, or the request's origin."""
    for public_url in (PUBLIC_URL, ""):
        client = await aiohttp_client(create_app(settings.replace(public_url=public_url)))
        created = await Sessions(client.app[DATABASE]).create(
            title="A", starts_at=utcnow() + dt.timedelta(days=2)
        )
        base = public_url or base_url(client)
        one = await (await client.get(f"/api/sessions/{created.session.id}")).json()
        assert one["whep_url"] == f"{base}/whep/{created.session.id}"
        listed = (await (await client.get("/api/sessions")).json())["sessions"]
        assert one["whep_url"] in {entry["whep_url"] for entry in listed}


# -- schema.org ------------------------------------------------------------------------------------
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
SCHEMA = "https://schema.org/"


def schema_problems(event: dict[str, Any]) -> list[str]:
    """The fields the city's event site reads, and the values schema.org allows."""
    problems = []

    def need(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    need(event.get("@context") == "https://schema.org", "@context")
    need(event.get("@type") == "Event", "@type")
    need(isinstance(event.get("name"), str) and bool(event["name"]), "name")
    for key in ("startDate", "endDate"):
        need(isinstance(event.get(key), str) and bool(ISO_WITH_OFFSET.match(event[key])), key)
    if not problems:
        need(
            dt.datetime.fromisoformat(event["startDate"])
            < dt.datetime.fromisoformat(event["endDate"]),
            "startDate before endDate",
        )
    need(event.get("isAccessibleForFree") is True, "isAccessibleForFree")
    need(
        event.get("eventStatus") in {SCHEMA + "EventScheduled", SCHEMA + "EventCancelled"},
        "eventStatus",
    )
    modes = {SCHEMA + m for m in ("Mixed", "Offline", "Online")}
    mode = str(event.get("eventAttendanceMode", "")).replace("EventAttendanceMode", "")
    need(mode in modes, "eventAttendanceMode")
    need(str(event.get("url", "")).startswith(PUBLIC_URL + "/sessions/"), "url")
    organizer = event.get("organizer")
    need(
        isinstance(organizer, dict)
        and organizer.get("@type") == "Organization"
        and bool(organizer.get("name")),
        "organizer",
    )
    location = event.get("location")
    places = location if isinstance(location, list) else [location]
    kinds = sorted(p.get("@type", "") for p in places if isinstance(p, dict))
    physical = [p for p in places if isinstance(p, dict) and p.get("@type") == "Place"]
    need(
        all(bool(p.get("name")) and bool(p.get("address")) for p in physical),
        "location Place name/address",
    )
    wanted = {
        SCHEMA + "MixedEventAttendanceMode": ["Place", "VirtualLocation"],
        SCHEMA + "OfflineEventAttendanceMode": ["Place"],
        SCHEMA + "OnlineEventAttendanceMode": ["VirtualLocation"],
    }.get(str(event.get("eventAttendanceMode")))
    need(kinds == wanted, f"location {kinds} for {event.get('eventAttendanceMode')}")
    virtual = [p for p in places if isinstance(p, dict) and p.get("@type") == "VirtualLocation"]
    need(all(str(v.get("url", "")).startswith(PUBLIC_URL) for v in virtual), "VirtualLocation url")
    return problems


async def test_every_json_event_is_a_schema_org_event(client: TestClient, api: Api) -> None:
    mixed = await api.create(title="Luento", starts=local(days_ahead(2)), organiser="kotihoito")
    offline = await api.create(title="Käsityöt", starts=local(days_ahead(2), 12), online=False)
    weekly = await api.create(
        title="Jumppa",
        starts=local(days_ahead(3)),
        room="paja",
        recurrence={"weekdays": ["mo"], "count": 2},
    )
    cancelled = weekly["occurrences"][0]["id"]
    await api.call("POST", f"/api/sessions/{cancelled}/cancel", {"reason": "Flunssa"})
    events = await fetch_json(client)
    assert len(events) == 4
    for event in events:
        assert schema_problems(event) == [], event
    by_id = {e["identifier"]: e for e in events}
    assert by_id[mixed["id"]]["eventAttendanceMode"] == SCHEMA + "MixedEventAttendanceMode"
    assert by_id[mixed["id"]]["organizer"]["name"] == "Kotihoito, Pohjois-Savon hyvinvointialue"
    assert by_id[offline["id"]]["eventAttendanceMode"] == SCHEMA + "OfflineEventAttendanceMode"
    assert by_id[offline["id"]]["organizer"]["name"] == "Kirjasto- ja kulttuuritalo KANTTI"
    assert by_id[cancelled]["eventStatus"] == SCHEMA + "EventCancelled"
    assert by_id[weekly["occurrences"][1]["id"]]["eventStatus"] == SCHEMA + "EventScheduled"
    assert by_id[mixed["id"]]["startDate"].endswith(("+02:00", "+03:00"))


async def test_the_session_page_carries_its_feed_entry_as_json_ld(
    client: TestClient, api: Api
) -> None:
    created = await api.create(
        title="Runoilta <b>&</b> musiikkia", starts=local(days_ahead(2)), description="Tervetuloa!"
    )
    (entry,) = await fetch_json(client)
    response = await client.get(f"/sessions/{created['id']}")
    assert response.status == 200
    html = await response.text()
    assert "<b>&</b>" not in html  # escaped inside the script element too
    script = parse(html).by_id("session-jsonld")
    assert script.attrs["type"] == "application/ld+json"
    assert json.loads(script.text()) == entry


async def test_a_private_session_page_has_no_json_ld(
    client: TestClient, sessions: Sessions
) -> None:
    private = await sessions.create(private=True)
    response = await client.get(f"/j/{private.session.join_code}")
    assert "application/ld+json" not in await response.text()
