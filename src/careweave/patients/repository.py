from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from careweave.patients.models import Patient


def add(session: Session, patient: Patient) -> Patient:
    session.add(patient)
    session.flush()
    return patient


def get(session: Session, patient_id: uuid.UUID) -> Patient | None:
    return session.get(Patient, patient_id)


def many(session: Session, patient_ids: set[uuid.UUID]) -> list[Patient]:
    if not patient_ids:
        return []
    return list(session.scalars(select(Patient).where(Patient.id.in_(patient_ids))))


def by_user(session: Session, user_id: uuid.UUID) -> Patient | None:
    return session.scalars(select(Patient).where(Patient.user_id == user_id)).one_or_none()


def ids_by_users(session: Session, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    if not user_ids:
        return {}
    rows = session.execute(select(Patient.user_id, Patient.id).where(Patient.user_id.in_(user_ids)))
    return {u: p for u, p in rows if u is not None}


def in_clinic(
    session: Session, clinic_id: uuid.UUID | None, *, query: str | None, limit: int, offset: int
) -> tuple[list[Patient], int]:
    stmt = select(Patient).where(Patient.clinic_id == clinic_id)
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(Patient.given_name).like(like),
                func.lower(Patient.family_name).like(like),
                func.lower(Patient.preferred_name).like(like),
            )
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(Patient.family_name, Patient.given_name, Patient.id).limit(limit).offset(offset)
    )
    return list(rows), total
