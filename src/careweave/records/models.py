"""The shared treatment plan (every change a new version) and clinical notes. Psychotherapy notes are a separate
table (45 CFR 164.501: kept apart from the rest of the record), visible only to their author."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from careweave.db.base import Base, Entity


class TreatmentPlan(Entity):
    __tablename__ = "treatment_plans"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), unique=True)
    current_version: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    acknowledged_version: Mapped[int | None] = mapped_column(Integer)  # by the patient
    acknowledged_at: Mapped[datetime | None]


class PlanVersion(Base):
    """One version of the plan: problems (ICD-10-CM), measurable goals, interventions owned by a discipline,
    review date; who changed it, when and why. Versions are never edited."""

    __tablename__ = "treatment_plan_versions"
    __table_args__ = (UniqueConstraint("plan_id", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("treatment_plans.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    changed_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)


class ClinicalNote(Entity):
    """A progress note (SOAP or DAP) tied to a visit; signed notes are immutable (addenda only)."""

    __tablename__ = "clinical_notes"
    __table_args__ = (
        CheckConstraint("format IN ('SOAP', 'DAP')", name="format"),
        CheckConstraint("status IN ('draft', 'signed')", name="status"),
        CheckConstraint("category IN ('progress_notes', 'substance_use')", name="category"),
        Index("ix_clinical_notes_patient_created", "patient_id", "created_at"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    author_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL")
    )
    format: Mapped[str] = mapped_column(String(4))
    sections: Mapped[dict[str, str]] = mapped_column(JSON)
    category: Mapped[str] = mapped_column(String(20), default="progress_notes")  # substance_use: Part 2 label
    status: Mapped[str] = mapped_column(String(10), default="draft")
    signed_at: Mapped[datetime | None]


class NoteAddendum(Entity):
    __tablename__ = "clinical_note_addenda"

    note_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clinical_notes.id", ondelete="CASCADE"), index=True
    )
    author_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    body: Mapped[str] = mapped_column(Text)


class PsychotherapyNote(Entity):
    """Kept apart from the record: only its author reads it; never shared by consent, exported or in the API
    of anyone else (spec §5.1)."""

    __tablename__ = "psychotherapy_notes"
    __table_args__ = (Index("ix_psychotherapy_notes_author_patient", "author_user_id", "patient_id"),)

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    author_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[datetime | None]
