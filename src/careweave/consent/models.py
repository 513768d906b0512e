"""Consent directives (FHIR Consent, scope patient-privacy; spec §5.5) and consent requests from referrals."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from careweave.db.base import Entity


class ConsentDirective(Entity):
    """The patient permits sharing ``categories`` of their record with one named clinician or with their whole
    care team, until ``expires`` (inclusive) or until revoked. Revocation keeps the row (history)."""

    __tablename__ = "consent_directives"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'revoked')", name="status"),
        CheckConstraint(
            "(grantee_user_id IS NOT NULL AND grantee_care_team = false) OR "
            "(grantee_user_id IS NULL AND grantee_care_team = true)",
            name="grantee",
        ),
        Index("ix_consent_directives_patient_status", "patient_id", "status"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    grantee_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    grantee_care_team: Mapped[bool] = mapped_column(Boolean, default=False)
    categories: Mapped[list[str]] = mapped_column(JSON)
    expires: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(10), default="active")
    granted_at: Mapped[datetime]
    granted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ConsentRequest(Entity):
    """A clinician needs categories the patient has not shared with them (e.g. a referral's receiver): the
    patient is asked in the portal; the requester sees it pending."""

    __tablename__ = "consent_requests"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'granted', 'declined', 'withdrawn')", name="status"),
        Index("ix_consent_requests_patient_status", "patient_id", "status"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    for_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    categories: Mapped[list[str]] = mapped_column(JSON)
    referral_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("referrals.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    resolved_at: Mapped[datetime | None]
    directive_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("consent_directives.id", ondelete="SET NULL")
    )
