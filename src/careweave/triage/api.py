"""JSON API: the care-pathway recommendation and clinician overrides."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from fastapi import APIRouter

from careweave.deps import ClockDep, CurrentActor, DbSession
from careweave.triage import service
from careweave.triage.schemas import CarePathwayRead, OverrideCreate, OverrideRead

router = APIRouter(prefix="/patients/{patient_id}/care-pathway", tags=["triage"])
NOT_FOUND = {404: {"description": "No such patient, or not visible to you"}}


def to_read(result: service.CarePathway) -> CarePathwayRead:
    c = result.computed
    return CarePathwayRead(
        pathway=result.pathway,
        urgency=result.urgency,
        reasons=list(result.reasons),  # type: ignore[arg-type]
        rule_trace=[asdict(step) for step in c.rule_trace],  # type: ignore[misc]
        computed_pathway=c.pathway,
        computed_urgency=c.urgency,
        override=OverrideRead.model_validate(result.override, from_attributes=True)
        if result.override
        else None,
        needs=list(c.needs),
        measures=list(c.measures),
        self_scheduling_allowed=result.self_scheduling_allowed,
        based_on=result.based_on,
    )


@router.get("", response_model=CarePathwayRead, responses=NOT_FOUND, summary="Recommended care pathway")
def get_pathway(
    patient_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> CarePathwayRead:
    return to_read(service.care_pathway(session, actor, patient_id, clock=clock))


@router.post(
    "/override",
    response_model=CarePathwayRead,
    status_code=201,
    responses=NOT_FOUND,
    summary="Override the recommendation (treating clinicians; reason required)",
)
def override(
    patient_id: uuid.UUID, body: OverrideCreate, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> CarePathwayRead:
    return to_read(
        service.override_pathway(
            session,
            actor,
            patient_id,
            pathway=body.pathway,
            urgency=body.urgency,
            reason=body.reason,
            clock=clock,
        )
    )
