"""Weekly recurrence in the city's wall-clock time (pure: no database, no I/O).

A rule is "on these weekdays at this local time, from this date, until a date or for a
number of times, except on these dates". Each occurrence is computed from its local date
and the local time in Europe/Helsinki and only then converted to UTC, so a Tuesday 18:00
group stays at 18:00 across the daylight-saving changes (16:00 UTC in summer, 17:00 in
winter) instead of drifting by an hour as "every 7 × 24 hours" would.

As in iCalendar (RFC 5545), ``count`` counts the dates the rule produces and the exceptions
are then left out: "10 times except 6 December" gives nine occurrences.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from stream_server.basics import CITY_TZ
from stream_server.errors import InvalidField

WEEKDAYS = ("mo", "tu", "we", "th", "fr", "sa", "su")
#: A series spans at most a year from its first date: the calendar feed of the programme
#: lists twelve months, and an open-ended rule is not accepted (give ``until`` or ``count``).
MAX_SPAN_DAYS = 366
#: At most this many occurrences (a daily rule for a year).
MAX_OCCURRENCES = 366
RECURRENCE_KEYS = frozenset({"weekdays", "until", "count", "except"})


@dataclasses.dataclass(frozen=True)
class Rule:
    """Weekly on ``weekdays`` (0 = Monday) at ``local_time``, from ``first_date``."""

    weekdays: tuple[int, ...]
    local_time: dt.time
    first_date: dt.date
    until: dt.date | None = None
    count: int | None = None
    exceptions: tuple[dt.date, ...] = ()

    def weekday_codes(self) -> list[str]:
        return [WEEKDAYS[day] for day in self.weekdays]

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"weekdays": self.weekday_codes()}
        if self.until is not None:
            data["until"] = self.until.isoformat()
        if self.count is not None:
            data["count"] = self.count
        data["except"] = [day.isoformat() for day in self.exceptions]
        return data


def local_start(day: dt.date, at: dt.time) -> dt.datetime:
    """``day`` at the wall-clock time ``at`` in Helsinki, as a UTC instant.

    A time that does not exist that day (03:30 on the last Sunday of March) falls in the
    hour after the clocks go forward; an ambiguous one (03:30 on the last Sunday of October)
    is the first of the two, in summer time.
    """
    return dt.datetime.combine(day, at, tzinfo=CITY_TZ).astimezone(dt.UTC)


def candidate_dates(rule: Rule) -> list[dt.date]:
    """The rule's dates before exceptions are removed (what ``count`` counts)."""
    last = rule.first_date + dt.timedelta(days=MAX_SPAN_DAYS - 1)
    if rule.until is not None:
        last = min(last, rule.until)
    days: list[dt.date] = []
    day = rule.first_date
    while day <= last:
        if day.weekday() in rule.weekdays:
            days.append(day)
            if rule.count is not None and len(days) >= rule.count:
                break
        day += dt.timedelta(days=1)
    return days


def occurrence_dates(rule: Rule) -> list[dt.date]:
    """The local dates of the occurrences, in order."""
    skipped = set(rule.exceptions)
    return [day for day in candidate_dates(rule) if day not in skipped]


def occurrences(rule: Rule, minutes: int) -> list[tuple[dt.datetime, dt.datetime]]:
    """Each occurrence's start and end as UTC instants; a length is elapsed time, so a
    session that spans the night of a clock change lasts ``minutes`` all the same."""
    length = dt.timedelta(minutes=minutes)
    return [
        (start, start + length)
        for start in (local_start(day, rule.local_time) for day in occurrence_dates(rule))
    ]


def _date(value: Any, field: str) -> dt.date:
    if not isinstance(value, str):
        raise InvalidField(field, f"{field} must be a date, YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidField(
            field, f"{field} must be a date, YYYY-MM-DD, not {value[:30]!r}"
        ) from None


def parse_rule(data: Any, first: dt.datetime) -> Rule:
    """The request's ``recurrence`` object as a rule starting at ``first`` (local time).

    Raises :class:`InvalidField` naming the part that is wrong (``recurrence.weekdays``…).
    """
    if not isinstance(data, dict):
        raise InvalidField("recurrence", "recurrence must be an object with weekdays")
    unknown = sorted(set(data) - RECURRENCE_KEYS)
    if unknown:
        raise InvalidField(f"recurrence.{unknown[0]}", f"unknown recurrence field {unknown[0]!r}")
    weekdays = data.get("weekdays")
    if (
        not isinstance(weekdays, list)
        or not weekdays
        or not all(isinstance(d, str) and d in WEEKDAYS for d in weekdays)
    ):
        raise InvalidField(
            "recurrence.weekdays",
            "weekdays must be a non-empty list of " + ", ".join(WEEKDAYS),
        )
    if len(set(weekdays)) != len(weekdays):
        raise InvalidField("recurrence.weekdays", "a weekday is listed twice")
    local = first.astimezone(CITY_TZ)
    has_until, has_count = "until" in data, "count" in data
    if has_until == has_count:
        raise InvalidField(
            "recurrence", "give either until (a date) or count (a number of times), not both"
        )
    until = count = None
    if has_until:
        until = _date(data["until"], "recurrence.until")
        if until < local.date():
            raise InvalidField("recurrence.until", "until is before the first occurrence")
        if (until - local.date()).days >= MAX_SPAN_DAYS:
            raise InvalidField(
                "recurrence.until", f"a series may span at most {MAX_SPAN_DAYS} days"
            )
    else:
        count = data["count"]
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count:
            raise InvalidField("recurrence.count", "count must be a whole number from 1")
        if count > MAX_OCCURRENCES:
            raise InvalidField(
                "recurrence.count", f"a series has at most {MAX_OCCURRENCES} occurrences"
            )
    raw_exceptions = data.get("except", [])
    if not isinstance(raw_exceptions, list):
        raise InvalidField("recurrence.except", "except must be a list of dates")
    exceptions = tuple(sorted({_date(d, "recurrence.except") for d in raw_exceptions}))
    rule = Rule(
        weekdays=tuple(sorted(WEEKDAYS.index(d) for d in weekdays)),
        local_time=local.time().replace(second=0, microsecond=0, tzinfo=None),
        first_date=local.date(),
        until=until,
        count=count,
        exceptions=exceptions,
    )
    dates = candidate_dates(rule)
    if count is not None and len(dates) < count:
        raise InvalidField("recurrence.count", f"{count} times do not fit in {MAX_SPAN_DAYS} days")
    stray = [d for d in exceptions if d not in dates]
    if stray:
        raise InvalidField(
            "recurrence.except", f"{stray[0].isoformat()} is not a date of this series"
        )
    if not occurrence_dates(rule):
        raise InvalidField("recurrence", "this rule gives no occurrences")
    return rule
