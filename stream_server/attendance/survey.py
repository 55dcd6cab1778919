"""The satisfaction survey: five smileys after a session, anonymous by construction.

An answer row holds only the session, the channel and the score: no participant, device or
time. One answer per participant is enforced by a flag on the participant
(``Participant.surveyed``), which is set in the same transaction but never links to the
answer. A kiosk in a room is shared by many people, so it may give several answers; the web
layer rate-limits it per device instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stream_server.attendance.ledger import CHANNELS
from stream_server.basics import hash_secret
from stream_server.db.models import Participant, SurveyAnswer

SCORES = range(1, 6)
#: Channels a survey answer can come from (people and room screens, not media links).
SURVEY_CHANNELS = frozenset(CHANNELS - {"whip", "presenter"})


class SurveyError(ValueError):
    """The answer itself is malformed (score, channel, key)."""


class SurveyNotParticipant(SurveyError):
    """The attendee key names nobody who took part in the session."""


class SurveyAlreadyAnswered(SurveyError):
    """This participant has answered already: one answer each."""


def validate_score(value: Any) -> int:
    # JSON true is an int in Python; a smiley is never a boolean.
    if isinstance(value, bool) or not isinstance(value, int) or value not in SCORES:
        raise SurveyError("score must be a whole number from 1 to 5")
    return value


def validate_channel(value: Any) -> str:
    if not isinstance(value, str) or value not in SURVEY_CHANNELS:
        raise SurveyError(f"channel must be one of {', '.join(sorted(SURVEY_CHANNELS))}")
    return value


async def answer_as_participant(
    db: AsyncSession, session_id: str, attendee_key: str, score: int
) -> SurveyAnswer:
    """One answer from the participant behind ``attendee_key`` (the join page's key).

    The channel stored is the one the ledger recorded at join, not what the page claims.
    The flag is set with a conditional UPDATE, so two answers racing cannot both pass.
    """
    key_hash = hash_secret(f"{session_id}:{attendee_key}")
    participant = await db.scalar(
        select(Participant).where(
            Participant.session_id == session_id, Participant.attendee_key_hash == key_hash
        )
    )
    if participant is None:
        raise SurveyNotParticipant("nobody with this attendee key took part in the session")
    flagged = await db.execute(
        update(Participant)
        .where(Participant.id == participant.id, Participant.surveyed.is_(False))
        .values(surveyed=True)
    )
    if not flagged.rowcount:  # type: ignore[attr-defined]
        raise SurveyAlreadyAnswered("this participant has already answered")
    return await _store(db, session_id, participant.channel, score)


async def answer_from_room(
    db: AsyncSession, session_id: str, channel: str, score: int
) -> SurveyAnswer:
    """An answer given on a room's shared screen (kiosk, room link): many people, many answers."""
    return await _store(db, session_id, validate_channel(channel), score)


async def _store(db: AsyncSession, session_id: str, channel: str, score: int) -> SurveyAnswer:
    answer = SurveyAnswer(session_id=session_id, channel=channel, score=validate_score(score))
    db.add(answer)
    await db.flush()
    return answer


async def survey_summary(db: AsyncSession, session_id: str) -> dict[str, Any]:
    """Mean and number of answers of one session, per channel too (for tests and reports)."""
    rows = (
        await db.execute(
            select(SurveyAnswer.channel, SurveyAnswer.score).where(
                SurveyAnswer.session_id == session_id
            )
        )
    ).all()
    by_channel: dict[str, list[int]] = {}
    for channel, score in rows:
        by_channel.setdefault(channel, []).append(score)
    scores = [s for _, s in rows]
    return {
        "answers": len(scores),
        "mean": round(sum(scores) / len(scores), 2) if scores else None,
        "by_channel": {c: len(s) for c, s in sorted(by_channel.items())},
    }


class DeviceRateLimiter:
    """At most one answer per ``interval`` seconds per device: a stuck or leaned-on button
    on a kiosk must not fill the survey with one face."""

    def __init__(self, interval: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._last: dict[int, float] = {}

    def allow(self, device_id: int) -> bool:
        now = self._clock()
        last = self._last.get(device_id)
        if last is not None and now - last < self._interval:
            return False
        self._last[device_id] = now
        if len(self._last) > 10_000:  # devices are registered by staff; this is a safety cap
            self._last = {k: v for k, v in self._last.items() if now - v < self._interval}
        return True
