from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.triage.models import PathwayOverride


def add(session: Session, override: PathwayOverride) -> PathwayOverride:
    session.add(override)
    session.flush()
    return override


def latest_override(session: Session, patient_id: uuid.UUID) -> PathwayOverride | None:
    stmt = (
        select(PathwayOverride)
        .where(PathwayOverride.patient_id == patient_id)
        .order_by(PathwayOverride.created_at.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()
