from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from careweave.db.base import Entity

TREATMENT_PREFERENCES = ("therapy", "medication", "both", "unsure")
COVERAGE_TYPES = ("insurance", "self_pay")


class Intake(Entity):
    """One per patient; saved page by page (``step`` is how far the patient got)."""

    __tablename__ = "intakes"
    __table_args__ = (
        CheckConstraint(
            "treatment_preference IS NULL OR treatment_preference IN ('therapy', 'medication', 'both', 'unsure')",
            name="treatment_preference_known",
        ),
        CheckConstraint(
            "coverage_type IS NULL OR coverage_type IN ('insurance', 'self_pay')", name="coverage_known"
        ),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), unique=True)
    step: Mapped[int] = mapped_column(Integer, default=0)
    completed_at: Mapped[datetime | None]
    emergency_contact_name: Mapped[str | None] = mapped_column(String(200))
    emergency_contact_phone: Mapped[str | None] = mapped_column(String(32))
    emergency_contact_relationship: Mapped[str | None] = mapped_column(String(60))
    coverage_type: Mapped[str | None] = mapped_column(String(20))
    insurance_plan: Mapped[str | None] = mapped_column(String(200))
    insurance_member_id: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(35))  # BCP 47 tag, e.g. "en", "es"
    provider_gender_preference: Mapped[str | None] = mapped_column(String(20))
    provider_language: Mapped[str | None] = mapped_column(String(35))
    treatment_preference: Mapped[str | None] = mapped_column(String(20))
    goals: Mapped[list[str]] = mapped_column(JSON, default=list)
    goals_text: Mapped[str | None] = mapped_column(Text)
    current_medications: Mapped[list[str]] = mapped_column(JSON, default=list)
    history: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
