"""Queries for the visit room: the appointment, its people and its encounter. No commits, no policy."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.directory.models import Provider
from careweave.identity.models import User
from careweave.patients.models import Patient
from careweave.scheduling.models import Appointment, VisitType
from careweave.visits.models import Encounter


def appointment(
    session: Session, appointment_id: uuid.UUID, *, for_update: bool = False
) -> Appointment | None:
    """The appointment; ``for_update`` locks its row (PostgreSQL), which serialises every change to the
    visit's encounter across processes. SQLite already holds the database write lock (BEGIN IMMEDIATE)."""
    stmt = select(Appointment).where(Appointment.id == appointment_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def patient(session: Session, patient_id: uuid.UUID) -> Patient | None:
    return session.get(Patient, patient_id)


def provider(session: Session, provider_id: uuid.UUID) -> Provider | None:
    return session.get(Provider, provider_id)


def user_name(session: Session, user_id: uuid.UUID | None) -> str | None:
    if user_id is None:
        return None
    return session.scalar(select(User.full_name).where(User.id == user_id))


def visit_type_name(session: Session, code: str) -> str:
    return session.scalar(select(VisitType.name).where(VisitType.code == code)) or code


def encounter(session: Session, appointment_id: uuid.UUID) -> Encounter | None:
    return session.scalars(select(Encounter).where(Encounter.appointment_id == appointment_id)).one_or_none()


def add_encounter(session: Session, appointment_id: uuid.UUID) -> Encounter:
    row = Encounter(appointment_id=appointment_id, status="planned")
    session.add(row)
    session.flush()
    return row
