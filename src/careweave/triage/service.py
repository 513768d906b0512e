"""The care-pathway recommendation for a patient: computed from the latest screenings and
intake by the pure rules (triage.rules), overridable by a treating clinician with a reason."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import Actor
from careweave.core.clock import Clock
from careweave.core.errors import FieldError, InvalidInput
from careweave.intake import service as intake_service
from careweave.intake.models import Intake
from careweave.patients import service as patients
from careweave.safety import service as safety
from careweave.screening import service as screening
from careweave.screening.models import ScreeningResponse
from careweave.triage import repository as repo
from careweave.triage import rules
from careweave.triage.models import PathwayOverride

PATHWAYS = ("therapy", "psychiatry", "both", "urgent", "none")
URGENCIES = ("emergency", "urgent", "routine")


def inputs_from(
    responses: list[ScreeningResponse], intake: Intake | None, *, imminent_risk_reported: bool = False
) -> rules.TriageInputs:
    """Build the rule inputs from stored data (pure): the latest result of each instrument."""
    latest: dict[str, ScreeningResponse] = {}
    for r in responses:  # oldest first, so later ones win
        latest[r.instrument] = r

    def after(code: str, other: str) -> bool:
        a, b = latest.get(code), latest.get(other)
        return a is not None and (b is None or b.authored_at < a.authored_at)

    phq9, gad7 = latest.get("phq-9"), latest.get("gad-7")
    cssrs, history = latest.get("c-ssrs-screener"), (intake.history or {}) if intake else {}
    item9 = phq9.answers[8] if phq9 is not None and len(phq9.answers) >= 9 else None
    preference = (intake.treatment_preference if intake else None) or "unsure"
    return rules.TriageInputs(
        phq9_total=phq9.total if phq9 else None,
        phq9_item9=item9,
        phq9_prorated=bool(phq9 and phq9.prorated),
        phq2_positive=bool(latest["phq-2"].positive) if after("phq-2", "phq-9") else None,
        gad7_total=gad7.total if gad7 else None,
        gad2_positive=bool(latest["gad-2"].positive) if after("gad-2", "gad-7") else None,
        cssrs_level=cssrs.risk_level if cssrs else None,  # type: ignore[arg-type]
        mdq_positive=latest["mdq"].positive if "mdq" in latest else None,
        auditc_positive=latest["audit-c"].positive if "audit-c" in latest else None,
        pcl5_positive=latest["pcl-5"].positive if "pcl-5" in latest else None,
        history_bipolar=bool(history.get("bipolar")),
        history_psychosis=bool(history.get("psychosis")),
        current_psychosis_or_mania=bool(history.get("current_psychosis_or_mania")),
        antidepressant_trials=int(history.get("antidepressant_trials") or 0),
        pregnant_or_postpartum=bool(history.get("pregnant_or_postpartum")),
        trauma_reported=bool(history.get("trauma")),
        current_medications=tuple(intake.current_medications or ()) if intake else (),
        preference=preference,  # type: ignore[arg-type]
        imminent_risk_reported=imminent_risk_reported,
    )


@dataclass(frozen=True, slots=True)
class CarePathway:
    computed: rules.Recommendation
    override: PathwayOverride | None
    self_scheduling_allowed: bool
    based_on: datetime | None  # time of the newest screening used

    @property
    def pathway(self) -> str:
        return self.override.pathway if self.override else self.computed.pathway

    @property
    def urgency(self) -> str:
        return self.override.urgency if self.override else self.computed.urgency

    @property
    def reasons(self) -> tuple[str, ...]:
        if self.override is None:
            return self.computed.reasons
        return (
            "Your clinician reviewed the recommendation and adjusted it for you.",
            *self.computed.reasons,
        )


def _compute(session: Session, patient_id: uuid.UUID) -> CarePathway:
    responses = screening.responses_for_rules(session, patient_id)
    intake = intake_service.intake_for_rules(session, patient_id)
    computed = rules.recommend(
        inputs_from(
            responses, intake, imminent_risk_reported=safety.imminent_risk_reported(session, patient_id)
        )
    )
    override = repo.latest_override(session, patient_id)
    newest = responses[-1].authored_at if responses else None
    # An override stands until new answers arrive; it never hides an emergency.
    if override is not None and (
        computed.urgency == "emergency" or (newest is not None and newest > override.created_at)
    ):
        override = None
    allowed = computed.self_scheduling_allowed and safety.self_scheduling_allowed(session, patient_id)
    return CarePathway(computed, override, allowed, newest)


def care_pathway(session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock) -> CarePathway:
    patient, ref = patients.get_patient_ref(session, patient_id)
    audit.require(session, actor, policy.Action.PATHWAY_READ, ref, clock=clock, event="care_pathway.viewed")
    result = _compute(session, patient.id)
    audit.record(
        session,
        actor,
        "care_pathway.viewed",
        clock=clock,
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
        details={"pathway": result.pathway, "urgency": result.urgency},
    )
    return result


def override_pathway(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    *,
    pathway: str,
    urgency: str,
    reason: str,
    clock: Clock,
) -> CarePathway:
    """A treating clinician replaces the computed pathway; the reason is required and kept."""
    patient, ref = patients.get_patient_ref(session, patient_id)
    policy.require(actor, policy.Action.PATHWAY_OVERRIDE, ref)
    problems = []
    if pathway not in PATHWAYS:
        problems.append(FieldError("pathway", f"must be one of {', '.join(PATHWAYS)}"))
    if urgency not in URGENCIES:
        problems.append(FieldError("urgency", f"must be one of {', '.join(URGENCIES)}"))
    if len(reason.strip()) < 10:
        problems.append(FieldError("reason", "explain the decision (at least 10 characters)"))
    if problems:
        raise InvalidInput("The override is not complete.", fields=problems)
    computed = _compute(session, patient.id).computed
    if computed.urgency == "emergency":
        raise InvalidInput(
            "An emergency recommendation cannot be overridden here; follow the safety workflow.",
            fields=[FieldError("pathway", "emergency in effect")],
        )
    assert actor.user_id is not None
    override = repo.add(
        session,
        PathwayOverride(
            patient_id=patient.id,
            pathway=pathway,
            urgency=urgency,
            reason=reason.strip(),
            computed_pathway=computed.pathway,
            clinician_id=actor.user_id,
            created_at=clock.now(),
        ),
    )
    audit.record(
        session,
        actor,
        "care_pathway.overridden",
        clock=clock,
        entity_type="pathway_override",
        entity_id=override.id,
        patient_id=patient.id,
        details={"from": computed.pathway, "to": pathway, "urgency": urgency},
    )
    return _compute(session, patient.id)
