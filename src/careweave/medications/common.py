"""What the medication modules share (issue #7): prescription statuses, the errors, the prescription input,
the patient's calendar day, access with refusal audit, and loading prescriptions and active tapers.

Access follows records.service: the one policy decides (care team, consent category "medications"), refusals
are audited, and every change is audited under "medication.*" / "prescription.*" / "formulary.*" by the module
that makes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import CLINICAL_ROLES, Actor, Role
from careweave.core.clock import Clock, local_today
from careweave.core.errors import Conflict, DomainError, FieldError, NotFound, PolicyDenied
from careweave.medications import rules
from careweave.medications.models import Prescription, Taper
from careweave.patients import service as patients
from careweave.patients.models import Patient

ACTIVE = ("signed", "sent", "active")
ENDED = ("completed", "stopped")
PRESCRIBER_ROLES = frozenset({Role.PSYCHIATRIST})


# ------------------------------------------------------------------ errors


class PrescribingUnavailable(DomainError):
    """The safety-check data could not be loaded: prescribing is refused rather than left unchecked."""

    code, status = "medications.checks_unavailable", 503


class NotAuthorized(PolicyDenied):
    """No prescribing authority (credential, licence in the patient's state, DEA, telemedicine rule)."""

    code = "medications.no_authority"
    keep_changes = True  # the audit row of the refusal is kept


class FindingsError(DomainError):
    findings: Sequence[rules.Finding] = ()

    def __init__(
        self, message: str, findings: Sequence[rules.Finding], *, fields: list[FieldError] | None = None
    ):
        super().__init__(message, fields=fields)
        self.findings = tuple(findings)


class Contraindicated(FindingsError):
    code, status = "medications.contraindicated", 409
    keep_changes = True


class OverrideRequired(FindingsError):
    code, status = "medications.override_required", 422
    keep_changes = True


class BadTransition(Conflict):
    code = "medications.bad_status"


# ------------------------------------------------------------------ inputs


@dataclass(frozen=True, slots=True)
class SigIn:
    dose: float
    unit: str
    route: str
    frequency: str


@dataclass(frozen=True, slots=True)
class PrescriptionIn:
    patient_id: uuid.UUID
    medication: str
    strength: str
    sig: SigIn
    quantity: float
    refills: int
    days_supply: int
    form: str | None = None
    pharmacy: str | None = None
    started_on: date | None = None
    override_reasons: Mapping[str, str] = field(default_factory=dict)
    modality: str = "audio_video"
    in_person_evaluated_on: date | None = None
    pdmp_reviewed_at: datetime | None = None
    pdmp_unavailable: bool = False


# ------------------------------------------------------------------ access


def patient_today(patient: Patient, clock: Clock) -> date:
    """The patient's calendar day (their zone; UTC when it is unknown)."""
    return local_today(patient.timezone, clock.now())


def _refuse(
    session: Session,
    actor: Actor,
    verdict: policy.Verdict,
    ref: policy.PatientRef,
    *,
    clock: Clock,
    event: str,
) -> Exception:
    audit.record(
        session,
        actor,
        event,
        clock=clock,
        outcome="denied",
        patient_id=ref.patient_id,
        details={"category": "medications", "on_team": verdict.on_team},
    )
    return policy.refusal(verdict, ref, recorded=True)


def _authored(session: Session, actor: Actor, patient_id: uuid.UUID) -> bool:
    if actor.user_id is None:
        return False
    return (
        session.scalar(
            select(Prescription.id)
            .where(Prescription.patient_id == patient_id, Prescription.prescriber_user_id == actor.user_id)
            .limit(1)
        )
        is not None
    )


def read_verdict(session: Session, actor: Actor, ref: policy.PatientRef) -> policy.Verdict:
    """MEDICATION_READ (consent category "medications"); a prescriber who wrote a prescription for this patient
    keeps seeing the list while on the team, as the author of a plan version does (records.service)."""
    verdict = policy.decide(actor, policy.Action.MEDICATION_READ, ref)
    if verdict.allowed or actor.role is Role.ADMIN or not _authored(session, actor, ref.patient_id):
        return verdict
    return policy.category_verdict(actor, ref, "medications", author_user_id=actor.user_id)


def require_read(
    session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock
) -> tuple[Patient, policy.PatientRef]:
    patient, ref = patients.get_patient_ref(session, patient_id)
    verdict = read_verdict(session, actor, ref)
    if not verdict.allowed:
        raise _refuse(session, actor, verdict, ref, clock=clock, event="medication.list_denied")
    return patient, ref


def require_team(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    *,
    clock: Clock,
    roles: frozenset[Role],
    event: str,
    patient_self: bool = False,
    category: str | None = None,
) -> tuple[Patient, policy.PatientRef]:
    """Writes: the patient themself (when allowed), or a clinician of ``roles`` on the care team (and, with
    ``category``, allowed that consent category, checked before anything is written)."""
    patient, ref = patients.get_patient_ref(session, patient_id)
    if actor.role is Role.PATIENT:
        if patient_self and actor.patient_id == patient.id:
            return patient, ref
        raise NotFound("No such patient.")
    if actor.role not in roles:
        if actor.role in CLINICAL_ROLES and policy.category_verdict(actor, ref, None).allowed:
            raise PolicyDenied(role_refusal(actor))
        raise NotFound("No such patient.")
    verdict = policy.category_verdict(actor, ref, category)  # type: ignore[arg-type]
    if not verdict.allowed:
        raise _refuse(session, actor, verdict, ref, clock=clock, event=event)
    return patient, ref


def role_refusal(actor: Actor) -> str:
    if actor.role is Role.THERAPIST:
        return (
            "Therapists cannot prescribe or change medications: prescribing needs a prescribing credential "
            "(MD, DO, NP/APRN, PA or a certified prescribing psychologist) licensed in the patient's state "
            "(clinical-spec §3)."
        )
    return "Only prescribers can do this."


# ------------------------------------------------------------------ prescriptions and tapers


def load_rx(session: Session, rx_id: uuid.UUID) -> Prescription:
    """The prescription by id, without any access check (callers check)."""
    rx = session.get(Prescription, rx_id)
    if rx is None:
        raise NotFound("No such prescription.")
    return rx


def own_rx(
    session: Session, actor: Actor, rx_id: uuid.UUID, *, clock: Clock, any_prescriber: bool = False
) -> tuple[Prescription, Patient]:
    """A prescription a prescriber on the care team may change: its author's, or any (``any_prescriber``)."""
    rx = load_rx(session, rx_id)
    patient, _ = require_team(
        session, actor, rx.patient_id, clock=clock, roles=PRESCRIBER_ROLES, event="prescription.denied"
    )
    if not any_prescriber and rx.prescriber_user_id != actor.user_id:
        raise PolicyDenied("Only the prescriber who wrote this prescription can do this.")
    return rx, patient


def prescriptions_of(session: Session, patient_id: uuid.UUID) -> list[Prescription]:
    """All the patient's prescriptions, drafts included, newest first."""
    return list(
        session.scalars(
            select(Prescription)
            .where(Prescription.patient_id == patient_id)
            .order_by(Prescription.created_at.desc())
        )
    )


def active_tapers(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, Taper]:
    """The active taper of each of these prescriptions that has one."""
    if not ids:
        return {}
    rows = session.scalars(
        select(Taper)
        .where(Taper.prescription_id.in_(ids), Taper.status == "active")
        .order_by(Taper.created_at)
    )
    return {t.prescription_id: t for t in rows}
