from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.clinics.models import Clinic


def first(session: Session) -> Clinic | None:
    return session.scalars(select(Clinic).order_by(Clinic.created_at).limit(1)).first()


def add(session: Session, clinic: Clinic) -> Clinic:
    session.add(clinic)
    session.flush()
    return clinic


def get(session: Session, clinic_id: object) -> Clinic | None:
    return session.get(Clinic, clinic_id)
