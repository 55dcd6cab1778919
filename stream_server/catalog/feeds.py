"""The public programme for other programs: an iCalendar feed and schema.org events.

A phone's calendar subscribes to ``/programme.ics``; the city's event site reads
``/programme.json``; search engines read the same schema.org ``Event`` as JSON-LD on each
session page. All three are built here from :class:`FeedEvent`, plain data taken from the
database rows on the event loop, so the text can be built off it (a year of a city's
programme is thousands of events).

Occurrences are listed one by one (no ``RRULE``): staff edit and cancel them one at a time,
and a cancelled one stays in the feed with ``STATUS:CANCELLED`` so a subscribed calendar
shows it struck out instead of silently dropping it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import icalendar

from stream_server.basics import CITY_TZ, absolute_url
from stream_server.db.models import Session, SessionStatus
from stream_server.i18n import Translator

SCHEMA = "https://schema.org"
SCHEDULED = f"{SCHEMA}/EventScheduled"
CANCELLED = f"{SCHEMA}/EventCancelled"
MIXED = f"{SCHEMA}/MixedEventAttendanceMode"
OFFLINE = f"{SCHEMA}/OfflineEventAttendanceMode"
ONLINE = f"{SCHEMA}/OnlineEventAttendanceMode"
PRODID = "-//Kohtaamo//Public programme//FI"


@dataclasses.dataclass(frozen=True)
class FeedEvent:
    """One occurrence as the feeds show it (no tokens, no join code: the feeds are public)."""

    id: str
    title: str
    description: str
    category: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    created_at: dt.datetime
    cancelled: bool
    cancel_reason: str | None
    online: bool
    venue: str
    room: str
    #: The organiser's name; a session without one is the library's own.
    organiser: str
    #: The absolute address of the session's public page.
    url: str

    @classmethod
    def of(cls, session: Session, base_url: str) -> FeedEvent:
        venue = session.room.venue.name
        return cls(
            id=session.id,
            title=session.title,
            description=session.description,
            category=session.category,
            starts_at=session.starts_at,
            ends_at=session.ends_at,
            created_at=session.created_at,
            cancelled=session.status == SessionStatus.CANCELLED,
            cancel_reason=session.cancel_reason,
            online=session.online,
            venue=venue,
            room=session.room.name,
            organiser=session.organiser.name if session.organiser is not None else venue,
            url=absolute_url(base_url, f"/sessions/{session.id}"),
        )


# -- schema.org ------------------------------------------------------------------------------------
def attendance_mode(event: FeedEvent) -> str:
    """Every session is held in a library room; one that is streamed can also be joined
    online (mixed). Kohtaamo has no online-only sessions, so ``ONLINE`` is never given."""
    return MIXED if event.online else OFFLINE


def event_jsonld(event: FeedEvent) -> dict[str, Any]:
    """A schema.org ``Event``: one entry of ``/programme.json`` and the JSON-LD of the
    session's page (the same object, so the two cannot disagree)."""
    place = {"@type": "Place", "name": event.venue, "address": f"{event.room}, {event.venue}"}
    location: Any = place
    if event.online:
        location = [place, {"@type": "VirtualLocation", "url": event.url}]
    data: dict[str, Any] = {
        "@context": SCHEMA,
        "@type": "Event",
        "@id": event.url,
        "identifier": event.id,
        "name": event.title,
        "startDate": event.starts_at.astimezone(CITY_TZ).isoformat(),
        "endDate": event.ends_at.astimezone(CITY_TZ).isoformat(),
        "eventStatus": CANCELLED if event.cancelled else SCHEDULED,
        "eventAttendanceMode": attendance_mode(event),
        "location": location,
        "organizer": {"@type": "Organization", "name": event.organiser},
        "isAccessibleForFree": True,
        "url": event.url,
    }
    if event.description:
        data["description"] = event.description
    return data


def programme_json(events: Sequence[FeedEvent]) -> dict[str, Any]:
    return {"events": [event_jsonld(e) for e in events]}


# -- iCalendar -------------------------------------------------------------------------------------
def uid_host(base_url: str) -> str:
    """The domain part of every ``UID``: the server's public host name."""
    return urlsplit(base_url).hostname or "kohtaamo.invalid"


def _details(event: FeedEvent, tr: Translator) -> str:
    """The ``DESCRIPTION``: what a person needs in their calendar, in their language."""
    lines = []
    if event.cancelled:
        lines.append(tr("feed.cancelled", reason=event.cancel_reason or "–"))
    if event.description:
        lines.append(event.description)
    lines.append(tr("feed.organiser", organiser=event.organiser))
    lines.append(tr("feed.free"))
    key = "feed.online" if event.online else "feed.in_person"
    lines.append(tr(key, url=event.url))
    return "\n\n".join(lines)


def calendar_ics(
    events: Sequence[FeedEvent],
    *,
    name: str,
    host: str,
    tr: Translator,
    window: tuple[dt.date, dt.date],
) -> bytes:
    """An RFC 5545 calendar: one ``VEVENT`` per occurrence, local times with
    ``TZID=Europe/Helsinki`` and its ``VTIMEZONE`` (made from the system's zoneinfo for the
    years of ``window``, so the text is the same all year and the ETag holds).

    ``UID`` is ``<session id>@<host>`` and ``DTSTAMP`` the session's creation time: the
    same occurrence is the same event in every fetch.
    """
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", CITY_TZ.key)
    # Calendar apps that honour these refresh a subscription a few times a day.
    calendar.add("refresh-interval", dt.timedelta(hours=6), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT6H")
    first, last = window
    calendar.add_component(
        icalendar.Timezone.from_tzid(
            CITY_TZ.key,
            first_date=dt.date(first.year, 1, 1),
            last_date=dt.date(last.year + 1, 1, 1),
        )
    )
    for item in events:
        event = icalendar.Event()
        event.add("uid", f"{item.id}@{host}")
        event.add("dtstamp", item.created_at.astimezone(dt.UTC))
        event.add("dtstart", item.starts_at.astimezone(CITY_TZ))
        event.add("dtend", item.ends_at.astimezone(CITY_TZ))
        summary = item.title
        if item.cancelled:
            # Many calendar apps ignore STATUS; the title says it too.
            summary = tr("feed.cancelled_summary", title=item.title)
        event.add("summary", summary)
        event.add("description", _details(item, tr))
        event.add("location", f"{item.room}, {item.venue}")
        event.add("url", item.url)
        event.add("categories", [_category(item.category, tr)])
        event.add("class", "PUBLIC")
        event.add("status", "CANCELLED" if item.cancelled else "CONFIRMED")
        event.add("transp", "TRANSPARENT" if item.cancelled else "OPAQUE")
        calendar.add_component(event)
    return calendar.to_ical()


def _category(category: str, tr: Translator) -> str:
    key = f"reports.category.{category}"
    return tr(key) if tr.has(key) else category
