"""Booking through the service on the real database: eligibility at the instant of booking, the database's
no-double-booking guard, cancel (late window), reschedule, no-show, series with per-occurrence conflicts,
waitlist offers and their expiry. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from careweave.audit.models import AuditEvent
from careweave.core.clock import FixedClock
from careweave.core.errors import Conflict, InvalidInput, NotFound
from careweave.directory.models import Provider
from careweave.jobs.models import Job
from careweave.scheduling import service, waitlist
from careweave.scheduling.models import Appointment, WaitlistOffer
from careweave.scheduling.service import Ineligible
from tests.builders import scheduling_world

NY = ZoneInfo("America/New_York")
MONDAY = date(2026, 3, 2)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=NY).astimezone(UTC)


@pytest.fixture
def world(session, settings):
    return scheduling_world(session, settings, FixedClock(at(MONDAY, 8)), patients=3)


def book(session, settings, w, actor, start, visit_type="therapy_session"):
    return service.book(
        session,
        actor,
        provider_id=w["provider"].id,
        patient_id=actor.patient_id,
        start=start,
        visit_type=visit_type,
        clock=w["clock"],
        settings=settings,
    )


def test_book_lists_in_both_zones_and_enqueues_reminders(session, settings, world):
    p = world["patients"][0]
    slots, viewer, provider_tz = service.list_slots(
        session,
        p,
        world["provider"].id,
        start=at(MONDAY, 0),
        end=at(MONDAY + timedelta(days=1), 0),
        visit_type="therapy_session",
        clock=world["clock"],
    )
    assert (viewer, provider_tz) == ("America/Los_Angeles", "America/New_York")
    assert slots[0].label == "Mon 2 Mar 2026, 6:00 AM PST"
    assert slots[0].provider_label == "Mon 2 Mar 2026, 9:00 AM EST"
    appt = book(session, settings, world, p, slots[-1].start)  # 16:00: its 1-hour reminder is ahead
    assert appt.status == "booked" and appt.end_at - appt.start_at == timedelta(minutes=50)
    assert appt.block_end_at - appt.end_at == timedelta(minutes=10)
    kinds = {
        j.kind
        for j in session.scalars(select(Job).where(Job.payload["appointment_id"].as_string() == str(appt.id)))
    }
    assert "reminder.send" in kinds
    again, _, _ = service.list_slots(
        session,
        p,
        world["provider"].id,
        start=at(MONDAY, 0),
        end=at(MONDAY + timedelta(days=1), 0),
        visit_type="therapy_session",
        clock=world["clock"],
    )
    assert slots[-1].start not in {s.start for s in again}


def test_database_refuses_double_booking_and_overlaps(session, settings, world):
    a, b, _ = world["patients"]
    start = at(MONDAY, 10)
    book(session, settings, world, a, start)
    with pytest.raises(Conflict, match="no longer available"):
        book(session, settings, world, b, start)


def test_overlap_with_buffer_is_refused(session, settings, world):
    a, b, _ = world["patients"]
    book(session, settings, world, a, at(MONDAY, 10))  # 10:00-10:50, held to 11:00
    with pytest.raises(Conflict):
        book(session, settings, world, b, at(MONDAY, 10, 55))


def test_database_guard_holds_without_the_service(session, settings, world):
    """The guard is the database's: a raw insert of an overlapping visit fails too."""
    import sqlalchemy.exc

    a, b, _ = world["patients"]
    first = book(session, settings, world, a, at(MONDAY, 13))
    clash = Appointment(
        provider_id=first.provider_id,
        patient_id=b.patient_id,
        visit_type="therapy_session",
        start_at=first.start_at + timedelta(minutes=20),
        end_at=first.end_at + timedelta(minutes=20),
        block_end_at=first.block_end_at + timedelta(minutes=20),
        status="booked",
        ics_uid="raw-clash@test",
    )
    with pytest.raises(sqlalchemy.exc.IntegrityError), session.begin_nested():
        session.add(clash)
    # a cancelled visit holds nothing
    first.status = "cancelled"
    session.flush()
    with session.begin_nested():
        clash.status = "booked"
        session.add(clash)


def test_eligibility_rechecked_at_booking(session, settings, world):
    p = world["patients"][0]
    with pytest.raises(service.Ineligible, match="New York"):
        book(session, settings, world, p, at(date(2026, 7, 6), 10))  # the NY licence expires 30 June
    with pytest.raises(InvalidInput, match="too soon"):
        book(session, settings, world, p, at(MONDAY, 8, 30))
    with pytest.raises(InvalidInput, match="not available"):
        book(session, settings, world, p, at(MONDAY, 17))
    with pytest.raises(InvalidInput, match="visit type"):
        book(session, settings, world, p, at(MONDAY, 10), visit_type="massage")
    with pytest.raises(service.Ineligible, match="medication management"):
        book(session, settings, world, p, at(MONDAY, 10), visit_type="medication_management_20")


def test_patient_cannot_book_for_someone_else(session, settings, world):
    a, b, _ = world["patients"]
    with pytest.raises(NotFound):
        service.book(
            session,
            a,
            provider_id=world["provider"].id,
            patient_id=b.patient_id,
            start=at(MONDAY, 10),
            visit_type="therapy_session",
            clock=world["clock"],
            settings=settings,
        )


def test_cancel_late_window_and_reschedule(session, settings, world):
    a, b, _ = world["patients"]
    clock = world["clock"]
    soon = book(session, settings, world, a, at(MONDAY, 14))
    (done,) = service.cancel(session, a, soon.id, reason="sick", clock=clock, settings=settings)
    assert done.status == "cancelled" and done.late_cancellation  # 6 h ahead, inside 24 h
    later = book(session, settings, world, a, at(MONDAY + timedelta(days=3), 14))
    seq = later.ics_sequence
    moved = service.reschedule(
        session, a, later.id, start=at(MONDAY + timedelta(days=3), 15), clock=clock, settings=settings
    )
    assert moved.id == later.id and moved.ics_sequence == seq + 1
    assert moved.start_at == at(MONDAY + timedelta(days=3), 15)
    again = service.reschedule(  # to the time it has already: nothing changes, no new invitation
        session, a, later.id, start=at(MONDAY + timedelta(days=3), 15), clock=clock, settings=settings
    )
    assert again.ics_sequence == seq + 1
    # the old time is free again for someone else
    book(session, settings, world, b, at(MONDAY + timedelta(days=3), 14))
    (done,) = service.cancel(session, a, moved.id, reason=None, clock=clock, settings=settings)
    assert not done.late_cancellation
    with pytest.raises(Conflict):
        service.cancel(session, a, moved.id, reason=None, clock=clock, settings=settings)


def test_no_show_only_after_start_and_only_by_staff(session, settings, world):
    a = world["patients"][0]
    appt = book(session, settings, world, a, at(MONDAY, 11))
    with pytest.raises(Conflict, match="after its start"):
        service.mark_no_show(session, world["therapist"], appt.id, clock=world["clock"])
    world["clock"].advance(hours=3, minutes=10)
    with pytest.raises(NotFound):
        service.mark_no_show(session, a, appt.id, clock=world["clock"])
    assert (
        service.mark_no_show(session, world["therapist"], appt.id, clock=world["clock"]).status == "no_show"
    )
    marked_at = appt.no_show_at
    world["clock"].advance(minutes=5)  # a second click changes nothing
    assert (
        service.mark_no_show(session, world["therapist"], appt.id, clock=world["clock"]).no_show_at
        == marked_at
    )


def test_completed_only_after_start_only_by_staff_and_once(session, settings, world):
    a = world["patients"][0]
    appt = book(session, settings, world, a, at(MONDAY, 11))
    with pytest.raises(Conflict, match="after its start"):
        service.complete(session, world["therapist"], appt.id, clock=world["clock"])
    world["clock"].advance(hours=3, minutes=10)
    with pytest.raises(NotFound):  # the patient does not mark their own visit
        service.complete(session, a, appt.id, clock=world["clock"])
    assert service.complete(session, world["therapist"], appt.id, clock=world["clock"]).status == "completed"
    assert service.complete(session, world["therapist"], appt.id, clock=world["clock"]).status == "completed"
    with pytest.raises(Conflict, match="only a booked visit can be marked a no-show"):
        service.mark_no_show(session, world["therapist"], appt.id, clock=world["clock"])
    events = session.scalars(
        select(AuditEvent.action).where(
            AuditEvent.entity_id == str(appt.id), AuditEvent.action.like("%complet%")
        )
    ).all()
    assert events == ["appointment.completed"]  # once


def test_series_reports_each_occurrence(session, settings, world):
    a, b, _ = world["patients"]
    # b takes the third Monday 10:00: the series' third occurrence conflicts.
    book(session, settings, world, b, at(MONDAY + timedelta(weeks=2), 10))
    series, results = service.create_series(
        session,
        a,
        provider_id=world["provider"].id,
        patient_id=a.patient_id,
        start=at(MONDAY, 10),
        visit_type="therapy_session",
        every_weeks=1,
        count=20,
        until=None,
        clock=world["clock"],
        settings=settings,
    )
    assert series is not None
    statuses = [r.status for r in results]
    assert statuses[2] == "conflict"
    # The licence expires 30 June: occurrences after it are refused with the rules' reason.
    assert all(r.status == "ineligible" for r in results if r.start.date() > date(2026, 6, 30))
    booked = [r for r in results if r.status == "booked"]
    # every booked one keeps 10:00 New York time across the March change
    assert {r.start.astimezone(NY).time() for r in booked} == {time(10)}
    # cancel "this and following" from the fifth
    fifth = booked[3].appointment
    cancelled = service.cancel(
        session, a, fifth.id, reason=None, scope="following", clock=world["clock"], settings=settings
    )
    assert len(cancelled) == len(booked) - 3
    remaining = session.scalars(
        select(Appointment).where(Appointment.series_id == series.id, Appointment.status == "booked")
    ).all()
    assert len(remaining) == 3


def test_waitlist_offer_expires_to_the_next_patient(session, settings, world):
    a, b, c = world["patients"]
    clock = world["clock"]
    day = MONDAY + timedelta(days=2)
    taken = book(session, settings, world, a, at(day, 10))
    for p in (b, c):
        waitlist.join(
            session,
            p,
            patient_id=p.patient_id,
            provider_id=world["provider"].id,
            visit_type="therapy_session",
            window_start=at(day, 0),
            window_end=at(day, 23),
            clock=clock,
        )
    service.cancel(session, a, taken.id, reason=None, clock=clock, settings=settings)
    offer = session.scalars(select(WaitlistOffer).where(WaitlistOffer.status == "open")).one()
    assert offer.start_at == at(day, 10)
    # the held time is not offered to others, nor bookable by them
    free, _, _ = service.list_slots(
        session,
        a,
        world["provider"].id,
        start=at(day, 0),
        end=at(day, 23),
        visit_type="therapy_session",
        clock=clock,
    )
    assert at(day, 10) not in {s.start for s in free}
    with pytest.raises(Conflict, match="held"):
        book(session, settings, world, a, at(day, 10))
    first = waitlist.offers_for(session, b, clock=clock)
    assert [o.id for o in first] == [offer.id]
    # b lets it lapse: it passes to c
    clock.advance(minutes=settings.waitlist_offer_minutes + 1)
    assert waitlist.expire_due(session, clock=clock, settings=settings) == 1
    assert waitlist.offers_for(session, b, clock=clock) == []
    (second,) = waitlist.offers_for(session, c, clock=clock)
    appt = waitlist.accept(session, c, second.id, clock=clock, settings=settings)
    assert appt.patient_id == c.patient_id and appt.start_at == at(day, 10)


def test_booking_decides_on_the_provider_row_it_locked_not_on_one_the_session_held(session, settings, world):
    """The booking reads the provider locked and decides eligibility on that row without reading it again; a
    Provider the session already held (here the world's) is refreshed by the locked read, so a change committed
    meanwhile by someone else (the clinician closed their caseload) is seen."""
    provider = world["provider"]  # held by the session, accepting new patients
    providers = Provider.__table__
    session.connection().execute(  # a Core UPDATE, as another transaction's would be: the ORM object is not told
        providers.update().where(providers.c.id == provider.id).values(accepting_new_patients=False)
    )
    assert provider.accepting_new_patients is True
    with pytest.raises(Ineligible, match="Not accepting new patients"):
        book(session, settings, world, world["patients"][0], at(MONDAY, 10))
    assert provider.accepting_new_patients is False
