"""The visit room service on a real database: who gets in, when, admission, join/leave and the record."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.audit.models import AuditEvent
from careweave.core.actor import Role
from careweave.core.clock import FixedClock
from careweave.core.errors import PolicyDenied
from careweave.settings import Settings
from careweave.visits import service as visits
from careweave.visits.models import Encounter
from tests.builders import make_user
from tests.visit_builders import Visit, actor, make_visit


@pytest.fixture
def visit(session: Session, settings: Settings, fixed_clock: FixedClock) -> Visit:
    return make_visit(session, settings, start_at=fixed_clock.now() + timedelta(minutes=5))


def _events(session: Session, visit: Visit) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.entity_id == str(visit.id)).order_by(AuditEvent.seq)
        )
    )


def _encounter(session: Session, visit: Visit) -> Encounter:
    row = session.scalars(select(Encounter).where(Encounter.appointment_id == visit.id)).one()
    session.refresh(row)
    return row


# ------------------------------------------------------------------ who gets in


def test_patient_and_own_clinician_see_the_room(
    session: Session, settings: Settings, fixed_clock: FixedClock, visit: Visit
) -> None:
    as_patient = visits.view_room(
        session, actor(session, visit.patient), visit.id, settings=settings, clock=fixed_clock
    )
    assert as_patient.side == "patient" and as_patient.is_open
    assert as_patient.clinician_name == visit.clinician.full_name
    assert as_patient.opens_at == visit.appointment.start_at - timedelta(minutes=15)
    as_clinician = visits.view_room(
        session, actor(session, visit.clinician), visit.id, settings=settings, clock=fixed_clock
    )
    assert as_clinician.side == "clinician" and as_clinician.in_call
    assert [e.action for e in _events(session, visit)] == ["visit.room_viewed", "visit.room_viewed"]


@pytest.mark.parametrize(
    "role", [Role.PATIENT, Role.THERAPIST, Role.PSYCHIATRIST, Role.CARE_MANAGER, Role.ADMIN]
)
def test_anyone_else_gets_404_and_the_refusal_is_audited(
    session: Session, settings: Settings, fixed_clock: FixedClock, visit: Visit, role: Role
) -> None:
    stranger = make_user(session, settings, role)  # same clinic: the policy alone would let clinicians in
    with pytest.raises(visits.VisitNotFound) as refused:
        visits.view_room(session, actor(session, stranger), visit.id, settings=settings, clock=fixed_clock)
    assert refused.value.status == 404 and refused.value.message == "No such visit."
    assert refused.value.keep_changes
    [event] = _events(session, visit)
    assert (event.action, event.outcome, event.actor_user_id) == ("visit.room_viewed", "denied", stranger.id)
    with pytest.raises(visits.VisitNotFound):
        visits.arrive(session, actor(session, stranger), visit.id, settings=settings, clock=fixed_clock)
    assert session.scalars(select(Encounter).where(Encounter.appointment_id == visit.id)).first() is None


def test_a_clinician_of_another_visit_gets_the_same_404_as_an_unknown_id(
    session: Session, settings: Settings, fixed_clock: FixedClock, visit: Visit
) -> None:
    other = make_visit(
        session, settings, start_at=fixed_clock.now() + timedelta(hours=2), patient=visit.patient
    )
    with pytest.raises(visits.VisitNotFound) as theirs:
        visits.arrive(
            session, actor(session, other.clinician), visit.id, settings=settings, clock=fixed_clock
        )
    with pytest.raises(visits.VisitNotFound) as unknown:
        visits.arrive(
            session, actor(session, other.clinician), uuid.uuid4(), settings=settings, clock=fixed_clock
        )
    assert theirs.value.message == unknown.value.message


# ------------------------------------------------------------------ when


def test_before_the_room_opens_and_after_it_closes(
    session: Session, settings: Settings, fixed_clock: FixedClock
) -> None:
    visit = make_visit(session, settings, start_at=fixed_clock.now() + timedelta(minutes=16))
    patient = actor(session, visit.patient)
    assert (
        visits.view_room(session, patient, visit.id, settings=settings, clock=fixed_clock).phase == "not_open"
    )
    with pytest.raises(visits.RoomNotOpen, match="not open yet"):
        visits.arrive(session, patient, visit.id, settings=settings, clock=fixed_clock)
    fixed_clock.advance(minutes=1)  # 15 minutes before the start
    assert visits.arrive(session, patient, visit.id, settings=settings, clock=fixed_clock).is_open
    fixed_clock.advance(minutes=15 + 50 + 60)  # the end + 60 minutes: still open
    assert visits.view_room(session, patient, visit.id, settings=settings, clock=fixed_clock).is_open
    fixed_clock.advance(seconds=1)
    room = visits.view_room(session, patient, visit.id, settings=settings, clock=fixed_clock)
    assert room.phase == "closed"
    with pytest.raises(visits.RoomNotOpen, match="has closed") as closed:
        visits.arrive(session, patient, visit.id, settings=settings, clock=fixed_clock)
    assert closed.value.status == 409
    # Leaving is always recorded, open or not.
    visits.leave(session, patient, visit.id, settings=settings, clock=fixed_clock)
    assert _encounter(session, visit).patient_left_at == fixed_clock.now()


def test_the_window_is_configurable(session: Session, settings: Settings, fixed_clock: FixedClock) -> None:
    wide = settings.model_copy(update={"visit_room_opens_minutes": 60})
    visit = make_visit(session, settings, start_at=fixed_clock.now() + timedelta(minutes=45))
    assert visits.view_room(
        session, actor(session, visit.patient), visit.id, settings=wide, clock=fixed_clock
    ).is_open


def test_a_cancelled_visit_has_no_room(session: Session, settings: Settings, fixed_clock: FixedClock) -> None:
    visit = make_visit(session, settings, start_at=fixed_clock.now(), status="cancelled")
    for user in (visit.patient, visit.clinician):
        room = visits.view_room(session, actor(session, user), visit.id, settings=settings, clock=fixed_clock)
        assert room.phase == "cancelled"
        with pytest.raises(visits.RoomNotOpen, match="cancelled"):
            visits.arrive(session, actor(session, user), visit.id, settings=settings, clock=fixed_clock)


# ------------------------------------------------------------------ waiting, admission, the call


def test_wait_admit_join_leave_records_the_encounter_and_its_duration(
    session: Session, settings: Settings, fixed_clock: FixedClock, visit: Visit
) -> None:
    patient, clinician = actor(session, visit.patient), actor(session, visit.clinician)
    t0 = fixed_clock.now()
    room = visits.arrive(session, patient, visit.id, settings=settings, clock=fixed_clock)
    assert not room.in_call and room.encounter.patient_waiting
    with pytest.raises(visits.NotAdmittedYet):
        visits.join(session, patient, visit.id, settings=settings, clock=fixed_clock)
    with pytest.raises(PolicyDenied):
        visits.admit(session, patient, visit.id, settings=settings, clock=fixed_clock)

    fixed_clock.advance(minutes=2)
    visits.arrive(session, clinician, visit.id, settings=settings, clock=fixed_clock)
    enc = _encounter(session, visit)
    assert (enc.status, enc.patient_waiting_at, enc.clinician_joined_at) == (
        "waiting",
        t0,
        t0 + timedelta(minutes=2),
    )

    fixed_clock.advance(minutes=1)
    room = visits.admit(session, clinician, visit.id, settings=settings, clock=fixed_clock)
    assert room.encounter.admitted
    visits.admit(session, clinician, visit.id, settings=settings, clock=fixed_clock)  # idempotent
    room = visits.join(session, patient, visit.id, settings=settings, clock=fixed_clock)
    assert room.in_call
    enc = _encounter(session, visit)
    started = t0 + timedelta(minutes=3)
    assert (enc.status, enc.admitted_at, enc.admitted_by, enc.started_at) == (
        "in_progress",
        started,
        visit.clinician.id,
        started,
    )

    fixed_clock.advance(minutes=45, seconds=30)
    room = visits.leave(session, patient, visit.id, settings=settings, clock=fixed_clock)
    enc = _encounter(session, visit)
    assert (enc.status, enc.patient_left_at, enc.ended_at) == (
        "finished",
        fixed_clock.now(),
        fixed_clock.now(),
    )
    assert enc.duration_seconds == 45 * 60 + 30 == room.encounter.duration_seconds
    fixed_clock.advance(minutes=1)
    visits.leave(session, clinician, visit.id, settings=settings, clock=fixed_clock)
    enc = _encounter(session, visit)
    assert enc.clinician_left_at == fixed_clock.now() and enc.duration_seconds == 45 * 60 + 30
    visits.leave(session, clinician, visit.id, settings=settings, clock=fixed_clock)  # twice: nothing new

    events = _events(session, visit)
    assert [(e.action, e.details.get("side")) for e in events] == [
        ("visit.waiting", "patient"),
        ("visit.joined", "clinician"),
        ("visit.admitted", "clinician"),
        ("visit.joined", "patient"),
        ("visit.left", "patient"),
        ("visit.left", "clinician"),
    ]
    assert all(e.patient_id == visit.patient_id and e.outcome == "success" for e in events)
    assert events[4].details["duration_seconds"] == 45 * 60 + 30


def test_a_dropped_patient_comes_straight_back_and_the_duration_spans_the_whole_call(
    session: Session, settings: Settings, fixed_clock: FixedClock, visit: Visit
) -> None:
    patient, clinician = actor(session, visit.patient), actor(session, visit.clinician)
    visits.arrive(session, clinician, visit.id, settings=settings, clock=fixed_clock)
    visits.arrive(session, patient, visit.id, settings=settings, clock=fixed_clock)
    visits.admit(session, clinician, visit.id, settings=settings, clock=fixed_clock)
    visits.join(session, patient, visit.id, settings=settings, clock=fixed_clock)
    fixed_clock.advance(minutes=10)
    visits.leave(session, patient, visit.id, settings=settings, clock=fixed_clock)  # connection lost
    fixed_clock.advance(minutes=1)
    room = visits.arrive(session, patient, visit.id, settings=settings, clock=fixed_clock)
    assert room.in_call and _encounter(session, visit).status == "in_progress"
    fixed_clock.advance(minutes=20)
    visits.leave(session, clinician, visit.id, settings=settings, clock=fixed_clock)
    assert _encounter(session, visit).duration_seconds == 31 * 60


def test_admit_needs_a_waiting_patient(
    session: Session, settings: Settings, fixed_clock: FixedClock, visit: Visit
) -> None:
    clinician = actor(session, visit.clinician)
    visits.arrive(session, clinician, visit.id, settings=settings, clock=fixed_clock)
    with pytest.raises(visits.PatientNotWaiting) as not_waiting:
        visits.admit(session, clinician, visit.id, settings=settings, clock=fixed_clock)
    assert not_waiting.value.status == 409
    patient = actor(session, visit.patient)
    visits.arrive(session, patient, visit.id, settings=settings, clock=fixed_clock)
    visits.leave(session, patient, visit.id, settings=settings, clock=fixed_clock)  # gave up waiting
    assert _encounter(session, visit).status == "planned"
    with pytest.raises(visits.PatientNotWaiting):
        visits.admit(session, clinician, visit.id, settings=settings, clock=fixed_clock)


# ------------------------------------------------------------------ ending the visit for everyone


def test_the_clinician_ends_the_visit_for_everyone(
    session: Session, settings: Settings, fixed_clock: FixedClock, visit: Visit
) -> None:
    """End: both sides leave the call (duration as when the last one leaves), the appointment is completed and
    the room closes for both; only the clinician, only after the start; ending twice changes nothing."""
    patient, clinician = actor(session, visit.patient), actor(session, visit.clinician)
    visits.arrive(session, patient, visit.id, settings=settings, clock=fixed_clock)
    visits.arrive(session, clinician, visit.id, settings=settings, clock=fixed_clock)
    with pytest.raises(visits.RoomNotOpen, match="not started yet"):  # 5 minutes before the start
        visits.end(session, clinician, visit.id, settings=settings, clock=fixed_clock)
    fixed_clock.advance(minutes=6)
    visits.admit(session, clinician, visit.id, settings=settings, clock=fixed_clock)
    visits.join(session, patient, visit.id, settings=settings, clock=fixed_clock)
    fixed_clock.advance(minutes=40)
    with pytest.raises(PolicyDenied):
        visits.end(session, patient, visit.id, settings=settings, clock=fixed_clock)
    assert visits.still_open(session, visit.id, settings=settings, clock=fixed_clock) is None

    room = visits.end(session, clinician, visit.id, settings=settings, clock=fixed_clock)
    enc = _encounter(session, visit)
    assert (enc.status, enc.patient_left_at, enc.clinician_left_at, enc.duration_seconds) == (
        "finished",
        fixed_clock.now(),
        fixed_clock.now(),
        40 * 60,
    )
    assert room.encounter.duration_seconds == 40 * 60 and not room.is_open
    session.refresh(visit.appointment)
    assert visit.appointment.status == "completed"
    assert visits.still_open(session, visit.id, settings=settings, clock=fixed_clock) == (
        "The visit has ended."
    )
    with pytest.raises(visits.RoomNotOpen):  # nobody comes back in
        visits.arrive(session, patient, visit.id, settings=settings, clock=fixed_clock)
    fixed_clock.advance(minutes=1)
    visits.end(session, clinician, visit.id, settings=settings, clock=fixed_clock)  # again: nothing new
    visits.leave(session, clinician, visit.id, settings=settings, clock=fixed_clock)  # the socket closing
    assert _encounter(session, visit).duration_seconds == 40 * 60
    actions = [(e.action, e.details.get("duration_seconds")) for e in _events(session, visit)]
    assert actions[-2:] == [("appointment.completed", None), ("visit.ended", 40 * 60)]


def test_a_visit_cancelled_during_the_call_closes_its_room(
    session: Session, settings: Settings, fixed_clock: FixedClock, visit: Visit
) -> None:
    """What a connection checks while the call lasts (visits.live): the room is no longer open once the
    visit is cancelled, whoever cancelled it and wherever."""
    patient = actor(session, visit.patient)
    visits.arrive(session, patient, visit.id, settings=settings, clock=fixed_clock)
    assert visits.still_open(session, visit.id, settings=settings, clock=fixed_clock) is None
    visit.appointment.status = "cancelled"
    session.flush()
    assert (
        visits.still_open(session, visit.id, settings=settings, clock=fixed_clock)
        == (visits.PHASE_MESSAGES["cancelled"])
    )
