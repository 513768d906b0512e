from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from careweave.safety.models import Notification, OnCallMember, SafetyAlert


def add(session: Session, obj: object) -> None:
    session.add(obj)
    session.flush()


def open_alert_for_patient(session: Session, patient_id: uuid.UUID) -> SafetyAlert | None:
    stmt = (
        select(SafetyAlert)
        .where(SafetyAlert.patient_id == patient_id, SafetyAlert.status == "open")
        .with_for_update()
    )
    return session.scalars(stmt).first()


def alert(session: Session, alert_id: uuid.UUID, *, for_update: bool = False) -> SafetyAlert | None:
    stmt = select(SafetyAlert).where(SafetyAlert.id == alert_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def open_alerts_in_clinic(session: Session, clinic_id: uuid.UUID | None) -> list[SafetyAlert]:
    stmt = (
        select(SafetyAlert)
        .where(SafetyAlert.clinic_id == clinic_id, SafetyAlert.status == "open")
        .order_by(SafetyAlert.created_at)
    )
    return list(session.scalars(stmt))


def recent_acknowledged_in_clinic(
    session: Session, clinic_id: uuid.UUID | None, limit: int
) -> list[SafetyAlert]:
    stmt = (
        select(SafetyAlert)
        .where(SafetyAlert.clinic_id == clinic_id, SafetyAlert.status == "acknowledged")
        .order_by(SafetyAlert.acknowledged_at.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def due_for_escalation(session: Session, now: datetime, limit: int = 100) -> list[SafetyAlert]:
    """Open alerts past their acknowledgement deadline. SKIP LOCKED lets several workers run."""
    stmt = (
        select(SafetyAlert)
        .where(SafetyAlert.status == "open", SafetyAlert.escalate_at <= now)
        .order_by(SafetyAlert.escalate_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(stmt))


def open_high_alert_exists(session: Session, patient_id: uuid.UUID) -> bool:
    stmt = select(SafetyAlert.id).where(
        SafetyAlert.patient_id == patient_id, SafetyAlert.status == "open", SafetyAlert.level == "high"
    )
    return session.scalars(stmt).first() is not None


def roster(session: Session, clinic_id: uuid.UUID | None) -> list[OnCallMember]:
    stmt = select(OnCallMember).where(OnCallMember.clinic_id == clinic_id).order_by(OnCallMember.position)
    return list(session.scalars(stmt))


def replace_roster(session: Session, clinic_id: uuid.UUID, user_ids: list[uuid.UUID]) -> None:
    session.execute(delete(OnCallMember).where(OnCallMember.clinic_id == clinic_id))
    session.flush()
    session.add_all(
        OnCallMember(clinic_id=clinic_id, user_id=uid, position=n) for n, uid in enumerate(user_ids, start=1)
    )
    session.flush()


def notifications(
    session: Session, user_id: uuid.UUID, *, unread_only: bool, limit: int = 50
) -> list[Notification]:
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return list(session.scalars(stmt.order_by(Notification.created_at.desc()).limit(limit)))


def notification(session: Session, notification_id: uuid.UUID) -> Notification | None:
    return session.get(Notification, notification_id)
