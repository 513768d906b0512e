"""JSON API: the clinic's safety-alert queue, acknowledgement, and the on-call roster."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body

from careweave.deps import ClockDep, CurrentActor, DbSession, MailerDep, SettingsDep
from careweave.safety import service
from careweave.safety.schemas import Acknowledge, RosterMember, RosterSet, SafetyAlertRead

router = APIRouter(tags=["safety"])


def to_read(view: service.AlertView) -> SafetyAlertRead:
    a = view.alert
    return SafetyAlertRead(
        id=a.id,
        patient_id=a.patient_id,
        patient_name=view.patient_name,
        level=a.level,
        priority=view.priority,
        reason=a.reason,
        status=a.status,
        assigned_user_id=a.assigned_user_id,
        assignee_name=view.assignee_name,
        escalation_count=a.escalation_count,
        escalate_at=a.escalate_at,
        created_at=a.created_at,
        acknowledged_at=a.acknowledged_at,
        acknowledged_by=a.acknowledged_by,
    )


@router.get(
    "/safety-alerts", response_model=list[SafetyAlertRead], summary="Open safety alerts of your clinic"
)
def open_alerts(actor: CurrentActor, session: DbSession, clock: ClockDep) -> list[SafetyAlertRead]:
    open_, _ = service.queue(session, actor, clock=clock, recent=0)
    return [to_read(v) for v in open_]


@router.post(
    "/safety-alerts/{alert_id}/acknowledge",
    response_model=dict[str, str],
    responses={404: {"description": "No such alert"}, 409: {"description": "Already acknowledged"}},
    summary="Acknowledge a safety alert",
)
def acknowledge(
    alert_id: uuid.UUID,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    body: Annotated[Acknowledge | None, Body()] = None,
) -> dict[str, str]:
    alert = service.acknowledge(session, actor, alert_id, note=body.note if body else None, clock=clock)
    return {"id": str(alert.id), "status": alert.status}


@router.post(
    "/patients/{patient_id}/safety-help",
    response_model=dict[str, str],
    status_code=201,
    responses={404: {"description": "No such patient, or not visible to you"}},
    summary="The patient cannot keep themselves safe: alert the on-call clinician now",
)
def safety_help(
    patient_id: uuid.UUID,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    mailer: MailerDep,
) -> dict[str, str]:
    alert = service.request_help(session, actor, patient_id, clock=clock, settings=settings, mailer=mailer)
    return {"id": str(alert.id), "level": alert.level, "status": alert.status}


@router.get("/on-call", response_model=list[RosterMember], summary="Your clinic's on-call roster (admin)")
def get_roster(actor: CurrentActor, session: DbSession) -> list[RosterMember]:
    return [
        RosterMember(position=p, user_id=u, name=n, role=r)
        for p, u, n, r in service.get_roster(session, actor)
    ]


@router.put("/on-call", response_model=list[RosterMember], summary="Set the on-call order (admin)")
def set_roster(
    body: RosterSet, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> list[RosterMember]:
    service.set_roster(session, actor, body.user_ids, clock=clock)
    return [
        RosterMember(position=p, user_id=u, name=n, role=r)
        for p, u, n, r in service.get_roster(session, actor)
    ]
