"""``POST /api/sessions/{id}/survey``: the anonymous satisfaction smileys.

A person's page (join page, tablet) sends its attendee key, which allows one answer per
participant. A room's shared screen (kiosk, room link) sends its device token instead and
may answer many times, one answer per couple of seconds.
"""

from __future__ import annotations

import logging

from aiohttp import web

from stream_server.attendance import survey
from stream_server.catalog import service as catalog
from stream_server.db.models import DeviceKind
from stream_server.devices import service as devices
from stream_server.errors import BadRequest, Conflict, Forbidden, KohtaamoError, NotFound
from stream_server.web.auth import bearer_token, device_from_token, is_device_token
from stream_server.web.json_body import read_json_object
from stream_server.web.keys import DATABASE, LEDGER

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()

#: Seconds between two answers from one kiosk.
DEVICE_ANSWER_INTERVAL = 2.0
SURVEY_LIMITER = web.AppKey("survey_limiter", survey.DeviceRateLimiter)


class SurveyTooFast(KohtaamoError):
    """A kiosk answering again within DEVICE_ANSWER_INTERVAL (a name of its own: it is not
    errors.TooManyRequests, which sends Retry-After)."""

    status = 429
    code = "survey_too_fast"


def setup(app: web.Application) -> None:
    """Register the route and the per-device limiter (state of this app, not a global)."""
    app[SURVEY_LIMITER] = survey.DeviceRateLimiter(DEVICE_ANSWER_INTERVAL)
    app.add_routes(routes)


@routes.post("/api/sessions/{session_id}/survey")
async def answer_survey(request: web.Request) -> web.Response:
    session_id = request.match_info["session_id"]
    device = None
    if is_device_token(bearer_token(request)):
        device = await device_from_token(request)
    body = await read_json_object(request)
    try:
        score = survey.validate_score(body.get("score"))
        channel = body.get("channel")
        if channel is not None:
            survey.validate_channel(channel)
    except survey.SurveyError as exc:
        raise BadRequest(str(exc), code="survey_invalid") from None
    attendee_key = body.get("attendee_key")
    if attendee_key is not None and (
        not isinstance(attendee_key, str) or not 16 <= len(attendee_key) <= 64
    ):
        raise BadRequest(
            "attendee_key must be the page's 16-64 character key", code="survey_invalid"
        )
    room_device = device is not None and device.kind != DeviceKind.TABLET
    if not room_device and attendee_key is None:
        raise BadRequest(
            "attendee_key is needed (one answer per participant)", code="survey_invalid"
        )
    async with request.app[DATABASE].session() as db:
        session = await catalog.get_session(db, session_id)
        if session is None:
            raise NotFound("no such session", code="unknown_session")
        if room_device:
            assert device is not None
            if await devices.placement(db, device, session) is None:
                raise Forbidden(
                    f"device {device.id} has no part in session {session_id}",
                    code="device_not_allowed",
                )
            if not request.app[SURVEY_LIMITER].allow(device.id):
                raise SurveyTooFast("one answer per 2 seconds from a device; try again")
            answer = await survey.answer_from_room(
                db, session_id, devices.participant_channel(device), score
            )
        else:
            assert attendee_key is not None
            try:
                answer = await survey.answer_as_participant(db, session_id, attendee_key, score)
            except survey.SurveyNotParticipant as exc:
                raise NotFound(str(exc), code="survey_not_participant") from None
            except survey.SurveyAlreadyAnswered as exc:
                raise Conflict(str(exc), code="survey_already_answered") from None
        stored_channel = answer.channel
    logger.info("session %s: survey answer from channel %s", session_id, stored_channel)
    request.app[LEDGER].changed(session_id, "survey")
    return web.json_response({"ok": True, "channel": stored_channel}, status=201)
