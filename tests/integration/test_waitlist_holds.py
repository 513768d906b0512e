"""Waitlist offers only for time that is really free and still bookable, and a used offer is closed; a series'
confirmation goes with its first booked visit; dates out of a schedule's range are refused (session 8 review).
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select

from careweave.core.clock import FixedClock
from careweave.core.errors import InvalidInput
from careweave.jobs.models import Job
from careweave.scheduling import rules, service, waitlist
from careweave.scheduling.models import WaitlistEntry, WaitlistOffer
from tests.builders import scheduling_world
from tests.integration.test_booking import MONDAY, at, book

DAY = MONDAY + timedelta(days=2)  # a Wednesday


@pytest.fixture
def world(session, settings):  # type: ignore[no-untyped-def]
    return scheduling_world(session, settings, FixedClock(at(MONDAY, 8)), patients=3)


def _wait(session, w, patient, day=DAY) -> None:  # type: ignore[no-untyped-def]
    """``patient`` joins the provider's waitlist for the whole of ``day``."""
    waitlist.join(
        session,
        patient,
        patient_id=patient.patient_id,
        provider_id=w["provider"].id,
        visit_type="therapy_session",
        window_start=at(day, 0),
        window_end=at(day, 23),
        clock=w["clock"],
    )


def _open_offers(session) -> list[WaitlistOffer]:  # type: ignore[no-untyped-def]
    return list(session.scalars(select(WaitlistOffer).where(WaitlistOffer.status == "open")))


def test_a_reschedule_that_still_covers_the_old_time_offers_nothing(session, settings, world) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = world["patients"]
    visit = book(session, settings, world, a, at(DAY, 10))
    _wait(session, world, b)
    service.reschedule(
        session, a, visit.id, start=at(DAY, 10, 30), clock=world["clock"], settings=settings
    )  # 10:30-11:20 still covers 10:30-10:50 of the old 10:00-10:50
    assert _open_offers(session) == []
    service.reschedule(session, a, visit.id, start=at(DAY, 14), clock=world["clock"], settings=settings)
    (offer,) = _open_offers(session)  # now 10:30 is really free: offered
    assert offer.start_at == at(DAY, 10, 30)


def test_an_offer_the_patient_books_directly_is_used_and_passes_nothing_on(session, settings, world) -> None:  # type: ignore[no-untyped-def]
    a, b, c = world["patients"]
    clock = world["clock"]
    visit = book(session, settings, world, a, at(DAY, 10))
    _wait(session, world, b)
    _wait(session, world, c)
    service.cancel(session, a, visit.id, reason=None, clock=clock, settings=settings)
    (offer,) = _open_offers(session)
    mine = book(session, settings, world, b, at(DAY, 10))  # from the slots page, not through the offer
    session.refresh(offer)
    entry = session.get(WaitlistEntry, offer.entry_id)
    assert (offer.status, offer.appointment_id) == ("accepted", mine.id)
    assert (entry.status, entry.booked_appointment_id) == ("booked", mine.id)
    clock.advance(minutes=settings.waitlist_offer_minutes + 1)
    assert waitlist.expire_due(session, clock=clock, settings=settings) == 0
    assert waitlist.offers_for(session, c, clock=clock) == []  # nothing offered on a taken slot


def test_an_offer_ends_when_the_minimum_notice_begins(session, settings, world) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = world["patients"]
    clock = world["clock"]  # Monday 8:00; one hour's notice
    visit = book(session, settings, world, a, at(MONDAY, 15))
    _wait(session, world, b, MONDAY)
    clock.advance(minutes=6 * 60 - 30)  # 13:30: 90 minutes before the visit
    service.cancel(session, a, visit.id, reason=None, clock=clock, settings=settings)
    (offer,) = _open_offers(session)
    assert offer.expires_at <= at(MONDAY, 14)  # bookable until 14:00 only (15:00 less one hour's notice)
    waitlist.accept(session, b, offer.id, clock=clock, settings=settings)


def test_no_offer_inside_the_minimum_notice(session, settings, world) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = world["patients"]
    clock = world["clock"]
    visit = book(session, settings, world, a, at(MONDAY, 15))
    _wait(session, world, b, MONDAY)
    clock.advance(minutes=6 * 60 + 30)  # 14:30: inside the hour's notice, nobody could book 15:00
    service.cancel(session, a, visit.id, reason=None, clock=clock, settings=settings)
    assert _open_offers(session) == []


def test_a_series_confirms_with_its_first_booked_visit(session, settings, world) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = world["patients"]
    book(session, settings, world, b, at(DAY, 10))  # week 1 taken
    _, results = service.create_series(
        session,
        a,
        provider_id=world["provider"].id,
        patient_id=a.patient_id,
        start=at(DAY, 10),
        visit_type="therapy_session",
        every_weeks=1,
        count=3,
        until=None,
        clock=world["clock"],
        settings=settings,
    )
    statuses = [r.status for r in results]
    assert statuses == ["conflict", "booked", "booked"]
    booked = [r.appointment for r in results if r.appointment is not None]
    notices = session.scalars(select(Job).where(Job.kind == "appointment.notice")).all()
    about = {n.payload.get("appointment_id") for n in notices}
    assert str(booked[0].id) in about and str(booked[1].id) not in about


def test_until_before_the_first_visit_is_refused() -> None:
    with pytest.raises(ValueError, match="until is before the first visit"):
        rules.series_starts(
            datetime(2026, 3, 4, 15, tzinfo=UTC), "America/New_York", every_weeks=1, until=MONDAY
        )


@pytest.mark.parametrize(
    "start", [datetime(1, 1, 1, tzinfo=UTC), datetime.max.replace(tzinfo=UTC) - timedelta(days=1)]
)
def test_dates_beyond_a_schedule_are_refused_not_a_crash(session, settings, world, start) -> None:  # type: ignore[no-untyped-def]
    a = world["patients"][0]
    with pytest.raises(InvalidInput) as refused:
        service.list_slots(
            session,
            a,
            world["provider"].id,
            start=start,
            end=start + timedelta(hours=1),
            visit_type="therapy_session",
            clock=world["clock"],
        )
    assert refused.value.fields[0].field in ("start", "end")
    with pytest.raises(InvalidInput):
        book(session, settings, world, a, start)


def test_the_slot_listing_reads_what_the_separate_queries_read(session, settings, world) -> None:  # type: ignore[no-untyped-def]
    """repo.slot_inputs (the listing's one round trip) == repo.schedule + repo.busy, a hold offered to the
    viewer's own waitlist entry left out of their busy time, and the viewing patient's zone."""
    from careweave.patients.models import Patient
    from careweave.scheduling import repository as repo
    from careweave.scheduling.models import AvailabilityException

    a, b, c = world["patients"]
    clock, provider = world["clock"], world["provider"]
    session.add_all(
        [
            AvailabilityException(provider_id=provider.id, day=DAY + timedelta(days=1)),
            AvailabilityException(
                provider_id=provider.id,
                day=DAY + timedelta(days=2),
                start_time=time(12),
                end_time=time(13),
            ),
        ]
    )
    kept = book(session, settings, world, a, at(DAY, 14))
    visit = book(session, settings, world, a, at(DAY, 10))
    _wait(session, world, b)
    service.cancel(session, a, visit.id, reason=None, clock=clock, settings=settings)
    (offer,) = _open_offers(session)  # 10:00 held for b
    session.get(Patient, c.patient_id).timezone = "America/Los_Angeles"
    session.flush()
    row = repo.schedule_row(session, provider.id)
    start, end, now = at(MONDAY, 0), at(DAY, 0) + timedelta(days=10), clock.now()
    for viewer, hold_shown in ((b, False), (c, True)):
        got = repo.slot_inputs(
            session,
            row,
            start,
            end,
            now=now,
            held_for_others=viewer.patient_id,
            viewer_patient=viewer.patient_id,
        )
        assert got.schedule == repo.schedule(session, provider.id)
        assert got.schedule.exceptions and got.schedule.windows
        assert got.busy == repo.busy(
            session, provider.id, start, end, held_for_others=viewer.patient_id, now=now
        )
        assert (offer.start_at in [blk.start for blk in got.busy]) is hold_shown
        assert kept.start_at in [blk.start for blk in got.busy]
    assert got.viewer_timezone == "America/Los_Angeles"
    nobody = repo.slot_inputs(session, row, start, end, now=now, held_for_others=None, viewer_patient=None)
    assert nobody.viewer_timezone is None and offer.start_at in [blk.start for blk in nobody.busy]
