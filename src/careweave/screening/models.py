from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from careweave.db.base import Entity


class ScreeningResponse(Entity):
    """One completed instrument: the raw answers as given, and the score computed from them.

    Append-only: a correction is a new response; the old one becomes ``entered-in-error``.
    """

    __tablename__ = "screening_responses"
    __table_args__ = (
        CheckConstraint("status IN ('completed', 'entered-in-error')", name="status_known"),
        CheckConstraint("source IN ('patient', 'clinician')", name="source_known"),
        Index("ix_screening_responses_patient_time", "patient_id", "authored_at"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    instrument: Mapped[str] = mapped_column(String(32))
    instrument_version: Mapped[str] = mapped_column(String(16))
    answers: Mapped[list[int | None]] = mapped_column(JSON)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # sex, behavior_within_3_months
    total: Mapped[int | None] = mapped_column(Integer)
    severity: Mapped[str | None] = mapped_column(String(32))
    positive: Mapped[bool | None] = mapped_column(Boolean)
    prorated: Mapped[bool] = mapped_column(Boolean, default=False)
    complete: Mapped[bool] = mapped_column(Boolean, default=True)
    answered_count: Mapped[int] = mapped_column(Integer)
    risk_level: Mapped[str | None] = mapped_column(String(16))
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    authored_at: Mapped[datetime]
    author_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(16), default="patient")
    status: Mapped[str] = mapped_column(String(20), default="completed")
