from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.screening.models import ScreeningResponse


def add(session: Session, response: ScreeningResponse) -> ScreeningResponse:
    session.add(response)
    session.flush()
    return response


def for_patient(session: Session, patient_id: uuid.UUID, *, limit: int = 500) -> list[ScreeningResponse]:
    """Completed responses, oldest first."""
    stmt = (
        select(ScreeningResponse)
        .where(ScreeningResponse.patient_id == patient_id, ScreeningResponse.status == "completed")
        .order_by(ScreeningResponse.authored_at, ScreeningResponse.created_at)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def get(session: Session, response_id: uuid.UUID) -> ScreeningResponse | None:
    return session.get(ScreeningResponse, response_id)
