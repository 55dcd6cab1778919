"""``/programme.ics`` and ``/programme.json``: the public programme for calendars and sites.

Both take the programme page's filters (:class:`~stream_server.catalog.listing.ProgrammeFilter`)
and list the coming twelve months, one entry per occurrence, cancelled ones included. A
calendar app polls a subscription: the answer carries an ``ETag`` of its text, and a poll
that sends it back (``If-None-Match``) gets ``304`` without the body. ``HEAD`` answers too
(some apps check a subscription that way).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable

from aiohttp import web

from stream_server.basics import CITY_TZ, utcnow
from stream_server.catalog import feeds, listing
from stream_server.catalog.feeds import FeedEvent
from stream_server.web.keys import DATABASE
from stream_server.web.rendering import base_url, translator

routes = web.RouteTableDef()

ICS_TYPE = "text/calendar; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"


async def _events(request: web.Request) -> tuple[listing.ProgrammeFilter, list[FeedEvent]]:
    base = base_url(request)
    async with request.app[DATABASE].session() as db:
        wanted, sessions = await listing.listed(db, request.query)
        return wanted, [FeedEvent.of(s, base) for s in sessions]


def _answer(request: web.Request, body: bytes, content_type: str) -> web.Response:
    """The body with its ETag, or ``304`` when the client already has this text."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {
        "ETag": etag,
        # Revalidate every time (cheap with the ETag): a cancellation shows at the next poll.
        "Cache-Control": "no-cache",
        "Access-Control-Allow-Origin": "*",  # public data, read by the city's event site
        "X-Content-Type-Options": "nosniff",
        "Vary": "Accept-Language",  # the calendar's texts follow it (or ?lang=)
    }
    if etag in {t.strip() for t in request.headers.get("If-None-Match", "").split(",")}:
        return web.Response(status=304, headers=headers)
    response = web.Response(body=body, headers=headers)
    response.headers["Content-Type"] = content_type
    return response


async def _off_loop(build: Callable[[], bytes]) -> bytes:
    """A year of a city's programme is thousands of events: build the text off the loop."""
    return await asyncio.to_thread(build)


@routes.get("/programme.ics", name="programme_ics")
async def programme_ics(request: web.Request) -> web.Response:
    """RFC 5545; subscribe to it in a phone's calendar app (``?venue=…`` narrows it)."""
    wanted, events = await _events(request)
    tr = translator(request)
    name = tr("feed.calendar_name")
    narrowed = wanted.as_query()
    if narrowed:
        name += " (" + ", ".join(value for _, value in narrowed) + ")"
    start, end = listing.window(utcnow())
    body = await _off_loop(
        lambda: feeds.calendar_ics(
            events,
            name=name,
            host=feeds.uid_host(base_url(request)),
            tr=tr,
            window=(start.astimezone(CITY_TZ).date(), end.astimezone(CITY_TZ).date()),
        )
    )
    response = _answer(request, body, ICS_TYPE)
    response.headers["Content-Disposition"] = 'inline; filename="kohtaamo.ics"'
    return response


@routes.get("/programme.json", name="programme_json")
async def programme_json(request: web.Request) -> web.Response:
    """``{"events": [...]}``, each a schema.org ``Event``, for the city's event site."""
    _, events = await _events(request)
    body = await _off_loop(
        lambda: json.dumps(feeds.programme_json(events), ensure_ascii=False).encode("utf-8")
    )
    return _answer(request, body, JSON_TYPE)
