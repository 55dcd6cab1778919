"""The public programme (``/``): days, filters in the URL, cancellations, the notice board
kept current by pushed events, and the accessibility statement and privacy notice."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser

from stream_server.basics import CITY_TZ, utcnow
from stream_server.config import Settings
from stream_server.web.keys import LIVE
from tests import browser as browser_helpers
from tests.conftest import Api, base_url
from tests.test_pages import Node, parse

chromium = browser_helpers.chromium  # the fixture, by the name the browser test asks for


def local_iso(moment: dt.datetime) -> str:
    return moment.astimezone(CITY_TZ).replace(tzinfo=None).isoformat(timespec="minutes")


def soon(minutes: int = 10) -> str:
    """A start inside the doors-open time: the session can be joined now."""
    return local_iso(utcnow() + dt.timedelta(minutes=minutes))


def in_days(days: int, hour: int = 18) -> str:
    day = utcnow().astimezone(CITY_TZ).date() + dt.timedelta(days=days)
    return local_iso(dt.datetime.combine(day, dt.time(hour), CITY_TZ))


async def page(client: TestClient, path: str) -> Node:
    async with client.get(path) as response:
        assert response.status == 200, path
        return parse(await response.text())


def entries(doc: Node) -> dict[str, Node]:
    """The listed entries by title."""
    return {
        li.find("h3").text(): li
        for li in doc.find_all("li")
        if "programme-entry" in (li.attrs.get("class") or "")
    }


@pytest.fixture
async def programme(api: Api) -> dict[str, dict[str, Any]]:
    """A small week: a lecture at KANTTI received in Nilsiä, exercise in Nilsiä (in person
    only), music in Karttula tomorrow, a private group, and a cancelled discussion."""
    made = {
        "lecture": await api.create(
            title="Luento: Kuopion historia",
            starts=soon(),
            category="lecture",
            organiser="kuopion-kaupunginkirjasto",
            receivers=["nilsia/lukusali"],
        ),
        "exercise": await api.create(
            title="Tuolijumppa",
            venue="nilsia",
            room="lukusali",
            starts=soon(5),
            category="exercise",
            online=False,
        ),
        "music": await api.create(
            title="Yhteislaulu",
            venue="karttula",
            room="lukusali",
            starts=in_days(1),
            category="music",
        ),
        "private": await api.create(
            title="Kotihoidon ryhmä", starts=in_days(2), visibility="private"
        ),
        "cancelled": await api.create(
            title="Keskustelupiiri", starts=in_days(3), category="discussion"
        ),
    }
    status, _ = await api.call(
        "POST", f"/api/sessions/{made['cancelled']['id']}/cancel", {"reason": "Vetäjä on sairas"}
    )
    assert status == 200
    return made


async def test_the_page_lists_public_sessions_by_day_with_where_when_and_who(
    client: TestClient, programme: dict[str, dict[str, Any]]
) -> None:
    doc = await page(client, "/")
    listed = entries(doc)
    assert set(listed) == {
        "Luento: Kuopion historia",
        "Tuolijumppa",
        "Yhteislaulu",
        "Keskustelupiiri",
    }
    days = [h.text() for h in doc.find_all("h2") if h.attrs.get("id", "").startswith("day-")]
    assert days[0].startswith("Tänään") and days[1].startswith("Huomenna"), days
    lecture = listed["Luento: Kuopion historia"]
    assert (
        lecture.find("dd", **{"class": "entry-place"}).text()
        == "Kirjasto- ja kulttuuritalo KANTTI, Kohtaamo"
    )
    assert lecture.find("dd", **{"class": "entry-organiser"}).text() == "Kuopion kaupunginkirjasto"
    assert lecture.find("span", **{"class": "entry-free"}).text() == "Maksuton, ei ilmoittautumista"
    assert lecture.find("span", **{"class": "entry-online"}).text() == "Voit osallistua myös etänä"
    starts = dt.datetime.fromisoformat(lecture.find("time").attrs["datetime"] or "")
    assert starts.utcoffset() == starts.astimezone(CITY_TZ).utcoffset()  # Helsinki time
    assert lecture.find("time").text().count(".") == 2  # "18.10–19.10": Finnish clock times


async def test_join_is_offered_when_doors_are_open_and_never_in_person_only(
    client: TestClient, programme: dict[str, dict[str, Any]]
) -> None:
    listed = entries(await page(client, "/"))
    join = listed["Luento: Kuopion historia"].find("a", **{"class": "button join-button"})
    assert join.attrs["href"] == f"/sessions/{programme['lecture']['id']}"
    exercise = listed["Tuolijumppa"]
    assert not exercise.find_all("a", **{"class": "button join-button"})
    assert exercise.find("span", **{"class": "entry-in-person"}).text() == "Vain paikan päällä"
    assert not listed["Yhteislaulu"].find_all("a", **{"class": "button join-button"})  # tomorrow


async def test_cancelled_sessions_are_shown_with_their_reason(
    client: TestClient, programme: dict[str, dict[str, Any]]
) -> None:
    cancelled = entries(await page(client, "/?lang=en"))["Keskustelupiiri"]
    assert "is-cancelled" in (cancelled.attrs["class"] or "")
    assert cancelled.find("strong", **{"class": "badge badge-cancelled"}).text() == "Cancelled"
    assert cancelled.find("p", **{"class": "entry-cancel-reason"}).text() == (
        "Reason: Vetäjä on sairas"
    )
    assert not cancelled.find_all("a", **{"class": "button join-button"})


@pytest.mark.parametrize(
    ("query", "titles"),
    [
        # A library lists what is held there and what is received there.
        ("venue=nilsia", {"Luento: Kuopion historia", "Tuolijumppa"}),
        ("area=south", {"Yhteislaulu"}),
        ("area=north", {"Luento: Kuopion historia", "Tuolijumppa"}),
        ("category=music", {"Yhteislaulu"}),
        ("online=1", {"Luento: Kuopion historia", "Yhteislaulu"}),
        ("venue=nilsia&online=1", {"Luento: Kuopion historia"}),
        # A value that names nothing (an old bookmark) narrows nothing.
        (
            "venue=atlantis",
            {"Luento: Kuopion historia", "Tuolijumppa", "Yhteislaulu", "Keskustelupiiri"},
        ),
    ],
)
async def test_each_filter_narrows_the_page(
    client: TestClient, programme: dict[str, dict[str, Any]], query: str, titles: set[str]
) -> None:
    assert set(entries(await page(client, f"/?{query}"))) == titles


async def test_the_filter_form_round_trips_through_the_url(
    client: TestClient, programme: dict[str, dict[str, Any]]
) -> None:
    """The form is a plain GET form: what it shows selected is what its URL says, so the
    view can be bookmarked, and "more" keeps the filter."""
    doc = await page(client, "/?area=north&venue=nilsia&category=exercise&online=1&lang=en")
    form = doc.find("form", **{"class": "programme-filters"})
    assert form.attrs["method"] == "get" and form.attrs["action"] == "/"
    selected = {
        select.attrs["name"]: [
            o.attrs["value"] for o in select.find_all("option") if "selected" in o.attrs
        ]
        for select in form.find_all("select")
    }
    assert selected == {"area": ["north"], "venue": ["nilsia"], "category": ["exercise"]}
    assert "checked" in form.find("input", id="filter-online").attrs
    more = doc.find("a", **{"class": "programme-more"}).attrs["href"]
    assert more == "/?area=north&venue=nilsia&category=exercise&online=1&weeks=8&lang=en"
    assert doc.find("a", **{"class": "filter-clear"}).attrs["href"] == "/?lang=en"


async def test_private_sessions_are_never_listed_anywhere(
    client: TestClient, programme: dict[str, dict[str, Any]]
) -> None:
    for path in ("/", "/?weeks=12", "/?venue=kantti", "/?view=board", "/?view=board&fragment=1"):
        async with client.get(path) as response:
            assert "Kotihoidon ryhmä" not in await response.text(), path


async def test_the_board_has_large_type_no_form_and_a_fragment(
    client: TestClient, programme: dict[str, dict[str, Any]]
) -> None:
    doc = await page(client, "/?venue=nilsia&view=board")
    assert "page-board" in (doc.find("body").attrs["class"] or "")
    assert doc.find("h1").text() == "Ohjelma: Nilsiän kirjasto"
    assert not doc.find_all("form")
    assert set(entries(doc)) == {"Luento: Kuopion historia", "Tuolijumppa"}
    fragment = await page(client, "/?venue=nilsia&view=board&fragment=1")
    assert not fragment.find_all("html") and not fragment.find_all("body")
    days = fragment.find(id="programme-days")
    assert dt.datetime.fromisoformat(days.attrs["data-next-change"] or "") > utcnow()
    assert set(entries(fragment)) == {"Luento: Kuopion historia", "Tuolijumppa"}


async def next_event(stream: Any) -> str:
    """The next ``programme`` event's data line."""
    event = None
    while True:
        line = (await asyncio.wait_for(stream.content.readline(), 10)).decode().strip()
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == "programme":
            return line.removeprefix("data: ")


async def test_the_event_stream_announces_programme_changes_without_details(
    client: TestClient, api: Api
) -> None:
    async with client.get("/api/programme/events") as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert await next_event(stream) == '{"version":0}'  # at connect: read it all once
        made = await api.create(title="Satutuokio", starts=in_days(1))
        assert await next_event(stream) == '{"version":1}'
        await api.call("POST", f"/api/sessions/{made['id']}/cancel", {"reason": "Sairastuminen"})
        assert await next_event(stream) == '{"version":2}'
    news = client.app[LIVE].programme_news
    assert news.version == 2


async def test_the_event_stream_ends_when_the_server_stops(client: TestClient) -> None:
    async with client.get("/api/programme/events") as stream:
        await next_event(stream)
        client.app[LIVE].programme_news.close()
        rest = await asyncio.wait_for(stream.content.read(), 10)
    assert b"event: programme" not in rest


@pytest.mark.browser
async def test_the_board_shows_a_new_session_and_a_cancellation_without_reloading(
    client: TestClient, api: Api, chromium: Browser
) -> None:
    page_ = await browser_helpers.new_watched_page(chromium)
    loads: list[str] = []
    page_.on("load", lambda _: loads.append("load"))
    await page_.goto(f"{base_url(client)}/?venue=nilsia&view=board")
    await page_.wait_for_function("() => window.kohtaamoBoard?.swaps >= 1")  # caught up at connect
    await page_.evaluate("() => { window.stillTheSamePage = true; }")
    made = await api.create(title="Lukupiiri", venue="nilsia", room="lukusali", starts=in_days(1))
    entry = page_.locator(f'li[data-session="{made["id"]}"]')
    await entry.wait_for(state="visible", timeout=10_000)
    assert await entry.locator("h3").inner_text() == "Lukupiiri"
    await api.call("POST", f"/api/sessions/{made['id']}/cancel", {"reason": "Kirjasto on kiinni"})
    await page_.locator(f'li[data-session="{made["id"]}"].is-cancelled').wait_for(timeout=10_000)
    reason = await entry.locator(".entry-cancel-reason").inner_text()
    assert reason == "Syy: Kirjasto on kiinni"
    assert await page_.evaluate("() => window.stillTheSamePage") is True
    assert loads == ["load"], "the board reloaded"
    await page_.close()


# -- the statements -------------------------------------------------------------------------------
async def test_the_accessibility_statement_says_what_the_act_requires(
    client: TestClient,
) -> None:
    doc = await page(client, "/saavutettavuus")
    assert doc.find("h1").text() == "Saavutettavuusseloste"
    assert "osittain" in doc.by_id("a11y-status").text()
    gaps = doc.by_id("a11y-shortcomings").text()
    assert "tekstitystä" in gaps and "itsestään" in gaps
    assert "saavutettavuusvaatimukset.fi" in doc.by_id("a11y-authority").text()
    assert doc.by_id("a11y-prepared").text() == "Seloste on laadittu 3.12.2026."
    async with client.get("/accessibility", allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["Location"] == "/saavutettavuus?lang=en"
    english = await page(client, "/saavutettavuus?lang=en")
    assert english.by_id("a11y-status").text() == (
        "The service partially conforms to WCAG 2.1 level AA."
    )


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(
        accessibility_contact="saavutettavuus@example.fi",
        recording_retention_days=14.0,
        attendance_retention_days=365.0,
    )


async def test_the_statements_use_the_configured_contact_and_retention(
    client: TestClient,
) -> None:
    doc = await page(client, "/saavutettavuus")
    assert doc.by_id("a11y-contact").find("a").attrs["href"] == "mailto:saavutettavuus@example.fi"
    privacy = await page(client, "/tietosuoja")
    retention = privacy.by_id("privacy-retention").text()
    assert "Tallenteet poistetaan 14 päivän kuluttua." in retention
    assert "Osallistumistiedot poistetaan 365 päivän kuluttua." in retention
    async with client.get("/privacy", allow_redirects=False) as response:
        assert response.headers["Location"] == "/tietosuoja?lang=en"


async def test_every_public_page_links_both_statements(client: TestClient) -> None:
    for path in ("/", "/saavutettavuus", "/tietosuoja?lang=en", "/sessions/nosuch"):
        async with client.get(path) as response:
            doc = parse(await response.text())
        links = [
            a.attrs["href"] or ""
            for a in doc.find("nav", **{"class": "footer-links"}).find_all("a")
        ]
        assert [link.split("?")[0] for link in links] == ["/saavutettavuus", "/tietosuoja"], path
