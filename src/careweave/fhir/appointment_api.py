"""FHIR R4 read and search of visits as ``Appointment`` (fhir/appointment.py).

Access is the scheduling API's: ``scheduling.service.get_appointment`` / ``list_appointments`` (a patient their own
visits, a therapist or psychiatrist the visits they hold, care managers and administrators their clinic's;
anyone else 404) and their audit (``appointment.read``, ``appointment.list``). Search: ``patient`` (or
``subject`` as ``Patient/<id>``), optional ``status`` (FHIR codes), ``_count`` (at most 500).

Create (``POST /fhir/Appointment``) books through ``scheduling.service.book`` — the same eligibility re-check,
the database's guard against double booking (409), reminders and audit as ``POST /api/v1/appointments``. The
body names the time either by a ``slot`` reference from a Slot search (``Slot/<id>``: clinician, start and visit
type in one) or by ``start``, the visit type as ``appointmentType.coding[0].code`` (or its ``text``) and the
clinician as a ``Practitioner/<id>`` participant; the patient is always a ``Patient/<id>`` participant.

Update (``PUT /fhir/Appointment/{id}``): the resource sent back with a new ``status`` — ``cancelled`` (with an
optional ``cancelationReason``), ``noshow``, ``fulfilled`` — or, still ``booked``, a new ``start`` (a reschedule)
runs ``scheduling.service.cancel`` / ``mark_no_show`` / ``complete`` / ``reschedule``: their permissions, rules
(409 when the visit's status or time does not allow it, 409 when the new time is taken, 422 when ineligible),
notices, waitlist offers and audit. The patient, clinician and visit type cannot change (422: book a new visit);
``end`` follows from the visit type. Answers 200 with the resource as stored.

Included into the /fhir router by careweave.fhir.api.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from careweave.core.errors import FieldError, InvalidInput
from careweave.deps import ClockDep, CurrentActor, DbSession, SettingsDep
from careweave.fhir import appointment as fhir_appointment
from careweave.fhir import slot as fhir_slot
from careweave.fhir.search import fhir_base, fhir_response, patient_id, searchset
from careweave.scheduling import repository as scheduling_repo
from careweave.scheduling import service as scheduling
from careweave.scheduling.models import Appointment

router = APIRouter(tags=["fhir"], include_in_schema=False)
_STATUS_BACK = {fhir: ours for ours, fhir in fhir_appointment.STATUS.items()}


def _resources(session: Session, appts: list[Appointment]) -> list[dict[str, Any]]:
    types = {vt.code: vt for vt in scheduling_repo.visit_types(session, active_only=False)}  # a few rows
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
    return fhir_response(_resources(session, [appt])[0])


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
    total = len(appts)
    if total == count:  # a full page: there may be more
        total = scheduling.count_appointments(
            session, actor, patient_id=pid, status=_STATUS_BACK[status] if status else None
        )
    base = fhir_base(request)
    resources = _resources(session, appts)
    return fhir_response(searchset(str(request.url), base, resources, total=total))


def _reference(item: object, key: str) -> str | None:
    """``item[key]["reference"]`` (``key`` empty: ``item["reference"]``) when each step is what FHIR says, else
    None: a create body is any JSON."""
    holder = item.get(key) if key and isinstance(item, dict) else item
    ref = holder.get("reference") if isinstance(holder, dict) else None
    return ref if isinstance(ref, str) else None


def _refs(body: dict[str, Any], kind: str) -> list[str]:
    participants = body.get("participant")
    refs = (_reference(p, "actor") for p in (participants if isinstance(participants, list) else []))
    return [ref.removeprefix(f"{kind}/") for ref in refs if ref is not None and ref.startswith(f"{kind}/")]


def _uuid(value: str | None, field: str, message: str) -> uuid.UUID:
    try:
        return uuid.UUID(value or "")
    except ValueError:
        raise InvalidInput(message, fields=[FieldError(field, message)]) from None


def _booking(
    session: Session, actor: Any, body: dict[str, Any]
) -> tuple[uuid.UUID, uuid.UUID, datetime, str]:
    """(provider id, patient id, start, visit type) named by a create body, or 422 naming the field."""
    if body.get("resourceType") != "Appointment":
        raise InvalidInput(
            "Send an Appointment resource.", fields=[FieldError("resourceType", "must be Appointment")]
        )
    if body.get("status") not in (None, "booked", "proposed", "pending"):
        raise InvalidInput(
            "A new appointment is booked.", fields=[FieldError("status", "booked (or omit it)")]
        )
    patients = _refs(body, "Patient")
    if len(patients) != 1:
        raise InvalidInput(
            "Name the patient once.", fields=[FieldError("participant", "one Patient/<id> participant")]
        )
    patient_id = _uuid(patients[0], "participant", "Patient/<id> with a valid id")
    given = body.get("slot")
    slots = [_reference(s, "") or "" for s in given] if isinstance(given, list) else []
    if slots:
        parsed = fhir_slot.parse_slot_id(slots[0].removeprefix("Slot/"))
        if len(slots) != 1 or parsed is None:
            raise InvalidInput(
                "One Slot/<id> from a Slot search.", fields=[FieldError("slot", "one Slot/<id>")]
            )
        provider_id, start, code = parsed
        codes = [
            vt.code
            for vt in scheduling.visit_types(session, actor)
            if fhir_slot.visit_type_hash(vt.code) == code
        ]
        if not codes:
            raise InvalidInput(
                "That slot's visit type is unknown.", fields=[FieldError("slot", "unknown visit type")]
            )
        return provider_id, patient_id, start, codes[0]
    practitioners = _refs(body, "Practitioner")
    if len(practitioners) != 1:
        raise InvalidInput(
            "Name the clinician once (or give a slot).",
            fields=[FieldError("participant", "one Practitioner/<id> participant, or a slot")],
        )
    provider_id = _uuid(practitioners[0], "participant", "Practitioner/<id> with a valid id")
    raw_start = body.get("start")
    try:
        start = datetime.fromisoformat(str(raw_start).replace("Z", "+00:00"))
    except ValueError:
        start = None
    if start is None or start.tzinfo is None:
        raise InvalidInput(
            "start: an instant with its offset.", fields=[FieldError("start", "e.g. 2026-12-01T15:00:00Z")]
        )
    kind = body.get("appointmentType") or {}
    codings = kind.get("coding") if isinstance(kind, dict) else None
    first = codings[0] if isinstance(codings, list) and codings else None
    code = first.get("code") if isinstance(first, dict) else None
    visit_type = code or (kind.get("text") if isinstance(kind, dict) else None)
    if not isinstance(visit_type, str) or not visit_type or "\x00" in visit_type:
        raise InvalidInput(
            "Which visit type? appointmentType.coding[0].code (GET /api/v1/visit-types).",
            fields=[FieldError("appointmentType", "a visit type code")],
        )
    return provider_id, patient_id, start, visit_type


@router.post("/Appointment", status_code=201)
def create_appointment(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    body: Annotated[dict[str, Any], Body()],
) -> JSONResponse:
    provider_id, patient_id, start, visit_type = _booking(session, actor, body)
    appt = scheduling.book(
        session,
        actor,
        provider_id=provider_id,
        patient_id=patient_id,
        start=start,
        visit_type=visit_type,
        clock=clock,
        settings=settings,
    )
    resource = _resources(session, [appt])[0]
    location = f"{fhir_base(request)}/Appointment/{appt.id}"
    return fhir_response(resource, 201, headers={"Location": location})


@router.put("/Appointment/{appointment_id}")
def update_appointment(
    appointment_id: uuid.UUID,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    body: Annotated[Any, Body()],
) -> JSONResponse:
    appt = scheduling.get_appointment(session, actor, appointment_id, clock=clock)
    vt = next(
        (v for v in scheduling_repo.visit_types(session, active_only=False) if v.code == appt.visit_type),
        None,
    )
    names = frozenset({appt.visit_type} | ({vt.name} if vt else set()))
    change = fhir_appointment.requested_change(appt, body, visit_type_names=names)
    if change.kind == "cancel":
        scheduling.cancel(session, actor, appt.id, reason=change.reason, clock=clock, settings=settings)
    elif change.kind == "reschedule" and change.start is not None:
        appt = scheduling.reschedule(
            session, actor, appt.id, start=change.start, clock=clock, settings=settings
        )
    elif change.kind == "no_show":
        appt = scheduling.mark_no_show(session, actor, appt.id, clock=clock)
    elif change.kind == "complete":
        appt = scheduling.complete(session, actor, appt.id, clock=clock)
    return fhir_response(_resources(session, [appt])[0])
