"""The fast paths of the slot rules give exactly what the straightforward versions gave: ``free_slots`` (integer
walk, one pass over the busy blocks), ``working_intervals`` (weekly hours and exceptions grouped once) and
``local_views`` (labels for a list of slots) against reference copies of the previous code, over random
schedules, busy time and zones with DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careweave.scheduling import rules

ZONES = (
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "UTC",
    "America/Sao_Paulo",
)


# ---------------------------------------------------------------- reference copies of the previous code


def _ref_day_intervals(schedule: rules.Schedule, day: date, visit_type: str) -> list[tuple[time, time]]:
    intervals = [
        (w.start, w.end) for w in schedule.windows if w.weekday == day.weekday() and w.serves(visit_type)
    ]
    todays = [ex for ex in schedule.exceptions if ex.day == day]
    if any(ex.start is None or ex.end is None for ex in todays):
        return []
    # extra hours first, then every time off (time off wins, whatever the order: session 8)
    intervals += [(ex.start, ex.end) for ex in todays if ex.available]
    for ex in todays:
        if not ex.available:
            intervals = rules._subtract(intervals, ex.start, ex.end)
    return rules._merge(intervals)


def _ref_working_intervals(schedule, visit_type, start, end):
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    tz = schedule.zone
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    out = []
    day = first
    while day <= last:
        for a, b in _ref_day_intervals(schedule, day, visit_type):
            lo = rules._edge(day, a, tz)
            hi = rules._edge(day, b, tz) if b != time(0) else rules._edge(day + timedelta(days=1), b, tz)
            lo, hi = max(lo, start), min(hi, end)
            if lo < hi:
                out.append((lo, hi))
        day += timedelta(days=1)
    return out


def _ref_align_up(value: datetime) -> datetime:
    value = value.replace(second=0, microsecond=0) + (
        timedelta(minutes=1) if value.second or value.microsecond else timedelta()
    )
    extra = value.minute % rules.GRANULARITY_MINUTES
    return value if not extra else value + timedelta(minutes=rules.GRANULARITY_MINUTES - extra)


def _ref_free_slots(schedule, *, visit_type, duration_minutes, busy, start, end, now):
    earliest, latest = rules.bookable_range(schedule, now)
    step = timedelta(minutes=duration_minutes + schedule.buffer_minutes)
    length = timedelta(minutes=duration_minutes)
    blocks = sorted(rules.Busy(b.start.astimezone(UTC), b.end.astimezone(UTC)) for b in busy)
    out = []
    for lo, hi in _ref_working_intervals(schedule, visit_type, start, end):
        t = _ref_align_up(lo)
        i = 0
        while t + length <= hi:
            while i < len(blocks) and blocks[i].end <= t:
                i += 1
            if i < len(blocks) and blocks[i].start < t + step:
                t = _ref_align_up(blocks[i].end)
                continue
            if earliest <= t < latest:
                out.append(rules.Slot(t, t + length))
            elif t >= latest:
                break
            t += step
    out.sort(key=lambda s: s.start)
    return out


# ---------------------------------------------------------------- strategies

T0 = datetime(2026, 2, 20, tzinfo=UTC)  # the range crosses the March changes (and Lord Howe's half hour)

wall = st.builds(time, st.integers(0, 23), st.sampled_from([0, 5, 15, 30, 45, 50]))


@st.composite
def windows(draw):
    out = []
    for _ in range(draw(st.integers(0, 6))):
        a, b = sorted(draw(st.lists(wall, min_size=2, max_size=2, unique=True)))
        types = draw(st.sampled_from([frozenset(), frozenset({"a"}), frozenset({"b"})]))
        out.append(rules.Window(draw(st.integers(0, 6)), a, b, types))
    return tuple(out)


@st.composite
def exceptions(draw):
    out = []
    for _ in range(draw(st.integers(0, 5))):
        day = (T0 + timedelta(days=draw(st.integers(-1, 40)))).date()
        kind = draw(st.sampled_from(["off", "part", "extra"]))
        if kind == "off":
            out.append(rules.DateException(day))
        else:
            a, b = sorted(draw(st.lists(wall, min_size=2, max_size=2, unique=True)))
            out.append(rules.DateException(day, a, b, available=kind == "extra"))
    return tuple(out)


@st.composite
def busy_blocks(draw):
    out = []
    for _ in range(draw(st.integers(0, 40))):
        start = T0 + timedelta(
            minutes=draw(st.integers(-600, 40 * 24 * 60)), seconds=draw(st.sampled_from([0, 0, 7]))
        )
        end = start + timedelta(
            minutes=draw(st.integers(1, 240)), microseconds=draw(st.sampled_from([0, 0, 3]))
        )
        zone = ZoneInfo(draw(st.sampled_from(ZONES)))
        out.append(rules.Busy(start.astimezone(zone), end.astimezone(zone)))  # overlapping ones too (holds)
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zone=st.sampled_from(ZONES),
    ws=windows(),
    exs=exceptions(),
    busy=busy_blocks(),
    buffer=st.sampled_from([0, 5, 10, 15]),
    notice=st.sampled_from([0, 90, 720, 60 * 24 * 50]),
    horizon=st.sampled_from([1, 14, 60]),
    duration=st.sampled_from([5, 30, 50, 60]),
    visit_type=st.sampled_from(["a", "b"]),
    offset=st.integers(-3 * 24 * 60, 30 * 24 * 60),
    days=st.integers(1, 45),
    now_offset=st.integers(-5 * 24 * 60, 5 * 24 * 60),
)
def test_free_slots_equal_the_reference(
    zone, ws, exs, busy, buffer, notice, horizon, duration, visit_type, offset, days, now_offset
):
    sched = rules.Schedule(
        timezone=zone,
        windows=ws,
        exceptions=exs,
        buffer_minutes=buffer,
        min_notice_minutes=notice,
        horizon_days=horizon,
    )
    start = (T0 + timedelta(minutes=offset, seconds=13)).astimezone(ZoneInfo(zone))
    end = start + timedelta(days=days)
    now = T0 + timedelta(minutes=now_offset)
    kw = {
        "visit_type": visit_type,
        "duration_minutes": duration,
        "busy": busy,
        "start": start,
        "end": end,
        "now": now,
    }
    assert rules.working_intervals(sched, visit_type, start, end) == _ref_working_intervals(
        sched, visit_type, start, end
    )
    got = rules.free_slots(sched, **kw)
    assert got == _ref_free_slots(sched, **kw)
    assert all(s.start.tzinfo is UTC and s.end.tzinfo is UTC for s in got)
    for limit in (1, 3):  # matching's search asks for the first one only (scheduling.service.openings)
        assert rules.free_slots(sched, **kw, limit=limit) == got[:limit]
    for first_days in (1, 2):  # found in growing windows, the same first slot as over the whole range
        assert rules.first_free_slot(sched, **kw, first_days=first_days) == (got[0] if got else None)


def test_first_free_slot_keeps_the_slot_grid_across_window_edges() -> None:
    """A window edge inside a working day must not move the slots after it (review finding, session 6): hours
    9:00-17:00 UTC on weekdays, 50-minute visits with a 10-minute buffer, booked until Wednesday 16:00; searched
    from Monday 16:30, the first free visit is Wednesday 16:00, as the full listing says (a search restarting
    each window at its edge found Thursday 9:00)."""
    sched = rules.Schedule(
        timezone="UTC",
        windows=tuple(rules.Window(d, time(9), time(17)) for d in range(5)),
        exceptions=(),
        buffer_minutes=10,
        min_notice_minutes=60,
        horizon_days=60,
    )
    now = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)  # a Monday
    start = now + timedelta(minutes=60)
    booked = [rules.Busy(datetime(2026, 11, 30, 9, tzinfo=UTC), datetime(2026, 12, 2, 16, tzinfo=UTC))]
    kw = {"visit_type": "therapy_session", "duration_minutes": 50, "busy": booked, "now": now}
    whole = rules.free_slots(sched, start=start, end=start + timedelta(days=60), **kw)
    assert whole[0].start == datetime(2026, 12, 2, 16, tzinfo=UTC)
    for first_days in (1, 2, 3):
        found = rules.first_free_slot(
            sched, start=start, end=start + timedelta(days=60), first_days=first_days, **kw
        )
        assert found == whole[0]


@settings(max_examples=200, deadline=None)
@given(
    minutes=st.lists(st.integers(-400 * 24 * 60, 400 * 24 * 60), max_size=60),
    zone=st.sampled_from((*ZONES, "America/Santiago", "Africa/Casablanca", "Pacific/Chatham")),
)
def test_local_views_equal_local_iso_and_local_label(minutes, zone):
    instants = [T0 + timedelta(minutes=m) for m in sorted(minutes)]
    assert rules.local_views(instants, zone) == [
        (rules.local_iso(at, zone), rules.local_label(at, zone)) for at in instants
    ]


def test_local_views_across_a_fall_back_hour_name_both_offsets():
    first = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 1:30 AM EDT, then 1:30 AM EST an hour later
    views = rules.local_views([first, first + timedelta(hours=1)], "America/New_York")
    assert [label for _, label in views] == ["Sun 1 Nov 2026, 1:30 AM EDT", "Sun 1 Nov 2026, 1:30 AM EST"]
    assert [iso for iso, _ in views] == ["2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00"]


def test_free_slots_and_views_refuse_naive_times():
    sched = rules.Schedule(timezone="UTC", windows=(rules.Window(0, time(9), time(17)),))
    with pytest.raises(ValueError, match="naive"):
        rules.free_slots(
            sched,
            visit_type="a",
            duration_minutes=30,
            busy=[rules.Busy(datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 10))],
            start=T0,
            end=T0 + timedelta(days=7),
            now=T0,
        )
    with pytest.raises(ValueError, match="naive"):
        rules.local_views([datetime(2026, 3, 2, 9)], "UTC")
