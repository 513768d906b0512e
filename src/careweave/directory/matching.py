"""Matching use cases: who can legally see this patient, ranked and explained (issue #4).

The database narrows the directory to providers with authority in the patient's state (the
most selective filter); the pure rules (directory.rules) then apply every hard filter exactly,
rank the eligible, suggest a pair for "both", and explain empty results.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import Actor
from careweave.core.clock import Clock
from careweave.core.errors import FieldError, InvalidInput
from careweave.directory import repository as repo
from careweave.directory import rules
from careweave.directory import service as directory
from careweave.intake import service as intake_service
from careweave.patients import service as patients
from careweave.screening import service as screening
from careweave.triage import service as triage

# Conditions to look for in a clinician, from the patient's latest screenings and history.
# This routes; it does not diagnose (cut points: spec §1.1, §1.3, §1.5, §1.6, §1.8).
SCREEN_CONDITIONS = {
    "phq-9": "depression",
    "gad-7": "anxiety",
    "mdq": "bipolar",
    "pcl-5": "ptsd",
    "audit-c": "substance_use",
}
MATCHABLE_PATHWAYS = ("therapy", "psychiatry", "both")


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    need: rules.Need | None
    result: rules.MatchResult | None
    message: str | None  # why there is nothing to match (urgent, no state, …)
    names: dict[str, str]
    plan_name: str | None


def _facts(session: Session, ids: list[uuid.UUID], on_date: date) -> list[rules.ProviderFacts]:
    providers = repo.providers_by_ids(session, ids)
    conds, langs, nets = (
        repo.conditions(session, ids),
        repo.languages(session, ids),
        repo.networks(session, ids),
    )
    lics, comps, deas = (
        repo.licenses(session, ids),
        repo.compact_privileges(session, ids),
        repo.dea_registrations(session, ids),
    )
    rxp = repo.prescriptive_certification_states(session, ids, on_date)
    out = []
    for p in providers:
        offers = {
            o
            for o, on in (
                ("therapy", p.offers_therapy),
                ("medication_management", p.offers_medication_management),
            )
            if on
        }
        out.append(
            rules.ProviderFacts(
                id=str(p.id),
                name=p.name,
                credential=p.credential,
                offers=frozenset(offers),
                conditions=frozenset(conds[p.id]),
                modalities=frozenset(p.modalities or ()),
                languages=frozenset(langs[p.id]),
                gender=p.gender,
                accepting_new_patients=p.accepting_new_patients,
                capacity=p.capacity,
                active_patients=p.active_patients,
                licenses=tuple(
                    rules.LicenseFact(x.state, x.license_type, x.number, x.status, x.issued, x.expires)
                    for x in lics[p.id]
                ),
                compact_privileges=tuple(
                    rules.CompactPrivilege(x.compact, x.state, x.status, x.issued, x.expires)
                    for x in comps[p.id]
                ),
                dea_registrations=tuple(
                    rules.DeaRegistration(x.state, frozenset(x.schedules), x.expires) for x in deas[p.id]
                ),
                networks=frozenset(str(n) for n in nets[p.id]),
                self_pay=p.self_pay,
                prescriptive_certifications=frozenset(rxp[p.id]),
            )
        )
    return out


def run_match(session: Session, need: rules.Need, *, plan_name: str | None) -> rules.MatchResult:
    ids = repo.candidate_ids_in_state(session, need.state, need.on_date)
    facts = _facts(session, ids, need.on_date)
    result = rules.match(facts, need, plan_name=plan_name)
    # Providers the SQL pre-filter left out have no authority in the state: count them so an
    # empty result can say so.
    outside = repo.count_active_providers(session) - len(ids)
    if outside:
        summary = {
            role: {**counts, "no_authority_in_state": counts.get("no_authority_in_state", 0) + outside}
            for role, counts in result.excluded_summary.items()
        }
        explanations = {
            role: rules.explain_empty(need, summary[role], role, plan_name=plan_name)
            for role in result.explanations
        }
        result = rules.MatchResult(
            result.pathway, result.therapists, result.prescribers, result.pair, summary, explanations
        )
    return result


def need_for_patient(
    session: Session, patient_id: uuid.UUID, *, on_date: date, pathway: str
) -> tuple[rules.Need | None, str | None, str | None]:
    """(need, plan name, reason there is none) from intake, screenings and coverage."""
    patient, _ = patients.get_patient_ref(session, patient_id)
    if not patient.state:
        return None, None, "Tell us which US state you will be in during visits (intake) to see clinicians."
    intake = intake_service.intake_for_rules(session, patient.id)
    latest = {r.instrument: r for r in screening.responses_for_rules(session, patient.id)}
    conditions = {
        cond for code, cond in SCREEN_CONDITIONS.items() if code in latest and latest[code].positive
    }
    if intake and (intake.history or {}).get("bipolar"):
        conditions.add("bipolar")
    coverage = directory.coverage_for_rules(session, patient.id)
    plan_id = str(coverage.plan_id) if coverage and coverage.plan_id else None
    self_pay = bool(coverage and coverage.self_pay) or bool(
        coverage is None and intake and intake.coverage_type == "self_pay"
    )
    plan_name = None
    if coverage and coverage.plan_id:
        plan = repo.plan(session, coverage.plan_id)
        plan_name = f"{plan.payer} {plan.name}" if plan else None
    gender = intake.provider_gender_preference if intake else None
    need = rules.Need(
        pathway=pathway,  # type: ignore[arg-type]
        state=patient.state,
        on_date=on_date,
        plan_id=plan_id,
        self_pay=self_pay,
        conditions=frozenset(conditions),
        language=(intake.provider_language or intake.language) if intake else None,
        gender=None if gender in (None, "any") else gender,
        patient_id=str(patient.id),
    )
    return need, plan_name, None


def match_for_patient(
    session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock, on_date: date | None = None
) -> MatchOutcome:
    patient, ref = patients.get_patient_ref(session, patient_id)
    policy.require(actor, policy.Action.MATCH, ref)
    pathway = triage.care_pathway(session, actor, patient.id, clock=clock)
    day = on_date or clock.now().date()
    audit.record(
        session,
        actor,
        "match.run",
        clock=clock,
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
        details={"pathway": pathway.pathway},
    )
    if pathway.pathway not in MATCHABLE_PATHWAYS:
        why = (
            "A clinician will contact you first; online matching is paused."
            if pathway.pathway == "urgent"
            else "Your answers don't suggest treatment right now, so there is nothing to match yet."
        )
        return MatchOutcome(None, None, why, {}, None)
    need, plan_name, why = need_for_patient(session, patient.id, on_date=day, pathway=pathway.pathway)
    if need is None:
        return MatchOutcome(None, None, why, {}, None)
    return MatchOutcome(need, run_match(session, need, plan_name=plan_name), None, {}, plan_name)


def match_need(
    session: Session,
    actor: Actor,
    *,
    pathway: str,
    state: str,
    on_date: date,
    plan_id: uuid.UUID | None,
    self_pay: bool,
    conditions: list[str],
    language: str | None,
    gender: str | None,
    clock: Clock,
) -> MatchOutcome:
    """An explicit need (integrators, a clinician exploring options): no patient data involved."""
    policy.require(actor, policy.Action.DIRECTORY_READ)
    plan_name = None
    if plan_id is not None:
        plan = repo.plan(session, plan_id)
        if plan is None:
            raise InvalidInput("No such plan.", fields=[FieldError("need.plan_id", "no such plan")])
        plan_name = f"{plan.payer} {plan.name}"
    try:
        need = rules.Need(
            pathway=pathway,
            state=state,
            on_date=on_date,  # type: ignore[arg-type]
            plan_id=str(plan_id) if plan_id else None,
            self_pay=self_pay,
            conditions=frozenset(conditions),
            language=language,
            gender=gender,
        )
    except ValueError as exc:
        raise InvalidInput("The need is not valid.", fields=[FieldError("need", str(exc))]) from exc
    return MatchOutcome(need, run_match(session, need, plan_name=plan_name), None, {}, plan_name)
