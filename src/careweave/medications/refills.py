"""Refill requests (issue #7): the patient asks, the prescriber's queue, the decision (an approval checks authority
again and sends a refill authorisation through the pharmacy adapter), and the patient's own requests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.audit import service as audit
from careweave.core.actor import Actor, Role
from careweave.core.clock import Clock
from careweave.core.errors import Conflict, NotFound, PolicyDenied
from careweave.medications import pharmacy
from careweave.medications.authority import authorize
from careweave.medications.common import (
    PRESCRIBER_ROLES,
    BadTransition,
    PrescriptionIn,
    SigIn,
    load_rx,
    own_rx,
    patient_today,
    role_refusal,
)
from careweave.medications.formulary_service import formulary_or_refuse
from careweave.medications.models import Prescription, RefillRequest
from careweave.medications.prescribing import send_to_pharmacy
from careweave.patients.models import Patient


def request_refill(
    session: Session, actor: Actor, rx_id: uuid.UUID, *, note: str | None, clock: Clock
) -> RefillRequest:
    rx = load_rx(session, rx_id)
    if actor.role is not Role.PATIENT or actor.patient_id != rx.patient_id:
        raise NotFound("No such prescription.")
    if rx.status != "active":
        raise BadTransition("Only an active medication can be refilled.")
    pending = session.scalar(
        select(RefillRequest).where(RefillRequest.prescription_id == rx.id, RefillRequest.status == "pending")
    )
    if pending is not None:
        raise Conflict("A refill request for this medication is already waiting for your prescriber.")
    row = RefillRequest(
        prescription_id=rx.id,
        patient_id=rx.patient_id,
        prescriber_user_id=rx.prescriber_user_id,
        requested_by=actor.user_id,
        note=(note or "").strip()[:1000] or None,
        status="pending",
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "prescription.refill_requested",
        clock=clock,
        entity_type="refill_request",
        entity_id=row.id,
        patient_id=rx.patient_id,
        details={"category": "medications", "prescription_id": str(rx.id)},
    )
    return row


@dataclass(frozen=True, slots=True)
class RefillRow:
    request: RefillRequest
    prescription: Prescription
    patient_name: str


def refill_queue(session: Session, actor: Actor, *, include_decided: bool = False) -> list[RefillRow]:
    if actor.role not in PRESCRIBER_ROLES:
        raise PolicyDenied(role_refusal(actor))
    stmt = (
        select(RefillRequest, Prescription, Patient)
        .join(Prescription, Prescription.id == RefillRequest.prescription_id)
        .join(Patient, Patient.id == RefillRequest.patient_id)
        .where(RefillRequest.prescriber_user_id == actor.user_id)
    )
    if not include_decided:
        stmt = stmt.where(RefillRequest.status == "pending")
    rows = session.execute(stmt.order_by(RefillRequest.created_at)).all()
    return [RefillRow(r, p, f"{pt.given_name} {pt.family_name}".strip()) for r, p, pt in rows]


def decide_refill(
    session: Session,
    actor: Actor,
    request_id: uuid.UUID,
    *,
    approve: bool,
    note: str | None = None,
    clock: Clock,
    adapter: pharmacy.PharmacyAdapter | None = None,
) -> RefillRequest:
    req = session.get(RefillRequest, request_id)
    if req is None or req.prescriber_user_id != actor.user_id:
        raise NotFound("No such refill request.")
    if req.status != "pending":
        raise BadTransition(f"This request is already {req.status}.")
    rx, patient = own_rx(session, actor, req.prescription_id, clock=clock)
    if approve:
        if rx.status != "active":
            raise BadTransition("The prescription is no longer active; write a new one.")
        if rx.schedule == "C-II":
            raise BadTransition("Schedule II prescriptions cannot be refilled; write a new prescription.")
        form, _check_rules = formulary_or_refuse(session)
        item = form.get(rx.formulary_code)
        if item is not None:
            today = patient_today(patient, clock)
            data = PrescriptionIn(
                patient_id=patient.id,
                medication=rx.formulary_code,
                strength=rx.strength,
                sig=SigIn(rx.dose, rx.dose_unit, rx.route, rx.frequency),
                quantity=rx.quantity,
                refills=rx.refills + 1,
                days_supply=rx.days_supply,
                modality=rx.modality or "audio_video",
                in_person_evaluated_on=date.fromisoformat(rx.authority["in_person_evaluated_on"])
                if rx.authority.get("in_person_evaluated_on")
                else None,
                pdmp_reviewed_at=rx.pdmp_reviewed_at,
                pdmp_unavailable=rx.pdmp_unavailable,
            )
            authorize(session, actor, patient, item, data, today, clock=clock)
        rx.refills += 1
        send_to_pharmacy(session, actor, rx, patient, "refill_authorization", clock=clock, adapter=adapter)
    req.status = "approved" if approve else "denied"
    req.decided_by = actor.user_id
    req.decided_at = clock.now()
    req.decision_note = (note or "").strip()[:1000] or None
    session.flush()
    audit.record(
        session,
        actor,
        f"prescription.refill_{req.status}",
        clock=clock,
        entity_type="refill_request",
        entity_id=req.id,
        patient_id=req.patient_id,
        details={"category": "medications", "prescription_id": str(rx.id)},
    )
    return req


def refill_requests_for_patient(session: Session, actor: Actor, patient_id: uuid.UUID) -> list[RefillRequest]:
    if actor.role is not Role.PATIENT or actor.patient_id != patient_id:
        return []
    return list(
        session.scalars(
            select(RefillRequest)
            .where(RefillRequest.patient_id == patient_id)
            .order_by(RefillRequest.created_at.desc())
        )
    )
