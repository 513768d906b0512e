"""Medication management use cases (issue #7): formulary, the patient's medication facts and reconciliation,
prescribing with its authority and safety checks, signing and sending through a pharmacy adapter, stopping,
dose changes, tapers and refill requests.

Access follows records.service: the one policy decides (care team, consent category "medications"), refusals
are audited, and every change is audited under "medication.*" / "prescription.*" / "formulary.*".
Prescribing authority is decided here, in the service, from the clinician's directory facts in the **patient's**
state on the day (directory.rules.is_prescriber_in / can_prescribe_controlled, spec §3) and the telemedicine
rule in force (medications.rules, spec §4.3). The checks before signing are pure (medications.rules); if their
data cannot be loaded, prescribing is refused (503), never left unchecked (docs/adr/0010).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import CLINICAL_ROLES, Actor, Role
from careweave.core.clock import Clock
from careweave.core.errors import Conflict, DomainError, FieldError, InvalidInput, NotFound, PolicyDenied
from careweave.directory import matching as directory_matching
from careweave.directory import repository as directory_repo
from careweave.directory import rules as directory_rules
from careweave.identity.models import User
from careweave.medications import pharmacy, rules
from careweave.medications.models import (
    Allergy,
    FormularyEntry,
    MedicationProfile,
    OutsideMedication,
    PharmacyOutbox,
    Prescription,
    PrescriptionFinding,
    Reconciliation,
    RefillRequest,
    Taper,
)
from careweave.patients import service as patients
from careweave.patients.models import Patient

ACTIVE = ("signed", "sent", "active")
ENDED = ("completed", "stopped")
PRESCRIBER_ROLES = frozenset({Role.PSYCHIATRIST})
# The directory stores DEA registrations by DEA schedule code (2, 2N, 3, 3N, 4, 5: N = non-narcotic). The
# formulary does not record narcotic status (the spec does not give it), so a schedule needs both codes: strict,
# never allowing what a registration might not cover (docs/medications.md).
DEA_CODES: dict[str, tuple[str, ...]] = {
    "C-II": ("2", "2N"),
    "C-III": ("3", "3N"),
    "C-IV": ("4",),
    "C-V": ("5",),
}


# ------------------------------------------------------------------ errors


class PrescribingUnavailable(DomainError):
    """The safety-check data could not be loaded: prescribing is refused rather than left unchecked."""

    code, status = "medications.checks_unavailable", 503


class NotAuthorized(PolicyDenied):
    """No prescribing authority (credential, licence in the patient's state, DEA, telemedicine rule)."""

    code = "medications.no_authority"
    keep_changes = True  # the audit row of the refusal is kept


class FindingsError(DomainError):
    findings: Sequence[rules.Finding] = ()

    def __init__(
        self, message: str, findings: Sequence[rules.Finding], *, fields: list[FieldError] | None = None
    ):
        super().__init__(message, fields=fields)
        self.findings = tuple(findings)


class Contraindicated(FindingsError):
    code, status = "medications.contraindicated", 409
    keep_changes = True


class OverrideRequired(FindingsError):
    code, status = "medications.override_required", 422
    keep_changes = True


class BadTransition(Conflict):
    code = "medications.bad_status"


# ------------------------------------------------------------------ inputs


@dataclass(frozen=True, slots=True)
class SigIn:
    dose: float
    unit: str
    route: str
    frequency: str


@dataclass(frozen=True, slots=True)
class PrescriptionIn:
    patient_id: uuid.UUID
    medication: str
    strength: str
    sig: SigIn
    quantity: float
    refills: int
    days_supply: int
    form: str | None = None
    pharmacy: str | None = None
    started_on: date | None = None
    override_reasons: Mapping[str, str] = field(default_factory=dict)
    modality: str = "audio_video"
    in_person_evaluated_on: date | None = None
    pdmp_reviewed_at: datetime | None = None
    pdmp_unavailable: bool = False


# ------------------------------------------------------------------ formulary


def formulary(session: Session) -> rules.Formulary:
    """The packaged formulary plus the entries administrators added (raises CheckDataUnavailable if broken)."""
    base = rules.packaged_formulary()
    extra = [
        rules.parse_item(row.data, where=f"formulary entry {row.code}", origin="admin")
        for row in session.scalars(select(FormularyEntry).order_by(FormularyEntry.code))
    ]
    return base.with_items(extra)


def _formulary_or_refuse(session: Session) -> tuple[rules.Formulary, rules.CheckRules]:
    try:
        return formulary(session), rules.load_check_rules()
    except rules.CheckDataUnavailable as exc:
        raise PrescribingUnavailable(
            "Prescribing is unavailable: the medication safety-check data could not be loaded "
            f"({exc}). Nothing was prescribed; contact the administrator."
        ) from exc


def list_formulary(session: Session, actor: Actor) -> list[rules.FormularyItem]:
    if actor.role is None and not actor.is_system:
        raise PolicyDenied("You do not have permission to do this.")
    return sorted(formulary(session).items.values(), key=lambda i: (i.drug_class, i.code))


def add_formulary_entry(
    session: Session, actor: Actor, data: dict[str, Any], *, clock: Clock
) -> rules.FormularyItem:
    """An administrator adds an entry (never replaces a packaged one). Same fields as data/formulary.json."""
    if actor.role is not Role.ADMIN:
        raise PolicyDenied("Only administrators can add formulary entries.")
    data = {**data, "code": str(data.get("code", "")).strip().lower()}
    errors = []
    if not data["code"] or not data["code"].replace("_", "").isalnum():
        errors.append(FieldError("code", "use letters, digits and underscores"))
    try:
        item = rules.parse_item(data, origin="admin")
    except rules.CheckDataUnavailable as exc:
        raise InvalidInput(
            "The formulary entry is not valid.", fields=[*errors, FieldError("body", str(exc))]
        ) from exc
    known = formulary(session)
    if known.get(item.code) is not None:
        errors.append(FieldError("code", "already in the formulary"))
    if item.rxcui and known.get(item.rxcui) is not None:
        errors.append(FieldError("rxcui", "already in the formulary"))
    if item.boxed_warnings and (unknown := [w for w in item.boxed_warnings if w not in known.boxed_warnings]):
        errors.append(FieldError("boxed_warnings", f"unknown: {', '.join(unknown)}"))
    if not item.sources:
        errors.append(FieldError("sources", "cite at least one source"))
    if errors:
        raise InvalidInput("The formulary entry is not valid.", fields=errors)
    row = FormularyEntry(
        code=item.code,
        ingredient=item.ingredient,
        rxcui=item.rxcui,
        rxcui_status=item.rxcui_status,
        drug_class=item.drug_class,
        schedule=item.schedule,
        data=data,
        added_by=actor.user_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "formulary.entry_added",
        clock=clock,
        entity_type="formulary_entry",
        entity_id=row.id,
        details={"code": item.code, "schedule": item.schedule},
    )
    return item


# ------------------------------------------------------------------ access


def _today(patient: Patient, clock: Clock) -> date:
    try:
        return clock.now().astimezone(ZoneInfo(patient.timezone or "UTC")).date()
    except (KeyError, ValueError):
        return clock.now().date()


def _refuse(
    session: Session,
    actor: Actor,
    verdict: policy.Verdict,
    ref: policy.PatientRef,
    *,
    clock: Clock,
    event: str,
) -> Exception:
    audit.record(
        session,
        actor,
        event,
        clock=clock,
        outcome="denied",
        patient_id=ref.patient_id,
        details={"category": "medications", "on_team": verdict.on_team},
    )
    return policy.refusal(verdict, ref, recorded=True)


def _authored(session: Session, actor: Actor, patient_id: uuid.UUID) -> bool:
    if actor.user_id is None:
        return False
    return (
        session.scalar(
            select(Prescription.id)
            .where(Prescription.patient_id == patient_id, Prescription.prescriber_user_id == actor.user_id)
            .limit(1)
        )
        is not None
    )


def read_verdict(session: Session, actor: Actor, ref: policy.PatientRef) -> policy.Verdict:
    """MEDICATION_READ (consent category "medications"); a prescriber who wrote a prescription for this patient
    keeps seeing the list while on the team, as the author of a plan version does (records.service)."""
    verdict = policy.decide(actor, policy.Action.MEDICATION_READ, ref)
    if verdict.allowed or actor.role is Role.ADMIN or not _authored(session, actor, ref.patient_id):
        return verdict
    return policy.category_verdict(actor, ref, "medications", author_user_id=actor.user_id)


def _require_read(
    session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock
) -> tuple[Patient, policy.PatientRef]:
    patient, ref = patients.get_patient_ref(session, patient_id)
    verdict = read_verdict(session, actor, ref)
    if not verdict.allowed:
        raise _refuse(session, actor, verdict, ref, clock=clock, event="medication.list_denied")
    return patient, ref


def _require_team(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    *,
    clock: Clock,
    roles: frozenset[Role],
    event: str,
    patient_self: bool = False,
) -> tuple[Patient, policy.PatientRef]:
    """Writes: the patient themself (when allowed), or a clinician of ``roles`` on the care team."""
    patient, ref = patients.get_patient_ref(session, patient_id)
    if actor.role is Role.PATIENT:
        if patient_self and actor.patient_id == patient.id:
            return patient, ref
        raise NotFound("No such patient.")
    if actor.role not in roles:
        if actor.role in CLINICAL_ROLES and policy.category_verdict(actor, ref, None).allowed:
            raise PolicyDenied(_role_refusal(actor))
        raise NotFound("No such patient.")
    verdict = policy.category_verdict(actor, ref, None)
    if not verdict.allowed:
        raise _refuse(session, actor, verdict, ref, clock=clock, event=event)
    return patient, ref


def _role_refusal(actor: Actor) -> str:
    if actor.role is Role.THERAPIST:
        return (
            "Therapists cannot prescribe or change medications: prescribing needs a prescribing credential "
            "(MD, DO, NP/APRN, PA or a certified prescribing psychologist) licensed in the patient's state "
            "(clinical-spec §3)."
        )
    return "Only prescribers can do this."


# ------------------------------------------------------------------ prescribing authority (spec §3, §4.3)


def provider_facts(session: Session, user_id: uuid.UUID, on: date) -> directory_rules.ProviderFacts | None:
    """The clinician's directory facts on ``on`` (licences, DEA registrations, RxP certificates), loaded the way
    matching and booking load them."""
    provider = directory_repo.provider_by_user(session, user_id)
    if provider is None:
        return None
    facts = directory_matching._facts(session, [provider.id], on)
    return facts[0] if facts else None


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


# ------------------------------------------------------------------ medication list


@dataclass(frozen=True, slots=True)
class MedicationList:
    patient: Patient
    prescriptions: list[Prescription]
    outside: list[OutsideMedication]
    allergies: list[Allergy]
    profile: MedicationProfile | None
    reconciliations: list[Reconciliation]
    tapers: dict[uuid.UUID, Taper]
    names: dict[str, str]


def _prescriptions(session: Session, patient_id: uuid.UUID) -> list[Prescription]:
    return list(
        session.scalars(
            select(Prescription)
            .where(Prescription.patient_id == patient_id)
            .order_by(Prescription.created_at.desc())
        )
    )


def _outside(session: Session, patient_id: uuid.UUID) -> list[OutsideMedication]:
    return list(
        session.scalars(
            select(OutsideMedication)
            .where(OutsideMedication.patient_id == patient_id)
            .order_by(OutsideMedication.created_at.desc())
        )
    )


def _allergies(session: Session, patient_id: uuid.UUID) -> list[Allergy]:
    return list(
        session.scalars(
            select(Allergy)
            .where(Allergy.patient_id == patient_id, Allergy.status == "active")
            .order_by(Allergy.created_at)
        )
    )


def _profile(session: Session, patient_id: uuid.UUID) -> MedicationProfile | None:
    return session.scalar(select(MedicationProfile).where(MedicationProfile.patient_id == patient_id))


def _active_tapers(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, Taper]:
    if not ids:
        return {}
    rows = session.scalars(
        select(Taper)
        .where(Taper.prescription_id.in_(ids), Taper.status == "active")
        .order_by(Taper.created_at)
    )
    return {t.prescription_id: t for t in rows}


def _names(session: Session, ids: set[uuid.UUID | None]) -> dict[str, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return {str(u.id): u.full_name for u in session.scalars(select(User).where(User.id.in_(wanted)))}


def medication_list(session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock) -> MedicationList:
    patient, _ref = _require_read(session, actor, patient_id, clock=clock)
    rxs = [
        p
        for p in _prescriptions(session, patient.id)
        if p.status != "draft" or p.prescriber_user_id == actor.user_id
    ]
    outside = _outside(session, patient.id)
    recs = list(
        session.scalars(
            select(Reconciliation)
            .where(Reconciliation.patient_id == patient.id)
            .order_by(Reconciliation.performed_at.desc())
        )
    )
    allergies = _allergies(session, patient.id)
    names = _names(
        session,
        {p.prescriber_user_id for p in rxs}
        | {r.performed_by for r in recs}
        | {o.reported_by for o in outside},
    )
    audit.record(
        session,
        actor,
        "medication.list_viewed",
        clock=clock,
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
        details={"category": "medications"},
    )
    return MedicationList(
        patient,
        rxs,
        outside,
        allergies,
        _profile(session, patient.id),
        recs,
        _active_tapers(session, [p.id for p in rxs]),
        names,
    )


def med_items(
    session: Session, patient_id: uuid.UUID, form: rules.Formulary, *, exclude: uuid.UUID | None = None
) -> list[rules.MedItem]:
    """The whole list the checks see (never filtered by what the prescriber may read: safety first)."""
    items = []
    for p in _prescriptions(session, patient_id):
        if p.id == exclude or p.status == "draft":
            continue
        items.append(
            rules.MedItem(
                name=p.ingredient,
                item=form.get(p.formulary_code),
                active=p.status in ACTIVE,
                stopped_on=p.ended_on,
                source="prescription",
                ref=str(p.id),
            )
        )
    for o in _outside(session, patient_id):
        items.append(
            rules.MedItem(
                name=o.name,
                item=form.get(o.formulary_code),
                active=o.status == "active",
                stopped_on=o.stopped_on,
                source="outside",
                ref=str(o.id),
            )
        )
    return items


def patient_facts(session: Session, patient: Patient, on: date) -> rules.PatientFacts:
    profile = _profile(session, patient.id)
    return rules.PatientFacts(
        age=rules.age_on(patient.birth_date, on),
        pregnancy_status=profile.pregnancy_status if profile else "unknown",
        breastfeeding=profile.breastfeeding if profile else None,
        hla_b_1502=profile.hla_b_1502 if profile else None,
        allergies=tuple(
            rules.AllergyFact(a.substance, a.formulary_code, a.drug_class, a.kind, a.reaction)
            for a in _allergies(session, patient.id)
        ),
    )


# ------------------------------------------------------------------ outside medications, allergies, profile

FACT_WRITERS = frozenset(CLINICAL_ROLES)


def _code_or_none(form: rules.Formulary, code: str | None, field_name: str) -> str | None:
    if not code:
        return None
    item = form.get(code)
    if item is None:
        raise InvalidInput("Unknown medication.", fields=[FieldError(field_name, "not in the formulary")])
    return item.code


def add_outside_medication(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    *,
    name: str,
    formulary_code: str | None = None,
    dose_text: str | None = None,
    started_on: date | None = None,
    clock: Clock,
) -> OutsideMedication:
    patient, _ = _require_team(
        session,
        actor,
        patient_id,
        clock=clock,
        roles=FACT_WRITERS,
        event="medication.write_denied",
        patient_self=True,
    )
    name = name.strip()
    if not name:
        raise InvalidInput("Name the medication.", fields=[FieldError("name", "required")])
    code = _code_or_none(formulary(session), formulary_code, "formulary_code")
    row = OutsideMedication(
        patient_id=patient.id,
        name=name[:200],
        formulary_code=code,
        dose_text=(dose_text or None),
        started_on=started_on,
        status="active",
        reported_by=actor.user_id,
        reported_by_role="patient" if actor.role is Role.PATIENT else "clinician",
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "medication.outside_added",
        clock=clock,
        entity_type="outside_medication",
        entity_id=row.id,
        patient_id=patient.id,
        details={"category": "medications", "formulary_code": code},
    )
    return row


def add_allergy(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    *,
    substance: str,
    formulary_code: str | None = None,
    drug_class: str | None = None,
    kind: str = "allergy",
    reaction: str | None = None,
    clock: Clock,
) -> Allergy:
    patient, _ = _require_team(
        session,
        actor,
        patient_id,
        clock=clock,
        roles=FACT_WRITERS,
        event="medication.write_denied",
        patient_self=True,
    )
    errors = []
    if not substance.strip():
        errors.append(FieldError("substance", "required"))
    if kind not in ("allergy", "intolerance"):
        errors.append(FieldError("kind", "allergy or intolerance"))
    if drug_class and drug_class not in rules.CLASS_LABELS:
        errors.append(FieldError("drug_class", "unknown class"))
    if errors:
        raise InvalidInput("The allergy is not valid.", fields=errors)
    form = formulary(session)
    code = _code_or_none(form, formulary_code, "formulary_code")
    if code is None and drug_class is None:
        match = form.get(substance.strip().lower().replace(" ", "_"))
        code = match.code if match else None
    row = Allergy(
        patient_id=patient.id,
        substance=substance.strip()[:200],
        formulary_code=code,
        drug_class=drug_class or None,
        kind=kind,
        reaction=reaction or None,
        recorded_by=actor.user_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "medication.allergy_added",
        clock=clock,
        entity_type="medication_allergy",
        entity_id=row.id,
        patient_id=patient.id,
        details={"category": "medications", "kind": kind},
    )
    return row


def set_profile(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    *,
    pregnancy_status: str | None = None,
    breastfeeding: bool | None = None,
    hla_b_1502: str | None = None,
    clock: Clock,
) -> MedicationProfile:
    patient, _ = _require_team(
        session,
        actor,
        patient_id,
        clock=clock,
        roles=FACT_WRITERS,
        event="medication.write_denied",
        patient_self=True,
    )
    errors = []
    if pregnancy_status is not None and pregnancy_status not in (
        "unknown",
        "not_pregnant",
        "pregnant",
        "not_applicable",
    ):
        errors.append(FieldError("pregnancy_status", "unknown, not_pregnant, pregnant or not_applicable"))
    if hla_b_1502 is not None and hla_b_1502 not in ("positive", "negative", ""):
        errors.append(FieldError("hla_b_1502", "positive or negative"))
    if errors:
        raise InvalidInput("The medication profile is not valid.", fields=errors)
    profile = _profile(session, patient.id)
    if profile is None:
        profile = MedicationProfile(patient_id=patient.id)
        session.add(profile)
    if pregnancy_status is not None:
        profile.pregnancy_status = pregnancy_status
    if breastfeeding is not None:
        profile.breastfeeding = breastfeeding
    if hla_b_1502 is not None:
        profile.hla_b_1502 = hla_b_1502 or None
    profile.updated_by = actor.user_id
    session.flush()
    audit.record(
        session,
        actor,
        "medication.profile_updated",
        clock=clock,
        entity_type="medication_profile",
        entity_id=profile.id,
        patient_id=patient.id,
        details={"category": "medications"},
    )
    return profile


# ------------------------------------------------------------------ prescribing


def _validate_rx(
    data: PrescriptionIn, form: rules.Formulary, check_rules: rules.CheckRules
) -> rules.FormularyItem:
    errors = []
    item = form.get(data.medication)
    if item is None:
        errors.append(FieldError("medication", "not a formulary code or RXCUI in the formulary"))
    if not data.strength.strip():
        errors.append(FieldError("strength", "required"))
    if data.sig.dose <= 0:
        errors.append(FieldError("sig.dose", "must be greater than 0"))
    if not data.sig.unit.strip():
        errors.append(FieldError("sig.unit", "required"))
    if not data.sig.route.strip():
        errors.append(FieldError("sig.route", "required"))
    if rules.doses_per_day(data.sig.frequency, check_rules) is None:
        errors.append(FieldError("sig.frequency", f"one of {', '.join(sorted(check_rules.frequencies))}"))
    if data.quantity <= 0:
        errors.append(FieldError("quantity", "must be greater than 0"))
    if data.refills < 0 or data.refills > 11:
        errors.append(FieldError("refills", "between 0 and 11"))
    if data.days_supply < 1 or data.days_supply > 365:
        errors.append(FieldError("days_supply", "between 1 and 365"))
    if data.modality not in rules.MODALITIES:
        errors.append(FieldError("modality", f"one of {', '.join(rules.MODALITIES)}"))
    if errors:
        raise InvalidInput("The prescription is not valid.", fields=errors)
    assert item is not None
    if item.controlled and data.refills > 0 and item.schedule == "C-II":
        raise InvalidInput(
            "Schedule II prescriptions cannot be refilled.",
            fields=[FieldError("refills", "must be 0 for C-II")],
        )
    return item


@dataclass(frozen=True, slots=True)
class Authority:
    rule: str
    details: dict[str, Any]


def _authority(
    session: Session,
    actor: Actor,
    patient: Patient,
    item: rules.FormularyItem,
    data: PrescriptionIn,
    today: date,
    *,
    clock: Clock,
) -> Authority:
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


def _finding_dicts(findings: Sequence[rules.Finding]) -> list[dict[str, str]]:
    return [
        {"code": f.code, "severity": f.severity, "message": f.message, "source": f.source} for f in findings
    ]


def preview_findings(
    session: Session, actor: Actor, data: PrescriptionIn, *, clock: Clock
) -> list[rules.Finding]:
    """The checks for a proposed prescription without creating it (the page shows them before submitting)."""
    form, check_rules = _formulary_or_refuse(session)
    patient, _ = _require_team(
        session, actor, data.patient_id, clock=clock, roles=PRESCRIBER_ROLES, event="prescription.denied"
    )
    item = _validate_rx(data, form, check_rules)
    today = _today(patient, clock)
    proposed = rules.Proposed(
        item, data.sig.dose, data.sig.unit, data.sig.frequency, data.started_on or today
    )
    return rules.run_checks(
        proposed,
        med_items(session, patient.id, form),
        patient_facts(session, patient, today),
        form,
        check_rules,
    )


def create_prescription(
    session: Session, actor: Actor, data: PrescriptionIn, *, clock: Clock
) -> tuple[Prescription, list[rules.Finding]]:
    """A draft prescription, after authority (403) and the checks: contraindicated -> 409, a major finding
    without an override reason -> 422. Every finding and override is stored with it and audited."""
    form, check_rules = _formulary_or_refuse(session)
    patient, _ = _require_team(
        session, actor, data.patient_id, clock=clock, roles=PRESCRIBER_ROLES, event="prescription.denied"
    )
    item = _validate_rx(data, form, check_rules)
    today = _today(patient, clock)
    start = data.started_on or today
    if start < today:
        raise InvalidInput(
            "The start date is in the past.", fields=[FieldError("started_on", "today or later")]
        )
    authority = _authority(session, actor, patient, item, data, today, clock=clock)
    proposed = rules.Proposed(item, data.sig.dose, data.sig.unit, data.sig.frequency, start)
    findings = rules.run_checks(
        proposed,
        med_items(session, patient.id, form),
        patient_facts(session, patient, today),
        form,
        check_rules,
    )
    verdict = rules.gate(findings, data.override_reasons)
    codes = [f.code for f in findings]
    if verdict.blocked:
        audit.record(
            session,
            actor,
            "prescription.blocked",
            clock=clock,
            outcome="denied",
            patient_id=patient.id,
            details={"category": "medications", "medication": item.code, "findings": codes},
        )
        raise Contraindicated("Not prescribed: " + " ".join(f.message for f in verdict.blocked), findings)
    if verdict.missing_overrides:
        audit.record(
            session,
            actor,
            "prescription.override_required",
            clock=clock,
            outcome="denied",
            patient_id=patient.id,
            details={"category": "medications", "medication": item.code, "findings": codes},
        )
        raise OverrideRequired(
            "A reason is needed to override: " + "; ".join(f.code for f in verdict.missing_overrides) + ".",
            findings,
            fields=[FieldError(f"override_reasons.{f.code}", f.message) for f in verdict.missing_overrides],
        )
    rx = Prescription(
        patient_id=patient.id,
        prescriber_user_id=actor.user_id,
        formulary_code=item.code,
        rxcui=item.rxcui,
        ingredient=item.ingredient,
        drug_class=item.drug_class,
        schedule=item.schedule,
        strength=data.strength.strip(),
        form=data.form or (item.forms[0] if len(item.forms) == 1 else None),
        dose=data.sig.dose,
        dose_unit=data.sig.unit.strip(),
        route=data.sig.route.strip(),
        frequency=data.sig.frequency,
        doses_per_day=rules.doses_per_day(data.sig.frequency, check_rules),
        quantity=data.quantity,
        refills=data.refills,
        days_supply=data.days_supply,
        pharmacy=data.pharmacy or None,
        started_on=start,
        status="draft",
        patient_state=patient.state or "",
        authority_rule=authority.rule,
        authority=authority.details,
        modality=data.modality if item.controlled else None,
        pdmp_reviewed_at=data.pdmp_reviewed_at,
        pdmp_unavailable=data.pdmp_unavailable,
    )
    session.add(rx)
    session.flush()
    overridden = []
    for f in findings:
        reason = (data.override_reasons.get(f.code) or "").strip() or None
        if reason and f.severity == "major":
            overridden.append(f.code)
        session.add(
            PrescriptionFinding(
                prescription_id=rx.id,
                code=f.code,
                severity=f.severity,
                message=f.message,
                source=f.source,
                override_reason=reason if f.severity == "major" else None,
                overridden_by=actor.user_id if reason and f.severity == "major" else None,
            )
        )
    session.flush()
    audit.record(
        session,
        actor,
        "prescription.created",
        clock=clock,
        entity_type="prescription",
        entity_id=rx.id,
        patient_id=patient.id,
        details={
            "category": "medications",
            "medication": item.code,
            "schedule": item.schedule,
            "authority_rule": authority.rule,
            "findings": codes,
            "overridden": overridden,
        },
    )
    return rx, findings


def _load_rx(session: Session, rx_id: uuid.UUID) -> Prescription:
    rx = session.get(Prescription, rx_id)
    if rx is None:
        raise NotFound("No such prescription.")
    return rx


def get_prescription(session: Session, actor: Actor, rx_id: uuid.UUID, *, clock: Clock) -> Prescription:
    rx = _load_rx(session, rx_id)
    if rx.status == "draft" and rx.prescriber_user_id != actor.user_id:
        raise NotFound("No such prescription.")
    _require_read(session, actor, rx.patient_id, clock=clock)
    return rx


def findings_of(session: Session, rx_id: uuid.UUID) -> list[PrescriptionFinding]:
    return sorted(
        session.scalars(select(PrescriptionFinding).where(PrescriptionFinding.prescription_id == rx_id)),
        key=lambda f: (rules.SEVERITY_RANK.get(f.severity, 9), f.code),  # type: ignore[call-overload]
    )


def list_prescriptions(
    session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock
) -> list[Prescription]:
    patient, _ = _require_read(session, actor, patient_id, clock=clock)
    return [
        p
        for p in _prescriptions(session, patient.id)
        if p.status != "draft" or p.prescriber_user_id == actor.user_id
    ]


def _own_rx(
    session: Session, actor: Actor, rx_id: uuid.UUID, *, clock: Clock, any_prescriber: bool = False
) -> tuple[Prescription, Patient]:
    rx = _load_rx(session, rx_id)
    patient, _ = _require_team(
        session, actor, rx.patient_id, clock=clock, roles=PRESCRIBER_ROLES, event="prescription.denied"
    )
    if not any_prescriber and rx.prescriber_user_id != actor.user_id:
        raise PolicyDenied("Only the prescriber who wrote this prescription can do this.")
    return rx, patient


def _document(
    session: Session, rx: Prescription, patient: Patient, kind: str
) -> pharmacy.PrescriptionDocument:
    provider = directory_repo.provider_by_user(session, rx.prescriber_user_id)
    user = session.get(User, rx.prescriber_user_id)
    sig = f"{rx.dose:g} {rx.dose_unit} {rx.route} {rx.frequency.replace('_', ' ')}"
    notes = []
    if rx.schedule:
        notes.append(f"Authorised under: {rx.authority.get('rule_title', rx.authority_rule)}")
        if rx.pdmp_reviewed_at:
            notes.append(f"PDMP reviewed {rx.pdmp_reviewed_at.isoformat(timespec='minutes')}")
        if rx.pdmp_unavailable:
            notes.append("PDMP unavailable (attempt documented): at most a 7-day supply")
    return pharmacy.PrescriptionDocument(
        prescription_id=str(rx.id),
        kind=kind,
        patient_name=f"{patient.given_name} {patient.family_name}".strip() or "Patient",
        patient_birth_date=patient.birth_date,
        patient_state=rx.patient_state,
        prescriber_name=(user.full_name if user else "") or (provider.name if provider else "Prescriber"),
        prescriber_credential=provider.credential if provider else None,
        prescriber_npi=provider.npi if provider else None,
        dea_schedule=rx.schedule,
        drug=rx.ingredient,
        rxcui=rx.rxcui,
        strength=rx.strength,
        form=rx.form,
        sig=sig,
        quantity=rx.quantity,
        refills=rx.refills,
        days_supply=rx.days_supply,
        pharmacy=rx.pharmacy,
        started_on=rx.started_on,
        signed_at=rx.signed_at,
        notes=tuple(notes),
    )


def _send(
    session: Session,
    actor: Actor,
    rx: Prescription,
    patient: Patient,
    kind: str,
    *,
    clock: Clock,
    adapter: pharmacy.PharmacyAdapter | None,
) -> PharmacyOutbox:
    adapter = adapter or pharmacy.default_adapter()
    result = adapter.send(_document(session, rx, patient, kind))
    row = PharmacyOutbox(
        prescription_id=rx.id,
        adapter=adapter.name,
        status=result.status,
        external_id=result.external_id,
        html=result.html,
        pdf=result.pdf,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "prescription.sent",
        clock=clock,
        entity_type="prescription",
        entity_id=rx.id,
        patient_id=rx.patient_id,
        details={"category": "medications", "adapter": adapter.name, "kind": kind, "status": result.status},
    )
    return row


def sign_prescription(
    session: Session,
    actor: Actor,
    rx_id: uuid.UUID,
    *,
    clock: Clock,
    adapter: pharmacy.PharmacyAdapter | None = None,
) -> Prescription:
    """draft -> signed -> sent (the adapter) -> active (when the adapter reports delivery). Authority and the
    checks are run again on the day of signing (the list may have changed since the draft)."""
    rx, patient = _own_rx(session, actor, rx_id, clock=clock)
    if rx.status != "draft":
        raise BadTransition(f"This prescription is {rx.status}; only a draft can be signed.")
    form, check_rules = _formulary_or_refuse(session)
    item = form.get(rx.formulary_code)
    if item is None:
        raise PrescribingUnavailable("The prescription's medication is no longer in the formulary.")
    today = _today(patient, clock)
    data = PrescriptionIn(
        patient_id=patient.id,
        medication=rx.formulary_code,
        strength=rx.strength,
        sig=SigIn(rx.dose, rx.dose_unit, rx.route, rx.frequency),
        quantity=rx.quantity,
        refills=rx.refills,
        days_supply=rx.days_supply,
        modality=rx.modality or "audio_video",
        in_person_evaluated_on=date.fromisoformat(rx.authority["in_person_evaluated_on"])
        if rx.authority.get("in_person_evaluated_on")
        else None,
        pdmp_reviewed_at=rx.pdmp_reviewed_at,
        pdmp_unavailable=rx.pdmp_unavailable,
    )
    _authority(session, actor, patient, item, data, today, clock=clock)
    stored = {f.code: f for f in findings_of(session, rx.id)}
    findings = rules.run_checks(
        rules.Proposed(item, rx.dose, rx.dose_unit, rx.frequency, max(rx.started_on, today)),
        med_items(session, patient.id, form, exclude=rx.id),
        patient_facts(session, patient, today),
        form,
        check_rules,
    )
    verdict = rules.gate(findings, {c: f.override_reason or "" for c, f in stored.items()})
    if verdict.blocked:
        raise Contraindicated("Not signed: " + " ".join(f.message for f in verdict.blocked), findings)
    if verdict.missing_overrides:
        raise OverrideRequired(
            "New findings since the draft need an override: start a new prescription.",
            findings,
            fields=[FieldError(f"override_reasons.{f.code}", f.message) for f in verdict.missing_overrides],
        )
    for f in findings:
        if f.code not in stored:
            session.add(
                PrescriptionFinding(
                    prescription_id=rx.id,
                    code=f.code,
                    severity=f.severity,
                    message=f.message,
                    source=f.source,
                )
            )
    rx.status = "signed"
    rx.signed_at = clock.now()
    session.flush()
    audit.record(
        session,
        actor,
        "prescription.signed",
        clock=clock,
        entity_type="prescription",
        entity_id=rx.id,
        patient_id=rx.patient_id,
        details={"category": "medications", "authority_rule": rx.authority_rule},
    )
    outbox = _send(session, actor, rx, patient, "new", clock=clock, adapter=adapter)
    rx.status = "sent"
    rx.sent_at = clock.now()
    if outbox.status == "delivered":
        activate(session, actor, rx, clock=clock, item=item)
    session.flush()
    return rx


def activate(
    session: Session, actor: Actor, rx: Prescription, *, clock: Clock, item: rules.FormularyItem | None = None
) -> None:
    """sent -> active (the pharmacy has it); starts the monitoring protocols of the drug (labs)."""
    if rx.status != "sent":
        raise BadTransition(f"This prescription is {rx.status}; only a sent one can become active.")
    rx.status = "active"
    rx.activated_at = clock.now()
    session.flush()
    audit.record(
        session,
        actor,
        "prescription.activated",
        clock=clock,
        entity_type="prescription",
        entity_id=rx.id,
        patient_id=rx.patient_id,
        details={"category": "medications"},
    )
    item = item or formulary(session).get(rx.formulary_code)
    for protocol in item.monitoring if item else ():
        labs_start_monitoring(session, rx, protocol, actor=actor)


def stop_prescription(
    session: Session, actor: Actor, rx_id: uuid.UUID, *, reason: str, clock: Clock
) -> Prescription:
    rx, patient = _own_rx(session, actor, rx_id, clock=clock, any_prescriber=True)
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Give a reason for stopping.", fields=[FieldError("reason", "required")])
    if rx.status in ENDED:
        raise BadTransition(f"This prescription is already {rx.status}.")
    rx.status_reason = reason[:1000]
    return _end(session, actor, rx, patient, "stopped", clock=clock)


def complete_prescription(session: Session, actor: Actor, rx_id: uuid.UUID, *, clock: Clock) -> Prescription:
    rx, patient = _own_rx(session, actor, rx_id, clock=clock, any_prescriber=True)
    if rx.status != "active":
        raise BadTransition(f"This prescription is {rx.status}; only an active one can be completed.")
    return _end(session, actor, rx, patient, "completed", clock=clock)


def _end(
    session: Session, actor: Actor, rx: Prescription, patient: Patient, status: str, *, clock: Clock
) -> Prescription:
    """Stopped or completed: who and when (the patient's calendar day), audited; its monitoring ends too."""
    rx.status = status
    rx.ended_at = clock.now()
    rx.ended_on = _today(patient, clock)
    rx.ended_by = actor.user_id
    session.flush()
    audit.record(
        session,
        actor,
        f"prescription.{status}",
        clock=clock,
        entity_type="prescription",
        entity_id=rx.id,
        patient_id=rx.patient_id,
        details={"category": "medications"},
    )
    labs_stop_monitoring(session, rx, actor=actor)
    return rx


def change_dose(
    session: Session,
    actor: Actor,
    rx_id: uuid.UUID,
    *,
    dose: float,
    unit: str,
    frequency: str,
    override_reasons: Mapping[str, str] | None = None,
    clock: Clock,
) -> tuple[Prescription, list[rules.Finding]]:
    """A dose change on an active prescription: the dose check again (major above range needs an override),
    then labs is told (lithium levels 1 week after every dose change, spec §6.4)."""
    rx, patient = _own_rx(session, actor, rx_id, clock=clock, any_prescriber=True)
    if rx.status != "active":
        raise BadTransition("Only an active prescription's dose can be changed.")
    form, check_rules = _formulary_or_refuse(session)
    item = form.get(rx.formulary_code)
    if item is None:
        raise PrescribingUnavailable("The prescription's medication is no longer in the formulary.")
    if dose <= 0 or rules.doses_per_day(frequency, check_rules) is None:
        raise InvalidInput(
            "The dose is not valid.", fields=[FieldError("dose" if dose <= 0 else "frequency", "invalid")]
        )
    today = _today(patient, clock)
    findings = rules.check_dose(rules.Proposed(item, dose, unit, frequency, today), check_rules)
    verdict = rules.gate(findings, override_reasons or {})
    if verdict.missing_overrides:
        raise OverrideRequired(
            "A reason is needed to override.",
            findings,
            fields=[FieldError(f"override_reasons.{f.code}", f.message) for f in verdict.missing_overrides],
        )
    for f in findings:
        reason = ((override_reasons or {}).get(f.code) or "").strip() or None
        session.add(
            PrescriptionFinding(
                prescription_id=rx.id,
                code=f.code,
                severity=f.severity,
                message=f.message,
                source=f.source,
                override_reason=reason,
                overridden_by=actor.user_id if reason else None,
            )
        )
    previous = {"dose": rx.dose, "unit": rx.dose_unit, "frequency": rx.frequency}
    rx.dose, rx.dose_unit, rx.frequency = dose, unit, frequency
    rx.doses_per_day = rules.doses_per_day(frequency, check_rules)
    session.flush()
    audit.record(
        session,
        actor,
        "prescription.dose_changed",
        clock=clock,
        entity_type="prescription",
        entity_id=rx.id,
        patient_id=rx.patient_id,
        details={"category": "medications", "previous": previous, "findings": [f.code for f in findings]},
    )
    if item.monitoring:
        labs_dose_changed(session, rx, today, actor=actor)
    return rx, findings


# ------------------------------------------------------------------ tapers


@dataclass(frozen=True, slots=True)
class TaperView:
    taper: Taper
    prescription: Prescription
    schedule: list[rules.ScheduledStep]
    today: date

    @property
    def current(self) -> rules.ScheduledStep | None:
        return rules.step_on(self.schedule, self.today)

    @property
    def upcoming(self) -> list[rules.ScheduledStep]:
        return rules.upcoming(self.schedule, self.today)


def _schedule(taper: Taper) -> list[rules.ScheduledStep]:
    return rules.taper_schedule(
        taper.start_date,
        [rules.TaperStep(float(s["dose"]), str(s["unit"]), int(s["days"])) for s in taper.steps],
    )


def create_taper(
    session: Session,
    actor: Actor,
    rx_id: uuid.UUID,
    steps: Sequence[rules.TaperStep],
    *,
    start: date | None = None,
    clock: Clock,
) -> TaperView:
    rx, patient = _own_rx(session, actor, rx_id, clock=clock, any_prescriber=True)
    if rx.status != "active":
        raise BadTransition("Only an active prescription can be tapered.")
    today = _today(patient, clock)
    start = start or today
    if start < today:
        raise InvalidInput(
            "The taper cannot start in the past.", fields=[FieldError("start_date", "today or later")]
        )
    try:
        schedule = rules.taper_schedule(start, steps)
    except ValueError as exc:
        raise InvalidInput(f"The taper is not valid: {exc}.", fields=[FieldError("steps", str(exc))]) from exc
    for old in session.scalars(select(Taper).where(Taper.prescription_id == rx.id, Taper.status == "active")):
        old.status = "replaced"
    taper = Taper(
        prescription_id=rx.id,
        start_date=start,
        steps=[{"dose": s.dose, "unit": s.unit, "days": s.days} for s in steps],
        status="active",
        created_by=actor.user_id,
    )
    session.add(taper)
    session.flush()
    audit.record(
        session,
        actor,
        "prescription.taper_created",
        clock=clock,
        entity_type="medication_taper",
        entity_id=taper.id,
        patient_id=rx.patient_id,
        details={"category": "medications", "steps": len(steps), "prescription_id": str(rx.id)},
    )
    item = formulary(session).get(rx.formulary_code)
    if item and item.monitoring:
        for step in schedule:
            labs_dose_changed(session, rx, step.start, actor=actor)
    return TaperView(taper, rx, schedule, today)


def tapers_for(session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock) -> list[TaperView]:
    """The active tapers of the patient's active prescriptions, as the reader may see them (therapists: with
    the patient's consent for medications)."""
    patient, _ = _require_read(session, actor, patient_id, clock=clock)
    today = _today(patient, clock)
    rxs = [p for p in _prescriptions(session, patient.id) if p.status in ACTIVE]
    tapers = _active_tapers(session, [p.id for p in rxs])
    by_id = {p.id: p for p in rxs}
    return [TaperView(t, by_id[pid], _schedule(t), today) for pid, t in tapers.items()]


# ------------------------------------------------------------------ refills


def request_refill(
    session: Session, actor: Actor, rx_id: uuid.UUID, *, note: str | None, clock: Clock
) -> RefillRequest:
    rx = _load_rx(session, rx_id)
    if actor.role is not Role.PATIENT or actor.patient_id != rx.patient_id:
        raise NotFound("No such prescription.")
    if rx.status != "active":
        raise BadTransition("Only an active medication can be refilled.")
    pending = session.scalar(
        select(RefillRequest).where(RefillRequest.prescription_id == rx.id, RefillRequest.status == "pending")
    )
    if pending is not None:
        raise Conflict("A refill request for this medication is already waiting for your prescriber.")
    row = RefillRequest(
        prescription_id=rx.id,
        patient_id=rx.patient_id,
        prescriber_user_id=rx.prescriber_user_id,
        requested_by=actor.user_id,
        note=(note or "").strip()[:1000] or None,
        status="pending",
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "prescription.refill_requested",
        clock=clock,
        entity_type="refill_request",
        entity_id=row.id,
        patient_id=rx.patient_id,
        details={"category": "medications", "prescription_id": str(rx.id)},
    )
    return row


@dataclass(frozen=True, slots=True)
class RefillRow:
    request: RefillRequest
    prescription: Prescription
    patient_name: str


def refill_queue(session: Session, actor: Actor, *, include_decided: bool = False) -> list[RefillRow]:
    if actor.role not in PRESCRIBER_ROLES:
        raise PolicyDenied(_role_refusal(actor))
    stmt = (
        select(RefillRequest, Prescription, Patient)
        .join(Prescription, Prescription.id == RefillRequest.prescription_id)
        .join(Patient, Patient.id == RefillRequest.patient_id)
        .where(RefillRequest.prescriber_user_id == actor.user_id)
    )
    if not include_decided:
        stmt = stmt.where(RefillRequest.status == "pending")
    rows = session.execute(stmt.order_by(RefillRequest.created_at)).all()
    return [RefillRow(r, p, f"{pt.given_name} {pt.family_name}".strip()) for r, p, pt in rows]


def decide_refill(
    session: Session,
    actor: Actor,
    request_id: uuid.UUID,
    *,
    approve: bool,
    note: str | None = None,
    clock: Clock,
    adapter: pharmacy.PharmacyAdapter | None = None,
) -> RefillRequest:
    req = session.get(RefillRequest, request_id)
    if req is None or req.prescriber_user_id != actor.user_id:
        raise NotFound("No such refill request.")
    if req.status != "pending":
        raise BadTransition(f"This request is already {req.status}.")
    rx, patient = _own_rx(session, actor, req.prescription_id, clock=clock)
    if approve:
        if rx.status != "active":
            raise BadTransition("The prescription is no longer active; write a new one.")
        if rx.schedule == "C-II":
            raise BadTransition("Schedule II prescriptions cannot be refilled; write a new prescription.")
        form, _check_rules = _formulary_or_refuse(session)
        item = form.get(rx.formulary_code)
        if item is not None:
            today = _today(patient, clock)
            data = PrescriptionIn(
                patient_id=patient.id,
                medication=rx.formulary_code,
                strength=rx.strength,
                sig=SigIn(rx.dose, rx.dose_unit, rx.route, rx.frequency),
                quantity=rx.quantity,
                refills=rx.refills + 1,
                days_supply=rx.days_supply,
                modality=rx.modality or "audio_video",
                in_person_evaluated_on=date.fromisoformat(rx.authority["in_person_evaluated_on"])
                if rx.authority.get("in_person_evaluated_on")
                else None,
                pdmp_reviewed_at=rx.pdmp_reviewed_at,
                pdmp_unavailable=rx.pdmp_unavailable,
            )
            _authority(session, actor, patient, item, data, today, clock=clock)
        rx.refills += 1
        _send(session, actor, rx, patient, "refill_authorization", clock=clock, adapter=adapter)
    req.status = "approved" if approve else "denied"
    req.decided_by = actor.user_id
    req.decided_at = clock.now()
    req.decision_note = (note or "").strip()[:1000] or None
    session.flush()
    audit.record(
        session,
        actor,
        f"prescription.refill_{req.status}",
        clock=clock,
        entity_type="refill_request",
        entity_id=req.id,
        patient_id=req.patient_id,
        details={"category": "medications", "prescription_id": str(rx.id)},
    )
    return req


def refill_requests_for_patient(session: Session, actor: Actor, patient_id: uuid.UUID) -> list[RefillRequest]:
    if actor.role is not Role.PATIENT or actor.patient_id != patient_id:
        return []
    return list(
        session.scalars(
            select(RefillRequest)
            .where(RefillRequest.patient_id == patient_id)
            .order_by(RefillRequest.created_at.desc())
        )
    )


# ------------------------------------------------------------------ reconciliation

RECONCILE_ACTIONS = ("confirm", "stop", "change")


@dataclass(frozen=True, slots=True)
class ReconcileItem:
    kind: str  # prescription | outside
    id: uuid.UUID
    action: str
    note: str | None = None
    dose_text: str | None = None  # outside medications: the new dose for "change"


def reconcile(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    items: Sequence[ReconcileItem],
    *,
    appointment_id: uuid.UUID | None = None,
    clock: Clock,
) -> Reconciliation:
    """Medication reconciliation at a psychiatric visit: each item confirmed, stopped or changed; who and when."""
    patient, _ = _require_team(
        session, actor, patient_id, clock=clock, roles=PRESCRIBER_ROLES, event="medication.write_denied"
    )
    errors = []
    stored: list[dict[str, Any]] = []
    for i, it in enumerate(items):
        if it.action not in RECONCILE_ACTIONS:
            errors.append(FieldError(f"items.{i}.action", f"one of {', '.join(RECONCILE_ACTIONS)}"))
            continue
        if it.kind == "outside":
            row = session.get(OutsideMedication, it.id)
            if row is None or row.patient_id != patient.id:
                errors.append(FieldError(f"items.{i}.id", "not on this patient's list"))
                continue
            entry = {
                "kind": "outside",
                "id": str(row.id),
                "name": row.name,
                "action": it.action,
                "note": it.note,
            }
            if it.action == "stop":
                row.status, row.stopped_on = "stopped", _today(patient, clock)
            elif it.action == "change":
                entry["previous"] = row.dose_text
                row.dose_text = (it.dose_text or "").strip() or row.dose_text
                entry["new"] = row.dose_text
        elif it.kind == "prescription":
            rx = session.get(Prescription, it.id)
            if rx is None or rx.patient_id != patient.id:
                errors.append(FieldError(f"items.{i}.id", "not on this patient's list"))
                continue
            entry = {
                "kind": "prescription",
                "id": str(rx.id),
                "name": rx.ingredient,
                "action": it.action,
                "note": it.note,
            }
            if it.action == "stop" and rx.status not in ENDED:
                rx.status, rx.status_reason = (
                    "stopped",
                    (it.note or "Stopped at medication reconciliation")[:1000],
                )
                rx.ended_at, rx.ended_on, rx.ended_by = clock.now(), _today(patient, clock), actor.user_id
        else:
            errors.append(FieldError(f"items.{i}.kind", "prescription or outside"))
            continue
        stored.append(entry)
    if errors:
        raise InvalidInput("The reconciliation is not valid.", fields=errors)
    rec = Reconciliation(
        patient_id=patient.id,
        appointment_id=appointment_id,
        performed_by=actor.user_id,
        performed_at=clock.now(),
        items=stored,
    )
    session.add(rec)
    session.flush()
    audit.record(
        session,
        actor,
        "medication.reconciled",
        clock=clock,
        entity_type="medication_reconciliation",
        entity_id=rec.id,
        patient_id=patient.id,
        details={
            "category": "medications",
            "actions": {a: sum(1 for s in stored if s["action"] == a) for a in RECONCILE_ACTIONS},
        },
    )
    return rec


# ------------------------------------------------------------------ the hook for labs (issue #7 "Monitoring")


def labs_start_monitoring(session: Session, rx: Prescription, protocol: str, *, actor: Actor) -> None:
    """Instantiate the drug's monitoring protocol (spec §6.4) as dated lab orders (careweave.labs)."""
    from careweave.labs import service as labs  # labs reads prescriptions: imported here, not at the top

    labs.start_monitoring(
        session,
        prescription_id=rx.id,
        patient_id=rx.patient_id,
        protocol=protocol,
        started_on=rx.started_on,
        actor=actor,
    )


def labs_dose_changed(session: Session, rx: Prescription, changed_on: date, *, actor: Actor) -> None:
    from careweave.labs import service as labs

    labs.dose_changed(session, prescription_id=rx.id, changed_on=changed_on, actor=actor)


def labs_stop_monitoring(session: Session, rx: Prescription, *, actor: Actor) -> None:
    """The prescription ended: its monitoring plans stop and their open orders are cancelled."""
    from careweave.labs import service as labs

    labs.stop_monitoring(session, prescription_id=rx.id, actor=actor)
