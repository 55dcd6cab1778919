"""The staff dashboard and reports pages, the today API and the live event stream."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page
from sqlalchemy import delete

from stream_server.catalog import service as catalog
from stream_server.db.models import Session as SessionRow
from stream_server.web.keys import DATABASE, LEDGER
from stream_server.web.staff_events import STREAMS
from stream_server.web.staff_pages import local_day, period_bounds, report_choice
from tests import browser as browser_helpers
from tests.browser import MEDIA_TIMEOUT_MS, page_log
from tests.conftest import Sessions, Staff, base_url
from tests.peers import Viewer, wait_until
from tests.test_pages import config_of, heading, parse

chromium = browser_helpers.chromium  # the fixture, by the name the browser test asks for

#: Reading the event stream: generous for a loaded CI machine, still far from "never".
STREAM_DEADLINE = 20.0


# -- access ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path", ["/staff", "/staff/reports", "/staff/reports?period=year", "/staff/areas"]
)
async def test_staff_pages_send_strangers_to_the_login_form(client: TestClient, path: str) -> None:
    response = await client.get(path, allow_redirects=False)
    assert response.status == 303
    location = response.headers["Location"]
    assert location.startswith("/staff/login?next=")
    assert parse_qs(urlsplit(location).query)["next"] == [path]


@pytest.mark.parametrize("path", ["/api/staff/today", "/api/staff/events"])
async def test_staff_apis_refuse_strangers(client: TestClient, path: str) -> None:
    response = await client.get(path)
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "login_required"
    assert client.app[LEDGER].events.subscribers == 0


# -- today ----------------------------------------------------------------------------------------
async def test_today_lists_todays_sessions_with_combined_figures(
    client: TestClient, staff: Staff, sessions: Sessions
) -> None:
    csrf = await staff.login()
    now = catalog.utcnow()
    _, day_start, day_end = local_day(now)
    # Inside today's local day whatever the hour the test runs at.
    middle = day_start + (day_end - day_start) / 2
    today = await sessions.create(
        title="Kirjailijavieras",
        venue="kantti/lava",
        receivers=["puijonlaakso"],
        starts_at=middle - dt.timedelta(minutes=30),
        minutes=60,
    )
    await sessions.create(title="Huomenna", starts_at=day_end + dt.timedelta(hours=10))
    await sessions.create(title="Eilen", starts_at=day_start - dt.timedelta(hours=10))
    sid = today.session.id

    ledger = client.app[LEDGER]
    await ledger.join(sid, "browser", attendee_key="a" * 32)
    await ledger.join(sid, "whep")
    await ledger.join(sid, "kiosk")  # a room screen: its people are counted by headcount
    for venue, count in (("kantti", 30), ("puijonlaakso", 9), ("kantti", 31)):
        recorded = await client.post(
            f"/api/sessions/{sid}/headcount",
            json={"venue": venue, "count": count},
            headers={"X-CSRF-Token": csrf},
        )
        assert recorded.status == 201, await recorded.text()

    response = await client.get("/api/staff/today")
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    data = await response.json()
    assert data["date"] == now.astimezone(catalog.CITY_TZ).date().isoformat()
    assert [s["title"] for s in data["sessions"]] == ["Kirjailijavieras"]
    (item,) = data["sessions"]
    # 31 at Kantti (the correction counts, not 30) + 9 at Puijonlaakso; two online people;
    # the kiosk is no participant.
    assert item["in_person"] == 40
    assert item["online_now"] == 2
    assert item["online_total"] == 2
    assert item["total"] == 42
    assert item["venues"] == [
        {
            "slug": "kantti",
            "name": "Kirjasto- ja kulttuuritalo KANTTI",
            "host": True,
            "capacity": 150,
            "count": 31,
        },
        {
            "slug": "puijonlaakso",
            "name": "Puijonlaakson kirjasto",
            "host": False,
            "capacity": 25,
            "count": 9,
        },
    ]
    assert item["mode"] == "broadcast" and item["id"] == sid


async def test_dashboard_page_shows_the_day_with_labelled_headcount_fields(
    client: TestClient, staff: Staff, sessions: Sessions
) -> None:
    await staff.login()
    created = await sessions.create(title="Satutuokio", venue="kantti/paja")
    for lang, title, label in (
        ("fi", "Henkilökunnan näkymä", "Paikalla: Kirjasto- ja kulttuuritalo KANTTI"),
        ("en", "Staff dashboard", "Present at Kirjasto- ja kulttuuritalo KANTTI"),
    ):
        response = await client.get(f"/staff?lang={lang}")
        assert response.status == 200
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        doc = parse(await response.text())
        assert heading(doc) == title
        card = doc.by_id(f"session-{created.session.id}")
        assert card is not None
        field = doc.by_id(f"hc-{created.session.id}-kantti")
        assert field.attrs["max"] == "20" and field.attrs["type"] == "number"
        labels = [n for n in doc.find_all("label") if n.attrs.get("for") == field.attrs["id"]]
        assert [n.text().strip() for n in labels] == [label]
        # The logout form carries the login's CSRF token; the script gets it in its config.
        config = config_of(doc)
        token_inputs = [n for n in doc.find_all("input") if n.attrs.get("name") == "csrf_token"]
        assert [n.attrs["value"] for n in token_inputs] == [config["csrf_token"]]
        assert all(
            key.startswith(("dash.", "reports.", "mode.", "error.")) for key in config["messages"]
        )


async def test_logout_button_logs_out(client: TestClient, staff: Staff) -> None:
    await staff.login()
    doc = parse(await (await client.get("/staff")).text())
    (form,) = [n for n in doc.find_all("form") if n.attrs.get("action") == "/staff/logout"]
    (token,) = [n for n in form.find_all("input") if n.attrs.get("name") == "csrf_token"]
    out = await client.post(
        "/staff/logout", data={"csrf_token": token.attrs["value"]}, allow_redirects=False
    )
    assert out.status == 303
    assert (await client.get("/staff", allow_redirects=False)).status == 303


# -- the event stream -----------------------------------------------------------------------------
async def read_event(response: ClientResponse, name: str = "attendance") -> dict[str, Any]:
    """The next ``name`` event's JSON (comments and other events are skipped)."""
    event = None
    data: list[str] = []
    while True:
        raw = await response.content.readline()
        assert raw, "the stream ended"
        line = raw.decode("utf-8").rstrip("\n")
        if line == "":
            if event == name and data:
                return json.loads("\n".join(data))  # type: ignore[no-any-return]
            event, data = None, []
        elif line.startswith("event:"):
            event = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            data.append(line.partition(":")[2].strip())


async def read_until(
    response: ClientResponse, predicate: Any, timeout: float = STREAM_DEADLINE
) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            event = await read_event(response)
            if predicate(event):
                return event


async def test_event_stream_pushes_fresh_figures_after_join_leave_and_headcount(
    client: TestClient, staff: Staff, sessions: Sessions
) -> None:
    csrf = await staff.login()
    sid = (await sessions.create(title="Muistikahvila")).session.id
    ledger = client.app[LEDGER]
    async with client.get("/api/staff/events") as stream:
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        async with asyncio.timeout(STREAM_DEADLINE):
            assert (await stream.content.readline()).startswith(b"retry:")
        await wait_until(lambda: ledger.events.subscribers == 1, timeout=STREAM_DEADLINE)

        presence = await ledger.join(sid, "tablet")
        joined = await read_until(stream, lambda e: e["id"] == sid)
        assert (joined["what"], joined["online_now"], joined["total"]) == ("join", 1, 1)
        assert joined["today"] is True

        recorded = await client.post(
            f"/api/sessions/{sid}/headcount",
            json={"venue": "kantti", "count": 5},
            headers={"X-CSRF-Token": csrf},
        )
        assert recorded.status == 201
        counted = await read_until(stream, lambda e: e["what"] == "headcount")
        assert (counted["in_person"], counted["online_now"], counted["total"]) == (5, 1, 6)

        await ledger.leave(presence)
        left = await read_until(stream, lambda e: e["what"] == "leave")
        # Whether a visit this short still counts online is the ledger's rule (brief visits);
        # the dashboard shows what the ledger says.
        summary = await ledger.summary(sid)
        assert left["online_now"] == 0 and left["in_person"] == 5
        assert left["total"] == summary.get("total", 5 + summary["online_total"])
    # The client went away: the stream notices and unsubscribes.
    await wait_until(lambda: ledger.events.subscribers == 0, timeout=STREAM_DEADLINE)
    assert client.app[STREAMS].open == 0


async def test_a_burst_of_joins_is_merged_and_the_queue_stays_bounded(
    client: TestClient, staff: Staff, sessions: Sessions
) -> None:
    """Events arriving while a stream is busy are merged per session; memory stays bounded."""
    await staff.login()
    sid = (await sessions.create(title="Lukupiiri")).session.id
    ledger = client.app[LEDGER]
    async with client.get("/api/staff/events") as stream:
        await wait_until(lambda: ledger.events.subscribers == 1, timeout=STREAM_DEADLINE)
        for _ in range(40):
            await ledger.join(sid, "browser")
        final = await read_until(stream, lambda e: e["online_now"] == 40)
        assert final["total"] == 40
        # Nothing left behind in the subscriber's queue beyond its fixed bound.
        from stream_server.attendance.events import QUEUE_LIMIT

        assert all(q.qsize() <= QUEUE_LIMIT for q in ledger.events._queues)


# -- reports --------------------------------------------------------------------------------------
def test_report_periods_are_calendar_weeks_months_and_years() -> None:
    friday = dt.date(2026, 11, 27)
    assert period_bounds("week", friday) == (dt.date(2026, 11, 23), dt.date(2026, 11, 29))
    assert period_bounds("month", friday) == (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert period_bounds("month", dt.date(2028, 2, 10)) == (
        dt.date(2028, 2, 1),
        dt.date(2028, 2, 29),
    )
    assert period_bounds("year", friday) == (dt.date(2026, 1, 1), dt.date(2026, 12, 31))


def test_report_choice_checks_custom_dates() -> None:
    today = dt.date(2026, 11, 27)
    ok = report_choice({"period": "custom", "from": "2026-03-01", "to": "2026-05-31"}, today)
    assert (ok["from"], ok["to"], ok["problem"], ok["trend_from"]) == (
        "2026-03-01",
        "2026-05-31",
        None,
        "2025-06-01",
    )
    backwards = report_choice({"period": "custom", "from": "2026-05-01", "to": "2026-03-01"}, today)
    assert backwards["problem"] == "reports.error.dates_order"
    assert (backwards["period"], backwards["from"]) == ("month", "2026-11-01")
    assert report_choice({"period": "custom", "from": "x"}, today)["problem"] == (
        "reports.error.dates_missing"
    )
    odd = report_choice({"period": "fortnight", "group_by": "planet"}, today)
    assert (odd["period"], odd["group_by"]) == ("month", "area")


async def test_reports_page_has_labelled_pickers_and_csv_links(
    client: TestClient, staff: Staff
) -> None:
    await staff.login()
    response = await client.get(
        "/staff/reports?period=custom&from=2026-01-01&to=2026-03-31&group_by=venue&lang=en"
    )
    assert response.status == 200
    doc = parse(await response.text())
    assert heading(doc) == "Attendance reports"
    for control in ("report-from", "report-to", "report-group"):
        assert [n for n in doc.find_all("label") if n.attrs.get("for") == control]
    assert doc.by_id("report-from").attrs["value"] == "2026-01-01"
    assert "checked" in doc.by_id("period-custom").attrs
    csv = doc.by_id("csv-comma").attrs["href"]
    assert csv.startswith("/api/reports/attendance.csv?")
    assert parse_qs(urlsplit(csv).query) == {
        "from": ["2026-01-01"],
        "to": ["2026-03-31"],
        "group_by": ["venue"],
        "decimal": ["comma"],
        "lang": ["en"],
    }
    assert doc.by_id("trend-chart").tag == "canvas"
    scripts = [n.attrs["src"] for n in doc.find_all("script") if "src" in n.attrs]
    assert scripts == ["/static/vendor/chartjs/chart.umd.min.js", "/static/js/staff/reports.js"]


# -- in a real browser ----------------------------------------------------------------------------
async def staff_page(browser: Browser, base: str, url: str) -> Page:
    """Log in through the real form, landing on ``url``; the page's console is collected."""
    page = await browser_helpers.new_watched_page(browser)
    await page.goto(f"{base}/staff/login?{urlencode({'next': url})}")
    await page.get_by_label("Käyttäjätunnus").fill("anna")
    await page.get_by_label("Salasana").fill(Staff.PASSWORD)
    await page.get_by_role("button", name="Kirjaudu").click()
    await page.wait_for_url(f"{base}{url}")
    return page


def console_problems(page: Page) -> list[str]:
    lines = browser_helpers._LOGS.get(id(page), [])
    return [line for line in lines if line.startswith(("error:", "pageerror:"))]


async def wait_text(page: Page, selector: str, text: str) -> None:
    try:
        await page.wait_for_function(
            "([sel, want]) => document.querySelector(sel)?.textContent.trim() === want",
            arg=[selector, text],
            timeout=MEDIA_TIMEOUT_MS,
        )
    except Exception as exc:
        seen = await page.text_content(selector)
        raise AssertionError(f"{selector} shows {seen!r}, not {text!r}\n{page_log(page)}") from exc


@pytest.mark.browser
async def test_dashboard_updates_live_in_chromium(
    client: TestClient, staff: Staff, sessions: Sessions, chromium: Browser
) -> None:
    await staff.add("anna")
    created = await sessions.create(title="Digiapu", venue="kantti/kohtaamo")
    sid = created.session.id
    base = base_url(client)
    page = await staff_page(chromium, base, "/staff")
    card = f"#session-{sid}"
    await wait_text(page, "#live-state", "Luvut päivittyvät automaattisesti.")
    assert await page.text_content(f"{card} [data-field=online_now]") == "0"

    viewer = Viewer()
    try:
        played = await viewer.play(client.session, base, sid)
        assert played.status == 201, played.body
        # No reload: the figure changes by itself.
        await wait_text(page, f"{card} [data-field=online_now]", "1")
        await wait_text(page, f"{card} [data-field=total]", "1")
        # Screen readers hear it once things settle, politely, in one sentence.
        assert await page.get_attribute("#dash-announcer", "aria-live") == "polite"
        await wait_text(page, "#dash-announcer", "Digiapu: paikalla 0, verkossa nyt 1, yhteensä 1.")

        field = page.get_by_label("Paikalla: Kirjasto- ja kulttuuritalo KANTTI")
        await field.fill("12")
        await field.press("Enter")
        await wait_text(page, f"{card} [data-field=in_person]", "12")
        await wait_text(page, f"{card} [data-field=total]", "13")

        # The + button saves too; an impossible count is refused inline and accessibly.
        await page.get_by_role(
            "button", name="Yksi lisää: Kirjasto- ja kulttuuritalo KANTTI"
        ).click()
        await wait_text(page, f"{card} [data-field=in_person]", "13")
        await field.fill("41")  # the room holds 40
        await field.press("Enter")
        error = page.locator(f"#hc-{sid}-kantti-error")
        await error.wait_for(state="visible")
        assert "40" in (await error.text_content() or "")
        assert await field.get_attribute("aria-invalid") == "true"
        assert await page.text_content(f"{card} [data-field=in_person]") == "13"

        async with client.session.delete(base + str(viewer.location)) as gone:
            assert gone.status == 200
        await wait_text(page, f"{card} [data-field=online_now]", "0")
        # 13 in person plus the viewer, unless the ledger files so short a stay as a brief
        # visit; either way the page shows the server's figure.
        async with client.get(f"/api/sessions/{sid}/attendance") as resp:
            summary = await resp.json()
        expected = summary.get("total", 13 + summary["online_total"])
        assert expected in (13, 14)
        await wait_text(page, f"{card} [data-field=total]", str(expected))
    finally:
        await viewer.close()
    assert not console_problems(page), page_log(page)


@pytest.mark.browser
async def test_reports_page_draws_charts_under_the_csp(
    client: TestClient, staff: Staff, sessions: Sessions, chromium: Browser
) -> None:
    await staff.add("anna")
    token = {"Authorization": f"Bearer {await staff.api_token('anna')}"}
    probe = await client.get("/api/reports/attendance?group_by=area", headers=token)
    if probe.status == 404 and (await probe.json())["error"]["code"] == "not_found":
        pytest.skip("the report API (/api/reports/attendance) is not on this branch yet")
    # A session held today at Kantti with 12 people in the room.
    created = await sessions.create(
        title="Runoilta", venue="kantti/lava", starts_at=catalog.utcnow() - dt.timedelta(minutes=5)
    )
    counted = await client.post(
        f"/api/sessions/{created.session.id}/headcount",
        json={"venue": "kantti", "count": 12},
        headers=token,
    )
    assert counted.status == 201
    base = base_url(client)
    page = await staff_page(chromium, base, "/staff/reports?period=month&group_by=area")
    await page.wait_for_function("() => window.kohtaamoReport !== undefined")
    await page.evaluate("() => window.kohtaamoReport")
    choice = config_of(parse(await page.content()))["choice"]
    query = urlencode({"from": choice["from"], "to": choice["to"], "group_by": "area"})
    async with client.get(f"/api/reports/attendance?{query}", headers=token) as resp:
        report = await resp.json()
    (urban,) = [row for row in report["rows"] if row["in_person"] == 12]

    # The table: one row per group, the group's label first, the figures the API gave.
    headers = await page.locator("#report-table thead th").all_text_contents()
    assert headers[0] == "Alue"
    body_rows = page.locator("#report-table tbody tr")
    assert await body_rows.count() == len(report["rows"])
    row = page.locator("#report-table tbody tr", has_text=urban["label"])
    cells = await row.locator("th, td").all_text_contents()
    assert cells[0] == urban["label"] and "12" in cells
    # Both charts were drawn by Chart.js on their canvases, and their data is a table too.
    assert await page.locator("#trend-chart").is_visible()
    assert await page.evaluate("() => !!window.Chart.getChart('trend-chart')")
    assert await page.evaluate("() => !!window.Chart.getChart('areas-chart')")
    areas = await page.evaluate(
        "() => window.Chart.getChart('areas-chart').data.datasets[0].data.length"
    )
    assert areas == len(report["rows"])
    # The trend starts at the first month with anything in it (here: this month, which is
    # not over, so it is marked and drawn dashed), not with eleven empty months.
    trend_rows = page.locator("#trend-table tbody tr")
    assert await trend_rows.count() == 1
    assert "(kesken)" in (await trend_rows.first.text_content() or "")
    assert await page.locator("#trend-note").is_visible()
    # The few figures that matter come first.
    total = page.locator("#key-figures .key-figure-main dd")
    assert await total.inner_text() == str(report["totals"]["total"])
    assert await page.locator("#areas-table tbody tr").count() == len(report["rows"])
    # The download links answer with CSV for Finnish spreadsheets.
    href = await page.get_attribute("#csv-comma", "href")
    async with client.get(str(href), headers=token) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        assert (await resp.read()).startswith(b"\xef\xbb\xbf")  # UTF-8 BOM
    # No CSP violation, failed request or script error on the way.
    assert not console_problems(page), page_log(page)


@pytest.mark.browser
async def test_dashboard_reconnects_and_catches_up_after_the_stream_drops(
    client: TestClient, staff: Staff, sessions: Sessions, chromium: Browser
) -> None:
    """A dropped stream (server restart, proxy timeout) must not leave stale figures."""
    await staff.add("anna")
    sid = (await sessions.create(title="Kielikahvila")).session.id
    ledger = client.app[LEDGER]
    streams = client.app[STREAMS]
    page = await staff_page(chromium, base_url(client), "/staff")
    await wait_text(page, "#live-state", "Luvut päivittyvät automaattisesti.")
    await wait_until(lambda: streams.open == 1, timeout=STREAM_DEADLINE)

    # End every stream the way a server shutdown does, and keep them ended for a moment.
    streams.stopping.set()
    await wait_until(lambda: streams.open == 0, timeout=STREAM_DEADLINE)
    await ledger.join(sid, "browser")  # happens while the page is not listening
    await wait_text(page, "#live-state", "Päivitysyhteys katkesi. Yhdistetään uudelleen…")
    streams.stopping.clear()

    # EventSource reconnects by itself; the page then reloads the day and catches up.
    await wait_text(page, "#live-state", "Luvut päivittyvät automaattisesti.")
    await wait_text(page, f"#session-{sid} [data-field=online_now]", "1")
    await ledger.join(sid, "tablet")
    await wait_text(page, f"#session-{sid} [data-field=online_now]", "2")
    assert not console_problems(page), page_log(page)


async def test_dashboard_cards_endpoint_serves_only_todays_named_sessions(
    client: TestClient, staff: Staff, sessions: Sessions
) -> None:
    assert (await client.get("/staff/dashboard/cards?id=x")).status == 401
    await staff.login()
    _, day_start, day_end = local_day(catalog.utcnow())
    today = await sessions.create(title="Satutuokio", starts_at=day_start + dt.timedelta(hours=1))
    later = await sessions.create(title="Huomenna", starts_at=day_end + dt.timedelta(hours=1))
    response = await client.get(
        f"/staff/dashboard/cards?id={today.session.id}&id={later.session.id}&lang=en"
    )
    assert response.status == 200 and response.content_type == "text/html"
    doc = parse(await response.text())
    assert [n.attrs["id"] for n in doc.find_all("article")] == [f"session-{today.session.id}"]
    assert doc.by_id(f"hc-{today.session.id}-kantti") is not None
    bad = await client.get("/staff/dashboard/cards")
    assert bad.status == 400
    assert (await bad.json())["error"]["code"] == "invalid_ids"


async def card_ids(page: Page) -> list[str]:
    return await page.eval_on_selector_all(  # type: ignore[no-any-return]
        "#dash-sessions .dash-session", "cards => cards.map(c => c.dataset.sessionId)"
    )


async def wait_announced(page: Page, text: str) -> None:
    try:
        await page.wait_for_function(
            "want => document.getElementById('dash-announcer').textContent.includes(want)",
            arg=text,
            timeout=MEDIA_TIMEOUT_MS,
        )
    except Exception as exc:
        seen = await page.text_content("#dash-announcer")
        raise AssertionError(f"announcer says {seen!r}, not {text!r}\n{page_log(page)}") from exc


@pytest.mark.browser
async def test_dashboard_adds_sessions_created_elsewhere_without_disturbing_typing(
    client: TestClient, staff: Staff, sessions: Sessions, chromium: Browser
) -> None:
    """Sessions created by the command line (another process: no event) appear in order."""
    await staff.add("anna")
    now = catalog.utcnow()
    _, day_start, day_end = local_day(now)
    middle = day_start + (day_end - day_start) / 2
    first = await sessions.create(title="Kielikahvila", venue="kantti/kohtaamo", starts_at=middle)
    a = first.session.id
    page = await staff_page(chromium, base_url(client), "/staff?refresh=1")
    await wait_text(page, "#live-state", "Luvut päivittyvät automaattisesti.")
    # Someone is typing a count for the first session and has not saved it.
    field = page.locator(f"#hc-{a}-kantti")
    await field.fill("7")

    # As `kohtaamo sessions create` would: straight into the database.
    early = await sessions.create(
        title="Aamukahvi", venue="kantti/paja", starts_at=day_start + dt.timedelta(minutes=1)
    )
    live = await sessions.create(
        title="Digiapu", venue="kantti/lava", starts_at=now - dt.timedelta(minutes=5)
    )
    b, c = early.session.id, live.session.id
    await page.wait_for_selector(f"#session-{b}", timeout=MEDIA_TIMEOUT_MS)
    await page.wait_for_selector(f"#session-{c}", timeout=MEDIA_TIMEOUT_MS)
    by_start = sorted(
        [first.session, early.session, live.session], key=lambda s: (s.starts_at, s.id)
    )
    assert await card_ids(page) == [s.id for s in by_start]
    # The card being typed in was not touched: focus and the unsaved value are as they were.
    assert await page.evaluate("document.activeElement.id") == f"hc-{a}-kantti"
    assert await field.input_value() == "7"
    await wait_announced(page, "Uusi tapahtuma tänään: Aamukahvi,")
    await wait_announced(page, "Uusi tapahtuma tänään: Digiapu,")
    assert await page.is_hidden("#dash-changed")

    # The new card's headcount controls work like the others.
    new_field = page.get_by_label("Paikalla: Kirjasto- ja kulttuuritalo KANTTI").nth(
        [s.id for s in by_start].index(b)
    )
    assert await new_field.get_attribute("id") == f"hc-{b}-kantti"
    await new_field.fill("5")
    await new_field.press("Enter")
    await wait_text(page, f"#session-{b} [data-field=in_person]", "5")
    await (
        page.get_by_role("button", name="Yksi lisää: Kirjasto- ja kulttuuritalo KANTTI")
        .nth([s.id for s in by_start].index(b))
        .click()
    )
    await wait_text(page, f"#session-{b} [data-field=in_person]", "6")

    # Ended elsewhere: its status follows; removed from the day: its card goes.
    await sessions.end(c)
    await wait_text(page, f"#session-{c} [data-field=phase]", "Päättynyt")
    # (A card with the focus in it stays until the person moves on.)
    await page.evaluate("document.activeElement.blur()")
    async with client.app[DATABASE].session() as db:
        await db.execute(delete(SessionRow).where(SessionRow.id == b))
    await page.wait_for_selector(f"#session-{b}", state="detached", timeout=MEDIA_TIMEOUT_MS)
    await wait_announced(page, "Tapahtuma poistui tämän päivän listalta: Aamukahvi.")
    assert await card_ids(page) == [s.id for s in by_start if s.id != b]
    assert not console_problems(page), page_log(page)


@pytest.mark.browser
async def test_dashboard_adds_a_session_when_an_event_names_it(
    client: TestClient, staff: Staff, sessions: Sessions, chromium: Browser
) -> None:
    """No periodic re-read here (an hour): the event about an unknown session brings it."""
    await staff.add("anna")
    page = await staff_page(chromium, base_url(client), "/staff?refresh=3600")
    await wait_text(page, "#live-state", "Luvut päivittyvät automaattisesti.")
    assert await page.is_visible("#dash-empty")
    # The reconnection's re-read is done, so the session below is new to the page.
    await page.wait_for_function("() => (window.kohtaamoRefreshes ?? 0) >= 1")
    sid = (await sessions.create(title="Satutuokio", venue="kantti/paja")).session.id
    await client.app[LEDGER].join(sid, "browser")
    await wait_text(page, f"#session-{sid} [data-field=online_now]", "1")
    assert await page.is_hidden("#dash-empty")
    await wait_announced(page, "Uusi tapahtuma tänään: Satutuokio,")
    assert not console_problems(page), page_log(page)
