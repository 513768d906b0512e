"""Labs and monitoring (issue #7): monitoring plans from a prescription, dated lab orders, results entered by
staff or ingested as HL7 v2 ORU^R01, alerts to the prescriber with the protocol's next step.

Access: a patient's labs belong to the "medications" category of the record (policy.Action.MEDICATION_READ:
the patient themself; care-team clinicians the patient shared medications with); the prescriber of a monitored
prescription is its author and sees its labs while on the team. Entering a result or cancelling an order needs a
clinician who may read them. HL7 ingestion: the system actor (``careweave labs ingest``) and the clinic's
administrators (the lab interface's account) post messages for any patient of their clinic; a clinician posts
only for a patient whose labs they may read, exactly as for manual entry. A patient the poster may not see is
answered exactly like an unknown one. Every read and write is audited in the same transaction (ids and codes
only, never values).

The medications service calls :func:`start_monitoring` when a monitored prescription becomes active and
:func:`dose_changed` when its dose changes; it has already authorised the prescription.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import CLINICAL_ROLES, Actor, Role
from careweave.core.clock import Clock, SystemClock, local_today
from careweave.core.errors import DomainError, FieldError, InvalidInput, NotFound, PolicyDenied
from careweave.labs import hl7v2, rules
from careweave.labs import repository as repo
from careweave.labs.models import LabAlert, LabMessage, LabOrder, LabResult, MonitoringPlan
from careweave.patients import service as patients

MATCH_WINDOW_DAYS = 7  # a result answers the open order due closest to it, at most this many days ahead
INGEST_ROLES = CLINICAL_ROLES | {Role.ADMIN}
# The rolling extension (extend_due_plans): a plan whose scheduled orders end within this many days gets the next
# protocol horizon's worth of orders, so monitoring never stops at the first horizon.
EXTEND_LOOKAHEAD_DAYS = 92


class UnknownProtocol(InvalidInput):
    code = "labs.unknown_protocol"


class MalformedMessage(InvalidInput):
    code = "labs.malformed_hl7v2"


class UnsupportedMediaType(DomainError):
    code, status = "labs.unsupported_media_type", 415


class NotAClinician(PolicyDenied):
    code = "labs.clinicians_only"


class NotThePrescriber(PolicyDenied):
    code = "labs.prescriber_only"


class RecordedMalformedMessage(MalformedMessage):
    """The same answer as an unknown patient, after auditing the refused ingestion (the unit keeps that row;
    nothing else has been written yet)."""

    keep_changes = True


def _unknown_patient(*, recorded: bool = False) -> MalformedMessage:
    cls = RecordedMalformedMessage if recorded else MalformedMessage
    return cls(
        "HL7 v2 message refused: PID-3: no Careweave patient with this id.",
        fields=[FieldError("PID-3", "no Careweave patient with this id")],
    )


def _clock(clock: Clock | None) -> Clock:
    return clock or SystemClock()


# ------------------------------------------------------------------ access


def _read_verdict(session: Session, actor: Actor, ref: policy.PatientRef) -> policy.Verdict:
    verdict = policy.decide(actor, policy.Action.MEDICATION_READ, ref)
    if verdict.allowed or actor.user_id is None or actor.role in (Role.PATIENT, Role.ADMIN):
        return verdict
    if actor.user_id in repo.prescriber_ids(session, ref.patient_id):
        return policy.category_verdict(actor, ref, "medications", author_user_id=actor.user_id)
    return verdict


def _require_read(
    session: Session, actor: Actor, ref: policy.PatientRef, *, clock: Clock, event: str
) -> None:
    verdict = _read_verdict(session, actor, ref)
    if verdict.allowed:
        return
    audit.record(
        session,
        actor,
        event,
        clock=clock,
        outcome="denied",
        patient_id=ref.patient_id,
        details={"action": policy.Action.MEDICATION_READ.value, "on_team": verdict.on_team},
    )
    raise policy.refusal(verdict, ref, recorded=True)


def _require_clinician(actor: Actor) -> None:
    if actor.is_system or actor.role in CLINICAL_ROLES:
        return
    raise NotAClinician("Only clinicians enter lab results and manage lab orders.")


def _require_ingest(session: Session, actor: Actor, ref: policy.PatientRef, *, clock: Clock) -> None:
    """May ``actor`` file HL7 results on this patient? The system actor: yes. An administrator (the lab
    interface's account): patients of their own clinic. A clinician: the same access as manual entry (may read the
    patient's labs). A patient the poster may not see gets the unknown-patient answer; a care-team member the
    patient has not shared medications with gets 403 with the reason, as for manual entry."""
    if actor.is_system:
        return
    if actor.role is Role.ADMIN:
        verdict = (
            policy.ALLOW
            if actor.clinic_id is not None and actor.clinic_id == ref.clinic_id
            else policy.HIDDEN
        )
    else:
        verdict = _read_verdict(session, actor, ref)
    if verdict.allowed:
        return
    audit.record(
        session,
        actor,
        "lab_message.ingested",
        clock=clock,
        outcome="denied",
        patient_id=ref.patient_id,
        details={"action": policy.Action.MEDICATION_READ.value, "on_team": verdict.on_team},
    )
    if verdict.on_team:
        raise policy.refusal(verdict, ref, recorded=True)
    raise _unknown_patient(recorded=True)


def _zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return UTC


def may_read(session: Session, actor: Actor, patient_id: uuid.UUID) -> bool:
    """For pages: show the labs link? (Reads check again.)"""
    _, ref = patients.get_patient_ref(session, patient_id)
    return _read_verdict(session, actor, ref).allowed


# ------------------------------------------------------------------ plans


def _orders_from(
    plan: MonitoringPlan, items: list[rules.DueItem], *, ordered_by: uuid.UUID | None
) -> list[LabOrder]:
    return [
        LabOrder(
            id=uuid.uuid4(),
            patient_id=plan.patient_id,
            plan_id=plan.id,
            prescription_id=plan.prescription_id,
            protocol_item=i.item,
            test=i.test,
            loinc=i.loinc,
            due_on=i.due_on,
            status="ordered",
            reason=i.reason,
            ordered_by=ordered_by,
        )
        for i in items
    ]


def start_monitoring(
    session: Session,
    *,
    prescription_id: uuid.UUID,
    patient_id: uuid.UUID,
    protocol: str,
    started_on: date,
    actor: Actor,
    clock: Clock | None = None,
    ben: bool = False,
) -> MonitoringPlan:
    """Instantiate ``protocol`` (lithium | clozapine | valproate | sga_metabolic) for a prescription from
    ``started_on``: the plan and every dated order to the protocol's horizon. Calling it again for the same
    prescription and protocol returns the existing plan. ``ben``: benign (ethnic) neutropenia (clozapine)."""
    clock = _clock(clock)
    if protocol not in rules.PROTOCOLS:
        raise UnknownProtocol(
            f"Unknown monitoring protocol {protocol!r}.",
            fields=[FieldError("protocol", f"one of {', '.join(rules.PROTOCOLS)}")],
        )
    _require_clinician(actor)
    facts = repo.prescription_facts(session, prescription_id)
    if facts is None:
        raise NotFound("No such prescription.")
    rx_patient, prescriber = facts
    if rx_patient != patient_id:
        raise InvalidInput(
            "The prescription belongs to another patient.",
            fields=[FieldError("patient_id", "not the prescription's patient")],
        )
    existing = repo.plan_for(session, prescription_id, protocol)
    if existing is not None:
        return existing
    plan = MonitoringPlan(
        id=uuid.uuid4(),
        patient_id=patient_id,
        prescription_id=prescription_id,
        prescriber_user_id=prescriber,
        protocol=protocol,
        started_on=started_on,
        status="active",
        ben=ben,
        created_by=actor.user_id,
    )
    repo.add(session, plan)
    orders = _orders_from(plan, rules.schedule(protocol, started_on), ordered_by=prescriber)
    repo.add(session, *orders)
    audit.record(
        session,
        actor,
        "monitoring.started",
        clock=clock,
        entity_type="monitoring_plan",
        entity_id=plan.id,
        patient_id=patient_id,
        details={"protocol": protocol, "prescription_id": str(prescription_id), "orders": len(orders)},
    )
    return plan


def dose_changed(
    session: Session,
    *,
    prescription_id: uuid.UUID,
    changed_on: date,
    actor: Actor,
    clock: Clock | None = None,
) -> list[LabOrder]:
    """A monitored prescription's dose changed on ``changed_on``: add the protocol's post-change orders (lithium:
    a level 1 week later) and cancel open level orders it supersedes. Returns the new orders."""
    clock = _clock(clock)
    _require_clinician(actor)
    now = clock.now()
    added: list[LabOrder] = []
    for plan in repo.plans_for_prescription(session, prescription_id):
        if plan.status != "active":
            continue
        open_orders = repo.open_orders(session, plan.patient_id, plan_id=plan.id)
        change = rules.after_dose_change(
            plan.protocol,
            changed_on,
            [rules.OpenOrder(o.id, o.protocol_item, o.test, o.due_on) for o in open_orders],
        )
        if not change.new:
            continue
        for o in open_orders:
            if o.id in change.superseded:
                o.status, o.cancelled_at, o.cancel_reason = "cancelled", now, "superseded by a dose change"
        new = _orders_from(plan, change.new, ordered_by=plan.prescriber_user_id)
        repo.add(session, *new)
        added += new
        audit.record(
            session,
            actor,
            "monitoring.dose_changed",
            clock=clock,
            entity_type="monitoring_plan",
            entity_id=plan.id,
            patient_id=plan.patient_id,
            details={"new_orders": len(new), "superseded": len(change.superseded)},
        )
    return added


def stop_monitoring(
    session: Session, *, prescription_id: uuid.UUID, actor: Actor, clock: Clock | None = None
) -> int:
    """The prescription stopped or completed: stop its plans and cancel their open orders. Returns how many."""
    clock = _clock(clock)
    _require_clinician(actor)
    now = clock.now()
    cancelled = 0
    for plan in repo.plans_for_prescription(session, prescription_id):
        if plan.status == "stopped":
            continue
        plan.status = "stopped"
        for o in repo.open_orders(session, plan.patient_id, plan_id=plan.id):
            o.status, o.cancelled_at, o.cancel_reason = "cancelled", now, "prescription ended"
            cancelled += 1
        audit.record(
            session,
            actor,
            "monitoring.stopped",
            clock=clock,
            entity_type="monitoring_plan",
            entity_id=plan.id,
            patient_id=plan.patient_id,
            details={"cancelled_orders": cancelled},
        )
    session.flush()
    return cancelled


def set_ben(session: Session, actor: Actor, plan_id: uuid.UUID, *, ben: bool, clock: Clock) -> MonitoringPlan:
    """Record (or clear) benign (ethnic) neutropenia on a clozapine monitoring plan. Only the plan's prescriber,
    while they may read the patient's labs. Results from now on are classified with the BEN threshold
    (spec §6.4: ANC ≥ 1,000/µL); results already stored keep their alerts."""
    plan = repo.lock_plan(session, plan_id)
    if plan is None:
        raise NotFound("No such monitoring plan.")
    _, ref = patients.get_patient_ref(session, plan.patient_id)
    _require_read(session, actor, ref, clock=clock, event="monitoring.ben_changed")
    if actor.user_id is None or actor.user_id != plan.prescriber_user_id:
        raise NotThePrescriber("Only the prescriber of this monitoring plan records benign neutropenia.")
    if plan.protocol != "clozapine":
        raise InvalidInput(
            "Benign neutropenia applies to clozapine monitoring only.",
            fields=[FieldError("ben", "clozapine monitoring plans only")],
        )
    if plan.status != "active":
        raise InvalidInput(
            "The monitoring plan is stopped.", fields=[FieldError("plan_id", f"plan is {plan.status}")]
        )
    before = plan.ben
    plan.ben = ben
    audit.record(
        session,
        actor,
        "monitoring.ben_changed",
        clock=clock,
        entity_type="monitoring_plan",
        entity_id=plan.id,
        patient_id=plan.patient_id,
        details={"ben": ben, "was": before},
    )
    session.flush()
    return plan


def plan_of_patient(session: Session, plan_id: uuid.UUID, patient_id: uuid.UUID) -> MonitoringPlan:
    """The plan, when it belongs to this patient (for page routes that name both); access is checked by the
    operation that follows."""
    plan = repo.plan(session, plan_id)
    if plan is None or plan.patient_id != patient_id:
        raise NotFound("No such monitoring plan.")
    return plan


def extend_plan(session: Session, plan: MonitoringPlan, *, through: date) -> list[LabOrder]:
    """Add the plan's scheduled orders after the last one generated, up to at least ``through`` (and at least
    one protocol horizon further). Dates are counted from the plan's start, so the series continues unchanged;
    items with an end (baselines, the first year's levels) are not repeated. Returns the new orders."""
    last = repo.last_scheduled_due(session, plan.id)
    if last is None or not rules.repeats(plan.protocol):
        return []
    until = max(rules.add_offset(last, {"months": rules.horizon_months(plan.protocol)}), through)
    items = rules.schedule(plan.protocol, plan.started_on, through=until, after=last)
    orders = _orders_from(plan, items, ordered_by=plan.prescriber_user_id)
    repo.add(session, *orders)
    return orders


def extend_due_plans(session: Session, *, clock: Clock | None = None, limit: int = 200) -> int:
    """Worker pass (careweave.cli._worker_pass): every active plan whose scheduled orders end within
    EXTEND_LOOKAHEAD_DAYS gets the next horizon of orders, so monitoring continues past 24 (or 60) months. Each
    plan is locked (SKIP LOCKED: concurrent workers split the work) and checked again. Returns the orders added."""
    clock = _clock(clock)
    before = clock.now().date() + timedelta(days=EXTEND_LOOKAHEAD_DAYS)
    protocols = [p for p in rules.PROTOCOLS if rules.repeats(p)]
    added = 0
    for plan_id in repo.plans_to_extend(session, protocols=protocols, before=before, limit=limit):
        plan = repo.lock_plan(session, plan_id, skip_locked=True)
        if plan is None or plan.status != "active":
            continue
        last = repo.last_scheduled_due(session, plan.id)
        if last is None or last >= before:  # another worker extended it meanwhile
            continue
        orders = extend_plan(session, plan, through=before)
        if not orders:
            continue
        added += len(orders)
        audit.record(
            session,
            Actor.system(),
            "monitoring.extended",
            clock=clock,
            entity_type="monitoring_plan",
            entity_id=plan.id,
            patient_id=plan.patient_id,
            details={"orders": len(orders), "through": orders[-1].due_on.isoformat()},
        )
    session.flush()
    return added


# ------------------------------------------------------------------ reading


@dataclass(frozen=True, slots=True)
class LabsView:
    patient_id: uuid.UUID
    patient_name: str
    today: date
    plans: list[MonitoringPlan]
    orders: list[LabOrder]
    results: list[LabResult]
    alerts: list[LabAlert]
    names: dict[uuid.UUID, str] = field(default_factory=dict)
    timezone: str = (
        "UTC"  # the patient's zone: due dates are their calendar days; naive times entered are theirs
    )

    @property
    def open_orders(self) -> list[LabOrder]:
        return [o for o in self.orders if o.status == "ordered"]

    @property
    def overdue(self) -> list[LabOrder]:
        return [o for o in self.open_orders if o.due_on < self.today]


def list_orders(session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock) -> list[LabOrder]:
    patient, ref = patients.get_patient_ref(session, patient_id)
    _require_read(session, actor, ref, clock=clock, event="lab_orders.viewed")
    orders = repo.orders_for_patient(session, patient.id)
    audit.record(
        session,
        actor,
        "lab_orders.viewed",
        clock=clock,
        patient_id=patient.id,
        details={"orders": len(orders)},
    )
    return orders


def patient_today(session: Session, patient_id: uuid.UUID, *, clock: Clock) -> date:
    """The patient's own calendar day now (what "overdue" is measured against)."""
    return local_today(patients.timezones(session, {patient_id}).get(patient_id), clock.now())


def get_labs(session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock) -> LabsView:
    patient, ref = patients.get_patient_ref(session, patient_id)
    _require_read(session, actor, ref, clock=clock, event="labs.viewed")
    plans = repo.plans_for_patient(session, patient.id)
    view = LabsView(
        patient_id=patient.id,
        patient_name=patient.display_name,
        today=local_today(patient.timezone, clock.now()),
        plans=plans,
        orders=repo.orders_for_patient(session, patient.id),
        results=repo.results_for_patient(session, patient.id),
        alerts=repo.alerts_for_patient(session, patient.id),
        timezone=str(_zone(patient.timezone)),
    )
    audit.record(
        session,
        actor,
        "labs.viewed",
        clock=clock,
        patient_id=patient.id,
        details={"plans": len(plans), "results": len(view.results)},
    )
    return view


@dataclass(frozen=True, slots=True)
class OverdueItem:
    order: LabOrder
    plan: MonitoringPlan
    patient_name: str
    days_overdue: int


def overdue_for_prescriber(session: Session, actor: Actor, *, clock: Clock) -> list[OverdueItem]:
    """The prescriber's own overdue monitoring (their home page): open orders of their active plans due before
    today."""
    if actor.user_id is None or actor.role not in CLINICAL_ROLES:
        return []
    now = clock.now()
    # Due dates are the patient's own calendar days: fetch up to tomorrow (UTC), then keep what is overdue on the
    # patient's local date (a lab due "today" in New York is not overdue at 9 pm there, after UTC midnight).
    rows = repo.overdue(session, today=now.date() + timedelta(days=1), prescriber_user_id=actor.user_id)
    zones = patients.timezones(session, {o.patient_id for o, _ in rows})

    def today_of(o: LabOrder) -> date:
        return local_today(zones.get(o.patient_id), now)

    kept = [(o, p) for o, p in rows if o.due_on < today_of(o)]
    return _overdue_items(session, kept, today_of)


def overdue_orders(session: Session, *, today: date, limit: int = 500) -> list[OverdueItem]:
    """Every overdue monitoring order of active plans, for a registry (the caller checks access)."""
    return _overdue_items(session, repo.overdue(session, today=today, limit=limit), lambda _o: today)


def _overdue_items(
    session: Session, rows: list[tuple[LabOrder, MonitoringPlan]], today_of: Callable[[LabOrder], date]
) -> list[OverdueItem]:
    names = patients.display_names(session, {o.patient_id for o, _ in rows})
    return [OverdueItem(o, p, names.get(o.patient_id, ""), (today_of(o) - o.due_on).days) for o, p in rows]


@dataclass(frozen=True, slots=True)
class AlertItem:
    alert: LabAlert
    patient_name: str


def alerts_for_me(session: Session, actor: Actor, *, open_only: bool = True) -> list[AlertItem]:
    """Lab alerts addressed to the acting prescriber."""
    if actor.user_id is None:
        return []
    alerts = repo.alerts_for_prescriber(session, actor.user_id, open_only=open_only)
    names = patients.display_names(session, {a.patient_id for a in alerts})
    return [AlertItem(a, names.get(a.patient_id, "")) for a in alerts]


def acknowledge_alert(session: Session, actor: Actor, alert_id: uuid.UUID, *, clock: Clock) -> LabAlert:
    alert = repo.alert(session, alert_id, for_update=True)
    if alert is None:
        raise NotFound("No such lab alert.")
    if actor.user_id is None or alert.prescriber_user_id != actor.user_id:
        _require_clinician(actor)
        _, ref = patients.get_patient_ref(session, alert.patient_id)
        _require_read(session, actor, ref, clock=clock, event="lab_alert.acknowledged")
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = clock.now(), actor.user_id
        audit.record(
            session,
            actor,
            "lab_alert.acknowledged",
            clock=clock,
            entity_type="lab_alert",
            entity_id=alert.id,
            patient_id=alert.patient_id,
            details={"code": alert.code, "severity": alert.severity},
        )
    session.flush()
    return alert


def cancel_order(
    session: Session, actor: Actor, order_id: uuid.UUID, *, reason: str, clock: Clock
) -> LabOrder:
    """A clinician cancels an open order (e.g. the valproate pregnancy test when it does not apply)."""
    order = repo.order(session, order_id, for_update=True)
    if order is None:
        raise NotFound("No such lab order.")
    _, ref = patients.get_patient_ref(session, order.patient_id)
    _require_read(session, actor, ref, clock=clock, event="lab_order.cancelled")
    _require_clinician(actor)
    if order.status != "ordered":
        raise InvalidInput(
            f"The order is already {order.status}.", fields=[FieldError("order_id", order.status)]
        )
    order.status, order.cancelled_at, order.cancel_reason = "cancelled", clock.now(), reason[:200] or None
    audit.record(
        session,
        actor,
        "lab_order.cancelled",
        clock=clock,
        entity_type="lab_order",
        entity_id=order.id,
        patient_id=order.patient_id,
        details={"item": order.protocol_item},
    )
    session.flush()
    return order


# ------------------------------------------------------------------ results


@dataclass(frozen=True, slots=True)
class ResultIn:
    loinc: str
    value_text: str
    value: float | None
    unit: str | None
    observed_at: datetime
    reference_range: str | None = None
    abnormal_flag: str | None = None
    display: str | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    result: LabResult
    alert: LabAlert | None
    new_orders: list[LabOrder]
    classification: rules.Classification


def _closest_open_order(
    session: Session, patient_id: uuid.UUID, test_key: str, observed_on: date
) -> LabOrder | None:
    """The open order of this test due closest to the observation, at most MATCH_WINDOW_DAYS ahead of it."""
    latest = observed_on + timedelta(days=MATCH_WINDOW_DAYS)
    candidates = [o for o in repo.open_orders(session, patient_id, tests=[test_key]) if o.due_on <= latest]
    if not candidates:
        return None
    return min(candidates, key=lambda o: (abs((o.due_on - observed_on).days), o.due_on))


def _plan_for_result(
    session: Session, patient_id: uuid.UUID, order: LabOrder | None, test_key: str | None
) -> MonitoringPlan | None:
    if order is not None and order.plan_id is not None:
        return repo.plan(session, order.plan_id)
    if test_key is None:
        return None
    for plan in repo.plans_for_patient(session, patient_id):
        if plan.status == "active" and any(
            i["test"] == test_key for i in rules.protocol(plan.protocol)["items"]
        ):
            return plan
    return None


def _store(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    data: ResultIn,
    *,
    source: str,
    clock: Clock,
    message_id: uuid.UUID | None = None,
    order: LabOrder | None = None,
    linked: dict[str, LabOrder] | None = None,
    where: str = "",
) -> Recorded:
    """Store one result: match it to its order, classify it, apply the protocol's next step, alert."""
    if data.value is not None and not math.isfinite(data.value):
        raise InvalidInput(
            "The value must be a finite number.",
            fields=[FieldError(f"{where}-5" if where else "value", "not a finite number")],
        )
    now = clock.now()
    # the patient's calendar day of the observation: due dates are the patient's days
    observed_on = local_today(patients.timezones(session, {patient_id}).get(patient_id), data.observed_at)
    test_key = rules.test_for_loinc(data.loinc)
    if order is None and test_key is not None:
        order = (linked or {}).get(test_key) or _closest_open_order(
            session, patient_id, test_key, observed_on
        )
    plan = _plan_for_result(session, patient_id, order, test_key)
    baseline = order is not None and ".baseline." in order.protocol_item
    try:
        c = rules.classify(
            test_key,
            data.value,
            observed_on,
            unit=data.unit,
            abnormal_flag=data.abnormal_flag,
            protocol_name=plan.protocol if plan else None,
            ben=plan.ben if plan else False,
            episode=plan.episode if plan else None,
            baseline=baseline,
        )
    except rules.UnitNotUnderstood as exc:
        raise MalformedMessage(
            str(exc), fields=[FieldError(f"{where}-6" if where else "unit", str(exc))]
        ) from None
    result = LabResult(
        id=uuid.uuid4(),
        patient_id=patient_id,
        order_id=order.id if order else None,
        loinc=data.loinc,
        test=test_key,
        display=data.display or (rules.test(test_key).get("display") if test_key else None),
        value=data.value,
        value_text=data.value_text,
        unit=data.unit,
        reference_range=data.reference_range,
        abnormal_flag=data.abnormal_flag,
        observed_at=data.observed_at,
        source=source,
        raw_message_id=message_id,
        recorded_by=actor.user_id,
    )
    repo.add(session, result)
    if order is not None and order.status == "ordered":
        order.status, order.resulted_at = "resulted", now
        if linked is not None and test_key is not None:
            linked[test_key] = order
    new_orders: list[LabOrder] = []
    if plan is not None:
        if c.episode is not None:
            plan.episode = c.episode or None
        if c.orders or c.cancel_next_step_orders:
            # the band's orders are renewed from this result: earlier extra orders still open are replaced
            for o in repo.open_orders(
                session,
                patient_id,
                tests=[test_key] if test_key else None,
                plan_id=plan.id,
                reasons=("next_step", "confirm"),
            ):
                o.status, o.cancelled_at, o.cancel_reason = (
                    "cancelled",
                    now,
                    f"replaced after result {c.code}",
                )
        if c.orders:
            new_orders = _orders_from(plan, c.orders, ordered_by=plan.prescriber_user_id)
            repo.add(session, *new_orders)
    alert = None
    if c.severity is not None:
        prescriber = (
            plan.prescriber_user_id if plan else next(iter(repo.prescriber_ids(session, patient_id)), None)
        )
        next_step = c.next_step
        if next_step and c.interrupt and plan is not None:
            next_step += f" Recommendation: interrupt {rules.protocol(plan.protocol)['label'].lower()}."
        alert = LabAlert(
            id=uuid.uuid4(),
            prescriber_user_id=prescriber,
            patient_id=patient_id,
            result_id=result.id,
            plan_id=plan.id if plan else None,
            severity=c.severity,
            code=c.code,
            message=c.message,
            next_step=next_step,
            spec=c.spec[:300] or None,
            unverified=c.unverified,
        )
        repo.add(session, alert)
    audit.record(
        session,
        actor,
        "lab_result.recorded",
        clock=clock,
        entity_type="lab_result",
        entity_id=result.id,
        patient_id=patient_id,
        details={
            "loinc": data.loinc,
            "source": source,
            "order_id": str(order.id) if order else None,
            "alert": c.code if alert else None,
            "new_orders": len(new_orders),
        },
    )
    session.flush()
    return Recorded(result, alert, new_orders, c)


def record_result(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    data: ResultIn,
    *,
    clock: Clock,
    order_id: uuid.UUID | None = None,
) -> Recorded:
    """A result entered by staff (source ``manual``), matched to ``order_id`` or to the closest open order.
    A naive ``observed_at`` is the patient's local time (UTC when their zone is unknown); an aware one is kept
    as given."""
    patient, ref = patients.get_patient_ref(session, patient_id)
    _require_read(session, actor, ref, clock=clock, event="lab_result.recorded")
    _require_clinician(actor)
    if data.observed_at.tzinfo is None:
        data = dataclasses.replace(data, observed_at=data.observed_at.replace(tzinfo=_zone(patient.timezone)))
    data = dataclasses.replace(data, observed_at=data.observed_at.astimezone(UTC))
    if data.observed_at > clock.now() + timedelta(minutes=5):
        raise InvalidInput(
            "The observation time is in the future.", fields=[FieldError("observed_at", "in the future")]
        )
    order = None
    if order_id is not None:
        order = repo.order(session, order_id, for_update=True)
        if order is None or order.patient_id != patient.id:
            raise InvalidInput("No such order for this patient.", fields=[FieldError("order_id", "unknown")])
        if order.status != "ordered":
            raise InvalidInput(
                f"The order is already {order.status}.", fields=[FieldError("order_id", order.status)]
            )
        if data.loinc not in rules.test(order.test)["result_loinc"]:
            raise InvalidInput(
                "The LOINC code does not answer this order.",
                fields=[FieldError("loinc", f"not a result code of {rules.test(order.test)['label']}")],
            )
    return _store(session, actor, patient.id, data, source="manual", clock=clock, order=order)


@dataclass(frozen=True, slots=True)
class Ingested:
    ack: str
    duplicate: bool
    patient_id: uuid.UUID | None
    recorded: list[Recorded]
    skipped: int = 0


def ingest_hl7v2(
    session: Session, message_text: str, actor: Actor, *, clock: Clock | None = None
) -> Ingested:
    """Parse an ORU^R01 message and store its results (see labs.hl7v2 for the mapping). A malformed message
    raises MalformedMessage (422) naming the segment and field, and nothing is stored; a message already
    received (same sender and control id) is acknowledged again without storing anything twice."""
    clock = _clock(clock)
    if not (actor.is_system or actor.role in INGEST_ROLES):
        raise PolicyDenied("Only clinic staff or the lab interface may post lab results.")
    # A clinician also needs access to the patient the message names (_require_ingest, below).
    try:
        parsed = hl7v2.parse_oru(message_text)
        patient_id = parsed.careweave_patient_id()
    except hl7v2.Hl7Error as exc:
        raise MalformedMessage(
            f"HL7 v2 message refused: {exc}", fields=[FieldError(exc.where, exc.message)]
        ) from None
    try:
        patient, ref = patients.get_patient_ref(session, patient_id)
    except NotFound:
        raise _unknown_patient() from None
    # access before anything else, the stored ACK of a duplicate included
    _require_ingest(session, actor, ref, clock=clock)
    existing = repo.message(session, parsed.sender, parsed.control_id)
    if existing is not None:
        return Ingested(existing.ack, True, None, [])
    message = LabMessage(
        id=uuid.uuid4(),
        sender=parsed.sender,
        control_id=parsed.control_id,
        message_type=parsed.message_type,
        text=message_text.replace("\x00", ""),
        received_by=actor.user_id,
        ack="",
    )
    repo.add(session, message)
    recorded: list[Recorded] = []
    linked: dict[str, LabOrder] = {}
    for obs in parsed.observations:
        recorded.append(
            _store(
                session,
                actor,
                patient.id,
                ResultIn(
                    loinc=obs.loinc,
                    value_text=obs.value_text,
                    value=obs.value,
                    unit=obs.unit,
                    observed_at=obs.observed_at,
                    reference_range=obs.reference_range,
                    abnormal_flag=obs.abnormal_flag,
                    display=obs.display or None,
                ),
                source="hl7v2",
                clock=clock,
                message_id=message.id,
                linked=linked,
                where=f"OBX[{obs.index}]",
            )
        )
    text = f"{len(recorded)} result(s) stored" + (f", {parsed.skipped} not final" if parsed.skipped else "")
    message.ack = hl7v2.ack(parsed, code="AA", now=clock.now(), text=text)
    audit.record(
        session,
        actor,
        "lab_message.ingested",
        clock=clock,
        entity_type="lab_message",
        entity_id=message.id,
        patient_id=patient.id,
        details={
            "control_id": parsed.control_id,
            "results": len(recorded),
            "alerts": sum(1 for r in recorded if r.alert),
        },
    )
    session.flush()
    return Ingested(message.ack, False, patient.id, recorded, parsed.skipped)
