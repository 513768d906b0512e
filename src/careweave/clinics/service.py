"""Clinic use cases. A single-clinic install gets its clinic created on first need."""

from __future__ import annotations

from sqlalchemy.orm import Session

from careweave.clinics import repository as repo
from careweave.clinics.models import Clinic


def default_clinic(session: Session) -> Clinic:
    return repo.first(session) or repo.add(session, Clinic(name="Careweave Clinic"))


def create_clinic(session: Session, *, name: str, timezone: str) -> Clinic:
    return repo.add(session, Clinic(name=name, timezone=timezone))


def clinic_timezone(session: Session, clinic_id: object) -> str:
    clinic = repo.get(session, clinic_id) if clinic_id is not None else None
    return clinic.timezone if clinic is not None else "America/New_York"
