"""Area populations: staff keep them current, and the per-1,000 figures follow at once."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser

from stream_server.catalog import service as catalog
from stream_server.web.keys import DATABASE
from tests import browser as browser_helpers
from tests.conftest import Sessions, Staff, base_url
from tests.test_dashboard import staff_page

chromium = browser_helpers.chromium  # the fixture, by the name the browser test asks for


async def populations(client: TestClient) -> dict[str, int]:
    async with client.app[DATABASE].session() as db:
        await catalog.sync_reference_data(db)
        return {a.slug: a.population for a in await catalog.list_areas(db)}


async def test_api_sets_a_population_and_reports_divide_by_it(
    client: TestClient, staff: Staff, sessions: Sessions
) -> None:
    await populations(client)
    assert (await client.get("/api/areas")).status == 401
    await staff.add()
    auth = {"Authorization": f"Bearer {await staff.api_token()}"}
    listed = await (await client.get("/api/areas?lang=en", headers=auth)).json()
    assert {"slug": "north", "name": "Northern rural area", "population": 14300} in listed["areas"]
    response = await client.put("/api/areas/north", json={"population": 20000}, headers=auth)
    assert response.status == 200 and (await response.json())["population"] == 20000
    assert (await populations(client))["north"] == 20000
    report = await (
        await client.get("/api/reports/attendance?period=year&group_by=area", headers=auth)
    ).json()
    north = next(row for row in report["rows"] if row["key"] == "north")
    assert north["population"] == 20000


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"population": -1}, 400, "invalid_population"),
        ({"population": 10_000_001}, 400, "invalid_population"),
        ({"population": "12000"}, 400, "invalid_population"),
        ({"population": True}, 400, "invalid_population"),
        ({}, 400, "invalid_population"),
    ],
)
async def test_api_refuses_nonsense(
    client: TestClient, staff: Staff, body: dict[str, object], status: int, code: str
) -> None:
    before = await populations(client)
    await staff.add()
    auth = {"Authorization": f"Bearer {await staff.api_token()}"}
    response = await client.put("/api/areas/north", json=body, headers=auth)
    assert response.status == status
    assert (await response.json())["error"]["code"] == code
    assert await populations(client) == before


async def test_api_unknown_area_is_404(client: TestClient, staff: Staff) -> None:
    await staff.add()
    auth = {"Authorization": f"Bearer {await staff.api_token()}"}
    response = await client.put("/api/areas/atlantis", json={"population": 5}, headers=auth)
    assert response.status == 404 and (await response.json())["error"]["code"] == "unknown_area"


async def test_form_needs_the_csrf_token_and_saves_all_or_nothing(
    client: TestClient, staff: Staff
) -> None:
    before = await populations(client)
    csrf = await staff.login()
    no_token = await client.post("/staff/areas", data={"population-north": "15000"})
    assert no_token.status == 403
    bad = await client.post(
        "/staff/areas",
        data={"csrf_token": csrf, "population-north": "15000", "population-south": "lots"},
    )
    assert bad.status == 400
    page = await bad.text()
    assert 'aria-invalid="true"' in page and "Mitään ei tallennettu" in page
    assert 'value="lots"' in page  # what was typed stays for correcting
    assert await populations(client) == before
    good = await client.post(
        "/staff/areas",
        data={"csrf_token": csrf, "population-north": "15 000", "population-south": "21000"},
        allow_redirects=False,
    )
    assert good.status == 303 and good.headers["Location"] == "/staff/areas?saved=1"
    after = await populations(client)
    assert after["north"] == 15000 and after["south"] == 21000
    assert after["urban"] == before["urban"]


@pytest.mark.browser
async def test_staff_edit_populations_on_the_page_by_keyboard(
    client: TestClient, staff: Staff, chromium: Browser
) -> None:
    await populations(client)
    await staff.add("anna")
    page = await staff_page(chromium, base_url(client), "/staff/areas")
    assert (
        await page.get_by_role("link", name="Alueiden asukasluvut").get_attribute("aria-current")
        == "page"
    )
    field = page.get_by_label("Asukasluku: Pohjoinen maaseutualue")
    await field.fill("-5")
    await field.press("Enter")  # submits the form
    await page.wait_for_selector("#areas-error")
    field = page.get_by_label("Asukasluku: Pohjoinen maaseutualue")
    assert await field.get_attribute("aria-invalid") == "true"
    await field.fill("16500")
    await field.press("Enter")
    await page.wait_for_selector("#areas-saved")
    assert (await populations(client))["north"] == 16500
    assert await page.get_by_label("Asukasluku: Pohjoinen maaseutualue").input_value() == "16500"
    await page.context.close()
