"""The visit room: who may enter it and when, the waiting room, admission, joining and leaving.

A booked appointment has a room from ``visit_room_opens_minutes`` before its start until
``visit_room_closes_minutes`` after its end. Only two people ever get in: the appointment's own patient
and the clinician whose user is the appointment's provider (anyone else gets 404, "No such visit.", the
same answer as for an id that does not exist). The patient waits until the clinician admits them; an
admission holds for the rest of the visit, so a patient whose connection dropped comes straight back.

The encounter row keeps the record: when the patient started waiting, who admitted them and when, each
side's first join and last leave, when the call started (both in it for the first time) and ended (the
last time one side left while both were in), and ``duration_seconds`` = ended - started. Each event is
also an audit row (``visit.*``, see docs/video.md). Every change locks the appointment row first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import Actor, Role
from careweave.core.clock import Clock
from careweave.core.errors import Conflict, DomainError, NotFound, PolicyDenied
from careweave.patients import service as patients
from careweave.scheduling.models import Appointment
from careweave.settings import Settings
from careweave.visits import repository as repo
from careweave.visits.models import Encounter

Side = Literal["patient", "clinician"]
Phase = Literal["not_open", "open", "closed", "cancelled"]
CLINICIAN_ROLES = (Role.THERAPIST, Role.PSYCHIATRIST)


class VisitNotFound(NotFound):
    """No such visit, or not yours. Commits the audit row of a refused attempt on a known visit."""

    keep_changes = True


class RoomNotOpen(DomainError):
    code, status = "visit.room_not_open", 409


class NotAdmittedYet(Conflict):
    code = "visit.not_admitted"


class PatientNotWaiting(Conflict):
    code = "visit.patient_not_waiting"


def no_such_visit() -> VisitNotFound:
    return VisitNotFound("No such visit.")


# ------------------------------------------------------------------ pure rules


def room_phase(
    status: str,
    start_at: datetime,
    end_at: datetime,
    now: datetime,
    *,
    opens_minutes: int,
    closes_minutes: int,
) -> Phase:
    """Whether the room of an appointment is open at ``now``."""
    if status == "cancelled":
        return "cancelled"
    if status != "booked":  # completed or no-show: the visit is over
        return "closed"
    if now < start_at - timedelta(minutes=opens_minutes):
        return "not_open"
    if now > end_at + timedelta(minutes=closes_minutes):
        return "closed"
    return "open"


PHASE_MESSAGES: dict[Phase, str] = {
    "not_open": "The visit room is not open yet.",
    "closed": "The visit room has closed.",
    "cancelled": "This visit was cancelled, so it has no visit room.",
}


def patient_in_call(enc: Encounter) -> bool:
    return enc.patient_joined_at is not None and enc.patient_left_at is None


def clinician_in_call(enc: Encounter) -> bool:
    return enc.clinician_joined_at is not None and enc.clinician_left_at is None


def patient_waiting(enc: Encounter) -> bool:
    return enc.patient_waiting_at is not None and enc.patient_left_at is None and enc.admitted_at is None


def settle(enc: Encounter, now: datetime) -> None:
    """Derive the status (and the call's start, end and duration) from who is in the room."""
    if patient_in_call(enc) and clinician_in_call(enc):
        if enc.started_at is None:
            enc.started_at = now
        enc.status = "in_progress"
    elif enc.status == "in_progress":  # one side just left the call
        assert enc.started_at is not None
        enc.ended_at = now
        enc.duration_seconds = max(0, int((now - enc.started_at).total_seconds()))
        enc.status = "finished"
    elif enc.started_at is None:
        enc.status = "waiting" if patient_waiting(enc) else "planned"


# ------------------------------------------------------------------ what callers get


@dataclass(frozen=True, slots=True)
class EncounterView:
    status: str
    patient_waiting: bool
    patient_waiting_since: datetime | None
    admitted: bool
    patient_in_call: bool
    clinician_in_call: bool
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: int | None

    @classmethod
    def of(cls, enc: Encounter | None) -> EncounterView:
        if enc is None:
            return cls("planned", False, None, False, False, False, None, None, None)
        return cls(
            status=enc.status,
            patient_waiting=patient_waiting(enc),
            patient_waiting_since=enc.patient_waiting_at if patient_waiting(enc) else None,
            admitted=enc.admitted_at is not None,
            patient_in_call=patient_in_call(enc),
            clinician_in_call=clinician_in_call(enc),
            started_at=enc.started_at,
            ended_at=enc.ended_at,
            duration_seconds=enc.duration_seconds,
        )


@dataclass(frozen=True, slots=True)
class Room:
    """A participant's view of one visit room (plain values, safe after the session closes)."""

    appointment_id: uuid.UUID
    patient_id: uuid.UUID
    side: Side
    phase: Phase
    start_at: datetime
    end_at: datetime
    opens_at: datetime
    closes_at: datetime
    visit_type: str
    patient_name: str
    clinician_name: str
    timezone: str  # the viewer's: the patient's zone, or the provider's
    encounter: EncounterView

    @property
    def is_open(self) -> bool:
        return self.phase == "open"

    @property
    def in_call(self) -> bool:
        """Whether this side is (or goes straight back) into the call rather than the waiting room."""
        if self.side == "clinician":
            return True
        return self.encounter.admitted


# ------------------------------------------------------------------ authorisation


@dataclass(frozen=True, slots=True)
class _Access:
    appt: Appointment
    side: Side
    patient_name: str
    clinician_name: str
    timezone: str


def _access(
    session: Session, actor: Actor, appointment_id: uuid.UUID, *, attempted: str, clock: Clock, lock: bool
) -> _Access:
    """The appointment's own patient or its provider's clinician; anyone else: 404 (audited if it exists)."""
    appt = repo.appointment(session, appointment_id, for_update=lock)
    if appt is None:
        raise no_such_visit()
    patient = repo.patient(session, appt.patient_id)
    provider = repo.provider(session, appt.provider_id)
    side: Side | None = None
    if actor.role is Role.PATIENT and actor.patient_id == appt.patient_id:
        side = "patient"
    elif (
        actor.role in CLINICIAN_ROLES
        and actor.user_id is not None
        and provider is not None
        and provider.user_id == actor.user_id
    ):
        side = "clinician"
    ref = patients.get_patient_ref(session, appt.patient_id)[1] if patient is not None else None
    if (
        side is None
        or patient is None
        or provider is None
        or ref is None
        or not policy.may(actor, policy.Action.VISIT_JOIN, ref)
    ):
        audit.record(
            session,
            actor,
            attempted,
            clock=clock,
            entity_type="appointment",
            entity_id=appt.id,
            patient_id=appt.patient_id,
            outcome="denied",
        )
        raise no_such_visit()
    return _Access(
        appt=appt,
        side=side,
        patient_name=patient.display_name,
        clinician_name=repo.user_name(session, provider.user_id) or provider.name,
        timezone=patient.timezone if side == "patient" else provider.timezone,
    )


def _room(
    session: Session, access: _Access, enc: Encounter | None, *, settings: Settings, clock: Clock
) -> Room:
    appt = access.appt
    return Room(
        appointment_id=appt.id,
        patient_id=appt.patient_id,
        side=access.side,
        phase=_phase(appt, settings, clock),
        start_at=appt.start_at,
        end_at=appt.end_at,
        opens_at=appt.start_at - timedelta(minutes=settings.visit_room_opens_minutes),
        closes_at=appt.end_at + timedelta(minutes=settings.visit_room_closes_minutes),
        visit_type=repo.visit_type_name(session, appt.visit_type),
        patient_name=access.patient_name,
        clinician_name=access.clinician_name,
        timezone=access.timezone,
        encounter=EncounterView.of(enc),
    )


def _phase(appt: Appointment, settings: Settings, clock: Clock) -> Phase:
    return room_phase(
        appt.status,
        appt.start_at,
        appt.end_at,
        clock.now(),
        opens_minutes=settings.visit_room_opens_minutes,
        closes_minutes=settings.visit_room_closes_minutes,
    )


def _require_open(appt: Appointment, settings: Settings, clock: Clock) -> None:
    phase = _phase(appt, settings, clock)
    if phase != "open":
        raise RoomNotOpen(PHASE_MESSAGES[phase])


def _encounter(session: Session, appt: Appointment) -> Encounter:
    return repo.encounter(session, appt.id) or repo.add_encounter(session, appt.id)


def _record(
    session: Session, actor: Actor, action: str, access: _Access, *, clock: Clock, **details: object
) -> None:
    audit.record(
        session,
        actor,
        action,
        clock=clock,
        entity_type="appointment",
        entity_id=access.appt.id,
        patient_id=access.appt.patient_id,
        details={"side": access.side, **details},
    )


# ------------------------------------------------------------------ use cases


def view_room(
    session: Session, actor: Actor, appointment_id: uuid.UUID, *, settings: Settings, clock: Clock
) -> Room:
    """The room page: what it shows to this participant (audited ``visit.room_viewed``)."""
    access = _access(session, actor, appointment_id, attempted="visit.room_viewed", clock=clock, lock=False)
    _record(session, actor, "visit.room_viewed", access, clock=clock)
    return _room(session, access, repo.encounter(session, appointment_id), settings=settings, clock=clock)


def check_access(
    session: Session, actor: Actor, appointment_id: uuid.UUID, *, settings: Settings, clock: Clock
) -> Side:
    """Before a connection is accepted: may this actor enter (404 if not, audited as a refused join)."""
    access = _access(session, actor, appointment_id, attempted="visit.joined", clock=clock, lock=False)
    return access.side


def arrive(
    session: Session, actor: Actor, appointment_id: uuid.UUID, *, settings: Settings, clock: Clock
) -> Room:
    """A participant connects: the patient enters the waiting room (or, once admitted, the call);
    the clinician joins the visit."""
    access = _access(session, actor, appointment_id, attempted="visit.joined", clock=clock, lock=True)
    _require_open(access.appt, settings, clock)
    enc = _encounter(session, access.appt)
    now = clock.now()
    if access.side == "clinician":
        enc.clinician_joined_at = enc.clinician_joined_at or now
        enc.clinician_left_at = None
        _record(session, actor, "visit.joined", access, clock=clock)
    elif enc.admitted_at is not None:  # admitted earlier in this visit: straight back into the call
        enc.patient_joined_at = enc.patient_joined_at or now
        enc.patient_left_at = None
        _record(session, actor, "visit.joined", access, clock=clock)
    else:
        if enc.patient_waiting_at is None or enc.patient_left_at is not None:
            enc.patient_waiting_at = now  # a new wait starts
        enc.patient_left_at = None
        _record(session, actor, "visit.waiting", access, clock=clock)
    settle(enc, now)
    session.flush()
    return _room(session, access, enc, settings=settings, clock=clock)


def admit(
    session: Session, actor: Actor, appointment_id: uuid.UUID, *, settings: Settings, clock: Clock
) -> Room:
    """The clinician lets the waiting patient in (idempotent once admitted)."""
    access = _access(session, actor, appointment_id, attempted="visit.admitted", clock=clock, lock=True)
    if access.side != "clinician":
        raise PolicyDenied("Only the clinician can admit the patient.")
    _require_open(access.appt, settings, clock)
    enc = _encounter(session, access.appt)
    if enc.admitted_at is None:
        if not patient_waiting(enc):
            raise PatientNotWaiting("The patient is not in the waiting room.")
        enc.admitted_at = clock.now()
        enc.admitted_by = actor.user_id
        _record(session, actor, "visit.admitted", access, clock=clock)
        settle(enc, clock.now())
        session.flush()
    return _room(session, access, enc, settings=settings, clock=clock)


def join(
    session: Session, actor: Actor, appointment_id: uuid.UUID, *, settings: Settings, clock: Clock
) -> Room:
    """The admitted patient enters the call from the waiting room (the clinician is in it on arrival)."""
    access = _access(session, actor, appointment_id, attempted="visit.joined", clock=clock, lock=True)
    _require_open(access.appt, settings, clock)
    enc = _encounter(session, access.appt)
    if access.side == "patient":
        if enc.admitted_at is None:
            raise NotAdmittedYet("Please wait: your clinician will let you in.")
        if not patient_in_call(enc):
            enc.patient_joined_at = enc.patient_joined_at or clock.now()
            enc.patient_left_at = None
            _record(session, actor, "visit.joined", access, clock=clock)
            settle(enc, clock.now())
            session.flush()
    return _room(session, access, enc, settings=settings, clock=clock)


def _settle_left(
    session: Session, access: _Access, enc: Encounter, was_live: bool, now: datetime, *, clock: Clock
) -> dict[str, object]:
    """After someone left the call (or the clinician ended it): the status, and when that ended a live call, its
    duration (for the audit event's details) and the patient's contact in the registry."""
    settle(enc, now)
    if not (was_live and enc.status == "finished"):
        return {}
    from careweave.outcomes import service as outcomes  # a held visit is a contact (issue #8 registry)

    outcomes.record_contact(session, access.appt.patient_id, now.date(), clock=clock)
    return {"duration_seconds": enc.duration_seconds}


def end(
    session: Session, actor: Actor, appointment_id: uuid.UUID, *, settings: Settings, clock: Clock
) -> Room:
    """The clinician ends the visit for everyone: both sides leave the call (its duration recorded, as when the
    last one leaves), the appointment is marked completed (scheduling.service.complete) and the room closes.
    Audited ``visit.ended``. Ending it again changes nothing."""
    from careweave.scheduling import service as scheduling  # it does not import this module

    access = _access(session, actor, appointment_id, attempted="visit.ended", clock=clock, lock=True)
    if access.side != "clinician":
        raise PolicyDenied("Only the clinician can end the visit for everyone.")
    if access.appt.status == "completed":
        return _room(session, access, repo.encounter(session, appointment_id), settings=settings, clock=clock)
    _require_open(access.appt, settings, clock)
    if access.appt.start_at > clock.now():
        raise RoomNotOpen("The visit has not started yet; leave the room instead.")
    enc = _encounter(session, access.appt)
    now = clock.now()
    was_live = enc.status == "in_progress"
    if clinician_in_call(enc):
        enc.clinician_left_at = now
    if enc.patient_left_at is None and (enc.patient_joined_at or enc.patient_waiting_at) is not None:
        enc.patient_left_at = now
    details = _settle_left(session, access, enc, was_live, now, clock=clock)
    scheduling.complete(session, actor, appointment_id, clock=clock)
    _record(session, actor, "visit.ended", access, clock=clock, **details)
    session.flush()
    return _room(session, access, enc, settings=settings, clock=clock)


def still_open(
    session: Session, appointment_id: uuid.UUID, *, settings: Settings, clock: Clock
) -> str | None:
    """While a call lasts: None if the visit's room is still open, else why not (the visit was cancelled,
    completed or marked a no-show meanwhile, or its room closed). Not audited: an open connection's own check
    (who may be in the room was decided when it connected)."""
    appt = repo.appointment(session, appointment_id, for_update=False)
    if appt is None:
        return PHASE_MESSAGES["cancelled"]
    phase = _phase(appt, settings, clock)
    if phase == "open":
        return None
    if appt.status == "completed":
        return "The visit has ended."
    return PHASE_MESSAGES[phase]


def leave(
    session: Session, actor: Actor, appointment_id: uuid.UUID, *, settings: Settings, clock: Clock
) -> Room:
    """A participant left (closed the page, pressed Leave, lost the connection). Always allowed."""
    access = _access(session, actor, appointment_id, attempted="visit.left", clock=clock, lock=True)
    enc = repo.encounter(session, appointment_id)
    if enc is None:
        return _room(session, access, None, settings=settings, clock=clock)
    now = clock.now()
    present = (
        clinician_in_call(enc)
        if access.side == "clinician"
        else enc.patient_left_at is None and (enc.patient_joined_at or enc.patient_waiting_at) is not None
    )
    if not present:
        return _room(session, access, enc, settings=settings, clock=clock)
    was_live = enc.status == "in_progress"
    if access.side == "clinician":
        enc.clinician_left_at = now
    else:
        enc.patient_left_at = now
    details = _settle_left(session, access, enc, was_live, now, clock=clock)
    _record(session, actor, "visit.left", access, clock=clock, **details)
    session.flush()
    return _room(session, access, enc, settings=settings, clock=clock)
