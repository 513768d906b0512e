"""Measurement-based care tables (issue #8).

``care_episodes`` holds one row per episode of care (at most one open per patient) and the registry's
per-episode facts kept current by the service as things happen (last contact, next due measure, worst status):
the registry reads one row per patient instead of recomputing baselines from raw scores (see
docs/benchmarks.md). ``measure_summaries`` keeps, per episode and instrument, the baseline, the latest score and
the status after it (rules.measurement_status), updated on each new score.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from careweave.db.base import Base, Entity


class CareEpisode(Entity):
    __tablename__ = "care_episodes"
    __table_args__ = (
        CheckConstraint(
            "end_reason IS NULL OR end_reason IN ('goals_met', 'referred_out', 'inactive', 'patient_withdrew')",
            name="end_reason",
        ),
        # At most one open episode per patient, kept by the database.
        Index(
            "uq_care_episodes_open_patient",
            "patient_id",
            unique=True,
            sqlite_where=text("ended_on IS NULL"),
            postgresql_where=text("ended_on IS NULL"),
        ),
        Index("ix_care_episodes_care_manager", "care_manager_user_id", "ended_on"),
        Index(
            "ix_care_episodes_due",
            "next_due_on",
            sqlite_where=text("ended_on IS NULL"),
            postgresql_where=text("ended_on IS NULL"),
        ),
        # The registry's (migration 0010): every column its flag conditions and "flags" order read, so a whole
        # clinic's flagged list is counted from the index alone and its first page found by (clinic, status,
        # start). Updates of these facts cannot be HOT on PostgreSQL; an episode's facts change a few times a month.
        # It replaced (clinic_id, ended_on): SQLite's statistics average the rows per ended_on, so that index looked
        # like a few hundred rows for a clinic's open episodes (most of them) and the planner preferred it.
        Index(
            "ix_care_episodes_registry",
            "clinic_id",
            "status",
            "started_on",
            "last_item9_positive_on",
            "next_due_on",
            "last_contact_on",
            "last_review_on",
            "consultant_user_id",
            "care_manager_user_id",
            "patient_id",
            "id",
            sqlite_where=text("ended_on IS NULL"),
            postgresql_where=text("ended_on IS NULL"),
        ),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id", ondelete="RESTRICT"))
    started_on: Mapped[date] = mapped_column(Date)
    start_reason: Mapped[str] = mapped_column(String(20), default="enrolment")  # enrolment | referral
    care_manager_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    consultant_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    ended_on: Mapped[date | None] = mapped_column(Date)
    end_reason: Mapped[str | None] = mapped_column(String(20))
    ended_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    relapse_prevention_plan: Mapped[str | None] = mapped_column(Text)
    # Measurement schedule (spec §2.4 default, configurable per patient's plan)
    instruments: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["phq-9"])
    interval_days: Mapped[int] = mapped_column(Integer, default=28)
    # Registry facts, kept current by the service
    last_contact_on: Mapped[date | None] = mapped_column(Date)
    last_activity_on: Mapped[date | None] = mapped_column(Date)  # CoCM services (for the idle end)
    next_due_on: Mapped[date | None] = mapped_column(Date)
    reminded_due_on: Mapped[date | None] = mapped_column(Date)  # the due date last reminded (once per date)
    last_measured_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str | None] = mapped_column(String(24))  # the worst instrument status
    last_item9_positive_on: Mapped[date | None] = mapped_column(Date)
    last_review_on: Mapped[date | None] = mapped_column(Date)


class MeasureSummary(Base):
    __tablename__ = "measure_summaries"

    episode_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("care_episodes.id", ondelete="CASCADE"), primary_key=True
    )
    instrument: Mapped[str] = mapped_column(String(32), primary_key=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    baseline_score: Mapped[int | None] = mapped_column(Integer)
    baseline_at: Mapped[datetime | None]
    latest_score: Mapped[int | None] = mapped_column(Integer)
    latest_at: Mapped[datetime | None]
    latest_prorated: Mapped[bool] = mapped_column(default=False)
    change: Mapped[int | None] = mapped_column(Integer)
    percent_change: Mapped[float | None] = mapped_column(Float)
    weeks_in_treatment: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str | None] = mapped_column(String(24))
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    scores: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class TimeEntry(Entity):
    """Care-manager minutes for one patient (spec §2.6: per patient, per calendar month, staff, activity)."""

    __tablename__ = "cocm_time_entries"
    __table_args__ = (
        CheckConstraint("minutes > 0 AND minutes <= 600", name="minutes"),
        Index("ix_cocm_time_entries_patient_day", "patient_id", "on_date"),
        Index("ix_cocm_time_entries_day", "on_date"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    episode_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("care_episodes.id", ondelete="CASCADE"))
    staff_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    on_date: Mapped[date] = mapped_column(Date)
    minutes: Mapped[int] = mapped_column(Integer)
    activity: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]  # a timer's start and stop, when timed
    stopped_at: Mapped[datetime | None]


class CaseReview(Entity):
    """A psychiatric consultant's caseload review of one patient, and what became of its recommendation."""

    __tablename__ = "case_reviews"
    __table_args__ = (
        CheckConstraint("decision IN ('none', 'proposed', 'accepted', 'declined')", name="decision"),
        Index("ix_case_reviews_patient", "patient_id", "reviewed_on"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    episode_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("care_episodes.id", ondelete="CASCADE"))
    consultant_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    reviewed_on: Mapped[date] = mapped_column(Date)
    recommendation: Mapped[str] = mapped_column(String(32))  # increase_dose | switch | add_therapy | …
    detail: Mapped[str] = mapped_column(Text)
    proposed_change: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # an intervention for the plan
    decision: Mapped[str] = mapped_column(String(12), default="none")
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)
    plan_version: Mapped[int | None] = mapped_column(Integer)  # the plan version the acceptance made
