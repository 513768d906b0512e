"""JSON API for intake: GET and partial PUT."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from careweave.deps import ClockDep, CurrentActor, DbSession
from careweave.intake import service
from careweave.intake.schemas import IntakeRead, IntakeUpdate

router = APIRouter(prefix="/patients/{patient_id}/intake", tags=["intake"])
NOT_FOUND = {404: {"description": "No such patient, or not visible to you"}}


def to_read(view: service.IntakeView) -> IntakeRead:
    p, i = view.patient, view.intake
    contact = (
        {
            "name": i.emergency_contact_name,
            "phone": i.emergency_contact_phone,
            "relationship": i.emergency_contact_relationship,
        }
        if i.emergency_contact_name and i.emergency_contact_phone
        else None
    )
    coverage = (
        {"type": i.coverage_type, "plan": i.insurance_plan, "member_id": i.insurance_member_id}
        if i.coverage_type
        else None
    )
    return IntakeRead.model_validate(
        {
            "patient_id": p.id,
            "given_name": p.given_name,
            "family_name": p.family_name,
            "preferred_name": p.preferred_name,
            "pronouns": p.pronouns,
            "birth_date": p.birth_date,
            "state": p.state,
            "timezone": p.timezone,
            "phone": p.phone,
            "emergency_contact": contact,
            "coverage": coverage,
            "language": i.language,
            "provider_preferences": {
                "gender": i.provider_gender_preference or "any",
                "language": i.provider_language,
            },
            "treatment_preference": i.treatment_preference,
            "goals": i.goals or [],
            "goals_text": i.goals_text,
            "current_medications": i.current_medications or [],
            "history": view.history,
            "step": i.step or 0,
            "missing": view.missing,
            "completed_at": i.completed_at,
        }
    )


@router.get("", response_model=IntakeRead, responses=NOT_FOUND, summary="A patient's intake")
def get_intake(patient_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep) -> IntakeRead:
    return to_read(service.get_intake(session, actor, patient_id, clock=clock))


@router.put(
    "", response_model=IntakeRead, responses=NOT_FOUND, summary="Save intake (partial updates allowed)"
)
def put_intake(
    patient_id: uuid.UUID, body: IntakeUpdate, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> IntakeRead:
    changes = body.model_dump(exclude_unset=True)
    return to_read(service.update_intake(session, actor, patient_id, changes, clock=clock))
