"""Builders for video-visit tests: a patient, their clinician (a provider linked to a user) and a booked
appointment, made directly with the models (booking has its own service and tests)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.core.actor import Actor, Role
from careweave.directory.models import Provider
from careweave.identity import service as identity
from careweave.identity.models import User
from careweave.patients import service as patients
from careweave.scheduling.models import Appointment
from careweave.settings import Settings
from tests.builders import make_user


@dataclass
class Visit:
    patient: User
    clinician: User
    provider: Provider
    appointment: Appointment

    @property
    def id(self) -> uuid.UUID:
        return self.appointment.id

    @property
    def patient_id(self) -> uuid.UUID:
        return self.appointment.patient_id


def make_provider(session: Session, clinician: User) -> Provider:
    provider = Provider(
        user_id=clinician.id,
        clinic_id=clinician.clinic_id,
        name=clinician.full_name,
        credential="LCSW" if clinician.role == Role.THERAPIST else "MD",
        timezone="America/Chicago",
    )
    session.add(provider)
    session.flush()
    return provider


def make_appointment(
    session: Session,
    *,
    patient_id: uuid.UUID,
    provider_id: uuid.UUID,
    start_at: datetime,
    minutes: int = 50,
    status: str = "booked",
    visit_type: str = "therapy_session",
) -> Appointment:
    end_at = start_at + timedelta(minutes=minutes)
    appt = Appointment(
        provider_id=provider_id,
        patient_id=patient_id,
        visit_type=visit_type,
        start_at=start_at,
        end_at=end_at,
        block_end_at=end_at,
        status=status,
        ics_uid=f"{uuid.uuid4()}@test.careweave.example",
    )
    session.add(appt)
    session.flush()
    # Booking keeps the provider's stored earliest free time a lower bound (scheduling.earliest): recompute it
    # as of its last check.
    checked = session.scalar(select(Provider.openings_checked_at).where(Provider.id == provider_id))
    if checked is not None:
        from careweave.scheduling import earliest

        earliest.refresh(session, [provider_id], now=checked)
    # Holding a visit with the patient puts the clinician on the care team (as booking does).
    provider = session.get(Provider, provider_id)
    if provider is not None and provider.user_id is not None:
        from careweave.careteam import service as careteam
        from careweave.core.clock import SystemClock

        careteam.ensure_member(
            session,
            patient_id=patient_id,
            user_id=provider.user_id,
            basis="patient_choice",
            clock=SystemClock(),
        )
    return appt


def make_visit(
    session: Session,
    settings: Settings,
    *,
    start_at: datetime,
    clinician_role: Role = Role.THERAPIST,
    status: str = "booked",
    patient: User | None = None,
    clinician: User | None = None,
) -> Visit:
    patient = patient or make_user(session, settings, Role.PATIENT)
    clinician = clinician or make_user(session, settings, clinician_role)
    provider = make_provider(session, clinician)
    patient_id = patients.patient_id_for_user(session, patient.id)
    assert patient_id is not None
    appt = make_appointment(
        session, patient_id=patient_id, provider_id=provider.id, start_at=start_at, status=status
    )
    return Visit(patient, clinician, provider, appt)


def actor(session: Session, user: User) -> Actor:
    return identity.actor_for(session, user)
