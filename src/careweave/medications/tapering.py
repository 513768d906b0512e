"""Tapers (issue #7): a dated schedule of dose steps on an active prescription (a new one replaces the old), and
the active tapers as a reader may see them. Labs is told of every step start of a monitored drug."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.audit import service as audit
from careweave.core.actor import Actor
from careweave.core.clock import Clock
from careweave.core.errors import FieldError, InvalidInput
from careweave.medications import rules
from careweave.medications.authority import authorize
from careweave.medications.common import (
    ACTIVE,
    BadTransition,
    PrescribingUnavailable,
    active_tapers,
    own_rx,
    patient_today,
    prescriptions_of,
    require_read,
)
from careweave.medications.formulary_service import formulary_or_refuse
from careweave.medications.models import Prescription, Taper
from careweave.medications.prescribing import labs_dose_changed, rx_data


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
    rx, patient = own_rx(session, actor, rx_id, clock=clock, any_prescriber=True)
    if rx.status != "active":
        raise BadTransition("Only an active prescription can be tapered.")
    today = patient_today(patient, clock)
    start = start or today
    if start < today:
        raise InvalidInput(
            "The taper cannot start in the past.", fields=[FieldError("start_date", "today or later")]
        )
    try:
        schedule = rules.taper_schedule(start, steps)
    except ValueError as exc:
        raise InvalidInput(f"The taper is not valid: {exc}.", fields=[FieldError("steps", str(exc))]) from exc
    form, check_rules = formulary_or_refuse(session)
    item = form.get(rx.formulary_code)
    if item is None:
        raise PrescribingUnavailable("The prescription's medication is no longer in the formulary.")
    steps = _checked_steps(rx, item, steps, check_rules, start)
    schedule = rules.taper_schedule(start, steps)
    # A taper is a prescribing act: the prescriber's authority in the patient's state today (no new supply).
    authorize(session, actor, patient, item, rx_data(rx), today, clock=clock, telemedicine=False)
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
    if item.monitoring:
        for step in schedule:
            labs_dose_changed(session, rx, step.start, actor=actor)
    return TaperView(taper, rx, schedule, today)


def _checked_steps(
    rx: Prescription,
    item: rules.FormularyItem,
    steps: Sequence[rules.TaperStep],
    check_rules: rules.CheckRules,
    start: date,
) -> list[rules.TaperStep]:
    """Every step in the prescription's unit, and no step above the drug's usual adult range (422 naming the
    step): a taper only lowers a dose; raising one is a dose change, with its override."""
    errors = []
    out = []
    for i, step in enumerate(steps):
        if not math.isfinite(step.dose):
            errors.append(FieldError(f"steps.{i}.dose", "a finite number"))
            continue
        step_unit = rules.canonical_unit(step.unit, check_rules) or step.unit.strip()
        if step_unit != (rules.canonical_unit(rx.dose_unit, check_rules) or rx.dose_unit):
            errors.append(FieldError(f"steps.{i}.unit", f"must be the prescription's unit, {rx.dose_unit}"))
            continue
        if step.dose > 0:
            found = rules.check_dose(
                rules.Proposed(item, step.dose, step.unit, rx.frequency, start), check_rules
            )
            above = [f for f in found if f.code == "dose_above_range"]
            if above:
                errors.append(FieldError(f"steps.{i}.dose", above[0].message))
                continue
        out.append(rules.TaperStep(step.dose, rx.dose_unit, step.days))
    if errors:
        raise InvalidInput("The taper is not valid.", fields=errors)
    return out


def tapers_for(
    session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock, interface: str | None = None
) -> list[TaperView]:
    """The active tapers of the patient's active prescriptions, as the reader may see them (therapists: with
    the patient's consent for medications)."""
    patient, _ = require_read(session, actor, patient_id, clock=clock)
    if interface:  # the medications page audits its own view (medication.list_viewed)
        audit.record(
            session,
            actor,
            "medication.tapers_viewed",
            clock=clock,
            entity_type="patient",
            entity_id=patient.id,
            patient_id=patient.id,
            details={"category": "medications", "interface": interface},
        )
    today = patient_today(patient, clock)
    rxs = [p for p in prescriptions_of(session, patient.id) if p.status in ACTIVE]
    tapers = active_tapers(session, [p.id for p in rxs])
    by_id = {p.id: p for p in rxs}
    return [TaperView(t, by_id[pid], _schedule(t), today) for pid, t in tapers.items()]
