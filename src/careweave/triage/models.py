from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from careweave.db.base import Entity


class PathwayOverride(Entity):
    """A clinician's decision to replace the computed care pathway, with the reason."""

    __tablename__ = "pathway_overrides"
    __table_args__ = (
        CheckConstraint(
            "pathway IN ('therapy', 'psychiatry', 'both', 'urgent', 'none')", name="pathway_known"
        ),
        CheckConstraint("urgency IN ('emergency', 'urgent', 'routine')", name="urgency_known"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    pathway: Mapped[str] = mapped_column(String(16))
    urgency: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    computed_pathway: Mapped[str] = mapped_column(String(16))
    clinician_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
