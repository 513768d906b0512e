"""Each provider's stored earliest free first visit (scheduling.earliest, migration 0011): computed from their
hours and booked time, refreshed by whatever frees time (new hours, a cancellation, a reschedule) and by a
booking that takes it, refreshed for stale providers by the worker, never later than the truth; matching
filters and ranks by it in SQL (a provider stored as having no free time is never a candidate, and an empty
result counts them as "no free time")."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from careweave.core.actor import Role
from careweave.core.clock import FixedClock
from careweave.directory import documents, matching
from careweave.directory import repository as repo
from careweave.directory.models import Provider
from careweave.identity import service as identity
from careweave.patients import service as patients
from careweave.scheduling import earliest
from careweave.scheduling import service as scheduling
from careweave.settings import Settings
from tests.builders import make_user
from tests.integration.test_matching_availability import NOW, _hours, _need, _provider


@pytest.fixture
def world(session: Session, settings: Settings):  # type: ignore[no-untyped-def]
    admin = identity.actor_for(session, make_user(session, settings, Role.ADMIN))
    patient = make_user(session, settings, Role.PATIENT, state="NY")
    return FixedClock(NOW), admin, patients.patient_id_for_user(session, patient.id)


def _stored(session: Session, provider_id: uuid.UUID) -> tuple[datetime | None, int | None, datetime | None]:
    session.expire_all()
    p = session.get(Provider, provider_id)
    assert p is not None
    return p.first_therapy_at, p.first_therapy_day, p.openings_checked_at


def _candidates(session: Session) -> list[uuid.UUID]:
    query = matching._candidate_query(_need(), "therapist", matching.rules.default_rules())
    return [c.id for c in repo.match_candidates(session, query, limit=50)]


def test_new_hours_store_the_earliest_free_intake_and_matching_filters_by_it(session: Session, world) -> None:  # type: ignore[no-untyped-def]
    clock, admin, _ = world
    unscheduled = _provider(session, clock, admin, "Una Unscheduled")
    off = _provider(session, clock, admin, "Otto Off")
    _hours(session, clock, admin, off, days_off=3)
    assert _stored(session, unscheduled) == (None, None, None)  # never checked: matching treats it as unknown
    at, day, checked = _stored(session, off)
    assert at == datetime(2026, 12, 4, 14, 0, tzinfo=UTC)  # 9:00 in New York after three days off
    assert day == earliest.day_number(at.date()) and checked == NOW
    assert set(_candidates(session)) == {unscheduled, off}

    assert earliest.refresh_due(session, clock=clock) == 1  # the never-checked one is computed ...
    assert _stored(session, unscheduled) == (None, None, NOW)
    assert _candidates(session) == [off]  # ... and, having no free time, it is no longer a candidate
    assert earliest.refresh_due(session, clock=clock) == 0  # nothing stale
    later = FixedClock(NOW + earliest.STALE_AFTER + timedelta(minutes=1))
    assert earliest.refresh_due(session, clock=later) == 2  # an hour on, both are rechecked


def test_booking_the_earliest_time_moves_it_and_cancelling_brings_it_back(
    session: Session, settings: Settings, world
) -> None:  # type: ignore[no-untyped-def]
    clock, admin, patient_id = world
    pid = _provider(session, clock, admin, "Bea Booked")
    _hours(session, clock, admin, pid, start=9, end=11)  # 9:00-11:00 New York every day
    first = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    assert _stored(session, pid)[0] == first
    far = scheduling.book(
        session,
        admin,
        provider_id=pid,
        patient_id=patient_id,
        start=first + timedelta(days=10),
        visit_type="therapy_session",
        clock=clock,
        settings=settings,
    )
    assert _stored(session, pid)[0] == first  # a visit far from the earliest time leaves it
    appt = scheduling.book(
        session,
        admin,
        provider_id=pid,
        patient_id=patient_id,
        start=first,
        visit_type="therapy_intake",
        clock=clock,
        settings=settings,
    )
    assert _stored(session, pid)[0] == first + timedelta(hours=1)  # the intake took 9:00-10:00
    scheduling.cancel(session, admin, appt.id, reason=None, clock=clock, settings=settings)
    assert _stored(session, pid)[0] == first  # the freed time is the earliest again
    scheduling.reschedule(session, admin, far.id, start=first, clock=clock, settings=settings)
    # The 50-minute session now holds 9:00-9:50: the first free intake starts at 9:50.
    assert _stored(session, pid)[0] == first + timedelta(minutes=50)


def test_a_provider_stored_without_free_time_is_explained(session: Session, world) -> None:  # type: ignore[no-untyped-def]
    clock, admin, _ = world
    closed = _provider(session, clock, admin, "Cleo Closed", state="VT")
    _hours(session, clock, admin, closed, days_off=10, horizon=5)
    assert _stored(session, closed)[1] is None
    result = matching.run_match(session, _need("VT"), plan_name=None, now=NOW)
    assert result.therapists == ()
    assert result.excluded_summary["therapist"]["no_availability"] == 1
    assert "free time" in result.explanations["therapist"].message


def test_a_stale_stored_time_only_delays_nobody(session: Session, world) -> None:  # type: ignore[no-untyped-def]
    """A stored time earlier than the truth (the worker has not caught up) ranks a provider too high in SQL;
    the exact check puts them back in their place."""
    clock, admin, _ = world
    late = _provider(session, clock, admin, "Al Late")  # first by name, free only after a week off
    _hours(session, clock, admin, late, days_off=7)
    soon = _provider(session, clock, admin, "Zed Soon")
    _hours(session, clock, admin, soon)
    stale = earliest.day_number(NOW.date())  # as if computed before the week off was set
    session.execute(update(Provider).where(Provider.id == late).values(first_therapy_day=stale))
    documents.refresh(session, [late])  # matching reads its documents' copy
    result = matching.run_match(session, _need(), plan_name=None, now=NOW, limit=1)
    assert [r.name for r in result.therapists] == ["Zed Soon"]
    both = matching.run_match(session, _need(), plan_name=None, now=NOW, limit=2)
    assert [r.name for r in both.therapists] == ["Zed Soon", "Al Late"]
    assert both.therapists[1].next_available == datetime.combine(
        NOW.date() + timedelta(days=7), time(14), tzinfo=UTC
    )


def test_a_renamed_provider_keeps_their_place_in_the_walk(session: Session, world) -> None:  # type: ignore[no-untyped-def]
    """Licences carry the provider's rank key (directory.models.rank_key) for matching's walk in name order;
    renaming the provider updates it."""
    from careweave.directory import service as directory
    from careweave.directory.models import License, rank_key

    clock, admin, _ = world
    pid = _provider(session, clock, admin, "Émile Zola")
    lic = session.scalars(select(License).where(License.provider_id == pid)).one()
    assert lic.rank_key == rank_key(pid, "Émile Zola") == f"émile zola\x01Émile Zola\x01{pid}"
    directory.update_provider(session, admin, pid, {"name": "Anna Zola"}, clock=clock)
    session.expire_all()
    assert session.get(License, lic.id).rank_key == rank_key(pid, "Anna Zola")  # type: ignore[union-attr]


def test_a_sunday_need_bounds_weekday_workers_by_monday_west_of_utc_and_by_sunday_east(  # type: ignore[no-untyped-def]
    session: Session, world
) -> None:
    """For a later date, SQL bounds the first free day by the stored UTC weekdays: a New York clinician working
    Monday to Friday is free on Monday at the earliest (their Friday evening hours spill into Saturday UTC, but a
    search from Sunday's local midnight starts on Sunday UTC); a Berlin clinician's Sunday local midnight is
    Saturday 23:00 UTC, so their bound counts from the day before. Both bounds hold against the exact search."""
    from dataclasses import replace

    clock, admin, _ = world
    sunday = NOW.date() + timedelta(days=5)  # NOW is a Tuesday
    assert sunday.weekday() == 6
    ids = {}
    for name, zone, hours in (
        ("Nia West", "America/New_York", (time(15), time(21))),  # 20:00-02:00 UTC: Friday's ends Saturday UTC
        ("Bo East", "Europe/Berlin", (time(0), time(2))),  # Monday 00:00-02:00 Berlin: Sunday 23:00 UTC
    ):
        pid = _provider(session, clock, admin, name)
        weekly = tuple(scheduling.WindowIn(d, *hours) for d in range(5))
        data = scheduling.AvailabilityIn(zone, weekly, (), min_notice_minutes=0, horizon_days=60)
        scheduling.set_availability(session, admin, pid, data, clock=clock)
        ids[name] = pid
    need = replace(_need(), on_date=sunday)
    query = matching._candidate_query(need, "therapist", matching.rules.default_rules())
    bound = {c.id: c.opening_day for c in repo.match_candidates(session, query, limit=50)}
    monday = earliest.day_number(sunday + timedelta(days=1))
    assert bound[ids["Nia West"]] == monday  # was Sunday (0 days late) before the east flag
    assert bound[ids["Bo East"]] == earliest.day_number(sunday)
    exact = scheduling.openings(
        session,
        list(ids.values()),
        visit_type_for=dict.fromkeys(ids.values(), "therapy_intake"),
        now=NOW,
        from_day=sunday,
    )
    for pid in ids.values():
        start = exact[pid].start
        assert start is not None and earliest.day_number(start.astimezone(UTC).date()) >= bound[pid]
    assert exact[ids["Bo East"]].start == datetime(2026, 12, 6, 23, 0, tzinfo=UTC)  # Monday 00:00 in Berlin
    # A Saturday need: Nia's Friday evening hours fall on Saturday UTC, but before Saturday's local midnight.
    saturday = replace(_need(), on_date=sunday - timedelta(days=1))
    query = matching._candidate_query(saturday, "therapist", matching.rules.default_rules())
    bound = {c.id: c.opening_day for c in repo.match_candidates(session, query, limit=50)}
    assert bound[ids["Nia West"]] == monday
