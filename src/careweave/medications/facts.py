"""The patient's medication facts (issue #7): the medication list as a reader sees it, the whole list and the
patient facts the safety checks see, outside medications, allergies, the medication profile (pregnancy,
breastfeeding, HLA-B*15:02) and medication reconciliation at a psychiatric visit."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.audit import service as audit
from careweave.core.actor import CLINICAL_ROLES, Actor, Role
from careweave.core.clock import Clock
from careweave.core.errors import FieldError, InvalidInput
from careweave.identity.models import User
from careweave.medications import rules
from careweave.medications.common import (
    ACTIVE,
    ENDED,
    PRESCRIBER_ROLES,
    active_tapers,
    patient_today,
    prescriptions_of,
    require_read,
    require_team,
)
from careweave.medications.formulary_service import formulary
from careweave.medications.models import (
    Allergy,
    MedicationProfile,
    OutsideMedication,
    Prescription,
    Reconciliation,
    Taper,
)
from careweave.patients.models import Patient
from careweave.scheduling.models import Appointment

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


def _names(session: Session, ids: set[uuid.UUID | None]) -> dict[str, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return {str(u.id): u.full_name for u in session.scalars(select(User).where(User.id.in_(wanted)))}


def medication_list(session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock) -> MedicationList:
    patient, _ref = require_read(session, actor, patient_id, clock=clock)
    rxs = [
        p
        for p in prescriptions_of(session, patient.id)
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
        active_tapers(session, [p.id for p in rxs]),
        names,
    )


def med_items(
    session: Session, patient_id: uuid.UUID, form: rules.Formulary, *, exclude: uuid.UUID | None = None
) -> list[rules.MedItem]:
    """The whole list the checks see (never filtered by what the prescriber may read: safety first)."""
    items = []
    for p in prescriptions_of(session, patient_id):
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
                item=form.get(o.formulary_code) or form.match_name(o.name),
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
    patient, _ = require_team(
        session,
        actor,
        patient_id,
        clock=clock,
        roles=FACT_WRITERS,
        event="medication.write_denied",
        patient_self=True,
        category="medications",
    )
    name = name.strip()
    if not name:
        raise InvalidInput("Name the medication.", fields=[FieldError("name", "required")])
    form = formulary(session)
    code = _code_or_none(form, formulary_code, "formulary_code")
    if code is None:
        match = form.match_name(name)  # code, ingredient, RXCUI or a brand/synonym in the data
        code = match.code if match else None
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
    patient, _ = require_team(
        session,
        actor,
        patient_id,
        clock=clock,
        roles=FACT_WRITERS,
        event="medication.write_denied",
        patient_self=True,
        category="medications",
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
        match = form.match_name(substance)
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
    patient, _ = require_team(
        session,
        actor,
        patient_id,
        clock=clock,
        roles=FACT_WRITERS,
        event="medication.write_denied",
        patient_self=True,
        category="medications",
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


# ------------------------------------------------------------------ reconciliation

RECONCILE_ACTIONS = ("confirm", "stop", "change")


@dataclass(frozen=True, slots=True)
class ReconcileItem:
    kind: str  # prescription | outside
    id: uuid.UUID
    action: str
    note: str | None = None
    dose_text: str | None = None  # outside medications: the new dose for "change"
    dose: float | None = None  # prescriptions: the new dose for "change" (with unit and frequency)
    unit: str | None = None
    frequency: str | None = None
    override_reasons: Mapping[str, str] | None = None


def reconcile(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    items: Sequence[ReconcileItem],
    *,
    appointment_id: uuid.UUID | None = None,
    clock: Clock,
) -> Reconciliation:
    """Medication reconciliation at a psychiatric visit: each item confirmed, stopped or changed; who and when.
    A prescription stopped or changed here goes through prescribing.stop_prescription / change_dose, so its
    monitoring ends (or the lithium level is ordered), the checks run again and the change is audited."""
    from careweave.medications import prescribing  # prescribing imports this module

    patient, _ = require_team(
        session, actor, patient_id, clock=clock, roles=PRESCRIBER_ROLES, event="medication.write_denied"
    )
    errors = []
    if appointment_id is not None:
        appt = session.get(Appointment, appointment_id)
        if appt is None or appt.patient_id != patient.id:
            errors.append(FieldError("appointment_id", "not an appointment of this patient"))
    rx_actions: list[tuple[int, ReconcileItem, Prescription]] = []
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
                row.status, row.stopped_on = "stopped", patient_today(patient, clock)
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
            if it.action == "change":
                if it.dose is None:
                    errors.append(
                        FieldError(f"items.{i}.dose", "a change of a prescription needs the new dose")
                    )
                    continue
                it = replace(it, unit=it.unit or rx.dose_unit, frequency=it.frequency or rx.frequency)
                entry["previous"] = {"dose": rx.dose, "unit": rx.dose_unit, "frequency": rx.frequency}
                entry["new"] = {"dose": it.dose, "unit": it.unit, "frequency": it.frequency}
            if it.action in ("stop", "change") and not (it.action == "stop" and rx.status in ENDED):
                rx_actions.append((i, it, rx))
        else:
            errors.append(FieldError(f"items.{i}.kind", "prescription or outside"))
            continue
        stored.append(entry)
    if errors:
        raise InvalidInput("The reconciliation is not valid.", fields=errors)
    for _i, it, rx in rx_actions:
        if it.action == "stop":
            prescribing.stop_prescription(
                session,
                actor,
                rx.id,
                reason=it.note or "Stopped at medication reconciliation",
                clock=clock,
            )
        else:
            prescribing.change_dose(
                session,
                actor,
                rx.id,
                dose=float(it.dose or 0),
                unit=it.unit or "",
                frequency=it.frequency or "",
                override_reasons=it.override_reasons,
                clock=clock,
            )
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
