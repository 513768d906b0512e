"""scheduling.earliest.utc_weekdays: the UTC weekdays a schedule's hours may fall on (a lower bound matching
uses for later dates), across zones, daylight saving, visit-type windows and extra hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from careweave.scheduling import rules
from careweave.scheduling.earliest import EAST_OF_UTC, utc_weekdays

NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # winter in the north: New York is UTC-5


def _bits(*weekdays: int) -> int:
    return sum(1 << d for d in weekdays)


def test_weekday_hours_in_new_york_fall_on_the_same_utc_weekdays() -> None:
    sched = rules.Schedule("America/New_York", tuple(rules.Window(d, time(9), time(17)) for d in range(5)))
    assert utc_weekdays(sched, "therapy_intake", now=NOW) == _bits(0, 1, 2, 3, 4)


def test_evening_hours_cross_midnight_utc() -> None:
    # Honolulu (UTC-10, no daylight saving): Monday 13:00-18:00 local is Monday 23:00 - Tuesday 04:00 UTC.
    sched = rules.Schedule("Pacific/Honolulu", (rules.Window(0, time(13), time(18)),))
    assert utc_weekdays(sched, "therapy_intake", now=NOW) == _bits(0, 1)


def test_both_sides_of_a_daylight_saving_change_count() -> None:
    # New York Monday 19:00-20:00: 00:00-01:00 UTC Tuesday in winter (UTC-5), 23:00-24:00 Monday in summer.
    sched = rules.Schedule("America/New_York", (rules.Window(0, time(19), time(20)),))
    assert utc_weekdays(sched, "therapy_intake", now=NOW) == _bits(0, 1)


def test_windows_for_other_visit_types_and_extra_hours() -> None:
    sched = rules.Schedule(
        "America/Chicago",
        (
            rules.Window(0, time(9), time(12), frozenset({"medication_management_20"})),
            rules.Window(2, time(9), time(12)),
        ),
        (rules.DateException(date(2026, 12, 12), time(10), time(12), True),),  # a Saturday's extra hours
    )
    assert utc_weekdays(sched, "therapy_intake", now=NOW) == _bits(2, 5)
    assert utc_weekdays(sched, "medication_management_20", now=NOW) == _bits(0, 2, 5)


def test_zones_east_of_utc_are_flagged() -> None:
    # Kolkata (UTC+5:30): a date's local midnight is on the previous UTC day, so matching counts from there.
    east = rules.Schedule("Asia/Kolkata", (rules.Window(0, time(9), time(17)),))
    assert utc_weekdays(east, "therapy_intake", now=NOW) == _bits(0) | EAST_OF_UTC
    # London is at UTC in winter and ahead of it in summer: flagged (half a year on is summer).
    london = rules.Schedule("Europe/London", (rules.Window(0, time(9), time(17)),))
    assert utc_weekdays(london, "therapy_intake", now=NOW) & EAST_OF_UTC
    west = rules.Schedule("America/Los_Angeles", (rules.Window(0, time(9), time(17)),))
    assert not utc_weekdays(west, "therapy_intake", now=NOW) & EAST_OF_UTC
