from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.intake.models import Intake


def for_patient(session: Session, patient_id: uuid.UUID) -> Intake | None:
    return session.scalars(select(Intake).where(Intake.patient_id == patient_id)).one_or_none()


def add(session: Session, intake: Intake) -> Intake:
    session.add(intake)
    session.flush()
    return intake
