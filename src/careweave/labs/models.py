"""Monitoring plans, lab orders (due items), lab results, raw HL7 v2 messages and lab alerts (issue #7).

Spec §8.8: lab monitoring is lab orders (FHIR ServiceRequest) plus results (Observation) with LOINC, the schedule
derived from the §6.4 rules (labs/rules.py)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from careweave.db.base import Entity

ORDER_STATUSES = ("ordered", "resulted", "cancelled")


class MonitoringPlan(Entity):
    """A protocol instantiated for one prescription from its start date."""

    __tablename__ = "monitoring_plans"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'stopped')", name="status"),
        CheckConstraint(
            "protocol IN ('lithium', 'clozapine', 'valproate', 'sga_metabolic')", name="protocol"
        ),
        UniqueConstraint("prescription_id", "protocol", name="uq_monitoring_plans_prescription_protocol"),
        Index("ix_monitoring_plans_patient", "patient_id", "status"),
        Index("ix_monitoring_plans_prescriber", "prescriber_user_id", "status"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    prescription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("prescriptions.id", ondelete="CASCADE"))
    prescriber_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    protocol: Mapped[str] = mapped_column(String(20))
    started_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(10), default="active")
    # Clozapine: benign (ethnic) neutropenia, and the neutropenia episode the patient is in (mild|moderate|severe)
    ben: Mapped[bool] = mapped_column(Boolean, default=False)
    episode: Mapped[str | None] = mapped_column(String(10))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class LabOrder(Entity):
    """A due item: one test on one date, ordered until a result arrives (or it is cancelled)."""

    __tablename__ = "lab_orders"
    __table_args__ = (
        CheckConstraint("status IN ('ordered', 'resulted', 'cancelled')", name="status"),
        CheckConstraint(
            "reason IN ('schedule', 'dose_change', 'next_step', 'confirm', 'manual')", name="reason"
        ),
        Index("ix_lab_orders_patient_status_due", "patient_id", "status", "due_on"),
        Index("ix_lab_orders_plan", "plan_id", "status"),
        Index("ix_lab_orders_status_due", "status", "due_on"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    plan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("monitoring_plans.id", ondelete="CASCADE"))
    prescription_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("prescriptions.id", ondelete="CASCADE")
    )
    protocol_item: Mapped[str] = mapped_column(String(60))
    test: Mapped[str] = mapped_column(String(30))
    loinc: Mapped[str | None] = mapped_column(String(20))
    due_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(10), default="ordered")
    reason: Mapped[str] = mapped_column(String(12), default="schedule")
    ordered_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resulted_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(200))


class LabMessage(Entity):
    """An accepted HL7 v2 message as received (the raw text), once per sender and control id."""

    __tablename__ = "lab_messages"
    __table_args__ = (UniqueConstraint("sender", "control_id", name="uq_lab_messages_sender_control_id"),)

    sender: Mapped[str] = mapped_column(String(200))  # MSH-3^MSH-4
    control_id: Mapped[str] = mapped_column(String(64))  # MSH-10
    message_type: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    received_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    ack: Mapped[str] = mapped_column(Text)


class LabResult(Entity):
    __tablename__ = "lab_results"
    __table_args__ = (
        CheckConstraint("source IN ('manual', 'hl7v2')", name="source"),
        Index("ix_lab_results_patient_observed", "patient_id", "observed_at"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("lab_orders.id", ondelete="SET NULL"), index=True
    )
    loinc: Mapped[str] = mapped_column(String(20))
    test: Mapped[str | None] = mapped_column(String(30))  # catalogue key when the code is known
    display: Mapped[str | None] = mapped_column(String(200))
    value: Mapped[float | None] = mapped_column(Float)
    value_text: Mapped[str] = mapped_column(String(200))  # as reported
    unit: Mapped[str | None] = mapped_column(String(40))
    reference_range: Mapped[str | None] = mapped_column(String(60))
    abnormal_flag: Mapped[str | None] = mapped_column(String(5))
    observed_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(10))
    raw_message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("lab_messages.id", ondelete="SET NULL")
    )
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class LabAlert(Entity):
    """An out-of-range result for the prescriber, with the protocol's next step."""

    __tablename__ = "lab_alerts"
    __table_args__ = (
        CheckConstraint("severity IN ('critical', 'warning', 'info')", name="severity"),
        Index("ix_lab_alerts_prescriber_open", "prescriber_user_id", "acknowledged_at"),
        Index("ix_lab_alerts_patient", "patient_id", "created_at"),
    )

    prescriber_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    result_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lab_results.id", ondelete="CASCADE"))
    plan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("monitoring_plans.id", ondelete="SET NULL"))
    severity: Mapped[str] = mapped_column(String(10))
    code: Mapped[str] = mapped_column(String(60))
    message: Mapped[str] = mapped_column(Text)
    next_step: Mapped[str | None] = mapped_column(Text)
    spec: Mapped[str | None] = mapped_column(String(300))
    unverified: Mapped[bool] = mapped_column(Boolean, default=False)
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    acknowledged_at: Mapped[datetime | None]
