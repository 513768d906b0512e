"""FHIR R4 read and search of visits as ``Appointment`` (fhir/appointment.py).

Access is the scheduling API's: ``scheduling.service.get_appointment`` / ``list_appointments`` (a patient their own
visits, a therapist or psychiatrist the visits they hold, care managers and administrators their clinic's;
anyone else 404) and their audit (``appointment.read``, ``appointment.list``). Search: ``patient`` (or
``subject``/``actor`` as ``Patient/<id>``), optional ``status`` (FHIR codes), ``_count`` (at most 500).

Included into the /fhir router by careweave.fhir.api.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.core.errors import FieldError, InvalidInput
from careweave.deps import ClockDep, CurrentActor, DbSession
from careweave.fhir import appointment as fhir_appointment
from careweave.fhir.search import patient_id, searchset
from careweave.scheduling import service as scheduling
from careweave.scheduling.models import Appointment, VisitType

FHIR_JSON = "application/fhir+json"
router = APIRouter(tags=["fhir"], include_in_schema=False)
_STATUS_BACK = {fhir: ours for ours, fhir in fhir_appointment.STATUS.items()}


def _resources(session: Session, appts: list[Appointment]) -> list[dict[str, Any]]:
    codes = {a.visit_type for a in appts}
    types = {vt.code: vt for vt in session.scalars(select(VisitType).where(VisitType.code.in_(codes)))}
    out = []
    for a in appts:
        vt = types.get(a.visit_type)
        out.append(
            fhir_appointment.appointment(
                a,
                visit_type_name=vt.name if vt else a.visit_type,
                service=vt.service if vt else "therapy",
            )
        )
    return out


@router.get("/Appointment/{appointment_id}")
def read_appointment(
    appointment_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> JSONResponse:
    appt = scheduling.get_appointment(session, actor, appointment_id, clock=clock)
    return JSONResponse(_resources(session, [appt])[0], media_type=FHIR_JSON)


@router.get("/Appointment")
def search_appointments(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    patient: Annotated[str | None, Query(max_length=64)] = None,
    subject: Annotated[str | None, Query(max_length=80)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=500)] = 100,
) -> JSONResponse:
    pid = patient_id(subject, patient)
    if status is not None and status not in _STATUS_BACK:
        raise InvalidInput(
            "Unknown status.", fields=[FieldError("status", f"one of {', '.join(sorted(_STATUS_BACK))}")]
        )
    appts = scheduling.list_appointments(
        session,
        actor,
        clock=clock,
        patient_id=pid,
        status=_STATUS_BACK[status] if status else None,
        limit=count,
    )
    base = str(request.base_url).rstrip("/") + "/fhir"
    resources = _resources(session, appts)
    return JSONResponse(searchset(str(request.url), base, resources), media_type=FHIR_JSON)
