"""The registry's ``overdue_monitoring_lab`` flag (issue #8) from the monitoring labs of issue #7: a lab order
still open (``ordered``) whose due date has passed."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from careweave.labs.models import LabOrder


def overdue_condition(patient_id: ColumnElement[uuid.UUID], on: date) -> ColumnElement[bool]:
    return exists().where(
        LabOrder.patient_id == patient_id, LabOrder.status == "ordered", LabOrder.due_on < on
    )


def overdue_counts(session: Session, patient_ids: list[uuid.UUID], on: date) -> dict[uuid.UUID, int]:
    if not patient_ids:
        return {}
    rows = session.execute(
        select(LabOrder.patient_id, func.count())
        .where(LabOrder.patient_id.in_(patient_ids), LabOrder.status == "ordered", LabOrder.due_on < on)
        .group_by(LabOrder.patient_id)
    ).all()
    return {p: int(n) for p, n in rows}
