"""Medication management (issue #7): formulary entries added by an administrator (the packaged formulary is
data, see data/formulary.json), a patient's outside medications, allergies and pregnancy/breastfeeding status,
reconciliations, prescriptions with their safety findings and overrides, the pharmacy outbox, tapers and
refill requests.

`prescriptions.id` is referenced by the labs package (migration 0008): keep the table name and column stable."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from careweave.db.base import Entity

PRESCRIPTION_STATUSES = ("draft", "signed", "sent", "active", "completed", "stopped")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class FormularyEntry(Entity):
    """An entry an administrator added to the packaged formulary (same fields as data/formulary.json)."""

    __tablename__ = "formulary_entries"

    code: Mapped[str] = mapped_column(String(60), unique=True)
    ingredient: Mapped[str] = mapped_column(String(120))
    rxcui: Mapped[str | None] = mapped_column(String(20))
    rxcui_status: Mapped[str] = mapped_column(String(20), default="unverified")
    drug_class: Mapped[str] = mapped_column(String(60))
    schedule: Mapped[str | None] = mapped_column(String(5))  # C-II … C-V, or None (not controlled)
    data: Mapped[dict[str, Any]] = mapped_column(
        JSON
    )  # the full entry (forms, dose range, warnings, sources)
    added_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class MedicationProfile(Entity):
    """Patient facts the checks need that are not a medication: pregnancy and breastfeeding status, HLA-B*15:02."""

    __tablename__ = "medication_profiles"
    __table_args__ = (
        CheckConstraint(
            "pregnancy_status IN ('unknown', 'not_pregnant', 'pregnant', 'not_applicable')",
            name="pregnancy_status",
        ),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), unique=True)
    pregnancy_status: Mapped[str] = mapped_column(String(20), default="unknown")
    breastfeeding: Mapped[bool | None] = mapped_column(Boolean)
    hla_b_1502: Mapped[str | None] = mapped_column(String(10))  # positive | negative | None (not tested)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class OutsideMedication(Entity):
    """A medication taken outside Careweave (reported by the patient or a clinician); counted by the checks."""

    __tablename__ = "outside_medications"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'stopped')", name="status"),
        CheckConstraint("reported_by_role IN ('patient', 'clinician')", name="reported_by_role"),
        Index("ix_outside_medications_patient", "patient_id", "status"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    formulary_code: Mapped[str | None] = mapped_column(String(60))
    dose_text: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default="active")
    started_on: Mapped[date | None]
    stopped_on: Mapped[date | None]
    reported_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reported_by_role: Mapped[str] = mapped_column(String(10))


class Allergy(Entity):
    """An allergy or intolerance; the substance maps to a formulary code or a drug class for matching."""

    __tablename__ = "medication_allergies"
    __table_args__ = (
        CheckConstraint("kind IN ('allergy', 'intolerance')", name="kind"),
        CheckConstraint("status IN ('active', 'inactive')", name="status"),
        Index("ix_medication_allergies_patient", "patient_id", "status"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    substance: Mapped[str] = mapped_column(String(200))
    formulary_code: Mapped[str | None] = mapped_column(String(60))
    drug_class: Mapped[str | None] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(12), default="allergy")
    reaction: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(10), default="active")
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Reconciliation(Entity):
    """Medication reconciliation at a psychiatric visit: each item confirmed, stopped or changed; who and when."""

    __tablename__ = "medication_reconciliations"
    __table_args__ = (Index("ix_medication_reconciliations_patient", "patient_id", "performed_at"),)

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL")
    )
    performed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    performed_at: Mapped[datetime]
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{kind, id, name, action, note}]


class Prescription(Entity):
    """A prescription: drug, strength, form, sig, quantity, refills, days' supply, pharmacy, start date, status,
    and the authority (rule) that allowed it."""

    __tablename__ = "prescriptions"
    __table_args__ = (
        CheckConstraint(f"status IN {_in(PRESCRIPTION_STATUSES)}", name="status"),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("refills >= 0", name="refills"),
        CheckConstraint("days_supply > 0", name="days_supply"),
        Index("ix_prescriptions_patient_status", "patient_id", "status"),
        Index("ix_prescriptions_prescriber", "prescriber_user_id", "status"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    prescriber_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    formulary_code: Mapped[str] = mapped_column(String(60))
    rxcui: Mapped[str | None] = mapped_column(String(20))
    ingredient: Mapped[str] = mapped_column(String(120))
    drug_class: Mapped[str] = mapped_column(String(60))
    schedule: Mapped[str | None] = mapped_column(String(5))
    strength: Mapped[str] = mapped_column(String(60))
    form: Mapped[str | None] = mapped_column(String(60))
    dose: Mapped[float] = mapped_column(Float)
    dose_unit: Mapped[str] = mapped_column(String(20))
    route: Mapped[str] = mapped_column(String(30))
    frequency: Mapped[str] = mapped_column(String(60))
    doses_per_day: Mapped[float | None] = mapped_column(Float)
    quantity: Mapped[float] = mapped_column(Float)
    refills: Mapped[int] = mapped_column(Integer, default=0)
    days_supply: Mapped[int] = mapped_column(Integer)
    pharmacy: Mapped[str | None] = mapped_column(String(300))
    started_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(10), default="draft")
    status_reason: Mapped[str | None] = mapped_column(Text)
    signed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    activated_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    ended_on: Mapped[date | None]
    ended_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # authority: the patient's state, the rule that allowed it (e.g. "non_controlled", "fourth_temporary_
    # extension"), modality, PDMP attestation.
    patient_state: Mapped[str] = mapped_column(String(2))
    authority_rule: Mapped[str] = mapped_column(String(60))
    authority: Mapped[dict[str, Any]] = mapped_column(JSON)
    modality: Mapped[str | None] = mapped_column(String(20))
    pdmp_reviewed_at: Mapped[datetime | None]
    pdmp_unavailable: Mapped[bool] = mapped_column(Boolean, default=False)


class PrescriptionFinding(Entity):
    """One result of the checks before signing, with the override (reason, who) when one was given."""

    __tablename__ = "prescription_findings"
    __table_args__ = (
        CheckConstraint("severity IN ('contraindicated', 'major', 'moderate', 'info')", name="severity"),
    )

    prescription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("prescriptions.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(80))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    override_reason: Mapped[str | None] = mapped_column(Text)
    overridden_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class PharmacyOutbox(Entity):
    """What a pharmacy adapter sent (or, for the built-in adapter, wrote): the printable document and its PDF."""

    __tablename__ = "pharmacy_outbox"

    prescription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("prescriptions.id", ondelete="CASCADE"), index=True
    )
    adapter: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str | None] = mapped_column(String(120))
    html: Mapped[str | None] = mapped_column(Text)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)


class Taper(Entity):
    """A taper schedule for a prescription: steps of dose × days from a start date."""

    __tablename__ = "medication_tapers"

    prescription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("prescriptions.id", ondelete="CASCADE"), index=True
    )
    start_date: Mapped[date]
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{dose, unit, days}]
    status: Mapped[str] = mapped_column(String(10), default="active")  # active | replaced
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class RefillRequest(Entity):
    """A patient's refill request, waiting in the prescriber's queue."""

    __tablename__ = "refill_requests"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'denied')", name="status"),
        Index("ix_refill_requests_prescriber", "prescriber_user_id", "status"),
    )

    prescription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("prescriptions.id", ondelete="CASCADE"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    prescriber_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)
