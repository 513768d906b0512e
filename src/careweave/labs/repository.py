"""All SQL of the labs package. Functions take the session first, add and flush, never commit or check access."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careweave.labs.models import LabAlert, LabMessage, LabOrder, LabResult, MonitoringPlan
from careweave.medications.models import Prescription


def add(session: Session, *rows: object) -> None:
    session.add_all(rows)
    session.flush()


def prescription_facts(session: Session, prescription_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(patient id, prescriber user id) of a prescription: the one read of the medications table, by the
    foreign key the plans hold."""
    row = session.execute(
        select(Prescription.patient_id, Prescription.prescriber_user_id).where(
            Prescription.id == prescription_id
        )
    ).first()
    return (row[0], row[1]) if row else None


def plan(session: Session, plan_id: uuid.UUID) -> MonitoringPlan | None:
    return session.get(MonitoringPlan, plan_id)


def plan_for(session: Session, prescription_id: uuid.UUID, protocol: str) -> MonitoringPlan | None:
    return session.scalars(
        select(MonitoringPlan).where(
            MonitoringPlan.prescription_id == prescription_id, MonitoringPlan.protocol == protocol
        )
    ).first()


def plans_to_extend(
    session: Session, *, protocols: Iterable[str], before: date, limit: int = 200
) -> list[uuid.UUID]:
    """Active plans of ``protocols`` whose scheduled orders end before ``before`` (the rolling extension)."""
    last = func.max(LabOrder.due_on)
    stmt = (
        select(MonitoringPlan.id)
        .join(LabOrder, (LabOrder.plan_id == MonitoringPlan.id) & (LabOrder.reason == "schedule"))
        .where(MonitoringPlan.status == "active", MonitoringPlan.protocol.in_(list(protocols)))
        .group_by(MonitoringPlan.id)
        .having(last < before)
        .order_by(last, MonitoringPlan.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def lock_plan(session: Session, plan_id: uuid.UUID, *, skip_locked: bool = False) -> MonitoringPlan | None:
    """The plan, locked for update (PostgreSQL); with ``skip_locked``, None when another worker holds it."""
    stmt = select(MonitoringPlan).where(MonitoringPlan.id == plan_id)
    return session.scalars(stmt.with_for_update(skip_locked=skip_locked)).first()


def last_scheduled_due(session: Session, plan_id: uuid.UUID) -> date | None:
    """The latest due date generated from the plan's schedule (any status): how far the schedule reaches."""
    return session.scalar(
        select(func.max(LabOrder.due_on)).where(LabOrder.plan_id == plan_id, LabOrder.reason == "schedule")
    )


def plans_for_prescription(session: Session, prescription_id: uuid.UUID) -> list[MonitoringPlan]:
    return list(
        session.scalars(
            select(MonitoringPlan).where(MonitoringPlan.prescription_id == prescription_id).with_for_update()
        )
    )


def plans_for_patient(session: Session, patient_id: uuid.UUID) -> list[MonitoringPlan]:
    return list(
        session.scalars(
            select(MonitoringPlan)
            .where(MonitoringPlan.patient_id == patient_id)
            .order_by(MonitoringPlan.started_on, MonitoringPlan.id)
        )
    )


def prescriber_ids(session: Session, patient_id: uuid.UUID) -> set[uuid.UUID]:
    return {
        u
        for u in session.scalars(
            select(MonitoringPlan.prescriber_user_id).where(MonitoringPlan.patient_id == patient_id)
        )
        if u is not None
    }


def orders_for_patient(session: Session, patient_id: uuid.UUID) -> list[LabOrder]:
    return list(
        session.scalars(
            select(LabOrder)
            .where(LabOrder.patient_id == patient_id)
            .order_by(LabOrder.due_on, LabOrder.protocol_item, LabOrder.id)
        )
    )


def order(session: Session, order_id: uuid.UUID, *, for_update: bool = False) -> LabOrder | None:
    stmt = select(LabOrder).where(LabOrder.id == order_id)
    return session.scalars(stmt.with_for_update() if for_update else stmt).first()


def open_orders(
    session: Session,
    patient_id: uuid.UUID,
    *,
    tests: Iterable[str] | None = None,
    plan_id: uuid.UUID | None = None,
    reasons: Iterable[str] | None = None,
) -> list[LabOrder]:
    stmt = select(LabOrder).where(LabOrder.patient_id == patient_id, LabOrder.status == "ordered")
    if tests is not None:
        stmt = stmt.where(LabOrder.test.in_(list(tests)))
    if plan_id is not None:
        stmt = stmt.where(LabOrder.plan_id == plan_id)
    if reasons is not None:
        stmt = stmt.where(LabOrder.reason.in_(list(reasons)))
    return list(session.scalars(stmt.order_by(LabOrder.due_on, LabOrder.id).with_for_update()))


def overdue(
    session: Session, *, today: date, prescriber_user_id: uuid.UUID | None = None, limit: int = 200
) -> list[tuple[LabOrder, MonitoringPlan]]:
    """Open orders due before ``today`` of active plans (one prescriber's, or all for a registry)."""
    stmt = (
        select(LabOrder, MonitoringPlan)
        .join(MonitoringPlan, LabOrder.plan_id == MonitoringPlan.id)
        .where(LabOrder.status == "ordered", LabOrder.due_on < today, MonitoringPlan.status == "active")
    )
    if prescriber_user_id is not None:
        stmt = stmt.where(MonitoringPlan.prescriber_user_id == prescriber_user_id)
    rows = session.execute(stmt.order_by(LabOrder.due_on, LabOrder.id).limit(limit)).all()
    return [(o, p) for o, p in rows]


def results_for_patient(session: Session, patient_id: uuid.UUID) -> list[LabResult]:
    return list(
        session.scalars(
            select(LabResult)
            .where(LabResult.patient_id == patient_id)
            .order_by(LabResult.observed_at.desc(), LabResult.id)
        )
    )


def message(session: Session, sender: str, control_id: str) -> LabMessage | None:
    return session.scalars(
        select(LabMessage).where(LabMessage.sender == sender, LabMessage.control_id == control_id)
    ).first()


def alert(session: Session, alert_id: uuid.UUID, *, for_update: bool = False) -> LabAlert | None:
    stmt = select(LabAlert).where(LabAlert.id == alert_id)
    return session.scalars(stmt.with_for_update() if for_update else stmt).first()


def alerts_for_patient(session: Session, patient_id: uuid.UUID) -> list[LabAlert]:
    return list(
        session.scalars(
            select(LabAlert).where(LabAlert.patient_id == patient_id).order_by(LabAlert.created_at.desc())
        )
    )


def alerts_for_prescriber(
    session: Session, prescriber_user_id: uuid.UUID, *, open_only: bool = True, limit: int = 200
) -> list[LabAlert]:
    stmt = select(LabAlert).where(LabAlert.prescriber_user_id == prescriber_user_id)
    if open_only:
        stmt = stmt.where(LabAlert.acknowledged_at.is_(None))
    return list(session.scalars(stmt.order_by(LabAlert.created_at.desc()).limit(limit)))
