"""JSON API for patient records. Routes parse, call one service, return a schema."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from careweave.core.text import NO_NUL
from careweave.deps import ClockDep, CurrentActor, DbSession
from careweave.identity import service as identity
from careweave.patients import service
from careweave.patients.schemas import AccessEventRead, PatientList, PatientRead, PatientUpdate

router = APIRouter(prefix="/patients", tags=["patients"])
NOT_FOUND = {404: {"description": "No such patient, or not visible to you"}}


@router.get("", response_model=PatientList, summary="Patients you may see")
def list_patients(
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    q: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> PatientList:
    rows, total = service.list_patients(session, actor, clock=clock, query=q, limit=limit, offset=offset)
    return PatientList(items=[PatientRead.model_validate(p) for p in rows], total=total)


@router.get("/{patient_id}", response_model=PatientRead, responses=NOT_FOUND, summary="A patient's summary")
def get_patient(
    patient_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> PatientRead:
    return PatientRead.model_validate(service.get_patient(session, actor, patient_id, clock=clock))


@router.patch("/{patient_id}", response_model=PatientRead, responses=NOT_FOUND, summary="Update demographics")
def update_patient(
    patient_id: uuid.UUID, body: PatientUpdate, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> PatientRead:
    changes = body.model_dump(exclude_unset=True)
    return PatientRead.model_validate(
        service.update_patient(session, actor, patient_id, changes, clock=clock)
    )


@router.get(
    "/{patient_id}/access-log",
    response_model=list[AccessEventRead],
    responses=NOT_FOUND,
    summary="Who looked at this patient's record",
)
def access_log(
    patient_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> list[AccessEventRead]:
    events = service.access_log(session, actor, patient_id, clock=clock)
    names = identity.user_names(session, {e.actor_user_id for e in events if e.actor_user_id})
    return [
        AccessEventRead(
            occurred_at=e.occurred_at,
            action=e.action,
            outcome=e.outcome,
            actor_role=e.actor_role,
            actor_name=names.get(e.actor_user_id, ("", ""))[0] if e.actor_user_id else None,
        )
        for e in events
    ]
