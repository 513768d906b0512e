"""JSON API for lab orders, results and alerts, and the HL7 v2 ORU^R01 endpoint (issue #7)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from starlette.responses import Response

from careweave.core.errors import FieldError, InvalidInput
from careweave.deps import ClockDep, CurrentActor, DbSession
from careweave.labs import service
from careweave.labs.models import LabAlert, LabOrder, LabResult, MonitoringPlan
from careweave.labs.schemas import (
    BenUpdate,
    LabAlertRead,
    LabOrderRead,
    LabResultCreate,
    LabResultRead,
    MonitoringPlanRead,
    RecordedRead,
)

router = APIRouter(tags=["labs"])
HL7_MEDIA = "x-application/hl7-v2+er7"
ACCEPTED_MEDIA = ("text/plain", HL7_MEDIA, "application/hl7-v2")
HIDDEN = {
    403: {
        "description": "On the care team, but the patient has not shared medications with you (reason given)"
    },
    404: {"description": "No such patient, or not yours to see"},
}


class Hl7Response(Response):
    media_type = HL7_MEDIA


def order_read(o: LabOrder, today: date) -> LabOrderRead:
    return LabOrderRead(
        id=o.id,
        patient_id=o.patient_id,
        plan_id=o.plan_id,
        prescription_id=o.prescription_id,
        protocol_item=o.protocol_item,
        test=o.test,
        loinc=o.loinc,
        due_on=o.due_on,
        status=o.status,  # type: ignore[arg-type]
        reason=o.reason,  # type: ignore[arg-type]
        overdue=o.status == "ordered" and o.due_on < today,
        resulted_at=o.resulted_at,
        cancelled_at=o.cancelled_at,
        cancel_reason=o.cancel_reason,
    )


def result_read(r: LabResult) -> LabResultRead:
    return LabResultRead(
        id=r.id,
        patient_id=r.patient_id,
        order_id=r.order_id,
        loinc=r.loinc,
        test=r.test,
        display=r.display,
        value=r.value,
        value_text=r.value_text,
        unit=r.unit,
        reference_range=r.reference_range,
        abnormal_flag=r.abnormal_flag,
        observed_at=r.observed_at,
        source=r.source,  # type: ignore[arg-type]
    )


def alert_read(a: LabAlert, patient_name: str | None = None) -> LabAlertRead:
    return LabAlertRead(
        id=a.id,
        patient_id=a.patient_id,
        patient_name=patient_name,
        prescriber_user_id=a.prescriber_user_id,
        result_id=a.result_id,
        severity=a.severity,  # type: ignore[arg-type]
        code=a.code,
        message=a.message,
        next_step=a.next_step,
        spec=a.spec,
        unverified=a.unverified,
        created_at=a.created_at,
        acknowledged_at=a.acknowledged_at,
        acknowledged_by=a.acknowledged_by,
    )


@router.get(
    "/patients/{patient_id}/lab-orders",
    response_model=list[LabOrderRead],
    responses=HIDDEN,
    summary="The patient's monitoring orders (due items), by due date, with overdue marked",
)
def list_lab_orders(
    patient_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> list[LabOrderRead]:
    orders = service.list_orders(session, actor, patient_id, clock=clock)
    today = service.patient_today(session, patient_id, clock=clock)  # the patient's day, as on the pages
    return [order_read(o, today) for o in orders]


@router.get(
    "/patients/{patient_id}/lab-results",
    response_model=list[LabResultRead],
    responses=HIDDEN,
    summary="The patient's lab results, newest first",
)
def list_lab_results(
    patient_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> list[LabResultRead]:
    view = service.get_labs(session, actor, patient_id, clock=clock)
    return [result_read(r) for r in view.results]


@router.post(
    "/patients/{patient_id}/lab-results",
    response_model=RecordedRead,
    status_code=status.HTTP_201_CREATED,
    responses={**HIDDEN, 403: {"description": "Not a clinician, or not shared with you"}},
    summary="Enter a lab result (staff): matched to its order, classified, alert and next step applied",
)
def create_lab_result(
    patient_id: uuid.UUID, body: LabResultCreate, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> RecordedRead:
    if body.value is None and not body.value_text:
        raise InvalidInput("A value is required.", fields=[FieldError("value", "give value or value_text")])
    recorded = service.record_result(
        session,
        actor,
        patient_id,
        service.ResultIn(
            loinc=body.loinc,
            value_text=body.value_text or f"{body.value:g}",
            value=body.value,
            unit=body.unit,
            observed_at=body.observed_at,
            reference_range=body.reference_range,
            abnormal_flag=body.abnormal_flag,
        ),
        clock=clock,
        order_id=body.order_id,
    )
    today = service.patient_today(session, patient_id, clock=clock)
    return RecordedRead(
        result=result_read(recorded.result),
        alert=alert_read(recorded.alert) if recorded.alert else None,
        new_orders=[order_read(o, today) for o in recorded.new_orders],
    )


async def hl7_body(request: Request) -> str:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ACCEPTED_MEDIA:
        raise service.UnsupportedMediaType(
            f"Send the HL7 v2 message as {HL7_MEDIA} or text/plain.",
            fields=[FieldError("content-type", media or "(none)")],
        )
    raw = await request.body()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(
            "The message is not UTF-8 text.", fields=[FieldError("body", "not UTF-8")]
        ) from None


@router.post(
    "/lab-results/hl7v2",
    response_class=Hl7Response,
    responses={
        200: {
            "description": "The ACK (MSH + MSA, AA): results stored, or the message was already received",
            "content": {HL7_MEDIA: {"schema": {"type": "string"}}},
        },
        403: {"description": "Not clinic staff"},
        415: {"description": "Not text/plain or x-application/hl7-v2+er7"},
        422: {"description": "Malformed message or unknown patient: fields name the segment and field"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                HL7_MEDIA: {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    },
    summary="Ingest an HL7 v2 ORU^R01 lab result message (staff, or the lab interface's staff account)",
)
def ingest_hl7v2(
    text: Annotated[str, Depends(hl7_body)], actor: CurrentActor, session: DbSession, clock: ClockDep
) -> Response:
    outcome = service.ingest_hl7v2(session, text, actor, clock=clock)
    return Hl7Response(outcome.ack)


@router.get(
    "/lab-alerts",
    response_model=list[LabAlertRead],
    summary="Lab alerts addressed to me (the prescriber), open ones unless all=true",
)
def my_lab_alerts(
    actor: CurrentActor,
    session: DbSession,
    include_acknowledged: Annotated[
        bool, Query(alias="all", description="include acknowledged alerts")
    ] = False,
) -> list[LabAlertRead]:
    return [
        alert_read(i.alert, i.patient_name)
        for i in service.alerts_for_me(session, actor, open_only=not include_acknowledged)
    ]


@router.post(
    "/lab-alerts/{alert_id}/acknowledge",
    response_model=LabAlertRead,
    responses={404: {"description": "No such alert, or not yours to see"}},
    summary="Acknowledge a lab alert",
)
def acknowledge_lab_alert(
    alert_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> LabAlertRead:
    return alert_read(service.acknowledge_alert(session, actor, alert_id, clock=clock))


def plan_read(p: MonitoringPlan) -> MonitoringPlanRead:
    return MonitoringPlanRead(
        id=p.id,
        patient_id=p.patient_id,
        prescription_id=p.prescription_id,
        prescriber_user_id=p.prescriber_user_id,
        protocol=p.protocol,  # type: ignore[arg-type]
        started_on=p.started_on,
        status=p.status,  # type: ignore[arg-type]
        ben=p.ben,
        episode=p.episode,
    )


@router.post(
    "/monitoring-plans/{plan_id}/ben",
    response_model=MonitoringPlanRead,
    responses={
        403: {"description": "Not the plan's prescriber, or not shared with you"},
        404: {"description": "No such plan, or not yours to see"},
        422: {"description": "Not a clozapine plan, or the plan is stopped"},
    },
    summary="Record or clear benign (ethnic) neutropenia on a clozapine monitoring plan (its prescriber)",
)
def set_plan_ben(
    plan_id: uuid.UUID, body: BenUpdate, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> MonitoringPlanRead:
    return plan_read(service.set_ben(session, actor, plan_id, ben=body.ben, clock=clock))
