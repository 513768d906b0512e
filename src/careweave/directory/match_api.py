"""JSON API: POST /api/v1/matches."""

from __future__ import annotations

from fastapi import APIRouter

from careweave.core.errors import FieldError, InvalidInput
from careweave.deps import ClockDep, CurrentActor, DbSession
from careweave.directory import matching
from careweave.directory.schemas import (
    EmptyExplanation,
    MatchRequest,
    MatchResponse,
    MatchResultItem,
    PairOut,
)

router = APIRouter(tags=["matching"])


def to_response(outcome: matching.MatchOutcome) -> MatchResponse:
    result = outcome.result
    if result is None:
        return MatchResponse(
            pathway=None, results=[], pair=None, excluded_summary={}, explanations={}, message=outcome.message
        )
    items = [
        MatchResultItem(
            provider_id=r.provider_id,
            name=r.name,
            credential=r.credential,
            role=r.role,
            score=r.score.total,
            score_breakdown=dict(r.score.parts),
            reasons=list(r.reasons),
            next_available=r.next_available,
        )
        for r in (*result.therapists, *result.prescribers)
    ]
    pair = (
        PairOut(
            therapist_id=result.pair.therapist_id,
            prescriber_id=result.pair.prescriber_id,
            reasons=list(result.pair.reasons),
        )
        if result.pair
        else None
    )
    return MatchResponse(
        pathway=result.pathway,
        results=items,
        pair=pair,
        excluded_summary={role: dict(counts) for role, counts in result.excluded_summary.items()},
        explanations={
            role: EmptyExplanation(message=e.message, relax=list(e.relax), suggestions=list(e.suggestions))
            for role, e in result.explanations.items()
        },
        message=None,
    )


@router.post(
    "/matches", response_model=MatchResponse, summary="Clinicians who can legally see a patient, ranked"
)
def create_match(
    body: MatchRequest, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> MatchResponse:
    if (body.patient_id is None) == (body.need is None):
        raise InvalidInput(
            "Send either patient_id or need.", fields=[FieldError("patient_id", "or need, not both")]
        )
    if body.patient_id is not None:
        return to_response(
            matching.match_for_patient(session, actor, body.patient_id, clock=clock, on_date=body.date)
        )
    need = body.need
    assert need is not None
    return to_response(
        matching.match_need(
            session,
            actor,
            pathway=need.pathway,
            state=need.state,
            on_date=need.date or body.date or clock.now().date(),
            plan_id=need.plan_id,
            self_pay=need.self_pay,
            conditions=need.conditions,
            language=need.language,
            gender=need.gender,
            clock=clock,
        )
    )
