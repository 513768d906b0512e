from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from careweave.db.base import Entity


class OnCallMember(Entity):
    """A clinic's on-call roster, in escalation order (position 1 is first)."""

    __tablename__ = "oncall_members"
    __table_args__ = (
        UniqueConstraint("clinic_id", "position", name="uq_oncall_members_clinic_position"),
        UniqueConstraint("clinic_id", "user_id", name="uq_oncall_members_clinic_user"),
    )

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)


class SafetyAlert(Entity):
    """Raised by a risky screening answer. One open alert per patient: new signals update it."""

    __tablename__ = "safety_alerts"
    __table_args__ = (
        CheckConstraint("level IN ('low', 'moderate', 'high')", name="level_known"),
        CheckConstraint("status IN ('open', 'acknowledged')", name="status_known"),
        Index("ix_safety_alerts_clinic_status", "clinic_id", "status"),
        Index("ix_safety_alerts_due", "status", "escalate_at"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    clinic_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clinics.id", ondelete="RESTRICT"))
    screening_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("screening_responses.id", ondelete="SET NULL")
    )
    level: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200))  # a code-like summary, e.g. "cssrs_high"
    status: Mapped[str] = mapped_column(String(16), default="open")
    assigned_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    roster_position: Mapped[int | None] = mapped_column(Integer)
    escalation_count: Mapped[int] = mapped_column(Integer, default=0)
    escalate_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    acknowledgement_note: Mapped[str | None] = mapped_column(Text)


class Notification(Entity):
    """An in-app notification for one user. Text carries no PHI; the link opens the record."""

    __tablename__ = "notifications"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    link: Mapped[str | None] = mapped_column(String(300))
    read_at: Mapped[datetime | None]
