"""scheduling.service.openings (a match's free-time lookup) against the whole-range listing it stands for.

openings reads every provider's schedule, the visit types and the first NEAR_DAYS of busy time in one
statement (scheduling.repository.opening_inputs) and searches that span first; a provider with nothing free
there is searched over the whole horizon, re-reading busy time only when some of it starts after the span read.
Whatever the path, the answer must be the first slot ``free_slots`` lists over [now + notice or the day's
start, horizon), with every visit and hold of the provider in view: diaries booked solid past the span, hours
that start only after it, a slot whose buffer reaches past it, zones 14 hours east and 11 hours west of UTC.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from careweave.core.actor import Role
from careweave.core.clock import FixedClock
from careweave.identity import service as identity
from careweave.patients import service as patients
from careweave.scheduling import repository as repo
from careweave.scheduling import rules
from careweave.scheduling import service as scheduling
from careweave.scheduling.models import Appointment
from careweave.settings import Settings
from tests.builders import make_user
from tests.integration.test_matching_availability import _provider

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CODE = "therapy_intake"  # 60 minutes
ZONES = (
    "America/New_York",
    "America/Los_Angeles",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Europe/Berlin",
)


def _expected(session: Session, pid: uuid.UUID, *, now: datetime, from_day: date | None) -> datetime | None:
    """The first slot of the whole-range listing, every busy block of the provider read."""
    sched = repo.schedule(session, pid)
    vt = repo.visit_type(session, CODE)
    assert sched is not None and vt is not None
    start, end = rules.bookable_range(sched, now)
    if from_day is not None:
        start = max(start, datetime.combine(from_day, time(0), tzinfo=sched.zone).astimezone(UTC))
    if start >= end:
        return None
    busy = repo.busy(session, pid, start - timedelta(days=1), end + timedelta(days=1), now=now)
    slots = rules.free_slots(
        sched,
        visit_type=CODE,
        duration_minutes=vt.duration_minutes,
        busy=busy,
        start=start,
        end=end,
        now=now,
        limit=1,
    )
    return slots[0].start if slots else None


def _diary(
    session: Session, pid: uuid.UUID, patient_id: uuid.UUID, blocks: list[tuple[datetime, int, int]]
) -> None:
    """Visits (start, minutes, buffer) held by ``pid`` with one patient; blocks must not overlap."""
    for start, minutes, buffer in blocks:
        end = start + timedelta(minutes=minutes)
        session.add(
            Appointment(
                provider_id=pid,
                patient_id=patient_id,
                visit_type="therapy_session",
                start_at=start,
                end_at=end,
                block_end_at=end + timedelta(minutes=buffer),
                status="booked",
                ics_uid=f"{uuid.uuid4()}@test.careweave.example",
            )
        )
    session.flush()


def _set_hours(  # type: ignore[no-untyped-def]
    session: Session,
    clock: FixedClock,
    admin,
    pid: uuid.UUID,
    *,
    zone: str,
    hours: tuple[int, int],
    weekdays: tuple[int, ...],
    days_off: range,
    buffer: int,
    notice: int,
    horizon: int,
) -> None:
    weekly = tuple(scheduling.WindowIn(d, time(hours[0]), time(hours[1])) for d in weekdays)
    off = tuple(scheduling.ExceptionIn(NOW.date() + timedelta(days=i)) for i in days_off)
    data = scheduling.AvailabilityIn(
        zone, weekly, off, buffer_minutes=buffer, min_notice_minutes=notice, horizon_days=horizon
    )
    scheduling.set_availability(session, admin, pid, data, clock=clock)


def _booked_solid(
    start: datetime, days: int, *, minutes: int, buffer: int
) -> list[tuple[datetime, int, int]]:
    """Back-to-back visits covering every minute of ``days`` days from ``start``."""
    out, t, step = [], start, timedelta(minutes=minutes + buffer)
    while t < start + timedelta(days=days):
        out.append((t, minutes, buffer))
        t += step
    return out


@pytest.fixture
def world(session: Session, settings: Settings):  # type: ignore[no-untyped-def]
    clock = FixedClock(NOW)
    admin = identity.actor_for(session, make_user(session, settings, Role.ADMIN))
    return clock, admin


def _patient(session: Session, settings: Settings) -> uuid.UUID:
    return patients.patient_id_for_user(session, make_user(session, settings, Role.PATIENT, state="NY").id)


def _statements(session: Session) -> list[str]:
    seen: list[str] = []
    event.listen(session.get_bind(), "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_crafted_diaries_give_the_whole_range_answer(session: Session, settings: Settings, world) -> None:  # type: ignore[no-untyped-def]
    clock, admin = world
    every = tuple(range(7))
    cases: dict[str, uuid.UUID] = {}

    # Booked solid for 20 days (past the span read), free after: the second round trip finds the time.
    pid = cases["solid"] = _provider(session, clock, admin, "Sol Solid")
    _set_hours(session, clock, admin, pid, zone=ZONES[0], hours=(9, 17), weekdays=every, days_off=range(0),
               buffer=10, notice=0, horizon=60)  # fmt: skip
    _diary(session, pid, _patient(session, settings), _booked_solid(NOW, 20, minutes=50, buffer=10))

    # Hours only after three weeks off and no visits at all: searched on without a second round trip.
    pid = cases["away"] = _provider(session, clock, admin, "Al Away")
    _set_hours(session, clock, admin, pid, zone=ZONES[2], hours=(8, 12), weekdays=(0, 2), days_off=range(22),
               buffer=0, notice=0, horizon=90)  # fmt: skip

    # Busy until an hour before the span's end, then a visit starting 20 minutes after it: the 60-minute slot
    # ending at the span's edge has a 30-minute buffer reaching that visit, so it is not free.
    pid = cases["edge"] = _provider(session, clock, admin, "Ed Edge")
    _set_hours(session, clock, admin, pid, zone="UTC", hours=(0, 23), weekdays=every, days_off=range(0),
               buffer=30, notice=0, horizon=40)  # fmt: skip
    near = NOW + timedelta(days=scheduling.NEAR_DAYS)
    long_visit = int((near - timedelta(minutes=90) - NOW).total_seconds() // 60)
    _diary(
        session,
        pid,
        _patient(session, settings),
        [(NOW, long_visit, 30), (near + timedelta(minutes=20), 50, 30)],
    )

    # The same at the horizon's end, past the span read (searched again over the whole horizon): busy until an
    # hour before the horizon ends, then a visit 10 minutes after it (booked when the horizon was longer). The
    # slot ending an hour before the horizon's end would overlap it through its buffer: nothing is free.
    pid = cases["horizon_edge"] = _provider(session, clock, admin, "Hal Horizon")
    _set_hours(session, clock, admin, pid, zone="UTC", hours=(0, 23), weekdays=every, days_off=range(0),
               buffer=30, notice=0, horizon=20)  # fmt: skip
    latest = NOW + timedelta(days=20)
    until = int((latest - timedelta(minutes=90) - NOW).total_seconds() // 60)
    _diary(
        session,
        pid,
        _patient(session, settings),
        [(NOW, until, 30), (latest + timedelta(minutes=10), 50, 30)],
    )

    # Nothing free within the horizon at all.
    pid = cases["full"] = _provider(session, clock, admin, "Fay Full")
    _set_hours(session, clock, admin, pid, zone=ZONES[3], hours=(9, 12), weekdays=every, days_off=range(0),
               buffer=0, notice=0, horizon=16)  # fmt: skip
    _diary(
        session,
        pid,
        _patient(session, settings),
        _booked_solid(NOW - timedelta(days=1), 18, minutes=60, buffer=0),
    )

    ids = list(cases.values())
    vt_for = dict.fromkeys(ids, CODE)
    for now, from_day in (
        (NOW, None),
        (NOW, NOW.date() + timedelta(days=3)),
        (NOW + timedelta(hours=7), None),
    ):
        got = scheduling.openings(session, ids, visit_type_for=vt_for, now=now, from_day=from_day)
        for name, pid in cases.items():
            assert got[pid].start == _expected(session, pid, now=now, from_day=from_day), (
                name,
                now,
                from_day,
            )
            assert got[pid].published
    got = scheduling.openings(session, ids, visit_type_for=vt_for, now=NOW)
    assert got[cases["full"]].start is None
    assert got[cases["solid"]].start is not None and got[cases["solid"]].start >= NOW + timedelta(days=20)
    assert got[cases["away"]].start is not None and got[cases["away"]].start >= NOW + timedelta(days=21)
    assert got[cases["horizon_edge"]].start is None
    alone = [cases["horizon_edge"]]  # in a batch of its own, no longer horizon widens the busy time read
    assert scheduling.openings(session, alone, visit_type_for=vt_for, now=NOW)[alone[0]].start is None
    assert got[cases["edge"]].start is not None and got[cases["edge"]].start > near  # not near - 60 minutes


def test_round_trips(session: Session, settings: Settings, world) -> None:  # type: ignore[no-untyped-def]
    """One statement when every provider has free time in the span read, or none of its busy time after it;
    a second only for providers with nothing free in the span and busy time beyond it."""
    clock, admin = world
    every = tuple(range(7))
    free = _provider(session, clock, admin, "Fran Free")
    away = _provider(session, clock, admin, "Al Away")
    solid = _provider(session, clock, admin, "Sol Solid")
    for pid, off in ((free, 0), (away, 20), (solid, 0)):
        _set_hours(session, clock, admin, pid, zone=ZONES[0], hours=(9, 17), weekdays=every,
                   days_off=range(off), buffer=10, notice=0, horizon=60)  # fmt: skip
    _diary(session, solid, _patient(session, settings), _booked_solid(NOW, 20, minutes=50, buffer=10))
    seen = _statements(session)
    scheduling.openings(session, [free, away], visit_type_for=dict.fromkeys([free, away], CODE), now=NOW)
    assert len(seen) == 1
    seen.clear()
    scheduling.openings(session, [free, solid], visit_type_for=dict.fromkeys([free, solid], CODE), now=NOW)
    assert len(seen) == 2


def test_random_diaries_give_the_whole_range_answer(  # type: ignore[no-untyped-def]
    session: Session, settings: Settings, world, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, admin = world
    rng = random.Random(20261127)
    ids = []
    for n in range(10):
        pid = _provider(session, clock, admin, f"Rand {n:02d}")
        zone = rng.choice(ZONES)
        start_hour = rng.randint(0, 14)
        weekdays = tuple(sorted(rng.sample(range(7), rng.randint(1, 7))))
        buffer = rng.choice((0, 10, 15, 30))
        horizon = rng.randint(10, 70)
        off = rng.randint(0, 30)
        _set_hours(session, clock, admin, pid, zone=zone, hours=(start_hour, start_hour + rng.randint(2, 9)),
                   weekdays=weekdays, days_off=range(rng.randint(0, off), off), buffer=buffer,
                   notice=rng.choice((0, 60, 720, 2880)), horizon=horizon)  # fmt: skip
        # A diary: solid for a while, then visits at random, never overlapping.
        blocks = _booked_solid(NOW, rng.randint(0, 25), minutes=50, buffer=buffer)
        t = blocks[-1][0] + timedelta(minutes=60 + buffer) if blocks else NOW
        while t < NOW + timedelta(days=horizon + 2):
            t += timedelta(minutes=rng.choice((30, 90, 240, 1440, 4320)))
            blocks.append((t, 50, buffer))
            t += timedelta(minutes=50 + buffer)
        _diary(session, pid, _patient(session, settings), blocks)
        ids.append(pid)
    vt_for = dict.fromkeys(ids, CODE)
    for k in range(6):
        now = NOW + timedelta(hours=rng.randint(0, 72))
        from_day = None if k % 2 == 0 else NOW.date() + timedelta(days=rng.randint(1, 27))
        got = scheduling.openings(session, ids, visit_type_for=vt_for, now=now, from_day=from_day)
        for pid in ids:
            assert got[pid].start == _expected(session, pid, now=now, from_day=from_day), (pid, now, from_day)
        with monkeypatch.context() as m:  # many providers are looked up a chunk at a time: the same answer
            m.setattr(scheduling, "OPENINGS_CHUNK", 3)
            assert scheduling.openings(session, ids, visit_type_for=vt_for, now=now, from_day=from_day) == got


def test_the_listing_keeps_a_slot_s_buffer_clear_of_a_visit_after_the_window(
    session: Session, settings: Settings, world
) -> None:  # type: ignore[no-untyped-def]
    """A slot ending at the listing window's end is not offered when its buffer reaches a visit that starts just
    after the window (the booking would be refused by the database)."""
    clock, admin = world
    pid = _provider(session, clock, admin, "Lis Listing")
    _set_hours(session, clock, admin, pid, zone="UTC", hours=(0, 23), weekdays=tuple(range(7)),
               days_off=range(0), buffer=30, notice=0, horizon=60)  # fmt: skip
    end = NOW + timedelta(days=2)
    _diary(session, pid, _patient(session, settings), [(end + timedelta(minutes=10), 50, 30)])
    # Slots every 90 minutes (60 + 30 buffer) from the window's start: the second ends exactly at the window's end.
    start = end - timedelta(minutes=150)
    slots, _, _ = scheduling.list_slots(
        session, admin, pid, start=start, end=end, visit_type=CODE, clock=clock
    )
    assert [s.start for s in slots] == [
        start
    ]  # not start + 90 minutes: its buffer would reach the visit at end + 10
