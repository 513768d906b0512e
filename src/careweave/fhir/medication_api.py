"""FHIR R4 read and search of prescriptions as MedicationRequest (``clinical-spec.md`` §8.8).

Access is the medications API's: ``medications.prescribing.get_prescription`` / ``list_prescriptions`` apply the
one policy (care team, consent category "medications"; a draft is visible to its prescriber only) and audit refusals
(``medication.list_denied``). A successful read is audited here, as the other FHIR reads are audited by their
services: ``prescription.viewed`` (one resource) and ``prescription.list_viewed`` (a search), ids and codes only.
Errors are OperationOutcomes (careweave.errors, for every path under /fhir).

Included into the /fhir router by careweave.fhir.api.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from careweave.audit import service as audit
from careweave.core.actor import Actor
from careweave.core.clock import Clock
from careweave.deps import ClockDep, CurrentActor, DbSession
from careweave.directory import repository as directory_repo
from careweave.fhir import medication_request as fhir_mr
from careweave.fhir.search import fhir_base, fhir_response, patient_id, searchset
from careweave.identity.models import User
from careweave.medications import prescribing
from careweave.medications.models import Prescription

router = APIRouter(tags=["fhir"], include_in_schema=False)


def _requester(session: Session, rx: Prescription) -> tuple[str | None, str | None]:
    """The prescriber as ``Practitioner/<directory provider id>`` (and the name as display)."""
    provider = directory_repo.provider_by_user(session, rx.prescriber_user_id)
    user = session.get(User, rx.prescriber_user_id)
    reference = f"Practitioner/{provider.id}" if provider is not None else None
    return reference, user.full_name if user is not None else None


def resource_for(session: Session, rx: Prescription, base: str) -> dict[str, Any]:
    reference, display = _requester(session, rx)
    return fhir_mr.medication_request(
        rx, requester_reference=reference, requester_display=display, canonical_base=base
    )


def read(session: Session, actor: Actor, rx_id: uuid.UUID, *, clock: Clock) -> Prescription:
    rx = prescribing.get_prescription(session, actor, rx_id, clock=clock)
    audit.record(
        session,
        actor,
        "prescription.viewed",
        clock=clock,
        entity_type="prescription",
        entity_id=rx.id,
        patient_id=rx.patient_id,
        details={"category": "medications", "interface": "fhir"},
    )
    return rx


def search(session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock) -> list[Prescription]:
    rows = prescribing.list_prescriptions(session, actor, patient_id, clock=clock)
    audit.record(
        session,
        actor,
        "prescription.list_viewed",
        clock=clock,
        entity_type="patient",
        entity_id=patient_id,
        patient_id=patient_id,
        details={"category": "medications", "interface": "fhir", "results": len(rows)},
    )
    return rows


@router.get("/MedicationRequest/{prescription_id}")
def read_medication_request(
    request: Request, prescription_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> JSONResponse:
    rx = read(session, actor, prescription_id, clock=clock)
    return fhir_response(resource_for(session, rx, fhir_base(request)))


@router.get("/MedicationRequest")
def search_medication_requests(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    patient: Annotated[str | None, Query(max_length=64)] = None,
    subject: Annotated[str | None, Query(max_length=80)] = None,
) -> JSONResponse:
    rows = search(session, actor, patient_id(subject, patient), clock=clock)
    base = fhir_base(request)
    resources = [resource_for(session, rx, base) for rx in rows]
    return fhir_response(searchset(str(request.url), base, resources))
