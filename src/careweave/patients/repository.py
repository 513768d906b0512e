from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

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
    session: Session,
    clinic_id: uuid.UUID | None,
    *,
    query: str | None,
    limit: int,
    offset: int,
    team_of: uuid.UUID | None = None,
    on: date | None = None,
) -> tuple[list[Patient], int]:
    """The clinic's patients (``team_of``: only those on that clinician's care teams on ``on``)."""
    stmt = select(Patient).where(Patient.clinic_id == clinic_id)
    if team_of is not None:
        from careweave.careteam.models import CareTeamMember

        day = on or datetime.now(UTC).date()
        stmt = stmt.where(
            Patient.id.in_(
                select(CareTeamMember.patient_id).where(
                    CareTeamMember.user_id == team_of,
                    CareTeamMember.start_date <= day,
                    or_(CareTeamMember.end_date.is_(None), CareTeamMember.end_date >= day),
                )
            )
        )
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
