"""Join cards (A6) and posters (A4): what they say, who may print them, and that the QR
code a phone camera reads leads to the absolute join link."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
from pathlib import Path

import pytest
import zxingcpp
from aiohttp.test_utils import TestClient
from PIL import Image
from playwright.async_api import Browser

from stream_server.basics import CITY_TZ, utcnow
from stream_server.config import Settings
from tests import browser as browser_helpers
from tests.conftest import Api, Sessions, Staff, base_url
from tests.test_pages import parse

chromium = browser_helpers.chromium  # the fixture, by the name the browser tests ask for

PUBLIC_URL = "https://kohtaamo.example.fi"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(public_url=PUBLIC_URL)


def next_weekday(weekday: int, after_days: int = 2) -> dt.date:
    day = (utcnow() + dt.timedelta(days=after_days)).astimezone(CITY_TZ).date()
    return day + dt.timedelta(days=(weekday - day.weekday()) % 7)


@dataclasses.dataclass
class Printed:
    status: int
    text: dict[str, str]  # the card's parts by id
    qr: bool


async def printed(client: TestClient, path: str, headers: dict[str, str] | None = None) -> Printed:
    response = await client.get(path, headers=headers or {}, allow_redirects=False)
    doc = parse(await response.text())
    parts = {}
    for name in ("card-heading", "card-when", "card-place", "card-organiser", "card-free"):
        found = doc.find_all(id=name)
        if found:
            parts[name] = found[0].text()
    codes = doc.find_all(id="card-code")
    if codes:
        parts["code"] = codes[0].text().replace(" ", "")
    return Printed(response.status, parts, bool(doc.find_all(id="card-qr")))


async def test_a_series_card_says_when_it_meets_where_and_that_it_is_free(
    client: TestClient, api: Api
) -> None:
    tuesday = next_weekday(1)
    until = tuesday + dt.timedelta(weeks=3)
    created = await api.create(
        title="Tuolijumppa",
        starts=f"{tuesday.isoformat()}T18:00",
        minutes=60,
        organiser="kotihoito",
        recurrence={"weekdays": ["tu"], "until": until.isoformat()},
    )
    card = await printed(client, f"/sessions/{created['occurrences'][1]['id']}/card")
    assert card.status == 200
    year = "" if until.year == tuesday.year == utcnow().year else str(until.year)
    assert card.text == {
        "card-heading": "Tuolijumppa",
        "card-when": f"joka tiistai klo 18.00–19.00 {until.day}.{until.month}.{year} asti",
        "card-place": "Kohtaamo, Kirjasto- ja kulttuuritalo KANTTI",
        "card-organiser": "Järjestäjä: Kotihoito, Pohjois-Savon hyvinvointialue",
        "card-free": "Maksuton. Ei ilmoittautumista.",
        "code": created["join_code"],
    }
    english = await printed(client, f"/sessions/{created['id']}/poster?lang=en")
    assert english.text["card-when"].startswith("every Tuesday 18:00–19:00 until ")
    assert english.text["card-free"] == "Free. No registration."
    # The links nurses already have show the same card.
    assert (await printed(client, f"/j/{created['join_code']}/card")).text == card.text


async def test_a_one_off_card_gives_its_date_and_an_in_person_one_has_no_way_in_online(
    client: TestClient, api: Api
) -> None:
    day = next_weekday(3)
    once = await api.create(title="Runoilta", starts=f"{day.isoformat()}T17:30", minutes=90)
    card = await printed(client, f"/sessions/{once['id']}/card")
    assert card.text["card-when"].endswith("klo 17.30–19.00")
    assert card.qr and card.text["code"] == once["join_code"]
    in_person = await api.create(
        title="Neulekahvila", starts=f"{day.isoformat()}T12:00", online=False
    )
    card = await printed(client, f"/sessions/{in_person['id']}/card")
    assert card.status == 200 and not card.qr and "code" not in card.text


async def test_a_private_groups_card_needs_its_host_token_or_staff(
    client: TestClient, sessions: Sessions, staff: Staff
) -> None:
    group = await sessions.create(title="Kotihoidon ryhmä", mode="group", private=True)
    other = await sessions.create(title="Toinen")
    path = f"/sessions/{group.session.id}"
    assert (await printed(client, f"{path}/card")).status == 403
    assert (await printed(client, f"{path}/poster?token={other.host_token}")).status == 403
    assert (await printed(client, f"{path}/card?token={group.session.join_code}")).status == 403
    with_token = await printed(client, f"{path}/poster?token={group.host_token}")
    assert with_token.status == 200 and with_token.text["code"] == group.session.join_code
    token = await staff.api_token(await staff.add("anna"))
    as_staff = await printed(client, f"{path}/card", {"Authorization": f"Bearer {token}"})
    assert as_staff.status == 200
    coordinator = await staff.api_token(
        await staff.add("kaisa", role="coordinator", organiser="kotihoito")
    )
    out_of_reach = await printed(client, f"{path}/card", {"Authorization": f"Bearer {coordinator}"})
    assert out_of_reach.status == 403
    assert (await printed(client, "/sessions/nosuchsess/card")).status == 404


async def test_the_public_and_staff_session_pages_link_to_the_card_and_poster(
    client: TestClient, api: Api
) -> None:
    created = await api.create(title="Luento", starts=f"{next_weekday(2).isoformat()}T18:00")
    doc = parse(await (await client.get(f"/sessions/{created['id']}")).text())
    assert doc.by_id("print-card").attrs["href"] == f"/sessions/{created['id']}/card"
    assert doc.by_id("print-poster").attrs["href"] == f"/sessions/{created['id']}/poster"
    staff_page = await client.get(f"/staff/programme/sessions/{created['id']}", headers=api.headers)
    doc = parse(await staff_page.text())
    assert doc.by_id("session-card").attrs["href"] == f"/sessions/{created['id']}/card"
    assert doc.by_id("session-poster").attrs["href"] == f"/sessions/{created['id']}/poster"


# -- in a browser ----------------------------------------------------------------------------------
def decode_qr(png: bytes) -> list[str]:
    """Every QR code a real decoder (ZXing) finds in a screenshot."""
    image = Image.open(io.BytesIO(png)).convert("L")
    return [
        r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode
    ]


#: A6 and A4 in PDF points (1/72 in), as Chromium prints them.
PAPER = {"card": (297.6, 419.5), "poster": (595.3, 841.9)}


@pytest.mark.browser
async def test_the_qr_code_read_from_the_printed_card_is_the_absolute_join_link(
    client: TestClient, api: Api, chromium: Browser, tmp_path: Path
) -> None:
    created = await api.create(
        title="Tuolijumppa",
        starts=f"{next_weekday(1).isoformat()}T18:00",
        recurrence={"weekdays": ["tu"], "count": 4},
    )
    want = f"{PUBLIC_URL}/j/{created['join_code']}"
    context = await chromium.new_context(locale="fi-FI")
    try:
        page = await context.new_page()
        for kind in ("card", "poster"):
            response = await page.goto(f"{base_url(client)}/sessions/{created['id']}/{kind}")
            assert response is not None and response.status == 200
            await page.set_viewport_size({"width": 390, "height": 844})  # a phone
            assert decode_qr(await page.locator("#card-qr").screenshot()) == [want], kind
            assert decode_qr(await page.screenshot(full_page=True)) == [want], kind
            # Printing uses the paper size of its @page rule.
            pdf = await page.pdf(prefer_css_page_size=True)
            box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
            assert box is not None
            width, height = (float(v) for v in box.groups())
            assert (round(width, 1), round(height, 1)) == pytest.approx(PAPER[kind], abs=1), kind
            # ...on one sheet.
            assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1, kind
            (tmp_path / f"{kind}.pdf").write_bytes(pdf)
    finally:
        await context.close()
