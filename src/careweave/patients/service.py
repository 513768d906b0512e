"""Patient record use cases. Every read or write goes through policy and is audited."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import Actor
from careweave.core.clock import Clock
from careweave.core.errors import NotFound
from careweave.patients import repository as repo
from careweave.patients.models import Patient


def _ref(patient: Patient) -> policy.PatientRef:
    return policy.PatientRef(patient.id, patient.clinic_id)


def create_for_user(
    session: Session,
    actor: Actor,
    *,
    user_id: uuid.UUID,
    clinic_id: uuid.UUID | None,
    given_name: str = "",
    family_name: str = "",
    birth_date: date | None = None,
    state: str | None = None,
    timezone: str = "America/New_York",
    phone: str | None = None,
    clock: Clock,
) -> Patient:
    """Create the patient record that belongs to a new patient user (identity calls this)."""
    patient = repo.add(
        session,
        Patient(
            user_id=user_id,
            clinic_id=clinic_id,
            given_name=given_name,
            family_name=family_name,
            birth_date=birth_date,
            state=state,
            timezone=timezone,
            phone=phone,
        ),
    )
    audit.record(
        session,
        actor,
        "patient.created",
        clock=clock,
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
    )
    return patient


def patient_id_for_user(session: Session, user_id: uuid.UUID) -> uuid.UUID | None:
    patient = repo.by_user(session, user_id)
    return patient.id if patient else None


def patient_ids_for_users(session: Session, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    return repo.ids_by_users(session, user_ids)


def get_patient(session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock) -> Patient:
    """Read a patient's record (summary). Unknown and forbidden look the same: 404."""
    patient = repo.get(session, patient_id)
    if patient is None:
        raise NotFound("No such patient.")
    if not policy.may(actor, policy.Action.PATIENT_READ, _ref(patient)):
        audit.record(
            session,
            actor,
            "patient.viewed",
            clock=clock,
            outcome="denied",
            entity_type="patient",
            entity_id=patient.id,
            patient_id=patient.id,
        )
        raise policy_not_found()
    audit.record(
        session,
        actor,
        "patient.viewed",
        clock=clock,
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
    )
    return patient


def list_patients(
    session: Session,
    actor: Actor,
    *,
    clock: Clock,
    query: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Patient], int]:
    """Patients the actor may see, one audit event per patient shown."""
    policy.require(actor, policy.Action.PATIENT_LIST)
    rows, total = repo.in_clinic(session, actor.clinic_id, query=query, limit=min(limit, 200), offset=offset)
    visible = [p for p in rows if policy.may(actor, policy.Action.PATIENT_READ, _ref(p))]
    for patient in visible:
        audit.record(
            session,
            actor,
            "patient.listed",
            clock=clock,
            entity_type="patient",
            entity_id=patient.id,
            patient_id=patient.id,
        )
    return visible, total


def policy_not_found() -> NotFound:
    """A denial that must still be committed: the audit row of the refused access is kept."""
    return AccessRefused("No such patient.")


class AccessRefused(NotFound):
    keep_changes = True
