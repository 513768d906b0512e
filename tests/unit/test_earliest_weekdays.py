"""scheduling.earliest.hours_weekdays: the weekdays of a provider's own calendar with hours for a visit type,
and whether their zone is east of UTC (matching bounds the first free day after a later date by them:
directory.repository._days_late)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from careweave.scheduling import rules
from careweave.scheduling.earliest import EAST_OF_UTC, hours_weekdays

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _bits(*weekdays: int) -> int:
    return sum(1 << d for d in weekdays)


def test_weekday_hours_are_the_local_weekdays() -> None:
    sched = rules.Schedule("America/New_York", tuple(rules.Window(d, time(9), time(17)) for d in range(5)))
    assert hours_weekdays(sched, "therapy_intake", now=NOW) == _bits(0, 1, 2, 3, 4)


def test_evening_hours_stay_on_their_local_day() -> None:
    # Honolulu (UTC-10): Monday 13:00-18:00 local is Monday 23:00 - Tuesday 04:00 UTC; the local day is Monday.
    # West of UTC a visit's UTC date is its local date or later, so Monday bounds it.
    sched = rules.Schedule("Pacific/Honolulu", (rules.Window(0, time(13), time(18)),))
    assert hours_weekdays(sched, "therapy_intake", now=NOW) == _bits(0)


def test_windows_for_other_visit_types_and_extra_hours() -> None:
    sched = rules.Schedule(
        "America/Chicago",
        (
            rules.Window(0, time(9), time(12), frozenset({"medication_management_20"})),
            rules.Window(2, time(9), time(12)),
        ),
        (rules.DateException(date(2026, 12, 12), time(10), time(12), True),),  # a Saturday's extra hours
    )
    assert hours_weekdays(sched, "therapy_intake", now=NOW) == _bits(2, 5)
    assert hours_weekdays(sched, "medication_management_20", now=NOW) == _bits(0, 2, 5)


def test_zones_east_of_utc_are_flagged() -> None:
    # Kolkata (UTC+5:30): a visit early on a local day is on the previous UTC day, so matching allows a day less.
    east = rules.Schedule("Asia/Kolkata", (rules.Window(0, time(9), time(17)),))
    assert hours_weekdays(east, "therapy_intake", now=NOW) == _bits(0) | EAST_OF_UTC
    # London is at UTC in winter and ahead of it in summer: flagged (half a year on is summer).
    london = rules.Schedule("Europe/London", (rules.Window(0, time(9), time(17)),))
    assert hours_weekdays(london, "therapy_intake", now=NOW) & EAST_OF_UTC
    west = rules.Schedule("America/Los_Angeles", (rules.Window(0, time(9), time(17)),))
    assert not hours_weekdays(west, "therapy_intake", now=NOW) & EAST_OF_UTC


def test_day_bounds_pack_the_days_to_the_first_day_with_hours() -> None:
    """directory.documents.day_bounds: what matching's SQL reads, ``(bounds >> 3 * weekday) & 7``."""
    from careweave.directory.documents import day_bounds

    def bound(mask: int, weekday: int) -> int:
        packed = day_bounds(mask)
        assert packed is not None
        return (packed >> (3 * weekday)) & 7

    weekdays = _bits(0, 1, 2, 3, 4)
    assert [bound(weekdays, w) for w in range(7)] == [0, 0, 0, 0, 0, 2, 1]  # Saturday: Monday is 2 days on
    assert [bound(weekdays | EAST_OF_UTC, w) for w in range(7)] == [0, 0, 0, 0, 0, 1, 0]  # a UTC day earlier
    assert [bound(_bits(2), w) for w in range(7)] == [2, 1, 0, 6, 5, 4, 3]  # Wednesdays only
    assert day_bounds(0) == 0 and day_bounds(EAST_OF_UTC) == 0  # no hours: no bound
    assert day_bounds(None) is None
