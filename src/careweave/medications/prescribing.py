"""Prescribing (issue #7): the checks of a proposed prescription, the draft, signing and sending through the
pharmacy adapter, activation, stopping and completing, dose changes, reading prescriptions and their findings,
and the hooks that tell labs (monitoring starts, dose changes, monitoring stops).

Authority is decided by authority.py. The checks before signing are pure (medications.rules); if their data
cannot be loaded, prescribing is refused (503), never left unchecked (docs/adr/0010).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.audit import service as audit
from careweave.core.actor import Actor
from careweave.core.clock import Clock
from careweave.core.errors import FieldError, InvalidInput, NotFound
from careweave.directory import repository as directory_repo
from careweave.identity.models import User
from careweave.medications import pharmacy, rules
from careweave.medications.authority import authorize
from careweave.medications.common import (
    ENDED,
    PRESCRIBER_ROLES,
    BadTransition,
    Contraindicated,
    OverrideRequired,
    PrescribingUnavailable,
    PrescriptionIn,
    SigIn,
    load_rx,
    own_rx,
    patient_today,
    prescriptions_of,
    require_read,
    require_team,
)
from careweave.medications.facts import med_items, patient_facts
from careweave.medications.formulary_service import formulary, formulary_or_refuse
from careweave.medications.models import PharmacyOutbox, Prescription, PrescriptionFinding
from careweave.patients.models import Patient


def _validate_rx(
    data: PrescriptionIn, form: rules.Formulary, check_rules: rules.CheckRules
) -> rules.FormularyItem:
    errors = []
    item = form.get(data.medication)
    if item is None:
        errors.append(FieldError("medication", "not a formulary code or RXCUI in the formulary"))
    elif not item.prescribable:
        errors.append(
            FieldError(
                "medication",
                f"{item.ingredient} is listed only for interaction checks and cannot be prescribed here",
            )
        )
    if not data.strength.strip():
        errors.append(FieldError("strength", "required"))
    if data.sig.dose <= 0:
        errors.append(FieldError("sig.dose", "must be greater than 0"))
    if not data.sig.unit.strip():
        errors.append(FieldError("sig.unit", "required"))
    elif item is not None and (problem := rules.unit_problem(item, data.sig.unit, check_rules)):
        errors.append(FieldError("sig.unit", problem))
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
    if item.schedule in ("C-III", "C-IV") and data.refills > MAX_C3_C4_REFILLS:
        # Product rule from federal law, not the spec: 21 CFR 1306.22(a) - a Schedule III or IV prescription may
        # not be refilled more than five times (nor more than six months after issue).
        raise InvalidInput(
            "Schedule III and IV prescriptions may be refilled at most 5 times (21 CFR 1306.22(a)).",
            fields=[FieldError("refills", "at most 5 for C-III/C-IV")],
        )
    return item


MAX_C3_C4_REFILLS = 5


def _unit(unit: str, item: rules.FormularyItem, check_rules: rules.CheckRules, field_name: str) -> str:
    """The unit as the data spells it, or 422 naming the field."""
    if problem := rules.unit_problem(item, unit, check_rules):
        raise InvalidInput("The dose unit is not valid.", fields=[FieldError(field_name, problem)])
    canonical = rules.canonical_unit(unit, check_rules)
    assert canonical is not None
    return canonical


def rx_data(rx: Prescription) -> PrescriptionIn:
    """A stored prescription as the input authority checks."""
    return PrescriptionIn(
        patient_id=rx.patient_id,
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


def _finding_dicts(findings: Sequence[rules.Finding]) -> list[dict[str, str]]:
    return [
        {"code": f.code, "severity": f.severity, "message": f.message, "source": f.source} for f in findings
    ]


def preview_findings(
    session: Session, actor: Actor, data: PrescriptionIn, *, clock: Clock
) -> list[rules.Finding]:
    """The checks for a proposed prescription without creating it (the page shows them before submitting)."""
    form, check_rules = formulary_or_refuse(session)
    patient, _ = require_team(
        session, actor, data.patient_id, clock=clock, roles=PRESCRIBER_ROLES, event="prescription.denied"
    )
    item = _validate_rx(data, form, check_rules)
    today = patient_today(patient, clock)
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
    form, check_rules = formulary_or_refuse(session)
    patient, _ = require_team(
        session, actor, data.patient_id, clock=clock, roles=PRESCRIBER_ROLES, event="prescription.denied"
    )
    item = _validate_rx(data, form, check_rules)
    today = patient_today(patient, clock)
    start = data.started_on or today
    if start < today:
        raise InvalidInput(
            "The start date is in the past.", fields=[FieldError("started_on", "today or later")]
        )
    authority = authorize(session, actor, patient, item, data, today, clock=clock)
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
        dose_unit=rules.canonical_unit(data.sig.unit, check_rules) or data.sig.unit.strip(),
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


def get_prescription(
    session: Session, actor: Actor, rx_id: uuid.UUID, *, clock: Clock, interface: str | None = None
) -> Prescription:
    """One prescription; with ``interface`` the read is audited here (callers that audit their own reads, such
    as FHIR, pass none)."""
    rx = load_rx(session, rx_id)
    if rx.status == "draft" and rx.prescriber_user_id != actor.user_id:
        raise NotFound("No such prescription.")
    require_read(session, actor, rx.patient_id, clock=clock)
    if interface:
        audit.record(
            session,
            actor,
            "prescription.viewed",
            clock=clock,
            entity_type="prescription",
            entity_id=rx.id,
            patient_id=rx.patient_id,
            details={"category": "medications", "interface": interface},
        )
    return rx


def findings_of(session: Session, rx_id: uuid.UUID) -> list[PrescriptionFinding]:
    return sorted(
        session.scalars(select(PrescriptionFinding).where(PrescriptionFinding.prescription_id == rx_id)),
        key=lambda f: (rules.SEVERITY_RANK.get(f.severity, 9), f.code),  # type: ignore[call-overload]
    )


def list_prescriptions(
    session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock, interface: str | None = None
) -> list[Prescription]:
    patient, _ = require_read(session, actor, patient_id, clock=clock)
    if interface:
        audit.record(
            session,
            actor,
            "prescription.list_viewed",
            clock=clock,
            entity_type="patient",
            entity_id=patient.id,
            patient_id=patient.id,
            details={"category": "medications", "interface": interface},
        )
    return [
        p
        for p in prescriptions_of(session, patient.id)
        if p.status != "draft" or p.prescriber_user_id == actor.user_id
    ]


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


def send_to_pharmacy(
    session: Session,
    actor: Actor,
    rx: Prescription,
    patient: Patient,
    kind: str,
    *,
    clock: Clock,
    adapter: pharmacy.PharmacyAdapter | None,
) -> PharmacyOutbox:
    """Send the prescription (``kind``: "new" or "refill_authorization") through the adapter; an outbox row."""
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
    rx, patient = own_rx(session, actor, rx_id, clock=clock)
    if rx.status != "draft":
        raise BadTransition(f"This prescription is {rx.status}; only a draft can be signed.")
    form, check_rules = formulary_or_refuse(session)
    item = form.get(rx.formulary_code)
    if item is None:
        raise PrescribingUnavailable("The prescription's medication is no longer in the formulary.")
    today = patient_today(patient, clock)
    authorize(session, actor, patient, item, rx_data(rx), today, clock=clock)
    stored = {f.code: f for f in findings_of(session, rx.id)}
    findings = rules.run_checks(
        rules.Proposed(item, rx.dose, rx.dose_unit, rx.frequency, max(rx.started_on, today)),
        med_items(session, patient.id, form, exclude=rx.id),
        patient_facts(session, patient, today),
        form,
        check_rules,
    )
    verdict = rules.gate(findings, {c: f.override_reason or "" for c, f in stored.items()})
    if verdict.blocked or verdict.missing_overrides:
        audit.record(
            session,
            actor,
            "prescription.blocked" if verdict.blocked else "prescription.override_required",
            clock=clock,
            outcome="denied",
            entity_type="prescription",
            entity_id=rx.id,
            patient_id=patient.id,
            details={
                "category": "medications",
                "medication": item.code,
                "at": "sign",
                "findings": [f.code for f in findings],
            },
        )
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
    outbox = send_to_pharmacy(session, actor, rx, patient, "new", clock=clock, adapter=adapter)
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
    rx, patient = own_rx(session, actor, rx_id, clock=clock, any_prescriber=True)
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Give a reason for stopping.", fields=[FieldError("reason", "required")])
    if rx.status in ENDED:
        raise BadTransition(f"This prescription is already {rx.status}.")
    rx.status_reason = reason[:1000]
    return _end(session, actor, rx, patient, "stopped", clock=clock)


def complete_prescription(session: Session, actor: Actor, rx_id: uuid.UUID, *, clock: Clock) -> Prescription:
    rx, patient = own_rx(session, actor, rx_id, clock=clock, any_prescriber=True)
    if rx.status != "active":
        raise BadTransition(f"This prescription is {rx.status}; only an active one can be completed.")
    return _end(session, actor, rx, patient, "completed", clock=clock)


def _end(
    session: Session, actor: Actor, rx: Prescription, patient: Patient, status: str, *, clock: Clock
) -> Prescription:
    """Stopped or completed: who and when (the patient's calendar day), audited; its monitoring ends too."""
    rx.status = status
    rx.ended_at = clock.now()
    rx.ended_on = patient_today(patient, clock)
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
    rx, patient = own_rx(session, actor, rx_id, clock=clock, any_prescriber=True)
    if rx.status != "active":
        raise BadTransition("Only an active prescription's dose can be changed.")
    form, check_rules = formulary_or_refuse(session)
    item = form.get(rx.formulary_code)
    if item is None:
        raise PrescribingUnavailable("The prescription's medication is no longer in the formulary.")
    if not math.isfinite(dose) or dose <= 0 or rules.doses_per_day(frequency, check_rules) is None:
        bad_dose = not math.isfinite(dose) or dose <= 0
        raise InvalidInput(
            "The dose is not valid.", fields=[FieldError("dose" if bad_dose else "frequency", "invalid")]
        )
    unit = _unit(unit, item, check_rules, "unit")
    today = patient_today(patient, clock)
    # A dose change is a prescribing act: the prescriber's own authority in the patient's state today (licence,
    # DEA for the schedule). No new supply is issued, so the telemedicine supply rule is not re-run.
    authorize(session, actor, patient, item, rx_data(rx), today, clock=clock, telemedicine=False)
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
