"""A patient's care team, referrals between therapy and psychiatry, and break-the-glass accesses."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from careweave.db.base import Base, Entity

MEMBER_ROLES = ("therapist", "prescriber", "care_manager", "psychiatric_consultant", "other")
# How a clinician came onto the team: the patient chose them (booked, accepted a match), a clinician referred
# the patient to them, or the clinic assigned them (care manager, consultant). Consent rules read this.
BASES = ("patient_choice", "referral", "assigned")
REFERRAL_KINDS = ("medication_evaluation", "therapy")
REFERRAL_STATUSES = ("draft", "sent", "accepted", "declined", "scheduled", "completed", "cancelled")
URGENCIES = ("routine", "soon", "urgent")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class CareTeamMember(Entity):
    __tablename__ = "care_team_members"
    __table_args__ = (
        CheckConstraint(f"role IN {_in(MEMBER_ROLES)}", name="role"),
        CheckConstraint(f"basis IN {_in(BASES)}", name="basis"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="period"),
        # One current membership per clinician and patient.
        Index(
            "uq_care_team_members_current",
            "patient_id",
            "user_id",
            unique=True,
            sqlite_where=text("end_date IS NULL"),
            postgresql_where=text("end_date IS NULL"),
        ),
        Index("ix_care_team_members_user", "user_id", "end_date"),
        # A clinician's current patients (their caseload: directory.service.recount_caseload).
        Index(
            "ix_care_team_members_provider_current",
            "provider_id",
            "patient_id",
            sqlite_where=text("end_date IS NULL"),
            postgresql_where=text("end_date IS NULL"),
        ),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    provider_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("providers.id", ondelete="SET NULL"))
    role: Mapped[str] = mapped_column(String(30))
    basis: Mapped[str] = mapped_column(String(20))
    start_date: Mapped[date]
    end_date: Mapped[date | None]
    added_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    referral_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("referrals.id", ondelete="SET NULL"))


class Referral(Entity):
    """Therapy → psychiatry ("medication_evaluation") or psychiatry → therapy, to a named clinician or to
    whoever accepts from the matching list."""

    __tablename__ = "referrals"
    __table_args__ = (
        CheckConstraint(f"kind IN {_in(REFERRAL_KINDS)}", name="kind"),
        CheckConstraint(f"status IN {_in(REFERRAL_STATUSES)}", name="status"),
        CheckConstraint(f"urgency IN {_in(URGENCIES)}", name="urgency"),
        Index("ix_referrals_from_status", "from_user_id", "status"),
        Index("ix_referrals_to_status", "to_user_id", "status"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    from_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    to_provider_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("providers.id", ondelete="SET NULL"))
    to_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text)
    question: Mapped[str | None] = mapped_column(Text)  # for the psychiatrist
    modality: Mapped[str | None] = mapped_column(String(40))  # for therapy referrals (cbt, dbt, …)
    urgency: Mapped[str] = mapped_column(String(10), default="routine")
    status: Mapped[str] = mapped_column(String(20), default="draft")
    # Categories of the patient's data the receiver needs (asked of the patient when not yet consented).
    needs_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    sent_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    declined_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(Text)
    scheduled_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL")
    )
    outcome: Mapped[str | None] = mapped_column(Text)


class ReferralEvent(Base):
    """Who moved a referral from which status to which, when (the referral's history)."""

    __tablename__ = "referral_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    referral_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)


class BreakGlassAccess(Entity):
    """A clinician opened a record outside policy for a recorded emergency reason, for a limited time."""

    __tablename__ = "break_glass_accesses"
    __table_args__ = (Index("ix_break_glass_patient_user", "patient_id", "user_id", "expires_at"),)

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    reviewed_at: Mapped[datetime | None]
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    review_note: Mapped[str | None] = mapped_column(Text)
    minutes: Mapped[int] = mapped_column(Integer, default=60)
