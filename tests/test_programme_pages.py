"""The planning page (/staff/programme): the week view, its forms, undo, copying a week,
organisers, the audit log and the join card, in Finnish and English; and a librarian making
a weekly series in Chromium that another organiser's coordinator cannot edit."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser

from stream_server.basics import CITY_TZ, utcnow
from stream_server.catalog import recurrence
from stream_server.catalog import service as catalog
from stream_server.devices import service as devices_service
from stream_server.web.keys import DATABASE
from tests import browser as browser_helpers
from tests.conftest import Api, Devices, Staff, base_url
from tests.test_dashboard import staff_page
from tests.test_kiosk_pages import open_device_page
from tests.test_pages import Node, parse

chromium = browser_helpers.chromium  # the fixture, by the name the browser test asks for


def next_monday() -> dt.date:
    today = utcnow().astimezone(CITY_TZ).date()
    return today + dt.timedelta(days=7 - today.weekday())


async def logged_in(client: TestClient, staff: Staff, name: str = "anna", **account: str) -> str:
    async with client.app[DATABASE].session() as db:
        await catalog.sync_reference_data(db)
    return await staff.login(name, **account)


def form(csrf: str, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "csrf_token": csrf,
        "title": "Lukupiiri",
        "description": "",
        "category": "discussion",
        "room": "kantti/kohtaamo",
        "organiser": "",
        "date": next_monday().isoformat(),
        "time": "18:00",
        "minutes": "90",
        "mode": "group",
        "visibility": "public",
        "online": "1",
    }
    data.update(fields)
    return data


async def page(client: TestClient, path: str) -> tuple[int, Node]:
    response = await client.get(path)
    return response.status, parse(await response.text())


def titles(doc: Node) -> list[str]:
    """The titles in the week view, in order."""
    return [n.text() for n in doc.iter() if "prog-title" in (n.attrs.get("class") or "")]


def field_error(doc: Node, name: str) -> str:
    return doc.by_id(f"error-{name}").text()


async def test_the_week_view_lists_sessions_by_venue_room_and_day(
    client: TestClient, staff: Staff, api: Api
) -> None:
    monday = next_monday()
    await api.create(
        title="Tuolijumppa",
        starts=f"{monday + dt.timedelta(days=1)}T10:00",
        organiser="liikuntapalvelut",
        category="exercise",
        recurrence={"weekdays": ["tu"], "count": 3},
    )
    await api.create(
        title="Käsityöilta",
        starts=f"{monday + dt.timedelta(days=3)}T17:00",
        room="paja",
        category="crafts",
        online=False,
    )
    await logged_in(client, staff, "anna")  # the fixture's admin, now in the browser too
    status, doc = await page(client, f"/staff/programme?week={monday}")
    assert status == 200
    assert doc.find("h1").text() == "Ohjelma"
    table = doc.by_id("venue-kantti").parent
    headers = [th.text() for th in table.find("thead").find_all("th")]
    assert headers[0] == "Tila" and headers[2].startswith("ti ")
    row = next(
        tr
        for tr in table.find_all("tr")
        if tr.find_all("th") and tr.find_all("th")[0].text() == "Kohtaamo"
    )
    cells = row.find_all("td")
    assert "Tuolijumppa" in cells[1].text() and "10.00–11.00" in cells[1].text()
    assert "Viikoittain" in cells[1].text() and "Liittymiskoodi" in cells[1].text()
    craft = next(
        tr
        for tr in table.find_all("tr")
        if tr.find_all("th") and tr.find_all("th")[0].text() == "Paja"
    )
    assert "Vain paikan päällä" in craft.find_all("td")[3].text()
    # Filters: by category, by organiser.
    status, doc = await page(client, f"/staff/programme?week={monday}&category=crafts")
    assert titles(doc) == ["Käsityöilta"]
    status, doc = await page(client, f"/staff/programme?week={monday}&organiser=liikuntapalvelut")
    assert titles(doc) == ["Tuolijumppa"]
    # English, and the previous and next weeks.
    status, doc = await page(client, f"/staff/programme?week={monday}&lang=en")
    assert doc.find("h1").text() == "Programme" and "Weekly" in doc.text()
    assert (
        doc.by_id("next-week")
        .attrs["href"]
        .startswith(f"/staff/programme?week={monday + dt.timedelta(days=7)}")
    )


async def test_a_weekly_series_is_made_from_the_form_and_errors_sit_next_to_their_fields(
    client: TestClient, staff: Staff
) -> None:
    csrf = await logged_in(client, staff)
    monday = next_monday()
    bad = await client.post(
        "/staff/programme/new",
        data=form(csrf, title="", minutes="0", weekdays=["mo"], ends="count", count="500"),
    )
    assert bad.status == 400
    doc = parse(await bad.text())
    assert doc.by_id("field-title").attrs["aria-invalid"] == "true"
    assert "otsikko" in field_error(doc, "title").lower()
    assert doc.by_id("error-summary").find("a").attrs["href"] == "#field-title"
    assert doc.by_id("field-title").attrs["value"] == ""  # kept for correcting
    good = await client.post(
        "/staff/programme/new",
        data=form(
            csrf, weekdays=["mo", "th"], ends="until", until=str(monday + dt.timedelta(days=20))
        ),
    )
    assert good.status == 201, await good.text()
    doc = parse(await good.text())
    assert len(doc.by_id("created-occurrences").find_all("li")) == 6
    assert doc.by_id("created-rule").text() == (
        f"Viikoittain: ma, to klo 18.00, {(monday + dt.timedelta(days=20)).day}."
        f"{(monday + dt.timedelta(days=20)).month}.{(monday + dt.timedelta(days=20)).year} asti"
    )
    code = doc.by_id("created-code").text()
    assert doc.by_id("created-host").attrs["href"].startswith("/series/")
    assert re.fullmatch(r"/sessions/[a-z0-9]{10}/card", doc.by_id("created-card").attrs["href"])
    assert code
    # Double booking: the error is next to the date, linking the session in the way.
    clash = await client.post("/staff/programme/new", data=form(csrf, title="Toinen", time="18:30"))
    assert clash.status == 409
    doc = parse(await clash.text())
    assert "varattu" in field_error(doc, "date")
    assert doc.by_id("conflict-link").attrs["href"].startswith("/staff/programme/sessions/")


async def test_edit_this_and_following_cancel_and_undo_from_the_forms(
    client: TestClient, staff: Staff, api: Api
) -> None:
    monday = next_monday()
    created = await api.create(
        title="Muistikahvila", starts=f"{monday}T13:00", recurrence={"weekdays": ["mo"], "count": 3}
    )
    ids = [o["id"] for o in created["occurrences"]]
    csrf = await logged_in(client, staff, "anna")
    status, doc = await page(client, f"/staff/programme/sessions/{ids[1]}")
    assert status == 200
    assert "checked" in doc.by_id("field-scope-one").attrs
    fields = {
        "title": "Muistikahvila (uusi aika)",
        "room": "kantti/kohtaamo",
        "date": str(monday + dt.timedelta(days=8)),  # Tuesday of the second week
        "time": "14:00",
        "minutes": "60",
        "mode": "broadcast",
        "visibility": "public",
        "online": "1",
        "category": "other",
        "organiser": "",
        "description": "",
        "scope": "following",
    }
    saved = await client.post(
        f"/staff/programme/sessions/{ids[1]}",
        data={"csrf_token": csrf, **fields},
        allow_redirects=False,
    )
    assert saved.status == 303, await saved.text()
    status, series = await api.call("GET", f"/api/series/{created['series_id']}")
    times = [o["starts_at"][:16] for o in series["occurrences"]]
    assert times == [
        f"{monday}T13:00",
        f"{monday + dt.timedelta(days=8)}T14:00",
        f"{monday + dt.timedelta(days=15)}T14:00",
    ]
    # Cancelling needs a reason, shown next to its field.
    refused = await client.post(
        f"/staff/programme/sessions/{ids[2]}/cancel", data={"csrf_token": csrf, "reason": ""}
    )
    assert refused.status == 400
    assert "syy" in field_error(parse(await refused.text()), "reason").lower()
    cancelled = await client.post(
        f"/staff/programme/sessions/{ids[2]}/cancel",
        data={"csrf_token": csrf, "reason": "Kirjasto suljettu", "scope": "one"},
        allow_redirects=False,
    )
    assert cancelled.status == 303
    status, doc = await page(client, f"/staff/programme?week={monday + dt.timedelta(days=14)}")
    item = doc.by_id(f"session-{ids[2]}")
    assert "Peruttu: Kirjasto suljettu" in item.text()
    # Undo takes back the cancellation, then the edit.
    assert "peruutus" in doc.by_id("undo").text()
    undone = await client.post(
        "/staff/programme/undo", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert undone.status == 303 and "notice=undone" in undone.headers["Location"]
    status, series = await api.call("GET", f"/api/series/{created['series_id']}")
    assert [o["status"] for o in series["occurrences"]] == ["scheduled"] * 3
    await client.post("/staff/programme/undo", data={"csrf_token": csrf})
    status, series = await api.call("GET", f"/api/series/{created['series_id']}")
    assert [o["starts_at"][11:16] for o in series["occurrences"]] == ["13:00"] * 3
    assert {o["title"] for o in series["occurrences"]} == {"Muistikahvila"}


async def test_copy_this_week_to_the_next(client: TestClient, staff: Staff, api: Api) -> None:
    monday = next_monday()
    one = await api.create(title="Digiapu", starts=f"{monday}T10:00", category="digital-help")
    await api.create(title="Runoilta", starts=f"{monday + dt.timedelta(days=2)}T18:00")
    await api.create(title="Varattu", starts=f"{monday + dt.timedelta(days=9)}T18:00")
    weekly = await api.create(
        title="Sarja", starts=f"{monday}T12:00", recurrence={"weekdays": ["mo"], "count": 2}
    )
    csrf = await logged_in(client, staff, "anna")
    response = await client.post(
        "/staff/programme/copy-week",
        data={"csrf_token": csrf, "week": str(monday)},
        allow_redirects=False,
    )
    assert response.status == 303
    location = response.headers["Location"]
    assert "copied=1" in location and "skipped=1" in location  # Runoilta's room is taken
    _status, doc = await page(client, location)
    assert "Kopioitu 1" in doc.by_id("prog-notice").text()
    assert sorted(titles(doc)) == ["Digiapu", "Sarja", "Varattu"]
    del one, weekly


async def test_a_coordinator_cannot_open_another_organiser_s_session(
    client: TestClient, staff: Staff, api: Api
) -> None:
    created = await api.create(
        title="Kirjaston luento",
        starts=f"{next_monday()}T18:00",
        organiser="kuopion-kaupunginkirjasto",
    )
    await logged_in(client, staff, "kaisa", role="coordinator", organiser="kotihoito")
    status, doc = await page(client, f"/staff/programme/sessions/{created['id']}")
    assert status == 403 and "notice-out-of-scope" in str(doc.find("body").attrs.get("class"))
    status, doc = await page(client, f"/staff/programme?week={next_monday()}")
    item = doc.by_id(f"session-{created['id']}")
    assert not item.find_all("a")  # seen in the week (the room is booked), not editable
    status, _ = await page(client, "/staff/audit")
    assert status == 403


async def test_organisers_page_adds_one_and_the_audit_page_shows_it(
    client: TestClient, staff: Staff
) -> None:
    csrf = await logged_in(client, staff)
    bad = await client.post(
        "/staff/organisers", data={"csrf_token": csrf, "name": "", "kind": "association"}
    )
    assert bad.status == 400
    assert parse(await bad.text()).by_id("org-name").attrs["aria-invalid"] == "true"
    ok = await client.post(
        "/staff/organisers",
        data={
            "csrf_token": csrf,
            "name": "Neulamäen asukkaat",
            "kind": "resident",
            "contact_person": "Riikka Kirjastonhoitaja",
            "contact_email": "riikka@example.org",
        },
        allow_redirects=False,
    )
    assert ok.status == 303
    status, doc = await page(client, "/staff/organisers")
    row = doc.find("tr", **{"data-slug": "neulamaen-asukkaat"})
    assert "Asukkaat" in row.text() and "Riikka Kirjastonhoitaja" in row.text()
    edited = await client.post(
        "/staff/organisers/neulamaen-asukkaat",
        data={
            "csrf_token": csrf,
            "name": "Neulamäen asukasyhdistys",
            "kind": "association",
            "contact_person": "Riikka Kirjastonhoitaja",
            "contact_email": "ei osoite",
        },
    )
    assert edited.status == 400
    assert parse(await edited.text()).by_id("org-contact_email").attrs["aria-invalid"] == "true"
    edited = await client.post(
        "/staff/organisers/neulamaen-asukkaat",
        data={
            "csrf_token": csrf,
            "name": "Neulamäen asukasyhdistys",
            "kind": "association",
            "contact_person": "Riikka Kirjastonhoitaja",
            "contact_email": "",
        },
        allow_redirects=False,
    )
    assert edited.status == 303
    status, doc = await page(client, "/staff/audit")
    assert status == 200
    first = doc.by_id("audit").find("tbody").find("tr")
    assert "organiser" in first.text() and "anna" in first.text() and "edit" in first.text()


async def test_the_join_card_carries_the_code_and_when_the_series_meets(
    client: TestClient, api: Api
) -> None:
    created = await api.create(
        title="Kotihoidon jumppa",
        starts=f"{next_monday()}T10:00",
        visibility="private",
        recurrence={"weekdays": ["mo", "we"], "count": 8},
    )
    status, doc = await page(client, f"/j/{created['join_code']}/card")
    assert status == 200
    assert doc.find("h1").text() == "Kotihoidon jumppa"
    assert (
        doc.by_id("card-when").text() == "joka maanantai ja keskiviikko klo 10.00–11.00 (8 kertaa)"
    )
    assert doc.by_id("card-code").text().replace(" ", "") == created["join_code"]
    assert doc.by_id("card-qr").find("svg").attrs["aria-hidden"] == "true"
    missing, _ = await page(client, "/j/NOSUCHCO/card")
    assert missing == 404


@pytest.mark.browser
async def test_a_librarian_plans_a_weekly_series_that_another_coordinator_cannot_edit(
    client: TestClient, staff: Staff, chromium: Browser
) -> None:
    async with client.app[DATABASE].session() as db:
        await catalog.sync_reference_data(db)
    await staff.add("anna", role="librarian", venue="nilsia")
    await staff.add("kaisa", role="coordinator", organiser="kotihoito")
    base = base_url(client)
    monday = next_monday()
    librarian = await staff_page(chromium, base, "/staff/programme")
    assert (
        await librarian.get_by_label("Kirjasto", exact=True).input_value() == "nilsia"
    )  # her venue first
    await librarian.get_by_role("link", name="Uusi tapahtuma").click()
    await librarian.get_by_label("Otsikko").fill("Lukupiiri")
    await librarian.get_by_label("Järjestäjä").select_option("elakeliitto")
    await librarian.get_by_label("Päivä", exact=True).fill(str(monday + dt.timedelta(days=1)))
    await librarian.get_by_label("Alkaa klo").fill("18:00")
    await librarian.get_by_label("Kesto (min)").fill("90")
    await librarian.get_by_text("Toistuu viikoittain").click()
    await librarian.get_by_label("ti", exact=True).check()
    # By keyboard: the count choice and its number.
    await librarian.get_by_label("Kertoja", exact=True).focus()
    await librarian.keyboard.press("Space")
    await librarian.get_by_label("Kertojen määrä").fill("4")
    await librarian.get_by_role("button", name="Luo tapahtuma").press("Enter")
    await librarian.wait_for_selector("#created-code")
    assert len(await librarian.locator("#created-occurrences li").all()) == 4
    code = (await librarian.text_content("#created-code") or "").strip()
    await librarian.get_by_role("link", name="Viikkonäkymään").click()
    item = librarian.locator(".prog-item", has_text="Lukupiiri").first
    assert "18.00–19.30" in (await item.text_content() or "")
    assert code in (await item.text_content() or "")
    edit_url = await item.get_by_role("link", name="Lukupiiri", exact=True).get_attribute("href")
    assert edit_url is not None

    # The Kotihoito coordinator sees the booking but cannot edit it.
    coordinator_context = await chromium.new_context(locale="fi-FI")
    coordinator = await coordinator_context.new_page()
    next_path = f"/staff/programme%3Fweek%3D{monday}"
    await coordinator.goto(f"{base}/staff/login?next={next_path}")
    await coordinator.get_by_label("Käyttäjätunnus").fill("kaisa")
    await coordinator.get_by_label("Salasana").fill(Staff.PASSWORD)
    await coordinator.get_by_role("button", name="Kirjaudu").click()
    await coordinator.wait_for_selector("#programme-heading")
    await coordinator.get_by_label("Kirjasto", exact=True).select_option("nilsia")
    await coordinator.get_by_role("button", name="Näytä").click()
    seen = coordinator.locator(".prog-item", has_text="Lukupiiri").first
    await seen.wait_for()
    assert await seen.get_by_role("link").count() == 0
    assert code not in (await seen.text_content() or "")
    response = await coordinator.goto(f"{base}{edit_url}")
    assert response is not None and response.status == 403
    assert await coordinator.get_by_role("heading", name="Ei käyttöoikeutta").is_visible()
    browser_helpers.assert_no_page_errors(librarian)


@pytest.mark.browser
async def test_a_tablet_shows_its_series_and_a_cancelled_week_as_cancelled(
    client: TestClient, api: Api, devices: Devices, chromium: Browser
) -> None:
    """The home-care client sees this week's group is off, with the reason, not a gap."""
    now = utcnow().astimezone(CITY_TZ)
    created = await api.create(
        title="Tuolijumppa",
        venue="nilsia",
        room=None,
        mode="group",
        visibility="private",
        starts=(now + dt.timedelta(minutes=5)).isoformat(timespec="minutes"),
        recurrence={"weekdays": [recurrence.WEEKDAYS[now.weekday()]], "count": 3},
    )
    first, second = created["occurrences"][0]["id"], created["occurrences"][1]["id"]
    token = await devices.add("nilsia", "tablet")
    async with client.app[DATABASE].session() as db:
        tablet = (await devices_service.list_devices(db))[0]
    status, _ = await api.call("POST", f"/api/sessions/{first}/invitations", {"device": tablet.id})
    assert status == 201
    status, _ = await api.call(
        "POST", f"/api/sessions/{first}/cancel", {"reason": "Ohjaaja sairastui"}
    )
    assert status == 200
    page = await open_device_page(chromium, f"{base_url(client)}/tablet#device={token}", ".card")
    card = page.locator(f".card[data-session-id='{first}']")
    assert await card.get_attribute("data-status") == "cancelled"
    assert "Tapahtuma on peruttu. Syy: Ohjaaja sairastui" in await card.inner_text()
    assert await card.locator("button").count() == 0
    # Next week's is on the tablet too (the whole series is invited).
    assert second in {
        s["id"]
        for s in (
            await (
                await client.get(
                    "/api/device/schedule?days=8", headers={"Authorization": f"Bearer {token}"}
                )
            ).json()
        )["sessions"]
    }
    browser_helpers.assert_no_page_errors(page)
