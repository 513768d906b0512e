"""Intake use cases: read and update (page by page or in one call), under policy and audit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import Actor
from careweave.core.clock import Clock
from careweave.core.errors import FieldError, InvalidInput
from careweave.intake import repository as repo
from careweave.intake.models import Intake
from careweave.patients import service as patients
from careweave.patients.models import Patient

DEMOGRAPHIC_FIELDS = (
    "given_name",
    "family_name",
    "preferred_name",
    "pronouns",
    "birth_date",
    "state",
    "timezone",
    "phone",
)
HISTORY_DEFAULTS: dict[str, bool | int | None] = {
    "bipolar": None,
    "psychosis": None,
    "antidepressant_trials": None,
    "pregnant_or_postpartum": None,
    "trauma": None,
    "mood_elevation": None,
    "current_psychosis_or_mania": None,
}
MEDICATION_MAX_LENGTH = 100


@dataclass(frozen=True, slots=True)
class IntakeView:
    patient: Patient
    intake: Intake
    stored: bool = True

    @property
    def history(self) -> dict[str, bool | int | None]:
        return HISTORY_DEFAULTS | (self.intake.history or {})

    @property
    def missing(self) -> list[str]:
        return missing_fields(self.patient, self.intake)


def missing_fields(patient: Patient, intake: Intake) -> list[str]:
    """What intake still needs (pure): where the patient is, coverage, preference, history."""
    needed = []
    if not patient.given_name or not patient.family_name:
        needed.append("legal_name")
    if patient.birth_date is None:
        needed.append("birth_date")
    if not patient.state:
        needed.append("state")
    if intake.coverage_type is None:
        needed.append("coverage")
    if intake.treatment_preference is None:
        needed.append("treatment_preference")
    history = intake.history or {}
    if any(history.get(k) is None for k in ("bipolar", "psychosis", "trauma", "mood_elevation")):
        needed.append("history")
    return needed


def _load(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    action: policy.Action,
    *,
    clock: Clock | None = None,
) -> IntakeView:
    patient, ref = patients.get_patient_ref(session, patient_id)
    if clock is not None:
        audit.require(session, actor, action, ref, clock=clock, event="intake.viewed")
    else:
        policy.require(actor, action, ref)
    intake = repo.for_patient(session, patient.id)
    if intake is None:
        blank = Intake(patient_id=patient.id, step=0, goals=[], current_medications=[], history={})
        return IntakeView(patient, blank, stored=False)
    return IntakeView(patient, intake)


def get_intake(session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock) -> IntakeView:
    view = _load(session, actor, patient_id, policy.Action.INTAKE_READ, clock=clock)
    audit.record(
        session,
        actor,
        "intake.viewed",
        clock=clock,
        entity_type="intake",
        entity_id=view.intake.id,
        patient_id=view.patient.id,
    )
    return view


def _clean_medications(names: list[str]) -> list[str]:
    cleaned = [n.strip() for n in names if n and n.strip()]
    too_long = [i for i, n in enumerate(cleaned) if len(n) > MEDICATION_MAX_LENGTH]
    if too_long:
        raise InvalidInput(
            "A medication name is too long.",
            fields=[
                FieldError(f"current_medications[{i}]", f"at most {MEDICATION_MAX_LENGTH} characters")
                for i in too_long
            ],
        )
    return list(dict.fromkeys(cleaned))  # keep order, drop duplicates


def update_intake(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    changes: dict[str, Any],
    *,
    clock: Clock,
    step: int | None = None,
) -> IntakeView:
    """Apply a partial update. Invalid values raise before anything is written."""
    view = _load(session, actor, patient_id, policy.Action.INTAKE_WRITE)
    patient, intake = view.patient, view.intake
    demographics = {k: changes[k] for k in DEMOGRAPHIC_FIELDS if k in changes}
    medications = (
        _clean_medications(changes["current_medications"] or []) if "current_medications" in changes else None
    )
    changed = patients.apply_changes(patient, demographics, today=clock.now().date()) if demographics else []

    def put(name: str, value: Any) -> None:
        if getattr(intake, name) != value:
            setattr(intake, name, value)
            changed.append(name)

    if "emergency_contact" in changes:
        contact = changes["emergency_contact"] or {}
        put("emergency_contact_name", contact.get("name"))
        put("emergency_contact_phone", contact.get("phone"))
        put("emergency_contact_relationship", contact.get("relationship"))
    if "coverage" in changes:
        coverage = changes["coverage"] or {}
        self_pay = coverage.get("type") == "self_pay"
        put("coverage_type", coverage.get("type"))
        put("insurance_plan", None if self_pay else coverage.get("plan"))
        put("insurance_member_id", None if self_pay else coverage.get("member_id"))
    if "provider_preferences" in changes:
        prefs = changes["provider_preferences"] or {}
        put("provider_gender_preference", prefs.get("gender"))
        put("provider_language", prefs.get("language"))
    for name in ("language", "treatment_preference", "goals_text"):
        if name in changes:
            put(name, changes[name])
    if "goals" in changes:
        put("goals", list(dict.fromkeys(changes["goals"] or [])))
    if medications is not None:
        put("current_medications", medications)
    if changes.get("history") is not None:
        merged = dict(intake.history or {})
        merged.update({k: v for k, v in changes["history"].items() if v is not None})
        put("history", merged)
    if step is not None and step > intake.step:
        intake.step = step
    if not view.stored:
        repo.add(session, intake)
    if changes.get("complete") and intake.completed_at is None:
        missing = missing_fields(patient, intake)
        if missing:
            raise InvalidInput(
                "Intake is not complete yet.", fields=[FieldError(name, "required") for name in missing]
            )
        intake.completed_at = clock.now()
        changed.append("completed_at")
    session.flush()
    audit.record(
        session,
        actor,
        "intake.updated",
        clock=clock,
        entity_type="intake",
        entity_id=intake.id,
        patient_id=patient.id,
        details={"fields": sorted(set(changed))},
    )
    return IntakeView(patient, intake)


def intake_for_rules(session: Session, patient_id: uuid.UUID) -> Intake | None:
    """The stored intake, for other services that have already checked policy (triage)."""
    return repo.for_patient(session, patient_id)
