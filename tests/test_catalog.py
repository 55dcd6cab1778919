"""The catalog: reference data, creating sessions, who may do what, phases, the demo week."""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, text

from stream_server.catalog import service as catalog
from stream_server.catalog.demo import load_demo
from stream_server.config import Settings
from stream_server.db.engine import Database
from stream_server.db.models import Area, Organiser, Room, Session, Venue, Visibility

pytestmark = pytest.mark.database

UTC = dt.UTC
HELSINKI = catalog.CITY_TZ

VENUES = {
    "urban": {"kantti", "puijonlaakso", "neulamaki", "jynkka", "pyoro"},
    "north": {"juankoski", "nilsia", "maaninka"},
    "south": {"riistavesi", "vehmersalmi", "karttula"},
}
KANTTI_ROOMS = [
    "lava",
    "paja",
    "pedagoginen-tila",
    "kohtaamo",
    "kokoussali",
    "hiljainen-ryhmatila",
]
CATEGORIES = {"lecture", "exercise", "music", "discussion", "digital-help", "culture", "crafts"}


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.database_url)
    async with database.session() as db:
        await catalog.sync_reference_data(db)
    yield database
    await database.close()


async def create(database: Database, **kwargs: Any) -> catalog.CreatedSession:
    kwargs.setdefault("title", "Luento")
    kwargs.setdefault("mode", "broadcast")
    async with database.session() as db:
        return await catalog.create_session(db, **kwargs)


async def count(database: Database, model: type) -> int:
    async with database.session() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


# -- reference data -----------------------------------------------------------------------------
async def test_reference_data_holds_eleven_libraries_in_three_areas(database: Database) -> None:
    async with database.session() as db:
        areas = (await db.scalars(select(Area).order_by(Area.id))).all()
        venues = (await db.execute(select(Area.slug, Venue.slug).join(Venue.area))).all()
        by_area: dict[str, set[str]] = collections.defaultdict(set)
        for area_slug, venue_slug in venues:
            by_area[area_slug].add(venue_slug)
        kantti_rooms = (
            await db.scalars(
                select(Room.slug).join(Venue).where(Venue.slug == "kantti").order_by(Room.id)
            )
        ).all()
    assert [a.slug for a in areas] == ["urban", "north", "south"]
    assert {a.slug: a.population for a in areas} == {
        "urban": 103300,
        "north": 14300,
        "south": 7400,
    }
    assert all(a.name_fi and a.name_en for a in areas)
    assert len(venues) == 11
    assert dict(by_area) == VENUES
    assert list(kantti_rooms) == KANTTI_ROOMS


async def test_syncing_reference_data_again_adds_nothing_and_keeps_staff_populations(
    database: Database,
) -> None:
    before = [await count(database, m) for m in (Area, Venue, Room, Organiser)]
    async with database.session() as db:
        north = await db.scalar(select(Area).where(Area.slug == "north"))
        assert north is not None
        north.population = 15000
    for _ in range(2):
        async with database.session() as db:
            await catalog.sync_reference_data(db)
    after = [await count(database, m) for m in (Area, Venue, Room, Organiser)]
    assert before == after == [3, 11, 16, 5]
    async with database.session() as db:
        assert await db.scalar(select(Area.population).where(Area.slug == "north")) == 15000


# -- creating sessions --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"title": "   "}, "title must not be empty"),
        ({"mode": "lecture"}, "mode must be broadcast or group, not 'lecture'"),
        ({"venue": "kuopio"}, "unknown venue 'kuopio'"),
        ({"venue": "kantti/sauna"}, "unknown room 'sauna' at 'kantti'"),
        ({"receivers": ["nilsia", "tahko"]}, "unknown venue 'tahko'"),
        (
            {"venue": "kantti/lava", "receivers": ["kantti/kohtaamo"]},
            "a receiving room must be at another venue than the host room",
        ),
        (
            {"venue": "nilsia", "receivers": ["nilsia"]},
            "a receiving room must be at another venue than the host room",
        ),
        ({"minutes": 0}, "minutes must be positive"),
        ({"organiser": "kuopion-palloseura"}, "unknown organiser 'kuopion-palloseura'"),
    ],
)
async def test_create_session_refuses_bad_requests_with_a_reason(
    database: Database, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(catalog.CatalogError) as excinfo:
        await create(database, **kwargs)
    assert str(excinfo.value) == message
    assert await count(database, Session) == 0


async def test_create_session_places_the_session_and_its_receivers(database: Database) -> None:
    created = await create(
        database,
        title="  Luento: Minna Canth  ",
        mode="broadcast",
        venue="kantti/lava",
        receivers=["nilsia", "juankoski/lukusali", "nilsia"],
        starts_at=dt.datetime(2026, 12, 1, 18, 0),  # naive: Kuopio's local time
        minutes=90,
        category="lecture",
        organiser="kuopion-kaupunginkirjasto",
    )
    data = catalog.session_to_json(created.session, dt.datetime(2026, 11, 1, tzinfo=UTC))
    assert data["title"] == "Luento: Minna Canth"
    assert (data["venue"], data["room"], data["area"]) == ("kantti", "lava", "urban")
    assert sorted(data["receivers"], key=lambda r: r["venue"]) == [
        {"venue": "juankoski", "room": "lukusali"},  # "nilsia" twice is one receiver
        {"venue": "nilsia", "room": "lukusali"},
    ]
    assert data["starts_at"] == "2026-12-01T18:00:00+02:00"
    assert data["ends_at"] == "2026-12-01T19:30:00+02:00"
    assert data["organiser"] == "Kuopion kaupunginkirjasto"
    assert (data["visibility"], data["phase"], data["live"]) == ("public", "upcoming", False)
    assert created.session.starts_at == dt.datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    assert not {"join_code", "host_token", "publish_token"} & data.keys()


async def test_a_session_across_the_autumn_clock_change_lasts_its_minutes(
    database: Database,
) -> None:
    # 2026-10-25 03:30 in Helsinki is still summer time; an hour later the clocks went back.
    created = await create(database, starts_at=dt.datetime(2026, 10, 25, 3, 30), minutes=60)
    assert created.session.ends_at - created.session.starts_at == dt.timedelta(minutes=60)


async def test_only_digests_of_the_tokens_are_stored(database: Database) -> None:
    created = await create(database, private=True)
    assert created.host_token != created.publish_token
    assert len(created.host_token) >= 32 and len(created.publish_token) >= 32
    async with database.session() as db:
        row = (await db.execute(text("SELECT * FROM sessions"))).mappings().one()
    stored = " ".join(str(value) for value in row.values())
    assert created.host_token not in stored
    assert created.publish_token not in stored
    assert row["host_token_hash"] == catalog.hash_secret(created.host_token)
    assert row["publish_token_hash"] == catalog.hash_secret(created.publish_token)


async def test_join_codes_are_eight_unambiguous_characters(database: Database) -> None:
    codes = [(await create(database, private=True)).session.join_code for _ in range(25)]
    assert len(set(codes)) == len(codes)
    for code in codes:
        assert len(code) == 8
        assert set(code) <= set(catalog.JOIN_CODE_ALPHABET)
    assert not set("01OIL") & set(catalog.JOIN_CODE_ALPHABET)


def test_join_codes_are_accepted_as_people_type_them() -> None:
    assert catalog.normalise_join_code("ab cd-ef gh") == "ABCDEFGH"
    assert catalog.normalise_join_code(" AbCd EfGh\n") == "ABCDEFGH"


async def test_a_session_is_found_by_its_code_typed_loosely(database: Database) -> None:
    created = await create(database, private=True)
    code = created.session.join_code
    typed = f" {code[:4].lower()} - {code[4:].lower()} "
    async with database.session() as db:
        found = await catalog.get_session_by_code(db, typed)
        assert found is not None and found.id == created.session.id
        assert await catalog.get_session_by_code(db, "ZZZZ ZZZZ") is None


# -- who may do what ----------------------------------------------------------------------------
async def test_anyone_may_view_a_public_session(database: Database) -> None:
    session = (await create(database)).session
    assert catalog.may_view(session, None)
    assert catalog.may_view(session, "whatever")


async def test_a_private_session_is_viewed_with_its_join_code_or_host_token(
    database: Database,
) -> None:
    created = await create(database, private=True)
    session, code = created.session, created.session.join_code
    assert not catalog.may_view(session, None)
    assert not catalog.may_view(session, "")
    assert catalog.may_view(session, code)
    assert catalog.may_view(session, f"{code[:4].lower()} {code[4:].lower()}")
    assert catalog.may_view(session, created.host_token)
    assert not catalog.may_view(session, "ABCDEFGH" if code != "ABCDEFGH" else "HGFEDCBA")
    assert not catalog.may_view(session, code[:7])
    assert not catalog.may_view(session, "väärä koodi ää")  # non-ASCII must not crash


async def test_only_the_publish_or_host_token_may_publish(database: Database) -> None:
    for private in (False, True):
        created = await create(database, private=private)
        session = created.session
        assert catalog.may_publish(session, created.publish_token)
        assert catalog.may_publish(session, created.host_token)
        assert not catalog.may_publish(session, None)
        assert not catalog.may_publish(session, "")
        assert not catalog.may_publish(session, session.join_code)
        assert not catalog.may_publish(session, created.publish_token + "x")
        assert not catalog.may_publish(session, catalog.hash_secret(created.publish_token))


# -- phases -------------------------------------------------------------------------------------
START = dt.datetime(2026, 12, 1, 16, 0, tzinfo=UTC)


def minutes(n: float) -> dt.datetime:
    return START + dt.timedelta(minutes=n)


@pytest.mark.parametrize(
    ("at", "phase", "live"),
    [
        (-31, "upcoming", False),
        (-30, "open", False),  # doors open half an hour early
        (-1, "open", False),
        (0, "open", True),
        (59, "open", True),
        (60, "open", True),  # scheduled end; an overrunning session goes on
        (119, "open", True),
        (120, "ended", False),  # an hour after the scheduled end
    ],
)
async def test_session_phase_follows_the_schedule(
    database: Database, at: int, phase: str, live: bool
) -> None:
    session = (await create(database, starts_at=START, minutes=60)).session
    assert catalog.session_phase(session, minutes(at)) == phase
    assert catalog.is_live(session, minutes(at)) is live


async def test_a_session_ended_by_its_host_is_ended_from_that_moment(database: Database) -> None:
    session_id = (await create(database, starts_at=START, minutes=60)).session.id
    async with database.session() as db:
        await catalog.end_session(db, session_id, minutes(10))
        await catalog.end_session(db, session_id, minutes(20))  # the first end stands
    async with database.session() as db:
        session = await catalog.get_session(db, session_id)
    assert session is not None
    assert session.ended_at == minutes(10)
    assert catalog.session_phase(session, minutes(9)) == "open"
    assert catalog.session_phase(session, minutes(10)) == "ended"
    assert not catalog.is_live(session, minutes(30))


async def test_ending_an_unknown_session_is_an_error(database: Database) -> None:
    async with database.session() as db:
        with pytest.raises(catalog.CatalogError, match="unknown session 'nonesuch'"):
            await catalog.end_session(db, "nonesuch")


async def test_listing_shows_public_live_and_upcoming_sessions_soonest_first(
    database: Database,
) -> None:
    now = START
    upcoming = await create(database, title="Tuleva", starts_at=minutes(24 * 60))
    live = await create(database, title="Nyt", starts_at=minutes(-15), minutes=60)
    overrunning = await create(database, title="Venyy", starts_at=minutes(-90), minutes=60)
    await create(database, title="Yksityinen", starts_at=minutes(-15), private=True)
    await create(database, title="Eilen", starts_at=minutes(-24 * 60))
    ended = await create(database, title="Päättynyt", starts_at=minutes(-15))
    async with database.session() as db:
        await catalog.end_session(db, ended.session.id, minutes(-1))
    async with database.session() as db:
        listed = await catalog.list_listed_sessions(db, now)
    assert [s.title for s in listed] == ["Venyy", "Nyt", "Tuleva"]
    assert [s.id for s in listed] == [
        overrunning.session.id,
        live.session.id,
        upcoming.session.id,
    ]


# -- the demo week ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "now",
    [
        dt.datetime(2026, 3, 2, 7, 12, 41, tzinfo=UTC),  # Monday morning in Kuopio
        dt.datetime(2026, 1, 9, 21, 50, 5, tzinfo=UTC),  # 23:50 local: live past midnight
        dt.datetime(2026, 3, 27, 12, 0, tzinfo=UTC),  # the week holds the spring clock change
    ],
    ids=["morning", "late-evening", "clock-change"],
)
async def test_the_demo_loads_a_week_with_live_sessions(
    database: Database, now: dt.datetime
) -> None:
    async with database.session() as db:
        created = await load_demo(db, now)
    sessions = [c.session for c in created]
    assert len(sessions) == await count(database, Session)

    today = now.astimezone(HELSINKI).date()
    dates = {s.starts_at.astimezone(HELSINKI).date() for s in sessions}
    assert dates == {today + dt.timedelta(days=n) for n in range(7)}

    live = [s for s in sessions if catalog.is_live(s, now)]
    live_broadcasts = [
        s
        for s in live
        if s.mode.value == "broadcast" and s.visibility == Visibility.PUBLIC and s.receivers
    ]
    live_groups = [s for s in live if s.mode.value == "group" and s.visibility.value == "private"]
    assert live_broadcasts and live_groups
    for session in live_broadcasts + live_groups:
        assert session.title.startswith("Demo: ")
        assert session.ends_at - now >= dt.timedelta(hours=2, minutes=50)

    planned = [s for s in sessions if not s.title.startswith("Demo: ")]
    per_day = collections.Counter(s.starts_at.astimezone(HELSINKI).date() for s in planned)
    assert all(3 <= n <= 5 for n in per_day.values()), per_day
    for s in planned:
        local_start, local_end = s.starts_at.astimezone(HELSINKI), s.ends_at.astimezone(HELSINKI)
        assert dt.time(9, 0) <= local_start.time() and local_end.time() <= dt.time(19, 0), s.title
        assert 30 <= (s.ends_at - s.starts_at).total_seconds() / 60 <= 120, s.title
    assert {s.category for s in sessions} == CATEGORIES
    assert {s.room.venue.slug for s in sessions} | {
        r.room.venue.slug for s in sessions for r in s.receivers
    } == set().union(*VENUES.values())

    jumppa = [s for s in sessions if s.title.startswith("Tuolijumppa kotihoidon")]
    assert jumppa
    for s in jumppa:
        assert (s.mode.value, s.visibility.value) == ("group", "private")
        assert s.organiser is not None and s.organiser.slug == "kotihoito"
    assert any(s.title.startswith("Yhteislaulu") for s in sessions)
    muistikahvila = [s for s in sessions if s.title.startswith("Muistikahvila")]
    assert muistikahvila and all(s.organiser.slug == "muistiyhdistys" for s in muistikahvila)  # type: ignore[union-attr]
    assert any(s.title.startswith("Digiapu") for s in sessions)
    lectures = [s for s in planned if s.category == "lecture" and s.mode.value == "broadcast"]
    assert lectures and all(s.room.venue.slug == "kantti" and s.receivers for s in lectures)

    async with database.session() as db:
        listed = {s.id for s in await catalog.list_listed_sessions(db, now)}
    assert {s.id for s in live_broadcasts} <= listed
    assert not {s.id for s in sessions if s.visibility == Visibility.PRIVATE} & listed


async def test_the_demo_content_is_the_same_every_time(
    settings: Settings, new_database: Callable[..., str]
) -> None:
    now = dt.datetime(2026, 3, 2, 7, 12, tzinfo=UTC)

    async def load(url: str) -> list[tuple[Any, ...]]:
        database = Database(url)
        try:
            async with database.session() as db:
                created = await load_demo(db, now)  # without sync_reference_data first
                return [
                    (s.title, s.starts_at, s.ends_at, s.room_id, s.visibility, s.description)
                    for s in (c.session for c in created)
                ]
        finally:
            await database.close()

    first = await load(settings.database_url)
    assert await load(new_database("other")) == first


async def test_the_demo_loads_only_once(database: Database) -> None:
    now = catalog.utcnow()
    async with database.session() as db:
        assert await load_demo(db, now)
    loaded = await count(database, Session)
    async with database.session() as db:
        assert await load_demo(db, now) == []
        assert await load_demo(db, now + dt.timedelta(days=3)) == []
    assert await count(database, Session) == loaded


async def test_the_demo_is_not_loaded_over_real_sessions(database: Database) -> None:
    await create(database, title="Oikea luento")
    async with database.session() as db:
        assert await load_demo(db, catalog.utcnow()) == []
    assert await count(database, Session) == 1


# -- the JSON API -------------------------------------------------------------------------------
async def test_api_lists_public_live_and_upcoming_sessions(
    client: TestClient, sessions: Any
) -> None:
    now = catalog.utcnow()
    live = await sessions.create(
        title="Luento suorana",
        venue="kantti/lava",
        receivers=["nilsia", "juankoski"],
        starts_at=now - dt.timedelta(minutes=5),
        minutes=90,
    )
    upcoming = await sessions.create(
        title="Yhteislaulu",
        venue="maaninka",
        starts_at=now + dt.timedelta(days=2),
    )
    private = await sessions.create(
        title="Tuolijumppa", mode="group", private=True, organiser="kotihoito"
    )
    ended = await sessions.create(title="Päättynyt", starts_at=now - dt.timedelta(minutes=5))
    await sessions.end(ended.session.id)

    response = await client.get("/api/sessions")
    assert response.status == 200
    body = await response.json()
    listed = body["sessions"]
    assert [s["id"] for s in listed] == [live.session.id, upcoming.session.id]
    first, second = listed
    assert (first["venue"], first["room"], first["live"], first["phase"]) == (
        "kantti",
        "lava",
        True,
        "open",
    )
    assert sorted(first["receivers"], key=lambda r: r["venue"]) == [
        {"venue": "juankoski", "room": "lukusali"},
        {"venue": "nilsia", "room": "lukusali"},
    ]
    assert (second["venue"], second["live"], second["phase"]) == ("maaninka", False, "upcoming")
    raw = await response.text()
    assert private.session.id not in raw and "Tuolijumppa" not in raw
    for secret in (live.host_token, live.publish_token, live.session.join_code):
        assert secret not in raw


async def test_api_answers_an_unknown_session_with_a_json_404(client: TestClient) -> None:
    response = await client.get("/api/sessions/eiolemassa")
    assert response.status == 404
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["error"]["code"] == "unknown_session"
    assert body["error"]["message"]


async def test_api_describes_a_known_session(client: TestClient, sessions: Any) -> None:
    created = await sessions.create(title="Muistikahvila", mode="group", venue="nilsia")
    response = await client.get(f"/api/sessions/{created.session.id}")
    assert response.status == 200
    body = await response.json()
    assert (body["id"], body["title"], body["mode"], body["venue"]) == (
        created.session.id,
        "Muistikahvila",
        "group",
        "nilsia",
    )
