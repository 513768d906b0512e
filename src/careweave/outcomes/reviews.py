"""Caseload reviews (issue #8): the consultant's recommendation becomes a proposed plan change the treating
clinician accepts (a new plan version) or declines with a reason: what closes the treat-to-target loop."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import Actor, Role
from careweave.core.clock import Clock
from careweave.core.errors import Conflict, FieldError, InvalidInput, NotFound
from careweave.outcomes import repository as repo
from careweave.outcomes import rules
from careweave.outcomes.common import (
    clean_text,
    patient_for,
)
from careweave.outcomes.models import CareEpisode, CaseReview
from careweave.patients import service as patients

# Worst first: the episode's headline status is its worst instrument's.

RECOMMENDATIONS: Mapping[str, str] = {
    "increase_dose": "Increase the medication dose",
    "switch_medication": "Switch medication",
    "augment_medication": "Add (augment) a medication",
    "add_therapy": "Add psychotherapy",
    "change_therapy": "Change the psychotherapy approach",
    "refer_specialty": "Refer to specialty care",
    "continue": "Continue the current plan",
    "relapse_prevention": "Relapse-prevention plan, less frequent contact",
}


# --- reviews ----------------------------------------------------------------------------------------------------


def record_review(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    *,
    recommendation: str,
    detail: str | None,
    proposed_change: Mapping[str, Any] | None,
    clock: Clock,
) -> CaseReview:
    """The consultant's caseload-review recommendation for one patient; a ``proposed_change`` (an intervention
    for the shared plan: {"discipline", "description"}) waits for the treating clinician to accept or decline."""
    patient, _ = patient_for(
        session, actor, patient_id, policy.Action.CASE_REVIEW_WRITE, clock=clock, event="case_review.recorded"
    )
    if recommendation not in RECOMMENDATIONS:
        raise InvalidInput(
            "Unknown recommendation.",
            fields=[FieldError("recommendation", "one of " + ", ".join(RECOMMENDATIONS))],
        )
    text = clean_text(detail, "detail", required=False) or RECOMMENDATIONS[recommendation]
    change = _proposed(proposed_change)
    episode = repo.open_episode(session, patient.id, for_update=True)
    if episode is None:
        raise Conflict("This patient has no open episode of care to review.")
    today = clock.now().date()
    review = CaseReview(
        patient_id=patient.id,
        episode_id=episode.id,
        consultant_user_id=actor.user_id,
        reviewed_on=today,
        recommendation=recommendation,
        detail=text,
        proposed_change=change,
        decision="proposed" if change else "none",
    )
    session.add(review)
    episode.last_review_on = today
    episode.last_activity_on = max(today, episode.last_activity_on or today)
    session.flush()
    audit.record(
        session,
        actor,
        "case_review.recorded",
        clock=clock,
        entity_type="case_review",
        entity_id=review.id,
        patient_id=patient.id,
        details={"recommendation": recommendation, "proposed": bool(change)},
    )
    return review


def _proposed(raw: Mapping[str, Any] | None) -> dict[str, str] | None:
    from careweave.records import rules as plan_rules

    if not raw:
        return None
    if not isinstance(raw, Mapping):
        raise InvalidInput(
            "proposed_change must be an object.", fields=[FieldError("proposed_change", "object")]
        )
    discipline = raw.get("discipline")
    if discipline not in plan_rules.DISCIPLINES:
        raise InvalidInput(
            "Unknown discipline.",
            fields=[FieldError("proposed_change.discipline", "one of " + ", ".join(plan_rules.DISCIPLINES))],
        )
    description = clean_text(raw.get("description"), "proposed_change.description")
    return {"discipline": str(discipline), "description": str(description)}


def list_reviews(session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock) -> list[CaseReview]:
    patient, _ = patient_for(
        session, actor, patient_id, policy.Action.MEASUREMENT_READ, clock=clock, event="case_review.read"
    )
    return list(
        session.scalars(
            select(CaseReview)
            .where(CaseReview.patient_id == patient.id)
            .order_by(CaseReview.created_at.desc())
        )
    )


def decide_review(
    session: Session,
    actor: Actor,
    review_id: uuid.UUID,
    *,
    accept: bool,
    reason: str | None,
    clock: Clock,
) -> CaseReview:
    """The treating clinician accepts (the change becomes a new plan version, by them, citing the review) or
    declines (with a reason) a proposed change: what closes the treat-to-target loop."""
    from careweave.records import service as records

    review = session.get(CaseReview, review_id, with_for_update=True)
    if review is None:
        raise NotFound("No such review.")
    patient, ref = patients.get_patient_ref(session, review.patient_id)
    audit.require(session, actor, policy.Action.PLAN_WRITE, ref, clock=clock, event="case_review.decided")
    if actor.role not in (Role.PSYCHIATRIST, Role.THERAPIST):
        raise policy.PolicyDenied("Only a treating clinician accepts or declines a plan change.")
    if review.decision != "proposed" or review.proposed_change is None:
        raise Conflict("This review has no open proposal (already decided, or nothing was proposed).")
    why = clean_text(reason, "reason", required=not accept)
    if accept:
        current = records.get_plan(session, actor, patient.id, clock=clock)
        content = _plan_payload(current.content)
        # Review the changed plan at the next measure (or keep a later review date already set).
        next_review = (ref.today() + timedelta(days=_interval(session, review))).isoformat()
        if not content["review_date"] or content["review_date"] < next_review:
            content["review_date"] = next_review
        change = review.proposed_change
        content["interventions"].append(
            {
                "discipline": change["discipline"],
                "description": change["description"],
                "owner_user_id": str(actor.user_id),
            }
        )
        view = records.update_plan(
            session,
            actor,
            patient.id,
            content,
            reason=f"Caseload review {review.reviewed_on.isoformat()}: {review.detail}"[:480],
            base_version=current.version,
            clock=clock,
        )
        review.plan_version = view.version
    review.decision = "accepted" if accept else "declined"
    review.decided_by = actor.user_id
    review.decided_at = clock.now()
    review.decision_reason = why
    session.flush()
    audit.record(
        session,
        actor,
        "case_review.decided",
        clock=clock,
        entity_type="case_review",
        entity_id=review.id,
        patient_id=patient.id,
        details={"decision": review.decision, "plan_version": review.plan_version},
    )
    return review


def _interval(session: Session, review: CaseReview) -> int:
    episode = session.get(CareEpisode, review.episode_id)
    return episode.interval_days if episode else rules.default_rules().interval_days


def _plan_payload(content: Mapping[str, Any]) -> dict[str, Any]:
    """The stored plan content as the plan writer takes it back (see records.rules.validate_plan)."""
    return {
        "problems": [dict(p) for p in content.get("problems", [])],
        "goals": [dict(g) for g in content.get("goals", [])],
        "interventions": [dict(i) for i in content.get("interventions", [])],
        "review_date": content.get("review_date"),
    }
