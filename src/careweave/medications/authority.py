"""Prescribing authority (issue #7; spec §3, §4.3): decided here, from the clinician's directory facts in the
**patient's** state on the day (directory.rules.is_prescriber_in / can_prescribe_controlled) and the
telemedicine rule in force (medications.rules). A refusal is audited as "prescription.denied" (403)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.audit import service as audit
from careweave.core.actor import Actor
from careweave.core.clock import Clock
from careweave.directory import matching as directory_matching
from careweave.directory import repository as directory_repo
from careweave.directory import rules as directory_rules
from careweave.medications import rules
from careweave.medications.common import NotAuthorized, PrescriptionIn
from careweave.medications.models import Prescription
from careweave.patients.models import Patient

# The directory stores DEA registrations by DEA schedule code (2, 2N, 3, 3N, 4, 5: N = non-narcotic). The
# formulary does not record narcotic status (the spec does not give it), so a schedule needs both codes: strict,
# never allowing what a registration might not cover (docs/medications.md).
DEA_CODES: dict[str, tuple[str, ...]] = {
    "C-II": ("2", "2N"),
    "C-III": ("3", "3N"),
    "C-IV": ("4",),
    "C-V": ("5",),
}


def provider_facts(session: Session, user_id: uuid.UUID, on: date) -> directory_rules.ProviderFacts | None:
    """The clinician's directory facts on ``on`` (licences, DEA registrations, RxP certificates), loaded the way
    matching and booking load them."""
    provider = directory_repo.provider_by_user(session, user_id)
    if provider is None:
        return None
    return directory_matching.provider_facts(session, provider, on)


def prescriber_problem(facts: directory_rules.ProviderFacts | None, state: str, on: date) -> str | None:
    """Why this clinician may not prescribe for a patient located in ``state`` on ``on`` (None: they may)."""
    name = directory_rules.state_name(state)
    if facts is None:
        return (
            "You have no provider profile in the directory, so your prescribing authority cannot be checked."
        )
    if directory_rules.is_prescriber_in(facts, state, on):
        return None
    spec = directory_rules.credential_spec(facts.credential)
    if spec is None:
        return f"{facts.credential!r} is not a credential Careweave knows."
    if spec.capabilities.get("prescribe") == "no":
        return f"{spec.code} clinicians do not prescribe (clinical-spec §3)."
    if directory_rules.authority_in_state(facts, state, on) is None:
        problems = "; ".join(directory_rules.authority_problems(facts, state, on))
        return f"No active licence in {name}, where the patient is located ({problems}). Care is delivered where the patient is (clinical-spec §4.1)."
    if directory_rules.capability_in_state(facts.credential, "prescribe", state) is not True:
        return f"{spec.code} prescriptive authority in {name} is not on record (clinical-spec §3)."
    return f"A compact privilege does not give prescriptive authority; a full {name} licence is needed (clinical-spec §3, §4.2)."


def controlled_problem(
    facts: directory_rules.ProviderFacts, state: str, on: date, schedule: str
) -> str | None:
    codes = DEA_CODES[schedule]
    if all(directory_rules.can_prescribe_controlled(facts, state, on, code) for code in codes):
        return None
    name = directory_rules.state_name(state)
    if directory_rules.capability_in_state(facts.credential, "controlled_substances", state) is not True:
        return (
            f"{facts.credential} scope in {name} does not include controlled substances (clinical-spec §3)."
        )
    regs = [r for r in facts.dea_registrations if r.state == state]
    if not regs:
        return f"No DEA registration for {name}, where the patient is located (clinical-spec §3, §4.3)."
    if not any(set(codes) <= r.schedules for r in regs):
        return f"The {name} DEA registration does not cover schedule {schedule}."
    if all(r.expires is None or r.expires < on for r in regs):
        return f"The {name} DEA registration is expired or has no expiry on record."
    return (
        f"Schedule {schedule} prescribing in {name} is restricted for {facts.credential} (clinical-spec §3)."
    )


def _deny(
    session: Session, actor: Actor, patient: Patient, reason: str, *, clock: Clock, code: str
) -> NotAuthorized:
    audit.record(
        session,
        actor,
        "prescription.denied",
        clock=clock,
        outcome="denied",
        patient_id=patient.id,
        details={"category": "medications", "reason_code": code, "state": patient.state},
    )
    return NotAuthorized(reason)


@dataclass(frozen=True, slots=True)
class Authority:
    rule: str
    details: dict[str, Any]


def authorize(
    session: Session,
    actor: Actor,
    patient: Patient,
    item: rules.FormularyItem,
    data: PrescriptionIn,
    today: date,
    *,
    clock: Clock,
    telemedicine: bool = True,
) -> Authority:
    """The rule that authorises this prescriber to prescribe ``item`` for the patient today, or NotAuthorized
    (403, audited as "prescription.denied") with the reason."""
    if not patient.state:
        raise _deny(
            session,
            actor,
            patient,
            "The patient's state (where they are located) is not on record, so prescribing authority cannot be checked.",
            clock=clock,
            code="no_patient_state",
        )
    assert actor.user_id is not None
    facts = provider_facts(session, actor.user_id, today)
    if problem := prescriber_problem(facts, patient.state, today):
        raise _deny(session, actor, patient, problem, clock=clock, code="not_prescriber")
    assert facts is not None
    details: dict[str, Any] = {
        "credential": facts.credential,
        "state": patient.state,
        "on": today.isoformat(),
    }
    if not item.controlled:
        return Authority("non_controlled", details)
    assert item.schedule is not None
    if problem := controlled_problem(facts, patient.state, today, item.schedule):
        raise _deny(session, actor, patient, problem, clock=clock, code="no_dea")
    if not telemedicine:
        return Authority("controlled_change", {**details, "schedule": item.schedule})
    first, prior = _prior_supply(session, patient.id, item)
    auth = rules.telemedicine_authorization(
        rules.ControlledRequest(
            item=item,
            on=today,
            modality=data.modality,
            in_person_evaluated_on=data.in_person_evaluated_on,
            pdmp_reviewed_at=data.pdmp_reviewed_at,
            pdmp_unavailable=data.pdmp_unavailable,
            days_supply=data.days_supply,
            refills=data.refills,
            first_start=first,
            prior_days=prior,
        )
    )
    if not auth.allowed:
        raise _deny(session, actor, patient, auth.reason, clock=clock, code=auth.rule or "telemedicine")
    assert auth.rule is not None
    return Authority(
        auth.rule, {**details, "schedule": item.schedule, "rule_title": auth.reason, **auth.details}
    )


def _prior_supply(
    session: Session, patient_id: uuid.UUID, item: rules.FormularyItem
) -> tuple[date | None, int]:
    """First start and total days' supply of earlier signed prescriptions of the same drug under the
    buprenorphine rule (its 6-month initial-supply limit, spec §4.3)."""
    rows = list(
        session.scalars(
            select(Prescription).where(
                Prescription.patient_id == patient_id,
                Prescription.formulary_code == item.code,
                Prescription.authority_rule == "buprenorphine_telemedicine_2025",
                Prescription.status != "draft",
            )
        )
    )
    if not rows:
        return None, 0
    return min(r.started_on for r in rows), sum(r.days_supply * (1 + r.refills) for r in rows)
