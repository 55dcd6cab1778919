"""Attendance reports: grouping, per-1,000 normalisation, CSV, validation and access."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from stream_server.attendance.ledger import AttendanceLedger
from stream_server.basics import CITY_TZ
from stream_server.config import Settings
from stream_server.db.engine import Database
from stream_server.db.models import Area, SurveyAnswer, Venue
from stream_server.web.keys import DATABASE
from tests.conftest import Sessions, Staff

pytestmark = pytest.mark.database

PERIOD = "from=2025-10-01&to=2025-10-31"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The default brief-visit threshold (60 s): these tests count brief visits by hand."""
    return settings.replace(brief_visit_seconds=60.0)


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2025, 10, 1, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def local(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2025, 10, day, hour, tzinfo=CITY_TZ)


async def visit(
    ledger: AttendanceLedger,
    clock: Clock,
    sid: str,
    channel: str,
    start: dt.datetime,
    seconds: float,
    venue_id: int | None = None,
) -> None:
    clock.now = start.astimezone(dt.UTC)
    presence = await ledger.join(sid, channel, venue_id=venue_id)
    clock.now += dt.timedelta(seconds=seconds)
    await ledger.leave(presence)


class Month:
    """October 2025, worked by hand (populations: urban 10,000, north 2,000, south 1,000).

    S1 lecture, KANTTI (urban) -> Nilsiä (north) and Karttula (south), 90 min, the library.
       Headcounts KANTTI 50, Nilsiä 10, Karttula 5. Online: two WHEP viewers of 30 min and a
       20 s brief visit (host venue), a Nilsiä tablet for 60 min (counts towards Nilsiä).
       Survey 5 and 4.
    S2 discussion, Juankoski (north), 60 min, Muistiyhdistys. Headcount 8; a tablet for
       60 min. Survey 3.
    S3 at KANTTI without any attendance or headcount: not held.
    S4 in November: outside the period.
    """

    def __init__(self, client: TestClient, sessions: Sessions, staff: Staff) -> None:
        self.client = client
        self.sessions = sessions
        self.staff = staff
        self.auth: dict[str, str] = {}
        self.s1 = ""

    async def build(self) -> None:
        database: Database = self.client.app[DATABASE]
        await self.staff.add()
        self.auth = {"Authorization": f"Bearer {await self.staff.api_token()}"}
        library, memory = "kuopion-kaupunginkirjasto", "muistiyhdistys"
        s1 = await self.sessions.create(
            title="Luento",
            venue="kantti/lava",
            receivers=["nilsia", "karttula"],
            starts_at=local(5, 18),
            minutes=90,
            category="lecture",
            organiser=library,
        )
        s2 = await self.sessions.create(
            title="Muistikahvila",
            mode="group",
            venue="juankoski",
            starts_at=local(12, 10),
            minutes=60,
            category="discussion",
            organiser=memory,
        )
        await self.sessions.create(
            title="Tyhjä", venue="kantti/kohtaamo", starts_at=local(20, 10), organiser=library
        )
        s4 = await self.sessions.create(
            title="Marraskuu",
            venue="nilsia",
            starts_at=dt.datetime(2025, 11, 2, 12, tzinfo=CITY_TZ),
            organiser=memory,
        )
        self.s1 = s1.session.id
        for sid, venue, count in (
            (s1.session.id, "kantti", 50),
            (s1.session.id, "nilsia", 10),
            (s1.session.id, "karttula", 5),
            (s2.session.id, "juankoski", 8),
            (s4.session.id, "nilsia", 20),
        ):
            response = await self.client.post(
                f"/api/sessions/{sid}/headcount",
                json={"venue": venue, "count": count},
                headers=self.auth,
            )
            assert response.status == 201, await response.text()
        clock = Clock()
        ledger = AttendanceLedger(database, clock)
        async with database.session() as db:
            nilsia = await db.scalar(select(Venue.id).where(Venue.slug == "nilsia"))
            await db.execute(update(Area).where(Area.slug == "urban").values(population=10000))
            await db.execute(update(Area).where(Area.slug == "north").values(population=2000))
            await db.execute(update(Area).where(Area.slug == "south").values(population=1000))
            for sid, score in ((s1.session.id, 5), (s1.session.id, 4), (s2.session.id, 3)):
                db.add(SurveyAnswer(session_id=sid, channel="whep", score=score))
        await visit(ledger, clock, s1.session.id, "whep", local(5, 18), 1800)
        await visit(ledger, clock, s1.session.id, "whep", local(5, 18), 1800)
        await visit(ledger, clock, s1.session.id, "browser", local(5, 18), 20)
        await visit(ledger, clock, s1.session.id, "tablet", local(5, 18), 3600, nilsia)
        await visit(ledger, clock, s1.session.id, "whip", local(5, 18), 5400)  # not a person
        await visit(ledger, clock, s2.session.id, "tablet", local(12, 10), 3600)

    async def get(self, query: str, path: str = "/api/reports/attendance") -> Any:
        response = await self.client.get(f"{path}?{query}", headers=self.auth)
        assert response.status == 200, await response.text()
        return response


@pytest.fixture
async def month(client: TestClient, sessions: Sessions, staff: Staff) -> Month:
    built = Month(client, sessions, staff)
    await built.build()
    return built


def by_key(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in report["rows"]}


async def test_report_by_area_with_per_1000_residents(month: Month) -> None:
    report = await (await month.get(f"{PERIOD}&group_by=area&lang=en")).json()
    rows = by_key(report)
    assert list(rows) == ["urban", "north", "south"]
    urban, north, south = rows["urban"], rows["north"], rows["south"]
    assert urban["label"] == "Urban area" and urban["population"] == 10000
    # S1's hours count once, at the host; its receiving rooms' people count where they sat.
    assert (urban["sessions_held"], urban["activity_hours"]) == (1, 1.5)
    assert (urban["in_person"], urban["online"], urban["brief_visits"]) == (50, 2, 1)
    assert (urban["online_hours"], urban["total"], urban["organisers"]) == (1.0, 52, 1)
    assert (urban["satisfaction_mean"], urban["satisfaction_answers"]) == (4.5, 2)
    assert urban["per_1000"] == {
        "sessions_held": 0.1,
        "activity_hours": 0.15,
        "in_person": 5.0,
        "online": 0.2,
        "online_hours": 0.1,
        "brief_visits": 0.1,
        "total": 5.2,
        "organisers": 0.1,
    }
    # North: S2 hosted; Nilsiä's 10 in the room and its tablet; Juankoski's 8 and a tablet.
    assert (north["sessions_held"], north["activity_hours"]) == (1, 1.0)
    assert (north["in_person"], north["online"], north["online_hours"]) == (18, 2, 2.0)
    assert (north["total"], north["organisers"], north["satisfaction_mean"]) == (20, 1, 3.0)
    assert north["per_1000"]["total"] == 10.0 and north["per_1000"]["sessions_held"] == 0.5
    # South only received S1: people, but no hours of its own.
    assert (south["sessions_held"], south["activity_hours"], south["total"]) == (0, 0.0, 5)
    assert south["per_1000"]["in_person"] == 5.0 and south["satisfaction_mean"] is None
    # ...which the row itself says: all 5 of its people were at a receiving screen.
    assert (south["in_person_receiving"], urban["in_person_receiving"]) == (5, 0)
    totals = report["totals"]
    assert (totals["sessions_held"], totals["activity_hours"], totals["total"]) == (2, 2.5, 77)
    assert (totals["in_person"], totals["online"], totals["brief_visits"]) == (73, 4, 1)
    assert (totals["satisfaction_mean"], totals["satisfaction_answers"]) == (4.0, 3)
    assert totals["population"] == 13000 and totals["per_1000"]["total"] == round(77 / 13, 3)
    # Area rows add up to the totals: nothing is counted twice.
    for measure in ("sessions_held", "in_person", "in_person_receiving", "online", "brief_visits"):
        assert sum(r[measure] for r in rows.values()) == totals[measure]


async def test_report_by_venue_counts_a_broadcast_at_each_receiving_venue(month: Month) -> None:
    rows = by_key(await (await month.get(f"{PERIOD}&group_by=venue")).json())
    assert len(rows) == 11
    kantti, nilsia, karttula, juankoski = (
        rows[v] for v in ("kantti", "nilsia", "karttula", "juankoski")
    )
    assert (kantti["sessions_held"], kantti["activity_hours"], kantti["total"]) == (1, 1.5, 52)
    assert (nilsia["sessions_held"], nilsia["activity_hours"]) == (1, 1.5)
    assert (nilsia["in_person"], nilsia["online"], nilsia["total"]) == (10, 1, 11)
    assert nilsia["population"] == 2000 and nilsia["per_1000"]["total"] == 5.5
    assert nilsia["satisfaction_answers"] == 0  # answers belong to the host venue
    assert (karttula["sessions_held"], karttula["total"], karttula["population"]) == (1, 5, 1000)
    assert (juankoski["sessions_held"], juankoski["total"]) == (1, 9)
    assert rows["pyoro"]["sessions_held"] == 0 and rows["pyoro"]["total"] == 0


async def test_report_by_organiser_category_and_month(month: Month) -> None:
    organisers = by_key(await (await month.get(f"{PERIOD}&group_by=organiser")).json())
    assert set(organisers) == {"kuopion-kaupunginkirjasto", "muistiyhdistys"}
    library = organisers["kuopion-kaupunginkirjasto"]
    assert (library["sessions_held"], library["in_person"], library["online"]) == (1, 65, 3)
    # S1 was held or attended in all three areas: 10,000 + 2,000 + 1,000 residents.
    assert library["population"] == 13000
    assert library["per_1000"]["total"] == round(68 / 13, 3)
    memory = organisers["muistiyhdistys"]
    assert (memory["population"], memory["total"], memory["per_1000"]["total"]) == (2000, 9, 4.5)

    categories = by_key(await (await month.get(f"{PERIOD}&group_by=category&lang=fi")).json())
    assert categories["lecture"]["label"] == "Luento" and categories["lecture"]["total"] == 68
    assert categories["discussion"]["total"] == 9

    report = await (await month.get("from=2025-09-01&to=2025-11-30&group_by=month")).json()
    months = by_key(report)
    assert list(months) == ["2025-09", "2025-10", "2025-11"]
    assert months["2025-09"]["sessions_held"] == 0
    assert (months["2025-10"]["sessions_held"], months["2025-10"]["total"]) == (2, 77)
    assert months["2025-11"]["label"] == "marraskuu 2025" and months["2025-11"]["total"] == 20


async def test_report_follows_new_attendance(month: Month) -> None:
    """The per-session rollups are recomputed after a join and leave, not served stale."""
    before = (await (await month.get(f"{PERIOD}&group_by=area")).json())["totals"]
    clock = Clock()
    ledger = AttendanceLedger(month.client.app[DATABASE], clock)
    await visit(ledger, clock, month.s1, "whep", local(5, 18), 600)
    after = (await (await month.get(f"{PERIOD}&group_by=area")).json())["totals"]
    assert after["online"] == before["online"] + 1
    assert after["online_hours"] == before["online_hours"] + round(600 / 3600, 2)


async def test_report_follows_new_headcounts_and_survey_answers(month: Month) -> None:
    """Headcounts and answers written after a report (by other code than the ledger) are
    picked up: the cached rollups are not served stale."""
    before = (await (await month.get(f"{PERIOD}&group_by=area")).json())["totals"]
    response = await month.client.post(
        f"/api/sessions/{month.s1}/headcount",
        json={"venue": "karttula", "count": 9},  # corrects 5
        headers=month.auth,
    )
    assert response.status == 201
    async with month.client.app[DATABASE].session() as db:
        db.add(SurveyAnswer(session_id=month.s1, channel="kiosk", score=1))
    after = (await (await month.get(f"{PERIOD}&group_by=area")).json())["totals"]
    assert after["in_person"] == before["in_person"] + 4
    assert after["satisfaction_answers"] == before["satisfaction_answers"] + 1
    assert after["satisfaction_mean"] == round((5 + 4 + 3 + 1) / 4, 2)


async def test_period_shortcuts_end_today(client: TestClient, staff: Staff) -> None:
    await staff.add()
    auth = {"Authorization": f"Bearer {await staff.api_token()}"}
    today = dt.datetime.now(CITY_TZ).date()
    for period, days in (("week", 7), ("month", 30), ("year", 365)):
        response = await client.get(f"/api/reports/attendance?period={period}", headers=auth)
        report = await response.json()
        assert report["to"] == today.isoformat()
        assert report["from"] == (today - dt.timedelta(days=days - 1)).isoformat()


async def test_csv_export_parses_back(month: Month) -> None:
    response = await month.get(f"{PERIOD}&group_by=area", path="/api/reports/attendance.csv")
    assert response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = await response.read()
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM that tells Excel it is UTF-8
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    header, urban, north, south, totals = rows
    assert header[:4] == ["tunniste", "nimi", "asukasluku", "toteutuneet tilaisuudet"]
    assert "osallistujat yhteensä / 1000 asukasta" in header
    record = dict(zip(header, urban, strict=True))
    assert record["nimi"] == "Kaupunkialue"
    assert record["toimintatunnit"] == "1,50"
    assert record["tyytyväisyys (keskiarvo 1–5)"] == "4,50"
    assert record["osallistujat yhteensä / 1000 asukasta"] == "5,200"
    assert dict(zip(header, south, strict=True))["tyytyväisyys (keskiarvo 1–5)"] == ""
    assert totals[0] == "total" and totals[1] == "Yhteensä"
    assert north[0] == "north"

    english = await month.get(f"{PERIOD}&format=csv&decimal=point&lang=en")
    rows = list(csv.reader(io.StringIO((await english.read()).decode("utf-8-sig")), delimiter=";"))
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["activity hours"] == "1.50" and record["name"] == "Urban area"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("from=2025-13-01&to=2025-12-31", "invalid_date"),
        ("from=1.10.2025&to=2025-10-31", "invalid_date"),
        ("from=2025-10-31&to=2025-10-01", "invalid_range"),
        ("from=2025-10-01", "invalid_range"),
        ("from=2000-01-01&to=2025-10-01", "invalid_range"),
        ("period=decade", "invalid_period"),
        ("period=week&from=2025-10-01&to=2025-10-31", "conflicting_params"),
        (f"{PERIOD}&group_by=street", "invalid_group_by"),
        (f"{PERIOD}&format=xlsx", "invalid_format"),
        (f"{PERIOD}&decimal=dot", "invalid_decimal"),
        (f"{PERIOD}&lang=sv", "invalid_lang"),
        (f"{PERIOD}&groupby=venue", "unknown_param"),
    ],
)
async def test_bad_report_parameters_are_refused(
    client: TestClient, staff: Staff, query: str, code: str
) -> None:
    await staff.add()
    token = await staff.api_token()
    response = await client.get(
        f"/api/reports/attendance?{query}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == code


async def test_reports_need_staff(client: TestClient, staff: Staff) -> None:
    for path in ("/api/reports/attendance", "/api/reports/attendance.csv"):
        response = await client.get(f"{path}?period=week")
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "login_required"
        wrong = await client.get(
            f"{path}?period=week", headers={"Authorization": "Bearer ks_not-a-token"}
        )
        assert wrong.status == 401
    await staff.add()
    token = await staff.api_token()
    response = await client.get(
        "/api/reports/attendance?period=year", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200
    report = await response.json()
    assert report["group_by"] == "area" and report["totals"]["sessions_held"] == 0
    # A browser login works too (a GET needs no CSRF token).
    await staff.login("bertta")
    assert (await client.get("/api/reports/attendance.csv?period=week")).status == 200
