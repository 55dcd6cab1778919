"""A week of realistic demo sessions, and three past months with attendance (``kohtaamo demo``).

The programme is modelled on the City of Kuopio's resident activity (asukastoiminta) in its
libraries: lectures broadcast from KANTTI to screens in rural libraries, guided chair
exercise for home-care clients, sing-alongs, memory cafés and digital help. The content is
fixed; only the dates follow ``now`` (seven days starting today, Europe/Helsinki time), and
the ids, join codes and tokens are made by :func:`create_session`.

Two sessions titled ``Demo: ...`` start a few minutes before ``now`` and last three hours,
so that someone trying the server sees a live public broadcast and a live private group
straight away.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from stream_server.catalog.service import (
    CITY_TZ,
    CreatedSession,
    create_session,
    sync_reference_data,
)
from stream_server.db.models import (
    Area,
    AttendanceInterval,
    Headcount,
    Participant,
    Session,
    SessionMode,
    StaffUser,
    SurveyAnswer,
    Venue,
)
from stream_server.devices import service as devices
from stream_server.staff import service as staff

BROADCAST = SessionMode.BROADCAST
GROUP = SessionMode.GROUP

LIBRARY = "kuopion-kaupunginkirjasto"
SPORTS = "liikuntapalvelut"
HOME_CARE = "kotihoito"
PENSIONERS = "elakeliitto"
MEMORY = "muistiyhdistys"

#: How long the two ``Demo: ...`` sessions last, and how long ago they started.
LIVE_DEMO_LENGTH = dt.timedelta(hours=3)
LIVE_DEMO_STARTED_AGO = dt.timedelta(minutes=5)
DEMO_DAYS = 7


@dataclasses.dataclass(frozen=True)
class Planned:
    """One session of the demo week; ``day`` 0 is today."""

    day: int
    start: str  # HH:MM, Europe/Helsinki
    minutes: int
    title: str
    mode: SessionMode
    venue: str
    category: str
    organiser: str
    description: str
    receivers: tuple[str, ...] = ()
    private: bool = False


def _tuolijumppa(day: int, start: str) -> Planned:
    """The home-care clients' chair exercise: private, joined from home with a code."""
    return Planned(
        day,
        start,
        45,
        "Tuolijumppa kotihoidon asiakkaille",
        GROUP,
        "kantti/pedagoginen-tila",
        "exercise",
        HOME_CARE,
        "Liikunnanohjaajan vetämä tuolijumppa kotihoidon asiakkaille. Osallistujat liittyvät "
        "kotoaan kotihoidon tabletilla; ohjaaja näkee ja kuulee ryhmän. Liittymiskoodi "
        "saadaan kotihoidon hoitajalta.",
        private=True,
    )


# Columns: day, start, minutes, title, mode, venue[/room], category, organiser, description.
# fmt: off
WEEK: tuple[Planned, ...] = (
    # -- day 0 (today) ---------------------------------------------------------------------------
    _tuolijumppa(0, "10:00"),
    Planned(
        0, "13:00", 90, "Digiapu: älypuhelimen perusteet", GROUP, "puijonlaakso",
        "digital-help", LIBRARY,
        "Digiopastajat neuvovat puhelimen asetuksissa, sovellusten asentamisessa ja "
        "viestien lähettämisessä. Oman puhelimen voi ottaa mukaan.",
    ),
    Planned(
        0, "17:30", 90, "Luento: Kuopion historiaa 1900-luvulla", BROADCAST, "kantti/lava",
        "lecture", LIBRARY,
        "Kaupunginkirjaston paikallishistorian luento: Kuopio sotien jälkeen, "
        "Väinölänniemestä Puijon torniin. Luentoa voi seurata Nilsiän ja Juankosken "
        "kirjastoissa tai kotoa.",
        receivers=("nilsia", "juankoski"),
    ),
    # -- day 1 -----------------------------------------------------------------------------------
    Planned(
        1, "09:30", 60, "Muistikahvila", GROUP, "kantti/kohtaamo", "discussion", MEMORY,
        "Keskustelua muistista ja arjen sujumisesta kahvikupin ääressä. Muistiyhdistyksen "
        "vertaisohjaaja on paikalla; mukaan voi tulla myös läheisen kanssa.",
    ),
    _tuolijumppa(1, "11:00"),
    Planned(
        1, "14:00", 60, "Yhteislaulu: tuttuja iskelmiä", BROADCAST, "kantti/lava", "music",
        PENSIONERS,
        "Laulamme yhdessä tuttuja iskelmiä säestäjän johdolla. Sanat näkyvät kankaalla "
        "KANTISSA ja näytöillä Maaningan, Riistaveden ja Karttulan kirjastoissa.",
        receivers=("maaninka", "riistavesi", "karttula"),
    ),
    Planned(
        1, "17:00", 120, "Neulekahvila", GROUP, "neulamaki", "crafts", LIBRARY,
        "Avoin neulonta- ja virkkausilta. Omat työt mukaan; aloittelijoita neuvotaan.",
    ),
    # -- day 2 -----------------------------------------------------------------------------------
    Planned(
        2, "10:00", 60, "Digiapu: verkkopankki ja vahva tunnistautuminen", GROUP, "jynkka",
        "digital-help", LIBRARY,
        "Miten kirjaudun OmaKantaan ja Suomi.fi-palveluihin? Kirjaston digiopastaja "
        "auttaa. Pankkitunnuksia ei kysytä eikä kirjoiteta muistiin.",
    ),
    Planned(
        2, "12:30", 60, "Muistikahvila Nilsiässä", GROUP, "nilsia", "discussion", MEMORY,
        "Muistiyhdistyksen vertaisryhmä Nilsiän kirjastossa. Ryhmään voi liittyä myös "
        "etänä.",
    ),
    _tuolijumppa(2, "15:00"),
    Planned(
        2, "17:00", 90, "Luento: Muisti ja aivoterveys", BROADCAST, "kantti/lava", "lecture",
        MEMORY,
        "Muistihoitajan luento siitä, miten liikunta, uni ja seura pitävät aivot virkeinä. "
        "Kysymyksiä voi esittää myös Vehmersalmen, Karttulan ja Riistaveden kirjastoista.",
        receivers=("vehmersalmi", "karttula", "riistavesi"),
    ),
    # -- day 3 -----------------------------------------------------------------------------------
    _tuolijumppa(3, "10:00"),
    Planned(
        3, "13:00", 90, "Kirjallisuuspiiri: Minna Canth", GROUP, "kantti/kohtaamo", "culture",
        LIBRARY,
        "Luemme ja keskustelemme Minna Canthin näytelmästä Anna Liisa. Kirjaa on varattu "
        "lainaan useampi kappale.",
    ),
    Planned(
        3, "16:00", 60, "Digiapu: videopuhelu läheisten kanssa", GROUP, "pyoro",
        "digital-help", LIBRARY,
        "Harjoittelemme videopuheluita tabletilla ja puhelimella, jotta yhteys "
        "lastenlapsiin onnistuu.",
    ),
    Planned(
        3, "18:00", 60, "Yhteislaulu: savolaisia lauluja", BROADCAST, "kantti/lava", "music",
        PENSIONERS,
        "Kuopion seudun lauluja ja kansanlauluja. Juankosken ja Maaningan kirjastoissa "
        "lauletaan mukana näytön äärellä.",
        receivers=("juankoski", "maaninka"),
    ),
    # -- day 4 -----------------------------------------------------------------------------------
    Planned(
        4, "09:30", 60, "Lukupiiri Karttulassa", GROUP, "karttula", "culture", LIBRARY,
        "Kuukauden kirjana Juhani Ahon Rautatie. Etäosallistujat kuulevat ja näkevät "
        "keskustelun.",
    ),
    _tuolijumppa(4, "11:00"),
    Planned(
        4, "14:00", 120, "Käsityökahvila: villasukat", GROUP, "kantti/paja", "crafts",
        PENSIONERS,
        "Kantapään ja kärjen neulominen tutuksi. Lankoja ja puikkoja on lainattavissa.",
    ),
    Planned(
        4, "17:00", 90, "Luento: Puijon luonto ja lähiretkeily", BROADCAST, "kantti/lava",
        "lecture", SPORTS,
        "Liikuntapalvelujen luontoluento Puijon poluista ja esteettömistä retkikohteista. "
        "Seurattavissa Nilsiän ja Vehmersalmen kirjastoissa.",
        receivers=("nilsia", "vehmersalmi"),
    ),
    # -- day 5 -----------------------------------------------------------------------------------
    Planned(
        5, "10:00", 45, "Tuolijumppa kaikille", BROADCAST, "kantti/lava", "exercise", SPORTS,
        "Avoin tuolijumppa, jota voi tehdä kotona tai Riistaveden ja Juankosken "
        "kirjastoissa yhdessä muiden kanssa.",
        receivers=("riistavesi", "juankoski"),
    ),
    Planned(
        5, "13:00", 60, "Kirjailijavierailu: kotiseudun tarinat", BROADCAST, "kantti/lava",
        "culture", LIBRARY,
        "Savolainen kirjailija kertoo uudesta romaanistaan ja lukee otteita. "
        "Näytöt Maaningan ja Karttulan kirjastoissa.",
        receivers=("maaninka", "karttula"),
    ),
    Planned(
        5, "15:00", 60, "Muistikahvila Riistavedellä", GROUP, "riistavesi", "discussion",
        MEMORY,
        "Vertaisryhmä muistisairaiden läheisille. Ryhmään voi osallistua myös kotoa.",
    ),
    # -- day 6 -----------------------------------------------------------------------------------
    _tuolijumppa(6, "11:00"),
    Planned(
        6, "13:00", 60, "Yhteislaulu: kansanlauluja ja virsiä", BROADCAST, "kantti/lava",
        "music", PENSIONERS,
        "Eläkeläisyhdistyksen kuoro johtaa laulua. Mukana näytöillä Nilsiä ja Vehmersalmi.",
        receivers=("nilsia", "vehmersalmi"),
    ),
    Planned(
        6, "15:00", 90, "Keskusteluryhmä: millainen on hyvä lähikirjasto?", GROUP,
        "kantti/kohtaamo", "discussion", LIBRARY,
        "Asukkaiden keskustelu kirjastojen palveluista. Toiveet kirjataan ylös "
        "kirjastopalveluiden suunnittelua varten.",
    ),
)
# fmt: on


async def load_demo(db: AsyncSession, now: dt.datetime) -> list[CreatedSession]:
    """Create the demo week unless the database already holds sessions (then return [])."""
    if await db.scalar(select(func.count()).select_from(Session)):
        return []
    await sync_reference_data(db)
    created: list[CreatedSession] = []
    # The live ones first, so `kohtaamo demo` lists them first. They use rooms the planned
    # week does not, so they never clash with a planned session whatever the time of day.
    live_start = now.replace(second=0, microsecond=0) - LIVE_DEMO_STARTED_AGO
    live_minutes = int(LIVE_DEMO_LENGTH.total_seconds() // 60)
    created.append(
        await create_session(
            db,
            title="Demo: Luento suorana KANTISTA",
            mode=BROADCAST,
            venue="kantti/kokoussali",
            receivers=["nilsia", "juankoski"],
            starts_at=live_start,
            minutes=live_minutes,
            category="lecture",
            organiser=LIBRARY,
            description=(
                "Kokeilulähetys: julkinen luento KANTIN kokoussalista, näytöt Nilsiän ja "
                "Juankosken kirjastoissa. Kuka tahansa voi katsoa."
            ),
            now=now,
        )
    )
    created.append(
        await create_session(
            db,
            title="Demo: Keskusteluryhmä",
            mode=GROUP,
            venue="kantti/hiljainen-ryhmatila",
            private=True,
            starts_at=live_start,
            minutes=live_minutes,
            category="discussion",
            organiser=LIBRARY,
            description=(
                "Kokeiluryhmä: yksityinen keskusteluryhmä, johon liitytään "
                "liittymiskoodilla. Kaikki osallistujat näkevät ja kuulevat toisensa."
            ),
            now=now,
        )
    )
    today = now.astimezone(CITY_TZ).date()
    for item in WEEK:
        created.append(await _create_planned(db, item, today + dt.timedelta(days=item.day), now))
    return created


async def _create_planned(
    db: AsyncSession, item: Planned, day: dt.date, now: dt.datetime
) -> CreatedSession:
    """One planned session on ``day``, at its start time in the city's time zone."""
    hour, minute = (int(part) for part in item.start.split(":"))
    return await create_session(
        db,
        title=item.title,
        mode=item.mode,
        venue=item.venue,
        receivers=list(item.receivers),
        private=item.private,
        starts_at=dt.datetime.combine(day, dt.time(hour, minute), tzinfo=CITY_TZ),
        minutes=item.minutes,
        category=item.category,
        organiser=item.organiser,
        description=item.description,
        now=now,
    )


# -- past months: attendance for the dashboard and the reports ----------------------------------
#: How far back ``kohtaamo demo`` makes past sessions (the demo week repeated).
HISTORY_DAYS = 91
#: Past sessions older than this mean the history is already there (demo runs twice).
HISTORY_MARKER_AGE = dt.timedelta(days=14)
HISTORY_SEED = 2026
DEMO_STAFF = "demo"
#: Smiley scores as people tend to give them: mostly happy, some lukewarm.
SCORES = (5, 5, 5, 5, 4, 4, 4, 3, 3, 2, 1)


def _past_plan(today: dt.date) -> list[tuple[dt.date, Planned]]:
    """The demo week's programme on each of the past days (by weekday offset)."""
    plan = []
    for days_ago in range(HISTORY_DAYS, 0, -1):
        day = today - dt.timedelta(days=days_ago)
        plan += [(day, item) for item in WEEK if item.day == days_ago % 7]
    return plan


def _attendance(
    rng: random.Random,
    session: Session,
    item: Planned,
    rural_venues: list[int],
    staff_id: int | None,
) -> list[Any]:
    """Headcounts, online participants with their intervals, and survey answers."""
    rows: list[Any] = []
    length = (session.ends_at - session.starts_at).total_seconds()
    rooms = [session.room, *(r.room for r in session.receivers)]
    if not item.private:  # home-care clients join from home: nobody in the room to count
        for index, room in enumerate(rooms):
            high = room.capacity or 25
            low, top = (high // 5, high * 3 // 5) if index == 0 else (2, min(high, 15))
            rows.append(
                Headcount(
                    session_id=session.id,
                    venue_id=room.venue_id,
                    count=rng.randint(low, max(low, top)),
                    recorded_at=session.starts_at + dt.timedelta(minutes=10),
                    staff_id=staff_id,
                )
            )
    channels: tuple[str, ...] = ("browser", "tablet")
    if item.private:
        online, channels = rng.randint(4, 9), ("tablet",)
    elif item.mode == BROADCAST:
        online, channels = rng.randint(6, 28), ("whep", "browser", "browser", "tablet")
        publisher = Participant(
            session_id=session.id,
            channel="whip",
            role="host",
            is_device=True,
            first_joined_at=session.starts_at - dt.timedelta(minutes=10),
        )
        publisher.intervals.append(
            AttendanceInterval(
                joined_at=publisher.first_joined_at,
                last_seen_at=session.ends_at,
                left_at=session.ends_at,
                close_reason="left",
            )
        )
        rows.append(publisher)
    else:
        online = rng.randint(0, 5)
    for _ in range(online):
        channel = rng.choice(channels)
        venue_id = rng.choice(rural_venues) if channel == "tablet" and rng.random() < 0.25 else None
        joined = session.starts_at + dt.timedelta(seconds=rng.uniform(-300, 600))
        participant = Participant(
            session_id=session.id,
            channel=channel,
            venue_id=venue_id,
            first_joined_at=joined,
        )
        brief = rng.random() < 0.1
        stretches = 1 if brief or rng.random() < 0.8 else 2
        for _ in range(stretches):
            seconds = rng.uniform(10, 55) if brief else rng.uniform(0.3, 1.0) * length / stretches
            left = joined + dt.timedelta(seconds=seconds)
            participant.intervals.append(
                AttendanceInterval(
                    joined_at=joined, last_seen_at=left, left_at=left, close_reason="left"
                )
            )
            joined = left + dt.timedelta(seconds=rng.uniform(5, 90))
        rows.append(participant)
        if not brief and rng.random() < 0.4:
            participant.surveyed = True
            rows.append(
                SurveyAnswer(session_id=session.id, channel=channel, score=rng.choice(SCORES))
            )
    if not item.private:
        for _ in range(rng.randint(0, 6)):  # answers given on the room's kiosk
            rows.append(
                SurveyAnswer(session_id=session.id, channel="kiosk", score=rng.choice(SCORES))
            )
    return rows


async def load_history(db: AsyncSession, now: dt.datetime, staff_id: int | None = None) -> int:
    """Past sessions of the last three months with realistic attendance; returns how many.

    Seeded, so every demo database looks the same; skipped when sessions older than two
    weeks exist (the history was loaded before), so running ``kohtaamo demo`` twice does not
    double anything.
    """
    if await db.scalar(
        select(func.count())
        .select_from(Session)
        .where(Session.starts_at < now - HISTORY_MARKER_AGE)
    ):
        return 0
    await sync_reference_data(db)
    rng = random.Random(HISTORY_SEED)
    rural_venues = list(
        (
            await db.scalars(
                select(Venue.id).join(Area, Area.id == Venue.area_id).where(Area.slug != "urban")
            )
        ).all()
    )
    created: list[tuple[Session, Planned]] = []
    for day, item in _past_plan(now.astimezone(CITY_TZ).date()):
        made = await _create_planned(db, item, day, now)
        created.append((made.session, item))
    # Attendance last, in one flush: added between sessions it would be flushed (slowly)
    # by every query create_session makes.
    for session, item in created:
        db.add_all(_attendance(rng, session, item, rural_venues, staff_id))
    await db.flush()
    return len(created)


async def ensure_demo_staff(db: AsyncSession, known_password: str | None) -> tuple[str, str]:
    """The demo staff account and its password: kept if the password is known, else reset."""
    user = await db.scalar(select(StaffUser).where(StaffUser.name == DEMO_STAFF))
    if (
        user is not None
        and known_password
        and await staff.check_password(db, DEMO_STAFF, known_password)
    ):
        return DEMO_STAFF, known_password
    password = secrets.token_urlsafe(12)
    if user is None:
        await staff.add_staff(db, DEMO_STAFF, password)
    else:
        await staff.set_password(db, DEMO_STAFF, password)
    return DEMO_STAFF, password


async def load_demo_devices(
    db: AsyncSession, created: list[CreatedSession]
) -> list[dict[str, str]]:
    """Room screens for the live demo lecture, and a home-care client's tablet invited to the
    live demo group and to the week's home-care groups (the private chair exercise).

    Made together with the demo sessions (once); the tokens exist only in the returned links.
    """
    if len(created) < 2:
        return []
    lecture, group = created[0].session, created[1].session
    # created = the two live ones, then WEEK in order (see load_demo).
    home_care = [
        made.session
        for made, item in zip(created[2:], WEEK, strict=False)
        if item.private and item.organiser == HOME_CARE
    ]
    made = []
    for receiver, kind in zip(lecture.receivers, ("kiosk", "room-link"), strict=False):
        room = receiver.room
        new = await devices.add_device(
            db, room.venue.slug, kind, room.slug, f"Demo screen, {room.venue.name}"
        )
        made.append((new, f"{room.venue.slug}/{room.slug}"))
    tablet = await devices.add_device(db, "kantti", "tablet", None, "Demo: kotihoidon tabletti")
    for session in (group, *home_care):
        await devices.invite(db, tablet.device.id, session.id)
    made.append((tablet, "kantti"))
    return [
        {
            "id": str(new.device.id),
            "kind": new.device.kind.value,
            "place": place,
            "token": new.token,
            "enrol_path": devices.enrol_path(new.device.kind, new.token),
        }
        for new, place in made
    ]
