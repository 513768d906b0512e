"""The encounter of a video visit: who waited, who was admitted, when each side joined and left."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from careweave.db.base import Entity

ENCOUNTER_STATUSES = ("planned", "waiting", "in_progress", "finished")


class Encounter(Entity):
    __tablename__ = "encounters"
    __table_args__ = (
        CheckConstraint("status IN ('planned', 'waiting', 'in_progress', 'finished')", name="status"),
    )

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[str] = mapped_column(String(20), default="planned")
    patient_waiting_at: Mapped[datetime | None]
    admitted_at: Mapped[datetime | None]
    admitted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    patient_joined_at: Mapped[datetime | None]
    patient_left_at: Mapped[datetime | None]
    clinician_joined_at: Mapped[datetime | None]
    clinician_left_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]  # both sides in the call
    ended_at: Mapped[datetime | None]
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
