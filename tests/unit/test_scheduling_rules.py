"""Pure scheduling rules: slots, DST, exceptions, notice, horizon, buffers, series, cancellation window."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from careweave.scheduling import rules

NY = "America/New_York"
LA = "America/Los_Angeles"


def weekdays(start: time = time(9), end: time = time(17), types: frozenset[str] = frozenset()):
    return tuple(rules.Window(d, start, end, types) for d in range(5))


def schedule(**kw) -> rules.Schedule:
    base = {"timezone": NY, "windows": weekdays(), "min_notice_minutes": 0, "horizon_days": 400}
    base.update(kw)
    return rules.Schedule(**base)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(tz: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz))


def slots_on(sched, day: date, *, duration=50, busy=(), now=None, visit_type="therapy_session"):
    tz = ZoneInfo(sched.timezone)
    start = datetime.combine(day, time(0), tzinfo=tz)
    return rules.free_slots(
        sched,
        visit_type=visit_type,
        duration_minutes=duration,
        busy=list(busy),
        start=start,
        end=start + timedelta(days=1),
        now=now or start - timedelta(days=1),
    )


def test_slots_follow_each_other_in_local_time():
    got = slots_on(schedule(), date(2026, 3, 3))  # a Tuesday
    assert [s.start.astimezone(ZoneInfo(NY)).strftime("%H:%M") for s in got] == [
        "09:00",
        "09:50",
        "10:40",
        "11:30",
        "12:20",
        "13:10",
        "14:00",
        "14:50",
        "15:40",
    ]  # 16:30 + 50 min would end after 17:00
    assert all(s.end - s.start == timedelta(minutes=50) for s in got)


def test_buffer_spaces_slots_and_keeps_clear_of_booked_visits():
    sched = schedule(buffer_minutes=10)
    day = date(2026, 3, 3)
    got = slots_on(sched, day)
    assert [s.start.astimezone(ZoneInfo(NY)).hour for s in got] == [
        9,
        10,
        11,
        12,
        13,
        14,
        15,
        16,
    ]  # the last visit ends 16:50; its buffer may run past closing
    # A 20-minute visit booked 10:00-10:20 (+10 buffer): the 9:00 slot must end 10 min before it starts.
    booked = rules.Busy(local(NY, 2026, 3, 3, 10, 0), local(NY, 2026, 3, 3, 10, 30))
    got = slots_on(sched, day, busy=[booked])
    starts = [s.start.astimezone(ZoneInfo(NY)).strftime("%H:%M") for s in got]
    assert starts[:2] == ["09:00", "10:30"]  # 9:00-9:50 leaves its 10-minute buffer before 10:00; the
    # next slot starts when the booked visit's buffer ends
    booked = rules.Busy(local(NY, 2026, 3, 3, 9, 55), local(NY, 2026, 3, 3, 10, 25))
    starts = [s.start.astimezone(ZoneInfo(NY)).strftime("%H:%M") for s in slots_on(sched, day, busy=[booked])]
    assert starts[0] == "10:25"  # 9:00-9:50 + 10 minutes would run into the 9:55 visit


def test_weekend_and_visit_type_windows():
    sched = schedule(windows=(rules.Window(0, time(9), time(12), frozenset({"medication_management_20"})),))
    assert slots_on(sched, date(2026, 3, 7)) == []  # Saturday
    assert slots_on(sched, date(2026, 3, 2), visit_type="therapy_session") == []
    assert len(slots_on(sched, date(2026, 3, 2), visit_type="medication_management_20", duration=20)) == 9


def test_whole_day_exception_removes_the_day_and_partial_removes_part():
    day = date(2026, 3, 3)
    off = schedule(exceptions=(rules.DateException(day),))
    assert slots_on(off, day) == []
    part = schedule(exceptions=(rules.DateException(day, time(12), time(17)),))
    got = slots_on(part, day)
    assert max(s.end.astimezone(ZoneInfo(NY)).time() for s in got) <= time(12)
    extra = schedule(exceptions=(rules.DateException(date(2026, 3, 7), time(10), time(12), available=True),))
    assert [
        s.start.astimezone(ZoneInfo(NY)).hour for s in slots_on(extra, date(2026, 3, 7), duration=60)
    ] == [
        10,
        11,
    ]


def test_time_off_wins_over_extra_hours_in_any_order():
    """Extra hours and time off on the same day give the same hours whichever is read first (the databases
    order equal start times differently): the time off is never offered."""
    day = date(2026, 3, 7)  # a Saturday: no weekly hours
    extra = rules.DateException(day, time(9), time(13), available=True)
    off = rules.DateException(day, time(10), time(11))
    late_extra = rules.DateException(day, time(10), time(12), available=True)  # same start as the time off
    for exceptions in ((extra, off), (off, extra), (off, late_extra, extra), (late_extra, off, extra)):
        hours = [
            (s.start.astimezone(ZoneInfo(NY)).hour, s.end.astimezone(ZoneInfo(NY)).hour)
            for s in slots_on(schedule(exceptions=exceptions), day, duration=60)
        ]
        assert hours == [(9, 10), (11, 12), (12, 13)], exceptions
    whole_day = rules.DateException(day)
    assert slots_on(schedule(exceptions=(extra, whole_day)), day) == []
    assert slots_on(schedule(exceptions=(whole_day, extra)), day) == []


def test_minimum_notice_and_horizon():
    sched = schedule(min_notice_minutes=24 * 60, horizon_days=14)
    now = local(NY, 2026, 3, 2, 10, 0)  # Monday 10:00
    assert slots_on(sched, date(2026, 3, 2), now=now) == []
    tue = slots_on(sched, date(2026, 3, 3), now=now)
    assert tue[0].start == local(NY, 2026, 3, 3, 10, 40)  # first slot at least 24 h ahead
    last = slots_on(sched, date(2026, 3, 16), now=now)  # the horizon is rolling: 14 days from now
    assert last and last[-1].start < now.astimezone(UTC) + timedelta(days=14)
    assert slots_on(sched, date(2026, 3, 17), now=now) == []
    assert rules.start_problem(
        sched, visit_type="x", duration_minutes=50, start=local(NY, 2026, 3, 2, 15), now=now
    ).startswith("This time is too soon")
    assert "too far ahead" in rules.start_problem(
        sched, visit_type="x", duration_minutes=50, start=local(NY, 2026, 3, 17, 9), now=now
    )


@pytest.mark.parametrize(
    ("before", "after"),
    [(date(2026, 3, 6), date(2026, 3, 9)), (date(2026, 10, 30), date(2026, 11, 2))],
    ids=["march", "november"],
)
def test_weekly_hours_stay_local_across_dst(before, after):
    sched = schedule()
    first_before = slots_on(sched, before)[0].start
    first_after = slots_on(sched, after)[0].start
    assert first_before.astimezone(ZoneInfo(NY)).time() == time(9)
    assert first_after.astimezone(ZoneInfo(NY)).time() == time(9)
    assert first_before.utcoffset() == first_after.utcoffset() == timedelta(0)
    assert first_before.hour != first_after.hour  # the UTC instant moves by an hour instead


def test_series_keeps_wall_time_across_march_and_november_changes():
    first = local(NY, 2026, 2, 24, 9, 0)  # Tuesday 9:00 EST
    starts = rules.series_starts(first, NY, every_weeks=1, count=40)
    assert len(starts) == 40
    assert {s.astimezone(ZoneInfo(NY)).time() for s in starts} == {time(9)}
    assert {s.astimezone(ZoneInfo(NY)).weekday() for s in starts} == {1}
    utc_hours = [s.astimezone(UTC).hour for s in starts]
    assert utc_hours[0] == 14 and 13 in utc_hours  # EST then EDT
    # A patient in Los Angeles sees 6:00 all along: both zones change on the same dates.
    assert {s.astimezone(ZoneInfo(LA)).time() for s in starts} == {time(6)}
    # In Phoenix (no DST) the same visit shows at 7:00 in winter and 6:00 in summer.
    phoenix = {s.astimezone(ZoneInfo("America/Phoenix")).time() for s in starts}
    assert phoenix == {time(7), time(6)}
    # November: the occurrence after the change is 9:00 EST again.
    nov = [s for s in starts if s.astimezone(ZoneInfo(NY)).date() == date(2026, 11, 3)]
    assert nov and nov[0].astimezone(UTC).hour == 14


def test_series_patient_in_other_zone_labels():
    first = local(NY, 2026, 3, 3, 9, 0)
    starts = rules.series_starts(first, NY, every_weeks=1, count=2)
    assert rules.local_label(starts[0], NY) == "Tue 3 Mar 2026, 9:00 AM EST"
    assert rules.local_label(starts[1], NY) == "Tue 10 Mar 2026, 9:00 AM EDT"
    assert rules.local_label(starts[0], "Europe/London") == "Tue 3 Mar 2026, 2:00 PM GMT"
    assert rules.local_label(starts[1], "Europe/London") == "Tue 10 Mar 2026, 1:00 PM GMT"


def test_series_until_biweekly_and_limits():
    first = local(NY, 2026, 3, 3, 9)
    starts = rules.series_starts(first, NY, every_weeks=2, until=date(2026, 4, 14))
    assert [s.astimezone(ZoneInfo(NY)).date().day for s in starts] == [3, 17, 31, 14]
    with pytest.raises(ValueError, match="count or until"):
        rules.series_starts(first, NY, every_weeks=1)
    with pytest.raises(ValueError, match="at most"):
        rules.series_starts(first, NY, every_weeks=1, until=date(2028, 1, 1))
    with pytest.raises(ValueError, match="every_weeks"):
        rules.series_starts(first, NY, every_weeks=5, count=2)


def test_start_problem_checks_hours_and_boundaries():
    sched = schedule()
    now = utc(2026, 1, 1)
    ok = local(NY, 2026, 3, 3, 16, 10)
    assert rules.start_problem(sched, visit_type="t", duration_minutes=50, start=ok, now=now) is None
    late = local(NY, 2026, 3, 3, 16, 15)  # would end 17:05
    assert "not available" in rules.start_problem(
        sched, visit_type="t", duration_minutes=50, start=late, now=now
    )
    odd = local(NY, 2026, 3, 3, 10, 7)
    assert "5-minute" in rules.start_problem(sched, visit_type="t", duration_minutes=50, start=odd, now=now)


def test_late_cancellation_window():
    start = utc(2026, 3, 3, 14)
    assert rules.is_late_cancellation(start, start - timedelta(hours=23), 24)
    assert not rules.is_late_cancellation(start, start - timedelta(hours=25), 24)
    assert not rules.is_late_cancellation(start, start - timedelta(minutes=1), 0)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="weekday"):
        rules.Window(7, time(9), time(10))
    with pytest.raises(ValueError, match="start before"):
        rules.Window(0, time(10), time(9))
    with pytest.raises(ValueError, match="both start and end"):
        rules.DateException(date(2026, 1, 1), start=time(9))
    with pytest.raises(ValueError, match="time zone"):
        rules.zone("Mars/Olympus")
    with pytest.raises(ValueError, match="multiple of 5"):
        slots_on(schedule(), date(2026, 3, 3), duration=52)
