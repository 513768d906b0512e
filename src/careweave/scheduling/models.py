"""Scheduling tables: visit types, a provider's schedule settings, weekly windows and date exceptions,
appointments (and their series), the waitlist and its offers.

No double booking is the database's job (migration 0005): on PostgreSQL an exclusion constraint over
``tstzrange(start_at, block_end_at)`` per provider (and ``tstzrange(start_at, end_at)`` per patient) among
appointments that are not cancelled; on SQLite, triggers that abort an overlapping insert or update, run
under the write lock every transaction takes first (BEGIN IMMEDIATE, db.engine). See docs/adr/0007.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from careweave.db.base import Base, Entity

APPOINTMENT_STATUSES = ("booked", "cancelled", "completed", "no_show")
WAITLIST_STATUSES = ("waiting", "offered", "booked", "expired", "removed")
OFFER_STATUSES = ("open", "accepted", "declined", "expired", "withdrawn")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class VisitType(Base):
    """A kind of visit and its length (configurable by admins; seeded by migration 0005)."""

    __tablename__ = "visit_types"
    __table_args__ = (
        CheckConstraint("duration_minutes > 0 AND duration_minutes % 5 = 0", name="duration"),
        CheckConstraint("service IN ('therapy', 'medication_management')", name="service"),
    )

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    service: Mapped[str] = mapped_column(String(30))  # the provider offer the visit needs
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class ProviderSchedule(Base):
    """A provider's booking rules; the weekly windows are read in ``timezone`` (DST-correct)."""

    __tablename__ = "provider_schedules"
    __table_args__ = (
        CheckConstraint("buffer_minutes >= 0", name="buffer"),
        CheckConstraint("min_notice_minutes >= 0", name="notice"),
        CheckConstraint("horizon_days > 0", name="horizon"),
        CheckConstraint("late_cancel_hours >= 0", name="late_cancel"),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("providers.id", ondelete="CASCADE"), primary_key=True
    )
    timezone: Mapped[str] = mapped_column(String(64))
    buffer_minutes: Mapped[int] = mapped_column(Integer, default=0)
    min_notice_minutes: Mapped[int] = mapped_column(Integer, default=720)
    horizon_days: Mapped[int] = mapped_column(Integer, default=60)
    late_cancel_hours: Mapped[int] = mapped_column(Integer, default=24)
    updated_at: Mapped[datetime]


class AvailabilityWindow(Entity):
    """Weekly working hours: ``weekday`` (Monday = 0) from ``start`` to ``end`` local time."""

    __tablename__ = "availability_windows"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("start_time < end_time", name="order"),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    visit_types: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every visit type


class AvailabilityException(Entity):
    """A date (local to the schedule) off entirely, off for part of the day, or extra hours."""

    __tablename__ = "availability_exceptions"
    __table_args__ = (
        CheckConstraint(
            "(start_time IS NULL AND end_time IS NULL) OR (start_time IS NOT NULL AND end_time IS NOT NULL "
            "AND start_time < end_time)",
            name="times",
        ),
        Index("ix_availability_exceptions_provider_day", "provider_id", "day"),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    day: Mapped[date]
    start_time: Mapped[time | None] = mapped_column(Time)
    end_time: Mapped[time | None] = mapped_column(Time)
    available: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(String(200))


class AppointmentSeries(Entity):
    """A recurring series: every ``every_weeks`` weeks at the same local time in the provider's zone."""

    __tablename__ = "appointment_series"
    __table_args__ = (
        CheckConstraint("every_weeks BETWEEN 1 AND 4", name="every_weeks"),
        CheckConstraint("(occurrences IS NULL) <> (until IS NULL)", name="count_or_until"),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    visit_type: Mapped[str] = mapped_column(ForeignKey("visit_types.code"))
    first_start_at: Mapped[datetime]
    timezone: Mapped[str] = mapped_column(String(64))  # the zone whose wall time the series keeps
    every_weeks: Mapped[int] = mapped_column(Integer)
    occurrences: Mapped[int | None] = mapped_column(Integer)
    until: Mapped[date | None]
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Appointment(Entity):
    """A booked visit. ``block_end_at`` = ``end_at`` + the provider's buffer: the time it holds."""

    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint(f"status IN {_in(APPOINTMENT_STATUSES)}", name="status"),
        CheckConstraint("start_at < end_at AND end_at <= block_end_at", name="times"),
        Index("ix_appointments_provider_start", "provider_id", "start_at"),
        Index("ix_appointments_patient_start", "patient_id", "start_at"),
        Index("ix_appointments_series", "series_id"),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id", ondelete="RESTRICT"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"))
    visit_type: Mapped[str] = mapped_column(ForeignKey("visit_types.code"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    block_end_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="booked")
    series_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointment_series.id", ondelete="SET NULL")
    )
    booked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    cancelled_at: Mapped[datetime | None]
    cancelled_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    late_cancellation: Mapped[bool] = mapped_column(Boolean, default=False)
    no_show_at: Mapped[datetime | None]
    # RFC 5545: one UID for the event's life; SEQUENCE grows with each change sent to attendees.
    ics_uid: Mapped[str] = mapped_column(String(120), unique=True)
    ics_sequence: Mapped[int] = mapped_column(Integer, default=0)


class WaitlistEntry(Entity):
    """A patient waiting for a visit with a provider (or any matching provider) within a window."""

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        CheckConstraint(f"status IN {_in(WAITLIST_STATUSES)}", name="status"),
        CheckConstraint("window_start < window_end", name="window"),
        Index("ix_waitlist_entries_status_created", "status", "created_at"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    provider_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("providers.id", ondelete="CASCADE"), index=True
    )  # None: any provider who matches the patient
    visit_type: Mapped[str] = mapped_column(ForeignKey("visit_types.code"))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="waiting")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    booked_appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL")
    )


class WaitlistOffer(Entity):
    """A freed slot offered to one waiting patient until ``expires_at``; then the next is offered it."""

    __tablename__ = "waitlist_offers"
    __table_args__ = (
        CheckConstraint(f"status IN {_in(OFFER_STATUSES)}", name="status"),
        Index("ix_waitlist_offers_status_expires", "status", "expires_at"),
        # One open offer per freed slot at a time.
        Index(
            "uq_waitlist_offers_open_slot",
            "provider_id",
            "start_at",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("waitlist_entries.id", ondelete="CASCADE"), index=True
    )
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    visit_type: Mapped[str] = mapped_column(ForeignKey("visit_types.code"))
    start_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="open")
    token: Mapped[str] = mapped_column(String(64), unique=True)
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL")
    )


class ReminderDelivery(Base):
    """One reminder actually sent: the unique key makes a second send of the same reminder impossible to record
    (and the job that sends it checks it first)."""

    __tablename__ = "reminder_deliveries"
    __table_args__ = (UniqueConstraint("appointment_id", "start_at", "offset_minutes", "channel"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    appointment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"))
    start_at: Mapped[datetime]  # the visit time the reminder was about (a reschedule reminds again)
    offset_minutes: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(10))  # email | sms
    sent_at: Mapped[datetime]
    worker: Mapped[str | None] = mapped_column(String(120))
    detail: Mapped[str | None] = mapped_column(Text)
