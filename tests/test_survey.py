"""The satisfaction survey: validation, one answer per participant, kiosks, anonymity."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import inspect, select

from stream_server.attendance import survey
from stream_server.db.models import Participant, SurveyAnswer
from stream_server.web.keys import DATABASE, LEDGER
from tests.conftest import Devices, Sessions

KEY = "k" * 24


async def post(
    client: TestClient, sid: str, body: Any, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client.post(f"/api/sessions/{sid}/survey", json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def answers(client: TestClient) -> list[SurveyAnswer]:
    async with client.app[DATABASE].session() as db:
        return list((await db.scalars(select(SurveyAnswer).order_by(SurveyAnswer.id))).all())


async def test_scores_outside_one_to_five_are_refused(
    client: TestClient, sessions: Sessions
) -> None:
    sid = (await sessions.create()).session.id
    await client.app[LEDGER].join(sid, "browser", attendee_key=KEY)
    for bad in (0, 6, -1, 2.5, "3", True, None):
        status, body = await post(client, sid, {"score": bad, "attendee_key": KEY})
        assert status == 400, bad
        assert body["error"] == {
            "code": "survey_invalid",
            "message": "score must be a whole number from 1 to 5",
        }
    status, body = await post(
        client, sid, {"score": 3, "attendee_key": KEY, "channel": "carrier-pigeon"}
    )
    assert status == 400 and "channel must be one of" in body["error"]["message"]
    status, body = await post(client, sid, {"score": 3})  # neither key nor device
    assert status == 400 and "attendee_key is needed" in body["error"]["message"]
    assert await answers(client) == []  # nothing half-stored, participant not flagged
    status, _ = await post(client, sid, {"score": 5, "attendee_key": KEY})
    assert status == 201


async def test_one_answer_per_participant_and_the_ledgers_channel_counts(
    client: TestClient, sessions: Sessions
) -> None:
    sid = (await sessions.create()).session.id
    await client.app[LEDGER].join(sid, "tablet", attendee_key=KEY)
    # The page claims "browser"; the ledger knows the participant joined as a tablet.
    status, body = await post(client, sid, {"score": 4, "attendee_key": KEY, "channel": "browser"})
    assert (status, body) == (201, {"ok": True, "channel": "tablet"})
    status, body = await post(client, sid, {"score": 1, "attendee_key": KEY})
    assert status == 409 and body["error"]["code"] == "survey_already_answered"
    stored = await answers(client)
    assert [(a.session_id, a.channel, a.score) for a in stored] == [(sid, "tablet", 4)]
    # A key that never joined this session is nobody: refused, nothing stored.
    status, body = await post(client, sid, {"score": 2, "attendee_key": "z" * 24})
    assert status == 404 and body["error"]["code"] == "survey_not_participant"
    async with client.app[DATABASE].session() as db:
        summary = await survey.survey_summary(db, sid)
    assert summary == {"answers": 1, "mean": 4.0, "by_channel": {"tablet": 1}}


async def test_answers_are_anonymous(client: TestClient, sessions: Sessions) -> None:
    """The answer row cannot be tied to a participant: no key, id, device or time in it."""
    columns = {c.key for c in inspect(SurveyAnswer).columns}
    assert columns == {"id", "session_id", "channel", "score"}
    sid = (await sessions.create()).session.id
    presence = await client.app[LEDGER].join(sid, "browser", attendee_key=KEY)
    assert (await post(client, sid, {"score": 5, "attendee_key": KEY}))[0] == 201
    async with client.app[DATABASE].session() as db:
        person = await db.get(Participant, presence.participant_id)
        assert person is not None and person.surveyed is True
        row = (await db.scalars(select(SurveyAnswer))).one()
    assert KEY not in repr(vars(row))


async def test_a_kiosk_may_answer_for_a_room_but_not_twice_in_two_seconds(
    client: TestClient, sessions: Sessions, devices: Devices
) -> None:
    sid = (await sessions.create(venue="puijonlaakso")).session.id
    token = await devices.add("puijonlaakso", "kiosk", "ryhmatila")
    status, body = await post(client, sid, {"score": 5, "channel": "kiosk"}, token)
    assert (status, body["channel"]) == (201, "kiosk")
    status, body = await post(client, sid, {"score": 4, "channel": "kiosk"}, token)
    assert status == 429 and body["error"]["code"] == "survey_too_fast"
    # The limit is per device: a second screen in the same room answers at once. (The
    # interval passing is checked with an injected clock below.)
    second = await devices.add("puijonlaakso", "room-link", "ryhmatila")
    assert await post(client, sid, {"score": 3}, second) == (
        201,
        {"ok": True, "channel": "room-link"},
    )
    assert sorted(a.score for a in await answers(client)) == [3, 5]
    # A kiosk of another venue has no part in this session.
    other = await devices.add("kantti", "kiosk", "lava")
    status, body = await post(client, sid, {"score": 3}, other)
    assert status == 403 and body["error"]["code"] == "device_not_allowed"
    # A tablet is a person: without an attendee key it is refused, like a browser.
    tablet = await devices.add("puijonlaakso", "tablet")
    status, body = await post(client, sid, {"score": 3}, tablet)
    assert status == 400 and body["error"]["code"] == "survey_invalid"


async def test_a_revoked_kiosk_cannot_answer(
    client: TestClient, sessions: Sessions, devices: Devices
) -> None:
    sid = (await sessions.create(venue="puijonlaakso")).session.id
    token = await devices.add("puijonlaakso", "kiosk", "ryhmatila")
    await devices.revoke_all()
    status, body = await post(client, sid, {"score": 5}, token)
    assert status == 403 and body["error"]["code"] == "device_revoked"
    assert await answers(client) == []


def test_device_rate_limiter_uses_its_clock() -> None:
    now = [100.0]
    limiter = survey.DeviceRateLimiter(2.0, clock=lambda: now[0])
    assert limiter.allow(1) and not limiter.allow(1) and limiter.allow(2)
    now[0] += 1.9
    assert not limiter.allow(1)
    now[0] += 0.2
    assert limiter.allow(1)
