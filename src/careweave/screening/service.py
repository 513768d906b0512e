"""Screening use cases: submit an instrument (score, store, raise safety alerts), history."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import Actor, Role
from careweave.core.clock import Clock
from careweave.core.errors import NotFound
from careweave.intake import service as intake_service
from careweave.notify.mail import Mailer
from careweave.patients import service as patients
from careweave.safety import rules as safety_rules
from careweave.safety import service as safety
from careweave.safety.models import SafetyAlert
from careweave.screening import battery, scoring
from careweave.screening import repository as repo
from careweave.screening.instruments import get_instrument
from careweave.screening.models import ScreeningResponse
from careweave.settings import Settings

CRISIS_LEVELS = frozenset({"low", "moderate", "high"})


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    response: ScreeningResponse
    next_instruments: list[str]
    crisis: bool  # show the crisis panel now
    alert: SafetyAlert | None


def shows_crisis_panel(response: ScreeningResponse) -> bool:
    return "suicide_item_positive" in (response.flags or []) or response.risk_level in CRISIS_LEVELS


def _taken(responses: list[ScreeningResponse]) -> list[battery.Taken]:
    return [battery.Taken(r.instrument, r.authored_at, r.positive, tuple(r.flags or ())) for r in responses]


def submit_screening(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    *,
    instrument: str,
    answers: list[int | None],
    sex: str | None = None,
    behavior_within_3_months: bool | None = None,
    clock: Clock,
    settings: Settings,
    mailer: Mailer,
) -> SubmitOutcome:
    """Score and store one instrument. Invalid answers raise before anything is stored."""
    patient, ref = patients.get_patient_ref(session, patient_id)
    policy.require(actor, policy.Action.SCREENING_SUBMIT, ref)
    definition = get_instrument(instrument)
    result = scoring.score(instrument, answers, sex=sex, behavior_within_3_months=behavior_within_3_months)
    extra: dict[str, object] = {}
    if sex is not None:
        extra["sex"] = sex
    if behavior_within_3_months is not None:
        extra["behavior_within_3_months"] = behavior_within_3_months
    response = repo.add(
        session,
        ScreeningResponse(
            patient_id=patient.id,
            instrument=instrument,
            instrument_version=definition.version,
            answers=list(answers),
            extra=extra,
            total=result.total,
            severity=result.severity,
            positive=result.positive,
            prorated=result.prorated,
            complete=result.complete,
            answered_count=result.answered_count,
            risk_level=result.risk_level,
            flags=list(result.flags),
            details=result.details,
            authored_at=clock.now(),
            author_user_id=actor.user_id,
            source="patient" if actor.role is Role.PATIENT else "clinician",
            status="completed",
        ),
    )
    audit.record(
        session,
        actor,
        "screening.submitted",
        clock=clock,
        entity_type="screening_response",
        entity_id=response.id,
        patient_id=patient.id,
        details={"instrument": instrument},
    )
    from careweave.outcomes import service as outcomes  # status after every score (issue #8)

    outcomes.record_score(session, response, clock=clock)
    alert = None
    signal = safety_rules.alert_level_for(
        instrument=instrument,
        flags=result.flags,
        risk_level=result.risk_level,
        open_alert=instrument == "c-ssrs-screener" and safety.has_open_alert(session, patient.id),
    )
    if signal is not None:
        level, reason = signal
        alert = safety.raise_alert(
            session,
            actor,
            patient_id=patient.id,
            level=level,
            reason=reason,
            screening_id=response.id,
            structured_assessment=instrument == "c-ssrs-screener",
            clock=clock,
            settings=settings,
            mailer=mailer,
        )
    nxt = _next(session, patient.id)
    upcoming = list(dict.fromkeys([*result.next_instruments, *([nxt] if nxt else [])]))
    return SubmitOutcome(response, upcoming, shows_crisis_panel(response), alert)


def _next(session: Session, patient_id: uuid.UUID) -> str | None:
    intake = intake_service.intake_for_rules(session, patient_id)
    history = (intake.history or {}) if intake else {}
    return battery.next_instrument(_taken(repo.for_patient(session, patient_id)), history)


def next_instrument(session: Session, actor: Actor, patient_id: uuid.UUID) -> str | None:
    """The instrument the patient should answer next (None when the intake battery is done)."""
    _, ref = patients.get_patient_ref(session, patient_id)
    policy.require(actor, policy.Action.SCREENING_READ, ref)
    return _next(session, patient_id)


SUBSTANCE_USE_INSTRUMENTS = frozenset({"audit-c"})


def category_of(response: ScreeningResponse) -> str:
    """The consent category of a screening: substance-use screens are Part 2 data (spec §5.3)."""
    return "substance_use" if response.instrument in SUBSTANCE_USE_INSTRUMENTS else "screening"


def _visible(actor: Actor, ref: policy.PatientRef, response: ScreeningResponse) -> bool:
    if category_of(response) == "screening" or actor.is_system:
        return True
    return policy.may_see(actor, ref, "substance_use") or actor.patient_id == ref.patient_id


def history(
    session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock
) -> list[ScreeningResponse]:
    patient, ref = patients.get_patient_ref(session, patient_id)
    audit.require(
        session, actor, policy.Action.SCREENING_READ, ref, clock=clock, event="screening.history_viewed"
    )
    # Alcohol and substance-use screens carry the Part 2 label: shown only where that consent allows.
    rows = [r for r in repo.for_patient(session, patient.id) if _visible(actor, ref, r)]
    audit.record(
        session,
        actor,
        "screening.history_viewed",
        clock=clock,
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
        details={"results": len(rows)},
    )
    return rows


def get_response(
    session: Session, actor: Actor, patient_id: uuid.UUID, response_id: uuid.UUID, *, clock: Clock
) -> ScreeningResponse:
    _, ref = patients.get_patient_ref(session, patient_id)
    audit.require(session, actor, policy.Action.SCREENING_READ, ref, clock=clock, event="screening.viewed")
    response = repo.get(session, response_id)
    if response is None or response.patient_id != patient_id:
        raise NotFound("No such screening.")
    if not _visible(actor, ref, response):
        audit.record(
            session,
            actor,
            "screening.viewed",
            clock=clock,
            outcome="denied",
            entity_type="screening_response",
            entity_id=response.id,
            patient_id=patient_id,
            details={"category": "substance_use"},
        )
        raise policy.refusal(policy.category_verdict(actor, ref, "substance_use"), ref, recorded=True)
    audit.record(
        session,
        actor,
        "screening.viewed",
        clock=clock,
        entity_type="screening_response",
        entity_id=response.id,
        patient_id=patient_id,
    )
    return response


def get_response_by_id(
    session: Session, actor: Actor, response_id: uuid.UUID, *, clock: Clock
) -> ScreeningResponse:
    """One stored screening by its id (FHIR read); 404 unless the actor may read that patient."""
    response = repo.get(session, response_id)
    if response is None:
        raise NotFound("No such screening.")
    return get_response(session, actor, response.patient_id, response_id, clock=clock)


def responses_for_rules(session: Session, patient_id: uuid.UUID) -> list[ScreeningResponse]:
    """All completed responses, oldest first, for services that have checked policy (triage)."""
    return repo.for_patient(session, patient_id)
