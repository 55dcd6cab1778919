"""Weekly series in Helsinki wall-clock time, and where one join code leads (pure: no I/O)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from stream_server.basics import CITY_TZ, DoorTimes
from stream_server.catalog import recurrence
from stream_server.catalog.service import Occurrence, pick_occurrence
from stream_server.errors import InvalidField

UTC = dt.UTC


def local(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=CITY_TZ)


def test_a_tuesday_six_pm_series_stays_at_six_pm_across_both_daylight_saving_changes() -> None:
    """2026: clocks go forward on 29 March and back on 25 October (EET +2, EEST +3)."""
    rule = recurrence.parse_rule(
        {"weekdays": ["tu"], "until": "2026-11-03"}, local("2026-03-17T18:00")
    )
    slots = recurrence.occurrences(rule, 90)
    starts = [s for s, _ in slots]
    assert all(s.astimezone(CITY_TZ).time() == dt.time(18, 0) for s in starts)
    assert all(s.astimezone(CITY_TZ).weekday() == 1 for s in starts)
    by_date = {s.astimezone(CITY_TZ).date(): s for s in starts}
    assert by_date[dt.date(2026, 3, 24)].astimezone(UTC).hour == 16  # winter time, +2
    assert by_date[dt.date(2026, 3, 31)].astimezone(UTC).hour == 15  # summer time, +3
    assert by_date[dt.date(2026, 10, 20)].astimezone(UTC).hour == 15
    assert by_date[dt.date(2026, 10, 27)].astimezone(UTC).hour == 16  # winter again
    assert len(starts) == 34 and min(by_date) == dt.date(2026, 3, 17)
    assert max(by_date) == dt.date(2026, 11, 3)
    # A length is elapsed time: 90 minutes every week, in summer and in winter.
    assert {end - start for start, end in slots} == {dt.timedelta(minutes=90)}


def test_a_session_over_the_night_of_a_clock_change_lasts_its_minutes() -> None:
    rule = recurrence.parse_rule({"weekdays": ["sa"], "count": 1}, local("2026-10-24T23:00"))
    ((start, end),) = recurrence.occurrences(rule, 300)
    assert end - start == dt.timedelta(minutes=300)
    # 23:00 + 5 h of elapsed time is 03:00 on the clock after it went back an hour.
    assert end.astimezone(CITY_TZ).time() == dt.time(3, 0)


def test_count_counts_the_rule_s_dates_and_exceptions_are_then_left_out() -> None:
    """As in iCalendar: "ten times except 10 December" gives nine sessions."""
    rule = recurrence.parse_rule(
        {"weekdays": ["mo", "th"], "count": 10, "except": ["2026-12-10"]},
        local("2026-11-30T10:00"),
    )
    dates = recurrence.occurrence_dates(rule)
    assert len(dates) == 9 and dt.date(2026, 12, 10) not in dates
    assert dates[0] == dt.date(2026, 11, 30) and dates[-1] == dt.date(2026, 12, 31)
    assert {d.weekday() for d in dates} == {0, 3}


def test_the_first_occurrence_is_the_first_rule_date_on_or_after_the_start() -> None:
    rule = recurrence.parse_rule({"weekdays": ["we"], "count": 2}, local("2026-12-07T17:00"))
    assert recurrence.occurrence_dates(rule) == [dt.date(2026, 12, 9), dt.date(2026, 12, 16)]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "recurrence"),
        ({"until": "2026-12-31"}, "recurrence.weekdays"),
        ({"weekdays": [], "count": 3}, "recurrence.weekdays"),
        ({"weekdays": ["tuesday"], "count": 3}, "recurrence.weekdays"),
        ({"weekdays": ["tu", "tu"], "count": 3}, "recurrence.weekdays"),
        ({"weekdays": ["tu"]}, "recurrence"),
        ({"weekdays": ["tu"], "count": 3, "until": "2026-12-31"}, "recurrence"),
        ({"weekdays": ["tu"], "count": 0}, "recurrence.count"),
        ({"weekdays": ["tu"], "count": True}, "recurrence.count"),
        ({"weekdays": ["tu"], "count": 400}, "recurrence.count"),
        ({"weekdays": ["tu"], "until": "1.12.2026"}, "recurrence.until"),
        ({"weekdays": ["tu"], "until": "2026-11-01"}, "recurrence.until"),
        ({"weekdays": ["tu"], "until": "2028-01-01"}, "recurrence.until"),
        ({"weekdays": ["tu"], "count": 3, "except": "2026-12-08"}, "recurrence.except"),
        ({"weekdays": ["tu"], "count": 3, "except": ["2026-12-09"]}, "recurrence.except"),
        ({"weekdays": ["tu"], "count": 1, "except": ["2026-12-08"]}, "recurrence"),
        ({"weekdays": ["tu"], "count": 3, "every": 2}, "recurrence.every"),
    ],
)
def test_a_wrong_rule_names_the_wrong_part(data: Any, field: str) -> None:
    with pytest.raises(InvalidField) as caught:
        recurrence.parse_rule(data, local("2026-12-08T18:00"))
    assert caught.value.field == field


# -- where one join code leads ---------------------------------------------------------------------
DOORS = DoorTimes(open_before=dt.timedelta(minutes=30), grace=dt.timedelta(minutes=60))
WEEK = [
    Occurrence(
        f"week{n}",
        local(f"2026-12-{1 + 7 * n:02d}T18:00").astimezone(UTC),
        local(f"2026-12-{1 + 7 * n:02d}T19:30").astimezone(UTC),
        None,
        False,
    )
    for n in range(3)
]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-30T12:00", "week0"),  # before the first: the first (its "not yet" page)
        ("2026-12-01T17:40", "week0"),  # doors open
        ("2026-12-01T18:45", "week0"),  # during
        ("2026-12-01T20:00", "week0"),  # overrunning, within the grace
        ("2026-12-01T21:00", "week1"),  # after it: the next
        ("2026-12-10T09:00", "week2"),
        ("2026-12-15T21:00", "week2"),  # after the last: the last (its "ended" page)
    ],
)
def test_a_series_code_leads_to_the_occurrence_that_is_live_or_next(
    now: str, expected: str
) -> None:
    assert pick_occurrence(WEEK, local(now).astimezone(UTC), DOORS) == expected


def test_a_code_skips_cancelled_and_ended_occurrences() -> None:
    cancelled = [WEEK[0], dataclasses.replace(WEEK[1], cancelled=True), WEEK[2]]
    assert pick_occurrence(cancelled, local("2026-12-08T18:10").astimezone(UTC), DOORS) == "week2"
    ended_early = dataclasses.replace(WEEK[0], ended_at=WEEK[0].starts_at)
    during = local("2026-12-01T18:30").astimezone(UTC)
    assert pick_occurrence([ended_early, *WEEK[1:]], during, DOORS) == "week1"
